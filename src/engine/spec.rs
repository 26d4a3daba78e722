//! The job spec: what a front end asks the engine to do — the operation, its inputs and how to
//! run it. Plain data, checked and used by the walker and the workers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ops::hash::Algo;
use crate::ops::kind::OpKind;

/// What to do to each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Compute a checksum.
    Hash {
        /// The algorithm.
        algo: Algo,
    },
    /// Check files against manifests; the job's inputs are the manifests.
    Verify {
        /// Forces the algorithm for lines that do not name one.
        algo: Option<Algo>,
        /// Resolve relative names against the manifest's folder instead of the current one
        /// (`sha256sum -c` uses the current folder).
        relative_to_manifest: bool,
        /// Manifest lines end with NUL instead of newline (`hash -z`).
        nul_lines: bool,
    },
    /// zstd-compress each file to `NAME.zst`.
    Compress {
        /// zstd level, 1 to 22.
        level: i32,
        /// Where outputs go (mirroring folder structure); beside the source if `None`.
        out_dir: Option<PathBuf>,
        /// zstd threads for each file; `None`: chosen by how busy the job is, `Some(0)`:
        /// one per core.
        threads: Option<u32>,
        /// Long-distance matching with a window of 2^N bytes.
        long: Option<u32>,
        /// Where the output goes, if not to the usual name.
        to: Destination,
        /// Remove each source once its output is complete and synced.
        remove_source: bool,
    },
    /// Decompress each `NAME.zst` to `NAME`.
    Decompress {
        /// Where outputs go; beside the source if `None`.
        out_dir: Option<PathBuf>,
        /// Allow frames with a window up to 2^N bytes (written with `--long`).
        long: Option<u32>,
        /// Where the output goes, if not to the usual name.
        to: Destination,
        /// Remove each source once its output is complete and synced.
        remove_source: bool,
    },
    /// Copy files (and folders, recursively) into a folder.
    Copy {
        /// The destination folder.
        to: PathBuf,
        /// Hash both sides after copying.
        verify: bool,
    },
    /// Download each input (an http or https URL) into a folder.
    Download {
        /// Where, under which name, how hard to try, what to trust.
        opts: crate::ops::download::Options,
        /// The expected checksum of each input (same index), if any.
        checks: Vec<Option<(Algo, String)>>,
    },
}

/// Where a compress or decompress output goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Destination {
    /// `NAME.zst` / `NAME` beside the source, or under the output folder.
    #[default]
    Usual,
    /// This file (one input only).
    File(PathBuf),
    /// Standard output, one file after the other (`-c`).
    Stdout,
    /// Nowhere: the data is only checked (`decompress --test`).
    Nowhere,
}

impl Operation {
    /// Compression at `level` into `out_dir` (beside the sources if `None`), with every
    /// other choice as the zstd command line makes it by default.
    pub fn compress(level: i32, out_dir: Option<PathBuf>) -> Self {
        Operation::Compress {
            level,
            out_dir,
            threads: None,
            long: None,
            to: Destination::Usual,
            remove_source: false,
        }
    }

    /// Decompression into `out_dir` (beside the sources if `None`), with every other choice
    /// as the zstd command line makes it by default.
    pub fn decompress(out_dir: Option<PathBuf>) -> Self {
        Operation::Decompress {
            out_dir,
            long: None,
            to: Destination::Usual,
            remove_source: false,
        }
    }

    /// Which operation this is.
    pub fn kind(&self) -> OpKind {
        match self {
            Operation::Hash { .. } => OpKind::Hash,
            Operation::Verify { .. } => OpKind::Verify,
            Operation::Compress { .. } => OpKind::Compress,
            Operation::Decompress { .. } => OpKind::Decompress,
            Operation::Copy { .. } => OpKind::Copy,
            Operation::Download { .. } => OpKind::Download,
        }
    }

    /// Short name, as on the command line.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }
}

/// A job: an operation, its inputs and how to run it.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The operation.
    pub op: Operation,
    /// Files and folders (manifests for verify), processed in this order. Shared: the
    /// window hands a million rows' paths to a job without copying them.
    pub inputs: Vec<std::sync::Arc<Path>>,
    /// Optional base folder per input (same index): outputs that mirror the input tree (copy,
    /// `--out-dir`) name a file input by its path below this base instead of by its bare
    /// name. The window uses it for files it found by expanding a folder.
    pub bases: Bases,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Cancel the job with [`Reason::Deadline`](crate::cancel::Reason::Deadline) after this long.
    pub deadline: Option<Duration>,
    /// Total rate limit in bytes per second.
    pub throttle: Option<u64>,
    /// Follow symbolic links found inside folders (links given as inputs are always followed).
    pub follow_symlinks: bool,
    /// Replace existing outputs.
    pub overwrite: bool,
    /// The inputs are files a front end found in folders (the window's list), not names
    /// typed one by one: one the operation has no work for (a `.zst` to compress) is skipped
    /// with a note, as in a folder, instead of failed.
    pub listed: bool,
    /// Take each file's size while walking folders (the default). Off, a checksum job's
    /// walker takes no `lstat` of the files it finds: sizes are learnt as the files are
    /// read, and totals and `Queued` sizes of those files say 0. The command line turns it
    /// off when nothing shows sizes (no progress bar, no `--json`).
    pub sizes_upfront: bool,
    /// For verify: check only the entries that open one of these paths (a retry of some
    /// rows); the rest of each manifest is left alone, not announced.
    pub only: Option<std::collections::HashSet<PathBuf>>,
}

impl JobSpec {
    /// A spec with defaults: one worker per core, no limits, no overwriting.
    pub fn new<P: Into<std::sync::Arc<Path>>>(
        op: Operation,
        inputs: impl IntoIterator<Item = P>,
    ) -> Self {
        JobSpec {
            op,
            inputs: inputs.into_iter().map(Into::into).collect(),
            bases: Bases::default(),
            workers: 0,
            deadline: None,
            throttle: None,
            follow_symlinks: false,
            overwrite: false,
            listed: false,
            sizes_upfront: true,
            only: None,
        }
    }
}

/// The base folder of each input, kept as runs: the million files the window found in one
/// folder share one base, and a run costs what one input's entry did.
#[derive(Debug, Clone, Default)]
pub struct Bases {
    /// From this input index on (ascending), this base; an index before the first has none.
    runs: Vec<(usize, Option<std::sync::Arc<Path>>)>,
    len: usize,
}

impl Bases {
    /// Gives the next input (index [`Bases::len`]) this base.
    pub fn push(&mut self, base: Option<std::sync::Arc<Path>>) {
        let same = match (self.runs.last(), &base) {
            (Some((_, Some(a))), Some(b)) => std::sync::Arc::ptr_eq(a, b) || a == b,
            (Some((_, None)), None) => true,
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.runs.push((self.len, base));
        }
        self.len += 1;
    }

    /// How many inputs have been given a base (or none).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no input was given one.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Input `i`'s base.
    pub fn get(&self, i: usize) -> Option<&Path> {
        if i >= self.len {
            return None;
        }
        let at = self.runs.partition_point(|(from, _)| *from <= i);
        at.checked_sub(1)
            .and_then(|k| self.runs.get(k))
            .and_then(|(_, b)| b.as_deref())
    }
}

impl Extend<Option<std::sync::Arc<Path>>> for Bases {
    fn extend<I: IntoIterator<Item = Option<std::sync::Arc<Path>>>>(&mut self, iter: I) {
        for base in iter {
            self.push(base);
        }
    }
}

impl FromIterator<Option<std::sync::Arc<Path>>> for Bases {
    fn from_iter<I: IntoIterator<Item = Option<std::sync::Arc<Path>>>>(iter: I) -> Self {
        let mut b = Bases::default();
        b.extend(iter);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn bases_kept_as_runs_answer_as_one_per_input() {
        let a: Arc<Path> = Arc::from(Path::new("/a"));
        let b: Arc<Path> = Arc::from(Path::new("/b"));
        let each = [
            None,
            Some(a.clone()),
            Some(a.clone()),
            None,
            Some(b.clone()),
            Some(Arc::from(Path::new("/b"))),
            Some(a.clone()),
        ];
        let bases: Bases = each.iter().cloned().collect();
        assert_eq!(bases.len(), each.len());
        for (i, want) in each.iter().enumerate() {
            assert_eq!(bases.get(i), want.as_deref(), "input {i}");
        }
        assert_eq!(bases.get(each.len()), None);
        // Equal neighbours share a run.
        assert_eq!(bases.runs.len(), 4);
        assert_eq!(Bases::default().get(0), None);
    }
}
