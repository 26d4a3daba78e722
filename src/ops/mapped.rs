//! Read-only memory-mapped windows of a file, safe against the file shrinking under them.
//!
//! Hashing a mapped file skips the kernel's copy into a user buffer, which perf showed to be
//! most of BLAKE3's time (`b3sum` maps for the same reason). The danger of a mapping is that
//! a file truncated by someone else turns every read past its new end into SIGBUS, which
//! kills the process. Here each live window is registered in a fixed table; a SIGBUS handler
//! that finds the faulting address in a registered window maps zero pages over the rest of
//! that window, marks it, and returns, so the read goes on with zeros and the caller reports
//! the file as changed (or, if its size did not change, as an I/O error: a disk that failed a
//! read also raises SIGBUS). A SIGBUS anywhere else is handed back to the previous
//! disposition.
//!
//! Every consumer of a piece checks it after its last read of it ([`Piece::faulted`]), on
//! whatever thread read it, so zeros mapped in by the handler never reach an output.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// One registered window: its pages in the address space, and whether it was hit.
struct Slot {
    /// Claimed by a window (only the owner writes `bounds`).
    busy: AtomicBool,
    /// 0 when free; otherwise the window's first page number and its length in pages in one
    /// word ([`pack`]), so the handler reads both at once: with two loads, the slot could be
    /// freed and claimed by another window between them, and the handler would map zeros
    /// over memory that is not the faulting window's.
    bounds: AtomicU64,
    /// Set by the handler when a read in this window faulted.
    hit: AtomicBool,
}

/// Bits of a slot's `bounds` that hold the window's length in pages (up to 4 GiB of 4 KiB
/// pages); the page number of its start takes the rest.
const PAGES_BITS: u32 = 20;

/// `[start, start + len)` (page aligned) as one word, or `None` if it does not fit.
fn pack(start: usize, len: usize, page: usize) -> Option<u64> {
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

/// Bytes mapped at once: unmapping a window is part of a cancel, so it stays modest.
const WINDOW_BYTES: usize = 128 * 1024 * 1024;

/// At most this many windows are mapped at once; more fall back to reads.
const SLOTS: usize = 64;

static TABLE: [Slot; SLOTS] = [const {
    Slot {
        busy: AtomicBool::new(false),
        bounds: AtomicU64::new(0),
        hit: AtomicBool::new(false),
    }
}; SLOTS];

/// What the handler needs, fixed once it is installed.
struct Guard {
    page: usize,
    previous: libc::sigaction,
}

static GUARD: OnceLock<Option<Guard>> = OnceLock::new();

/// Installs the SIGBUS guard, once per process, from [`crate::init_engine`]: a process-wide
/// choice made at start-up, never as a side effect of a job. Until it is installed (or if
/// installing failed) nothing is mapped and inputs are read instead.
pub(crate) fn install_guard() {
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
fn guard() -> Option<&'static Guard> {
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
        let Some(word) = pack(ptr as usize, mapped, guard.page) else {
            // Too big to describe in one word: unmapped again, and read instead.
            // SAFETY: unmaps exactly what was just mapped; nothing refers to it yet.
            unsafe {
                libc::munmap(ptr, mapped);
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
        self.slot.bounds.store(0, Ordering::Release);
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
    /// Whether a read of this piece's window faulted (the file shrank, or the disk failed a
    /// read): its bytes may be zeros that are not the file's. Every consumer asks this after
    /// its last read of the piece.
    pub(crate) fn faulted(&self) -> bool {
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

/// The error for a faulted read of a mapped window of `path`: the file changed size (from
/// `size_at_open` to `size_now`), or, if it did not, the disk failed the read — an I/O
/// error, as a plain read would have reported it.
pub(crate) fn fault_error(
    path: &std::path::Path,
    size_at_open: u64,
    size_now: u64,
) -> crate::error::Error {
    if size_now == size_at_open {
        return crate::error::Error::io(path, "read", std::io::Error::from_raw_os_error(libc::EIO));
    }
    crate::error::Error::Changed {
        path: path.to_path_buf(),
        expected: size_at_open,
        got: size_now,
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

    /// The error for a window whose read faulted: the file changed size, or, if its size is
    /// what it was, the disk failed the read (an I/O error, as a plain read would report).
    pub(crate) fn fault(&self) -> crate::error::Error {
        let now = self.file.metadata().map_or(0, |m| m.len());
        fault_error(self.path, self.size, now)
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
                    return Err(self.fault());
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A read that faulted in a window whose file has its old size again — what a disk
    /// failing a read looks like — is an I/O error, seen by the piece's reader after its
    /// read on another thread, not "file changed, expected N bytes, got N".
    #[test]
    fn a_fault_with_the_size_unchanged_is_an_io_error_seen_after_the_read() {
        use std::io::Write;
        crate::init_engine();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let len = 4 * MAP_MIN_BYTES as usize;
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&vec![7u8; len])
            .unwrap();
        let mut file = File::open(&path).unwrap();
        let meta = file.metadata().unwrap();
        let mut pieces = Pieces::new(&path, &mut file, &meta, 256 * 1024);
        let mut taken = Vec::new();
        while let Some(p) = pieces.next_mapped().unwrap() {
            taken.push(p);
            if taken.len() == 4 {
                break;
            }
        }
        assert!(taken.iter().all(|p| matches!(p, Piece::Mapped(..))));
        // The file shrinks under the handed-out pieces, then gets its size back.
        let w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        w.set_len(0).unwrap();
        let last = taken.pop().unwrap();
        let reader = std::thread::spawn(move || {
            let sum: u64 = last.bytes().iter().map(|&b| u64::from(b)).sum();
            (sum, last.faulted())
        });
        let (sum, faulted) = reader.join().unwrap();
        w.set_len(len as u64).unwrap();
        assert_eq!(sum, 0, "the handler mapped zeros over the vanished pages");
        assert!(faulted, "the reader sees the fault after its read");
        let e = pieces.fault();
        assert!(
            matches!(&e, crate::error::Error::Io { source, .. } if source.raw_os_error() == Some(libc::EIO)),
            "{e}"
        );
    }

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
