//! The window's data: persisted settings, the file rows and their states.

use std::path::{Path, PathBuf};
use std::sync::Arc;
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
        OpKind::Download => "Download",
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
    /// Download folder, keep partial, CA file.
    pub download: super::download::DownloadSettings,
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
            download: Default::default(),
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
            OpKind::Download => self.download.operation(false)?,
        })
    }

    /// A job over `inputs` (with their base folders) with these settings.
    pub fn job_spec(
        &self,
        inputs: Vec<Arc<Path>>,
        bases: crate::engine::Bases,
    ) -> Result<JobSpec, &'static str> {
        let mut spec = JobSpec::new(self.operation()?, inputs);
        spec.bases = bases;
        spec.workers = self.threads;
        spec.deadline = self
            .stop_after_on
            .then(|| Duration::from_secs(u64::from(self.stop_after_secs.max(1))));
        spec.throttle = self.throttle();
        spec.overwrite = self.overwrite;
        // The list holds files found in folders: one with nothing to do is skipped.
        spec.listed = true;
        Ok(spec)
    }

    /// The folder outputs go to that must exist before a job starts, if any.
    pub fn destination(&self) -> Option<&Path> {
        match self.op {
            OpKind::Copy => self.copy_to.as_deref(),
            OpKind::Compress | OpKind::Decompress => self.out_dir.as_deref(),
            // A download creates its folder itself.
            OpKind::Hash | OpKind::Verify | OpKind::Download => None,
        }
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
    /// Being checked after its work (a copy read back from the disk).
    Verifying,
    /// Finished well.
    Done,
    /// Failed, with the reason.
    Failed(Note),
    /// Stopped before it finished.
    Cancelled(Reason),
    /// Not processed, with why.
    Skipped(Note),
}

/// A row's text (why it failed or was skipped) behind one thin pointer: a row is kept for
/// each of a million files, and this keeps the state 16 bytes where a `Box<str>` made it 24.
#[derive(Clone, PartialEq, Eq)]
pub struct Note(Box<Box<str>>);

impl std::ops::Deref for Note {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Note {
    fn from(s: &str) -> Self {
        Note(Box::new(s.into()))
    }
}

impl From<String> for Note {
    fn from(s: String) -> Self {
        Note(Box::new(s.into_boxed_str()))
    }
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl std::fmt::Debug for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl FileState {
    /// Short label for the state column.
    pub fn label(&self, paused: bool) -> String {
        match self {
            FileState::Ready => "ready".into(),
            FileState::Queued => "queued".into(),
            FileState::Running if paused => "paused".into(),
            FileState::Running => "running".into(),
            FileState::Verifying if paused => "paused (verifying)".into(),
            FileState::Verifying => "verifying".into(),
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
            FileState::Ready | FileState::Queued | FileState::Running | FileState::Verifying
        )
    }
}

/// A row's checksum. Kept as its bytes when it has at most 32 (every algorithm but SHA-384
/// and SHA-512): a million rows each with a hex `String` beside a boxed result cost 144 MB,
/// these 48.
#[derive(Clone, PartialEq, Eq)]
pub enum Digest {
    /// Up to 32 bytes; its lowercase hex is its text.
    Short {
        /// Bytes used.
        len: u8,
        /// The digest, zero-padded.
        bytes: [u8; 32],
    },
    /// Anything else, as the text it came as.
    Text(Box<str>),
}

impl Digest {
    /// The digest a hex text stands for. Only a text that is its own lowercase hex
    /// rendering is kept as bytes, so [`Digest::hex`] gives back exactly what came.
    pub fn from_hex(hex: &str) -> Digest {
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let raw = hex.as_bytes();
        if raw.len().is_multiple_of(2) && raw.len() <= 64 {
            let mut bytes = [0u8; 32];
            let parsed = raw.chunks_exact(2).zip(bytes.iter_mut()).all(|(pair, b)| {
                match (nibble(pair[0]), nibble(pair[1])) {
                    (Some(h), Some(l)) => {
                        *b = h << 4 | l;
                        true
                    }
                    _ => false,
                }
            });
            if parsed {
                return Digest::Short {
                    // At most 32: checked above.
                    len: (raw.len() / 2) as u8,
                    bytes,
                };
            }
        }
        Digest::Text(hex.into())
    }

    /// Its lowercase hex (or its text).
    pub fn hex(&self) -> String {
        self.to_string()
    }

    /// What it sorts by: for digests of one algorithm, the same order as their hex.
    pub fn sort_bytes(&self) -> &[u8] {
        match self {
            Digest::Short { len, bytes } => &bytes[..usize::from(*len)],
            Digest::Text(t) => t.as_bytes(),
        }
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Digest::Short { len, bytes } => bytes[..usize::from(*len)]
                .iter()
                .try_for_each(|b| write!(f, "{b:02x}")),
            Digest::Text(t) => f.write_str(t),
        }
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// What a finished row produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowResult {
    /// A checksum (click to copy).
    Digest(Digest),
    /// Verification result, and the algorithm it was checked with (`None`: the manifest
    /// left SHA-256 or BLAKE3 open and neither matched).
    Verified {
        /// Whether the checksum matched.
        ok: bool,
        /// The algorithm used.
        algo: Option<crate::ops::hash::Algo>,
    },
    /// An output file.
    Output(Box<Path>),
    /// A copy read back and found equal to its source (boxed: it is rare, and the other
    /// results stay 40 bytes).
    CopyVerified(Box<VerifiedCopy>),
}

/// A copy read back equal to its source, and the BLAKE3 checksum both have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCopy {
    /// The copy.
    pub dest: Box<Path>,
    /// BLAKE3.
    pub blake3: Digest,
}

impl RowResult {
    /// The checksum this result carries, for a manifest: a row's own, or a verified copy's.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            RowResult::Digest(d) => Some(d),
            RowResult::CopyVerified(c) => Some(&c.blake3),
            _ => None,
        }
    }
}

/// One file in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The file (for a verify entry: its name in the manifest, resolved against the
    /// manifest's folder, so that any operation can open it). Shared with the jobs that
    /// run it, so a million rows are not copied at Start.
    pub path: Arc<Path>,
    /// Where the row came from: the folder the person added (its parent) or, with
    /// `from_manifest`, the manifest. One field, not two: a row is never both, and a
    /// million rows each save the bytes (the flag sits in what was padding).
    from: Option<Arc<Path>>,
    /// `from` is the manifest the row is an entry of.
    from_manifest: bool,
    /// Size in bytes.
    pub size: u64,
    /// State.
    pub state: FileState,
    /// Bytes done while running.
    pub done_bytes: u64,
    /// Result once done.
    /// (Boxed: a row is kept for each of a million files, and most have no result yet.)
    pub result: Option<Box<RowResult>>,
    /// Selected for removal.
    pub selected: bool,
    /// How long its processing took, in milliseconds, once it ended.
    pub ms: Option<std::num::NonZeroU32>,
}

impl Row {
    /// A new, ready row.
    pub fn new(path: impl Into<Arc<Path>>, size: u64, base: Option<Arc<Path>>) -> Self {
        Row {
            path: path.into(),
            from: base,
            from_manifest: false,
            size,
            state: FileState::Ready,
            done_bytes: 0,
            result: None,
            selected: false,
            ms: None,
        }
    }

    /// The manifest a verify of this row reads: the one it came from, or the row itself.
    pub fn manifest(&self) -> &Path {
        self.origin().map_or(&self.path, |m| &**m)
    }

    /// For files found in a folder the person added: that folder's parent, so copies keep
    /// the folder's structure.
    pub fn base(&self) -> Option<&Arc<Path>> {
        self.from.as_ref().filter(|_| !self.from_manifest)
    }

    /// For verify entries: the manifest the row came from (Start again re-reads it).
    pub fn origin(&self) -> Option<&Arc<Path>> {
        self.from.as_ref().filter(|_| self.from_manifest)
    }

    /// Makes this row an entry of manifest `m` (or of none).
    pub fn set_origin(&mut self, m: Option<Arc<Path>>) {
        self.from_manifest = m.is_some();
        self.from = m;
    }
}

/// Counts over the rows by state, kept up to date as rows change, so that no frame walks a
/// million rows to draw the totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Rows.
    pub files: usize,
    /// Their sizes.
    pub bytes: u64,
    /// Rows not yet in a job, or waiting in one.
    pub waiting: usize,
    /// Rows being processed.
    pub running: usize,
    /// Rows done.
    pub done: usize,
    /// Their sizes.
    pub done_bytes: u64,
    /// Rows failed (a checksum that differs included).
    pub failed: usize,
    /// Rows cancelled (by a cancel of the job or its time limit).
    pub cancelled: usize,
    /// Rows skipped (by the person, or as nothing to do).
    pub skipped: usize,
    /// Their sizes: work that is no longer meant to be done.
    pub skipped_bytes: u64,
    /// Rows with a checksum.
    pub digests: usize,
}

impl Tally {
    fn count(&mut self, row: &Row, sign: i8) {
        fn add(n: &mut usize, sign: i8) {
            *n = if sign > 0 {
                *n + 1
            } else {
                n.saturating_sub(1)
            };
        }
        fn add_bytes(n: &mut u64, by: u64, sign: i8) {
            *n = if sign > 0 {
                *n + by
            } else {
                n.saturating_sub(by)
            };
        }
        add(&mut self.files, sign);
        add_bytes(&mut self.bytes, row.size, sign);
        match &row.state {
            FileState::Ready | FileState::Queued => add(&mut self.waiting, sign),
            FileState::Running | FileState::Verifying => add(&mut self.running, sign),
            FileState::Done => {
                add(&mut self.done, sign);
                add_bytes(&mut self.done_bytes, row.size, sign);
            }
            FileState::Failed(_) => add(&mut self.failed, sign),
            FileState::Cancelled(Reason::Skip) | FileState::Skipped(_) => {
                add(&mut self.skipped, sign);
                add_bytes(&mut self.skipped_bytes, row.size, sign);
            }
            FileState::Cancelled(_) => add(&mut self.cancelled, sign),
        }
        if row.result.as_deref().and_then(RowResult::digest).is_some() {
            add(&mut self.digests, sign);
        }
    }
}

/// The file list: rows in the order they were added (never moved while shown), an index to
/// find a path without searching, and the [`Tally`].
#[derive(Default)]
pub struct RowList {
    rows: Vec<Row>,
    /// The row of each listed path and 32 bits of its path's hash: 8 bytes a row. The hash
    /// kept beside the row number lets the table grow without reading every row's path again
    /// (a million scattered reads: a 120 ms frame while a big folder was listed).
    index: hashbrown::HashTable<(u32, u32)>,
    tally: Tally,
}

impl std::fmt::Debug for RowList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowList")
            .field("rows", &self.rows)
            .field("tally", &self.tally)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for RowList {
    type Target = [Row];
    fn deref(&self) -> &[Row] {
        &self.rows
    }
}

/// Whether two paths are the same: by their bytes first (the usual case, and a tenth of
/// the time `Path`'s own comparison takes, which walks components), else as `Path` does.
pub fn same_path(a: &Path, b: &Path) -> bool {
    a.as_os_str() == b.as_os_str() || a == b
}

/// 32 bits of a path's hash: xxh3 of its bytes (hashing a `Path` walks its components
/// instead, which was most of the window's time while a million files were listed).
fn path_hash(path: &Path) -> u32 {
    // The high half: the better-mixed bits.
    (xxhash_rust::xxh3::xxh3_64(path.as_os_str().as_encoded_bytes()) >> 32) as u32
}

/// The table's 64-bit hash from the kept 32 bits: the table takes its bucket from the low
/// bits and its tag byte from the top seven, so both halves carry them.
fn widen(h: u32) -> u64 {
    (u64::from(h) << 32) | u64::from(h)
}

/// Rows past which the list grows straight to a buffer of [`MAPPED_BYTES`].
const BIG_LIST_ROWS: usize = 1 << 16;
/// Above the allocator's mapping threshold (64 MiB, set by `sys::keep_freed_memory`).
const MAPPED_BYTES: usize = (64 << 20) + (1 << 20);

impl RowList {
    /// The counts over all rows.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// The row listing `path`, if any.
    pub fn find(&self, path: &Path) -> Option<usize> {
        self.find_hashed(path, path_hash(path))
    }

    fn find_hashed(&self, path: &Path, h: u32) -> Option<usize> {
        let rows = &self.rows;
        self.index
            .find(widen(h), |&(i, hi)| {
                hi == h
                    && rows
                        .get(i as usize)
                        .is_some_and(|r| same_path(&r.path, path))
            })
            .map(|&(i, _)| i as usize)
    }

    /// Indexes row `i`, whose path hashes to `h`.
    fn index_row(&mut self, i: usize, h: u32) {
        let slot = (u32::try_from(i).unwrap_or(u32::MAX), h);
        self.index.insert_unique(widen(h), slot, |&(_, h)| widen(h));
    }

    /// Appends a row and returns its index.
    pub fn push(&mut self, row: Row) -> usize {
        let h = path_hash(&row.path);
        self.push_hashed(row, h)
    }

    fn push_hashed(&mut self, row: Row, h: u32) -> usize {
        let i = self.rows.len();
        if i == self.rows.capacity() && i >= BIG_LIST_ROWS {
            // Once the list is big, grow it straight to a size the allocator maps on its own
            // (at least 64 MiB): such a mapping grows in place and goes back to the system when
            // freed, where a smaller buffer outgrown in the heap stays in the process (the
            // allocator keeps freed memory, `sys::keep_freed_memory`) — about as much again
            // as the list, for a million rows.
            let rows = (MAPPED_BYTES / std::mem::size_of::<Row>()).max(i * 2);
            self.rows.reserve_exact(rows - i);
        }
        self.tally.count(&row, 1);
        self.rows.push(row);
        self.index_row(i, h);
        i
    }

    /// Appends a row unless its path is listed already; whether it was added.
    pub fn push_new(&mut self, row: Row) -> bool {
        let h = path_hash(&row.path);
        if self.find_hashed(&row.path, h).is_some() {
            return false;
        }
        self.push_hashed(row, h);
        true
    }

    /// Changes row `i` through `f`, keeping the tally true. `f` must not change the row's
    /// path (the index is not updated; no caller needs to).
    pub fn update(&mut self, i: usize, f: impl FnOnce(&mut Row)) {
        let Some(row) = self.rows.get_mut(i) else {
            return;
        };
        self.tally.count(row, -1);
        f(row);
        self.tally.count(row, 1);
    }

    /// Sets row `i`'s state.
    pub fn set_state(&mut self, i: usize, state: FileState) {
        self.update(i, |r| r.state = state);
    }

    /// The rows, for marks that no count depends on (the selection).
    pub fn marks_mut(&mut self) -> &mut [Row] {
        &mut self.rows
    }

    /// Keeps only the rows `keep` says yes to; returns where each old row went
    /// (`usize::MAX`: removed).
    pub fn retain_remap(&mut self, mut keep: impl FnMut(&Row) -> bool) -> Vec<usize> {
        let mut remap = Vec::with_capacity(self.rows.len());
        let mut next = 0;
        for r in &self.rows {
            if keep(r) {
                remap.push(next);
                next += 1;
            } else {
                remap.push(usize::MAX);
            }
        }
        let mut i = 0;
        self.rows.retain(|_| {
            i += 1;
            remap[i - 1] != usize::MAX
        });
        self.reindex();
        remap
    }

    /// Removes every row.
    pub fn clear(&mut self) {
        *self = RowList::default();
    }

    fn reindex(&mut self) {
        self.index.clear();
        self.tally = Tally::default();
        self.index.reserve(self.rows.len(), |&(_, h)| widen(h));
        for i in 0..self.rows.len() {
            self.tally.count(&self.rows[i], 1);
            let h = path_hash(&self.rows[i].path);
            self.index_row(i, h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_gives_back_exactly_the_text_it_came_as() {
        for hex in [
            "",
            "0a",
            "cbf43926",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            // SHA-512: longer than 32 bytes, kept as text.
            &"ab".repeat(64),
            // Not lowercase hex: kept as it came.
            "E3B0",
            "abc",
            "zz",
        ] {
            assert_eq!(Digest::from_hex(hex).hex(), hex);
        }
        assert!(matches!(
            Digest::from_hex(&"0f".repeat(32)),
            Digest::Short { len: 32, .. }
        ));
        let (a, b) = (Digest::from_hex("0aff"), Digest::from_hex("0b00"));
        assert!(a.sort_bytes() < b.sort_bytes());
        // The point of it: a finished row's result is one small allocation.
        assert!(std::mem::size_of::<RowResult>() <= 40);
        // And a row, of which a million may be listed, stays small.
        assert!(std::mem::size_of::<FileState>() <= 16);
        assert!(
            std::mem::size_of::<Row>() <= 80,
            "{}",
            std::mem::size_of::<Row>()
        );
    }

    /// Every path is found again through the index's growth and after rows are removed; a
    /// path listed once is not listed twice.
    #[test]
    fn the_index_finds_every_path_through_growth_and_removal() {
        let mut l = RowList::default();
        let n = 100_000;
        for i in 0..n {
            assert!(l.push_new(Row::new(PathBuf::from(format!("/d/{i}")), 1, None)));
        }
        assert!(!l.push_new(Row::new(PathBuf::from("/d/77"), 1, None)));
        assert_eq!(l.len(), n);
        for i in (0..n).step_by(7) {
            assert_eq!(l.find(Path::new(&format!("/d/{i}"))), Some(i));
        }
        assert_eq!(l.find(Path::new("/d/x")), None);
        l.retain_remap(|r| !r.path.to_string_lossy().ends_with('5'));
        assert_eq!(l.find(Path::new("/d/5")), None);
        let at = l.find(Path::new("/d/6")).map(|i| l[i].path.to_path_buf());
        assert_eq!(at.as_deref(), Some(Path::new("/d/6")));
        assert!(l.push_new(Row::new(PathBuf::from("/d/5"), 1, None)));
    }

    /// The tally kept as rows change equals a count made from scratch.
    #[test]
    fn the_tally_follows_every_change() {
        let mut l = RowList::default();
        for i in 0..6u64 {
            assert!(l.push_new(Row::new(
                PathBuf::from(format!("/f{i}")),
                10 * (i + 1),
                None
            )));
        }
        assert!(
            !l.push_new(Row::new(PathBuf::from("/f3"), 1, None)),
            "listed once"
        );
        l.set_state(0, FileState::Done);
        l.set_state(1, FileState::Failed("x".into()));
        l.set_state(2, FileState::Cancelled(Reason::Skip));
        l.set_state(3, FileState::Cancelled(Reason::User));
        l.set_state(4, FileState::Skipped("fifo".into()));
        l.update(0, |r| {
            r.result = Some(Box::new(RowResult::Digest(Digest::from_hex("ab"))))
        });
        let t = l.tally();
        assert_eq!((t.files, t.bytes), (6, 210));
        assert_eq!((t.done, t.done_bytes, t.digests), (1, 10, 1));
        assert_eq!((t.failed, t.cancelled, t.waiting), (1, 1, 1));
        assert_eq!((t.skipped, t.skipped_bytes), (2, 30 + 50));
        let remap = l.retain_remap(|r| *r.path != *Path::new("/f1"));
        assert_eq!(remap, [0, usize::MAX, 1, 2, 3, 4]);
        assert_eq!(l.find(Path::new("/f5")), Some(4));
        assert_eq!(l.find(Path::new("/f1")), None);
        let mut fresh = RowList::default();
        for r in l.iter() {
            fresh.push(r.clone());
        }
        assert_eq!(l.tally(), fresh.tally());
    }
}
