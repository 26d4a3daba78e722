//! Verification of files against checksum manifests.
//!
//! A manifest is read line by line with the stop signal checked at every line, through a
//! [`Stream`] when it is standard input or a fifo, so neither a slow pipe nor a fifo nobody
//! writes to can hold a cancel up. Lines are bounded in length, so memory is too.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use super::hash::{Algo, Hasher, chunk_bytes, hash_path};
use super::manifest::{Entry, Line, parse_line};
use super::stream::{Stream, is_stdin};
use super::{Ctx, Stop};
use crate::cancel::CancelToken;
use crate::error::Error;

/// The longest manifest line accepted: a name of `PATH_MAX` bytes, fully escaped, and the
/// longest digest fit with room to spare; anything longer is not a checksum manifest.
pub const MANIFEST_LINE_MAX_BYTES: usize = 64 * 1024;

/// Malformed lines whose numbers are kept for `--warn`; past this only the count grows.
const MALFORMED_LISTED: usize = 1000;

/// A manifest read whole: its entries in order and how many lines were not checksum lines.
#[derive(Debug, Default)]
pub struct Manifest {
    /// The checksum entries, in file order.
    pub entries: Vec<Entry>,
    /// Lines that were neither entries, comments nor blank.
    pub malformed: usize,
    /// The numbers (from 1) of the first thousand of those lines.
    pub malformed_lines: Vec<usize>,
}

/// How to read a manifest.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadManifest {
    /// Forces the algorithm of GNU-style lines; otherwise it is taken from the manifest's
    /// name (`SHA256SUMS`, `x.b3`) or, failing that, the digest length.
    pub algo: Option<Algo>,
    /// The manifest is a fifo or a device, read as a stream.
    pub stream: bool,
    /// Lines end with NUL instead of newline (`hash -z`).
    pub nul_lines: bool,
}

/// The algorithm of a manifest's GNU-style lines: `forced` (`-a`), else what its name says
/// (`SHA256SUMS`, `x.b3`); `None` leaves it to each line's digest length.
pub fn manifest_algo(path: &Path, forced: Option<Algo>) -> Option<Algo> {
    forced.or_else(|| {
        path.file_name()
            .and_then(|n| Algo::from_manifest_name(&n.to_string_lossy()))
    })
}

/// Reads a manifest (`-`: standard input). Stops at once when `token` is cancelled.
pub fn read_manifest(
    path: &Path,
    how: ReadManifest,
    token: &CancelToken,
) -> Result<Manifest, Stop> {
    let guess = manifest_algo(path, how.algo);
    let mut manifest = Manifest::default();
    let mut on_line = |number: usize, body: &[u8]| match parse_line(body, guess) {
        Line::Entry(e) => manifest.entries.push(e),
        Line::Blank => {}
        Line::Malformed => {
            manifest.malformed += 1;
            if manifest.malformed_lines.len() < MALFORMED_LISTED {
                manifest.malformed_lines.push(number);
            }
        }
    };
    let mut lines = Lines::new(path, if how.nul_lines { b'\0' } else { b'\n' });
    if how.stream || is_stdin(path) {
        let mut s = Stream::open(path)?;
        while let Some(chunk) = s.next(token)? {
            lines.feed(&chunk, token, &mut on_line)?;
        }
    } else {
        let mut file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        super::with_scratch(chunk_bytes(Algo::Sha256), |buf| -> Result<(), Stop> {
            loop {
                let n = match file.read(buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::io(path, "read", e).into()),
                };
                lines.feed(&buf[..n], token, &mut on_line)?;
            }
        })?;
    }
    lines.finish(&mut on_line);
    Ok(manifest)
}

/// Splits chunks into lines, holding at most one partial line of bounded length.
struct Lines<'a> {
    path: &'a Path,
    end: u8,
    partial: Vec<u8>,
    number: usize,
}

impl<'a> Lines<'a> {
    fn new(path: &'a Path, end: u8) -> Self {
        Lines {
            path,
            end,
            partial: Vec::new(),
            number: 0,
        }
    }

    fn too_long(&self) -> Stop {
        Error::invalid(
            self.path,
            format!(
                "line {} is longer than {} KiB: not a checksum manifest",
                self.number + 1,
                MANIFEST_LINE_MAX_BYTES / 1024
            ),
        )
        .into()
    }

    fn feed(
        &mut self,
        mut chunk: &[u8],
        token: &CancelToken,
        on_line: &mut impl FnMut(usize, &[u8]),
    ) -> Result<(), Stop> {
        while let Some(end) = chunk.iter().position(|&b| b == self.end) {
            token.check()?;
            if self.partial.len() + end > MANIFEST_LINE_MAX_BYTES {
                return Err(self.too_long());
            }
            self.number += 1;
            if self.partial.is_empty() {
                on_line(self.number, &chunk[..end]);
            } else {
                self.partial.extend_from_slice(&chunk[..end]);
                on_line(self.number, &self.partial);
                self.partial.clear();
            }
            chunk = &chunk[end + 1..];
        }
        if self.partial.len() + chunk.len() > MANIFEST_LINE_MAX_BYTES {
            return Err(self.too_long());
        }
        self.partial.extend_from_slice(chunk);
        Ok(())
    }

    fn finish(mut self, on_line: &mut impl FnMut(usize, &[u8])) {
        if !self.partial.is_empty() {
            on_line(self.number + 1, &std::mem::take(&mut self.partial));
        }
    }
}

/// Which of SHA-256 and BLAKE3 a manifest's bare 64-digit lines use, when neither a tag nor
/// the manifest's name says. Undecided until a file matches one of them; then kept for the
/// rest of that manifest.
#[derive(Debug, Default)]
pub struct Guess(AtomicU8);

const UNDECIDED: u8 = 0;

impl Guess {
    /// The algorithm decided so far.
    pub fn get(&self) -> Option<Algo> {
        // Relaxed: the value is a hint for later files; a file that misses it computes both.
        match self.0.load(Ordering::Relaxed) {
            1 => Some(Algo::Sha256),
            2 => Some(Algo::Blake3),
            _ => None,
        }
    }

    /// Records the algorithm a file matched; the first decision stays.
    fn decide(&self, algo: Algo) -> Algo {
        let code = if algo == Algo::Blake3 { 2 } else { 1 };
        // Relaxed: a single value with no other data published through it.
        match self
            .0
            .compare_exchange(UNDECIDED, code, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => algo,
            Err(_) => self.get().unwrap_or(algo),
        }
    }
}

/// What a manifest line expects of one file.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The algorithm named by the line, or the guess from its length.
    pub algo: Algo,
    /// The digest, lowercase hex.
    pub hex: String,
    /// Set when the line's length fits both SHA-256 and BLAKE3 and nothing else decided.
    pub guess: Option<Arc<Guess>>,
}

/// The result of checking one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the digest matched.
    pub ok: bool,
    /// The algorithm used; `None` when the manifest left SHA-256 or BLAKE3 open and neither
    /// matched.
    pub algo: Option<Algo>,
}

/// Hashes `path` (a stream if `stream`) and says whether it matches. A line whose algorithm
/// is still open is checked with SHA-256 and BLAKE3 in one read, and the one that matches
/// is kept for the rest of its manifest.
pub fn verify_file(path: &Path, want: &Expected, stream: bool, ctx: &Ctx) -> Result<Verdict, Stop> {
    let open = want.guess.as_ref().filter(|g| g.get().is_none());
    let Some(guess) = open else {
        let algo = want
            .guess
            .as_ref()
            .and_then(|g| g.get())
            .unwrap_or(want.algo);
        let got = super::hash::hash_file(path, algo, stream, ctx)?;
        return Ok(Verdict {
            ok: got == want.hex,
            algo: Some(algo),
        });
    };
    let mut both = Hasher::Pair(Box::new((
        Hasher::new(Algo::Sha256),
        Hasher::new(Algo::Blake3),
    )));
    hash_path(path, &mut both, chunk_bytes(Algo::Sha256), stream, ctx)?;
    let [sha, b3] = both.finish_pair();
    let matched = if sha == want.hex {
        Some(Algo::Sha256)
    } else if b3 == want.hex {
        Some(Algo::Blake3)
    } else {
        None
    };
    Ok(match matched {
        Some(algo) => {
            let kept = guess.decide(algo);
            // Another file decided first, for the other algorithm: this one is checked by
            // the manifest's rule, which it does not meet.
            Verdict {
                ok: kept == algo,
                algo: Some(kept),
            }
        }
        None => Verdict {
            ok: false,
            algo: guess.get(),
        },
    })
}
