//! `ripcord download`: its arguments and URL list as a job, in the command line's words.

use std::path::PathBuf;

use super::args::{Common, DownloadArgs};
use super::{EXIT_TROUBLE, EXIT_USAGE};
use crate::engine::Operation;
use crate::ops::download::Options;
use crate::ops::hash::Algo;

/// One URL and its expected checksum.
type Item = (String, Option<(Algo, String)>);

/// The job `ripcord download` asks for, or the exit status after saying why not.
pub(super) fn job(a: DownloadArgs) -> Result<(Operation, Vec<PathBuf>, Common), i32> {
    let mut items: Vec<Item> = a.urls.iter().map(|u| (u.clone(), None)).collect();
    if let Some(list) = &a.input_file {
        items.extend(read_list(list)?);
    }
    let given = match (&a.sha256, &a.checksum) {
        (Some(hex), _) => Some(parse_check(&format!("sha256:{hex}")).map_err(usage)?),
        (_, Some(c)) => Some(parse_check(c).map_err(usage)?),
        _ => None,
    };
    if given.is_some() || a.output.is_some() {
        if items.len() != 1 {
            let what = if a.output.is_some() {
                "-o NAME"
            } else {
                "--sha256 and --checksum"
            };
            return Err(usage(format!("{what} takes exactly one URL")));
        }
        if let (Some(item), Some(g)) = (items.first_mut(), given) {
            item.1 = Some(g);
        }
    }
    if items.is_empty() {
        return Err(usage("no URL to download".into()));
    }
    let mut opts = Options::new(a.to);
    opts.name = a.output;
    opts.retries = a.retries;
    opts.retry_delay = a.retry_delay;
    opts.idle = a.idle_timeout;
    opts.resume = a.resume;
    opts.keep_partial = a.keep_partial;
    opts.cacert = a.cacert;
    let (urls, checks): (Vec<_>, Vec<_>) = items
        .into_iter()
        .map(|(u, c)| (PathBuf::from(u), c))
        .unzip();
    Ok((Operation::Download { opts, checks }, urls, a.common))
}

fn usage(msg: String) -> i32 {
    say!("ripcord: {msg}");
    EXIT_USAGE
}

/// `ALGO:HEX`, the digest's length checked against the algorithm.
fn parse_check(s: &str) -> Result<(Algo, String), String> {
    let (algo, hex) = s
        .split_once(':')
        .ok_or_else(|| format!("'{s}': expected ALGO:HEX, as sha256:0123…"))?;
    let algo: Algo = algo.parse()?;
    let hex = hex.trim().to_ascii_lowercase();
    if hex.len() != algo.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "'{hex}' is not a {} checksum ({} hex digits)",
            algo.name(),
            algo.hex_len()
        ));
    }
    Ok((algo, hex))
}

/// The URLs of a list file (`-`: standard input).
fn read_list(path: &std::path::Path) -> Result<Vec<Item>, i32> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| {
        say!(
            "ripcord: {}: cannot read: {}",
            path.display(),
            crate::error::describe_io(&e)
        );
        EXIT_TROUBLE
    })?;
    parse_list(&text).map_err(|(line, msg)| usage(format!("{}:{line}: {msg}", path.display())))
}

/// One URL a line, `#` comments and blank lines skipped, an optional checksum after it.
fn parse_list(text: &str) -> Result<Vec<Item>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(url), check) = (words.next(), words.next()) else {
            continue;
        };
        if words.next().is_some() {
            return Err((i + 1, "expected a URL and at most one checksum".into()));
        }
        let check = match check {
            None => None,
            Some(c) if c.contains(':') => Some(parse_check(c).map_err(|m| (i + 1, m))?),
            Some(c) => Some(parse_check(&format!("sha256:{c}")).map_err(|m| (i + 1, m))?),
        };
        out.push((url.to_string(), check));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_take_comments_and_checksums() {
        let hex = "ab".repeat(32);
        let text =
            format!("# mirror\n\nhttp://a/x {hex}\n  https://b/y  \nhttp://c/z blake3:{hex}\n");
        let items = parse_list(&text).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].1, Some((Algo::Sha256, hex.clone())));
        assert_eq!(items[1], ("https://b/y".to_string(), None));
        assert_eq!(items[2].1, Some((Algo::Blake3, hex)));
        assert!(parse_list("http://a/x nothex").is_err());
        assert!(parse_list("http://a/x a b").is_err());
    }
}
