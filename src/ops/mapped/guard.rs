//! The SIGBUS guard: a fixed table of registered windows and a handler that, for a fault in
//! one of them, maps zero pages over the rest of it and marks it, instead of letting the
//! process die. Installed once per process, from [`crate::init_engine`].

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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

/// What the handler needs, fixed once it is installed.
pub(super) struct Guard {
    pub(super) page: usize,
    previous: libc::sigaction,
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
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let page = usize::try_from(page).ok().filter(|p| p.is_power_of_two())?;
            // SAFETY: a zeroed sigaction is a valid "no handler" value to be filled in.
            let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: reads the current disposition into `previous`; no handler is changed.
            if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) } != 0 {
                return None;
            }
            Some(Guard { page, previous })
        })
        .is_some();
    if ready {
        INSTALLED.get_or_init(install);
    }
}

/// Whether the handler was installed (set once, by [`install_guard`]).
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// The guard, if [`install_guard`] installed it.
pub(super) fn guard() -> Option<&'static Guard> {
    GUARD
        .get()?
        .as_ref()
        .filter(|_| INSTALLED.get() == Some(&true))
}

/// Points SIGBUS at [`on_sigbus`].
fn install() -> bool {
    // SAFETY: a zeroed sigaction with the fields below set is a valid action.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_sigbus as *const () as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: installs a handler that only touches atomics and makes raw syscalls.
    unsafe { libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) == 0 }
}

/// The SIGBUS handler: async-signal-safe (atomics, `mmap`, `sigaction`, `raise` only).
/// A fault in a registered window is ours; any other SIGBUS is chained to the handler that
/// was installed before ours, or, if there was none, gets the default action.
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // `GUARD` is initialised before the handler is installed, so this never blocks.
    let Some(Some(guard)) = GUARD.get() else {
        return;
    };
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    // Only a fault the kernel raised (si_code > 0: BUS_ADRERR, BUS_OBJERR…) carries a
    // faulting address; a SIGBUS sent with kill() or sigqueue() has si_code <= 0, and its
    // si_addr is not an address at all.
    let addr = if code > 0 {
        // SAFETY: as above; si_addr is meaningful for a kernel-raised SIGBUS.
        Some(unsafe { (*info).si_addr() as usize })
    } else {
        None
    };
    for slot in TABLE.iter() {
        let Some(addr) = addr else { break };
        // Acquire: pairs with the Release store in `Window::map`; one load gives both ends.
        let word = slot.bounds.load(Ordering::Acquire);
        let (start, end) = unpack(word, guard.page);
        if word != 0 && (start..end).contains(&addr) {
            let page = addr & !(guard.page - 1);
            // SAFETY: replaces pages of our own registered window, which stays mapped until
            // its owner unregisters it; nothing else lives at these addresses.
            let replaced = unsafe {
                libc::mmap(
                    page as *mut libc::c_void,
                    end - page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if replaced != libc::MAP_FAILED {
                // Relaxed: read by the same thread after its read returns, or by the owner
                // after joining the reading threads, which orders it.
                slot.hit.store(true, Ordering::Relaxed);
                return;
            }
        }
    }
    // Not ours: hand it to whoever had SIGBUS before us.
    let previous = guard.previous.sa_sigaction;
    if previous != libc::SIG_DFL && previous != libc::SIG_IGN {
        // SAFETY: a non-default disposition is a handler of the kind its flags say.
        unsafe {
            if guard.previous.sa_flags & libc::SA_SIGINFO != 0 {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(previous);
                f(sig, info, ctx);
            } else {
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(previous);
                f(sig);
            }
        }
        if code <= 0 {
            // A handler written for faults (Rust's own stack-overflow handler is the usual
            // previous one) resets SIGBUS to the default and returns, counting on the faulting
            // instruction to raise it again. A sent signal has no instruction to re-run, so it
            // would be lost: raise it again, to the default action it set.
            // SAFETY: reads the current disposition into a zeroed sigaction, and re-sends the
            // signal to this thread only when that is the default.
            unsafe {
                let mut now: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut now) == 0
                    && now.sa_sigaction == libc::SIG_DFL
                {
                    libc::raise(sig);
                }
            }
        }
        return;
    }
    // The default: restore it, so a fault re-runs the instruction and kills the process as
    // it would have without us, and a sent signal is sent again.
    // SAFETY: restores the disposition saved before ours was installed.
    unsafe {
        libc::sigaction(sig, &guard.previous, std::ptr::null_mut());
        if code <= 0 {
            libc::raise(sig);
        }
    }
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
