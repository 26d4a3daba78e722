//! Copying a file in chunks, keeping its modification time and permissions, optionally
//! verifying the copy by hashing both sides.
//!
//! Without verification the data moves inside the kernel (`copy_file_range`) a chunk at a
//! time, falling back to read/write where the file systems do not allow it. Never one
//! whole-file call: the stop signal is checked between chunks.

use std::fs::{File, FileTimes};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::hash::{Algo, HASH_CHUNK_BYTES, Hasher, check_unchanged, feed_all};
use super::pipe::Writer;
use super::{Ctx, Stop, read_full};
use crate::cancel::CancelToken;
use crate::error::Error;
use crate::output::AtomicOutput;

/// Bytes moved between two stop checks (well under a millisecond of page-cache copying).
pub const COPY_CHUNK_BYTES: usize = 1024 * 1024;

/// The result of one copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Where the copy now is.
    pub dest: PathBuf,
    /// Whether both sides were hashed and matched.
    pub verified: bool,
    /// The BLAKE3 checksum both sides matched, when verified.
    pub digest: Option<String>,
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
    crate::output::wait_for_discards(ctx.token)?;
    let mut out = AtomicOutput::create(dest, overwrite)?;
    let mut digest = None;
    if verify {
        let mut hasher = Hasher::new(Algo::Blake3);
        let n = copy_rw(src, &mut input, &mut out, Some(&mut hasher), ctx)?;
        check_unchanged(src, meta.len(), n)?;
        let want = hasher.finish_hex();
        let f = out.file();
        // Ask the kernel to drop its cached copy, so the read-back comes from the disk.
        crate::sys::drop_cache(f);
        f.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(dest, "read back", e))?;
        // Relaxed: a display flag; the worker clears it when the file ends.
        ctx.verifying
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let mut check = Hasher::new(Algo::Blake3);
        // The temporary has no name yet: read it back without the by-name checks.
        // Smaller reads than the copy's: these come from the disk, and a cancel waits for one.
        let back = feed_all(dest, f, &mut check, HASH_CHUNK_BYTES, ctx)?;
        if back != n || check.finish_hex() != want {
            return Err(Error::invalid(dest, "verification failed: the copy differs").into());
        }
        digest = Some(want);
    } else {
        let n = copy_kernel(src, dest, &input, &mut out, ctx)?;
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
    super::pipe::sync(&mut out, ctx)?;
    let dest = out.commit()?;
    Ok(Copied {
        dest,
        verified: verify,
        digest,
    })
}

/// Copies through user space, feeding `hasher` on the way, and syncs the copy's data; the
/// writing happens on a background [`Writer`]. Returns the bytes copied.
fn copy_rw(
    src: &Path,
    input: &mut File,
    out: &mut AtomicOutput,
    mut hasher: Option<&mut Hasher>,
    ctx: &Ctx,
) -> Result<u64, Stop> {
    let mut writer = Writer::new(out);
    let mut total = 0u64;
    loop {
        // Read straight into the writer's buffer: the data is copied once.
        let spare = writer.spare();
        let n = read_full(input, spare).map_err(|e| Error::io(src, "read", e))?;
        if n == 0 {
            break;
        }
        if let Some(h) = hasher.as_deref_mut() {
            h.update(&spare[..n]);
        }
        writer.advance(n, out, ctx)?;
        total += n as u64;
        ctx.chunk_done(n as u64)?;
    }
    writer.finish(out, ctx)?;
    Ok(total)
}

/// Copies with `copy_file_range`, keeping two chunks in flight on the rayon pool (the kernel's
/// copy of the data is nearly all the work — perf: ~88 % in memcpy — and each call runs on
/// one core). The worker only waits, on a `select!` that a cancel also wakes: a call the
/// kernel stalls (ext4 journal, writeback) finishes in the background into the discarded
/// temporary. Falls back to [`copy_rw`] when the kernel or the file systems refuse before
/// anything was copied.
fn copy_kernel(
    src: &Path,
    dest: &Path,
    input: &File,
    out: &mut AtomicOutput,
    ctx: &Ctx,
) -> Result<u64, Stop> {
    let step = COPY_CHUNK_BYTES as u64;
    let input = Arc::new(input.try_clone().map_err(|e| Error::io(src, "read", e))?);
    let output = Arc::new(
        out.file()
            .try_clone()
            .map_err(|e| Error::io(dest, "write", e))?,
    );
    let (tx, rx) = crossbeam_channel::unbounded::<Result<usize, StepError>>();
    let spawn = |offset: u64| {
        let (i, o, tx, token) = (input.clone(), output.clone(), tx.clone(), ctx.token.clone());
        rayon_core::spawn(move || {
            let r = copy_range(&i, &o, offset, COPY_CHUNK_BYTES, &token);
            if let Ok(n @ 1..) = r {
                crate::sys::start_writeback(&o, offset, n as u64);
            }
            let _ = tx.send(r);
        });
    };
    let cancelled = ctx.token.cancelled_channel();
    let (mut next, mut in_flight, mut total) = (0u64, 0usize, 0u64);
    let (mut at_end, mut refused) = (false, None);
    for _ in 0..2 {
        spawn(next);
        next += step;
        in_flight += 1;
    }
    while in_flight > 0 {
        let r = crossbeam_channel::select! {
            recv(rx) -> m => m.map_err(|_| Error::invalid(src, "a copying thread stopped unexpectedly"))?,
            recv(cancelled) -> _ => { ctx.token.check()?; continue; }
        };
        in_flight -= 1;
        match r {
            Ok(n) => {
                total += n as u64;
                // A short chunk is the end of the file; bytes a later chunk found anyway (the
                // file grew meanwhile) make the size check fail and the copy be discarded.
                if n < COPY_CHUNK_BYTES {
                    at_end = true;
                } else if !at_end && refused.is_none() {
                    spawn(next);
                    next += step;
                    in_flight += 1;
                }
                if n > 0 {
                    ctx.chunk_done(n as u64)?;
                }
            }
            // The chunk saw the cancel first; so will the check.
            Err(StepError::Cancelled) => {
                ctx.token.check()?;
                return Err(Error::invalid(src, "a copy step stopped without a cancel").into());
            }
            // Refused outright (file systems, kernel): every chunk gets the same answer.
            Err(StepError::Io(e)) if crate::sys::copy_refused(&e) => {
                refused = Some(e);
            }
            Err(StepError::Io(e)) => return Err(Error::io(src, "copy", e).into()),
        }
    }
    if let Some(e) = refused {
        if total > 0 {
            return Err(Error::io(src, "copy", e).into());
        }
        // Explicit offsets left the file positions at 0 for the fallback.
        let mut input_file = input.try_clone().map_err(|e| Error::io(src, "read", e))?;
        out.file()
            .set_len(0)
            .map_err(|e| Error::io(dest, "write", e))?;
        return copy_rw(src, &mut input_file, out, None, ctx);
    }
    Ok(total)
}

/// Kernel copy per call: allocating the copy's page cache can take 3 ms per MiB here (perf
/// sched), in the kernel where the thread holds its core; a cancel is checked between calls.
const COPY_STEP_BYTES: usize = 256 * 1024;

/// Why a kernel copy step ended early.
enum StepError {
    /// It saw the token cancelled.
    Cancelled,
    /// The kernel's error.
    Io(std::io::Error),
}

/// Copies up to `len` bytes at `offset` from `input` to the same offset in `output`, or
/// stops once `token` is cancelled.
fn copy_range(
    input: &File,
    output: &File,
    offset: u64,
    len: usize,
    token: &CancelToken,
) -> Result<usize, StepError> {
    let (mut off_in, mut off_out) = (offset, offset);
    let mut done = 0;
    while done < len {
        if token.is_cancelled() {
            return Err(StepError::Cancelled);
        }
        match crate::sys::copy_file_range(
            input,
            &mut off_in,
            output,
            &mut off_out,
            (len - done).min(COPY_STEP_BYTES),
        ) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StepError::Io(e)),
        }
    }
    Ok(done)
}
