//! The stop signal: a cooperative cancellation token with pause, children, a reason and a
//! deadline.
//!
//! Threads are never killed; they are asked to stop. A worker calls [`CancelToken::check`]
//! between chunks of work: on the fast path that is a single atomic load and no lock. Every
//! wait a worker makes (throttle, pause, back-off) goes through the token, so a cancel wakes it
//! at once instead of leaving it asleep in `thread::sleep`.
//!
//! Invariants:
//! - the first cancel wins: its [`Reason`] is kept and later cancels change nothing;
//! - a parent's cancel and pause reach every child, present and future; a child's never reach
//!   the parent;
//! - locks are only ever taken parent first, then child, so propagation cannot deadlock.
//!
//! The module does no I/O and knows nothing of front ends. Its races are model-checked with
//! loom (`cancel/loom_models.rs`; `cargo test --release --features loom --lib loom_`).

mod sync;
pub mod throttle;

#[cfg(all(test, feature = "loom"))]
mod loom_models;

use std::fmt;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use self::sync::{Arc, AtomicU8, Condvar, Mutex, MutexGuard, Weak, thread};

/// Why a token was cancelled. The first reason given wins and is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The person pressed Cancel (or Esc).
    User,
    /// The person skipped this one file.
    Skip,
    /// The job's time limit ran out.
    Deadline,
    /// The application is closing.
    Shutdown,
    /// Ctrl-C (SIGINT) in a terminal.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// Results could no longer be delivered: the reader of standard output went away (a
    /// closed pipe) or writing to it failed.
    OutputClosed,
}

impl Reason {
    /// A short machine-readable name, as used in `--json` events.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::User => "user",
            Reason::Skip => "skip",
            Reason::Deadline => "deadline",
            Reason::Shutdown => "shutdown",
            Reason::Interrupt => "interrupt",
            Reason::Terminate => "terminate",
            Reason::OutputClosed => "output_closed",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::User => "cancelled by you",
            Reason::Skip => "skipped by you",
            Reason::Deadline => "time limit reached",
            Reason::Shutdown => "application closing",
            Reason::Interrupt => "interrupted (Ctrl-C)",
            Reason::Terminate => "terminated (SIGTERM)",
            Reason::OutputClosed => "standard output closed",
        })
    }
}

/// The error a worker gets from a cancelled token; carries the winning reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Cancelled(pub Reason);

const CANCELLED: u8 = 1;
const PAUSED: u8 = 2;

struct State {
    reason: Option<Reason>,
    cancelled_at: Option<Instant>,
    /// Whether `pause` was called on this very node (not inherited).
    self_paused: bool,
    /// Number of paused nodes on the path from the root to this node, this one included.
    /// Signed so that a resume overtaking its pause on the way down still sums correctly.
    pause_holds: i32,
    children: Vec<Weak<Node>>,
    /// One channel per node, made on the first `cancelled_channel` call: every waiter gets a
    /// clone of the receiver, so registrations never pile up however often a writer asks.
    /// Dropping the sender on cancel disconnects every receiver at once.
    cancel_channel: Option<(Sender<()>, Receiver<()>)>,
    deadline_cell: Option<Arc<DeadlineCell>>,
}

struct Node {
    /// `CANCELLED | PAUSED` bits mirrored from `state` so that `check` needs no lock.
    flags: AtomicU8,
    /// Keeps the parent alive while this node lives: a parent reaches its children through
    /// weak links only, so an intermediate token dropped by its owner must not cut a
    /// grandchild off from the root's cancel.
    _parent: Option<Arc<Node>>,
    state: Mutex<State>,
    wake: Condvar,
}

impl Node {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave `State` half-updated in a way that
        // matters (each field is written in one statement), so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.wake
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn wait_timeout<'a>(&self, guard: MutexGuard<'a, State>, d: Duration) -> MutexGuard<'a, State> {
        match self.wake.wait_timeout(guard, d) {
            Ok((g, _)) => g,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    fn store_flags(&self, st: &State) {
        let mut f = 0;
        if st.reason.is_some() {
            f |= CANCELLED;
        }
        if st.pause_holds > 0 {
            f |= PAUSED;
        }
        // Release: a worker that loads the flag with Acquire also sees the reason written
        // under the lock just before.
        self.flags.store(f, Ordering::Release);
    }

    /// Cancels this node and its descendants. Every node is marked before anyone is woken:
    /// waking a thread can hand it this CPU at once, and on a busy machine the cancelling
    /// thread may then wait milliseconds to run again, during which workers of nodes not yet
    /// marked would go on working.
    fn cancel(&self, reason: Reason, at: Instant) -> bool {
        self.cancel_locked(self.lock(), reason, at)
    }

    /// [`cancel`](Self::cancel) with this node's lock already held by `st` (and released
    /// inside), so a caller can decide and cancel in one hold of the lock.
    fn cancel_locked(&self, st: MutexGuard<'_, State>, reason: Reason, at: Instant) -> bool {
        let mut woken = Vec::new();
        let Some(mine) = self.mark(st, reason, at, &mut woken) else {
            return false;
        };
        mine.wake();
        self.wake.notify_all();
        for (node, wake) in woken {
            wake.wake();
            node.wake.notify_all();
        }
        true
    }

    /// Records the cancel on this node (whose lock `st` holds) and, recursively, on its
    /// descendants (collected in `woken`), without waking anyone. `None` if this node was
    /// cancelled already.
    ///
    /// The children stay listed: a pause or resume of a cancelled parent still reaches them,
    /// so every node's `pause_holds` keeps counting the paused nodes on its path.
    fn mark(
        &self,
        mut st: MutexGuard<'_, State>,
        reason: Reason,
        at: Instant,
        woken: &mut Vec<(Arc<Node>, ToWake)>,
    ) -> Option<ToWake> {
        if st.reason.is_some() {
            return None;
        }
        st.reason = Some(reason);
        st.cancelled_at = Some(at);
        self.store_flags(&st);
        let wake = ToWake {
            channel: st.cancel_channel.take(),
            deadline: st.deadline_cell.clone(),
        };
        let children: Vec<Arc<Node>> = st.children.iter().filter_map(Weak::upgrade).collect();
        drop(st);
        for child in children {
            if let Some(w) = child.mark(child.lock(), reason, at, woken) {
                woken.push((child, w));
            }
        }
        Some(wake)
    }

    /// The deadline watcher's cancel: only while `cell` is still this node's deadline. The
    /// check and the cancel share one hold of the lock, so once `clear_deadline` or a new
    /// `set_deadline` has returned, a watcher that was already expiring changes nothing.
    fn expire(&self, cell: &Arc<DeadlineCell>) -> bool {
        let st = self.lock();
        let current = st
            .deadline_cell
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, cell));
        current && self.cancel_locked(st, Reason::Deadline, Instant::now())
    }

    fn add_holds(&self, delta: i32) {
        let st = self.lock();
        self.apply_holds(st, delta);
    }

    /// Applies `delta` to this node (whose lock is held) and then to its children.
    fn apply_holds(&self, mut st: MutexGuard<'_, State>, delta: i32) {
        st.pause_holds += delta;
        self.store_flags(&st);
        st.children.retain(|w| w.strong_count() > 0);
        let children: Vec<Arc<Node>> = st.children.iter().filter_map(Weak::upgrade).collect();
        self.wake.notify_all();
        drop(st);
        for child in children {
            child.add_holds(delta);
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Lets a deadline watcher thread end as soon as nobody holds the token any more.
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(cell) = &st.deadline_cell {
            cell.poke();
        }
    }
}

/// What a cancelled node must wake once every node is marked.
struct ToWake {
    /// Dropping it disconnects the receivers of `cancelled_channel`.
    channel: Option<(Sender<()>, Receiver<()>)>,
    deadline: Option<Arc<DeadlineCell>>,
}

impl ToWake {
    fn wake(self) {
        drop(self.channel);
        if let Some(cell) = self.deadline {
            cell.poke();
        }
    }
}

/// Wakes a deadline watcher early: on cancel or when the token is dropped.
struct DeadlineCell {
    poked: Mutex<bool>,
    cond: Condvar,
}

impl DeadlineCell {
    fn poke(&self) {
        *self.poked.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.cond.notify_all();
    }
}

/// A cooperative stop signal shared by a job, its workers and the front end.
///
/// Cloning gives another handle to the same signal; [`child`](Self::child) gives a new signal
/// that follows this one but can also be cancelled on its own (skip one file).
#[derive(Clone)]
pub struct CancelToken {
    node: Arc<Node>,
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("reason", &self.reason())
            .field("paused", &self.is_paused())
            .finish()
    }
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelToken {
    /// A fresh token: not cancelled, not paused, no deadline.
    pub fn new() -> Self {
        Self::with_holds(0, None)
    }

    fn with_holds(pause_holds: i32, parent: Option<Arc<Node>>) -> Self {
        let st = State {
            reason: None,
            cancelled_at: None,
            self_paused: false,
            pause_holds,
            children: Vec::new(),
            cancel_channel: None,
            deadline_cell: None,
        };
        let node = Node {
            flags: AtomicU8::new(if pause_holds > 0 { PAUSED } else { 0 }),
            _parent: parent,
            state: Mutex::new(st),
            wake: Condvar::new(),
        };
        CancelToken {
            node: Arc::new(node),
        }
    }

    /// A new token that is cancelled and paused whenever this one is, and can also be
    /// cancelled or paused on its own without affecting this one.
    pub fn child(&self) -> CancelToken {
        let mut st = self.node.lock();
        let child = CancelToken::with_holds(st.pause_holds, Some(Arc::clone(&self.node)));
        // Listed even under a cancelled parent, whose later pauses and resumes must reach it.
        // Entries of children that are gone are dropped first, so the list stays as long as
        // the number of live children, however many files a job has.
        st.children.retain(|w| w.strong_count() > 0);
        st.children.push(Arc::downgrade(&child.node));
        if let (Some(reason), Some(at)) = (st.reason, st.cancelled_at) {
            // Parent's lock, then the child's: the order every propagation takes.
            child.node.cancel(reason, at);
        }
        child
    }

    /// Cancels this token and all its children. Returns `true` if this call was the first
    /// (so its reason is the one kept), `false` if the token was already cancelled.
    pub fn cancel(&self, reason: Reason) -> bool {
        self.node.cancel(reason, Instant::now())
    }

    /// Whether the token is cancelled. One atomic load.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        // Acquire pairs with the Release in `store_flags` (see there).
        self.node.flags.load(Ordering::Acquire) & CANCELLED != 0
    }

    /// The reason the token was cancelled with, if it was.
    pub fn reason(&self) -> Option<Reason> {
        self.node.lock().reason
    }

    /// When the token was cancelled, if it was. For a child cancelled through its parent this
    /// is the moment of the parent's cancel, so latencies are measured from the person's click.
    pub fn cancelled_at(&self) -> Option<Instant> {
        self.node.lock().cancelled_at
    }

    /// The worker's checkpoint, called between chunks of work.
    ///
    /// Fast path: one atomic load, no lock. If the token is paused this blocks (without
    /// spinning) until it is resumed or cancelled. Returns `Err` once cancelled.
    #[inline]
    pub fn check(&self) -> Result<(), Cancelled> {
        // Acquire pairs with the Release in `store_flags`.
        let flags = self.node.flags.load(Ordering::Acquire);
        if flags == 0 {
            return Ok(());
        }
        self.check_slow()
    }

    #[cold]
    fn check_slow(&self) -> Result<(), Cancelled> {
        let mut st = self.node.lock();
        loop {
            if let Some(reason) = st.reason {
                return Err(Cancelled(reason));
            }
            if st.pause_holds <= 0 {
                return Ok(());
            }
            st = self.node.wait(st);
        }
    }

    /// Waits up to `timeout` and returns early with `Err` if the token is cancelled meanwhile.
    /// This is the only way a worker should sleep. Pause does not end the wait early.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), Cancelled> {
        let end = Instant::now().checked_add(timeout);
        let mut st = self.node.lock();
        loop {
            if let Some(reason) = st.reason {
                return Err(Cancelled(reason));
            }
            let now = Instant::now();
            match end {
                Some(end) if now >= end => return Ok(()),
                Some(end) => st = self.node.wait_timeout(st, end - now),
                None => st = self.node.wait(st),
            }
        }
    }

    /// Blocks until the token is cancelled and returns the reason.
    pub fn wait_cancelled(&self) -> Reason {
        let mut st = self.node.lock();
        loop {
            if let Some(reason) = st.reason {
                return reason;
            }
            st = self.node.wait(st);
        }
    }

    /// Pauses this token and its children: their next [`check`](Self::check) blocks until
    /// [`resume`](Self::resume) or cancel. Pausing twice is the same as once.
    pub fn pause(&self) {
        self.set_paused(true);
    }

    /// Undoes [`pause`](Self::pause) on this token. A pause of a parent still holds.
    pub fn resume(&self) {
        self.set_paused(false);
    }

    fn set_paused(&self, paused: bool) {
        let mut st = self.node.lock();
        if st.self_paused == paused {
            return;
        }
        st.self_paused = paused;
        self.node.apply_holds(st, if paused { 1 } else { -1 });
    }

    /// Whether this token or one of its ancestors is paused. One atomic load.
    pub fn is_paused(&self) -> bool {
        // Relaxed: an advisory read for display; `check` does the synchronising load.
        self.node.flags.load(Ordering::Relaxed) & PAUSED != 0
    }

    /// A channel that never carries a message and disconnects when the token is cancelled,
    /// so a thread blocked in `crossbeam_channel::select!` can also wake on cancel.
    pub fn cancelled_channel(&self) -> Receiver<()> {
        let mut st = self.node.lock();
        if st.reason.is_some() {
            // Already cancelled: a receiver whose sender is gone, disconnected from the start.
            return crossbeam_channel::bounded(0).1;
        }
        let (_, rx) = st
            .cancel_channel
            .get_or_insert_with(|| crossbeam_channel::bounded(0));
        rx.clone()
    }

    /// Disarms the deadline, if any: its watcher ends at once and never cancels. A job that
    /// finished calls this, so a later deadline cannot mark it cancelled after the fact.
    pub fn clear_deadline(&self) {
        let cell = self.node.lock().deadline_cell.take();
        if let Some(cell) = cell {
            cell.poke();
        }
    }

    /// Cancels the token with [`Reason::Deadline`] once `limit` has passed, unless it was
    /// cancelled before. A small watcher thread waits for the moment; it ends early when the
    /// token is cancelled or dropped, and never keeps the token alive.
    pub fn set_deadline(&self, limit: Duration) -> std::io::Result<()> {
        // A limit past the end of the clock's range is no limit at all.
        let Some(at) = Instant::now().checked_add(limit) else {
            return Ok(());
        };
        let cell = Arc::new(DeadlineCell {
            poked: Mutex::new(false),
            cond: Condvar::new(),
        });
        {
            let mut st = self.node.lock();
            if st.reason.is_some() {
                return Ok(());
            }
            if let Some(old) = st.deadline_cell.replace(Arc::clone(&cell)) {
                old.poke();
            }
        }
        let weak = Arc::downgrade(&self.node);
        thread::Builder::new()
            .name("ripcord-deadline".into())
            .spawn(move || {
                let mut poked = cell.poked.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    if *poked {
                        return;
                    }
                    let now = Instant::now();
                    if now >= at {
                        break;
                    }
                    poked = match cell.cond.wait_timeout(poked, at - now) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    };
                }
                drop(poked);
                if let Some(node) = weak.upgrade() {
                    node.expire(&cell);
                }
            })?;
        Ok(())
    }
}

// These run on real threads; under the `loom` feature the primitives work only inside a
// loom model, so there the models in `loom_models.rs` stand in for them.
#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins() {
        let t = CancelToken::new();
        assert!(t.cancel(Reason::User));
        assert!(!t.cancel(Reason::Deadline));
        assert_eq!(t.reason(), Some(Reason::User));
        assert_eq!(t.check(), Err(Cancelled(Reason::User)));
    }

    #[test]
    fn child_cancel_does_not_reach_parent() {
        let parent = CancelToken::new();
        let child = parent.child();
        child.cancel(Reason::Skip);
        assert!(!parent.is_cancelled());
        assert!(child.is_cancelled());
        let late = parent.child();
        parent.cancel(Reason::User);
        assert!(late.is_cancelled());
        assert_eq!(late.reason(), Some(Reason::User));
        assert_eq!(child.reason(), Some(Reason::Skip));
        assert!(parent.child().is_cancelled());
    }

    #[test]
    fn grandchild_outlives_its_parent_handle() {
        let root = CancelToken::new();
        let grandchild = root.child().child();
        root.cancel(Reason::User);
        assert_eq!(grandchild.reason(), Some(Reason::User));
    }

    #[test]
    fn children_of_paused_parent_start_paused() {
        let parent = CancelToken::new();
        parent.pause();
        let child = parent.child();
        assert!(child.is_paused());
        child.pause();
        parent.resume();
        assert!(child.is_paused(), "the child's own pause still holds");
        child.resume();
        assert!(!child.is_paused());
    }

    /// A pause made before a cancel and lifted after it is lifted on the children too.
    #[test]
    fn resume_after_cancel_reaches_children() {
        let parent = CancelToken::new();
        let child = parent.child();
        parent.pause();
        parent.cancel(Reason::User);
        let late = parent.child();
        parent.resume();
        assert!(!child.is_paused());
        assert!(!late.is_paused());
        assert_eq!(child.node.lock().pause_holds, 0);
    }

    #[test]
    fn children_list_stays_short() {
        let parent = CancelToken::new();
        for _ in 0..10_000 {
            let _c = parent.child();
        }
        assert!(parent.node.lock().children.len() <= 1);
    }

    /// A writer asks for a channel per buffer: a terabyte is a million calls, and the node
    /// must not keep a million registrations until the cancel.
    #[test]
    fn cancelled_channel_registrations_stay_bounded() {
        let t = CancelToken::new();
        let child = t.child();
        let kept: Vec<_> = (0..1000).map(|_| child.cancelled_channel()).collect();
        for _ in 0..100_000 {
            drop(child.cancelled_channel());
        }
        let registered = child.node.lock().cancel_channel.iter().count();
        assert_eq!(
            registered, 1,
            "one registration per node, however many waiters"
        );
        t.cancel(Reason::User);
        assert!(
            kept.iter()
                .all(|rx| rx.try_recv().is_err_and(|e| e.is_disconnected()))
        );
    }

    #[test]
    fn a_cleared_deadline_never_cancels() {
        let t = CancelToken::new();
        assert!(t.set_deadline(Duration::from_millis(20)).is_ok());
        t.clear_deadline();
        assert!(t.wait_timeout(Duration::from_millis(200)).is_ok());
        assert!(!t.is_cancelled());
    }

    #[test]
    fn a_deadline_past_the_clock_is_no_deadline() {
        let t = CancelToken::new();
        assert!(t.set_deadline(Duration::MAX).is_ok());
        assert!(t.wait_timeout(Duration::from_millis(1)).is_ok());
        assert!(!t.is_cancelled());
    }

    #[test]
    fn cancelled_channel_disconnects() {
        let t = CancelToken::new();
        let rx = t.cancelled_channel();
        assert!(rx.try_recv().is_err_and(|e| e.is_empty()));
        t.cancel(Reason::User);
        assert!(rx.try_recv().is_err_and(|e| e.is_disconnected()));
        assert!(
            t.cancelled_channel()
                .try_recv()
                .is_err_and(|e| e.is_disconnected())
        );
    }
}
