//! The SIGBUS guard: a fixed table of registered windows and, hooked into the SIGBUS
//! handler (`sys::maps`), a check that, for a fault in one of them, maps zero pages over
//! the rest of it and marks it, instead of letting the process die. Installed once per
//! process, from [`crate::init_engine`].

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::sys::maps;

/// One registered window: its pages in the address space, and whether it was hit.
pub(super) struct Slot {
    /// Claimed by a window (only the owner writes `bounds`).
    pub(super) busy: AtomicBool,
    /// 0 when free; otherwise the window's first page number and its length in pages in one
    /// word ([`pack`]), so the handler reads both at once: with two loads, the slot could be
    /// freed and claimed by another window between them, and the handler would map zeros
    /// over memory that is not the faulting window's.
    pub(super) bounds: AtomicU64,
    /// Set by the handler when a read in this window faulted.
    pub(super) hit: AtomicBool,
}

/// Bits of a slot's `bounds` that hold the window's length in pages (up to 4 GiB of 4 KiB
/// pages); the page number of its start takes the rest.
const PAGES_BITS: u32 = 20;

/// `[start, start + len)` (page aligned) as one word, or `None` if it does not fit.
pub(super) fn pack(start: usize, len: usize, page: usize) -> Option<u64> {
    let first = u64::try_from(start / page).ok()?;
    let pages = u64::try_from(len / page).ok()?;
    if pages == 0 || pages >= 1 << PAGES_BITS || first >= 1 << (64 - PAGES_BITS) {
        return None;
    }
    Some(first << PAGES_BITS | pages)
}

/// The `[start, end)` addresses of a packed word.
fn unpack(word: u64, page: usize) -> (usize, usize) {
    let first = (word >> PAGES_BITS) as usize;
    let pages = (word & ((1 << PAGES_BITS) - 1)) as usize;
    (first * page, (first + pages) * page)
}

/// At most this many windows are mapped at once; more fall back to reads.
const SLOTS: usize = 64;

pub(super) static TABLE: [Slot; SLOTS] = [const {
    Slot {
        busy: AtomicBool::new(false),
        bounds: AtomicU64::new(0),
        hit: AtomicBool::new(false),
    }
}; SLOTS];

/// What the guard needs, fixed once it is installed.
pub(super) struct Guard {
    pub(super) page: usize,
}

static GUARD: OnceLock<Option<Guard>> = OnceLock::new();

/// Installs the SIGBUS guard, once per process, from [`crate::init_engine`]: a process-wide
/// choice made at start-up, never as a side effect of a job. Until it is installed (or if
/// installing failed) nothing is mapped and inputs are read instead.
pub(crate) fn install_guard() {
    // The portable build reads every input instead.
    if !crate::sys::MAPS_INPUTS {
        return;
    }
    let ready = GUARD
        .get_or_init(|| {
            Some(Guard {
                page: maps::page_size()?,
            })
        })
        .is_some();
    if ready {
        INSTALLED.get_or_init(|| maps::hook_sigbus(on_fault));
    }
}

/// Whether the hook was installed (set once, by [`install_guard`]).
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// The guard, if [`install_guard`] installed it.
pub(super) fn guard() -> Option<&'static Guard> {
    GUARD
        .get()?
        .as_ref()
        .filter(|_| INSTALLED.get() == Some(&true))
}

/// Runs inside the SIGBUS handler (atomics and one `mmap` only): a fault at `addr` inside a
/// registered window is ours. Zero pages are mapped over the rest of that window and the
/// window is marked, so the read goes on and its owner reports the file as changed.
fn on_fault(addr: usize) -> bool {
    // `GUARD` is initialised before the hook is installed, so this never blocks.
    let Some(Some(guard)) = GUARD.get() else {
        return false;
    };
    for slot in TABLE.iter() {
        // Acquire: pairs with the Release store in `Window::map`; one load gives both ends.
        let word = slot.bounds.load(Ordering::Acquire);
        let (start, end) = unpack(word, guard.page);
        if word != 0 && (start..end).contains(&addr) {
            let page = addr & !(guard.page - 1);
            // SAFETY: pages of our own registered window, which stays mapped until its
            // owner unregisters it; nothing else lives at these addresses.
            if unsafe { maps::map_zeros_over(page, end - page) } {
                // Relaxed: read by the same thread after its read returns, or by the owner
                // after joining the reading threads, which orders it.
                slot.hit.store(true, Ordering::Relaxed);
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::mapped::pieces::WINDOW_BYTES;

    #[test]
    fn bounds_fit_one_word_and_come_back_whole() {
        let page = 4096;
        for (start, len) in [
            (page, page),
            (0x7fff_f000_0000, WINDOW_BYTES),
            (0x5555_5555_4000, 3 * page),
        ] {
            let word = pack(start, len, page).unwrap();
            assert_ne!(word, 0);
            assert_eq!(unpack(word, page), (start, start + len));
        }
        // Too long for the page count: refused, and the file is read instead.
        assert_eq!(pack(page, page << PAGES_BITS, page), None);
    }
}
