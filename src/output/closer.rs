//! The background closer: one thread, in the idle scheduling class, that drops what is slow
//! to free after a cancel (a discarded output's data, a compressor's buffers, a mapped
//! window), so that a worker reports its stop without waiting for the kernel. Keeps a count
//! of discarded outputs not yet freed, which a new output may wait on.

use std::fs::File;
use std::mem::ManuallyDrop;
use std::sync::{Mutex, OnceLock, PoisonError};

/// Frees a discarded output's data and closes it on the background thread (started once),
/// or here if it cannot be started.
pub(super) fn close_later(file: File) {
    *lock_discards() += 1;
    drop_later(Box::new(Discarded(file)));
}

/// Discarded outputs whose data the closer has not freed yet.
static DISCARDS: Mutex<usize> = Mutex::new(0);

/// Longest a new output waits for earlier discards to be freed; past it, it goes ahead (a
/// closer stuck in the kernel must not stop the job).
const DISCARD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn lock_discards() -> std::sync::MutexGuard<'static, usize> {
    DISCARDS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits until every discarded output's space is released, so that on a full disk the file
/// after a failed one finds the space it left. The closer runs in the idle class, so while
/// workers keep both cores busy it may not run at all: waiting here hands it a core. A
/// worker calls this before creating an output; the wait is on its token, in steps of
/// `DISCARD_POLL` (1 ms), so a cancel ends it at once.
pub fn wait_for_discards(
    token: &crate::cancel::CancelToken,
) -> Result<(), crate::cancel::Cancelled> {
    let end = std::time::Instant::now() + DISCARD_WAIT;
    while *lock_discards() > 0 && std::time::Instant::now() < end {
        token.wait_timeout(DISCARD_POLL)?;
    }
    Ok(())
}

/// How often [`wait_for_discards`] looks again (the closer's progress has no wake of its own
/// that a token's wait could also watch).
const DISCARD_POLL: std::time::Duration = std::time::Duration::from_millis(1);

/// A discarded output, unnamed already. Its data is freed by truncating it rather than by
/// the last close: helpers (a writer, a copy step) may hold duplicates of the descriptor,
/// and whichever thread closed last would spend milliseconds in the kernel freeing it on a
/// core a worker is waiting for (perf sched: a pool thread, 3.7 ms, right after a cancel).
struct Discarded(File);

impl Drop for Discarded {
    fn drop(&mut self) {
        // Nothing to report: the file has no name and no one will read it.
        let _ = self.0.set_len(0);
        let mut pending = lock_discards();
        *pending = pending.saturating_sub(1);
    }
}

/// Owns a `T` that is dropped on the background dropper (see [`drop_later`]) rather than
/// where the owner goes out of scope: for buffers and contexts big enough that freeing them
/// unmaps memory.
pub struct FreeLater<T: Send + 'static>(ManuallyDrop<T>);

impl<T: Send + 'static> FreeLater<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        FreeLater(ManuallyDrop::new(value))
    }
}

impl<T: Send + 'static> std::ops::Deref for FreeLater<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + 'static> std::ops::DerefMut for FreeLater<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Send + 'static> Drop for FreeLater<T> {
    fn drop(&mut self) {
        // SAFETY: the value is taken exactly once, here, and not touched again.
        let value = unsafe { ManuallyDrop::take(&mut self.0) };
        drop_later(Box::new(value));
    }
}

/// Starts the background closer (see [`drop_later`]) now, from [`crate::init_engine`], so
/// that its first use never pays for starting it.
pub(crate) fn start_closer() {
    drop_later(Box::new(()));
}

/// Drops `thing` on a background thread (started once: by `start_closer` at start-up, or
/// here on first use where nobody did), or here if it cannot be started.
/// For what is slow to free after a cancel: a discarded output (the kernel frees its data on
/// the last close), a compressor's buffers, a mapped window (unmapping waits for the
/// process's memory-map lock); the worker reports its stop without waiting for any of it.
pub fn drop_later(thing: Box<dyn Send>) {
    static DROPPER: OnceLock<Option<crossbeam_channel::Sender<Box<dyn Send>>>> = OnceLock::new();
    let tx = DROPPER.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::unbounded::<Box<dyn Send>>();
        std::thread::Builder::new()
            .name("ripcord-closer".into())
            .spawn(move || {
                crate::sys::lowest_priority();
                rx.iter().for_each(drop);
            })
            .ok()
            .map(|_| tx)
    });
    if let Some(tx) = tx {
        // On failure the thing comes back inside the error and is dropped right here.
        let _ = tx.send(thing);
    }
}
