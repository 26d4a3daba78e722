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

mod walk;
mod worker;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::cancel::throttle::Throttle;
use crate::cancel::{CancelToken, Reason};
use crate::error::Error;
use crate::ops::copy::Copied;
use crate::ops::hash::Algo;
use crate::ops::kind::OpKind;

/// Identifies one file (or one failed input) of a job; ids count up from 0 in input order.
pub type FileId = usize;

/// What to do to each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Compute a checksum.
    Hash {
        /// The algorithm.
        algo: Algo,
    },
    /// Check files against manifests; the job's inputs are the manifests.
    Verify {
        /// Forces the algorithm for lines that do not name one.
        algo: Option<Algo>,
        /// Resolve relative names against the manifest's folder instead of the current one
        /// (`sha256sum -c` uses the current folder).
        relative_to_manifest: bool,
        /// Manifest lines end with NUL instead of newline (`hash -z`).
        nul_lines: bool,
    },
    /// zstd-compress each file to `NAME.zst`.
    Compress {
        /// zstd level, 1 to 22.
        level: i32,
        /// Where outputs go (mirroring folder structure); beside the source if `None`.
        out_dir: Option<PathBuf>,
        /// zstd threads for each file; `None`: chosen by how busy the job is, `Some(0)`:
        /// one per core.
        threads: Option<u32>,
        /// Long-distance matching with a window of 2^N bytes.
        long: Option<u32>,
        /// Where the output goes, if not to the usual name.
        to: Destination,
        /// Remove each source once its output is complete and synced.
        remove_source: bool,
    },
    /// Decompress each `NAME.zst` to `NAME`.
    Decompress {
        /// Where outputs go; beside the source if `None`.
        out_dir: Option<PathBuf>,
        /// Allow frames with a window up to 2^N bytes (written with `--long`).
        long: Option<u32>,
        /// Where the output goes, if not to the usual name.
        to: Destination,
        /// Remove each source once its output is complete and synced.
        remove_source: bool,
    },
    /// Copy files (and folders, recursively) into a folder.
    Copy {
        /// The destination folder.
        to: PathBuf,
        /// Hash both sides after copying.
        verify: bool,
    },
}

/// Where a compress or decompress output goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Destination {
    /// `NAME.zst` / `NAME` beside the source, or under the output folder.
    #[default]
    Usual,
    /// This file (one input only).
    File(PathBuf),
    /// Standard output, one file after the other (`-c`).
    Stdout,
    /// Nowhere: the data is only checked (`decompress --test`).
    Nowhere,
}

impl Operation {
    /// Compression at `level` into `out_dir` (beside the sources if `None`), with every
    /// other choice as the zstd command line makes it by default.
    pub fn compress(level: i32, out_dir: Option<PathBuf>) -> Self {
        Operation::Compress {
            level,
            out_dir,
            threads: None,
            long: None,
            to: Destination::Usual,
            remove_source: false,
        }
    }

    /// Decompression into `out_dir` (beside the sources if `None`), with every other choice
    /// as the zstd command line makes it by default.
    pub fn decompress(out_dir: Option<PathBuf>) -> Self {
        Operation::Decompress {
            out_dir,
            long: None,
            to: Destination::Usual,
            remove_source: false,
        }
    }

    /// Which operation this is.
    pub fn kind(&self) -> OpKind {
        match self {
            Operation::Hash { .. } => OpKind::Hash,
            Operation::Verify { .. } => OpKind::Verify,
            Operation::Compress { .. } => OpKind::Compress,
            Operation::Decompress { .. } => OpKind::Decompress,
            Operation::Copy { .. } => OpKind::Copy,
        }
    }

    /// Short name, as on the command line.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }
}

/// A job: an operation, its inputs and how to run it.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The operation.
    pub op: Operation,
    /// Files and folders (manifests for verify), processed in this order.
    pub inputs: Vec<PathBuf>,
    /// Optional base folder per input (same index): outputs that mirror the input tree (copy,
    /// `--out-dir`) name a file input by its path below this base instead of by its bare
    /// name. The window uses it for files it found by expanding a folder.
    pub bases: Vec<Option<std::sync::Arc<Path>>>,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Cancel the job with [`Reason::Deadline`] after this long.
    pub deadline: Option<Duration>,
    /// Total rate limit in bytes per second.
    pub throttle: Option<u64>,
    /// Follow symbolic links found inside folders (links given as inputs are always followed).
    pub follow_symlinks: bool,
    /// Replace existing outputs.
    pub overwrite: bool,
    /// The inputs are files a front end found in folders (the window's list), not names
    /// typed one by one: one the operation has no work for (a `.zst` to compress) is skipped
    /// with a note, as in a folder, instead of failed.
    pub listed: bool,
}

impl JobSpec {
    /// A spec with defaults: one worker per core, no limits, no overwriting.
    pub fn new(op: Operation, inputs: Vec<PathBuf>) -> Self {
        JobSpec {
            op,
            inputs,
            bases: Vec::new(),
            workers: 0,
            deadline: None,
            throttle: None,
            follow_symlinks: false,
            overwrite: false,
            listed: false,
        }
    }
}

/// The result of one file that finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A checksum, lowercase hex.
    Digest(String),
    /// A verification: whether the checksum matched.
    Verified {
        /// `true` if it matched.
        ok: bool,
        /// The algorithm checked; `None` when the manifest left SHA-256 or BLAKE3 open and
        /// the file matched neither.
        algo: Option<Algo>,
    },
    /// An output file was written (compress, decompress).
    Written(PathBuf),
    /// The output went to standard output, or was only checked (`decompress --test`).
    Streamed,
    /// A copy was made.
    Copied(Copied),
}

/// What the engine reports. Lifecycle events are never dropped.
#[derive(Debug)]
pub enum Event {
    /// A file was found and will be processed. `group` is the index of the input (for verify,
    /// of the manifest) it came from.
    Queued {
        /// The file's id.
        id: FileId,
        /// The file, as named by the input (for verify: as written in the manifest).
        path: PathBuf,
        /// Where it is read from: `path`, except for verify, where a relative name is
        /// resolved against the manifest's folder.
        open: PathBuf,
        /// Its size in bytes, 0 if unknown.
        size: u64,
        /// Index of the input (or manifest) it came from.
        group: usize,
    },
    /// A verify manifest was read.
    Manifest {
        /// Index of the manifest among the inputs.
        group: usize,
        /// The manifest.
        path: PathBuf,
        /// How many checksum lines it has.
        entries: usize,
        /// How many lines were not checksum lines.
        malformed: usize,
        /// The numbers (from 1) of the first of those lines, for `verify --warn`.
        malformed_lines: Vec<usize>,
    },
    /// A worker began the file.
    Started {
        /// The file's id.
        id: FileId,
    },
    /// The file finished.
    Done {
        /// The file's id.
        id: FileId,
        /// Its result.
        outcome: Outcome,
    },
    /// The file failed; the job goes on.
    Failed {
        /// The file's id.
        id: FileId,
        /// Why.
        error: Error,
    },
    /// The file was stopped before it finished; nothing of its output remains.
    Cancelled {
        /// The file's id.
        id: FileId,
        /// The reason that won.
        reason: Reason,
    },
    /// Something found while walking that is not processed (a fifo, a link not followed).
    Skipped {
        /// The entry's id.
        id: FileId,
        /// The entry.
        path: PathBuf,
        /// Why it is skipped.
        note: String,
        /// Index of the input it came from.
        group: usize,
    },
    /// Walking is over: the totals are final.
    WalkDone {
        /// Files to process.
        files: usize,
        /// Their total size.
        bytes: u64,
    },
    /// Every worker has stopped. Always the last event.
    Finished(Summary),
}

/// Counts and timings of a finished job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files that finished (for verify: checked, whether they matched or not).
    pub done: usize,
    /// Of those, verified files whose checksum did not match.
    pub mismatched: usize,
    /// Files that failed.
    pub failed: usize,
    /// Files cancelled or skipped by the person.
    pub cancelled: usize,
    /// Entries not processed (not regular files).
    pub skipped: usize,
    /// Bytes processed.
    pub bytes: u64,
    /// From start to the last worker's stop.
    pub elapsed: Duration,
    /// The job's cancel reason, if it was cancelled.
    pub cancel_reason: Option<Reason>,
    /// From the job's cancel to the last worker's stop.
    pub stop_latency: Option<Duration>,
}

/// A worker that is still busy, as reported by [`Job::join_timeout`] and [`Job::busy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    /// Worker number, from 0; for the walker, the number of workers.
    pub worker: usize,
    /// This is the walker, listing folders or reading a manifest (`path`), not a worker.
    pub listing: bool,
    /// The file it is on.
    pub id: FileId,
    /// Its path.
    pub path: PathBuf,
    /// How long it has been on it.
    pub elapsed: Duration,
}

/// A point-in-time view of progress, cheap to take every frame.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Bytes processed so far.
    pub bytes_done: u64,
    /// Bytes of all files found so far.
    pub bytes_total: u64,
    /// Files found so far.
    pub files_total: usize,
    /// Files that reached a final state.
    pub files_finished: usize,
    /// Whether walking is over (totals final).
    pub walk_done: bool,
    /// Per running file: its id and the bytes done.
    pub running: Vec<(FileId, u64)>,
    /// Running files being checked after their work (a copy read back).
    pub verifying: Vec<FileId>,
}

/// The front end's wake-up: called when there is something new to show.
pub type Wake = Box<dyn Fn() + Send + Sync>;

pub(crate) struct Slot {
    busy: Mutex<Option<(FileId, PathBuf, Instant)>>,
    /// Bytes done of the slot's current file.
    file_bytes: AtomicU64,
    /// The current file's id plus one; 0 when idle.
    current: AtomicUsize,
    /// The current file is being checked after its work.
    verifying: AtomicBool,
}

#[derive(Default)]
pub(crate) struct Counts {
    done: AtomicUsize,
    mismatched: AtomicUsize,
    failed: AtomicUsize,
    cancelled: AtomicUsize,
    skipped: AtomicUsize,
}

pub(crate) struct Shared {
    op: Operation,
    overwrite: bool,
    follow_symlinks: bool,
    listed: bool,
    inputs: Vec<PathBuf>,
    bases: Vec<Option<std::sync::Arc<Path>>>,
    token: CancelToken,
    throttle: Throttle,
    events: Sender<Event>,
    wake: Option<Wake>,
    wake_armed: AtomicBool,
    job_bytes: AtomicU64,
    total_bytes: AtomicU64,
    total_files: AtomicUsize,
    walk_done: AtomicBool,
    slots: Vec<Slot>,
    /// What the walker is listing (an input, a folder, a manifest) and since when; `None`
    /// once it is done, so a close can count it among the threads it waits for.
    walking: Mutex<Option<(PathBuf, Instant)>>,
    file_tokens: Mutex<HashMap<FileId, CancelToken>>,
    skip_requests: Mutex<HashSet<FileId>>,
    counts: Counts,
    alive: Mutex<usize>,
    all_stopped: Condvar,
    started: Instant,
    cores: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The engine's locks guard plain data that every writer leaves consistent, and a worker
    // never panics while holding one; poisoning carries no meaning here.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn emit(&self, ev: Event) {
        // A front end that dropped its receiver no longer listens; the work still finishes.
        let _ = self.events.send(ev);
        self.wake();
    }

    fn wake(&self) {
        if let Some(w) = &self.wake {
            // AcqRel: pairs with the store in `rearm_wake`, so a wake is never lost between
            // the front end draining and re-arming.
            if self.wake_armed.swap(false, Ordering::AcqRel) {
                w();
            }
        }
    }

    /// Records a final state and emits its event.
    fn finish_file(&self, ev: Event) {
        if let Event::Done {
            outcome: Outcome::Verified { ok: false, .. },
            ..
        } = &ev
        {
            // Relaxed: a statistic, as below.
            self.counts.mismatched.fetch_add(1, Ordering::Relaxed);
        }
        let counter = match &ev {
            Event::Done { .. } => &self.counts.done,
            Event::Failed { .. } => &self.counts.failed,
            Event::Cancelled { .. } => &self.counts.cancelled,
            Event::Skipped { .. } => &self.counts.skipped,
            _ => {
                self.emit(ev);
                return;
            }
        };
        // Relaxed: a statistic; the summary is read after the threads are done.
        counter.fetch_add(1, Ordering::Relaxed);
        self.emit(ev);
    }

    /// Called by each thread (walker and workers) as it ends; the last one reports.
    fn thread_exit(&self) {
        let mut alive = lock(&self.alive);
        *alive -= 1;
        if *alive == 0 {
            // The job is over: its time limit must not cancel it after the fact.
            self.token.clear_deadline();
            let now = Instant::now();
            let stop_latency = self
                .token
                .cancelled_at()
                .map(|t| now.saturating_duration_since(t));
            // Relaxed loads: every counter was written by threads that have now all passed
            // through the `alive` mutex, which orders their writes before these reads.
            let summary = Summary {
                done: self.counts.done.load(Ordering::Relaxed),
                mismatched: self.counts.mismatched.load(Ordering::Relaxed),
                failed: self.counts.failed.load(Ordering::Relaxed),
                cancelled: self.counts.cancelled.load(Ordering::Relaxed),
                skipped: self.counts.skipped.load(Ordering::Relaxed),
                bytes: self.job_bytes.load(Ordering::Relaxed),
                elapsed: now - self.started,
                cancel_reason: self.token.reason(),
                stop_latency,
            };
            self.emit(Event::Finished(summary));
            self.all_stopped.notify_all();
        }
    }

    fn busy(&self) -> Vec<Busy> {
        let now = Instant::now();
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(worker, slot)| {
                lock(&slot.busy).as_ref().map(|(id, path, since)| Busy {
                    worker,
                    listing: false,
                    id: *id,
                    path: path.clone(),
                    elapsed: now - *since,
                })
            })
            .chain(lock(&self.walking).as_ref().map(|(path, since)| Busy {
                worker: self.slots.len(),
                listing: true,
                id: FileId::MAX,
                path: path.clone(),
                elapsed: now - *since,
            }))
            .collect()
    }
}

/// A running job. Dropping it without [`join`](Self::join) is [`detach`](Self::detach).
pub struct Job {
    shared: Arc<Shared>,
    events: Receiver<Event>,
    threads: Vec<JoinHandle<()>>,
}

impl Job {
    /// Starts `spec` on new threads and returns at once. `wake` is called (at most once per
    /// [`rearm_wake`](Self::rearm_wake)) when there is something new to show.
    pub fn start(spec: JobSpec, wake: Option<Wake>) -> Result<Job, Error> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = if spec.workers == 0 {
            cores
        } else {
            spec.workers
        };
        let token = CancelToken::new();
        if let Some(limit) = spec.deadline {
            token
                .set_deadline(limit)
                .map_err(|e| Error::io("(deadline timer)", "start", e))?;
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            op: spec.op,
            overwrite: spec.overwrite,
            follow_symlinks: spec.follow_symlinks,
            listed: spec.listed,
            inputs: spec.inputs,
            bases: spec.bases,
            token,
            throttle: Throttle::new(spec.throttle),
            events: tx,
            wake,
            wake_armed: AtomicBool::new(true),
            job_bytes: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            total_files: AtomicUsize::new(0),
            walk_done: AtomicBool::new(false),
            slots: (0..workers)
                .map(|_| Slot {
                    busy: Mutex::new(None),
                    file_bytes: AtomicU64::new(0),
                    current: AtomicUsize::new(0),
                    verifying: AtomicBool::new(false),
                })
                .collect(),
            walking: Mutex::new(None),
            file_tokens: Mutex::new(HashMap::new()),
            skip_requests: Mutex::new(HashSet::new()),
            counts: Counts::default(),
            alive: Mutex::new(workers + 1),
            all_stopped: Condvar::new(),
            started: Instant::now(),
            cores,
        });
        let (task_tx, task_rx) = crossbeam_channel::unbounded();
        let mut threads = Vec::with_capacity(workers + 1);
        let spawn = |name: String, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name)
                .spawn(f)
                .map_err(|e| Error::io("(worker thread)", "start", e))
        };
        // Spawn workers before the walker so that a failure to spawn leaves nothing running
        // that has not been accounted for.
        for n in 0..workers {
            let sh = Arc::clone(&shared);
            let rx = task_rx.clone();
            match spawn(
                format!("ripcord-worker-{n}"),
                Box::new(move || worker::run(&sh, n, &rx)),
            ) {
                Ok(h) => threads.push(h),
                Err(e) => {
                    shared.token.cancel(Reason::Shutdown);
                    // This worker and the walker will never run: account for them.
                    for _ in n..workers {
                        shared.thread_exit();
                    }
                    shared.thread_exit();
                    return Err(e);
                }
            }
        }
        let sh = Arc::clone(&shared);
        match spawn(
            "ripcord-walk".into(),
            Box::new(move || walk::run(&sh, task_tx, &task_rx)),
        ) {
            Ok(h) => threads.push(h),
            Err(e) => {
                shared.token.cancel(Reason::Shutdown);
                shared.thread_exit();
                return Err(e);
            }
        }
        Ok(Job {
            shared,
            events: rx,
            threads,
        })
    }

    /// The events, in order. `Finished` is the last one.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// The job's stop signal (every file's token is a child of it).
    pub fn token(&self) -> &CancelToken {
        &self.shared.token
    }

    /// Cancels the whole job. Returns `false` if it was already cancelled.
    pub fn cancel(&self, reason: Reason) -> bool {
        self.shared.token.cancel(reason)
    }

    /// Pauses every worker at its next chunk.
    pub fn pause(&self) {
        self.shared.token.pause();
    }

    /// Resumes after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.shared.token.resume();
    }

    /// Whether the job is paused.
    pub fn is_paused(&self) -> bool {
        self.shared.token.is_paused()
    }

    /// Stops one file: a running one at its next chunk, a queued one before it starts. The
    /// others go on.
    pub fn skip(&self, id: FileId) {
        let tokens = lock(&self.shared.file_tokens);
        match tokens.get(&id) {
            Some(t) => {
                t.cancel(Reason::Skip);
            }
            None => {
                lock(&self.shared.skip_requests).insert(id);
            }
        }
    }

    /// Changes the total rate limit while the job runs.
    pub fn set_throttle(&self, rate: Option<u64>) {
        self.shared.throttle.set_rate(rate);
    }

    /// Lets the wake-up callback fire again. A front end calls this when it starts draining
    /// events, so it is woken at most once per frame.
    pub fn rearm_wake(&self) {
        // A swap, not a store: AcqRel with the AcqRel swap in `Shared::wake`, so reading an
        // emitter's disarm makes its send visible to the drain that follows. A plain store
        // may lose a wake under the language's memory model (the loom model
        // `loom_wake_rearm_by_store_can_lose_an_event` finds the interleaving).
        self.shared.wake_armed.swap(true, Ordering::AcqRel);
    }

    /// Progress right now.
    pub fn progress(&self) -> Progress {
        let sh = &self.shared;
        // Relaxed loads throughout: statistics for display, each value valid on its own.
        let running = sh
            .slots
            .iter()
            .filter_map(|s| match s.current.load(Ordering::Relaxed) {
                0 => None,
                id1 => Some((id1 - 1, s.file_bytes.load(Ordering::Relaxed))),
            })
            .collect();
        let verifying = sh
            .slots
            .iter()
            .filter(|s| s.verifying.load(Ordering::Relaxed))
            .filter_map(|s| s.current.load(Ordering::Relaxed).checked_sub(1))
            .collect();
        Progress {
            bytes_done: sh.job_bytes.load(Ordering::Relaxed),
            bytes_total: sh.total_bytes.load(Ordering::Relaxed),
            files_total: sh.total_files.load(Ordering::Relaxed),
            files_finished: sh.counts.done.load(Ordering::Relaxed)
                + sh.counts.failed.load(Ordering::Relaxed)
                + sh.counts.cancelled.load(Ordering::Relaxed),
            walk_done: sh.walk_done.load(Ordering::Relaxed),
            running,
            verifying,
        }
    }

    /// Workers busy right now, with their file and for how long.
    pub fn busy(&self) -> Vec<Busy> {
        self.shared.busy()
    }

    /// Whether every thread of the job has stopped.
    pub fn is_finished(&self) -> bool {
        *lock(&self.shared.alive) == 0
    }

    /// Waits until every thread has stopped.
    pub fn join(mut self) {
        for h in self.threads.drain(..) {
            // A thread's panic was already turned into a Failed event inside it; a panic
            // escaping that net has nothing more to report here.
            let _ = h.join();
        }
    }

    /// Waits at most `limit` for every thread to stop. On time-out, returns the workers still
    /// busy (a read the OS will not interrupt, say) with their file and how long.
    pub fn join_timeout(&self, limit: Duration) -> Result<(), Vec<Busy>> {
        let end = Instant::now() + limit;
        let mut alive = lock(&self.shared.alive);
        while *alive > 0 {
            let now = Instant::now();
            if now >= end {
                drop(alive);
                return Err(self.shared.busy());
            }
            alive = match self.shared.all_stopped.wait_timeout(alive, end - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        Ok(())
    }

    /// Lets the threads run on without anyone waiting for them. The process may exit while
    /// they run: the output contract leaves no partial file under a final name.
    pub fn detach(mut self) {
        self.threads.clear();
    }
}

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

/// Tells glibc's allocator (once per process) to keep freed memory for reuse rather than
/// hand it back with `munmap`/`madvise` inside `free`. Those calls take the process's
/// memory-map lock, and perf sched showed workers waiting 10–18 ms for it behind page faults
/// and other threads' unmapping — a worker freeing a buffer on its way out of a cancel
/// waited with them. Ripcord's buffers are few and reused, so the memory kept is bounded.
/// Called by [`crate::init`] only, at start-up.
pub(crate) fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes allocator parameters; `init` calls it first thing
            // in `main`, before any other thread exists to allocate meanwhile (glibc does not
            // promise mallopt is safe against concurrent allocation). 64 MiB: above every
            // buffer Ripcord allocates.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
            }
        });
    }
}
