//! Ripcord's integration tests: one crate, so one binary to link (as ripgrep's
//! `tests/tests.rs`), with a module per contract and one helper module, [`common`].
//!
//! The tests of one binary run on parallel threads of one process, so none of them changes
//! what the process shares: no test sets an environment variable or the current folder (a
//! child process gets its own through `Command`); `ripcord::init_engine()` is safe to call
//! from every test (each part is made once); the real-window tests take one lock
//! (`common::x11::xvfb`) so that two never race for a display number.

mod common;

mod cancel_contract;
mod cli;
mod download;
mod fault_matrix;
mod output_contract;
mod trust;
mod window;
