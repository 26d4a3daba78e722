//! Read-only memory-mapped windows of a file, safe against the file shrinking under them.
//!
//! Hashing a mapped file skips the kernel's copy into a user buffer, which perf showed to be
//! most of BLAKE3's time (`b3sum` maps for the same reason). The danger of a mapping is that
//! a file truncated by someone else turns every read past its new end into SIGBUS, which
//! kills the process. Here each live window is registered in a fixed table; a SIGBUS handler
//! that finds the faulting address in a registered window maps zero pages over the rest of
//! that window, marks it, and returns, so the read goes on with zeros and the caller reports
//! the file as changed. A SIGBUS anywhere else is handed back to the previous disposition.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// One registered window: `[start, end)` in the address space, and whether it was hit.
struct Slot {
    /// Claimed by a window (only the owner writes `start`/`end`).
    busy: AtomicBool,
    /// 0 when free; otherwise the window's first address.
    start: AtomicUsize,
    /// One past the window's last mapped byte (page aligned).
    end: AtomicUsize,
    /// Set by the handler when a read in this window faulted.
    hit: AtomicBool,
}

/// Bytes mapped at once: unmapping a window is part of a cancel, so it stays modest.
const WINDOW_BYTES: usize = 128 * 1024 * 1024;

/// At most this many windows are mapped at once; more fall back to reads.
const SLOTS: usize = 64;

static TABLE: [Slot; SLOTS] = [const {
    Slot {
        busy: AtomicBool::new(false),
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        hit: AtomicBool::new(false),
    }
}; SLOTS];

/// What the handler needs, fixed once it is installed.
struct Guard {
    page: usize,
    previous: libc::sigaction,
}

static GUARD: OnceLock<Option<Guard>> = OnceLock::new();

/// Installs the SIGBUS handler once; `None` if that failed (then nothing is mapped).
fn guard() -> Option<&'static Guard> {
    GUARD
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
        .as_ref()
        .filter(|_| install())
}

/// Points SIGBUS at [`on_sigbus`] (once; the result is remembered).
fn install() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        // SAFETY: a zeroed sigaction with the fields below set is a valid action.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: installs a handler that only touches atomics and makes raw syscalls.
        unsafe { libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) == 0 }
    })
}

/// The SIGBUS handler: async-signal-safe (atomics, `mmap`, `sigaction`, `raise` only).
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // `GUARD` is initialised before the handler is installed, so this never blocks.
    let Some(Some(guard)) = GUARD.get() else {
        return;
    };
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let (addr, code) = unsafe { ((*info).si_addr() as usize, (*info).si_code) };
    for slot in &TABLE {
        // Acquire: pairs with the Release store of `start` in `Window::map`, so `end` is
        // the one written before it.
        let start = slot.start.load(Ordering::Acquire);
        let end = slot.end.load(Ordering::Relaxed);
        if start != 0 && (start..end).contains(&addr) {
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

/// A mapped, registered window of a file.
pub(crate) struct Window {
    ptr: *mut libc::c_void,
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
        let offset = libc::off_t::try_from(offset).ok()?;
        let mapped = len.checked_add(guard.page - 1)? & !(guard.page - 1);
        // Acquire/Release on the claim: only orders the slot's handover between owners.
        let slot = TABLE.iter().find(|s| {
            s.busy
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        // SAFETY: a fresh read-only shared mapping of a file we hold open; the kernel picks
        // the address.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            // Release: hands the slot back untouched.
            slot.busy.store(false, Ordering::Release);
            return None;
        }
        // Relaxed: the hit flag is only read by this owner.
        slot.hit.store(false, Ordering::Relaxed);
        // Relaxed, then Release on `start`: the handler acquires `start` before reading `end`.
        slot.end.store(ptr as usize + mapped, Ordering::Relaxed);
        slot.start.store(ptr as usize, Ordering::Release);
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
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
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
        self.slot.start.store(0, Ordering::Release);
        // SAFETY: unmaps exactly what `map` mapped; no borrow of `bytes()` outlives `self`.
        unsafe {
            libc::munmap(self.ptr, self.mapped);
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

/// A piece of input: a range of a shared mapped window, or bytes read into a buffer.
pub(crate) enum Piece {
    /// Part of a mapped window, shared with whoever else holds pieces of it.
    Mapped(std::sync::Arc<Window>, std::ops::Range<usize>),
    /// Bytes read from the file.
    Owned(Vec<u8>),
}

impl Piece {
    /// Whether a read of this piece's window met the end of a file that shrank.
    pub(crate) fn truncated(&self) -> bool {
        matches!(self, Piece::Mapped(w, _) if w.truncated())
    }

    /// The piece's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Piece::Mapped(w, r) => &w.bytes()[r.clone()],
            Piece::Owned(v) => v,
        }
    }
}

/// Files at least this big are read through memory-mapped windows (no copy out of the page
/// cache); smaller ones are read, which costs less than mapping and unmapping.
pub const MAP_MIN_BYTES: u64 = 1024 * 1024;

/// A file read as pieces of up to `chunk` bytes: through mapped windows of [`WINDOW_BYTES`]
/// when the file is regular and at least [`MAP_MIN_BYTES`], with reads otherwise (and after
/// the size it had at open, so growth is seen). A file that shrank under a window fails when
/// that window is left behind.
pub(crate) struct Pieces<'a> {
    path: &'a std::path::Path,
    file: &'a mut File,
    size: u64,
    pos: u64,
    chunk: usize,
    mapping: bool,
    window: Option<(std::sync::Arc<Window>, usize)>,
}

impl<'a> Pieces<'a> {
    /// Pieces of `file` (at `path`, described by `meta` taken at open), from its start.
    pub(crate) fn new(
        path: &'a std::path::Path,
        file: &'a mut File,
        meta: &std::fs::Metadata,
        chunk: usize,
    ) -> Self {
        let size = meta.len();
        Pieces {
            path,
            file,
            size,
            pos: 0,
            chunk,
            mapping: meta.is_file() && size >= MAP_MIN_BYTES,
            window: None,
        }
    }

    /// Whether the file is being read through mapped windows (so far).
    pub(crate) fn maps(&self) -> bool {
        self.mapping
    }

    /// Bytes handed out so far.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// The error for a file that shrank under a window.
    pub(crate) fn changed(&self) -> crate::error::Error {
        crate::error::Error::Changed {
            path: self.path.to_path_buf(),
            expected: self.size,
            got: self.file.metadata().map_or(0, |m| m.len()),
        }
    }

    /// Gives up the current window, unmapping it on the background dropper.
    fn release_window(&mut self) {
        if let Some((w, _)) = self.window.take() {
            crate::output::drop_later(Box::new(w));
        }
    }

    /// The next piece from a mapped window, or `None` once mapping is over (the end of the
    /// size at open, a window that cannot be mapped, or a file not mapped at all); the file
    /// is then positioned at [`Pieces::pos`] for reading the rest.
    pub(crate) fn next_mapped(&mut self) -> Result<Option<Piece>, crate::error::Error> {
        use crate::error::Error;
        use std::io::{Seek, SeekFrom};
        while self.mapping {
            if let Some((w, used)) = &mut self.window {
                let len = w.bytes().len();
                if *used < len {
                    let end = (*used + self.chunk).min(len);
                    let piece = Piece::Mapped(w.clone(), *used..end);
                    self.pos += (end - *used) as u64;
                    *used = end;
                    return Ok(Some(piece));
                }
                if w.truncated() {
                    return Err(self.changed());
                }
                self.release_window();
            }
            let left = self.size - self.pos;
            let window = (left > 0)
                .then(|| {
                    let len = usize::try_from(left).map_or(WINDOW_BYTES, |l| l.min(WINDOW_BYTES));
                    Window::map(self.file, self.pos, len)
                })
                .flatten();
            match window {
                Some(w) => self.window = Some((std::sync::Arc::new(w), 0)),
                None => {
                    self.mapping = false;
                    self.file
                        .seek(SeekFrom::Start(self.pos))
                        .map_err(|e| Error::io(self.path, "read", e))?;
                }
            }
        }
        Ok(None)
    }

    /// The next piece, mapped or read, or `None` at the end of the file.
    pub(crate) fn next_piece(&mut self) -> Result<Option<Piece>, crate::error::Error> {
        use std::io::Read;
        if let Some(piece) = self.next_mapped()? {
            return Ok(Some(piece));
        }
        let mut v = Vec::with_capacity(self.chunk);
        let n = (&mut *self.file)
            .take(self.chunk as u64)
            .read_to_end(&mut v)
            .map_err(|e| crate::error::Error::io(self.path, "read", e))?;
        self.pos += n as u64;
        Ok((n > 0).then_some(Piece::Owned(v)))
    }
}

impl Drop for Pieces<'_> {
    fn drop(&mut self) {
        self.release_window();
    }
}
