//! What the command line prints: coreutils-identical checksum and verify lines in input
//! order, errors on stderr, or one JSON event per line with `--json`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::engine::{Event, FileId, Outcome, Progress, Summary};
use crate::error::Error;
use crate::ops::hash::Algo;
use crate::ops::manifest::{Style, display_name, format_line};

/// How results are shown.
pub enum Kind {
    /// Checksum lines.
    Hash {
        /// The algorithm.
        algo: Algo,
        /// Line style.
        style: Style,
        /// Lines go to a manifest file instead of stdout.
        to_manifest: bool,
    },
    /// `NAME: OK` lines and coreutils' warnings.
    Verify {
        /// Fail on improperly formatted lines.
        strict: bool,
        /// Say nothing of missing files.
        ignore_missing: bool,
    },
    /// Compress, decompress, copy: errors only, and a summary.
    Write,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    Ok,
    Mismatch,
    Unreadable,
    Missing,
}

struct Ready {
    group: Option<usize>,
    /// The line, for stdout, or for the `-o` manifest if `to_manifest`.
    stdout: Vec<u8>,
    to_manifest: bool,
    stderr: Option<String>,
    check: Check,
}

#[derive(Default)]
struct GroupStats {
    path: PathBuf,
    malformed: usize,
    entries: usize,
    ok: usize,
    mismatched: usize,
    unreadable: usize,
    missing: usize,
}

/// Turns engine events into output.
pub struct Reporter {
    kind: Kind,
    json: bool,
    quiet: bool,
    /// Queued files not yet final: their path and group.
    queued: HashMap<FileId, (PathBuf, usize)>,
    ready: BTreeMap<FileId, Ready>,
    next: FileId,
    groups: BTreeMap<usize, GroupStats>,
    /// Lines for `-o FILE`, in order.
    pub manifest: Vec<u8>,
    /// Files written to the manifest.
    pub manifest_lines: usize,
    /// Whether anything calls for exit status 1.
    pub trouble: bool,
}

fn lossy(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl Reporter {
    /// A reporter for `kind`.
    pub fn new(kind: Kind, json: bool, quiet: bool) -> Self {
        Reporter {
            kind,
            json,
            quiet,
            queued: HashMap::new(),
            ready: BTreeMap::new(),
            next: 0,
            groups: BTreeMap::new(),
            manifest: Vec::new(),
            manifest_lines: 0,
            trouble: false,
        }
    }

    /// Handles one event.
    pub fn event(&mut self, ev: Event) {
        if self.json {
            self.json_event(&ev);
        }
        match ev {
            Event::Queued {
                id, path, group, ..
            } => {
                self.queued.insert(id, (path, group));
            }
            Event::Manifest {
                group,
                path,
                entries,
                malformed,
            } => {
                self.groups.insert(
                    group,
                    GroupStats {
                        path,
                        entries,
                        malformed,
                        ..Default::default()
                    },
                );
            }
            Event::Done { id, outcome } => self.done(id, outcome),
            Event::Failed { id, error } => self.failed(id, &error),
            Event::Cancelled { id, reason } => {
                let path = self.take_path(id);
                let msg = format!("ripcord: {}: {reason}", path.0.display());
                self.ready(id, path.1, Vec::new(), Some(msg), Check::None);
            }
            Event::Skipped { id, path, note } => {
                let msg = (!self.quiet).then(|| format!("ripcord: {}: {note}", path.display()));
                self.ready(id, None, Vec::new(), msg, Check::None);
            }
            Event::Started { .. } | Event::WalkDone { .. } | Event::Finished(_) => {}
        }
        self.flush_ready();
    }

    fn take_path(&mut self, id: FileId) -> (PathBuf, Option<usize>) {
        match self.queued.remove(&id) {
            Some((p, g)) => (p, Some(g)),
            None => (PathBuf::new(), None),
        }
    }

    fn ready(
        &mut self,
        id: FileId,
        group: Option<usize>,
        stdout: Vec<u8>,
        stderr: Option<String>,
        check: Check,
    ) {
        self.ready.insert(
            id,
            Ready {
                group,
                stdout,
                to_manifest: false,
                stderr,
                check,
            },
        );
    }

    fn done(&mut self, id: FileId, outcome: Outcome) {
        let (path, group) = self.take_path(id);
        let mut out = Vec::new();
        let mut check = Check::None;
        let mut for_manifest = false;
        match (&self.kind, outcome) {
            (
                Kind::Hash {
                    algo,
                    style,
                    to_manifest,
                },
                Outcome::Digest(hex),
            ) => {
                out = format_line(&path, *algo, &hex, *style);
                // Buffered like stdout lines either way, so the manifest is in input order too.
                for_manifest = *to_manifest;
            }
            (Kind::Verify { .. }, Outcome::Verified { ok }) => {
                out = display_name(&path);
                if ok {
                    out.extend_from_slice(b": OK\n");
                    check = Check::Ok;
                } else {
                    out.extend_from_slice(b": FAILED\n");
                    check = Check::Mismatch;
                }
            }
            _ => {}
        }
        self.ready(id, group, out, None, check);
        if let Some(r) = self.ready.get_mut(&id) {
            r.to_manifest = for_manifest;
        }
    }

    fn failed(&mut self, id: FileId, error: &Error) {
        let (path, group) = self.take_path(id);
        let mut out = Vec::new();
        let mut msg = Some(format!("ripcord: {error}"));
        let mut check = Check::None;
        let is_entry = group.is_some_and(|g| self.groups.contains_key(&g));
        if let Kind::Verify { ignore_missing, .. } = self.kind
            && is_entry
        {
            let missing = matches!(error, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound);
            if missing && ignore_missing {
                msg = None;
                check = Check::Missing;
            } else {
                // coreutils' wording: the name and the system's message, nothing more.
                if let Error::Io { source, .. } = error {
                    msg = Some(format!(
                        "ripcord: {}: {}",
                        path.display(),
                        crate::error::describe_io(source)
                    ));
                }
                out = display_name(&path);
                out.extend_from_slice(b": FAILED open or read\n");
                check = Check::Unreadable;
            }
        }
        if check != Check::Missing {
            self.trouble = true;
        }
        self.ready(id, group, out, msg, check);
    }

    fn flush_ready(&mut self) {
        let stdout = std::io::stdout();
        let mut so = stdout.lock();
        while let Some(r) = self.ready.remove(&self.next) {
            self.next += 1;
            if let Some(g) = r.group {
                self.flush_groups_before(g);
            }
            if r.to_manifest {
                self.manifest.extend_from_slice(&r.stdout);
                self.manifest_lines += 1;
            } else if !self.json {
                if let Some(msg) = &r.stderr {
                    let _ = so.flush();
                    eprintln!("{msg}");
                }
                let quiet_ok = self.quiet && r.check == Check::Ok;
                if !r.stdout.is_empty() && !quiet_ok {
                    let _ = so.write_all(&r.stdout);
                }
            }
            if let Some(stats) = r.group.and_then(|g| self.groups.get_mut(&g)) {
                match r.check {
                    Check::Ok => stats.ok += 1,
                    Check::Mismatch => stats.mismatched += 1,
                    Check::Unreadable => stats.unreadable += 1,
                    Check::Missing => stats.missing += 1,
                    Check::None => {}
                }
            }
        }
        let _ = so.flush();
    }

    /// Prints the closing warnings of every verified manifest before `group`.
    fn flush_groups_before(&mut self, group: usize) {
        let done: Vec<usize> = self.groups.range(..group).map(|(g, _)| *g).collect();
        for g in done {
            if let Some(stats) = self.groups.remove(&g) {
                self.group_warnings(&stats);
            }
        }
    }

    fn group_warnings(&mut self, s: &GroupStats) {
        let Kind::Verify {
            strict,
            ignore_missing,
        } = self.kind
        else {
            return;
        };
        let plural = |n: usize, one: &str, many: &str| {
            if n == 1 {
                one.to_string()
            } else {
                many.to_string()
            }
        };
        let name = String::from_utf8_lossy(s.path.as_os_str().as_bytes()).into_owned();
        let mut lines = Vec::new();
        if s.entries == 0 {
            lines.push(format!(
                "ripcord: {name}: no properly formatted checksum lines found"
            ));
            self.trouble = true;
        } else {
            if s.malformed > 0 {
                lines.push(format!(
                    "ripcord: WARNING: {} {} improperly formatted",
                    s.malformed,
                    plural(s.malformed, "line is", "lines are")
                ));
                if strict {
                    self.trouble = true;
                }
            }
            if s.unreadable > 0 {
                lines.push(format!(
                    "ripcord: WARNING: {} listed {} could not be read",
                    s.unreadable,
                    plural(s.unreadable, "file", "files")
                ));
            }
            if s.mismatched > 0 {
                lines.push(format!(
                    "ripcord: WARNING: {} computed {} did NOT match",
                    s.mismatched,
                    plural(s.mismatched, "checksum", "checksums")
                ));
                self.trouble = true;
            }
            if ignore_missing && s.ok + s.mismatched + s.unreadable == 0 && s.missing > 0 {
                lines.push(format!("ripcord: {name}: no file was verified"));
                self.trouble = true;
            }
        }
        if !self.json {
            for l in lines {
                eprintln!("{l}");
            }
        }
    }

    /// Prints what is left: everything still buffered and the last manifests' warnings.
    pub fn finish(&mut self) {
        // Files that never reached a final event cannot exist (the engine guarantees one),
        // but skip over gaps rather than hold back the rest.
        while let Some((&id, _)) = self.ready.iter().next() {
            self.next = self.next.max(id);
            self.flush_ready();
        }
        self.flush_groups_before(usize::MAX);
    }

    /// Prints a JSON progress event.
    pub fn json_progress(&self, p: &Progress) {
        let v = json!({
            "event": "progress",
            "bytes_done": p.bytes_done,
            "bytes_total": p.bytes_total,
            "files_total": p.files_total,
            "files_finished": p.files_finished,
        });
        json_line(&v);
    }

    /// Prints the closing JSON event.
    pub fn json_finished(&self, s: &Summary, exit_code: i32) {
        let v = json!({
            "event": "finished",
            "done": s.done,
            "failed": s.failed,
            "cancelled": s.cancelled,
            "skipped": s.skipped,
            "bytes": s.bytes,
            "elapsed_ms": s.elapsed.as_secs_f64() * 1000.0,
            "cancel_reason": s.cancel_reason.map(|r| r.as_str()),
            "stop_latency_ms": s.stop_latency.map(|d| d.as_secs_f64() * 1000.0),
            "exit_code": exit_code,
        });
        json_line(&v);
    }

    fn json_event(&self, ev: &Event) {
        let path_of = |id: &FileId| self.queued.get(id).map(|(p, _)| lossy(p));
        let v = match ev {
            Event::Queued {
                id,
                path,
                size,
                group,
            } => {
                json!({"event": "queued", "id": id, "path": lossy(path), "size": size, "group": group})
            }
            Event::Manifest {
                group,
                path,
                entries,
                malformed,
            } => json!({
                "event": "manifest", "group": group, "path": lossy(path),
                "entries": entries, "malformed": malformed
            }),
            Event::Started { id } => json!({"event": "started", "id": id, "path": path_of(id)}),
            Event::Done { id, outcome } => {
                let mut v = json!({"event": "done", "id": id, "path": path_of(id)});
                match outcome {
                    Outcome::Digest(hex) => v["digest"] = json!(hex),
                    Outcome::Verified { ok } => v["ok"] = json!(ok),
                    Outcome::Written(p) => v["output"] = json!(lossy(p)),
                    Outcome::Copied(c) => {
                        v["output"] = json!(lossy(&c.dest));
                        v["verified"] = json!(c.verified);
                    }
                }
                v
            }
            Event::Failed { id, error } => json!({
                "event": "failed", "id": id, "path": lossy(error.path()), "error": error.to_string()
            }),
            Event::Cancelled { id, reason } => json!({
                "event": "cancelled", "id": id, "path": path_of(id), "reason": reason.as_str()
            }),
            Event::Skipped { id, path, note } => {
                json!({"event": "skipped", "id": id, "path": lossy(path), "note": note})
            }
            Event::WalkDone { files, bytes } => {
                json!({"event": "walk_done", "files": files, "bytes": bytes})
            }
            Event::Finished(_) => return,
        };
        json_line(&v);
    }
}

/// Writes one JSON object and its newline in a single `write`, so that an immediate exit
/// (a second Ctrl-C, on another thread) can never leave half a line for a reader.
fn json_line(v: &serde_json::Value) {
    let mut line = v.to_string();
    line.push('\n');
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}
