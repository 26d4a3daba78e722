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
//!
//! Files: the token here; its tree of nodes (parent and child links, propagation) in `tree`;
//! the bridge to crossbeam channels ([`CancelToken::cancelled_channel`]) in `channel`; the
//! job's throttle in [`throttle`]; the sync primitives (std's, or loom's) in `sync`.

mod channel;
mod sync;
pub mod throttle;
mod tree;

#[cfg(all(test, feature = "loom"))]
mod loom_models;

use std::fmt;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use self::sync::{Arc, AtomicU8, Condvar, Mutex, thread};
use self::tree::{Node, State};

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
}
