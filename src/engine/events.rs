//! What the engine reports to a front end: the events of a job, each file's outcome, the
//! summary at the end, and the progress and busy views a front end reads when it likes.

use std::path::PathBuf;
use std::time::Duration;

use super::FileId;
use crate::cancel::Reason;
use crate::error::Error;
use crate::ops::copy::Copied;
use crate::ops::hash::Algo;

/// The result of one file that finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A checksum, lowercase hex.
    Digest(String),
    /// A verification: whether the checksum matched.
    Verified {
        /// `true` if it matched.
        ok: bool,
        /// The algorithm checked; `None` when the manifest left SHA-256 or BLAKE3 open and
        /// the file matched neither.
        algo: Option<Algo>,
    },
    /// An output file was written (compress, decompress).
    Written(PathBuf),
    /// The output went to standard output, or was only checked (`decompress --test`).
    Streamed,
    /// A copy was made.
    Copied(Copied),
}

/// What the engine reports. Lifecycle events are never dropped.
#[derive(Debug)]
pub enum Event {
    /// A file was found and will be processed. `group` is the index of the input (for verify,
    /// of the manifest) it came from.
    Queued {
        /// The file's id.
        id: FileId,
        /// The file, as named by the input (for verify: as written in the manifest).
        /// Shared with the walker's task (and, for the window's rows, with the row).
        path: std::sync::Arc<std::path::Path>,
        /// Where it is read from: `path`, except for verify, where a relative name is
        /// resolved against the manifest's folder.
        open: std::sync::Arc<std::path::Path>,
        /// Its size in bytes, 0 if unknown.
        size: u64,
        /// Index of the input (or manifest) it came from.
        group: usize,
    },
    /// A verify manifest was read.
    Manifest {
        /// Index of the manifest among the inputs.
        group: usize,
        /// The manifest.
        path: PathBuf,
        /// How many checksum lines it has.
        entries: usize,
        /// How many lines were not checksum lines.
        malformed: usize,
        /// The numbers (from 1) of the first of those lines, for `verify --warn`.
        malformed_lines: Vec<usize>,
    },
    /// A file's size became known after it was queued (a download's length, from the
    /// server's answer); the job's total grew by it.
    Sized {
        /// The file's id.
        id: FileId,
        /// Its size in bytes.
        size: u64,
    },
    /// A worker began the file.
    Started {
        /// The file's id.
        id: FileId,
    },
    /// The file finished.
    Done {
        /// The file's id.
        id: FileId,
        /// Its result.
        outcome: Outcome,
    },
    /// The file failed; the job goes on.
    Failed {
        /// The file's id.
        id: FileId,
        /// Why.
        error: Error,
    },
    /// The file was stopped before it finished; nothing of its output remains.
    Cancelled {
        /// The file's id.
        id: FileId,
        /// The reason that won.
        reason: Reason,
    },
    /// Something found while walking that is not processed (a fifo, a link not followed).
    Skipped {
        /// The entry's id.
        id: FileId,
        /// The entry.
        path: PathBuf,
        /// Why it is skipped.
        note: String,
        /// Index of the input it came from.
        group: usize,
    },
    /// Walking is over: the totals are final.
    WalkDone {
        /// Files to process.
        files: usize,
        /// Their total size.
        bytes: u64,
    },
    /// Every worker has stopped. Always the last event.
    Finished(Summary),
}

/// Counts and timings of a finished job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files that finished (for verify: checked, whether they matched or not).
    pub done: usize,
    /// Of those, verified files whose checksum did not match.
    pub mismatched: usize,
    /// Files that failed.
    pub failed: usize,
    /// Files cancelled or skipped by the person.
    pub cancelled: usize,
    /// Entries not processed (not regular files).
    pub skipped: usize,
    /// Bytes processed.
    pub bytes: u64,
    /// From start to the last worker's stop.
    pub elapsed: Duration,
    /// The job's cancel reason, if it was cancelled.
    pub cancel_reason: Option<Reason>,
    /// From the job's cancel to the last worker's stop.
    pub stop_latency: Option<Duration>,
}

/// A worker that is still busy, as reported by
/// [`Job::join_timeout`](super::Job::join_timeout) and [`Job::busy`](super::Job::busy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    /// Worker number, from 0; for the walker, the number of workers.
    pub worker: usize,
    /// This is the walker, listing folders or reading a manifest (`path`), not a worker.
    pub listing: bool,
    /// The file it is on.
    pub id: FileId,
    /// Its path.
    pub path: PathBuf,
    /// How long it has been on it.
    pub elapsed: Duration,
}

/// A point-in-time view of progress, cheap to take every frame.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Bytes processed so far.
    pub bytes_done: u64,
    /// Bytes of all files found so far.
    pub bytes_total: u64,
    /// Files found so far.
    pub files_total: usize,
    /// Files that reached a final state.
    pub files_finished: usize,
    /// Whether walking is over (totals final).
    pub walk_done: bool,
    /// Per running file: its id and the bytes done.
    pub running: Vec<(FileId, u64)>,
    /// Running files being checked after their work (a copy read back).
    pub verifying: Vec<FileId>,
}
