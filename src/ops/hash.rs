//! Checksums: SHA-256, BLAKE3, SHA-512, SHA-1, MD5, CRC-32 and XXH3, read in chunks.
//!
//! SHA-1/256/512 come from `ring`, whose assembly uses the CPU's SHA extensions where present;
//! BLAKE3 uses its SIMD code and every core: a mapped file in batches of subtrees that the
//! pool threads take in turn ([`super::blake3_tree`]), checking for a cancel after each.

use std::fmt;
use std::fs::File;
use std::path::Path;
use std::str::FromStr;

use super::mapped::Pieces;
use super::{Ctx, Stop, read_full, with_scratch};
use crate::error::Error;
use crate::output::FreeLater;

/// Bytes read and hashed between two stop checks. At SHA-256's ~2 GB/s and MD5's ~0.7 GB/s
/// this is well under a millisecond of work.
pub const HASH_CHUNK_BYTES: usize = 256 * 1024;
/// BLAKE3 hashes a mapped file in pieces of one subtree each (~0.25 ms on one core).
pub const BLAKE3_CHUNK_BYTES: usize = super::blake3_tree::UNIT;
/// Mapped BLAKE3 pieces hashed in parallel between two meetings of the pool threads.
const BLAKE3_BATCH: usize = 128;

/// A checksum algorithm.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Algo {
    /// SHA-256, as `sha256sum`.
    #[default]
    Sha256,
    /// BLAKE3, as `b3sum`.
    Blake3,
    /// SHA-512, as `sha512sum`.
    Sha512,
    /// SHA-224, as `sha224sum`.
    Sha224,
    /// SHA-384, as `sha384sum`.
    Sha384,
    /// SHA-1, as `sha1sum`.
    Sha1,
    /// MD5, as `md5sum`.
    Md5,
    /// CRC-32 (IEEE), as the `crc32` tool.
    Crc32,
    /// XXH3, 64-bit, as `xxh3sum`.
    Xxh3,
}

impl Algo {
    /// Every algorithm, in the order menus show them.
    pub const ALL: [Algo; 9] = [
        Algo::Sha256,
        Algo::Blake3,
        Algo::Sha512,
        Algo::Sha224,
        Algo::Sha384,
        Algo::Sha1,
        Algo::Md5,
        Algo::Crc32,
        Algo::Xxh3,
    ];

    /// The lowercase name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Sha256 => "sha256",
            Algo::Blake3 => "blake3",
            Algo::Sha512 => "sha512",
            Algo::Sha224 => "sha224",
            Algo::Sha384 => "sha384",
            Algo::Sha1 => "sha1",
            Algo::Md5 => "md5",
            Algo::Crc32 => "crc32",
            Algo::Xxh3 => "xxh3",
        }
    }

    /// The name in BSD-style (`--tag`) lines, as coreutils writes it.
    pub fn tag(self) -> &'static str {
        match self {
            Algo::Sha256 => "SHA256",
            Algo::Blake3 => "BLAKE3",
            Algo::Sha512 => "SHA512",
            Algo::Sha224 => "SHA224",
            Algo::Sha384 => "SHA384",
            Algo::Sha1 => "SHA1",
            Algo::Md5 => "MD5",
            Algo::Crc32 => "CRC32",
            Algo::Xxh3 => "XXH3",
        }
    }

    /// Length of the digest in hex digits.
    pub fn hex_len(self) -> usize {
        match self {
            Algo::Sha256 | Algo::Blake3 => 64,
            Algo::Sha512 => 128,
            Algo::Sha224 => 56,
            Algo::Sha384 => 96,
            Algo::Sha1 => 40,
            Algo::Md5 => 32,
            Algo::Crc32 => 8,
            Algo::Xxh3 => 16,
        }
    }

    /// The usual extension of a manifest file (`.sha256`, `.b3`…).
    pub fn extension(self) -> &'static str {
        match self {
            Algo::Blake3 => "b3",
            other => other.name(),
        }
    }

    /// The algorithm a BSD-style tag names, if any.
    pub fn from_tag(tag: &str) -> Option<Algo> {
        Algo::ALL
            .into_iter()
            .find(|a| a.tag().eq_ignore_ascii_case(tag))
    }

    /// Guesses the algorithm from a manifest's file name (`SHA256SUMS`, `x.b3`, `a.md5`…).
    pub fn from_manifest_name(name: &str) -> Option<Algo> {
        let n = name.to_ascii_lowercase();
        // Longest names first: "sha1" is a prefix of neither, but "b3" hides in many words,
        // so it is only taken as the extension.
        for (needle, algo) in [
            ("sha256", Algo::Sha256),
            ("sha512", Algo::Sha512),
            ("sha224", Algo::Sha224),
            ("sha384", Algo::Sha384),
            ("sha1", Algo::Sha1),
            ("md5", Algo::Md5),
            ("blake3", Algo::Blake3),
            ("b3sum", Algo::Blake3),
            ("crc32", Algo::Crc32),
            ("xxh3", Algo::Xxh3),
        ] {
            if n.contains(needle) {
                return Some(algo);
            }
        }
        if n.ends_with(".b3") {
            return Some(Algo::Blake3);
        }
        None
    }
}

impl fmt::Display for Algo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algo {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.to_ascii_lowercase();
        Algo::ALL
            .into_iter()
            .find(|a| a.name() == s || (s == "b3" && *a == Algo::Blake3))
            .ok_or_else(|| {
                let names: Vec<_> = Algo::ALL.iter().map(|a| a.name()).collect();
                format!("unknown algorithm '{s}' (choose from {})", names.join(", "))
            })
    }
}

/// A running checksum.
pub enum Hasher {
    /// SHA-1, SHA-256, SHA-384, SHA-512.
    Ring(ring::digest::Context),
    /// SHA-224.
    Sha224(Box<sha2::Sha224>),
    /// BLAKE3.
    Blake3(Box<super::blake3_tree::Blake3Tree>),
    /// MD5.
    Md5(super::md5::Md5),
    /// CRC-32.
    Crc32(crc32fast::Hasher),
    /// XXH3-64.
    Xxh3(Box<xxhash_rust::xxh3::Xxh3>),
    /// Two algorithms fed from one read (a manifest line that fits both).
    Pair(Box<(Hasher, Hasher)>),
}

impl Hasher {
    /// A fresh hasher for `algo`.
    pub fn new(algo: Algo) -> Self {
        use ring::digest;
        match algo {
            Algo::Sha256 => Hasher::Ring(digest::Context::new(&digest::SHA256)),
            Algo::Sha512 => Hasher::Ring(digest::Context::new(&digest::SHA512)),
            Algo::Sha384 => Hasher::Ring(digest::Context::new(&digest::SHA384)),
            Algo::Sha224 => Hasher::Sha224(Box::default()),
            Algo::Sha1 => Hasher::Ring(digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY)),
            Algo::Blake3 => Hasher::Blake3(Box::default()),
            Algo::Md5 => Hasher::Md5(super::md5::Md5::new()),
            Algo::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
            Algo::Xxh3 => Hasher::Xxh3(Box::default()),
        }
    }

    /// Feeds bytes. BLAKE3 uses every core for pieces of 128 KiB or more.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Ring(c) => c.update(data),
            Hasher::Sha224(h) => sha2::Digest::update(&mut **h, data),
            Hasher::Blake3(h) => h.update(data),
            Hasher::Md5(h) => h.update(data),
            Hasher::Crc32(h) => h.update(data),
            Hasher::Xxh3(h) => h.update(data),
            Hasher::Pair(p) => {
                p.0.update(data);
                p.1.update(data);
            }
        }
    }

    /// The digests of a [`Hasher::Pair`], in its order; any other hasher's digest twice.
    pub fn finish_pair(self) -> [String; 2] {
        match self {
            Hasher::Pair(p) => {
                let (a, b) = *p;
                [a.finish_hex(), b.finish_hex()]
            }
            other => {
                let hex = other.finish_hex();
                [hex.clone(), hex]
            }
        }
    }

    /// The digest in lowercase hex.
    pub fn finish_hex(self) -> String {
        match self {
            Hasher::Ring(c) => to_hex(c.finish().as_ref()),
            Hasher::Sha224(h) => to_hex(&sha2::Digest::finalize(*h)),
            Hasher::Blake3(h) => h.finalize().to_hex().to_string(),
            Hasher::Md5(h) => to_hex(&h.finalize()),
            Hasher::Crc32(h) => format!("{:08x}", h.finalize()),
            Hasher::Xxh3(h) => format!("{:016x}", h.digest()),
            Hasher::Pair(p) => {
                let (a, b) = *p;
                format!("{}:{}", a.finish_hex(), b.finish_hex())
            }
        }
    }
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// The chunk size used for `algo`.
pub fn chunk_bytes(algo: Algo) -> usize {
    if algo == Algo::Blake3 {
        BLAKE3_CHUNK_BYTES
    } else {
        HASH_CHUNK_BYTES
    }
}

pub use super::mapped::MAP_MIN_BYTES;

/// Hashes the file at `path`, checking `ctx` between chunks. Fails if the file shrinks,
/// grows or disappears while it is read.
/// `stream` says the path is standard input (`-`), a fifo or a device, as the walker saw.
pub fn hash_file(path: &Path, algo: Algo, stream: bool, ctx: &Ctx) -> Result<String, Stop> {
    let mut hasher = Hasher::new(algo);
    hash_path(path, &mut hasher, chunk_bytes(algo), stream, ctx)?;
    Ok(hasher.finish_hex())
}

/// Feeds what `path` names to `hasher`: a regular file as [`hash_reader`] does, and a
/// stream (standard input, a fifo, a device) through a [`super::stream::Stream`], whose
/// open and reads a cancel never waits for. Returns the bytes hashed.
pub fn hash_path(
    path: &Path,
    hasher: &mut Hasher,
    chunk: usize,
    stream: bool,
    ctx: &Ctx,
) -> Result<u64, Stop> {
    if stream {
        let mut stream = super::stream::Stream::open(path)?;
        return stream.for_each(ctx, |b| hasher.update(b));
    }
    let mut file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    hash_reader(path, &mut file, hasher, chunk, ctx)
}

/// Feeds the whole of an open file to `hasher` in chunks of `chunk` bytes, checking `ctx`
/// between chunks, and checks that the file neither changed size nor vanished meanwhile.
/// Big regular files are mapped rather than read. Returns the number of bytes hashed.
pub fn hash_reader(
    path: &Path,
    file: &mut File,
    hasher: &mut Hasher,
    chunk: usize,
    ctx: &Ctx,
) -> Result<u64, Stop> {
    let meta = file.metadata().map_err(|e| Error::io(path, "read", e))?;
    let expected = meta.len();
    let mut pieces = Pieces::new(path, file, &meta, chunk);
    if let (Hasher::Blake3(tree), true) = (&mut *hasher, pieces.maps()) {
        // Run on the pool, so the batches' work is shared without waking a pool thread and
        // putting this one to sleep for each of them.
        rayon_core::scope(|_| feed_blake3_batches(tree, &mut pieces, ctx))?;
    } else {
        while let Some(piece) = pieces.next_mapped()? {
            hasher.update(piece.bytes());
            if piece.faulted() {
                return Err(pieces.fault().into());
            }
            ctx.chunk_done(piece.bytes().len() as u64)?;
        }
    }
    // Whatever was not mapped (a small file, a window that could not be, growth) is read;
    // `next_mapped` left the file positioned there.
    let mut total = pieces.pos();
    drop(pieces);
    // BLAKE3's big chunks pay off only when mapped; a read buffer that size would cost a
    // page fault per 4 KiB the first time, even for an empty file.
    let read_chunk = chunk.min(HASH_CHUNK_BYTES);
    total += feed_all(path, file, hasher, read_chunk, ctx)?;
    if total == expected && expected <= read_chunk as u64 {
        // Read whole in one call: nothing could change or vanish "while" it was read, and
        // a look at its name again would be the largest cost of hashing a small file.
        return Ok(total);
    }
    check_unchanged(path, expected, total)?;
    Ok(total)
}

/// Feeds the mapped part of a file to a BLAKE3 tree, [`BLAKE3_BATCH`] pieces at a time.
fn feed_blake3_batches(
    tree: &mut super::blake3_tree::Blake3Tree,
    pieces: &mut Pieces<'_>,
    ctx: &Ctx,
) -> Result<(), Stop> {
    loop {
        // Pieces keep their window mapped; unmapping waits for the process's memory-map
        // lock, so the last holder of a window must not be this worker.
        let mut batch = FreeLater::new(Vec::with_capacity(BLAKE3_BATCH));
        while batch.len() < BLAKE3_BATCH {
            match pieces.next_mapped()? {
                Some(p) => batch.push(p),
                None => break,
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        let slices: Vec<&[u8]> = batch.iter().map(|p| p.bytes()).collect();
        tree.update_pieces(&slices, ctx)?;
        // The batch was taken before it was read, so `next_mapped` checked its windows too
        // early; a read that met a truncation shows only now.
        if batch.iter().any(|p| p.faulted()) {
            return Err(pieces.fault().into());
        }
    }
}

/// Feeds the rest of an open file to `hasher` in chunks of `chunk` bytes, checking `ctx`
/// between chunks. Returns the number of bytes read.
pub fn feed_all(
    path: &Path,
    file: &mut File,
    hasher: &mut Hasher,
    chunk: usize,
    ctx: &Ctx,
) -> Result<u64, Stop> {
    let mut total = 0u64;
    with_scratch(chunk, |buf| -> Result<(), Stop> {
        loop {
            let n = read_full(file, buf).map_err(|e| Error::io(path, "read", e))?;
            if n == 0 {
                return Ok(());
            }
            hasher.update(&buf[..n]);
            total += n as u64;
            ctx.chunk_done(n as u64)?;
            if n < buf.len() {
                return Ok(());
            }
        }
    })?;
    Ok(total)
}

/// Fails when a file read as `got` bytes was `expected` bytes at open, has another size
/// now (a truncation that zero-filled part of a mapped window the reader had already left
/// behind shows here), or is gone. Files that report size 0 (`/proc`, some FUSE files) are
/// taken as they read.
pub(crate) fn check_unchanged(path: &Path, expected: u64, got: u64) -> Result<(), Error> {
    let changed = |got| Error::Changed {
        path: path.to_path_buf(),
        expected,
        got,
    };
    if expected != 0 && expected != got {
        return Err(changed(got));
    }
    // One `stat` per file in the usual case; the name itself is looked at only when what
    // it points to is gone (a symlink left dangling still counts as there, as before).
    match std::fs::metadata(path) {
        Ok(m) if expected != 0 && m.is_file() && m.len() != expected => Err(changed(m.len())),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && std::fs::symlink_metadata(path)
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
        {
            Err(Error::invalid(path, "file was removed while being read"))
        }
        _ => Ok(()),
    }
}
