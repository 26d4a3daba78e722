//! The command line, as clap sees it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::ops::hash::Algo;
use crate::ops::kind::OpKind;
use crate::units::{parse_duration, parse_rate};

/// Long file jobs you can stop at any moment: checksums, verification, zstd, copying,
/// downloads.
#[derive(Debug, Parser)]
#[command(name = "ripcord", version, about, long_about = None)]
pub struct Cli {
    /// What to do; without one, the window opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print or save checksums (sha256sum/b3sum compatible output).
    Hash(HashArgs),
    /// Check files against checksum manifests (like `sha256sum -c`).
    Verify(VerifyArgs),
    /// Compress files with zstd to NAME.zst.
    Compress(CompressArgs),
    /// Decompress NAME.zst files to NAME.
    Decompress(DecompressArgs),
    /// Copy files and folders into a folder.
    Copy(CopyArgs),
    /// Download http:// and https:// URLs into a folder; resumable.
    Download(DownloadArgs),
    /// Open the window.
    Gui(GuiArgs),
}

/// Options every job takes.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// Worker threads (default: one per core).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Cancel the job after this long (30s, 2m, 1h); exits with status 124.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<Duration>,
    /// Limit the total rate (50MB/s, 1GiB/s).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub throttle: Option<u64>,
    /// Overwrite existing output files.
    #[arg(short, long)]
    pub force: bool,
    /// Print less: no progress, no summary, no OK lines.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print one JSON event per line on stdout instead of the usual output.
    #[arg(long)]
    pub json: bool,
    /// Follow symbolic links found inside folders.
    #[arg(long)]
    pub follow_symlinks: bool,
}

/// `ripcord hash`
#[derive(Debug, Args)]
pub struct HashArgs {
    /// Checksum algorithm.
    #[arg(short, long, default_value = "sha256", value_parser = parse_algo)]
    pub algo: Algo,
    /// BSD-style lines: `SHA256 (NAME) = HEX`.
    #[arg(long)]
    pub tag: bool,
    /// Print only the checksums, without names (as `b3sum --no-names`).
    #[arg(long, conflicts_with = "tag")]
    pub no_names: bool,
    /// End each line with NUL, not newline, and do not escape names (as `sha256sum -z`).
    #[arg(short = 'z', long)]
    pub zero: bool,
    /// Write the manifest to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// If cancelled, still write the finished lines to -o FILE, marked partial.
    #[arg(long, requires = "output")]
    pub keep_partial: bool,
    /// Options every job takes.
    #[command(flatten)]
    pub common: Common,
    /// Files and folders; `-` or none: standard input.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
}

/// `ripcord verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Algorithm of GNU-style lines (default: from the manifest's name or the digest length).
    #[arg(short, long, value_parser = parse_algo)]
    pub algo: Option<Algo>,
    /// Exit non-zero for improperly formatted lines.
    #[arg(long)]
    pub strict: bool,
    /// Print nothing; the exit status says whether every file matched (errors opening a
    /// file are still said). The last of --status, --warn and --quiet wins.
    #[arg(long, overrides_with_all = ["warn", "quiet"])]
    pub status: bool,
    /// Warn about each improperly formatted line.
    #[arg(short, long, overrides_with_all = ["status", "quiet"])]
    pub warn: bool,
    /// Manifest lines end with NUL instead of newline (as written by `hash -z`).
    #[arg(short = 'z', long)]
    pub zero: bool,
    /// Do not fail or report status for missing files.
    #[arg(long)]
    pub ignore_missing: bool,
    /// Resolve names relative to the manifest's folder instead of the current one.
    #[arg(long)]
    pub relative: bool,
    /// Options every job takes.
    #[command(flatten)]
    pub common: Common,
    /// Manifests (GNU, BSD-tag, OpenSSL or b3sum format); `-` or none: standard input.
    #[arg(value_name = "MANIFESTS")]
    pub manifests: Vec<PathBuf>,
}

/// Options compress and decompress share with the zstd command line.
#[derive(Debug, Args, Clone)]
pub struct ZstdCommon {
    /// Write to standard output, one file after the other (as `zstd -c`).
    #[arg(short = 'c', long = "stdout", conflicts_with_all = ["out_dir", "output", "json", "rm"])]
    pub stdout: bool,
    /// Write the output to FILE (one input only).
    #[arg(short = 'o', value_name = "FILE", conflicts_with = "out_dir")]
    pub output: Option<PathBuf>,
    /// Remove each source once its output is complete and synced (as `zstd --rm`).
    #[arg(long)]
    pub rm: bool,
    /// Long-distance matching / large windows: 2^N bytes (default 27, up to 31).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "27",
          value_parser = clap::value_parser!(u32).range(10..=31))]
    pub long: Option<u32>,
}

/// `ripcord compress`
#[derive(Debug, Args)]
pub struct CompressArgs {
    /// zstd level (1 to 19; up to 22 with --ultra).
    #[arg(short, long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub level: i32,
    /// Allow levels 20 to 22 (slow, memory-hungry), as `zstd --ultra`.
    #[arg(long)]
    pub ultra: bool,
    /// zstd threads per file (0: one per core; default: chosen by the job).
    #[arg(short = 'T', long = "threads", value_name = "N")]
    pub threads: Option<u32>,
    /// Write outputs here (mirroring folders) instead of beside the sources.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Options shared with the zstd command line.
    #[command(flatten)]
    pub zstd: ZstdCommon,
    /// Options every job takes.
    #[command(flatten)]
    pub common: Common,
    /// Files and folders.
    #[arg(required = true, value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
}

/// `ripcord decompress`
#[derive(Debug, Args)]
pub struct DecompressArgs {
    /// Write outputs here instead of beside the sources.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Check the files (content checksums included) without writing anything, as `zstd -t`.
    #[arg(short = 't', long, conflicts_with_all = ["out_dir", "output", "stdout", "rm"])]
    pub test: bool,
    /// Options shared with the zstd command line.
    #[command(flatten)]
    pub zstd: ZstdCommon,
    /// Options every job takes.
    #[command(flatten)]
    pub common: Common,
    /// .zst files and folders holding them.
    #[arg(required = true, value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
}

/// `ripcord copy`
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Destination folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Hash both sides after copying; a mismatch fails the file.
    #[arg(long)]
    pub verify: bool,
    /// Options every job takes.
    #[command(flatten)]
    pub common: Common,
    /// Files and folders.
    #[arg(required = true, value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
}

/// `ripcord download`
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// Folder to save into (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub to: PathBuf,
    /// Save under this name (one URL only) instead of the server's or the URL's.
    #[arg(short = 'o', value_name = "NAME")]
    pub output: Option<String>,
    /// The expected SHA-256 (one URL only); a mismatch fails the file and keeps nothing.
    #[arg(long, value_name = "HEX", conflicts_with = "checksum")]
    pub sha256: Option<String>,
    /// The expected checksum as ALGO:HEX (sha256, blake3, sha512, …; one URL only).
    #[arg(long, value_name = "ALGO:HEX")]
    pub checksum: Option<String>,
    /// Tries after the first, after a broken connection or a 429/5xx answer.
    #[arg(long, value_name = "N", default_value_t = crate::ops::download::DEFAULT_RETRIES)]
    pub retries: u32,
    /// The first wait before trying again (doubled each time; Retry-After wins).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub retry_delay: Duration,
    /// Fail a file when the server sends nothing for this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Continue what an earlier run left for the same URL and folder (--keep-partial, a
    /// failure, kill -9), if the server still has the same version.
    #[arg(long)]
    pub resume: bool,
    /// Keep what a cancel or failure leaves (hidden, beside a small sidecar) for --resume.
    #[arg(long)]
    pub keep_partial: bool,
    /// Trust only the root certificates in this PEM file (instead of the system's).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Read URLs from FILE (`-`: standard input): one a line, `#` comments, an optional
    /// checksum (ALGO:HEX, or a bare SHA-256) after the URL.
    #[arg(short = 'i', long = "input-file", value_name = "FILE")]
    pub input_file: Option<PathBuf>,
    /// Options every job takes.
    #[command(flatten)]
    pub common: Common,
    /// http:// or https:// URLs.
    #[arg(value_name = "URLS", required_unless_present = "input_file")]
    pub urls: Vec<String>,
}

/// `ripcord gui`
#[derive(Debug, Args, Default)]
pub struct GuiArgs {
    /// The operation to select: hash, verify, compress, decompress, copy or download.
    #[arg(long, value_parser = parse_op)]
    pub op: Option<OpKind>,
    /// Tick "Daemon mode": closing exits at once, without waiting for running work.
    #[arg(long)]
    pub daemon: bool,
    /// Start the job at once.
    #[arg(long)]
    pub start: bool,
    /// Tick "Keep partial": a cancelled or failed download keeps its bytes for Resume.
    #[arg(long)]
    pub keep_partial: bool,
    /// Turn the throttle on at this total rate (50MB/s, 1GiB/s).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub throttle: Option<u64>,
    /// Files and folders to list; http:// and https:// URLs become downloads.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
}

fn parse_algo(s: &str) -> Result<Algo, String> {
    s.parse()
}

fn parse_op(s: &str) -> Result<OpKind, String> {
    s.parse()
}

impl GuiArgs {
    /// The window's launch, as these arguments ask for it.
    pub fn into_launch(self) -> crate::gui::Launch {
        crate::gui::Launch {
            op: self.op,
            daemon: self.daemon,
            keep_partial: self.keep_partial,
            start: self.start,
            throttle: self.throttle,
            paths: self.paths,
        }
    }
}
