//! A worker thread: takes the next file, runs the operation on it under a child token, and
//! reports one final event. A panic inside an operation becomes a `Failed` event, never a
//! dead thread.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_channel::{Receiver, select};

use super::walk::Task;
use super::{Event, Operation, Outcome, Shared, lock};
use crate::error::Error;
use crate::ops::{self, Ctx, Stop};

pub(super) fn run(sh: &Shared, n: usize, rx: &Receiver<Task>) {
    let cancelled = sh.token.cancelled_channel();
    loop {
        // Blocks here, without spinning, while the job is paused between files.
        if sh.token.check().is_err() {
            break;
        }
        let task = select! {
            recv(rx) -> t => match t {
                Ok(t) => t,
                Err(_) => break,
            },
            recv(cancelled) -> _ => break,
        };
        process(sh, n, rx, task);
    }
    if let Some(reason) = sh.token.reason() {
        while let Ok(t) = rx.try_recv() {
            sh.finish_file(Event::Cancelled { id: t.id, reason });
        }
    }
    sh.thread_exit();
}

fn process(sh: &Shared, n: usize, rx: &Receiver<Task>, task: Task) {
    let id = task.id;
    let slot = &sh.slots[n];
    let token = {
        let mut tokens = lock(&sh.file_tokens);
        if lock(&sh.skip_requests).remove(&id) {
            drop(tokens);
            sh.finish_file(Event::Cancelled {
                id,
                reason: crate::cancel::Reason::Skip,
            });
            return;
        }
        let t = sh.token.child();
        tokens.insert(id, t.clone());
        t
    };
    *lock(&slot.busy) = Some((id, task.path.clone(), Instant::now()));
    // Relaxed: display statistics, read independently.
    slot.file_bytes.store(0, Ordering::Relaxed);
    slot.current.store(id + 1, Ordering::Relaxed);
    sh.emit(Event::Started { id });
    let wake = || sh.wake();
    let ctx = Ctx {
        token: &token,
        file_bytes: &slot.file_bytes,
        job_bytes: &sh.job_bytes,
        throttle: &sh.throttle,
        on_progress: &wake,
    };
    let result = catch_unwind(AssertUnwindSafe(|| execute(sh, rx, &task, &ctx)));
    lock(&sh.file_tokens).remove(&id);
    *lock(&slot.busy) = None;
    // Relaxed: as above, a display statistic.
    slot.current.store(0, Ordering::Relaxed);
    let event = match result {
        Ok(Ok(outcome)) => Event::Done { id, outcome },
        Ok(Err(Stop::Cancelled(reason))) => Event::Cancelled { id, reason },
        Ok(Err(Stop::Failed(error))) => Event::Failed { id, error },
        Err(_) => Event::Failed {
            id,
            error: Error::invalid(&task.path, "internal error while processing this file"),
        },
    };
    sh.finish_file(event);
}

fn execute(sh: &Shared, rx: &Receiver<Task>, task: &Task, ctx: &Ctx) -> Result<Outcome, Stop> {
    // The first check also waits here if the job was paused while this file was queued.
    ctx.token.check()?;
    match &sh.op {
        Operation::Hash { algo } => {
            ops::hash::hash_file(&task.path, *algo, ctx).map(Outcome::Digest)
        }
        Operation::Verify { .. } => {
            let Some((algo, hex)) = &task.check else {
                return Err(Error::invalid(&task.path, "no checksum to verify against").into());
            };
            ops::verify::verify_file(&task.path, *algo, hex, ctx).map(|ok| Outcome::Verified { ok })
        }
        Operation::Compress { level, out_dir } => {
            let dest =
                ops::zstd::compressed_name(&target(&task.path, &task.rel, out_dir.as_deref()));
            ensure_parent(&dest)?;
            let threads = zstd_threads(sh, rx);
            ops::zstd::compress(&task.path, &dest, *level, threads, sh.overwrite, ctx)
                .map(Outcome::Written)
        }
        Operation::Decompress { out_dir } => {
            let dest =
                ops::zstd::decompressed_name(&target(&task.path, &task.rel, out_dir.as_deref()))?;
            ensure_parent(&dest)?;
            ops::zstd::decompress(&task.path, &dest, sh.overwrite, ctx).map(Outcome::Written)
        }
        Operation::Copy { to, verify } => {
            let dest = to.join(&task.rel);
            ensure_parent(&dest)?;
            ops::copy::copy(&task.path, &dest, sh.overwrite, *verify, ctx).map(Outcome::Copied)
        }
    }
}

/// Where an output goes before its suffix changes: under `out_dir` mirroring the input tree,
/// or beside the source.
fn target(src: &Path, rel: &Path, out_dir: Option<&Path>) -> PathBuf {
    match out_dir {
        Some(d) => d.join(rel),
        None => src.to_path_buf(),
    }
}

fn ensure_parent(dest: &Path) -> Result<(), Error> {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() && !p.is_dir() => {
            fs::create_dir_all(p).map_err(|e| Error::io(p, "create folder", e))
        }
        _ => Ok(()),
    }
}

/// zstd threads for the file starting now: the cores no other worker uses if this is the
/// last file of the job, otherwise one (the other cores have files of their own).
fn zstd_threads(sh: &Shared, rx: &Receiver<Task>) -> u32 {
    // Acquire: pairs with the walker's Release store, made before it sent the last task.
    if !sh.walk_done.load(Ordering::Acquire) || !rx.is_empty() {
        return 1;
    }
    // Relaxed: an estimate of how busy the machine is; any recent value will do.
    let busy = sh
        .slots
        .iter()
        .filter(|s| s.current.load(Ordering::Relaxed) != 0)
        .count();
    let free = sh.cores.saturating_sub(busy.saturating_sub(1)).max(1);
    u32::try_from(free).unwrap_or(1)
}
