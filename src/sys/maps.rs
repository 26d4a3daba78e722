//! Read-only file maps and the SIGBUS hook that guards them: the system calls behind
//! [`crate::ops::mapped`], which keeps the table of live windows and decides what a fault
//! in one of them means. Unix only; elsewhere nothing maps, and inputs are read.

use std::fs::File;
use std::ptr::NonNull;

/// The memory page size; `None` where it is unknown or not a power of two.
pub fn page_size() -> Option<usize> {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(page).ok().filter(|p| p.is_power_of_two())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Maps `len` bytes of `file` from `offset` (a multiple of the page size), read-only and
/// shared, at an address the kernel picks; `None` when the file cannot be mapped.
pub fn map_read(file: &File, offset: u64, len: usize) -> Option<NonNull<u8>> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let offset = libc::off_t::try_from(offset).ok()?;
        // SAFETY: a fresh read-only shared mapping of a file the caller holds open; the
        // kernel picks the address, so no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(ptr.cast::<u8>())
    }
    #[cfg(not(unix))]
    {
        let _ = (file, offset, len);
        None
    }
}

/// Unmaps `len` bytes at `ptr`.
///
/// # Safety
/// `ptr` and `len` are exactly a mapping [`map_read`] returned, and nothing refers to its
/// memory any more.
pub unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    #[cfg(unix)]
    {
        // SAFETY: the caller's promise: this is a whole mapping of ours, no longer read.
        unsafe {
            libc::munmap(ptr.as_ptr().cast(), len);
        }
    }
    #[cfg(not(unix))]
    let _ = (ptr, len);
}

/// Maps zero pages, read-only, over `[addr, addr + len)`, replacing what was mapped there.
/// Async-signal-safe (one system call), for use from the SIGBUS hook. Returns whether it
/// did.
///
/// # Safety
/// The range is page aligned and lies inside a mapping the caller owns and keeps mapped
/// until it unmaps it itself; nothing else lives at these addresses.
pub unsafe fn map_zeros_over(addr: usize, len: usize) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: the caller's promise: the pages are its own mapping's.
        let replaced = unsafe {
            libc::mmap(
                addr as *mut libc::c_void,
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        replaced != libc::MAP_FAILED
    }
    #[cfg(not(unix))]
    {
        let _ = (addr, len);
        false
    }
}

/// Sends SIGBUS, for each fault the kernel raises, first to `on_fault` with the faulting
/// address: when it returns `true` the fault was its own and is handled (it made the
/// address readable). Any other SIGBUS goes to the handler installed before, or gets the
/// default action. Once per process; returns whether the hook is in place. `on_fault` runs
/// inside a signal handler: atomics and [`map_zeros_over`] only.
pub fn hook_sigbus(on_fault: fn(usize) -> bool) -> bool {
    #[cfg(unix)]
    {
        unix::hook(on_fault)
    }
    #[cfg(not(unix))]
    {
        let _ = on_fault;
        false
    }
}

#[cfg(unix)]
mod unix {
    use std::sync::OnceLock;

    /// What the handler needs, fixed before it is installed.
    struct Hook {
        on_fault: fn(usize) -> bool,
        previous: libc::sigaction,
    }

    static HOOK: OnceLock<Option<Hook>> = OnceLock::new();

    /// Whether the handler was installed.
    static INSTALLED: OnceLock<bool> = OnceLock::new();

    pub(super) fn hook(on_fault: fn(usize) -> bool) -> bool {
        let ready = HOOK
            .get_or_init(|| {
                // SAFETY: a zeroed sigaction is a valid "no handler" value to be filled in.
                let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
                // SAFETY: reads the current disposition into `previous`; nothing changes.
                if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) } != 0 {
                    return None;
                }
                Some(Hook { on_fault, previous })
            })
            .is_some();
        ready && *INSTALLED.get_or_init(install)
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
    /// A fault the hook's `on_fault` takes is handled; any other SIGBUS is chained to the
    /// handler that was installed before ours, or, if there was none, gets the default
    /// action.
    extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // `HOOK` is set before the handler is installed, so this never blocks.
        let Some(Some(hook)) = HOOK.get() else {
            return;
        };
        // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
        let code = unsafe { (*info).si_code };
        // Only a fault the kernel raised (si_code > 0: BUS_ADRERR, BUS_OBJERR…) carries a
        // faulting address; a SIGBUS sent with kill() or sigqueue() has si_code <= 0, and
        // its si_addr is not an address at all.
        if code > 0 {
            // SAFETY: as above; si_addr is meaningful for a kernel-raised SIGBUS.
            let addr = unsafe { (*info).si_addr() as usize };
            if (hook.on_fault)(addr) {
                return;
            }
        }
        // Not ours: hand it to whoever had SIGBUS before us.
        let previous = hook.previous.sa_sigaction;
        if previous != libc::SIG_DFL && previous != libc::SIG_IGN {
            // SAFETY: a non-default disposition is a handler of the kind its flags say.
            unsafe {
                if hook.previous.sa_flags & libc::SA_SIGINFO != 0 {
                    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                        std::mem::transmute(previous);
                    f(sig, info, ctx);
                } else {
                    let f: extern "C" fn(libc::c_int) = std::mem::transmute(previous);
                    f(sig);
                }
            }
            if code <= 0 {
                // A handler written for faults (Rust's own stack-overflow handler is the
                // usual previous one) resets SIGBUS to the default and returns, counting on
                // the faulting instruction to raise it again. A sent signal has no
                // instruction to re-run, so it would be lost: raise it again, to the
                // default action it set.
                // SAFETY: reads the current disposition into a zeroed sigaction, and
                // re-sends the signal to this thread only when that is the default.
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
        // The default: restore it, so a fault re-runs the instruction and kills the process
        // as it would have without us, and a sent signal is sent again.
        // SAFETY: restores the disposition saved before ours was installed.
        unsafe {
            libc::sigaction(sig, &hook.previous, std::ptr::null_mut());
            if code <= 0 {
                libc::raise(sig);
            }
        }
    }
}
