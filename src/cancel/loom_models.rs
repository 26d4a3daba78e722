//! Loom models of the stop signal (the numbered models of `LOOM-MODELS.md`), plus the engine's
//! wake re-arm protocol as a stand-alone atomics model.
//!
//! Run with `cargo test --release --features loom --lib loom_`. Each model explores every
//! interleaving of its threads up to a small number of preemptions (`PREEMPTIONS`, or
//! `LOOM_MAX_PREEMPTIONS` from the environment for a deeper run); loom fails a model on a
//! broken assertion and on any state where every thread is blocked (a lost wake-up, a
//! watcher that never ends).
//!
//! Limits of what is modelled: `cancelled_channel` stays a crossbeam channel, which loom does
//! not see, so the models only ever `try_recv` on it (a blocking receive would hang loom's
//! single OS thread); deadlines never time out under loom (its `wait_timeout` ignores the
//! duration), so a deadline that expires is modelled as `Duration::ZERO`, which the watcher
//! finds expired at its first look, and one that never expires as an hour.

use std::time::Duration;

use loom::sync::Mutex;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use loom::thread;

use super::{CancelToken, Cancelled, Reason};

/// Preemptions explored per execution: enough for every race below to show, few enough
/// that the whole set runs in seconds in release mode.
const PREEMPTIONS: usize = 3;

/// Runs `f` under loom and prints how many executions it explored (seen with
/// `--nocapture`, or above a failure).
fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(PREEMPTIONS);
    }
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&runs);
    builder.check(move || {
        // Relaxed: a statistic, read after the model has finished on this same OS thread.
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    // Relaxed: as above.
    let runs = runs.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "explored {runs} executions (preemption bound {:?})",
        builder.preemption_bound
    );
}

fn holds(t: &CancelToken) -> i32 {
    t.node.lock().pause_holds
}

fn join<T>(h: thread::JoinHandle<T>) -> T {
    match h.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

// ---------------------------------------------------------------------------------------
// 1. Cancel vs child vs pause.

/// One thread cancels the root, one pauses and resumes it, and the main one makes a child and
/// pauses it: the child ends cancelled with the root's reason and time, and its pause holds equal
/// the paused nodes on its path.
#[test]
fn loom_cancel_races_child_and_pause() {
    model(|| {
        let root = CancelToken::new();
        let r = root.clone();
        let canceller = thread::spawn(move || r.cancel(Reason::User));
        let r = root.clone();
        let pauser = thread::spawn(move || {
            r.pause();
            r.resume();
        });
        let child = root.child();
        child.pause();
        assert!(join(canceller));
        join(pauser);

        assert_eq!(child.reason(), Some(Reason::User));
        assert_eq!(child.cancelled_at(), root.cancelled_at());
        assert_eq!(child.check(), Err(Cancelled(Reason::User)));
        assert_eq!(holds(&root), 0);
        assert_eq!(holds(&child), 1, "only the child's own pause holds");
        assert!(child.is_paused() && !root.is_paused());
    });
}

// ---------------------------------------------------------------------------------------
// 2. No lost wake-up.

/// A grandchild (whose middle token was dropped) waits in `check` under a paused root; one
/// thread resumes the root and another makes a sibling. The waiter must return.
#[test]
fn loom_waiter_wakes_on_resume() {
    model(|| {
        let root = CancelToken::new();
        root.pause();
        let grandchild = root.child().child();
        let waiter = thread::spawn(move || grandchild.check());
        let r = root.clone();
        let sibling = thread::spawn(move || r.child());
        root.resume();
        assert_eq!(join(waiter), Ok(()));
        let sibling = join(sibling);
        assert_eq!(holds(&sibling), 0);
        assert_eq!(sibling.check(), Ok(()));
    });
}

/// As above, but the root is cancelled instead of resumed: the waiter leaves with the reason,
/// and the sibling, however it raced the cancel, is cancelled too.
#[test]
fn loom_waiter_wakes_on_cancel() {
    model(|| {
        let root = CancelToken::new();
        root.pause();
        let grandchild = root.child().child();
        let waiter = thread::spawn(move || grandchild.check());
        let r = root.clone();
        let sibling = thread::spawn(move || r.child());
        root.cancel(Reason::User);
        assert_eq!(join(waiter), Err(Cancelled(Reason::User)));
        assert_eq!(join(sibling).check(), Err(Cancelled(Reason::User)));
    });
}

/// The signed hold counter: one thread pauses the root while another resumes it, so the
/// resume's way down can overtake the pause's and take a count below zero for a while. A
/// grandchild's worker waits in `check` whenever the pause has reached it; once the root is
/// resumed for good, every count is back to zero and the waiter has returned.
#[test]
fn loom_pause_and_resume_race_down_the_tree() {
    model(|| {
        let root = CancelToken::new();
        let grandchild = root.child().child();
        let g = grandchild.clone();
        let waiter = thread::spawn(move || g.check());
        let r = root.clone();
        let pauser = thread::spawn(move || r.pause());
        let r = root.clone();
        let resumer = thread::spawn(move || r.resume());
        join(pauser);
        join(resumer);
        // A resume that ran before the pause did nothing; this one ends any pause left.
        root.resume();
        assert_eq!(join(waiter), Ok(()));
        assert_eq!(holds(&root), 0);
        assert_eq!(holds(&grandchild), 0);
        assert!(!grandchild.is_paused());
    });
}

// ---------------------------------------------------------------------------------------
// 3. First reason wins; the flag agrees with the state.

/// The root is cancelled (User) while its child is cancelled on its own (Skip) and a reader
/// watches the child: a reason once seen never changes, `check`'s error is `reason()`, a
/// set flag always finds a reason, exactly one of the two cancels of the child wins, and a
/// `cancelled_channel` receiver taken meanwhile ends disconnected.
#[test]
fn loom_first_reason_wins() {
    model(|| {
        let root = CancelToken::new();
        let child = root.child();
        let r = root.clone();
        let root_cancel = thread::spawn(move || r.cancel(Reason::User));
        let c = child.clone();
        let skip = thread::spawn(move || c.cancel(Reason::Skip));
        let c = child.clone();
        let reader = thread::spawn(move || {
            let rx = c.cancelled_channel();
            let flagged = c.is_cancelled();
            let first = c.reason();
            if flagged {
                assert!(first.is_some(), "the flag is set only after the reason");
            }
            let checked = c.check();
            let second = c.reason();
            if let Some(first) = first {
                assert_eq!(second, Some(first), "a reason seen never changes");
            }
            if let Err(Cancelled(reason)) = checked {
                assert_eq!(second, Some(reason), "check's error is the reason");
            }
            (rx, second)
        });
        assert!(join(root_cancel));
        let skip_won = join(skip);
        let (rx, seen) = join(reader);

        let kept = child.reason();
        assert_eq!(root.reason(), Some(Reason::User));
        assert_eq!(
            kept,
            Some(if skip_won { Reason::Skip } else { Reason::User })
        );
        if seen.is_some() {
            assert_eq!(seen, kept);
        }
        assert_eq!(child.check(), Err(Cancelled(kept.unwrap_or(Reason::User))));
        assert!(rx.try_recv().is_err_and(|e| e.is_disconnected()));
    });
}

// ---------------------------------------------------------------------------------------
// 4. Deadlines.

/// A deadline that expires races a user cancel and a job that finishes and clears its
/// deadline: the first cancel's reason is kept, nothing cancels with `Deadline` once
/// `clear_deadline` has returned, and the watcher ends (loom fails a watcher left blocked).
#[test]
fn loom_expiring_deadline_races_cancel_and_clear() {
    model(|| {
        let token = CancelToken::new();
        assert!(token.set_deadline(Duration::ZERO).is_ok());
        let t = token.clone();
        let canceller = thread::spawn(move || t.cancel(Reason::User));
        let t = token.clone();
        let finisher = thread::spawn(move || {
            t.clear_deadline();
            t.reason()
        });
        let user_won = join(canceller);
        let at_clear = join(finisher);

        let kept = token.reason();
        assert_eq!(user_won, kept == Some(Reason::User));
        if user_won {
            assert!(at_clear.is_none() || at_clear == Some(Reason::User));
        } else {
            assert_eq!(kept, Some(Reason::Deadline));
            assert_eq!(
                at_clear,
                Some(Reason::Deadline),
                "cancelled after the clear"
            );
        }
    });
}

/// A deadline that never expires, against a cancel and a new deadline replacing it, while
/// a handle outlives the model (so no drop can end a watcher): the cancel's poke and the
/// replacement's must end both watchers, and nothing but the user's cancel is recorded.
#[test]
fn loom_watchers_end_on_cancel_and_replace() {
    model(|| {
        let token = CancelToken::new();
        assert!(token.set_deadline(Duration::from_secs(3600)).is_ok());
        // Never dropped: a job's handle that lives on after its deadline's watchers.
        std::mem::forget(token.clone());
        let t = token.clone();
        let canceller = thread::spawn(move || t.cancel(Reason::User));
        let t = token.clone();
        let replacer = thread::spawn(move || t.set_deadline(Duration::from_secs(3600)).is_ok());
        assert!(join(canceller));
        assert!(join(replacer));
        assert_eq!(token.reason(), Some(Reason::User));
    });
}

/// A deadline that never expires and is never cancelled, replaced on one thread while the
/// other handle is dropped: only the replacement's poke and the last drop's can end the two
/// watchers, so this fails if either is missing or if a watcher kept the token alive.
#[test]
fn loom_watchers_end_when_the_last_handle_goes() {
    model(|| {
        let token = CancelToken::new();
        assert!(token.set_deadline(Duration::from_secs(3600)).is_ok());
        let t = token.clone();
        let replacer = thread::spawn(move || t.set_deadline(Duration::from_secs(3600)).is_ok());
        drop(token);
        assert!(join(replacer));
    });
}

// ---------------------------------------------------------------------------------------
// 5. The front end's wake re-arm (src/engine/job.rs): the engine's side in atomics only.

/// How the front end re-arms the wake at the start of a frame.
#[derive(Clone, Copy)]
enum Rearm {
    /// `wake_armed.store(true, Release)`.
    Store,
    /// `wake_armed.swap(true, AcqRel)`.
    Swap,
}

/// The engine side of the protocol and a stand-in for the front end it wakes.
struct WakeProtocol {
    rearm: Rearm,
    /// Messages sent on the event channel: crossbeam's unbounded channel publishes a message
    /// with a SeqCst compare-exchange on its tail index, which this counter stands for.
    sent: AtomicUsize,
    /// `Shared::wake_armed`.
    armed: AtomicBool,
    /// A repaint asked for and not yet begun: what the wake callback sets and the front
    /// end's event loop takes at the start of each frame, under a lock as egui's context
    /// does. (A lock rather than an atomic also keeps clear of a loom bug, tokio-rs/loom#254,
    /// where a plain store can slip between the read and the write of a concurrent swap.)
    repaint: Mutex<bool>,
}

impl WakeProtocol {
    fn new(rearm: Rearm) -> Self {
        WakeProtocol {
            rearm,
            sent: AtomicUsize::new(0),
            // The frame about to run was woken by the last wake, which disarmed it.
            armed: AtomicBool::new(false),
            repaint: Mutex::new(true),
        }
    }

    /// `Shared::emit`: send, then wake if armed.
    fn emit(&self) {
        // SeqCst: the ordering of crossbeam's tail compare-exchange (list.rs, `start_send`).
        self.sent.fetch_add(1, Ordering::SeqCst);
        // AcqRel: as in `Shared::wake`.
        if self.armed.swap(false, Ordering::AcqRel) {
            *lock(&self.repaint) = true;
        }
    }

    /// Takes a pending repaint request, as the event loop does before a frame.
    fn take_repaint(&self) -> bool {
        std::mem::take(&mut *lock(&self.repaint))
    }

    /// One frame of `poll_job`: `Job::rearm_wake`, then drain the channel. Returns the
    /// number of messages seen so far.
    fn frame(&self) -> usize {
        match self.rearm {
            // Release: as in `Job::rearm_wake`.
            Rearm::Store => self.armed.store(true, Ordering::Release),
            // AcqRel: reading the value an emitter's swap wrote makes its send visible.
            Rearm::Swap => {
                self.armed.swap(true, Ordering::AcqRel);
            }
        }
        // SeqCst fence, then a Relaxed load of the tail: how crossbeam's `try_recv` finds
        // the channel empty or not (list.rs, `start_recv`).
        fence(Ordering::SeqCst);
        self.sent.load(Ordering::Relaxed)
    }
}

fn lock<T>(m: &Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Two emitters against a front end that runs a frame for every repaint it is asked for;
/// once all is quiet, either every message was drained or a repaint is still pending.
fn wake_rearm_model(rearm: Rearm) {
    model(move || {
        let p = loom::sync::Arc::new(WakeProtocol::new(rearm));
        let emitters: Vec<_> = (0..2)
            .map(|_| {
                let p = loom::sync::Arc::clone(&p);
                thread::spawn(move || p.emit())
            })
            .collect();
        let mut drained = 0;
        while p.take_repaint() {
            drained = p.frame();
        }
        for e in emitters {
            join(e);
        }
        let pending = *lock(&p.repaint);
        assert!(
            drained == 2 || pending,
            "an event was left undrained with no wake to come (drained {drained} of 2)"
        );
    });
}

/// The re-arm as a swap: no event is ever left without a later wake.
#[test]
fn loom_wake_rearm_loses_no_event() {
    wake_rearm_model(Rearm::Swap);
}

/// The re-arm as a plain store, as `Job::rearm_wake` had it before this model: under the C11 model the
/// store and the drain's load may pass the emitter's send and swap (store buffering), so an
/// event can be left undrained with no wake. x86 and AArch64 forbid that outcome (the
/// drain's SeqCst fence and the emitter's release-then-acquire RMWs), but the language
/// does not; a swap makes the protocol correct by acquire/release alone.
#[test]
#[should_panic(expected = "left undrained")]
fn loom_wake_rearm_by_store_can_lose_an_event() {
    wake_rearm_model(Rearm::Store);
}

// ---------------------------------------------------------------------------------------
// 6. A small engine (src/engine/walk.rs, worker.rs and `Job::skip`), its protocol copied
//    onto loom's primitives: the crossbeam task channel becomes a Mutex+Condvar queue, and
//    `select!` on the cancel channel becomes the canceller's notify under the queue's lock.
//    The queue is bounded as the engine's is (`TASKS_AHEAD`): a walker that finds it full
//    waits for room or for the cancel, and a file it holds when the cancel comes ends there.

/// Which final event a file got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Final {
    Done,
    Cancelled(Reason),
}

/// What the front end receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    Final(usize, Final),
    Finished,
}

#[derive(Default)]
struct Queue {
    tasks: std::collections::VecDeque<usize>,
    /// The walker is done (the channel's sender dropped).
    closed: bool,
}

/// The engine's shared state, the parts the final-event rule depends on.
struct MiniEngine {
    token: CancelToken,
    queue: Mutex<Queue>,
    ready: loom::sync::Condvar,
    /// Room in the queue (a worker took a task) or the cancel.
    room: loom::sync::Condvar,
    /// The queue's bound (`usize::MAX`: unbounded).
    cap: usize,
    /// Per worker: the file it runs and its token, kept for the next file unless cancelled.
    file_tokens: Mutex<Vec<(Option<usize>, CancelToken)>>,
    skip_requests: Mutex<std::collections::HashSet<usize>>,
    events: Mutex<Vec<Ev>>,
    alive: Mutex<usize>,
    /// Files the walker queued (gave an id).
    queued: Mutex<usize>,
}

impl MiniEngine {
    fn new(workers: usize, cap: usize) -> Self {
        let token = CancelToken::new();
        let file_tokens = (0..workers).map(|_| (None, token.child())).collect();
        MiniEngine {
            token,
            queue: Mutex::default(),
            ready: loom::sync::Condvar::new(),
            room: loom::sync::Condvar::new(),
            cap,
            file_tokens: Mutex::new(file_tokens),
            skip_requests: Mutex::default(),
            events: Mutex::default(),
            alive: Mutex::new(workers + 1),
            queued: Mutex::new(0),
        }
    }

    /// `Job::cancel` plus the cancel channel's wake of a worker blocked in `select!`.
    fn cancel(&self) {
        self.token.cancel(Reason::User);
        let _q = lock(&self.queue);
        self.ready.notify_all();
        self.room.notify_all();
    }

    /// `Job::skip`: cancel the file's token if it runs, else leave a request.
    fn skip(&self, id: usize) {
        let tokens = lock(&self.file_tokens);
        match tokens.iter().find(|(i, _)| *i == Some(id)).map(|(_, t)| t) {
            Some(t) => {
                t.cancel(Reason::Skip);
            }
            None => {
                lock(&self.skip_requests).insert(id);
            }
        }
    }

    fn emit(&self, ev: Ev) {
        lock(&self.events).push(ev);
    }

    /// Whatever is still queued once the job is cancelled ends here.
    fn drain_cancelled(&self) {
        if let Some(reason) = self.token.reason() {
            while let Some(id) = lock(&self.queue).tasks.pop_front() {
                self.emit(Ev::Final(id, Final::Cancelled(reason)));
            }
        }
    }

    fn thread_exit(&self) {
        let mut alive = lock(&self.alive);
        *alive -= 1;
        if *alive == 0 {
            self.emit(Ev::Finished);
        }
    }

    /// `walk::run`: queue the files unless cancelled (waiting for room, `send_now`), close,
    /// drain, exit.
    fn walker(&self, files: usize) {
        for id in 0..files {
            if self.token.is_cancelled() {
                break;
            }
            *lock(&self.queued) += 1;
            let mut q = lock(&self.queue);
            while q.tasks.len() >= self.cap && !self.token.is_cancelled() {
                q = self
                    .room
                    .wait(q)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if q.tasks.len() >= self.cap {
                // Cancelled while waiting for room: the announced file ends here.
                drop(q);
                let reason = self.token.reason().unwrap_or(Reason::Shutdown);
                self.emit(Ev::Final(id, Final::Cancelled(reason)));
                break;
            }
            q.tasks.push_back(id);
            drop(q);
            self.ready.notify_one();
        }
        lock(&self.queue).closed = true;
        self.ready.notify_all();
        self.drain_cancelled();
        self.thread_exit();
    }

    /// `worker::run` and `worker::process`, as worker `n`.
    fn worker(&self, n: usize) {
        loop {
            if self.token.is_cancelled() {
                break;
            }
            let task = {
                let mut q = lock(&self.queue);
                loop {
                    if let Some(id) = q.tasks.pop_front() {
                        self.room.notify_one();
                        break Some(id);
                    }
                    if q.closed || self.token.is_cancelled() {
                        break None;
                    }
                    q = self
                        .ready
                        .wait(q)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            let Some(id) = task else { break };
            let token = {
                let mut tokens = lock(&self.file_tokens);
                if lock(&self.skip_requests).remove(&id) {
                    drop(tokens);
                    self.emit(Ev::Final(id, Final::Cancelled(Reason::Skip)));
                    continue;
                }
                let mine = &mut tokens[n];
                if mine.1.is_cancelled() {
                    mine.1 = self.token.child();
                }
                mine.0 = Some(id);
                mine.1.clone()
            };
            // The operation: it ends cancelled if its token was cancelled by the time it
            // looks (a check per chunk), else done.
            let end = match token.check() {
                Ok(()) => Final::Done,
                Err(Cancelled(reason)) => Final::Cancelled(reason),
            };
            lock(&self.file_tokens)[n].0 = None;
            self.emit(Ev::Final(id, end));
        }
        self.drain_cancelled();
        self.thread_exit();
    }
}

/// Runs a two-file engine with `workers` workers while the main thread cancels the job
/// and/or skips file 0, then checks the final-event rule.
fn small_engine_model(workers: usize, cap: usize, cancel: bool, skip: bool) {
    model(move || {
        const FILES: usize = 2;
        let e = loom::sync::Arc::new(MiniEngine::new(workers, cap));
        let mut threads = Vec::new();
        let w = loom::sync::Arc::clone(&e);
        threads.push(thread::spawn(move || w.walker(FILES)));
        for n in 0..workers {
            let w = loom::sync::Arc::clone(&e);
            threads.push(thread::spawn(move || w.worker(n)));
        }
        if skip {
            e.skip(0);
        }
        if cancel {
            e.cancel();
        }
        for t in threads {
            join(t);
        }
        let events = lock(&e.events).clone();
        assert_eq!(*lock(&e.alive), 0, "every thread ended");
        assert_eq!(
            events.last(),
            Some(&Ev::Finished),
            "Finished is last: {events:?}"
        );
        assert_eq!(
            events.iter().filter(|ev| **ev == Ev::Finished).count(),
            1,
            "one Finished: {events:?}"
        );
        let finals: Vec<(usize, Final)> = events
            .iter()
            .filter_map(|ev| match ev {
                Ev::Final(id, f) => Some((*id, *f)),
                Ev::Finished => None,
            })
            .collect();
        let queued = *lock(&e.queued);
        if !cancel {
            assert_eq!(
                queued, FILES,
                "without a cancel the walker queues every file"
            );
        }
        for id in 0..FILES {
            let mine: Vec<_> = finals.iter().filter(|(i, _)| *i == id).collect();
            // Every file that got an id gets exactly one final event; one the walker never
            // queued (it saw the cancel first) gets none.
            let want = usize::from(id < queued);
            assert_eq!(mine.len(), want, "file {id}: {events:?}");
        }
        if !cancel && !skip {
            assert!(finals.iter().all(|(_, f)| *f == Final::Done));
        }
        if !cancel && skip {
            // A skip never touches the other file.
            assert!(finals.contains(&(1, Final::Done)), "{events:?}");
        }
    });
}

/// One worker while the job is cancelled and file 0 skipped.
#[test]
fn loom_small_engine_one_worker_cancel_and_skip() {
    small_engine_model(1, usize::MAX, true, true);
}

/// One worker runs both files under one kept token while file 0 is skipped: a skip that
/// lands as file 0 ends must not reach file 1 through the kept token.
#[test]
fn loom_small_engine_one_worker_skip() {
    small_engine_model(1, usize::MAX, false, true);
}

/// Two workers racing for the queue while the job is cancelled.
#[test]
fn loom_small_engine_two_workers_cancel() {
    small_engine_model(2, usize::MAX, true, false);
}

/// Two workers racing for the queue while file 0 is skipped, and the job runs to its end.
#[test]
fn loom_small_engine_two_workers_skip() {
    small_engine_model(2, usize::MAX, false, true);
}

/// A queue of one: the walker waits for room while the one worker runs and the job is
/// cancelled; the file it holds ends cancelled, once.
#[test]
fn loom_small_engine_full_queue_cancel() {
    small_engine_model(1, 1, true, false);
}

/// A queue of one, no cancel: the walker waits for room and every file is done.
#[test]
fn loom_small_engine_full_queue_runs_to_the_end() {
    small_engine_model(1, 1, false, false);
}
