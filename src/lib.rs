//! Ripcord: long file jobs — checksums, verification, zstd, copying, downloads — on
//! background threads that stop, cleanly and at once, when asked.
//!
//! # The crate map
//!
//! Layers from the bottom; imports only go down (`ops` knows nothing of `engine`, `gui`
//! nothing of `cli`):
//!
//! | module | what it owns |
//! |---|---|
//! | [`sys`] | the platform layer, and the only module that calls `libc` or `rustix`: each Linux-only call beside its portable fallback (feature `portable-io` selects the fallbacks), file maps and the SIGBUS hook (`sys::maps`), and the few Unix calls the rest needs (free space, local time, process liveness, SIGPIPE) |
//! | [`cancel`] | the stop signal: flag, wakeable wait, pause, children, first reason, deadline; the job's throttle, which waits on it |
//! | [`units`] | sizes, rates and durations, parsed and shown, for both front ends |
//! | [`output`] | atomic outputs (whole under their final name or absent) and the background closer |
//! | [`walk`] | the one folder walker: entries (file and size, skipped and why, error), for the engine and the window alike |
//! | [`ops`] | one module per operation, each a loop over chunks that checks the token; the fieldless [`ops::kind::OpKind`]; manifests; mapped and streamed inputs; helpers for writes |
//! | [`engine`] | jobs: the walker, the workers, events, progress, join / join with a limit / detach |
//! | [`cli`], [`gui`] | the front ends: they build a [`engine::JobSpec`], read [`engine::Event`]s, and own their words |
//!
//! Data flows one way: a front end describes a job, the engine runs it on worker threads
//! that call the ops chunk by chunk under a [`cancel::CancelToken`], outputs go through
//! [`output::AtomicOutput`], and events come back. Process-wide choices are made once, by
//! [`init`], from `main`.
//!
//! Where the contracts are tested: one integration-test crate, `tests/tests.rs`, with a
//! module per contract and one helper module, `tests/common/`: `tests/cancel_contract.rs`
//! (stopping), `tests/trust.rs` and `tests/fault_matrix.rs` (true results, loud failures,
//! nothing lost), `tests/output_contract.rs` (outputs whole or absent), `tests/cli.rs`
//! (against coreutils, b3sum and zstd), `tests/window.rs` (the window, headless and real),
//! `tests/download.rs` and `tests/window/download.rs` (downloads against a server on
//! 127.0.0.1); the loom models of the stop signal in `src/cancel/loom_models.rs`.

pub mod cancel;
pub mod cli;
pub mod engine;
pub mod error;
pub mod gui;
pub mod ops;
pub mod output;
pub mod sys;
pub mod units;
pub mod walk;

/// Makes the process-wide choices once, at start-up: the allocator's trimming policy, then
/// everything [`init_engine`] does. `main` calls it first, before any other thread exists
/// (the allocator policy must not change while other threads allocate).
pub fn init() {
    sys::keep_freed_memory();
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
