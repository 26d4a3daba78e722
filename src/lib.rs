//! Ripcord: long file jobs — checksums, verification, zstd, copying — on background threads
//! that stop, cleanly and at once, when asked.
//!
//! Layers, one way: a front end ([`cli`], `gui`) builds a [`engine::JobSpec`], the
//! [`engine`] runs it on worker threads that call the [`ops`] chunk by chunk under a
//! [`cancel::CancelToken`], outputs go through [`output::AtomicOutput`], and events come back.

pub mod cancel;
pub mod cli;
pub mod engine;
pub mod error;
pub mod gui;
pub mod ops;
pub mod output;
