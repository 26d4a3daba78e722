//! zstd compression and decompression, streamed in small pieces.
//!
//! Compression feeds the encoder a chunk at a time and checks the stop signal between
//! chunks; decompression bounds each step by the free space in the writer's buffer (at most
//! [`super::pipe::WRITE_BUFFER_BYTES`]), so even a tiny input that expands enormously is
//! checked often. Output goes through a background [`Writer`] into an [`AtomicOutput`].

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use zstd::stream::raw::{Decoder, Encoder, InBuffer, Operation, OutBuffer};
use zstd::zstd_safe::{CParameter, DParameter};

use super::hash::check_unchanged;
use super::mapped::{Piece, Pieces};
use super::pipe::{STDOUT_NAME, StdoutWriter, WRITE_BUFFER_BYTES, Writer};
use super::{Ctx, Stop, read_full};
use crate::error::Error;
use crate::output::{AtomicOutput, FreeLater};

/// Input fed to the encoder between two stop checks at levels up to 3 (~1 ms of work).
pub const COMPRESS_CHUNK_BYTES: usize = 256 * 1024;
/// Compressed input read per step when decompressing.
pub const DECOMPRESS_IN_BYTES: usize = 128 * 1024;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Chunk size for `level`: slower levels take smaller steps so a cancel stays quick.
pub fn compress_chunk_bytes(level: i32) -> usize {
    match level {
        ..=3 => COMPRESS_CHUNK_BYTES,
        4..=9 => 64 * 1024,
        _ => 16 * 1024,
    }
}

/// The output name for compressing `src`: `NAME.zst` in `out_dir` or beside the source.
pub fn compressed_name(src: &Path) -> PathBuf {
    let mut name = src
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".zst");
    src.with_file_name(name)
}

/// The output name for decompressing `src` (`NAME.zst` → `NAME`, `NAME.tzst` → `NAME.tar`),
/// or an error when the name has no zstd suffix.
pub fn decompressed_name(src: &Path) -> Result<PathBuf, Error> {
    let name = src.file_name().map(|n| n.as_bytes()).unwrap_or_default();
    let stem = |suffix: &[u8]| {
        name.strip_suffix(suffix)
            .filter(|s| !s.is_empty())
            .map(|s| OsString::from_vec(s.to_vec()))
    };
    if let Some(stem) = stem(b".zst") {
        Ok(src.with_file_name(stem))
    } else if let Some(mut stem) = stem(b".tzst") {
        stem.push(".tar");
        Ok(src.with_file_name(stem))
    } else {
        Err(Error::invalid(
            src,
            "unknown suffix, expected .zst or .tzst",
        ))
    }
}

/// Where an operation's output goes.
#[derive(Debug, Clone, Copy)]
pub enum To<'a> {
    /// A new file under this name, whole or not at all.
    File(&'a Path),
    /// Standard output (`-c`), through a helper a cancel never waits for.
    Stdout,
    /// Nowhere: the data is only checked (`decompress --test`).
    Nowhere,
}

/// How to compress.
#[derive(Debug, Clone, Copy)]
pub struct CompressOptions {
    /// zstd level, 1 to 22.
    pub level: i32,
    /// zstd threads (1: none).
    pub threads: u32,
    /// Long-distance matching with a window of 2^N bytes (`--long=N`).
    pub long: Option<u32>,
}

/// Compresses `src` as `opts` say. Returns the output's path (`None` for standard output).
pub fn compress(
    src: &Path,
    to: To<'_>,
    opts: CompressOptions,
    overwrite: bool,
    ctx: &Ctx,
) -> Result<Option<PathBuf>, Stop> {
    let mut input = File::open(src).map_err(|e| Error::io(src, "open", e))?;
    let meta = input.metadata().map_err(|e| Error::io(src, "read", e))?;
    let size = meta.len();
    let mut sink = Sink::new(to, overwrite, ctx)?;
    let dest = sink.name();
    let werr = |e| Error::io(&dest, "write", e);
    let mut enc = Encoder::new(opts.level).map_err(werr)?;
    // Like the zstd CLI, every frame ends with a checksum of its content, so a flipped bit
    // in a stored block is caught by `zstd -t` and by decompression instead of yielding
    // wrong bytes.
    enc.set_parameter(CParameter::ChecksumFlag(true))
        .map_err(werr)?;
    if let Some(log) = opts.long {
        enc.set_parameter(CParameter::EnableLongDistanceMatching(true))
            .map_err(werr)?;
        enc.set_parameter(CParameter::WindowLog(log))
            .map_err(werr)?;
    }
    // The zstd CLI records the size in the frame header; so do we, when we know it.
    if size > 0 {
        enc.set_pledged_src_size(Some(size)).map_err(werr)?;
    }
    let chunk = compress_chunk_bytes(opts.level);
    let mut input = Pieces::new(src, &mut input, &meta, chunk);
    let total = if opts.threads > 1 {
        enc.set_parameter(CParameter::NbWorkers(opts.threads))
            .map_err(werr)?;
        encode_threaded(src, &dest, &mut input, size, enc, &mut sink, ctx)?
    } else {
        // Freeing the encoder's buffers unmaps memory: not on the worker.
        let mut enc = FreeLater::new(enc);
        encode_inline(src, &dest, &mut input, size, &mut enc, &mut sink, ctx)?
    };
    check_unchanged(src, size, total)?;
    sink.finish(ctx)
}

/// Where produced bytes go, buffered: a file's background writer, standard output's, or a
/// scratch buffer that is thrown away.
enum Sink {
    File { writer: Writer, out: AtomicOutput },
    Stdout(StdoutWriter),
    Nowhere(Vec<u8>),
}

impl Sink {
    fn new(to: To<'_>, overwrite: bool, ctx: &Ctx) -> Result<Sink, Stop> {
        Ok(match to {
            To::File(dest) => {
                crate::output::wait_for_discards(ctx.token)?;
                let out = AtomicOutput::create(dest, overwrite)?;
                Sink::File {
                    writer: Writer::new(&out),
                    out,
                }
            }
            To::Stdout => Sink::Stdout(StdoutWriter::new()?),
            To::Nowhere => Sink::Nowhere(Vec::new()),
        })
    }

    /// The output's name, for messages.
    fn name(&self) -> PathBuf {
        match self {
            Sink::File { out, .. } => out.final_path().to_path_buf(),
            Sink::Stdout(_) => PathBuf::from(STDOUT_NAME),
            Sink::Nowhere(_) => PathBuf::from("(test)"),
        }
    }

    fn spare(&mut self) -> &mut [u8] {
        match self {
            Sink::File { writer, .. } => writer.spare(),
            Sink::Stdout(w) => w.spare(),
            Sink::Nowhere(buf) => {
                if buf.len() < WRITE_BUFFER_BYTES {
                    buf.resize(WRITE_BUFFER_BYTES, 0);
                }
                buf
            }
        }
    }

    fn advance(&mut self, n: usize, ctx: &Ctx) -> Result<(), Stop> {
        match self {
            Sink::File { writer, out } => writer.advance(n, out, ctx),
            Sink::Stdout(w) => w.advance(n, ctx),
            Sink::Nowhere(_) => Ok(()),
        }
    }

    fn write(&mut self, mut data: &[u8], ctx: &Ctx) -> Result<(), Stop> {
        while !data.is_empty() {
            let spare = self.spare();
            let n = spare.len().min(data.len());
            spare[..n].copy_from_slice(&data[..n]);
            data = &data[n..];
            self.advance(n, ctx)?;
        }
        Ok(())
    }

    /// Writes what is left and, for a file, syncs it and names it.
    fn finish(self, ctx: &Ctx) -> Result<Option<PathBuf>, Stop> {
        match self {
            Sink::File { writer, mut out } => {
                writer.finish(&mut out, ctx)?;
                Ok(Some(out.commit()?))
            }
            Sink::Stdout(w) => w.finish(ctx).map(|()| None),
            Sink::Nowhere(buf) => {
                // A scratch buffer of a megabyte: freed off the worker, as the others are.
                crate::output::drop_later(Box::new(buf));
                Ok(None)
            }
        }
    }
}

/// Runs `data` through the encoder (or, if `data` is `None`, ends the frame), straight into
/// the sink's buffers.
fn feed_into(
    enc: &mut Encoder<'static>,
    data: Option<&[u8]>,
    sink: &mut Sink,
    dest: &Path,
    ctx: &Ctx,
) -> Result<(), Stop> {
    let werr = |e| Error::io(dest, "write", e);
    match data {
        Some(data) => {
            let mut inb = InBuffer::around(data);
            while inb.pos() < data.len() {
                let mut outb = OutBuffer::around(sink.spare());
                enc.run(&mut inb, &mut outb).map_err(werr)?;
                let produced = outb.pos();
                sink.advance(produced, ctx)?;
            }
        }
        None => loop {
            let mut outb = OutBuffer::around(sink.spare());
            let remaining = enc.finish(&mut outb, true).map_err(werr)?;
            let produced = outb.pos();
            sink.advance(produced, ctx)?;
            if remaining == 0 {
                break;
            }
        },
    }
    Ok(())
}

/// The next piece of input, failing if the file grew past the size it had at open.
fn next_piece(
    src: &Path,
    input: &mut Pieces<'_>,
    size: u64,
    total: &mut u64,
) -> Result<Option<Piece>, Stop> {
    let piece = input.next_piece()?;
    *total += piece.as_ref().map_or(0, |p| p.bytes().len() as u64);
    if size > 0 && *total > size {
        return Err(Error::Changed {
            path: src.to_path_buf(),
            expected: size,
            got: *total,
        }
        .into());
    }
    Ok(piece)
}

/// Runs `data` through the encoder (or, if `data` is `None`, ends the frame) and appends
/// what it produces to `sink`.
fn feed(
    enc: &mut Encoder<'static>,
    data: Option<&[u8]>,
    outbuf: &mut [u8],
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    match data {
        Some(data) => {
            let mut inb = InBuffer::around(data);
            while inb.pos() < data.len() {
                let mut outb = OutBuffer::around(&mut outbuf[..]);
                enc.run(&mut inb, &mut outb)?;
                let produced = outb.pos();
                sink(&outbuf[..produced])?;
            }
        }
        None => loop {
            let mut outb = OutBuffer::around(&mut outbuf[..]);
            let remaining = enc.finish(&mut outb, true)?;
            let produced = outb.pos();
            sink(&outbuf[..produced])?;
            if remaining == 0 {
                break;
            }
        },
    }
    Ok(())
}

/// Single-threaded zstd: each chunk is compressed here, about a millisecond of work.
fn encode_inline(
    src: &Path,
    dest: &Path,
    input: &mut Pieces<'_>,
    size: u64,
    enc: &mut Encoder<'static>,
    sink: &mut Sink,
    ctx: &Ctx,
) -> Result<u64, Stop> {
    let mut total = 0u64;
    while let Some(piece) = next_piece(src, input, size, &mut total)? {
        feed_into(enc, Some(piece.bytes()), sink, dest, ctx)?;
        if piece.faulted() {
            return Err(input.fault().into());
        }
        ctx.chunk_done(piece.bytes().len() as u64)?;
    }
    feed_into(enc, None, sink, dest, ctx)?;
    Ok(total)
}

/// Why the feeder thread stopped.
enum FeedError {
    /// The encoder failed.
    Io(std::io::Error),
    /// A read of a mapped piece faulted (see [`Piece::faulted`]).
    Fault,
}

/// What the feeder thread sends back: compressed bytes, `None` at the end of the frame.
type Fed = Result<Option<Vec<u8>>, FeedError>;

/// Multithreaded zstd. A call into a multithreaded encoder blocks while its job queue is
/// full, for as long as a job takes (several MiB of work), so the encoder lives on a feeder
/// thread and this worker waits for it on a `select!` that a cancel also wakes. On cancel the
/// worker returns at once; the feeder finishes the call it is in and drops the encoder,
/// whose threads end the jobs they hold. The output is a temporary that is then discarded.
#[allow(clippy::too_many_arguments)]
fn encode_threaded(
    src: &Path,
    dest: &Path,
    input: &mut Pieces<'_>,
    size: u64,
    mut enc: Encoder<'static>,
    sink: &mut Sink,
    ctx: &Ctx,
) -> Result<u64, Stop> {
    let werr = |e| Error::io(dest, "write", e);
    // In: chunks to compress (`None` ends the frame). Out: compressed bytes, then `None`.
    let (in_tx, in_rx) = crossbeam_channel::bounded::<Option<Piece>>(2);
    let (out_tx, out_rx) = crossbeam_channel::bounded::<Fed>(4);
    std::thread::Builder::new()
        .name("ripcord-zstd-feed".into())
        .spawn(move || {
            let mut outbuf = vec![0u8; zstd::zstd_safe::CCtx::out_size()];
            for msg in in_rx {
                let mut produced = Vec::new();
                let mut sink = |b: &[u8]| {
                    produced.extend_from_slice(b);
                    Ok(())
                };
                let end = msg.is_none();
                let r = feed(
                    &mut enc,
                    msg.as_ref().map(Piece::bytes),
                    &mut outbuf,
                    &mut sink,
                );
                // zstd has copied the piece into its own buffers: this was its last read,
                // so a fault in it shows now, before any output from it is committed.
                let r = match r {
                    Ok(()) if msg.as_ref().is_some_and(Piece::faulted) => Err(FeedError::Fault),
                    other => other.map_err(FeedError::Io),
                };
                drop(msg);
                let failed = r.is_err();
                let sent = out_tx.send(r.map(|()| Some(produced)));
                if end && sent.is_ok() && !failed {
                    let _ = out_tx.send(Ok(None));
                }
                if sent.is_err() || failed || end {
                    return;
                }
            }
        })
        .map_err(|e| Error::io(src, "start a compression thread for", e))?;
    let cancelled = ctx.token.cancelled_channel();
    let fault = || {
        let now = std::fs::metadata(src).map_or(0, |m| m.len());
        super::mapped::fault_error(src, size, now)
    };
    let mut write_out = |r: Fed| -> Result<bool, Stop> {
        let r = match r {
            Ok(r) => r,
            Err(FeedError::Io(e)) => return Err(werr(e).into()),
            Err(FeedError::Fault) => return Err(fault().into()),
        };
        match r {
            Some(bytes) => {
                sink.write(&bytes, ctx)?;
                Ok(false)
            }
            None => Ok(true),
        }
    };
    let gone = || Error::invalid(src, "the compression thread stopped unexpectedly");
    let mut total = 0u64;
    loop {
        let piece = next_piece(src, input, size, &mut total)?;
        let n = piece.as_ref().map_or(0, |p| p.bytes().len());
        // `Some(None)` asks the feeder to end the frame. The message is taken only when the
        // send is the operation selected.
        let mut msg = Some(piece);
        // Hand the chunk over, writing out compressed data meanwhile; a cancel ends the wait.
        loop {
            crossbeam_channel::select! {
                send(in_tx, msg.take().flatten()) -> r => { r.map_err(|_| gone())?; break; }
                recv(out_rx) -> r => { write_out(r.map_err(|_| gone())?)?; }
                recv(cancelled) -> _ => { ctx.token.check()?; }
            }
        }
        if n == 0 {
            break;
        }
        ctx.chunk_done(n as u64)?;
    }
    loop {
        crossbeam_channel::select! {
            recv(out_rx) -> r => { if write_out(r.map_err(|_| gone())?)? { return Ok(total); } }
            recv(cancelled) -> _ => { ctx.token.check()?; }
        }
    }
}

/// Decompresses `src` to `to`. A file that is not zstd, or is truncated or corrupt (its
/// content checksum included), fails with a message naming it, and leaves no output. `long`
/// allows frames whose window is up to 2^N bytes (`--long=N`); without it, the zstd
/// default of 2^27. Returns the output's path (`None` for standard output or a test).
pub fn decompress(
    src: &Path,
    to: To<'_>,
    long: Option<u32>,
    overwrite: bool,
    ctx: &Ctx,
) -> Result<Option<PathBuf>, Stop> {
    let mut input = File::open(src).map_err(|e| Error::io(src, "open", e))?;
    let size = input
        .metadata()
        .map_err(|e| Error::io(src, "read", e))?
        .len();
    let rerr = |e| Error::io(src, "read", e);
    // Check the magic before creating anything, for a clear message.
    let mut head = [0u8; 4];
    let got = read_full(&mut input, &mut head).map_err(rerr)?;
    let skippable = got == 4 && (head[0] & 0xF0) == 0x50 && head[1..] == [0x2A, 0x4D, 0x18];
    if got < 4 || (head != ZSTD_MAGIC && !skippable) {
        return Err(Error::invalid(src, "not in zstd format").into());
    }
    let mut sink = Sink::new(to, overwrite, ctx)?;
    // Freeing the decoder's window and buffers unmaps memory: not on the worker.
    let mut dec = FreeLater::new(Decoder::new().map_err(rerr)?);
    if let Some(log) = long {
        dec.set_parameter(DParameter::WindowLogMax(log))
            .map_err(rerr)?;
    }
    let corrupt = |e: std::io::Error| decode_error(src, long, &e);
    let mut inbuf = FreeLater::new(vec![0u8; DECOMPRESS_IN_BYTES]);
    inbuf[..4].copy_from_slice(&head);
    let (mut pos, mut filled) = (0, 4);
    let mut consumed_total = 0u64;
    // zstd's hint: 0 right after a frame ends, non-zero while a frame still wants input.
    let mut hint = 1;
    loop {
        if pos == filled {
            filled = read_full(&mut input, &mut inbuf).map_err(rerr)?;
            pos = 0;
            if filled == 0 {
                break;
            }
        }
        let mut inb = InBuffer::around(&inbuf[..filled]);
        inb.set_pos(pos);
        let mut outb = OutBuffer::around(sink.spare());
        hint = dec.run(&mut inb, &mut outb).map_err(corrupt)?;
        let produced = outb.pos();
        sink.advance(produced, ctx)?;
        let used = inb.pos() - pos;
        pos = inb.pos();
        consumed_total += used as u64;
        ctx.chunk_done(used as u64)?;
    }
    // The input is all read; the decoder may still hold output for it. A call that
    // produces nothing says nothing about the frame (it would ask for the next header).
    loop {
        let mut outb = OutBuffer::around(sink.spare());
        let mut empty = InBuffer::around(&[][..]);
        let h = dec.run(&mut empty, &mut outb).map_err(corrupt)?;
        let produced = outb.pos();
        if produced == 0 {
            break;
        }
        hint = h;
        sink.advance(produced, ctx)?;
        ctx.token.check()?;
    }
    let frame_open = hint != 0;
    if frame_open {
        return Err(Error::invalid(src, "truncated zstd data (unexpected end of file)").into());
    }
    check_unchanged(src, size, consumed_total)?;
    sink.finish(ctx)
}

/// The error for data the decoder refused: a frame that needs a larger window than allowed
/// is valid data written with `--long`, and is said so; anything else is corrupt.
fn decode_error(src: &Path, long: Option<u32>, e: &std::io::Error) -> Error {
    let text = e.to_string();
    if text.contains("too much memory") || text.contains("indowLog") {
        let hint = match long {
            Some(n) => format!("a window larger than 2^{n} bytes"),
            None => "a window larger than 128 MiB".to_string(),
        };
        return Error::invalid(
            src,
            format!("written with --long: needs {hint} (decompress with --long=31)"),
        );
    }
    Error::invalid(src, format!("corrupt zstd data: {text}"))
}
