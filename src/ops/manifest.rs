//! Checksum lines: writing them byte for byte as `sha256sum` and `b3sum` do, and reading GNU,
//! BSD-tag and b3sum manifests.
//!
//! Names holding a backslash or a newline (and, for coreutils, a carriage return) are written
//! escaped, with a backslash in front of the line, exactly as coreutils does; names are
//! otherwise written as raw bytes, so non-UTF-8 names survive. `b3sum` writes names lossily
//! as UTF-8 and does not escape carriage returns; Ripcord matches it for BLAKE3.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::hash::Algo;

/// How checksum lines are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// `HEX  NAME` (coreutils, b3sum).
    #[default]
    Gnu,
    /// `ALGO (NAME) = HEX` (`--tag`).
    Tag,
}

/// The bytes of a name as the tool for `algo` prints them.
fn name_bytes(path: &Path, algo: Algo) -> Vec<u8> {
    if algo == Algo::Blake3 {
        path.to_string_lossy().into_owned().into_bytes()
    } else {
        path.as_os_str().as_bytes().to_vec()
    }
}

/// Escapes a name the way the tool for `algo` does; the flag says whether it needed it.
pub fn escape_name(path: &Path, algo: Algo) -> (Vec<u8>, bool) {
    let raw = name_bytes(path, algo);
    let escape_cr = algo != Algo::Blake3;
    let needs = raw
        .iter()
        .any(|&b| b == b'\\' || b == b'\n' || (escape_cr && b == b'\r'));
    if !needs {
        return (raw, false);
    }
    let mut out = Vec::with_capacity(raw.len() + 4);
    for b in raw {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' if escape_cr => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
    (out, true)
}

/// One checksum line, newline included, as `sha256sum`/`b3sum` (or `--tag`) print it.
pub fn format_line(path: &Path, algo: Algo, hex: &str, style: Style) -> Vec<u8> {
    let (name, escaped) = escape_name(path, algo);
    let mut line = Vec::with_capacity(name.len() + hex.len() + 16);
    if escaped {
        line.push(b'\\');
    }
    match style {
        Style::Gnu => {
            line.extend_from_slice(hex.as_bytes());
            line.extend_from_slice(b"  ");
            line.extend_from_slice(&name);
        }
        Style::Tag => {
            line.extend_from_slice(algo.tag().as_bytes());
            line.extend_from_slice(b" (");
            line.extend_from_slice(&name);
            line.extend_from_slice(b") = ");
            line.extend_from_slice(hex.as_bytes());
        }
    }
    line.push(b'\n');
    line
}

/// A name as `sha256sum -c` prints it in `NAME: OK` lines: coreutils escapes it (with a
/// leading backslash) only when it holds a newline.
pub fn display_name(path: &Path) -> Vec<u8> {
    let raw = path.as_os_str().as_bytes();
    if !raw.contains(&b'\n') {
        return raw.to_vec();
    }
    let (name, _) = escape_name(path, Algo::Sha256);
    let mut v = Vec::with_capacity(name.len() + 1);
    v.push(b'\\');
    v.extend_from_slice(&name);
    v
}

/// One entry read from a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file named, as written (relative names are relative to the verifier's base).
    pub path: PathBuf,
    /// The expected digest, lowercase hex.
    pub hex: String,
    /// The algorithm, from the line's tag or the caller's guess.
    pub algo: Algo,
}

/// What one manifest line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A checksum entry.
    Entry(Entry),
    /// A comment or an empty line, ignored as coreutils does.
    Blank,
    /// Not a checksum line.
    Malformed,
}

/// Parses one manifest line (without its newline). `default` is the algorithm to assume for
/// GNU-style lines; `None` guesses from the digest's length (64 hex digits: SHA-256).
pub fn parse_line(line: &[u8], default: Option<Algo>) -> Line {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.first() == Some(&b'#') {
        return Line::Blank;
    }
    let trimmed = trim_start(line);
    if trimmed.is_empty() {
        return Line::Blank;
    }
    let (escaped, body) = match trimmed.strip_prefix(b"\\") {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let parsed = parse_tag(body).or_else(|| parse_gnu(body, default));
    let Some((algo, hex, raw_name)) = parsed else {
        return Line::Malformed;
    };
    if hex.len() != algo.hex_len() || !hex.iter().all(u8::is_ascii_hexdigit) || raw_name.is_empty()
    {
        return Line::Malformed;
    }
    let name = if escaped {
        match unescape(raw_name) {
            Some(n) => n,
            None => return Line::Malformed,
        }
    } else {
        raw_name.to_vec()
    };
    Line::Entry(Entry {
        path: PathBuf::from(OsString::from_vec(name)),
        hex: String::from_utf8_lossy(hex).to_ascii_lowercase(),
        algo,
    })
}

fn trim_start(s: &[u8]) -> &[u8] {
    let i = s
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(s.len());
    &s[i..]
}

/// `ALGO (NAME) = HEX`
fn parse_tag(s: &[u8]) -> Option<(Algo, &[u8], &[u8])> {
    let open = s.iter().position(|&b| b == b'(')?;
    let tag = std::str::from_utf8(&s[..open]).ok()?.trim_end();
    let algo = Algo::from_tag(tag)?;
    let close = s.windows(4).rposition(|w| w == b") = ")?;
    if close < open + 1 {
        return None;
    }
    Some((algo, &s[close + 4..], &s[open + 1..close]))
}

/// `HEX  NAME`, `HEX *NAME` or `HEX NAME`
fn parse_gnu(s: &[u8], default: Option<Algo>) -> Option<(Algo, &[u8], &[u8])> {
    let hex_end = s.iter().position(|b| !b.is_ascii_hexdigit())?;
    let hex = &s[..hex_end];
    let rest = s[hex_end..].strip_prefix(b" ")?;
    let name = match rest.first() {
        Some(b' ') | Some(b'*') => &rest[1..],
        _ => rest,
    };
    let algo = match default {
        Some(a) => a,
        None => match hex.len() {
            64 => Algo::Sha256,
            128 => Algo::Sha512,
            40 => Algo::Sha1,
            32 => Algo::Md5,
            16 => Algo::Xxh3,
            8 => Algo::Crc32,
            _ => return None,
        },
    };
    Some((algo, hex, name))
}

fn unescape(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter();
    while let Some(&b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next()? {
            b'\\' => out.push(b'\\'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(line: &[u8]) -> Entry {
        match parse_line(line, None) {
            Line::Entry(e) => e,
            other => panic!("not an entry: {other:?}"),
        }
    }

    #[test]
    fn round_trip_awkward_names() {
        let hex = "a".repeat(64);
        for name in [
            &b"plain"[..],
            b"sp ace",
            b"back\\slash",
            b"new\nline",
            b"cr\rx",
            b"\xff\xfe",
        ] {
            let p = PathBuf::from(OsString::from_vec(name.to_vec()));
            for style in [Style::Gnu, Style::Tag] {
                let line = format_line(&p, Algo::Sha256, &hex, style);
                let e = entry(&line[..line.len() - 1]);
                assert_eq!(e.path, p);
                assert_eq!(e.hex, hex);
            }
        }
    }

    #[test]
    fn gnu_layouts() {
        let hex = "0".repeat(32);
        assert_eq!(
            entry(format!("{hex} *bin").as_bytes()).path,
            PathBuf::from("bin")
        );
        assert_eq!(entry(format!("{hex} one").as_bytes()).algo, Algo::Md5);
        assert_eq!(parse_line(b"# comment", None), Line::Blank);
        assert_eq!(parse_line(b"", None), Line::Blank);
        assert_eq!(parse_line(b"zzz  file", None), Line::Malformed);
        assert_eq!(
            parse_line(format!("{hex}  ").as_bytes(), None),
            Line::Malformed
        );
        let e = entry(format!("BLAKE3 (x (1).txt) = {}", "b".repeat(64)).as_bytes());
        assert_eq!((e.algo, e.path), (Algo::Blake3, PathBuf::from("x (1).txt")));
    }

    #[test]
    fn blake3_like_b3sum() {
        let p = PathBuf::from(OsString::from_vec(b"cr\rx\\".to_vec()));
        let line = format_line(&p, Algo::Blake3, "00", Style::Gnu);
        assert_eq!(line, b"\\00  cr\rx\\\\\n");
    }
}
