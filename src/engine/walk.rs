//! Expanding a job's inputs into files, on the job's walker thread (never the caller's).
//!
//! Folders are walked depth-first in name order, so results come in a stable order. Links
//! found inside folders are not followed unless asked; fifos, sockets and devices are
//! skipped with a note. Every entry that gets an id gets exactly one final event, here or
//! from a worker.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crossbeam_channel::{Receiver, Sender};

use super::{Event, FileId, Operation, Shared};
use crate::error::Error;
use crate::ops::hash::Algo;
use crate::ops::verify::read_manifest;

/// One file for a worker.
pub(crate) struct Task {
    pub id: FileId,
    /// Where to open it.
    pub path: PathBuf,
    /// Its path below the input's parent folder, for outputs that mirror the input tree.
    pub rel: PathBuf,
    /// For verify: the algorithm and expected digest.
    pub check: Option<(Algo, String)>,
}

struct Walker<'a> {
    sh: &'a Shared,
    tx: Sender<Task>,
    /// The last task found is held back until the walk is known to go on or to be over, so
    /// that the worker taking the very last file already sees `walk_done`.
    pending: Option<Task>,
    next_id: FileId,
    files: usize,
    bytes: u64,
    /// Folders already entered through followed links, to stop cycles.
    visited: HashSet<(u64, u64)>,
    /// The output folder, never walked into (a copy into a subfolder of its source).
    avoid: Option<(u64, u64)>,
}

pub(super) fn run(sh: &Shared, tx: Sender<Task>, rx: &Receiver<Task>) {
    let avoid = match &sh.op {
        Operation::Copy { to, .. } => dev_ino(to),
        Operation::Compress {
            out_dir: Some(d), ..
        }
        | Operation::Decompress { out_dir: Some(d) } => dev_ino(d),
        _ => None,
    };
    let mut w = Walker {
        sh,
        tx,
        pending: None,
        next_id: 0,
        files: 0,
        bytes: 0,
        visited: HashSet::new(),
        avoid,
    };
    for (group, input) in sh.inputs.iter().enumerate() {
        if sh.token.is_cancelled() {
            break;
        }
        match &sh.op {
            Operation::Verify {
                algo,
                relative_to_manifest,
            } => w.manifest(group, input, *algo, *relative_to_manifest),
            _ => w.input(group, input),
        }
    }
    // Release: a worker that loads `walk_done` after receiving the last task sees the totals.
    sh.walk_done.store(true, Ordering::Release);
    if let Some(t) = w.pending.take() {
        w.send_now(t);
    }
    sh.emit(Event::WalkDone {
        files: w.files,
        bytes: w.bytes,
    });
    drop(w);
    if let Some(reason) = sh.token.reason() {
        // Workers may all have left already; whatever is still queued ends here.
        while let Ok(t) = rx.try_recv() {
            sh.finish_file(Event::Cancelled { id: t.id, reason });
        }
    }
    sh.thread_exit();
}

fn dev_ino(p: &Path) -> Option<(u64, u64)> {
    fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

impl Walker<'_> {
    fn new_id(&mut self) -> FileId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn announce(&mut self, path: &Path, size: u64, group: usize) -> FileId {
        let id = self.new_id();
        self.sh.emit(Event::Queued {
            id,
            path: path.to_path_buf(),
            size,
            group,
        });
        id
    }

    fn fail(&mut self, group: usize, path: &Path, error: Error) {
        let id = self.announce(path, 0, group);
        self.sh.finish_file(Event::Failed { id, error });
    }

    fn skip(&mut self, path: &Path, note: &str) {
        let id = self.new_id();
        self.sh.finish_file(Event::Skipped {
            id,
            path: path.to_path_buf(),
            note: note.to_string(),
        });
    }

    fn send_now(&self, t: Task) {
        // The receiver lives in `Shared`-owning workers and in `run`; it cannot be gone while
        // the walker runs, so a failed send only means the job is over.
        let _ = self.tx.send(t);
    }

    /// Announces a file shown as `shown` and queues it for a worker, who opens `open`.
    fn queue(
        &mut self,
        group: usize,
        shown: &Path,
        open: PathBuf,
        rel: PathBuf,
        size: u64,
        check: Option<(Algo, String)>,
    ) {
        let id = self.announce(shown, size, group);
        self.files += 1;
        self.bytes += size;
        // Relaxed: display statistics.
        self.sh.total_files.fetch_add(1, Ordering::Relaxed);
        self.sh.total_bytes.fetch_add(size, Ordering::Relaxed);
        let task = Task {
            id,
            path: open,
            rel,
            check,
        };
        if let Some(prev) = self.pending.replace(task) {
            self.send_now(prev);
        }
    }

    /// Whether the operation wants this file, or a note saying why not.
    fn wanted(&self, path: &Path) -> Result<(), &'static str> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let zst = name.ends_with(".zst") || name.ends_with(".tzst");
        match self.sh.op {
            Operation::Compress { .. } if zst => {
                Err("already compressed (.zst), not compressed again")
            }
            Operation::Decompress { .. } if !zst => Err("not a .zst file"),
            _ => Ok(()),
        }
    }

    fn input(&mut self, group: usize, input: &Path) {
        // Links named as inputs are followed, as every file tool does.
        match fs::metadata(input) {
            Err(e) => self.fail(group, input, Error::io(input, "open", e)),
            Ok(m) if m.is_dir() => {
                let base = match input.file_name() {
                    Some(_) => input.parent().unwrap_or(Path::new("")).to_path_buf(),
                    None => input.to_path_buf(),
                };
                self.visited.insert((m.dev(), m.ino()));
                self.dir(group, input, &base);
            }
            Ok(m) if m.is_file() => match self.wanted(input) {
                Ok(()) => {
                    let base = self.sh.bases.get(group).and_then(Option::as_deref);
                    let rel = match base.and_then(|b| input.strip_prefix(b).ok()) {
                        Some(r) => r.to_path_buf(),
                        None => input.file_name().map(PathBuf::from).unwrap_or_default(),
                    };
                    self.queue(group, input, input.to_path_buf(), rel, m.len(), None);
                }
                // Named explicitly, so refusing it is an error, not a quiet skip.
                Err(note) => self.fail(group, input, Error::invalid(input, note)),
            },
            Ok(m) => self.skip(input, special_note(&m.file_type())),
        }
    }

    fn dir(&mut self, group: usize, root: &Path, base: &Path) {
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            if self.sh.token.is_cancelled() {
                return;
            }
            let mut entries = match read_sorted(&dir) {
                Ok(e) => e,
                Err(e) => {
                    self.fail(group, &dir, Error::io(&dir, "read folder", e));
                    continue;
                }
            };
            let mut subdirs = Vec::new();
            for (path, ft) in entries.drain(..) {
                if self.sh.token.is_cancelled() {
                    return;
                }
                if path
                    .file_name()
                    .is_some_and(|n| crate::output::is_temporary(n.as_encoded_bytes()))
                {
                    continue;
                }
                let meta = if ft.is_symlink() {
                    if !self.sh.follow_symlinks {
                        self.skip(&path, "symbolic link not followed (use --follow-symlinks)");
                        continue;
                    }
                    match fs::metadata(&path) {
                        Ok(m) => m,
                        Err(e) => {
                            self.fail(group, &path, Error::io(&path, "follow link", e));
                            continue;
                        }
                    }
                } else {
                    match fs::symlink_metadata(&path) {
                        Ok(m) => m,
                        Err(e) => {
                            self.fail(group, &path, Error::io(&path, "open", e));
                            continue;
                        }
                    }
                };
                let key = (meta.dev(), meta.ino());
                if meta.is_dir() {
                    if Some(key) == self.avoid {
                        continue;
                    }
                    if self.sh.follow_symlinks && !self.visited.insert(key) {
                        continue;
                    }
                    subdirs.push(path);
                } else if meta.is_file() {
                    match self.wanted(&path) {
                        Ok(()) => {
                            let rel = path.strip_prefix(base).unwrap_or(&path).to_path_buf();
                            self.queue(group, &path, path.clone(), rel, meta.len(), None);
                        }
                        Err(note) => self.skip(&path, note),
                    }
                } else {
                    self.skip(&path, special_note(&meta.file_type()));
                }
            }
            // Reverse so that the stack pops folders in name order.
            stack.extend(subdirs.into_iter().rev());
        }
    }

    fn manifest(
        &mut self,
        group: usize,
        path: &Path,
        algo: Option<Algo>,
        relative_to_manifest: bool,
    ) {
        let m = match read_manifest(path, algo) {
            Ok(m) => m,
            Err(e) => return self.fail(group, path, e),
        };
        self.sh.emit(Event::Manifest {
            group,
            path: path.to_path_buf(),
            entries: m.entries.len(),
            malformed: m.malformed,
        });
        let dir = path.parent().unwrap_or(Path::new(""));
        for e in m.entries {
            if self.sh.token.is_cancelled() {
                return;
            }
            let resolved = if relative_to_manifest && e.path.is_relative() {
                dir.join(&e.path)
            } else {
                e.path.clone()
            };
            let size = fs::metadata(&resolved).map_or(0, |m| m.len());
            self.queue(
                group,
                &e.path,
                resolved,
                e.path.clone(),
                size,
                Some((e.algo, e.hex)),
            );
        }
    }
}

fn read_sorted(dir: &Path) -> std::io::Result<Vec<(PathBuf, fs::FileType)>> {
    let mut v = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        v.push((entry.path(), entry.file_type()?));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

fn special_note(ft: &fs::FileType) -> &'static str {
    if ft.is_fifo() {
        "not a regular file (fifo), skipped"
    } else if ft.is_socket() {
        "not a regular file (socket), skipped"
    } else if ft.is_block_device() || ft.is_char_device() {
        "not a regular file (device), skipped"
    } else {
        "not a regular file, skipped"
    }
}
