//! One read-only mapped window of a file, registered with the guard for as long as it is
//! mapped, and the error a faulted read of one turns into.

use std::fs::File;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use super::guard::{Slot, TABLE, guard, pack};
use crate::sys::maps;

/// A mapped, registered window of a file.
pub(crate) struct Window {
    ptr: NonNull<u8>,
    mapped: usize,
    len: usize,
    slot: &'static Slot,
}

impl Window {
    /// Maps `len` bytes of `file` from `offset` (a multiple of the page size). `None` when
    /// the file cannot be mapped (not a regular file on a mapping file system, no free
    /// slot, no handler): the caller reads instead.
    pub(crate) fn map(file: &File, offset: u64, len: usize) -> Option<Window> {
        let guard = guard()?;
        if len == 0 || !offset.is_multiple_of(guard.page as u64) {
            return None;
        }
        let mapped = len.checked_add(guard.page - 1)? & !(guard.page - 1);
        // Acquire/Release on the claim: only orders the slot's handover between owners.
        let slot = TABLE.iter().find(|s| {
            s.busy
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        let Some(ptr) = maps::map_read(file, offset, mapped) else {
            // Release: hands the slot back untouched.
            slot.busy.store(false, Ordering::Release);
            return None;
        };
        let Some(word) = pack(ptr.as_ptr() as usize, mapped, guard.page) else {
            // Too big to describe in one word: unmapped again, and read instead.
            // SAFETY: unmaps exactly what was just mapped; nothing refers to it yet.
            unsafe {
                maps::unmap(ptr, mapped);
            }
            // Release: hands the slot back untouched.
            slot.busy.store(false, Ordering::Release);
            return None;
        };
        // Relaxed: the hit flag is read by the readers after their reads, ordered by the
        // Release store of `bounds` below before any read can fault.
        slot.hit.store(false, Ordering::Relaxed);
        // Release: the handler's Acquire load of `bounds` sees a cleared `hit` with it.
        slot.bounds.store(word, Ordering::Release);
        Some(Window {
            ptr,
            mapped,
            len,
            slot,
        })
    }

    /// The window's bytes. Where the file shrank under them they read as zeros, and
    /// [`Window::truncated`] says so.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps at least `len` readable bytes for as long as `self` lives; the
        // guard keeps every page readable even if the file shrinks.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// Whether reading the window hit the end of a file that shrank.
    pub(crate) fn truncated(&self) -> bool {
        // Relaxed: see the store in the handler.
        self.slot.hit.load(Ordering::Relaxed)
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // Unregister before unmapping, so the handler never claims an address that a new,
        // unrelated mapping may reuse. Release: orders the unregistering before the reuse.
        self.slot.bounds.store(0, Ordering::Release);
        // SAFETY: unmaps exactly what `map` mapped; no borrow of `bytes()` outlives `self`.
        unsafe {
            maps::unmap(self.ptr, self.mapped);
        }
        self.slot.busy.store(false, Ordering::Release);
    }
}

// SAFETY: the window is plain read-only memory plus atomics; moving it to another thread is
// as safe as moving a `Box<[u8]>`.
unsafe impl Send for Window {}

// SAFETY: the window is read-only memory; reading it from several threads at once is as
// safe as sharing a `&[u8]`.
unsafe impl Sync for Window {}

/// The error for a faulted read of a mapped window of `path`: the file changed size (from
/// `size_at_open` to `size_now`), or, if it did not, the disk failed the read — an I/O
/// error, as a plain read would have reported it.
pub(crate) fn fault_error(
    path: &std::path::Path,
    size_at_open: u64,
    size_now: u64,
) -> crate::error::Error {
    if size_now == size_at_open {
        return crate::error::Error::io(
            path,
            "read",
            std::io::Error::from_raw_os_error(crate::sys::EIO),
        );
    }
    crate::error::Error::Changed {
        path: path.to_path_buf(),
        expected: size_at_open,
        got: size_now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::mapped::MAP_MIN_BYTES;
    use std::sync::atomic::AtomicBool;

    /// Item 7 of the trust issue, as a stress test: while one thread keeps faulting in a
    /// window of a file that shrank, others keep claiming, filling and freeing slots with
    /// windows of a file that did not. A handler that read a slot's bounds in two loads could
    /// take a just-reused slot for the faulting window and map zeros over a healthy one; here
    /// every healthy window must read its bytes whole every time, and every fault must be
    /// claimed (a fault left unclaimed would kill the test process with SIGBUS).
    #[test]
    fn faults_racing_slot_reuse_never_touch_other_windows() {
        use std::io::Write;
        crate::init_engine();
        let dir = tempfile::tempdir().unwrap();
        let healthy = dir.path().join("healthy");
        let len = 2 * MAP_MIN_BYTES as usize;
        std::fs::File::create(&healthy)
            .unwrap()
            .write_all(&vec![1u8; len])
            .unwrap();
        let shrinking = dir.path().join("shrinking");
        std::fs::File::create(&shrinking)
            .unwrap()
            .write_all(&vec![9u8; len])
            .unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let churners: Vec<_> = (0..3)
            .map(|_| {
                let (path, stop) = (healthy.clone(), std::sync::Arc::clone(&stop));
                std::thread::spawn(move || {
                    let file = File::open(&path).unwrap();
                    let mut rounds = 0u64;
                    // Relaxed: a stop flag; the join below orders everything else.
                    while !stop.load(Ordering::Relaxed) {
                        let Some(w) = Window::map(&file, 0, len) else {
                            continue;
                        };
                        let sum: u64 = w.bytes().iter().map(|&b| u64::from(b)).sum();
                        assert_eq!(sum, len as u64, "a healthy window read zeros");
                        assert!(!w.truncated(), "a healthy window was marked hit");
                        rounds += 1;
                    }
                    rounds
                })
            })
            .collect();
        let file = File::open(&shrinking).unwrap();
        let resize = std::fs::OpenOptions::new()
            .write(true)
            .open(&shrinking)
            .unwrap();
        let mut faults = 0;
        for _ in 0..200 {
            let Some(w) = Window::map(&file, 0, len) else {
                continue;
            };
            resize.set_len(0).unwrap();
            let sum: u64 = w.bytes().iter().map(|&b| u64::from(b)).sum();
            assert_eq!(sum, 0, "the faulting window reads zeros");
            assert!(w.truncated());
            faults += 1;
            drop(w);
            resize.set_len(len as u64).unwrap();
        }
        // Relaxed: see above.
        stop.store(true, Ordering::Relaxed);
        let rounds: u64 = churners.into_iter().map(|h| h.join().unwrap()).sum();
        assert!(faults > 100, "only {faults} faults");
        assert!(rounds > 0, "the healthy windows never ran");
    }
}
