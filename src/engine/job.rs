//! The running job: the state its threads share (counters, per-worker slots, file tokens),
//! how a final state is counted and reported, and the [`Job`] handle a front end holds to
//! start, steer, watch, join or detach it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::{Busy, Event, FileId, JobSpec, Operation, Outcome, Progress, Summary, walk, worker};
use crate::cancel::throttle::Throttle;
use crate::cancel::{CancelToken, Reason};
use crate::error::Error;

/// The front end's wake-up: called when there is something new to show.
pub type Wake = Box<dyn Fn() + Send + Sync>;

pub(crate) struct Slot {
    pub(super) busy: Mutex<Option<(FileId, Arc<Path>, Instant)>>,
    /// Bytes done of the slot's current file.
    pub(super) file_bytes: AtomicU64,
    /// The current file's id plus one; 0 when idle.
    pub(super) current: AtomicUsize,
    /// The current file is being checked after its work.
    pub(super) verifying: AtomicBool,
}

/// A worker's file token: the file it runs, if any, and the child of the job's token that
/// the file runs under. The token is kept for the worker's next file unless it was
/// cancelled: a new child per file (an allocation and a turn of the parent's lock) was a
/// cost paid a million times for a million small files.
pub(crate) struct FileToken {
    pub(super) id: Option<FileId>,
    pub(super) token: CancelToken,
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
    pub(super) op: Operation,
    pub(super) overwrite: bool,
    pub(super) follow_symlinks: bool,
    pub(super) listed: bool,
    /// See [`JobSpec::sizes_upfront`].
    pub(super) sizes_upfront: bool,
    /// See [`JobSpec::only`].
    pub(super) only: Option<HashSet<PathBuf>>,
    /// How many inputs the job has (the walker owns them, and frees them as it goes).
    pub(super) input_count: usize,
    pub(super) bases: super::spec::Bases,
    pub(super) token: CancelToken,
    pub(super) throttle: Throttle,
    events: Sender<Event>,
    wake: Option<Wake>,
    wake_armed: AtomicBool,
    pub(super) job_bytes: AtomicU64,
    pub(super) total_bytes: AtomicU64,
    pub(super) total_files: AtomicUsize,
    pub(super) walk_done: AtomicBool,
    pub(super) slots: Vec<Slot>,
    /// What the walker is listing (an input, a folder, a manifest) and since when; `None`
    /// once it is done, so a close can count it among the threads it waits for.
    pub(super) walking: Mutex<Option<(Arc<Path>, Instant)>>,
    /// One per worker, indexed like `slots`. Read by [`Job::skip`] under the same lock the
    /// worker takes to begin and end a file.
    pub(super) file_tokens: Mutex<Vec<FileToken>>,
    pub(super) skip_requests: Mutex<HashSet<FileId>>,
    counts: Counts,
    alive: Mutex<usize>,
    all_stopped: Condvar,
    started: Instant,
    pub(super) cores: usize,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The engine's locks guard plain data that every writer leaves consistent, and a worker
    // never panics while holding one; poisoning carries no meaning here.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(super) fn emit(&self, ev: Event) {
        // A front end that dropped its receiver no longer listens; the work still finishes.
        let _ = self.events.send(ev);
        self.wake();
    }

    pub(super) fn wake(&self) {
        if let Some(w) = &self.wake {
            // AcqRel: pairs with the store in `rearm_wake`, so a wake is never lost between
            // the front end draining and re-arming.
            if self.wake_armed.swap(false, Ordering::AcqRel) {
                w();
            }
        }
    }

    /// Records a final state and emits its event.
    pub(super) fn finish_file(&self, ev: Event) {
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
    pub(super) fn thread_exit(&self) {
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
                    path: path.to_path_buf(),
                    elapsed: now - *since,
                })
            })
            .chain(lock(&self.walking).as_ref().map(|(path, since)| Busy {
                worker: self.slots.len(),
                listing: true,
                id: FileId::MAX,
                path: path.to_path_buf(),
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
        let file_tokens = (0..workers)
            .map(|_| FileToken {
                id: None,
                token: token.child(),
            })
            .collect();
        let (tx, rx) = crossbeam_channel::unbounded();
        let inputs = spec.inputs;
        let shared = Arc::new(Shared {
            op: spec.op,
            overwrite: spec.overwrite,
            follow_symlinks: spec.follow_symlinks,
            listed: spec.listed,
            sizes_upfront: spec.sizes_upfront,
            only: spec.only,
            input_count: inputs.len(),
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
            file_tokens: Mutex::new(file_tokens),
            skip_requests: Mutex::new(HashSet::new()),
            counts: Counts::default(),
            alive: Mutex::new(workers + 1),
            all_stopped: Condvar::new(),
            started: Instant::now(),
            cores,
        });
        let (task_tx, task_rx) = crossbeam_channel::bounded(walk::TASKS_AHEAD);
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
            Box::new(move || walk::run(&sh, inputs, task_tx, &task_rx)),
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
        match tokens.iter().find(|t| t.id == Some(id)).map(|t| &t.token) {
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
