//! What the command line prints: coreutils-identical checksum and verify lines in input
//! order, errors on stderr, or one JSON event per line with `--json`.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::engine::{Event, FileId, Outcome, Progress, Summary};
use crate::error::Error;
use crate::ops::hash::Algo;
use crate::ops::manifest::{Layout, Style, display_name, format_line_as};

/// How results are shown.
pub enum Kind {
    /// Checksum lines.
    Hash {
        /// The algorithm.
        algo: Algo,
        /// Line style.
        style: Style,
        /// NUL-ended lines, names left out.
        layout: Layout,
        /// Lines go to a manifest file instead of stdout.
        to_manifest: bool,
    },
    /// `NAME: OK` lines and coreutils' warnings.
    Verify {
        /// Fail on improperly formatted lines.
        strict: bool,
        /// Say nothing of missing files.
        ignore_missing: bool,
        /// Print nothing but errors opening files; the exit status tells.
        status: bool,
        /// Warn about each improperly formatted line.
        warn: bool,
        /// The algorithm forced with `-a`, for `--warn`'s wording.
        algo: Option<Algo>,
    },
    /// Compress, decompress, copy: errors only, and a summary.
    Write,
    /// Downloads: the saved path, one line per file.
    Download,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    Ok,
    Mismatch,
    Unreadable,
    Missing,
}

/// What the reporter holds of one file until its turn to be printed comes.
enum Slot {
    /// No event for it yet.
    Unseen,
    /// Announced, not final: its path, its group, and whether a worker began it.
    Queued(std::sync::Arc<Path>, usize, bool),
    /// Final: what it prints.
    Ready(Ready),
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
    malformed_lines: Vec<usize>,
    /// Its first line was printed, after the `--warn` lines that come first.
    opened: bool,
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
    /// The files from `next` on, by id: results are printed in id order (input order), and
    /// ids are handed out one after the other, so a queue indexed from `next` holds the
    /// files still waiting, without a map's hashing or allocation per file.
    waiting: VecDeque<Slot>,
    /// The id of `waiting`'s front: every file before it has been printed.
    next: FileId,
    /// Files cancelled before a worker began them, said in one line by `finish`, and why.
    not_started: usize,
    not_started_reason: Option<crate::cancel::Reason>,
    groups: BTreeMap<usize, GroupStats>,
    /// Lines for `-o FILE`, in order.
    pub manifest: Vec<u8>,
    /// Files written to the manifest.
    pub manifest_lines: usize,
    /// Whether anything calls for exit status 1.
    pub trouble: bool,
    /// The first failed write to stdout; nothing more is written after it.
    stdout_error: Option<std::io::Error>,
    /// Result lines not yet written, when stdout is a file or a pipe (see [`Reporter::out`]).
    pending: Vec<u8>,
    /// Whether lines are gathered in `pending`: not on a terminal, not for `--json`.
    gather: bool,
    /// When `pending` was last written out.
    last_write: std::time::Instant,
}

/// Longest a result line waits in the reporter's buffer: a closed pipe is still found within
/// it (`ripcord hash big… | head -1` stops at once), and a reader sees lines as they come.
pub const GATHER_AT_MOST: std::time::Duration = std::time::Duration::from_millis(10);

/// Bytes past which gathered lines are written at once.
const GATHER_BYTES: usize = 64 << 10;

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
            waiting: VecDeque::new(),
            next: 0,
            not_started: 0,
            not_started_reason: None,
            groups: BTreeMap::new(),
            manifest: Vec::new(),
            manifest_lines: 0,
            trouble: false,
            stdout_error: None,
            pending: Vec::new(),
            gather: !json && !std::io::IsTerminal::is_terminal(&std::io::stdout()),
            last_write: std::time::Instant::now(),
        }
    }

    /// Writes to stdout unless an earlier write failed; a failure is kept for
    /// [`Reporter::stdout_error`].
    ///
    /// Into a file or a pipe, lines are gathered and written together, at least every
    /// [`GATHER_AT_MOST`] (see [`Reporter::tick`]): Rust's stdout writes each line with a
    /// system call of its own, a million of them for a million files, where `sha256sum`
    /// writes a buffer at a time.
    fn out(&mut self, bytes: &[u8]) {
        if self.stdout_error.is_some() || bytes.is_empty() {
            return;
        }
        if self.gather {
            self.pending.extend_from_slice(bytes);
            // A full buffer goes out now; a partial one when the event loop's look at the
            // clock finds it old (`tick`): reading the clock per line was 1–2 % of a
            // million-file run.
            if self.pending.len() >= GATHER_BYTES {
                self.flush_stdout();
            }
        } else if let Err(e) = std::io::stdout().lock().write_all(bytes) {
            self.stdout_error = Some(e);
        }
    }

    /// Writes the gathered lines out when they have waited [`GATHER_AT_MOST`] or fill the
    /// buffer. The event loop calls it between events too.
    pub fn tick(&mut self) {
        if !self.pending.is_empty()
            && (self.pending.len() >= GATHER_BYTES || self.last_write.elapsed() >= GATHER_AT_MOST)
        {
            self.flush_stdout();
        }
    }

    /// Whether result lines wait to be written.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes what was gathered and flushes stdout, keeping a failure as
    /// [`Reporter::out`] does.
    fn flush_stdout(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.last_write = std::time::Instant::now();
        if self.stdout_error.is_some() {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(&pending).and_then(|()| out.flush()) {
            self.stdout_error = Some(e);
        }
    }

    /// The first write to stdout that failed, if any: the results could not be delivered.
    pub fn stdout_error(&self) -> Option<&std::io::Error> {
        self.stdout_error.as_ref()
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
                if let Some(slot) = self.slot(id) {
                    *slot = Slot::Queued(path, group, false);
                }
            }
            Event::Manifest {
                group,
                path,
                entries,
                malformed,
                malformed_lines,
            } => {
                self.groups.insert(
                    group,
                    GroupStats {
                        path,
                        entries,
                        malformed,
                        malformed_lines,
                        ..Default::default()
                    },
                );
            }
            Event::Done { id, outcome } => self.done(id, outcome),
            Event::Failed { id, error } => self.failed(id, &error),
            Event::Cancelled { id, reason } => {
                let began = matches!(self.slot(id), Some(Slot::Queued(_, _, true)));
                let path = self.take_path(id);
                // Once no one reads the results, the files stopped for it are not news. A
                // file stopped in the middle is named; the files that were only queued
                // (thousands, in a big folder) are counted in one line at the end.
                let msg = if reason == crate::cancel::Reason::OutputClosed {
                    None
                } else if began {
                    Some(format!("ripcord: {}: {reason}", path.0.display()))
                } else {
                    self.not_started += 1;
                    self.not_started_reason = Some(reason);
                    None
                };
                self.ready(id, path.1, Vec::new(), msg, Check::None);
            }
            Event::Started { id } => {
                if let Some(Slot::Queued(_, _, began)) = self.slot(id) {
                    *began = true;
                }
            }
            Event::Skipped { id, path, note, .. } => {
                let msg = (!self.quiet).then(|| format!("ripcord: {}: {note}", path.display()));
                self.ready(id, None, Vec::new(), msg, Check::None);
            }
            Event::Sized { .. } | Event::WalkDone { .. } | Event::Finished(_) => {}
        }
        self.flush_ready();
    }

    /// The path and group a file was announced with (the announcement's shared path, not
    /// a copy: one per file of a million).
    fn take_path(&mut self, id: FileId) -> (std::sync::Arc<std::path::Path>, Option<usize>) {
        match self.slot(id).map(|s| std::mem::replace(s, Slot::Unseen)) {
            Some(Slot::Queued(p, g, _)) => (p, Some(g)),
            _ => (std::sync::Arc::from(std::path::Path::new("")), None),
        }
    }

    /// The slot of file `id`; `None` for a file already printed (the engine gives each
    /// file one final event, so that is never asked).
    fn slot(&mut self, id: FileId) -> Option<&mut Slot> {
        let i = id.checked_sub(self.next)?;
        if i >= self.waiting.len() {
            self.waiting.resize_with(i + 1, || Slot::Unseen);
        }
        self.waiting.get_mut(i)
    }

    fn ready(
        &mut self,
        id: FileId,
        group: Option<usize>,
        stdout: Vec<u8>,
        stderr: Option<String>,
        check: Check,
    ) {
        if let Some(slot) = self.slot(id) {
            *slot = Slot::Ready(Ready {
                group,
                stdout,
                to_manifest: false,
                stderr,
                check,
            });
        }
    }

    fn done(&mut self, id: FileId, outcome: Outcome) {
        let (path, group) = self.take_path(id);
        let mut out = Vec::new();
        let mut check = Check::None;
        let mut for_manifest = false;
        let mut note = None;
        match (&self.kind, outcome) {
            (
                Kind::Hash {
                    algo,
                    style,
                    layout,
                    to_manifest,
                },
                Outcome::Digest(hex),
            ) => {
                out = format_line_as(&path, *algo, &hex, *style, *layout);
                // Buffered like stdout lines either way, so the manifest is in input order too.
                for_manifest = *to_manifest;
            }
            (Kind::Download, Outcome::Written(saved)) => {
                out = saved.as_os_str().as_encoded_bytes().to_vec();
                out.push(b'\n');
            }
            (Kind::Verify { .. }, Outcome::Verified { ok, algo }) => {
                out = display_name(&path);
                if ok {
                    out.extend_from_slice(b": OK\n");
                    check = Check::Ok;
                } else {
                    out.extend_from_slice(b": FAILED\n");
                    check = Check::Mismatch;
                    if algo.is_none() {
                        note = Some(format!(
                            "ripcord: {}: matches neither as sha256 nor as blake3 (the manifest does not say which it uses)",
                            path.display()
                        ));
                    }
                }
            }
            _ => {}
        }
        self.ready(id, group, out, note, check);
        if let Some(Slot::Ready(r)) = self.slot(id) {
            r.to_manifest = for_manifest;
        }
    }

    fn failed(&mut self, id: FileId, error: &Error) {
        let (path, group) = self.take_path(id);
        let mut out = Vec::new();
        let mut msg = Some(format!("ripcord: {}", super::in_cli_words(error)));
        // Where the output claims to be coreutils', so do the errors: the name and the
        // system's message, nothing more (`nope: No such file or directory`).
        if let (Kind::Hash { .. }, Error::Io { source, .. }) = (&self.kind, error) {
            msg = Some(format!(
                "ripcord: {}: {}",
                error.path().display(),
                crate::error::describe_io(source)
            ));
        }
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
        while matches!(self.waiting.front(), Some(Slot::Ready(_))) {
            let Some(Slot::Ready(r)) = self.waiting.pop_front() else {
                break;
            };
            self.next += 1;
            if let Some(g) = r.group {
                self.flush_groups_before(g);
                self.open_group(g);
            }
            if r.to_manifest {
                self.manifest.extend_from_slice(&r.stdout);
                self.manifest_lines += 1;
            } else if !self.json {
                if let Some(msg) = &r.stderr {
                    self.flush_stdout();
                    say!("{msg}");
                }
                let quiet_ok = self.quiet && r.check == Check::Ok;
                let status_only = matches!(self.kind, Kind::Verify { status: true, .. });
                if !quiet_ok && !status_only {
                    self.out(&r.stdout);
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
    }

    /// Before a manifest's first result: `--warn`'s word on each improperly formatted line,
    /// as `sha256sum -c -w` says it while reading.
    fn open_group(&mut self, group: usize) {
        let Kind::Verify {
            warn: true,
            status: false,
            algo,
            ..
        } = self.kind
        else {
            return;
        };
        let Some(s) = self.groups.get_mut(&group) else {
            return;
        };
        if std::mem::replace(&mut s.opened, true) || self.json {
            return;
        }
        let name = String::from_utf8_lossy(s.path.as_os_str().as_bytes()).into_owned();
        // coreutils' words, with the algorithm when the flag or the name says it.
        let algo = crate::ops::verify::manifest_algo(&s.path, algo);
        let what = algo.map_or_else(
            || "checksum".to_string(),
            |a| format!("{} checksum", a.tag()),
        );
        let said: Vec<String> = s
            .malformed_lines
            .iter()
            .map(|n| format!("ripcord: {name}: {n}: improperly formatted {what} line"))
            .collect();
        // Gathered result lines first, so that stdout and stderr into one file keep order.
        self.flush_stdout();
        for l in said {
            say!("{l}");
        }
    }

    /// Prints the closing warnings of every verified manifest before `group`.
    fn flush_groups_before(&mut self, group: usize) {
        let done: Vec<usize> = self.groups.range(..group).map(|(g, _)| *g).collect();
        for g in done {
            self.open_group(g);
            if let Some(stats) = self.groups.remove(&g) {
                self.group_warnings(&stats);
            }
        }
    }

    fn group_warnings(&mut self, s: &GroupStats) {
        let Kind::Verify {
            strict,
            ignore_missing,
            status,
            ..
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
        // --status keeps the exit status and drops the words (errors opening files were
        // said already, as coreutils says them).
        if !self.json && !status {
            self.flush_stdout();
            for l in lines {
                say!("{l}");
            }
        }
    }

    /// Prints what is left: everything still buffered and the last manifests' warnings.
    pub fn finish(&mut self) {
        // Files that never reached a final event cannot exist (the engine guarantees one),
        // but skip over gaps rather than hold back the rest.
        while !self.waiting.is_empty() {
            if !matches!(self.waiting.front(), Some(Slot::Ready(_))) {
                self.waiting.pop_front();
                self.next += 1;
            }
            self.flush_ready();
        }
        self.flush_groups_before(usize::MAX);
        self.flush_stdout();
        if let (Some(reason), false) = (self.not_started_reason, self.json) {
            let n = self.not_started;
            let files = if n == 1 { "file" } else { "files" };
            say!("ripcord: {n} queued {files} not started: {reason}");
        }
    }

    /// Prints a JSON progress event.
    pub fn json_progress(&mut self, p: &Progress) {
        let v = json!({
            "event": "progress",
            "bytes_done": p.bytes_done,
            "bytes_total": p.bytes_total,
            "files_total": p.files_total,
            "files_finished": p.files_finished,
        });
        self.json_line(&v);
    }

    /// Prints the closing JSON event.
    pub fn json_finished(&mut self, s: &Summary, exit_code: i32) {
        let v = json!({
            "event": "finished",
            "done": s.done,
            "mismatched": s.mismatched,
            "failed": s.failed,
            "cancelled": s.cancelled,
            "skipped": s.skipped,
            "bytes": s.bytes,
            "elapsed_ms": s.elapsed.as_secs_f64() * 1000.0,
            "cancel_reason": s.cancel_reason.map(|r| r.as_str()),
            "stop_latency_ms": s.stop_latency.map(|d| d.as_secs_f64() * 1000.0),
            "exit_code": exit_code,
        });
        self.json_line(&v);
    }

    fn json_event(&mut self, ev: &Event) {
        let path_of =
            |id: &FileId| match id.checked_sub(self.next).and_then(|i| self.waiting.get(i)) {
                Some(Slot::Queued(p, _, _)) => Some(lossy(p)),
                _ => None,
            };
        let v = match ev {
            Event::Queued {
                id,
                path,
                size,
                group,
                ..
            } => {
                json!({"event": "queued", "id": id, "path": lossy(path), "size": size, "group": group})
            }
            Event::Manifest {
                group,
                path,
                entries,
                malformed,
                ..
            } => json!({
                "event": "manifest", "group": group, "path": lossy(path),
                "entries": entries, "malformed": malformed
            }),
            Event::Started { id } => json!({"event": "started", "id": id, "path": path_of(id)}),
            Event::Sized { id, size } => {
                json!({"event": "sized", "id": id, "path": path_of(id), "size": size})
            }
            Event::Done { id, outcome } => {
                let mut v = json!({"event": "done", "id": id, "path": path_of(id)});
                match outcome {
                    Outcome::Digest(hex) => v["digest"] = json!(hex),
                    Outcome::Verified { ok, algo } => {
                        v["ok"] = json!(ok);
                        v["algorithm"] = json!(algo.map(|a| a.name()));
                    }
                    Outcome::Written(p) => v["output"] = json!(lossy(p)),
                    Outcome::Streamed => {}
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
            Event::Skipped { id, path, note, .. } => {
                json!({"event": "skipped", "id": id, "path": lossy(path), "note": note})
            }
            Event::WalkDone { files, bytes } => {
                json!({"event": "walk_done", "files": files, "bytes": bytes})
            }
            Event::Finished(_) => return,
        };
        self.json_line(&v);
    }
}

impl Reporter {
    /// Writes one JSON object and its newline in a single `write`, so that an immediate exit
    /// (a second Ctrl-C, on another thread) can never leave half a line for a reader.
    fn json_line(&mut self, v: &serde_json::Value) {
        let mut line = v.to_string();
        line.push('\n');
        self.out(line.as_bytes());
        self.flush_stdout();
    }
}
