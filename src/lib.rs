//! Ripcord: long file jobs — checksums, verification, zstd, copying — on background threads
//! that stop, cleanly and at once, when asked.
//!
//! Layers, one way: a front end ([`cli`], `gui`) builds a [`engine::JobSpec`], the
//! [`engine`] runs it on worker threads that call the [`ops`] chunk by chunk under a
//! [`cancel::CancelToken`], outputs go through [`output::AtomicOutput`], and events come back.

#![warn(missing_docs)]

pub mod cancel;
pub mod cli;
pub mod engine;
pub mod error;
pub mod gui;
pub mod ops;
pub mod output;
pub mod units;

/// Makes the process-wide choices once, at start-up: the allocator's trimming policy, then
/// everything [`init_engine`] does. `main` calls it first, before any other thread exists
/// (the allocator policy must not change while other threads allocate).
pub fn init() {
    engine::keep_freed_memory();
    init_engine();
}

/// The process-wide set-up a job relies on, short of the allocator policy: the named rayon
/// pool, the SIGBUS guard that lets big inputs be read through memory maps (without it they
/// are read), and the background closer. Idempotent; tests that drive the engine call it.
pub fn init_engine() {
    engine::name_the_pool();
    ops::mapped::install_guard();
    output::start_closer();
}
