//! Copying a file in chunks, keeping its modification time and permissions, optionally
//! verifying the copy by hashing both sides.
//!
//! Without verification the data moves inside the kernel (`copy_file_range`) a chunk at a
//! time, falling back to read/write where the file systems do not allow it. Never one
//! whole-file call: the stop signal is checked between chunks.

use std::fs::{File, FileTimes};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::hash::{Algo, Hasher, check_unchanged, feed_all};
use super::{Ctx, Stop, read_full, with_scratch};
use crate::error::Error;
use crate::output::AtomicOutput;

/// Bytes moved between two stop checks (well under a millisecond of page-cache copying).
pub const COPY_CHUNK_BYTES: usize = 1024 * 1024;
/// Chunk when the data passes through user space (read/write, verify).
pub const COPY_RW_CHUNK_BYTES: usize = 1024 * 1024;

/// The result of one copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Where the copy now is.
    pub dest: PathBuf,
    /// Whether both sides were hashed and matched.
    pub verified: bool,
}

/// Copies `src` to `dest`. With `verify`, the source is hashed while copied and the copy is
/// read back after it is synced, and a mismatch fails the file (leaving no copy).
pub fn copy(
    src: &Path,
    dest: &Path,
    overwrite: bool,
    verify: bool,
    ctx: &Ctx,
) -> Result<Copied, Stop> {
    let mut input = File::open(src).map_err(|e| Error::io(src, "open", e))?;
    let meta = input.metadata().map_err(|e| Error::io(src, "read", e))?;
    let mut out = AtomicOutput::create(dest, overwrite)?;
    if verify {
        let mut hasher = Hasher::new(Algo::Blake3);
        let n = copy_rw(src, dest, &mut input, out.file(), Some(&mut hasher), ctx)?;
        check_unchanged(src, meta.len(), n)?;
        let want = hasher.finish_hex();
        let f = out.file();
        f.sync_all().map_err(|e| Error::io(dest, "write", e))?;
        // Ask the kernel to drop its cached copy, so the read-back comes from the disk.
        let _ = rustix::fs::fadvise(&*f, 0, None, rustix::fs::Advice::DontNeed);
        f.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(dest, "read back", e))?;
        let mut check = Hasher::new(Algo::Blake3);
        // The temporary has no name yet: read it back without the by-name checks.
        let back = feed_all(dest, f, &mut check, COPY_RW_CHUNK_BYTES, ctx)?;
        if back != n || check.finish_hex() != want {
            return Err(Error::invalid(dest, "verification failed: the copy differs").into());
        }
    } else {
        let n = copy_kernel(src, dest, &input, out.file(), ctx)?;
        check_unchanged(src, meta.len(), n)?;
    }
    let f = out.file();
    f.set_permissions(meta.permissions())
        .map_err(|e| Error::io(dest, "set permissions on", e))?;
    let mut times = FileTimes::new();
    if let Ok(m) = meta.modified() {
        times = times.set_modified(m);
    }
    if let Ok(a) = meta.accessed() {
        times = times.set_accessed(a);
    }
    f.set_times(times)
        .map_err(|e| Error::io(dest, "set the modification time of", e))?;
    let dest = out.commit()?;
    Ok(Copied {
        dest,
        verified: verify,
    })
}

/// Copies through user space, feeding `hasher` on the way. Returns the bytes copied.
fn copy_rw(
    src: &Path,
    dest: &Path,
    input: &mut File,
    output: &mut File,
    mut hasher: Option<&mut Hasher>,
    ctx: &Ctx,
) -> Result<u64, Stop> {
    let mut total = 0u64;
    with_scratch(COPY_RW_CHUNK_BYTES, |buf| -> Result<(), Stop> {
        loop {
            let n = read_full(input, buf).map_err(|e| Error::io(src, "read", e))?;
            if n == 0 {
                return Ok(());
            }
            if let Some(h) = hasher.as_deref_mut() {
                h.update(&buf[..n]);
            }
            output
                .write_all(&buf[..n])
                .map_err(|e| Error::io(dest, "write", e))?;
            total += n as u64;
            ctx.chunk_done(n as u64)?;
        }
    })?;
    Ok(total)
}

/// Copies with `copy_file_range`, two chunks at a time side by side (the kernel's copy of the
/// data is nearly all the work — perf: ~88 % in memcpy — and each call runs on one core);
/// falls back to [`copy_rw`] when the kernel or the file systems refuse before anything was
/// copied.
fn copy_kernel(
    src: &Path,
    dest: &Path,
    input: &File,
    output: &mut File,
    ctx: &Ctx,
) -> Result<u64, Stop> {
    use rustix::io::Errno;
    let step = COPY_CHUNK_BYTES as u64;
    let mut total = 0u64;
    loop {
        let out = &*output;
        let (ra, rb) = rayon_core::join(
            || copy_range(input, out, total, COPY_CHUNK_BYTES),
            || copy_range(input, out, total + step, COPY_CHUNK_BYTES),
        );
        let (ra, rb) = match (ra, rb) {
            (Ok(a), Ok(b)) => (a, b),
            (
                Err(Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::PERM),
                _,
            ) if total == 0 => {
                // Explicit offsets leave the file positions at 0 for the fallback.
                let mut input_file = input.try_clone().map_err(|e| Error::io(src, "read", e))?;
                output.set_len(0).map_err(|e| Error::io(dest, "write", e))?;
                return copy_rw(src, dest, &mut input_file, output, None, ctx);
            }
            (Err(e), _) | (_, Err(e)) => {
                return Err(Error::io(src, "copy", std::io::Error::from(e)).into());
            }
        };
        // A short first half is the end of the file; bytes the second half found anyway
        // (the file grew meanwhile) make the size check fail and the copy be discarded.
        let n = if ra < COPY_CHUNK_BYTES { ra } else { ra + rb } as u64;
        total += n;
        if n > 0 {
            ctx.chunk_done(n)?;
        }
        if n < 2 * step {
            return Ok(total);
        }
    }
}

/// Copies up to `len` bytes at `offset` from `input` to the same offset in `output`.
fn copy_range(
    input: &File,
    output: &File,
    offset: u64,
    len: usize,
) -> Result<usize, rustix::io::Errno> {
    let (mut off_in, mut off_out) = (offset, offset);
    let mut done = 0;
    while done < len {
        match rustix::fs::copy_file_range(
            input,
            Some(&mut off_in),
            output,
            Some(&mut off_out),
            len - done,
        ) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
