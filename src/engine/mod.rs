//! Jobs, the worker pool, progress events, and join / join-with-limit / detach.
//!
//! A front end describes a job ([`JobSpec`]), [`Job::start`]s it and reads [`Event`]s. Inputs
//! are expanded on a walker thread, files are processed by N workers, each with a child token
//! of the job's token, so one file can be skipped and the whole job cancelled or paused.
//!
//! Invariants (the progress contract):
//! - a worker never waits for a front end: events go over an unbounded channel and per-chunk
//!   progress is a counter the front end reads when it likes;
//! - every file that was announced with [`Event::Queued`] gets exactly one final event
//!   (`Done`, `Failed`, `Cancelled` or `Skipped`), and [`Event::Finished`] comes last;
//! - the front end's wake-up callback runs at most once per frame it drains
//!   ([`Job::rearm_wake`]), however fast events come.
//!
//! Knows nothing of egui or terminals.
//!
//! Files: `spec` (what to do: [`JobSpec`], [`Operation`], [`Destination`]), `events` (what
//! comes back: [`Event`], [`Outcome`], [`Summary`], [`Progress`], [`Busy`]), `job` (the
//! running job: its shared state and the [`Job`] handle), `walk` (the walker thread) and
//! `worker` (the worker threads).

mod events;
mod job;
mod spec;
mod walk;
mod worker;

pub use events::{Busy, Event, Outcome, Progress, Summary};
pub use job::{Job, Wake};
use job::{Shared, lock};
pub use spec::{Bases, Destination, JobSpec, Operation};
pub use walk::TASKS_AHEAD;

/// Identifies one file (or one failed input) of a job; ids count up from 0 in input order.
pub type FileId = usize;

/// The message a panic was raised with, for the `Failed` event that replaces it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Panics at `site` ("walker", "worker") for the file named in `RIPCORD_PANIC_FOR_TESTING`
/// (`worker:NAME`), so the tests can prove that a panic on any thread becomes a failed file
/// and the job goes on. Costs one environment lookup per file only when the variable is set
/// at start-up.
pub(crate) fn panic_for_testing(site: &str, path: &std::path::Path) {
    static HOOK: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let hook = HOOK.get_or_init(|| std::env::var("RIPCORD_PANIC_FOR_TESTING").ok());
    if let Some(spec) = hook
        && let Some((at, name)) = spec.split_once(':')
        && at == site
        && path.file_name().is_some_and(|n| n == name)
    {
        panic!("test panic at the {site} for {name}");
    }
}

/// Starts the rayon pool (BLAKE3, copy steps) with threads of their own name, once per
/// process, from [`crate::init_engine`]; otherwise they carry the name of the worker that
/// first used them, and perf, `top` and the benchmark could not tell them from workers. If
/// the pool was already started elsewhere, it stays as it is.
pub(crate) fn name_the_pool() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rayon_core::ThreadPoolBuilder::new()
            .thread_name(|i| format!("ripcord-pool-{i}"))
            .build_global();
    });
}
