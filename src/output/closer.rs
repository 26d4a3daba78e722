//! The background closer: a thread, freeing in the idle scheduling class, that drops what is slow
//! to free after a cancel (a discarded output's data, a compressor's buffers, a mapped
//! window), so that a worker reports its stop without waiting for the kernel. Keeps a count
//! of discarded outputs not yet freed, which a new output may wait on.

use std::fs::File;
use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crossbeam_channel::{Receiver, Sender};

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

/// Starts the background closer's dispatcher (see [`drop_later`]) now, from
/// [`crate::init_engine`], so that its first use never pays for starting it.
pub(crate) fn start_closer() {
    dispatcher();
}

/// Drops `thing` on a background thread, or here if none can be started.
/// For what is slow to free after a cancel: a discarded output (the kernel frees its data on
/// the last close), a compressor's buffers, a mapped window (unmapping waits for the
/// process's memory-map lock); the worker reports its stop without waiting for any of it.
pub fn drop_later(thing: Box<dyn Send>) {
    if let Some(tx) = dispatcher() {
        // On failure the thing comes back inside the error and is dropped right here.
        let _ = tx.send(thing);
    }
}

/// The dispatcher's queue, starting it on first use; `None` where it cannot be started.
fn dispatcher() -> Option<&'static Sender<Box<dyn Send>>> {
    static DISPATCHER: OnceLock<Option<Sender<Box<dyn Send>>>> = OnceLock::new();
    DISPATCHER
        .get_or_init(|| {
            let (tx, rx) = crossbeam_channel::unbounded::<Box<dyn Send>>();
            std::thread::Builder::new()
                .name("ripcord-closer".into())
                .spawn(move || dispatch(rx))
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// The dispatcher: an ordinary thread, always there, that hands each thing to a drainer in
/// the idle class, started when there is something to free and gone when there is not.
/// A thread of the idle class must not live on: a process's exit waits for every one of
/// its threads to run once more, and on a busy machine an idle-class thread gets a core
/// seconds later (a daemon-mode Ctrl+Q took 2–7 s to end the process with the cores busy).
/// So a drainer ends as soon as it finds nothing more to free; it does not wait for more, as
/// a thread of the idle class, woken on a busy machine, would not get a core to end.
/// Starting the drainer here keeps the thread start, which takes the memory-map lock for its
/// stack, off the worker that reports a stop.
fn dispatch(rx: Receiver<Box<dyn Send>>) {
    let (to_drainer, queue) = crossbeam_channel::unbounded::<Box<dyn Send>>();
    let alive = Arc::new(Mutex::new(false));
    for thing in rx {
        // Cannot fail: `queue` is held here, so the channel has a receiver.
        let _ = to_drainer.send(thing);
        let mut running = alive.lock().unwrap_or_else(PoisonError::into_inner);
        if *running {
            continue;
        }
        let (q, a) = (queue.clone(), Arc::clone(&alive));
        let started = std::thread::Builder::new()
            .name("ripcord-drainer".into())
            .spawn(move || drain(&q, &a));
        match started {
            Ok(_) => *running = true,
            // No thread to spare: free it here, at this thread's ordinary priority.
            Err(_) => queue.try_iter().for_each(drop),
        }
    }
}

/// Frees what is queued, in the idle class, and ends when nothing is.
fn drain(queue: &Receiver<Box<dyn Send>>, alive: &Mutex<bool>) {
    crate::sys::lowest_priority();
    loop {
        queue.try_iter().for_each(drop);
        let mut running = alive.lock().unwrap_or_else(PoisonError::into_inner);
        // The dispatcher queues before it looks at `alive` under this lock: a thing queued
        // after the look above is seen here, or its dispatcher saw `false` and starts a new
        // drainer.
        if queue.is_empty() {
            *running = false;
            return;
        }
    }
}

#[cfg(all(test, target_os = "linux", not(feature = "portable-io")))]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Threads of this process now in the idle scheduling class (policy, field 41 of a
    /// task's `stat`, is 5).
    fn idle_class_threads() -> usize {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return 0;
        };
        tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
            .filter(|stat| {
                // Fields after the command name, which is in parentheses, start at field 3.
                let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
                rest.split_whitespace().nth(41 - 3) == Some("5")
            })
            .count()
    }

    /// A process's exit waits for each of its threads to run, so none may stay in the idle
    /// class once there is nothing to free (before, the closer did, for the whole run).
    #[test]
    fn no_thread_stays_in_the_idle_class_after_its_work() {
        start_closer();
        for _ in 0..100 {
            drop_later(Box::new(vec![1u8; 1 << 16]));
        }
        let give_up = Instant::now() + Duration::from_secs(10);
        let mut saw_drainer = false;
        while !saw_drainer && Instant::now() < give_up {
            drop_later(Box::new(vec![1u8; 1 << 16]));
            saw_drainer = idle_class_threads() > 0;
        }
        assert!(saw_drainer, "the freeing never ran in the idle class");
        // Other tests in this process use the closer too: wait for a quiet moment.
        let end = Instant::now() + Duration::from_secs(30);
        while idle_class_threads() > 0 {
            assert!(
                Instant::now() < end,
                "a thread stayed in the idle class with nothing to free"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Everything handed over is freed, however the drainers come and go.
    #[test]
    fn every_thing_handed_over_is_dropped() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static DROPPED: AtomicUsize = AtomicUsize::new(0);
        struct Counted;
        impl Drop for Counted {
            fn drop(&mut self) {
                // Relaxed: a count read after the loop below has seen it complete.
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
        let n = 2_000;
        for i in 0..n {
            drop_later(Box::new(Counted));
            if i % 97 == 0 {
                // Time for a drainer to end, so new ones start too.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let end = Instant::now() + Duration::from_secs(30);
        // Relaxed: see above.
        while DROPPED.load(Ordering::Relaxed) < n {
            assert!(
                Instant::now() < end,
                "things handed over were never dropped"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
