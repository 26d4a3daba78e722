//! Expanding a job's inputs into files, on the job's walker thread (never the caller's).
//!
//! Folders are walked depth-first in name order, so results come in a stable order. Links
//! found inside folders are not followed unless asked; fifos, sockets and devices met in a
//! folder are skipped with a note, while one named on the command line is read, as
//! coreutils reads it (`-` is standard input). Every entry that gets an id gets exactly one
//! final event, here or from a worker.
//!
//! The walker also names each output before any work starts, so two inputs of one job that
//! would write the same file are caught here, in input order: the second fails, naming both.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::{Event, FileId, Operation, Shared};
use crate::error::Error;
use crate::ops::Stop;
use crate::ops::stream::{is_stdin, is_stream};
use crate::ops::verify::{Expected, Guess, ReadManifest, read_manifest};
use crate::walk::{Entry, Walk, special_note};

/// Files found and not yet taken by a worker, at most: the walker waits past it. Without a
/// bound a walk of a million small files ran far ahead of the hashing and held every file
/// found (its task, its announcement, its place in the in-order printing) at once: 110–170
/// MB. The totals shown then grow as the walk goes on instead of being known from the start.
pub const TASKS_AHEAD: usize = 16_384;

/// The walker's first sleep when the task queue is full; doubled while it stays full, up to
/// [`ROOM_NAP_LONGEST`]. Two workers take about a file in 5 µs at their fastest, so a full
/// queue of [`TASKS_AHEAD`] (80 ms of work then) outlasts the longest sleep five times over.
const ROOM_NAP_FIRST: std::time::Duration = std::time::Duration::from_millis(1);
/// The walker's longest sleep on a full queue (a paused job wakes it 60 times a second).
const ROOM_NAP_LONGEST: std::time::Duration = std::time::Duration::from_millis(16);

/// One file for a worker.
pub(crate) struct Task {
    pub id: FileId,
    /// Where to open it (the path its `Queued` event carries, shared).
    pub path: Arc<Path>,
    /// For verify: the algorithm and expected digest.
    pub check: Option<Expected>,
    /// Read as a stream (standard input, a fifo, a device), not as a regular file.
    pub stream: bool,
    /// The output file, for compress, decompress and copy.
    pub dest: Option<PathBuf>,
}

/// A file found, before it has an id.
struct Found {
    open: Arc<Path>,
    /// Its path below the input's parent folder, for outputs that mirror the input tree.
    rel: PathBuf,
    size: u64,
    check: Option<Expected>,
    stream: bool,
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
    /// The output folder, never walked into (a copy into a subfolder of its source).
    avoid: Option<(u64, u64)>,
    /// Outputs named so far, and the input that writes each.
    outputs: HashMap<PathBuf, PathBuf>,
}

pub(super) fn run(sh: &Shared, inputs: Vec<Arc<Path>>, tx: Sender<Task>, rx: &Receiver<Task>) {
    let avoid = match &sh.op {
        Operation::Copy { to, .. } => dev_ino(to),
        Operation::Compress {
            out_dir: Some(d), ..
        }
        | Operation::Decompress {
            out_dir: Some(d), ..
        } => dev_ino(d),
        _ => None,
    };
    let mut w = Walker {
        sh,
        tx,
        pending: None,
        next_id: 0,
        files: 0,
        bytes: 0,
        avoid,
        outputs: HashMap::new(),
    };
    // Each input is let go once listed, and their list when the walk ends: a job of a
    // million rows does not hold the list to its end.
    for (group, input) in inputs.into_iter().enumerate() {
        let input = &input;
        if sh.token.is_cancelled() {
            break;
        }
        w.listing(input);
        // A panic while listing one input fails that input; the job goes on with the rest
        // and still ends with `Finished`.
        let listed = catch_unwind(AssertUnwindSafe(|| {
            super::panic_for_testing("walker", input);
            match &sh.op {
                Operation::Verify { .. } => w.manifest(group, input),
                Operation::Download { checks, .. } => w.url(group, input, checks),
                _ => w.input(group, input),
            }
        }));
        if let Err(payload) = listed {
            let e = Error::invalid(
                input,
                format!(
                    "internal error while listing: {}",
                    super::panic_message(&*payload)
                ),
            );
            w.fail(group, input, e);
        }
    }
    *super::lock(&sh.walking) = None;
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
    /// Says what the walker is busy with, for [`super::Job::busy`].
    ///
    /// Shares the path rather than copying it: a window's job names every listed row as an
    /// input, a million of them.
    fn listing(&self, path: &Arc<Path>) {
        *super::lock(&self.sh.walking) = Some((Arc::clone(path), std::time::Instant::now()));
    }

    fn new_id(&mut self) -> FileId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn announce(&mut self, path: &Arc<Path>, open: &Arc<Path>, size: u64, group: usize) -> FileId {
        let id = self.new_id();
        self.sh.emit(Event::Queued {
            id,
            path: Arc::clone(path),
            open: Arc::clone(open),
            size,
            group,
        });
        id
    }

    fn fail(&mut self, group: usize, path: &Path, error: Error) {
        let path: Arc<Path> = Arc::from(path);
        let id = self.announce(&path, &path, 0, group);
        self.sh.finish_file(Event::Failed { id, error });
    }

    fn skip(&mut self, group: usize, path: &Path, note: &str) {
        let id = self.new_id();
        self.sh.finish_file(Event::Skipped {
            id,
            path: path.to_path_buf(),
            note: note.to_string(),
            group,
        });
    }

    /// Queues `t` for the workers, waiting while [`TASKS_AHEAD`] wait already; a cancel
    /// meanwhile ends the file here (it was announced, so it gets its final event).
    ///
    /// The wait is a sleep on the job's token, not a wait in the channel: a walker parked in
    /// a full channel is woken by every file a worker takes (a futex call each side, and
    /// spinning before it, for every file of a million), where a sleep lets the workers
    /// take a few hundred first. Longer sleeps while the queue stays full (a paused job);
    /// a cancel ends any of them at once.
    fn send_now(&self, t: Task) {
        let id = t.id;
        let mut t = t;
        let mut nap = ROOM_NAP_FIRST;
        loop {
            // The receiver lives in `Shared`-owning workers and in `run`; it cannot be gone
            // while the walker runs, so a failed send only means the job is over.
            match self.tx.try_send(t) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => t = back,
            }
            if let Err(crate::cancel::Cancelled(reason)) = self.sh.token.wait_timeout(nap) {
                self.sh.finish_file(Event::Cancelled { id, reason });
                return;
            }
            nap = (nap * 2).min(ROOM_NAP_LONGEST);
        }
    }

    /// Announces a file shown as `shown` and queues it for a worker. A file whose output
    /// another input of this job already writes fails here instead.
    fn queue(&mut self, group: usize, shown: &Arc<Path>, found: Found) {
        let dest = match super::worker::output_path(&self.sh.op, &found.open, &found.rel) {
            Ok(d) => d,
            Err(e) => return self.fail(group, shown, e),
        };
        // One input's files have distinct outputs by construction (distinct paths below
        // it); only several inputs can meet, so a single folder of a million files keeps no
        // list of them.
        if let Some(d) = dest.as_ref().filter(|_| self.sh.input_count > 1) {
            if let Some(first) = self.outputs.get(d) {
                let e = Error::invalid(
                    shown,
                    format!(
                        "not written: {} is already the output of {} in this job",
                        d.display(),
                        first.display()
                    ),
                );
                return self.fail(group, shown, e);
            }
            self.outputs.insert(d.clone(), shown.to_path_buf());
        }
        let size = found.size;
        let id = self.announce(shown, &found.open, size, group);
        self.files += 1;
        self.bytes += size;
        // Relaxed: display statistics.
        self.sh.total_files.fetch_add(1, Ordering::Relaxed);
        self.sh.total_bytes.fetch_add(size, Ordering::Relaxed);
        let task = Task {
            id,
            path: found.open,
            check: found.check,
            stream: found.stream,
            dest,
        };
        if let Some(prev) = self.pending.replace(task) {
            self.send_now(prev);
        }
    }

    /// Whether the operation writes an output per file (named by the file's path below
    /// its input's folder).
    fn makes_outputs(&self) -> bool {
        matches!(
            self.sh.op,
            Operation::Copy { .. } | Operation::Compress { .. } | Operation::Decompress { .. }
        )
    }

    /// Whether the operation reads standard input, fifos and devices named explicitly:
    /// only checksums do; writing a `.zst` or a copy of one is refused, loudly.
    fn reads_streams(&self) -> bool {
        matches!(
            self.sh.op,
            Operation::Hash { .. } | Operation::Verify { .. }
        )
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

    fn input(&mut self, group: usize, input: &Arc<Path>) {
        if is_stdin(input) {
            if self.reads_streams() {
                self.queue(group, input, stream_found(input));
            } else {
                let e = Error::invalid(input, "standard input is read by hash and verify only");
                self.fail(group, input, e);
            }
            return;
        }
        // Links named as inputs are followed, as every file tool does.
        match fs::metadata(input) {
            Err(e) => self.fail(group, input, Error::io(input, "open", e)),
            Ok(m) if m.is_dir() => {
                if let Err(e) = self.not_into_itself(input) {
                    return self.fail(group, input, e);
                }
                let base = match input.file_name() {
                    Some(_) => input.parent().unwrap_or(Path::new("")).to_path_buf(),
                    None => input.to_path_buf(),
                };
                self.dir(group, input, &base);
            }
            Ok(m) if m.is_file() => match self.wanted(input) {
                Ok(()) => {
                    let base = self.sh.bases.get(group);
                    let rel = match base.and_then(|b| input.strip_prefix(b).ok()) {
                        Some(r) => r.to_path_buf(),
                        None => input.file_name().map(PathBuf::from).unwrap_or_default(),
                    };
                    let found = Found {
                        open: Arc::clone(input),
                        rel,
                        size: m.len(),
                        check: None,
                        stream: false,
                    };
                    self.queue(group, input, found);
                }
                // Listed from a folder by a front end: a skip, as in the engine's own walk.
                Err(note) if self.sh.listed => self.skip(group, input, note),
                // Named explicitly, so refusing it is an error, not a quiet skip.
                Err(note) => self.fail(group, input, Error::invalid(input, note)),
            },
            // A fifo, a device or a pipe named explicitly is read, as coreutils reads it.
            Ok(_) if self.reads_streams() => self.queue(group, input, stream_found(input)),
            // Named explicitly, so refusing it is an error, not a quiet skip.
            Ok(m) => {
                let note = special_note(&m.file_type()).trim_end_matches(", skipped");
                self.fail(group, input, Error::invalid(input, note));
            }
        }
    }

    /// A download's input is a URL, not a file: nothing to stat. The same URL twice in one
    /// job would write the same partial, so the second fails here.
    fn url(
        &mut self,
        group: usize,
        input: &Arc<Path>,
        checks: &[Option<(crate::ops::hash::Algo, String)>],
    ) {
        if let Some(first) = self.outputs.get(&**input) {
            let e = Error::invalid(
                input,
                format!(
                    "not downloaded: the same URL is already item {first} of this job",
                    first = first.display()
                ),
            );
            return self.fail(group, input, e);
        }
        self.outputs
            .insert(input.to_path_buf(), PathBuf::from(format!("{}", group + 1)));
        let check = checks
            .get(group)
            .cloned()
            .flatten()
            .map(|(algo, hex)| Expected {
                algo,
                hex,
                guess: None,
            });
        let found = Found {
            open: Arc::clone(input),
            rel: PathBuf::new(),
            size: 0,
            check,
            stream: false,
        };
        self.queue(group, input, found);
    }

    /// Refuses to copy a folder into itself (`copy src --to src/sub`), which would copy
    /// the copy again on every run, one level deeper, as `cp` refuses it.
    fn not_into_itself(&self, input: &Path) -> Result<(), Error> {
        let Operation::Copy { to, .. } = &self.sh.op else {
            return Ok(());
        };
        let (Ok(src), Ok(dest)) = (fs::canonicalize(input), fs::canonicalize(to)) else {
            return Ok(());
        };
        if dest.starts_with(&src) {
            return Err(Error::invalid(
                input,
                format!(
                    "cannot copy a folder into itself: {} is inside {}",
                    to.display(),
                    input.display()
                ),
            ));
        }
        Ok(())
    }

    fn dir(&mut self, group: usize, root: &Path, base: &Path) {
        let opts = crate::walk::Options {
            follow_symlinks: self.sh.follow_symlinks,
            avoid: self.avoid,
            // Only a checksum reads every file it is given whole, learning its size then.
            skip_sizes: !self.sh.sizes_upfront && matches!(self.sh.op, Operation::Hash { .. }),
        };
        let token = self.sh.token.clone();
        for entry in Walk::new(root, &token, opts) {
            match entry {
                Entry::Folder(dir) => self.listing(&dir),
                Entry::File { path, size } => match self.wanted(&path) {
                    Ok(()) => {
                        // Only an operation that writes outputs names them by this.
                        let rel = if self.makes_outputs() {
                            path.strip_prefix(base).unwrap_or(&path).to_path_buf()
                        } else {
                            PathBuf::new()
                        };
                        let found = Found {
                            open: Arc::clone(&path),
                            rel,
                            size,
                            check: None,
                            stream: false,
                        };
                        self.queue(group, &path, found);
                    }
                    Err(note) => self.skip(group, &path, note),
                },
                Entry::Skipped { path, note } => self.skip(group, &path, note),
                Entry::Error(e) => {
                    let path = e.path().to_path_buf();
                    self.fail(group, &path, e);
                }
            }
        }
    }

    fn manifest(&mut self, group: usize, path: &Path) {
        let Operation::Verify {
            algo,
            relative_to_manifest,
            nul_lines,
        } = self.sh.op
        else {
            return;
        };
        let stream = fs::metadata(path).is_ok_and(|m| is_stream(&m));
        let how = ReadManifest {
            algo,
            stream,
            nul_lines,
        };
        let m = match read_manifest(path, how, &self.sh.token) {
            Ok(m) => m,
            Err(Stop::Failed(e)) => return self.fail(group, path, e),
            // Nothing of this manifest was queued; the job's end accounts for the rest.
            Err(Stop::Cancelled(_)) => return,
        };
        self.sh.emit(Event::Manifest {
            group,
            path: path.to_path_buf(),
            entries: m.entries.len(),
            malformed: m.malformed,
            malformed_lines: m.malformed_lines,
        });
        let dir = path.parent().unwrap_or(Path::new(""));
        // One guess per manifest, for its lines whose length fits SHA-256 and BLAKE3 alike.
        let guess = Arc::new(Guess::default());
        for e in m.entries {
            if self.sh.token.is_cancelled() {
                return;
            }
            let resolved = if relative_to_manifest && e.path.is_relative() && !is_stdin(&e.path) {
                dir.join(&e.path)
            } else {
                e.path.clone()
            };
            if self
                .sh
                .only
                .as_ref()
                .is_some_and(|o| !o.contains(&resolved))
            {
                continue;
            }
            let meta = fs::metadata(&resolved).ok();
            let found = Found {
                rel: e.path.clone(),
                size: meta.as_ref().map_or(0, |m| m.len()),
                stream: is_stdin(&resolved) || meta.as_ref().is_some_and(is_stream),
                open: Arc::from(resolved),
                check: Some(Expected {
                    algo: e.algo,
                    hex: e.hex,
                    guess: e.ambiguous.then(|| Arc::clone(&guess)),
                }),
            };
            self.queue(group, &Arc::from(e.path), found);
        }
    }
}

/// What the walker knows of a stream input: nothing of its size.
fn stream_found(input: &Arc<Path>) -> Found {
    Found {
        open: Arc::clone(input),
        rel: input.file_name().map(PathBuf::from).unwrap_or_default(),
        size: 0,
        check: None,
        stream: true,
    }
}
