//! Helpers shared by every contract's tests: run `ripcord` and the reference tools in a
//! temporary folder ([`run`]), make files and list what a folder holds ([`files`]), drive a
//! `--json` run event by event ([`json`]), serve HTTP ([`http`]) and drive the real window
//! under Xvfb ([`x11`]). `benches/compare.rs` includes this module too.

use std::time::Duration;

mod files;
pub mod http;
mod json;
mod run;
pub mod x11;

pub use files::*;
pub use json::*;
pub use run::*;

/// How long to wait for anything that should happen: generous, for a loaded 2-core machine.
pub const WAIT: Duration = Duration::from_secs(30);

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ripcord");

/// Prefix of Ripcord's named temporaries (`.ripcord-PID-N-NAME.tmp`).
pub const TEMP_PREFIX: &str = ".ripcord-";
