//! The platform layer: every Linux-only call Ripcord makes, each beside the portable
//! fallback that other systems get. The cargo feature `portable-io` selects the fallbacks on
//! Linux too, so the whole behaviour of the portable path is tested here (`.ci/run` runs the
//! cancel and output contract suites a second time with it).
//!
//! | Linux | portable fallback |
//! |---|---|
//! | `O_TMPFILE` output, named by `linkat` | a named hidden temporary (the caller's) |
//! | `renameat2(RENAME_NOREPLACE)` | a hard link, then the temporary removed |
//! | `copy_file_range` | reads and writes in user space (the caller's) |
//! | `sync_file_range` writeback hints, `fadvise` | nothing (the final `fsync` does it all) |
//! | inputs read through SIGBUS-guarded maps | plain reads |
//! | the closer in the idle scheduling class | no priority change |
//! | `mallopt` keeping freed memory | the allocator's defaults |

use std::fs::File;
use std::io;
use std::path::Path;

pub mod maps;

/// Whether this build uses the portable fallbacks.
pub const PORTABLE: bool = cfg!(any(feature = "portable-io", not(target_os = "linux")));

/// Whether big inputs may be read through memory maps (guarded against SIGBUS).
pub const MAPS_INPUTS: bool = !PORTABLE;

/// The error a fallback returns for a call this build does not make.
#[cfg(not(all(target_os = "linux", not(feature = "portable-io"))))]
fn unsupported() -> io::Error {
    io::Error::from(io::ErrorKind::Unsupported)
}

/// A nameless temporary file in `dir` (`O_TMPFILE`), or an error of kind `Unsupported` where
/// there is none: the caller then makes a named hidden temporary.
pub fn open_anonymous(dir: &Path) -> io::Result<File> {
    #[cfg(all(target_os = "linux", not(feature = "portable-io")))]
    {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::open(
            dir,
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            Mode::from_bits_truncate(0o666),
        )?;
        Ok(File::from(fd))
    }
    #[cfg(not(all(target_os = "linux", not(feature = "portable-io"))))]
    {
        let _ = dir;
        Err(unsupported())
    }
}

/// Gives a file opened by [`open_anonymous`] the name `dest`; fails with `AlreadyExists`
/// rather than replace.
pub fn link_anonymous(file: &File, dest: &Path) -> io::Result<()> {
    #[cfg(all(target_os = "linux", not(feature = "portable-io")))]
    {
        use rustix::fs::{AtFlags, CWD};
        let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(file));
        rustix::fs::linkat(CWD, proc_path.as_str(), CWD, dest, AtFlags::SYMLINK_FOLLOW)
            .map_err(io::Error::from)
    }
    #[cfg(not(all(target_os = "linux", not(feature = "portable-io"))))]
    {
        let _ = (file, dest);
        Err(unsupported())
    }
}

/// Moves `tmp` to `dest` unless `dest` exists (then an error of kind `AlreadyExists`),
/// atomically: a rename that refuses to replace, or where there is none, a hard link (which
/// refuses too) and the temporary's removal.
pub fn rename_no_replace(tmp: &Path, dest: &Path) -> io::Result<()> {
    #[cfg(all(target_os = "linux", not(feature = "portable-io")))]
    {
        use rustix::fs::{CWD, RenameFlags};
        match rustix::fs::renameat_with(CWD, tmp, CWD, dest, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::EXIST) => {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            // File systems without RENAME_NOREPLACE: the link below.
            Err(_) => {}
        }
    }
    std::fs::hard_link(tmp, dest)?;
    let _ = std::fs::remove_file(tmp);
    Ok(())
}

/// Copies up to `len` bytes from `input` to `output` at `*off_in` / `*off_out` inside the
/// kernel, advancing both; an error [`copy_refused`] accepts where there is no such call,
/// so the caller copies through user space instead.
pub fn copy_file_range(
    input: &File,
    off_in: &mut u64,
    output: &File,
    off_out: &mut u64,
    len: usize,
) -> io::Result<usize> {
    #[cfg(all(target_os = "linux", not(feature = "portable-io")))]
    {
        rustix::fs::copy_file_range(input, Some(off_in), output, Some(off_out), len)
            .map_err(io::Error::from)
    }
    #[cfg(not(all(target_os = "linux", not(feature = "portable-io"))))]
    {
        let _ = (input, off_in, output, off_out, len);
        Err(unsupported())
    }
}

/// Whether [`copy_file_range`] failed because the kernel or the file systems do not copy
/// this way at all (every call would get the same answer), not because of this file.
pub fn copy_refused(e: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        use rustix::io::Errno;
        let refused = [
            Errno::XDEV,
            Errno::INVAL,
            Errno::NOSYS,
            Errno::OPNOTSUPP,
            Errno::PERM,
        ];
        if refused
            .iter()
            .any(|r| e.raw_os_error() == Some(r.raw_os_error()))
        {
            return true;
        }
    }
    e.kind() == io::ErrorKind::Unsupported
}

/// Whether creating a nameless temporary ([`open_anonymous`]) failed because this system
/// or file system has none, so a named temporary is the way.
pub fn anonymous_refused(e: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        use rustix::io::Errno;
        let refused = [Errno::OPNOTSUPP, Errno::ISDIR, Errno::INVAL, Errno::NOSYS];
        if refused
            .iter()
            .any(|r| e.raw_os_error() == Some(r.raw_os_error()))
        {
            return true;
        }
    }
    // Naming it goes through /proc (see `link_anonymous`).
    e.kind() == io::ErrorKind::Unsupported || !Path::new("/proc/self/fd").exists()
}

/// The bytes free for an unprivileged writer on the disk that holds `dir`; `None` where
/// that cannot be learned.
pub fn free_space(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let st = rustix::fs::statvfs(dir).ok()?;
        Some(st.f_bavail.saturating_mul(st.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Opens `path` for writing without waiting: a fifo with no reader fails at once instead of
/// blocking, and one with a waiting reader lets that reader's open return.
pub fn open_write_nonblocking(path: &Path) -> io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NONBLOCK);
    }
    o.open(path)
}

/// Whether the process `pid` exists (belonging to anyone).
pub fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return false;
        };
        // EPERM means it exists but belongs to someone else.
        !matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        )
    }
    // Unknown: treated as alive, so nothing of another running Ripcord is removed.
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Local time of day `(hours, minutes, seconds)` for `secs` after the Unix epoch; `None`
/// where the time zone cannot be applied.
pub fn local_time_of_day(secs: u64) -> Option<(u32, u32, u32)> {
    #[cfg(unix)]
    {
        let secs = libc::time_t::try_from(secs).ok()?;
        // SAFETY: a zeroed `tm` is a valid value to be filled in.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: localtime_r (the thread-safe form) only writes the `tm` it is given.
        if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
            return None;
        }
        let part = |v: libc::c_int| u32::try_from(v).ok();
        Some((part(tm.tm_hour)?, part(tm.tm_min)?, part(tm.tm_sec)?))
    }
    #[cfg(not(unix))]
    {
        let _ = secs;
        None
    }
}

/// Ends the process the way a coreutils tool ends when its reader goes away: killed by
/// SIGPIPE, so a shell sees status 141. Returns that status if the signal did not end it
/// (and on systems without the signal).
pub fn exit_by_sigpipe() -> i32 {
    #[cfg(unix)]
    {
        // SAFETY: restores the default disposition of SIGPIPE (Rust ignores it at start-up)
        // and raises it on this thread; both calls take no pointers and have no
        // preconditions.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::raise(libc::SIGPIPE);
        }
        128 + libc::SIGPIPE
    }
    #[cfg(not(unix))]
    {
        141
    }
}

/// The system's error code for an input/output error (`EIO`), which a disk that failed a
/// read gives.
#[cfg(unix)]
pub const EIO: i32 = libc::EIO;
/// The system's error code for an input/output error (POSIX's `EIO`).
#[cfg(not(unix))]
pub const EIO: i32 = 5;

/// Asks the kernel to start writing `len` bytes of `file` from `offset` to the disk now,
/// without waiting. Every output is synced before it is named; with the writing started
/// along the way, that final `fsync` finds little left to do, and the disk works while the
/// copy or compression goes on instead of after it. A hint: failures are left to the sync.
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(all(target_os = "linux", not(feature = "portable-io")))]
    {
        use std::os::fd::AsRawFd;
        // The offset type is the C library's (`off_t` or `off64_t`).
        let (Ok(offset), Ok(len)) = (offset.try_into(), len.try_into()) else {
            return;
        };
        // SAFETY: a plain system call on a descriptor `file` keeps open; it reads no memory.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(all(target_os = "linux", not(feature = "portable-io"))))]
    let _ = (file, offset, len);
}

/// Asks the kernel to drop its cached pages of `file`, so a read-back comes from the disk.
/// A hint.
pub fn drop_cache(file: &File) {
    #[cfg(all(target_os = "linux", not(feature = "portable-io")))]
    {
        let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
    }
    #[cfg(not(all(target_os = "linux", not(feature = "portable-io"))))]
    let _ = file;
}

/// Puts the calling thread in the idle scheduling class: it runs only when nothing else
/// wants the core, and a waking thread takes the core from it at once. On a kernel without
/// preemption (PREEMPT_NONE, 250 Hz) an ordinary thread freeing a large file held its core
/// until the next tick, up to 4 ms, while a cancelled worker waited to report.
pub fn lowest_priority() {
    #[cfg(all(target_os = "linux", not(feature = "portable-io")))]
    {
        // SAFETY: `sched_param` is plain data; priority 0 is the only value SCHED_IDLE takes.
        let param = unsafe { std::mem::zeroed::<libc::sched_param>() };
        // SAFETY: pid 0 is the calling thread; lowering one's own priority needs no
        // privilege, and a failure leaves the thread as it was.
        unsafe {
            libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
        }
    }
}

/// Keeps freed memory in the process (glibc's `mallopt`): returning it each time takes the
/// memory-map lock, and perf sched showed workers waiting 10–18 ms for it behind page faults
/// and other threads' unmapping — a worker freeing a buffer on its way out of a cancel
/// waited with them. Ripcord's buffers are few and reused, so the memory kept is bounded.
/// Called by [`crate::init`] only, at start-up.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "portable-io")))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes allocator parameters; `init` calls it first thing
            // in `main`, before any other thread exists to allocate meanwhile (glibc does not
            // promise mallopt is safe against concurrent allocation). 64 MiB: above every
            // buffer Ripcord allocates.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
            }
        });
    }
}
