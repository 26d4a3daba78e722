//! zstd compression and decompression, streamed in small pieces.
//!
//! Compression feeds the encoder a chunk at a time and checks the stop signal between
//! chunks; decompression bounds each step by the size of its output buffer, so even a tiny
//! input that expands enormously is checked often. Output goes through [`AtomicOutput`].

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

use super::hash::check_unchanged;
use super::{Ctx, Stop, read_full, with_scratch};
use crate::error::Error;
use crate::output::AtomicOutput;

/// Input fed to the encoder between two stop checks at levels up to 3 (~1 ms of work).
pub const COMPRESS_CHUNK_BYTES: usize = 256 * 1024;
/// Compressed input read per step when decompressing.
pub const DECOMPRESS_IN_BYTES: usize = 128 * 1024;
/// Decompressed output produced per step (and so between two stop checks).
pub const DECOMPRESS_OUT_BYTES: usize = 512 * 1024;
/// zstd's multithreaded job size: small jobs keep a cancel short, since freeing the encoder
/// waits for the jobs already handed to its threads.
pub const ZSTD_JOB_BYTES: u32 = 1024 * 1024;

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
    let mut name = src.file_name().map(|n| n.to_os_string()).unwrap_or_default();
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
        Err(Error::invalid(src, "unknown suffix, expected .zst or .tzst"))
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
    let size = input.metadata().map_err(|e| Error::io(src, "read", e))?.len();
    let mut out = AtomicOutput::create(dest, overwrite)?;
    let werr = |e| Error::io(dest, "write", e);
    let mut total = 0u64;
    {
        let mut enc = zstd::stream::write::Encoder::new(out.file(), level).map_err(werr)?;
        // The zstd CLI records the size in the frame header; so do we, when we know it.
        if size > 0 {
            enc.set_pledged_src_size(Some(size)).map_err(werr)?;
        }
        if threads > 1 {
            enc.multithread(threads).map_err(werr)?;
            enc.set_parameter(zstd::zstd_safe::CParameter::JobSize(ZSTD_JOB_BYTES))
                .map_err(werr)?;
        }
        with_scratch(compress_chunk_bytes(level), |buf| -> Result<(), Stop> {
            loop {
                let n = read_full(&mut input, buf).map_err(|e| Error::io(src, "read", e))?;
                if n == 0 {
                    return Ok(());
                }
                if size > 0 && total + n as u64 > size {
                    return Err(Error::Changed {
                        path: src.to_path_buf(),
                        expected: size,
                        got: total + n as u64,
                    }
                    .into());
                }
                enc.write_all(&buf[..n]).map_err(werr)?;
                total += n as u64;
                ctx.chunk_done(n as u64)?;
            }
        })?;
        check_unchanged(src, size, total)?;
        enc.finish().map_err(werr)?;
    }
    Ok(out.commit()?)
}

/// Decompresses `src` into `dest`. A file that is not zstd, or is truncated or corrupt,
/// fails with a message naming it, and leaves no output.
pub fn decompress(src: &Path, dest: &Path, overwrite: bool, ctx: &Ctx) -> Result<PathBuf, Stop> {
    let mut input = File::open(src).map_err(|e| Error::io(src, "open", e))?;
    let size = input.metadata().map_err(|e| Error::io(src, "read", e))?.len();
    let rerr = |e| Error::io(src, "read", e);
    // Check the magic before creating anything, for a clear message.
    let mut head = [0u8; 4];
    let got = read_full(&mut input, &mut head).map_err(rerr)?;
    let skippable = got == 4 && (head[0] & 0xF0) == 0x50 && head[1..] == [0x2A, 0x4D, 0x18];
    if got < 4 || (head != ZSTD_MAGIC && !skippable) {
        return Err(Error::invalid(src, "not in zstd format").into());
    }
    let mut out = AtomicOutput::create(dest, overwrite)?;
    let mut dec = Decoder::new().map_err(rerr)?;
    let corrupt = |e: std::io::Error| Error::invalid(src, format!("corrupt zstd data: {e}"));
    let mut outbuf = vec![0u8; DECOMPRESS_OUT_BYTES];
    let mut inbuf = vec![0u8; DECOMPRESS_IN_BYTES];
    inbuf[..4].copy_from_slice(&head);
    let (mut pos, mut filled) = (0, 4);
    let mut consumed_total = 0u64;
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
        let mut outb = OutBuffer::around(&mut outbuf[..]);
        dec.run(&mut inb, &mut outb).map_err(corrupt)?;
        let produced = outb.pos();
        out.file()
            .write_all(&outbuf[..produced])
            .map_err(|e| Error::io(dest, "write", e))?;
        let used = inb.pos() - pos;
        pos = inb.pos();
        consumed_total += used as u64;
        ctx.chunk_done(used as u64)?;
    }
    // The input is all read; the decoder may still hold output for it. Its last hint is 0
    // once the final frame is complete, non-zero while it still expects input.
    let frame_open = loop {
        let mut outb = OutBuffer::around(&mut outbuf[..]);
        let mut empty = InBuffer::around(&[][..]);
        let hint = dec.run(&mut empty, &mut outb).map_err(corrupt)?;
        let produced = outb.pos();
        if produced == 0 {
            break hint != 0;
        }
        out.file()
            .write_all(&outbuf[..produced])
            .map_err(|e| Error::io(dest, "write", e))?;
        ctx.token.check()?;
    };
    if frame_open {
        return Err(Error::invalid(src, "truncated zstd data (unexpected end of file)").into());
    }
    check_unchanged(src, size, consumed_total)?;
    Ok(out.commit()?)
}
