//! Verification of files against checksum manifests.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::hash::{Algo, hash_file};
use super::manifest::{Entry, Line, parse_line};
use super::{Ctx, Stop};
use crate::error::Error;

/// A manifest read whole: its entries in order and how many lines were not checksum lines.
#[derive(Debug, Default)]
pub struct Manifest {
    /// The checksum entries, in file order.
    pub entries: Vec<Entry>,
    /// Lines that were neither entries, comments nor blank.
    pub malformed: usize,
}

/// Reads a manifest. `algo` forces the algorithm of GNU-style lines; otherwise it is taken
/// from the manifest's name (`SHA256SUMS`, `x.b3`) or, failing that, the digest length.
pub fn read_manifest(path: &Path, algo: Option<Algo>) -> Result<Manifest, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let guess = algo.or_else(|| {
        path.file_name()
            .and_then(|n| Algo::from_manifest_name(&n.to_string_lossy()))
    });
    let mut reader = BufReader::new(file);
    let mut manifest = Manifest::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(path, "read", e))?;
        if n == 0 {
            break;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        match parse_line(body, guess) {
            Line::Entry(e) => manifest.entries.push(e),
            Line::Blank => {}
            Line::Malformed => manifest.malformed += 1,
        }
    }
    Ok(manifest)
}

/// Hashes `path` and says whether it matches `expected` (lowercase hex).
pub fn verify_file(path: &Path, algo: Algo, expected: &str, ctx: &Ctx) -> Result<bool, Stop> {
    let got = hash_file(path, algo, ctx)?;
    Ok(got == expected)
}
