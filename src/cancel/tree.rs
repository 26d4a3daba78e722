//! The token's tree: each token is a node with its state behind a lock, linked to its parent
//! (strongly) and its children (weakly); a cancel or a pause propagates from a node down to
//! every descendant, parent's lock first, then the child's.

use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::sync::{Arc, AtomicU8, Condvar, Mutex, MutexGuard, Weak};
use super::{CANCELLED, DeadlineCell, PAUSED, Reason};

pub(super) struct State {
    pub(super) reason: Option<Reason>,
    pub(super) cancelled_at: Option<Instant>,
    /// Whether `pause` was called on this very node (not inherited).
    pub(super) self_paused: bool,
    /// Number of paused nodes on the path from the root to this node, this one included.
    /// Signed so that a resume overtaking its pause on the way down still sums correctly.
    pub(super) pause_holds: i32,
    pub(super) children: Vec<Weak<Node>>,
    /// One channel per node, made on the first `cancelled_channel` call: every waiter gets a
    /// clone of the receiver, so registrations never pile up however often a writer asks.
    /// Dropping the sender on cancel disconnects every receiver at once.
    pub(super) cancel_channel: Option<(Sender<()>, Receiver<()>)>,
    pub(super) deadline_cell: Option<Arc<DeadlineCell>>,
}

pub(super) struct Node {
    /// `CANCELLED | PAUSED` bits mirrored from `state` so that `check` needs no lock.
    pub(super) flags: AtomicU8,
    /// Keeps the parent alive while this node lives: a parent reaches its children through
    /// weak links only, so an intermediate token dropped by its owner must not cut a
    /// grandchild off from the root's cancel.
    pub(super) _parent: Option<Arc<Node>>,
    pub(super) state: Mutex<State>,
    pub(super) wake: Condvar,
}

impl Node {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave `State` half-updated in a way that
        // matters (each field is written in one statement), so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.wake
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn wait_timeout<'a>(
        &self,
        guard: MutexGuard<'a, State>,
        d: Duration,
    ) -> MutexGuard<'a, State> {
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
    pub(super) fn cancel(&self, reason: Reason, at: Instant) -> bool {
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
    pub(super) fn expire(&self, cell: &Arc<DeadlineCell>) -> bool {
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
    pub(super) fn apply_holds(&self, mut st: MutexGuard<'_, State>, delta: i32) {
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
