//! Read-only memory-mapped windows of a file, safe against the file shrinking under them.
//!
//! Hashing a mapped file skips the kernel's copy into a user buffer, which perf showed to be
//! most of BLAKE3's time (`b3sum` maps for the same reason). The danger of a mapping is that
//! a file truncated by someone else turns every read past its new end into SIGBUS, which
//! kills the process. Here each live window is registered in a fixed table; a SIGBUS handler
//! that finds the faulting address in a registered window maps zero pages over the rest of
//! that window, marks it, and returns, so the read goes on with zeros and the caller reports
//! the file as changed (or, if its size did not change, as an I/O error: a disk that failed a
//! read also raises SIGBUS). A SIGBUS anywhere else is handed back to the previous
//! disposition.
//!
//! Every consumer of a piece checks it after its last read of it ([`Piece::faulted`]), on
//! whatever thread read it, so zeros mapped in by the handler never reach an output.
//!
//! Files: `guard` (the SIGBUS handler, the table of registered windows, and installing it),
//! `window` (one mapped, registered [`Window`]), and `pieces` (the walk of a file as
//! [`Piece`]s, mapped or read: [`Pieces`]).

mod guard;
mod pieces;
mod window;

pub(crate) use guard::install_guard;
pub use pieces::MAP_MIN_BYTES;
pub(crate) use pieces::{Piece, Pieces};
pub(crate) use window::{Window, fault_error};
