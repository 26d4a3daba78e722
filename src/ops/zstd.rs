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
use zstd::zstd_safe::CParameter;

use super::hash::check_unchanged;
use super::mapped::{Piece, Pieces};
use super::pipe::Writer;
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

/// Compresses `src` into `dest` at `level` with `threads` zstd threads (1 = none).
pub fn compress(
    src: &Path,
    dest: &Path,
    level: i32,
    threads: u32,
    overwrite: bool,
    ctx: &Ctx,
) -> Result<PathBuf, Stop> {
    let mut input = File::open(src).map_err(|e| Error::io(src, "open", e))?;
    let meta = input.metadata().map_err(|e| Error::io(src, "read", e))?;
    let size = meta.len();
    let mut out = AtomicOutput::create(dest, overwrite)?;
    let werr = |e| Error::io(dest, "write", e);
    let mut enc = Encoder::new(level).map_err(werr)?;
    // The zstd CLI records the size in the frame header; so do we, when we know it.
    if size > 0 {
        enc.set_pledged_src_size(Some(size)).map_err(werr)?;
    }
    let chunk = compress_chunk_bytes(level);
    let mut input = Pieces::new(src, &mut input, &meta, chunk);
    let mut sink = Sink {
        writer: Writer::new(&out),
        out: &mut out,
    };
    let total = if threads > 1 {
        enc.set_parameter(CParameter::NbWorkers(threads))
            .map_err(werr)?;
        encode_threaded(src, dest, &mut input, size, enc, &mut sink, ctx)?
    } else {
        // Freeing the encoder's buffers unmaps memory: not on the worker.
        let mut enc = FreeLater::new(enc);
        encode_inline(src, dest, &mut input, size, &mut enc, &mut sink, ctx)?
    };
    check_unchanged(src, size, total)?;
    sink.writer.finish(sink.out, ctx)?;
    Ok(out.commit()?)
}

/// Where compressed bytes go: the output's background writer.
struct Sink<'a> {
    writer: Writer,
    out: &'a mut AtomicOutput,
}

/// Runs `data` through the encoder (or, if `data` is `None`, ends the frame), straight into
/// the writer's buffers.
fn feed_into(
    enc: &mut Encoder<'static>,
    data: Option<&[u8]>,
    sink: &mut Sink<'_>,
    dest: &Path,
    ctx: &Ctx,
) -> Result<(), Stop> {
    let werr = |e| Error::io(dest, "write", e);
    match data {
        Some(data) => {
            let mut inb = InBuffer::around(data);
            while inb.pos() < data.len() {
                let mut outb = OutBuffer::around(sink.writer.spare());
                enc.run(&mut inb, &mut outb).map_err(werr)?;
                let produced = outb.pos();
                sink.writer.advance(produced, sink.out, ctx)?;
            }
        }
        None => loop {
            let mut outb = OutBuffer::around(sink.writer.spare());
            let remaining = enc.finish(&mut outb, true).map_err(werr)?;
            let produced = outb.pos();
            sink.writer.advance(produced, sink.out, ctx)?;
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
    sink: &mut Sink<'_>,
    ctx: &Ctx,
) -> Result<u64, Stop> {
    let mut total = 0u64;
    while let Some(piece) = next_piece(src, input, size, &mut total)? {
        feed_into(enc, Some(piece.bytes()), sink, dest, ctx)?;
        ctx.chunk_done(piece.bytes().len() as u64)?;
    }
    feed_into(enc, None, sink, dest, ctx)?;
    Ok(total)
}

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
    sink: &mut Sink<'_>,
    ctx: &Ctx,
) -> Result<u64, Stop> {
    let werr = |e| Error::io(dest, "write", e);
    // In: chunks to compress (`None` ends the frame). Out: compressed bytes, then `None`.
    let (in_tx, in_rx) = crossbeam_channel::bounded::<Option<Piece>>(2);
    let (out_tx, out_rx) = crossbeam_channel::bounded::<std::io::Result<Option<Vec<u8>>>>(4);
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
    let mut write_out = |r: std::io::Result<Option<Vec<u8>>>| -> Result<bool, Stop> {
        match r.map_err(werr)? {
            Some(bytes) => {
                sink.writer.write(&bytes, sink.out, ctx)?;
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

/// Decompresses `src` into `dest`. A file that is not zstd, or is truncated or corrupt,
/// fails with a message naming it, and leaves no output.
pub fn decompress(src: &Path, dest: &Path, overwrite: bool, ctx: &Ctx) -> Result<PathBuf, Stop> {
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
    let mut out = AtomicOutput::create(dest, overwrite)?;
    // Freeing the decoder's window and buffers unmaps memory: not on the worker.
    let mut dec = FreeLater::new(Decoder::new().map_err(rerr)?);
    let corrupt = |e: std::io::Error| Error::invalid(src, format!("corrupt zstd data: {e}"));
    let mut writer = Writer::new(&out);
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
        let mut outb = OutBuffer::around(writer.spare());
        hint = dec.run(&mut inb, &mut outb).map_err(corrupt)?;
        let produced = outb.pos();
        writer.advance(produced, &mut out, ctx)?;
        let used = inb.pos() - pos;
        pos = inb.pos();
        consumed_total += used as u64;
        ctx.chunk_done(used as u64)?;
    }
    // The input is all read; the decoder may still hold output for it. A call that
    // produces nothing says nothing about the frame (it would ask for the next header).
    loop {
        let mut outb = OutBuffer::around(writer.spare());
        let mut empty = InBuffer::around(&[][..]);
        let h = dec.run(&mut empty, &mut outb).map_err(corrupt)?;
        let produced = outb.pos();
        if produced == 0 {
            break;
        }
        hint = h;
        writer.advance(produced, &mut out, ctx)?;
        ctx.token.check()?;
    }
    let frame_open = hint != 0;
    if frame_open {
        return Err(Error::invalid(src, "truncated zstd data (unexpected end of file)").into());
    }
    check_unchanged(src, size, consumed_total)?;
    writer.finish(&mut out, ctx)?;
    Ok(out.commit()?)
}
