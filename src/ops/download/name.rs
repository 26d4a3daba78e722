//! The saved file's name: from `-o`, else the server's `Content-Disposition`, else the final
//! URL's last path segment — always reduced to one safe name in the chosen folder.
//!
//! Invariant: whatever a server or a redirect says, [`safe_name`] returns a single path
//! component that is not hidden, not an option, not `.` or `..`, has no control characters
//! and is not a reserved device name. Percent-decoding happens before the sanitising, so an
//! encoded slash (`%2F`) is a slash by the time it is removed (wcurl CVE-2025-11563).

use std::fs;
use std::path::{Path, PathBuf};

/// The name used when nothing usable is left.
pub const FALLBACK_NAME: &str = "download";

/// Longest name kept, in bytes (most file systems allow 255).
const MAX_NAME_BYTES: usize = 240;

/// Names Windows reserves for devices, with or without an extension; refused everywhere so a
/// folder synced or shared with Windows cannot be harmed.
const RESERVED: [&str; 22] = [
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Reduces `raw` to one safe file name (see the module documentation). Never empty.
pub fn safe_name(raw: &str) -> String {
    // The last component, so `../../etc/passwd` or `C:\x\evil.exe` keep only their base.
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut s: String = base
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            // Characters Windows forbids in names; harmless to replace on Unix.
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c => c,
        })
        .collect();
    // Leading dots hide the file (and make `..`), leading dashes read as options.
    s = s
        .trim_start_matches(|c: char| c == '.' || c == '-' || c.is_whitespace())
        .to_string();
    // Trailing dots and spaces are dropped by Windows and confuse people everywhere.
    s = s
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
        .to_string();
    let stem = s
        .split('.')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if RESERVED.contains(&stem.as_str()) {
        s.insert(0, '_');
    }
    if s.len() > MAX_NAME_BYTES {
        s = shorten(&s);
    }
    if s.is_empty() {
        return FALLBACK_NAME.to_string();
    }
    s
}

/// Cuts `s` to [`MAX_NAME_BYTES`] on a character boundary, keeping a short extension.
fn shorten(s: &str) -> String {
    let ext = s
        .rfind('.')
        .map(|i| &s[i..])
        .filter(|e| e.len() <= 16)
        .unwrap_or("");
    let mut keep = MAX_NAME_BYTES - ext.len();
    while !s.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{ext}", &s[..keep])
}

/// The name a server proposes in a `Content-Disposition` header: `filename*` (RFC 6266 /
/// 5987, percent-encoded with a charset) wins over `filename`. Not yet sanitised.
pub fn from_disposition(header: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for (key, value) in params(header) {
        match key.to_ascii_lowercase().as_str() {
            "filename*" => extended = decode_ext_value(&value),
            "filename" => plain = Some(value),
            _ => {}
        }
    }
    extended.or(plain).filter(|n| !n.is_empty())
}

/// The last path segment of `url` (query and fragment left out), percent-decoded. Not yet
/// sanitised.
pub fn from_url(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let end = after_scheme.find(['?', '#']).unwrap_or(after_scheme.len());
    let path = &after_scheme[..end];
    // No path at all (`http://host`): nothing to name the file by.
    let Some(slash) = path.find('/') else {
        return String::new();
    };
    let last = path[slash..].rsplit('/').next().unwrap_or_default();
    String::from_utf8_lossy(&percent_decode(last)).into_owned()
}

/// Decodes `%XX` escapes; a malformed escape is kept as it is.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(hex) = b.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// `charset'lang'pct-encoded` (RFC 5987) to text; UTF-8 and ISO-8859-1 are understood.
fn decode_ext_value(v: &str) -> Option<String> {
    let mut parts = v.splitn(3, '\'');
    let charset = parts.next()?.to_ascii_lowercase();
    let _lang = parts.next()?;
    let bytes = percent_decode(parts.next()?);
    match charset.as_str() {
        "utf-8" => Some(String::from_utf8_lossy(&bytes).into_owned()),
        "iso-8859-1" => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        _ => None,
    }
}

/// The `key=value` parameters of a header, values unquoted (backslash escapes honoured).
fn params(header: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = header;
    // Skip the disposition type (`attachment`, `inline`).
    match rest.find(';') {
        Some(i) => rest = &rest[i + 1..],
        None => return out,
    }
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            return out;
        }
        let Some(eq) = rest.find('=') else {
            return out;
        };
        let key = rest[..eq].trim().to_string();
        rest = rest[eq + 1..].trim_start();
        let mut value = String::new();
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            rest = &quoted[end.min(quoted.len())..];
            rest = rest.find(';').map_or("", |i| &rest[i..]);
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        out.push((key, value));
    }
}

/// `NAME (1).EXT`, `NAME (2).EXT`… — the first that is free (the commit still refuses to
/// replace one that appears meanwhile).
pub fn free_name(taken: &Path) -> PathBuf {
    let name = taken
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, ext) = match name.find('.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name.as_str(), ""),
    };
    (1..10_000)
        .map(|n| taken.with_file_name(format!("{stem} ({n}){ext}")))
        .find(|p| fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| taken.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_leave_the_folder_or_hide() {
        for (raw, want) in [
            ("../../etc/passwd", "passwd"),
            ("..", FALLBACK_NAME),
            (".", FALLBACK_NAME),
            ("", FALLBACK_NAME),
            ("...", FALLBACK_NAME),
            (".bashrc", "bashrc"),
            ("-rf", "rf"),
            ("--help.txt", "help.txt"),
            ("a\\b\\c.exe", "c.exe"),
            ("x/", FALLBACK_NAME),
            ("evil\u{0}name\n.txt", "evilname.txt"),
            ("CON", "_CON"),
            ("nul.txt", "_nul.txt"),
            ("report.pdf. ", "report.pdf"),
            ("a:b?.txt", "a_b_.txt"),
            ("ok name (1).tar.gz", "ok name (1).tar.gz"),
        ] {
            assert_eq!(safe_name(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn encoded_slashes_are_slashes_before_sanitising() {
        let raw = from_url("http://h/dl/..%2F..%2Fetc%2Fpasswd?x=1");
        assert_eq!(raw, "../../etc/passwd");
        assert_eq!(safe_name(&raw), "passwd");
        assert_eq!(from_url("http://h/a/b%20c.txt#frag"), "b c.txt");
        assert_eq!(from_url("http://h/"), "");
        assert_eq!(from_url("http://h"), "");
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        let long = format!("{}.iso", "é".repeat(200));
        let s = safe_name(&long);
        assert!(s.len() <= MAX_NAME_BYTES, "{}", s.len());
        assert!(s.ends_with(".iso"));
    }

    #[test]
    fn disposition_prefers_the_extended_name() {
        assert_eq!(
            from_disposition("attachment; filename=\"a.txt\"; filename*=UTF-8''%C3%B6%2Fb.txt")
                .as_deref(),
            Some("ö/b.txt")
        );
        assert_eq!(
            from_disposition("attachment; filename=\"q\\\"uote.txt\"").as_deref(),
            Some("q\"uote.txt")
        );
        assert_eq!(
            from_disposition("attachment; filename=../../x.sh").as_deref(),
            Some("../../x.sh")
        );
        assert_eq!(from_disposition("inline"), None);
        assert_eq!(
            from_disposition("attachment; filename*=iso-8859-1'en'%E9t%E9.txt").as_deref(),
            Some("été.txt")
        );
    }

    #[test]
    fn a_taken_name_gets_a_number() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.tar.gz");
        fs::write(&a, b"x").unwrap();
        assert_eq!(free_name(&a), dir.path().join("a (1).tar.gz"));
        fs::write(dir.path().join("a (1).tar.gz"), b"x").unwrap();
        assert_eq!(free_name(&a), dir.path().join("a (2).tar.gz"));
    }
}
