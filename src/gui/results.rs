//! Results out of the window: the manifest of a checksum run and the CSV report of every row.
//! Both are built on the helper thread that writes them, from a snapshot taken on click.

use std::path::{Path, PathBuf};

use super::model::{FileState, Row, RowResult, op_label};
use crate::cancel::Reason;
use crate::ops::hash::Algo;
use crate::ops::kind::OpKind;
use crate::ops::manifest::{Style, format_line};

/// What a manifest is made of: the checksummed files, and how the run ended.
pub struct ManifestSnapshot {
    /// Each file with a checksum, in list order.
    pub lines: Vec<(PathBuf, String)>,
    /// The algorithm.
    pub algo: Algo,
    /// Why the run stopped early, if it did, and how many rows it had: the manifest then
    /// says it is partial.
    pub partial: Option<(Reason, usize)>,
}

impl ManifestSnapshot {
    /// The manifest's bytes, for a manifest saved as `at`: names relative to its folder when
    /// every file is below it (so `sha256sum -c` run there accepts it), else as listed.
    pub fn body(&self, at: &Path) -> Vec<u8> {
        let dir = at.parent().unwrap_or(Path::new(""));
        let all_below =
            !dir.as_os_str().is_empty() && self.lines.iter().all(|(p, _)| p.starts_with(dir));
        let mut body = Vec::new();
        if let Some((reason, rows)) = self.partial {
            body.extend_from_slice(&crate::ops::manifest::partial_header(
                reason,
                self.lines.len(),
                Some(rows),
            ));
        }
        for (path, hex) in &self.lines {
            let name = match path.strip_prefix(dir) {
                Ok(rel) if all_below => rel,
                _ => path.as_path(),
            };
            body.extend_from_slice(&format_line(name, self.algo, hex, Style::Gnu));
        }
        body
    }
}

/// The deepest folder holding every path (where the save dialog opens).
pub fn common_folder<'a>(mut paths: impl Iterator<Item = &'a Path>) -> Option<PathBuf> {
    let mut common = paths.next()?.parent()?.to_path_buf();
    for p in paths {
        while !p.starts_with(&common) {
            if !common.pop() {
                return None;
            }
        }
    }
    Some(common)
}

/// One row of the report.
pub struct ReportRow {
    path: PathBuf,
    size: u64,
    state: String,
    result: String,
    secs: Option<f64>,
}

impl ReportRow {
    /// The report's view of `row`, which took `secs` to process if it ran.
    pub fn new(row: &Row, secs: Option<f64>) -> Self {
        let result = match (&row.state, row.result.as_deref()) {
            (FileState::Failed(why) | FileState::Skipped(why), _) => why.to_string(),
            (_, Some(RowResult::Digest(d))) => d.hex(),
            (_, Some(RowResult::Verified { ok: true, .. })) => "OK".into(),
            (_, Some(RowResult::Verified { ok: false, .. })) => "FAILED".into(),
            (_, Some(RowResult::Output(p))) => p.display().to_string(),
            (FileState::Cancelled(Reason::Skip), None) => "skipped".into(),
            (FileState::Cancelled(r), None) => format!("cancelled: {r}"),
            _ => String::new(),
        };
        ReportRow {
            path: row.path.to_path_buf(),
            size: row.size,
            state: row.state.label(false),
            result,
            secs,
        }
    }
}

/// The CSV report (RFC 4180: comma separated, fields with commas, quotes or line breaks
/// quoted, quotes doubled): path, size, operation, state, result or error, seconds.
pub fn report(rows: &[ReportRow], op: OpKind) -> Vec<u8> {
    let mut out = String::from("path,size,operation,state,result,seconds\r\n");
    for r in rows {
        let secs = r.secs.map(|s| format!("{s:.3}")).unwrap_or_default();
        let fields = [
            csv_field(&r.path.to_string_lossy()),
            r.size.to_string(),
            csv_field(op_label(op)),
            csv_field(&r.state),
            csv_field(&r.result),
            secs,
        ];
        out += &fields.join(",");
        out += "\r\n";
    }
    out.into_bytes()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_relative_when_every_file_is_below_the_manifest() {
        let snap = ManifestSnapshot {
            lines: vec![
                (PathBuf::from("/d/a"), "00".repeat(32)),
                (PathBuf::from("/d/s/b"), "11".repeat(32)),
            ],
            algo: Algo::Sha256,
            partial: None,
        };
        let body = String::from_utf8(snap.body(Path::new("/d/sums.sha256"))).unwrap();
        assert_eq!(
            body,
            format!("{}  a\n{}  s/b\n", "00".repeat(32), "11".repeat(32))
        );
        let body = String::from_utf8(snap.body(Path::new("/d/s/sums.sha256"))).unwrap();
        assert!(
            body.contains("  /d/a\n") && body.contains("  /d/s/b\n"),
            "{body}"
        );
    }

    #[test]
    fn the_common_folder_is_the_deepest_shared_one() {
        let ps = [
            Path::new("/d/x/a"),
            Path::new("/d/x/y/b"),
            Path::new("/d/z/c"),
        ];
        assert_eq!(common_folder(ps.into_iter()), Some(PathBuf::from("/d")));
        assert_eq!(
            common_folder([Path::new("/d/x/a")].into_iter()),
            Some(PathBuf::from("/d/x"))
        );
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut row = Row::new(PathBuf::from("/d/a,\"b\"\nc"), 5, None);
        row.state = FileState::Failed("x, y".into());
        let csv =
            String::from_utf8(report(&[ReportRow::new(&row, Some(1.5))], OpKind::Copy)).unwrap();
        assert_eq!(
            csv,
            "path,size,operation,state,result,seconds\r\n\"/d/a,\"\"b\"\"\nc\",5,Copy,failed,\"x, y\",1.500\r\n"
        );
    }
}
