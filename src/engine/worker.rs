//! A worker thread: takes the next file, runs the operation on it under a child token, and
//! reports one final event. A panic inside an operation becomes a `Failed` event, never a
//! dead thread.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_channel::{Receiver, TryRecvError, select};

use super::walk::Task;
use super::{Destination, Event, Operation, Outcome, Shared, lock};
use crate::error::Error;
use crate::ops::{self, Ctx, Stop};

pub(super) fn run(sh: &Shared, n: usize, rx: &Receiver<Task>) {
    let cancelled = sh.token.cancelled_channel();
    loop {
        // Blocks here, without spinning, while the job is paused between files.
        if sh.token.check().is_err() {
            break;
        }
        // A queued file is taken without `select!`'s set-up (a million small files are a
        // million takes); an empty queue is waited on together with the cancel.
        let task = match rx.try_recv() {
            Ok(t) => t,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => select! {
                recv(rx) -> t => match t {
                    Ok(t) => t,
                    Err(_) => break,
                },
                recv(cancelled) -> _ => break,
            },
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
        // Looked at empty first: a set's remove hashes the id even when it holds nothing.
        let mut requests = lock(&sh.skip_requests);
        if !requests.is_empty() && requests.remove(&id) {
            drop(requests);
            drop(tokens);
            sh.finish_file(Event::Cancelled {
                id,
                reason: crate::cancel::Reason::Skip,
            });
            return;
        }
        drop(requests);
        match tokens.get_mut(n) {
            Some(mine) => {
                // A token a skip cancelled (or the job's cancel) is not used again. The
                // skip cancels under this lock, so a cancel of the last file is seen here.
                if mine.token.is_cancelled() {
                    mine.token = sh.token.child();
                }
                mine.id = Some(id);
                mine.token.clone()
            }
            // Never: the list has a token per worker.
            None => sh.token.child(),
        }
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
        verifying: &slot.verifying,
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        super::panic_for_testing("worker", &task.path);
        execute(sh, rx, &task, &ctx)
    }));
    if let Some(mine) = lock(&sh.file_tokens).get_mut(n) {
        mine.id = None;
    }
    *lock(&slot.busy) = None;
    // Relaxed: as above, display statistics.
    slot.current.store(0, Ordering::Relaxed);
    slot.verifying.store(false, Ordering::Relaxed);
    let event = match result {
        Ok(Ok(outcome)) => Event::Done { id, outcome },
        Ok(Err(Stop::Cancelled(reason))) => Event::Cancelled { id, reason },
        Ok(Err(Stop::Failed(error))) => Event::Failed { id, error },
        Err(payload) => Event::Failed {
            id,
            error: Error::invalid(
                &task.path,
                format!(
                    "internal error while processing this file: {}",
                    super::panic_message(&*payload)
                ),
            ),
        },
    };
    sh.finish_file(event);
}

fn execute(sh: &Shared, rx: &Receiver<Task>, task: &Task, ctx: &Ctx) -> Result<Outcome, Stop> {
    // The first check also waits here if the job was paused while this file was queued.
    ctx.token.check()?;
    let src = &task.path;
    let dest = || {
        task.dest
            .as_deref()
            .ok_or_else(|| Error::invalid(src, "no output named for this file"))
    };
    match &sh.op {
        Operation::Hash { algo } => {
            ops::hash::hash_file(src, *algo, task.stream, ctx).map(Outcome::Digest)
        }
        Operation::Verify { .. } => {
            let Some(want) = &task.check else {
                return Err(Error::invalid(src, "no checksum to verify against").into());
            };
            let v = ops::verify::verify_file(src, want, task.stream, ctx)?;
            Ok(Outcome::Verified {
                ok: v.ok,
                algo: v.algo,
            })
        }
        Operation::Compress {
            level,
            threads,
            long,
            to,
            remove_source,
            ..
        } => {
            let to = zstd_to(task, to)?;
            let opts = ops::zstd::CompressOptions {
                level: *level,
                threads: match threads {
                    Some(0) => u32::try_from(sh.cores).unwrap_or(1),
                    Some(n) => *n,
                    None => zstd_threads(sh, rx),
                },
                long: *long,
            };
            let out = ops::zstd::compress(src, to, opts, sh.overwrite, ctx)
                .map_err(|e| for_input_stop(e, src))?;
            finish_output(src, out, *remove_source)
        }
        Operation::Decompress {
            long,
            to,
            remove_source,
            ..
        } => {
            let to = zstd_to(task, to)?;
            let out = ops::zstd::decompress(src, to, *long, sh.overwrite, ctx)
                .map_err(|e| for_input_stop(e, src))?;
            finish_output(src, out, *remove_source)
        }
        Operation::Download { opts, .. } => {
            let url = src.to_string_lossy();
            let check = task.check.as_ref().map(|c| (c.algo, c.hex.as_str()));
            let announced = std::cell::Cell::new(0u64);
            let on_size = |size: u64| {
                // Relaxed: a display statistic, as the walker's totals.
                let before = announced.replace(size);
                sh.total_bytes.fetch_add(size, Ordering::Relaxed);
                sh.total_bytes.fetch_sub(before, Ordering::Relaxed);
                sh.emit(Event::Sized { id: task.id, size });
            };
            ops::download::download(&url, opts, check, sh.overwrite, ctx, &on_size)
                .map(Outcome::Written)
                .map_err(|e| for_input_stop(e, src))
        }
        Operation::Copy { verify, .. } => {
            let dest = dest()?;
            ensure_parent(dest).map_err(|e| for_input(e, src))?;
            ops::copy::copy(src, dest, sh.overwrite, *verify, ctx)
                .map(Outcome::Copied)
                .map_err(|e| for_input_stop(e, src))
        }
    }
}

/// Where a compress or decompress output of `task` goes, its folder made if needed.
fn zstd_to<'a>(task: &'a Task, to: &Destination) -> Result<ops::zstd::To<'a>, Stop> {
    Ok(match (to, task.dest.as_deref()) {
        (Destination::Stdout, _) => ops::zstd::To::Stdout,
        (Destination::Nowhere, _) => ops::zstd::To::Nowhere,
        (_, Some(dest)) => {
            ensure_parent(dest).map_err(|e| for_input(e, &task.path))?;
            ops::zstd::To::File(dest)
        }
        (_, None) => {
            return Err(Error::invalid(&task.path, "no output named for this file").into());
        }
    })
}

/// The outcome of a compress or decompress; with `remove_source`, the source goes once its
/// output is complete and synced under its final name (never after a stream or a test).
fn finish_output(src: &Path, out: Option<PathBuf>, remove_source: bool) -> Result<Outcome, Stop> {
    let Some(out) = out else {
        return Ok(Outcome::Streamed);
    };
    if remove_source {
        fs::remove_file(src).map_err(|e| {
            Error::invalid(
                src,
                format!(
                    "{} was written, but the source cannot be removed: {}",
                    out.display(),
                    crate::error::describe_io(&e)
                ),
            )
        })?;
    }
    Ok(Outcome::Written(out))
}

/// An error about an output (it cannot be created, its folder is read-only) is reported
/// against the input that was being processed, naming the output too, so a person and a
/// `--json` reader learn which file failed. An existing output is reported as it is: it
/// names the file the person must decide about.
fn for_input(e: Error, input: &Path) -> Error {
    if e.path() == input || matches!(e, Error::Exists { .. }) {
        return e;
    }
    Error::Output {
        path: input.to_path_buf(),
        cause: Box::new(e),
    }
}

fn for_input_stop(s: Stop, input: &Path) -> Stop {
    match s {
        Stop::Failed(e) => Stop::Failed(for_input(e, input)),
        other => other,
    }
}

/// The output of `src` (`rel`: its path below its input's parent folder) for operations
/// that write one: `NAME.zst` or `NAME` beside the source or under the output folder
/// mirroring the input tree, or `rel` under a copy's destination.
pub(super) fn output_path(
    op: &Operation,
    src: &Path,
    rel: &Path,
) -> Result<Option<PathBuf>, Error> {
    let target = |out_dir: &Option<PathBuf>| match out_dir {
        Some(d) => d.join(rel),
        None => src.to_path_buf(),
    };
    Ok(match op {
        Operation::Hash { .. } | Operation::Verify { .. } | Operation::Download { .. } => None,
        Operation::Compress {
            to: Destination::File(f),
            ..
        }
        | Operation::Decompress {
            to: Destination::File(f),
            ..
        } => Some(f.clone()),
        Operation::Compress {
            to: Destination::Stdout | Destination::Nowhere,
            ..
        }
        | Operation::Decompress {
            to: Destination::Stdout | Destination::Nowhere,
            ..
        } => None,
        Operation::Compress { out_dir, .. } => Some(ops::zstd::compressed_name(&target(out_dir))),
        Operation::Decompress { out_dir, .. } => {
            Some(ops::zstd::decompressed_name(&target(out_dir))?)
        }
        Operation::Copy { to, .. } => Some(to.join(rel)),
    })
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
