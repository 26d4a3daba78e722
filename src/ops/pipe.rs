//! A background writer for one output, so a worker never sits in a `write` or `fsync` the
//! kernel stalls.
//!
//! On ext4 a `write` can block for 10–30 ms while the journal commits (another file's
//! `fsync`, or the freeing of a discarded output); a worker stuck there cannot see a cancel.
//! With a [`Writer`] the worker fills 1 MiB buffers and hands them to a helper thread over a
//! short queue, waiting (when the queue is full) on a `select!` that a cancel also wakes. A
//! cancelled worker returns at once: the helper finishes the call it is in, skips whatever
//! is still queued, and ends; the output it wrote to is an uncommitted temporary that the
//! worker has already discarded. Writing beside the work also overlaps the two, which is
//! what makes decompression keep up with `zstd -d`.
//!
//! Small outputs never start a thread: until the first buffer is full nothing is written,
//! and [`Writer::finish`] writes a lone partial buffer itself.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender};

use super::{Ctx, Stop};
use crate::cancel::CancelToken;
use crate::error::Error;
use crate::output::AtomicOutput;

/// Bytes handed to the helper at a time.
pub const WRITE_BUFFER_BYTES: usize = 1024 * 1024;
/// Full buffers that may wait in the queue.
const QUEUE: usize = 2;
/// Bytes per `write` call. A `write` that allocates page cache can take 3 ms per MiB here
/// (perf sched), all of it in the kernel where this thread holds its core; smaller calls
/// let the helper notice a cancel and give the core back to the worker sooner.
const WRITE_STEP: usize = 256 * 1024;
/// Written bytes handed to the kernel's writeback at a time (see [`crate::sys::start_writeback`]).
const WRITEBACK_BYTES: u64 = 8 * 1024 * 1024;

enum Msg {
    Data(Vec<u8>, usize),
    /// All data sent: sync the file and report.
    Finish,
}

/// The helper's side, started with the first full buffer.
struct Helper {
    tx: Sender<Msg>,
    /// Emptied buffers coming back for reuse.
    recycled: Receiver<Vec<u8>>,
    /// The helper's one report: the first write error, or the `fsync`'s outcome.
    done: Receiver<std::io::Result<()>>,
    /// Set when the worker gives up on this output, so queued buffers are not written.
    abandoned: Arc<AtomicBool>,
}

/// Writes one output through a helper thread. See the module documentation.
pub struct Writer {
    dest: PathBuf,
    buf: Vec<u8>,
    filled: usize,
    helper: Option<Helper>,
    finished: bool,
}

impl Writer {
    /// A writer for `dest`, whose data goes to `out`'s temporary.
    pub fn new(out: &AtomicOutput) -> Writer {
        Writer {
            dest: out.final_path().to_path_buf(),
            buf: Vec::new(),
            filled: 0,
            helper: None,
            finished: false,
        }
    }

    /// The unfilled part of the current buffer (never empty); say how much was filled with
    /// [`Writer::advance`].
    pub fn spare(&mut self) -> &mut [u8] {
        if self.buf.len() < WRITE_BUFFER_BYTES {
            self.buf.resize(WRITE_BUFFER_BYTES, 0);
        }
        &mut self.buf[self.filled..]
    }

    /// Marks `n` more bytes of [`Writer::spare`] as data, handing the buffer over once full.
    pub fn advance(&mut self, n: usize, out: &mut AtomicOutput, ctx: &Ctx) -> Result<(), Stop> {
        self.filled += n;
        if self.filled == self.buf.len() {
            self.send_buffer(out, ctx)?;
        }
        Ok(())
    }

    /// Appends `data`.
    pub fn write(
        &mut self,
        mut data: &[u8],
        out: &mut AtomicOutput,
        ctx: &Ctx,
    ) -> Result<(), Stop> {
        while !data.is_empty() {
            let spare = self.spare();
            let n = spare.len().min(data.len());
            spare[..n].copy_from_slice(&data[..n]);
            data = &data[n..];
            self.advance(n, out, ctx)?;
        }
        Ok(())
    }

    /// Writes what is left and syncs the file. Waits on the helper, but a cancel ends the
    /// wait. Afterwards `out` is marked synced, so committing it does not sync again.
    pub fn finish(mut self, out: &mut AtomicOutput, ctx: &Ctx) -> Result<(), Stop> {
        let werr = |e| Error::io(&self.dest, "write", e);
        let Some(helper) = &self.helper else {
            // Never started: a small output, written and synced here.
            let f = out.file();
            f.write_all(&self.buf[..self.filled]).map_err(werr)?;
            self.finished = true;
            return sync(out, ctx);
        };
        if self.filled > 0 {
            let buf = std::mem::take(&mut self.buf);
            self.queue(Msg::Data(buf, self.filled), ctx)?;
            self.filled = 0;
        }
        self.queue(Msg::Finish, ctx)?;
        let cancelled = ctx.token.cancelled_channel();
        let done = helper.done.clone();
        crossbeam_channel::select! {
            recv(done) -> r => {
                self.finished = true;
                // A helper that saw the cancel first ends without a report.
                ctx.token.check()?;
                r.map_err(|_| self.gone())?.map_err(werr)?;
            }
            recv(cancelled) -> _ => { ctx.token.check()?; }
        }
        out.mark_synced();
        Ok(())
    }

    /// The error for a helper that ended before it was told to finish, from its report.
    fn early_end(&self, report: Option<std::io::Result<()>>) -> Error {
        match report {
            Some(Err(e)) => Error::io(&self.dest, "write", e),
            _ => self.gone(),
        }
    }

    fn gone(&self) -> Error {
        Error::invalid(&self.dest, "the writing thread stopped unexpectedly")
    }

    /// Hands the full buffer to the helper (starting it the first time) and takes a fresh one.
    fn send_buffer(&mut self, out: &mut AtomicOutput, ctx: &Ctx) -> Result<(), Stop> {
        if self.helper.is_none() {
            self.helper = Some(self.start(out, ctx)?);
        }
        let buf = std::mem::take(&mut self.buf);
        let filled = std::mem::replace(&mut self.filled, 0);
        self.queue(Msg::Data(buf, filled), ctx)?;
        if let Some(h) = &self.helper {
            self.buf = h.recycled.try_recv().unwrap_or_default();
        }
        Ok(())
    }

    /// Sends `msg`, waiting while the queue is full; a cancel or a failed helper ends the wait.
    fn queue(&self, msg: Msg, ctx: &Ctx) -> Result<(), Stop> {
        let Some(h) = &self.helper else {
            return Ok(());
        };
        // `select!` picks at random among ready operations; a cancel must win over a free slot.
        ctx.token.check()?;
        let cancelled = ctx.token.cancelled_channel();
        let mut msg = Some(msg);
        loop {
            crossbeam_channel::select! {
                send(h.tx, msg.take().unwrap_or(Msg::Finish)) -> r => {
                    if r.is_ok() {
                        return Ok(());
                    }
                    // The helper is gone: it saw the cancel first, or it says why on `done`.
                    ctx.token.check()?;
                    return Err(self.early_end(h.done.try_recv().ok()).into());
                }
                // The helper reports early only when a write failed.
                recv(h.done) -> r => {
                    ctx.token.check()?;
                    return Err(self.early_end(r.ok()).into());
                }
                recv(cancelled) -> _ => { ctx.token.check()?; }
            }
        }
    }

    fn start(&self, out: &mut AtomicOutput, ctx: &Ctx) -> Result<Helper, Stop> {
        let werr = |e| Error::io(&self.dest, "write", e);
        let file = out.file().try_clone().map_err(werr)?;
        let (tx, rx) = crossbeam_channel::bounded::<Msg>(QUEUE);
        let (back_tx, recycled) = crossbeam_channel::bounded::<Vec<u8>>(QUEUE + 2);
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let abandoned = Arc::new(AtomicBool::new(false));
        let flag = abandoned.clone();
        let token = ctx.token.clone();
        std::thread::Builder::new()
            .name("ripcord-writer".into())
            .spawn(move || write_loop(file, &rx, &back_tx, &done_tx, &flag, &token))
            .map_err(|e| Error::io(&self.dest, "start a writing thread for", e))?;
        Ok(Helper {
            tx,
            recycled,
            done,
            abandoned,
        })
    }
}

/// Writes to standard output through a helper thread, so a reader that stops reading (a
/// stalled pipe) never holds up a cancel: the worker hands over buffers on a `select!` that
/// a cancel also wakes, exactly as [`Writer`] does for files. Nothing is synced: a pipe has
/// nothing to sync, and what the reader got before a cancel is theirs, as with `zstd -c`.
pub struct StdoutWriter {
    buf: Vec<u8>,
    filled: usize,
    tx: Option<Sender<Vec<u8>>>,
    /// The helper's one report: the first write error, or `Ok` once everything is written.
    done: Receiver<std::io::Result<()>>,
}

/// How standard output is named in messages.
pub const STDOUT_NAME: &str = "(standard output)";

impl StdoutWriter {
    /// Starts the helper on a duplicate of standard output.
    pub fn new() -> Result<StdoutWriter, Error> {
        use std::os::fd::AsFd;
        let werr = |e| Error::io(STDOUT_NAME, "write", e);
        let fd = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(werr)?;
        let mut file = File::from(fd);
        let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(QUEUE);
        let (done_tx, done) = crossbeam_channel::bounded(1);
        std::thread::Builder::new()
            .name("ripcord-stdout".into())
            .spawn(move || {
                for buf in rx {
                    if let Err(e) = file.write_all(&buf) {
                        let _ = done_tx.send(Err(e));
                        return;
                    }
                }
                let _ = done_tx.send(Ok(()));
            })
            .map_err(|e| Error::io(STDOUT_NAME, "start a writing thread for", e))?;
        Ok(StdoutWriter {
            buf: Vec::new(),
            filled: 0,
            tx: Some(tx),
            done,
        })
    }

    /// The unfilled part of the current buffer (never empty).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.buf.len() < WRITE_BUFFER_BYTES {
            self.buf.resize(WRITE_BUFFER_BYTES, 0);
        }
        &mut self.buf[self.filled..]
    }

    /// Marks `n` more bytes of [`StdoutWriter::spare`] as data, handing the buffer over
    /// once full.
    pub fn advance(&mut self, n: usize, ctx: &Ctx) -> Result<(), Stop> {
        self.filled += n;
        if self.filled == self.buf.len() {
            self.send(ctx)?;
        }
        Ok(())
    }

    fn send(&mut self, ctx: &Ctx) -> Result<(), Stop> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.truncate(std::mem::replace(&mut self.filled, 0));
        let Some(tx) = &self.tx else {
            return Ok(());
        };
        ctx.token.check()?;
        let cancelled = ctx.token.cancelled_channel();
        crossbeam_channel::select! {
            send(tx, buf) -> r => {
                if r.is_err() {
                    return Err(self.failed());
                }
            }
            recv(self.done) -> r => {
                return Err(match r {
                    Ok(Err(e)) => Error::io(STDOUT_NAME, "write", e).into(),
                    _ => self.failed(),
                });
            }
            recv(cancelled) -> _ => { ctx.token.check()?; }
        }
        Ok(())
    }

    fn failed(&self) -> Stop {
        match self.done.try_recv() {
            Ok(Err(e)) => Error::io(STDOUT_NAME, "write", e).into(),
            _ => Error::invalid(STDOUT_NAME, "the writing thread stopped unexpectedly").into(),
        }
    }

    /// Writes what is left and waits until the helper has written everything; a cancel
    /// ends the wait.
    pub fn finish(mut self, ctx: &Ctx) -> Result<(), Stop> {
        if self.filled > 0 {
            self.send(ctx)?;
        }
        self.tx = None;
        let cancelled = ctx.token.cancelled_channel();
        crossbeam_channel::select! {
            recv(self.done) -> r => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(Error::io(STDOUT_NAME, "write", e).into()),
                Err(_) => Err(self.failed()),
            },
            recv(cancelled) -> _ => { ctx.token.check()?; Ok(()) }
        }
    }
}

/// Syncs `out`'s data and metadata on a helper thread (an `fsync` of a big file takes a
/// second or more), waiting on a `select!` that a cancel also wakes, and marks it synced.
pub fn sync(out: &mut AtomicOutput, ctx: &Ctx) -> Result<(), Stop> {
    let dest = out.final_path().to_path_buf();
    let werr = |e| Error::io(&dest, "write", e);
    let file = out.file().try_clone().map_err(werr)?;
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("ripcord-sync".into())
        .spawn(move || {
            let _ = tx.send(file.sync_all());
        })
        .map_err(|e| Error::io(&dest, "start a thread to sync", e))?;
    let cancelled = ctx.token.cancelled_channel();
    loop {
        crossbeam_channel::select! {
            recv(rx) -> r => {
                r.map_err(|_| Error::invalid(&dest, "the sync thread stopped unexpectedly"))?
                    .map_err(werr)?;
                out.mark_synced();
                return Ok(());
            }
            recv(cancelled) -> _ => { ctx.token.check()?; }
        }
    }
}

/// The helper thread: writes buffers in order until told to finish (then syncs) or until
/// the worker goes away, gives up or is cancelled (then stops without writing more: the
/// output is discarded).
fn write_loop(
    mut file: File,
    rx: &Receiver<Msg>,
    back: &Sender<Vec<u8>>,
    done: &Sender<std::io::Result<()>>,
    abandoned: &AtomicBool,
    token: &CancelToken,
) {
    // Relaxed: a hint to skip work; the channel's own synchronisation orders the data.
    let give_up = || abandoned.load(Ordering::Relaxed) || token.is_cancelled();
    // Bytes written, and how many of them went to writeback already (offsets from the
    // start: the output is a fresh file).
    let (mut written, mut flushed) = (0u64, 0u64);
    for msg in rx {
        if give_up() {
            return;
        }
        match msg {
            Msg::Data(buf, filled) => {
                for step in buf[..filled].chunks(WRITE_STEP) {
                    if give_up() {
                        return;
                    }
                    if let Err(e) = file.write_all(step) {
                        let _ = done.send(Err(e));
                        return;
                    }
                }
                written += filled as u64;
                if written - flushed >= WRITEBACK_BYTES {
                    crate::sys::start_writeback(&file, flushed, written - flushed);
                    flushed = written;
                }
                let _ = back.try_send(buf);
            }
            Msg::Finish => {
                let _ = done.send(file.sync_all());
                return;
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(h) = &self.helper
            && !self.finished
        {
            // Relaxed: see `write_loop`; dropping `tx` right after also ends its loop.
            h.abandoned.store(true, Ordering::Relaxed);
        }
        // Freeing megabyte buffers unmaps memory, which waits for the process's memory-map
        // lock (perf sched: 10–18 ms behind page faults on busy cores); not on the worker.
        let buf = std::mem::take(&mut self.buf);
        let helper = self.helper.take();
        crate::output::drop_later(Box::new((buf, helper)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::throttle::Throttle;
    use crate::cancel::{CancelToken, Reason};
    use std::sync::atomic::AtomicU64;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    /// Writes `bytes` in uneven pieces, half through `write` and half through `spare`.
    fn write_through(
        dir: &std::path::Path,
        name: &str,
        bytes: &[u8],
        token: &CancelToken,
    ) -> Result<PathBuf, Stop> {
        let (fb, jb) = (AtomicU64::new(0), AtomicU64::new(0));
        let throttle = Throttle::new(None);
        let noop = || {};
        let ctx = Ctx {
            token,
            file_bytes: &fb,
            job_bytes: &jb,
            throttle: &throttle,
            on_progress: &noop,
            verifying: &std::sync::atomic::AtomicBool::new(false),
        };
        let mut out = AtomicOutput::create(&dir.join(name), false)?;
        let mut w = Writer::new(&out);
        let mut rest = bytes;
        for turn in 0usize.. {
            if rest.is_empty() {
                break;
            }
            let n = rest.len().min(1 + (turn * 7919) % 300_000);
            let n = if turn.is_multiple_of(2) {
                w.write(&rest[..n], &mut out, &ctx)?;
                n
            } else {
                let spare = w.spare();
                let n = n.min(spare.len());
                spare[..n].copy_from_slice(&rest[..n]);
                w.advance(n, &mut out, &ctx)?;
                n
            };
            rest = &rest[n..];
        }
        w.finish(&mut out, &ctx)?;
        Ok(out.commit()?)
    }

    #[test]
    fn small_and_large_outputs_come_out_whole() {
        let dir = tempfile::tempdir().unwrap();
        let token = CancelToken::new();
        for (name, len) in [
            ("empty", 0),
            ("small", 1000),
            ("exact", WRITE_BUFFER_BYTES),
            ("large", 5 * WRITE_BUFFER_BYTES + 3),
        ] {
            let want = data(len);
            let path = write_through(dir.path(), name, &want, &token).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), want, "{name}");
        }
    }

    #[test]
    fn a_cancelled_writer_leaves_nothing_and_stops_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let token = CancelToken::new();
        token.cancel(Reason::User);
        // Already cancelled: the first full buffer's hand-over sees it.
        let r = write_through(dir.path(), "out", &data(8 * WRITE_BUFFER_BYTES), &token);
        assert!(
            matches!(r, Err(Stop::Cancelled(Reason::User))),
            "{:?}",
            r.err()
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// The helper sees a cancel on its own and quits; whichever side sees it first, the
    /// worker must report a cancel, never a failed write.
    #[test]
    fn a_cancel_mid_write_is_a_cancel_whoever_sees_it_first() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = data(24 * WRITE_BUFFER_BYTES);
        for round in 0..40u64 {
            let token = CancelToken::new();
            let canceller = {
                let token = token.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_micros(200 + round * 150));
                    token.cancel(Reason::User);
                })
            };
            let r = write_through(dir.path(), &format!("out{round}"), &bytes, &token);
            canceller.join().unwrap();
            match r {
                Ok(path) => assert_eq!(std::fs::read(&path).unwrap(), bytes),
                Err(Stop::Cancelled(Reason::User)) => {}
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        // Only finished outputs are left.
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let name = e.unwrap().file_name();
            assert!(name.to_string_lossy().starts_with("out"), "{name:?}");
        }
    }
}
