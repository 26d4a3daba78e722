//! The window's data: persisted settings, the file rows and their states.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cancel::Reason;
use crate::engine::{JobSpec, Operation};
use crate::ops::hash::Algo;
use crate::ops::kind::OpKind;

/// The label the window shows for an operation.
pub fn op_label(op: OpKind) -> &'static str {
    match op {
        OpKind::Hash => "Checksum",
        OpKind::Verify => "Verify",
        OpKind::Compress => "Compress",
        OpKind::Decompress => "Decompress",
        OpKind::Copy => "Copy",
    }
}

/// Settings remembered between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The operation.
    pub op: OpKind,
    /// Checksum algorithm.
    pub algo: Algo,
    /// zstd level.
    pub level: i32,
    /// Where compress/decompress outputs go (`None`: beside the source).
    pub out_dir: Option<PathBuf>,
    /// Copy destination.
    pub copy_to: Option<PathBuf>,
    /// Verify copies.
    pub copy_verify: bool,
    /// Replace existing outputs.
    pub overwrite: bool,
    /// Worker threads; 0 = one per core.
    pub threads: usize,
    /// Whether the time limit is on.
    pub stop_after_on: bool,
    /// The time limit in seconds.
    pub stop_after_secs: u32,
    /// Whether the throttle is on.
    pub throttle_on: bool,
    /// The throttle in MiB/s (binary, as every size and speed the window shows).
    pub throttle_mb_s: f32,
    /// Exit without waiting for running work.
    pub daemon: bool,
    /// Light, dark or as the desktop says.
    pub theme: super::look::Theme,
    /// The window's zoom (1.0 = 100 %), also changed with Ctrl +/−.
    pub zoom: f32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            op: OpKind::Hash,
            algo: Algo::Sha256,
            level: 3,
            out_dir: None,
            copy_to: None,
            copy_verify: false,
            overwrite: false,
            threads: 0,
            stop_after_on: false,
            stop_after_secs: 60,
            throttle_on: false,
            throttle_mb_s: 100.0,
            daemon: false,
            theme: super::look::Theme::System,
            zoom: 1.0,
        }
    }
}

impl Settings {
    /// The throttle in bytes per second, if on.
    pub fn throttle(&self) -> Option<u64> {
        (self.throttle_on && self.throttle_mb_s > 0.0)
            .then_some((self.throttle_mb_s as f64 * 1024.0 * 1024.0) as u64)
    }

    /// The operation these settings describe, or why it cannot run yet.
    pub fn operation(&self) -> Result<Operation, &'static str> {
        Ok(match self.op {
            OpKind::Hash => Operation::Hash { algo: self.algo },
            OpKind::Verify => Operation::Verify {
                algo: None,
                relative_to_manifest: true,
                nul_lines: false,
            },
            OpKind::Compress => Operation::compress(self.level.clamp(1, 19), self.out_dir.clone()),
            OpKind::Decompress => Operation::decompress(self.out_dir.clone()),
            OpKind::Copy => Operation::Copy {
                to: self
                    .copy_to
                    .clone()
                    .ok_or("Choose a destination folder for the copy first.")?,
                verify: self.copy_verify,
            },
        })
    }

    /// A job over `rows` with these settings.
    pub fn job_spec(&self, rows: &[Row]) -> Result<JobSpec, &'static str> {
        let mut spec = JobSpec::new(
            self.operation()?,
            rows.iter().map(|r| r.path.clone()).collect(),
        );
        spec.bases = rows.iter().map(|r| r.base.clone()).collect();
        spec.workers = self.threads;
        spec.deadline = self
            .stop_after_on
            .then(|| Duration::from_secs(u64::from(self.stop_after_secs.max(1))));
        spec.throttle = self.throttle();
        spec.overwrite = self.overwrite;
        Ok(spec)
    }
}

/// Where a row is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Listed, no job yet.
    Ready,
    /// In a job, waiting for a worker.
    Queued,
    /// Being processed.
    Running,
    /// Finished well.
    Done,
    /// Failed, with the reason.
    Failed(String),
    /// Stopped before it finished.
    Cancelled(Reason),
    /// Not processed, with why.
    Skipped(String),
}

impl FileState {
    /// Short label for the state column.
    pub fn label(&self, paused: bool) -> String {
        match self {
            FileState::Ready => "ready".into(),
            FileState::Queued => "queued".into(),
            FileState::Running if paused => "paused".into(),
            FileState::Running => "running".into(),
            FileState::Done => "done".into(),
            FileState::Failed(_) => "failed".into(),
            FileState::Cancelled(Reason::Skip) => "skipped".into(),
            FileState::Cancelled(Reason::User) => "cancelled".into(),
            FileState::Cancelled(Reason::Deadline) => "stopped: time limit reached".into(),
            FileState::Cancelled(r) => format!("cancelled: {r}"),
            FileState::Skipped(_) => "skipped".into(),
        }
    }

    /// Whether the row has reached a final state.
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            FileState::Ready | FileState::Queued | FileState::Running
        )
    }
}

/// What a finished row produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowResult {
    /// A checksum (click to copy).
    Digest(String),
    /// Verification result, and the algorithm it was checked with (`None`: the manifest
    /// left SHA-256 or BLAKE3 open and neither matched).
    Verified {
        /// Whether the checksum matched.
        ok: bool,
        /// The algorithm used.
        algo: Option<crate::ops::hash::Algo>,
    },
    /// An output file.
    Output(PathBuf),
}

/// One file in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The file.
    pub path: PathBuf,
    /// For files found in a folder the person added: that folder's parent, so copies keep
    /// the folder's structure.
    pub base: Option<PathBuf>,
    /// Size in bytes.
    pub size: u64,
    /// State.
    pub state: FileState,
    /// Bytes done while running.
    pub done_bytes: u64,
    /// Result once done.
    pub result: Option<RowResult>,
    /// Selected for removal.
    pub selected: bool,
}

impl Row {
    /// A new, ready row.
    pub fn new(path: PathBuf, size: u64, base: Option<PathBuf>) -> Self {
        Row {
            path,
            base,
            size,
            state: FileState::Ready,
            done_bytes: 0,
            result: None,
            selected: false,
        }
    }
}
