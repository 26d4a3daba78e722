//! Checksum lines: writing them byte for byte as `sha256sum` and `b3sum` do, and reading GNU,
//! BSD-tag and b3sum manifests.
//!
//! Names holding a backslash, a newline or a carriage return are written escaped, with a
//! backslash in front of the line, exactly as coreutils and current `b3sum` do; names are
//! otherwise written as raw bytes, so non-UTF-8 names survive. `b3sum` writes names lossily
//! as UTF-8; Ripcord matches it for BLAKE3.
//!
//! Reading takes GNU lines (`HEX  NAME`), BSD tags (`SHA256 (NAME) = HEX`) and OpenSSL's
//! `openssl dgst` lines (`SHA256(NAME)= HEX`, `SHA2-256(NAME)= HEX`).

use std::borrow::Cow;
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

/// The comment that opens a manifest saved after a cancel: what it lists is only part of the
/// job, and says why. One wording for the command line and the window; `sha256sum -c` and
/// `verify` skip it as a comment.
pub fn partial_header(reason: crate::cancel::Reason, listed: usize, of: Option<usize>) -> Vec<u8> {
    let of = of.map_or_else(|| "the files".to_string(), |n| format!("{n} files"));
    format!("# partial: cancelled ({reason}); {listed} of {of} are listed\n").into_bytes()
}

/// The bytes of a name as the tool for `algo` prints them.
/// Borrowed unless `b3sum`'s lossy UTF-8 changes it.
fn name_bytes(path: &Path, algo: Algo) -> Cow<'_, [u8]> {
    let raw = path.as_os_str().as_bytes();
    // `from_utf8` first: its check is much faster than the lossy conversion's for the
    // valid names that nearly every name is (a million lines in a big folder).
    if algo != Algo::Blake3 || std::str::from_utf8(raw).is_ok() {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(String::from_utf8_lossy(raw).into_owned().into_bytes())
    }
}

/// Escapes a name the way the tool for `algo` does; the flag says whether it needed it.
pub fn escape_name(path: &Path, algo: Algo) -> (Cow<'_, [u8]>, bool) {
    let raw = name_bytes(path, algo);
    let needs = raw.iter().any(|&b| b == b'\\' || b == b'\n' || b == b'\r');
    if !needs {
        return (raw, false);
    }
    let mut out = Vec::with_capacity(raw.len() + 4);
    for &b in raw.iter() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
    (Cow::Owned(out), true)
}

/// One checksum line, newline included, as `sha256sum`/`b3sum` (or `--tag`) print it.
pub fn format_line(path: &Path, algo: Algo, hex: &str, style: Style) -> Vec<u8> {
    format_line_as(path, algo, hex, style, Layout::default())
}

/// What `hash` prints besides the style: a NUL after each line instead of a newline, with
/// names not escaped (`-z`, as `sha256sum -z`), or the digest alone (`--no-names`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    /// End lines with NUL and write names raw.
    pub zero: bool,
    /// Leave the names out.
    pub no_names: bool,
}

/// One checksum line as [`format_line`], laid out as `layout` says.
pub fn format_line_as(path: &Path, algo: Algo, hex: &str, style: Style, layout: Layout) -> Vec<u8> {
    let end = if layout.zero { b'\0' } else { b'\n' };
    if layout.no_names {
        let mut line = hex.as_bytes().to_vec();
        line.push(end);
        return line;
    }
    let (name, escaped) = if layout.zero {
        (name_bytes(path, algo), false)
    } else {
        escape_name(path, algo)
    };
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
    line.push(end);
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
    /// Only the digest's length chose `algo`, and that length fits more than one algorithm
    /// (64 digits: SHA-256 or BLAKE3).
    pub ambiguous: bool,
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
    let Some((algo, hex, raw_name, ambiguous)) = parsed else {
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
        ambiguous,
    })
}

fn trim_start(s: &[u8]) -> &[u8] {
    let i = s
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(s.len());
    &s[i..]
}

/// A parsed line: algorithm, digest, raw name, and whether the algorithm is a guess from an
/// ambiguous length.
type Parsed<'a> = (Algo, &'a [u8], &'a [u8], bool);

/// `ALGO (NAME) = HEX` (BSD, `--tag`) or `ALGO(NAME)= HEX` (`openssl dgst`).
fn parse_tag(s: &[u8]) -> Option<Parsed<'_>> {
    let open = s.iter().position(|&b| b == b'(')?;
    let tag = std::str::from_utf8(&s[..open]).ok()?.trim_end();
    let algo = Algo::from_tag(tag).or_else(|| openssl_tag(tag))?;
    // The digest is the last field, so the name ends at the last `) = ` (or `)= `).
    let (close, sep) = match s.windows(4).rposition(|w| w == b") = ") {
        Some(i) => (i, 4),
        None => (s.windows(3).rposition(|w| w == b")= ")?, 3),
    };
    if close < open + 1 {
        return None;
    }
    Some((algo, &s[close + sep..], &s[open + 1..close], false))
}

/// The names OpenSSL 3 gives the SHA-2 family (`SHA2-256`); older ones write `SHA256`.
fn openssl_tag(tag: &str) -> Option<Algo> {
    match tag.to_ascii_uppercase().as_str() {
        "SHA2-256" => Some(Algo::Sha256),
        "SHA2-512" => Some(Algo::Sha512),
        "SHA2-224" => Some(Algo::Sha224),
        "SHA2-384" => Some(Algo::Sha384),
        _ => None,
    }
}

/// `HEX  NAME`, `HEX *NAME` or `HEX NAME`
fn parse_gnu(s: &[u8], default: Option<Algo>) -> Option<Parsed<'_>> {
    let hex_end = s.iter().position(|b| !b.is_ascii_hexdigit())?;
    let hex = &s[..hex_end];
    let rest = s[hex_end..].strip_prefix(b" ")?;
    let name = match rest.first() {
        Some(b' ') | Some(b'*') => &rest[1..],
        _ => rest,
    };
    let ambiguous = default.is_none() && hex.len() == 64;
    let algo = match default {
        Some(a) => a,
        None => match hex.len() {
            // Or BLAKE3: `ambiguous` lets the verifier decide from the first file.
            64 => Algo::Sha256,
            128 => Algo::Sha512,
            56 => Algo::Sha224,
            96 => Algo::Sha384,
            40 => Algo::Sha1,
            32 => Algo::Md5,
            16 => Algo::Xxh3,
            8 => Algo::Crc32,
            _ => return None,
        },
    };
    Some((algo, hex, name, ambiguous))
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
    fn blake3_like_current_b3sum() {
        let p = PathBuf::from(OsString::from_vec(b"cr\rx\\".to_vec()));
        let line = format_line(&p, Algo::Blake3, "00", Style::Gnu);
        assert_eq!(line, b"\\00  cr\\rx\\\\\n");
    }

    #[test]
    fn openssl_lines() {
        let md5 = "0".repeat(32);
        let e = entry(format!("MD5(a b)= {md5}").as_bytes());
        assert_eq!((e.algo, e.path), (Algo::Md5, PathBuf::from("a b")));
        let sha = "1".repeat(64);
        let e = entry(format!("SHA2-256(x)= {sha}").as_bytes());
        assert_eq!((e.algo, e.ambiguous), (Algo::Sha256, false));
        let e = entry(format!("{sha}  x").as_bytes());
        assert!(e.ambiguous, "64 digits alone do not say which algorithm");
    }
}

/// Properties of the manifest format: every name a file can have survives a write and a read,
/// and no line, however mangled, makes the reader panic.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Pieces that the format treats specially, so the generator meets them often.
    const AWKWARD: &[&[u8]] = &[
        b"\n",
        b"\r",
        b"\\",
        b" ",
        b"  ",
        b"\t",
        b"*",
        b"(",
        b")",
        b" = ",
        b") = ",
        b")= ",
        b"#",
        b"\\n",
        b"\\r",
        b"SHA256 (",
        b"\xff",
        b"\xc3\xa9",
        b"\xe2\x82",
    ];

    /// Bytes that print as a byte string (`b"a\\n"`), so a shrunk case reads at a glance.
    #[derive(Clone)]
    struct Bytes(Vec<u8>);

    impl std::fmt::Debug for Bytes {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "b\"{}\"", self.0.escape_ascii())
        }
    }

    /// Any file name: non-empty bytes without NUL, built from awkward pieces and random bytes.
    fn name() -> impl Strategy<Value = Bytes> {
        let piece = prop_oneof![
            prop::sample::select(AWKWARD).prop_map(<[u8]>::to_vec),
            (1u8..=255).prop_map(|b| vec![b]),
        ];
        prop::collection::vec(piece, 1..12).prop_map(|ps| Bytes(ps.concat()))
    }

    /// The name as the tool for `algo` writes it: lossy UTF-8 for BLAKE3, as b3sum does.
    fn written_name(raw: &[u8], algo: Algo) -> PathBuf {
        let bytes = if algo == Algo::Blake3 {
            String::from_utf8_lossy(raw).into_owned().into_bytes()
        } else {
            raw.to_vec()
        };
        PathBuf::from(OsString::from_vec(bytes))
    }

    fn entry(path: &Path, hex: &str, algo: Algo, ambiguous: bool) -> Line {
        Line::Entry(Entry {
            path: path.to_path_buf(),
            hex: hex.to_owned(),
            algo,
            ambiguous,
        })
    }

    /// A line as `format_line` writes it, then cut, spliced or overwritten at random.
    fn mangled_line() -> impl Strategy<Value = Bytes> {
        let edit = (any::<prop::sample::Index>(), any::<u8>(), 0..3u8);
        (
            name(),
            prop::sample::select(&Algo::ALL[..]),
            any::<bool>(),
            prop::collection::vec(edit, 0..4),
        )
            .prop_map(|(raw, algo, tag, edits)| {
                let style = if tag { Style::Tag } else { Style::Gnu };
                let hex = "5".repeat(algo.hex_len());
                let mut line = format_line(&written_name(&raw.0, algo), algo, &hex, style);
                for (at, byte, kind) in edits {
                    let i = at.index(line.len() + 1);
                    match kind {
                        0 => line.truncate(i),
                        1 => line.insert(i, byte),
                        _ => {
                            if let Some(b) = line.get_mut(i) {
                                *b = byte;
                            }
                        }
                    }
                }
                Bytes(line)
            })
    }

    /// A line laid out as GNU or BSD-tag around a name of awkward pieces left raw, with or
    /// without the backslash that says the name is escaped.
    fn shaped_line() -> impl Strategy<Value = Bytes> {
        (
            any::<bool>(),
            any::<bool>(),
            prop::sample::select(&Algo::ALL[..]),
            name(),
        )
            .prop_map(|(escaped, tag, algo, raw)| {
                let hex = "a".repeat(algo.hex_len());
                let mut line = if escaped { b"\\".to_vec() } else { Vec::new() };
                if tag {
                    line.extend_from_slice(format!("{} (", algo.tag()).as_bytes());
                    line.extend_from_slice(&raw.0);
                    line.extend_from_slice(format!(") = {hex}").as_bytes());
                } else {
                    line.extend_from_slice(format!("{hex}  ").as_bytes());
                    line.extend_from_slice(&raw.0);
                }
                Bytes(line)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_name_survives_a_write_and_a_read(
            raw in name(),
            digest in "[0-9a-f]{128}",
        ) {
            for algo in Algo::ALL {
                let path = written_name(&raw.0, algo);
                let hex = &digest[..algo.hex_len()];
                for style in [Style::Gnu, Style::Tag] {
                    let line = format_line(&path, algo, hex, style);
                    let Some(body) = line.strip_suffix(b"\n") else {
                        return Err(TestCaseError::fail("no newline at the end"));
                    };
                    prop_assert!(!body.contains(&b'\n'), "a newline in {}", line.escape_ascii());
                    // Told the algorithm, the reader gets everything back.
                    prop_assert_eq!(
                        parse_line(body, Some(algo)),
                        entry(&path, hex, algo, false),
                        "{:?} {:?}", algo, style
                    );
                    // Left to guess, it can only go wrong on 64 digits without a tag, and says so.
                    let ambiguous = style == Style::Gnu && algo.hex_len() == 64;
                    let guess = if ambiguous { Algo::Sha256 } else { algo };
                    prop_assert_eq!(
                        parse_line(body, None),
                        entry(&path, hex, guess, ambiguous),
                        "{:?} {:?}", algo, style
                    );
                    // A tag beats whatever the caller assumed.
                    if style == Style::Tag {
                        for other in Algo::ALL {
                            prop_assert_eq!(
                                parse_line(body, Some(other)),
                                entry(&path, hex, algo, false)
                            );
                        }
                    }
                }
            }
        }

        #[test]
        fn any_line_parses_without_panicking(
            line in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..4096).prop_map(Bytes),
                mangled_line(),
                shaped_line(),
            ],
            default in prop::option::of(prop::sample::select(&Algo::ALL[..])),
        ) {
            if let Line::Entry(e) = parse_line(&line.0, default) {
                prop_assert_eq!(e.hex.len(), e.algo.hex_len());
                prop_assert!(e.hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
                prop_assert!(!e.path.as_os_str().is_empty());
                prop_assert!(!e.ambiguous || (default.is_none() && e.algo == Algo::Sha256));
            }
        }
    }
}
