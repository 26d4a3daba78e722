//! Ripcord against the tools people use instead, measured in the same run, plus cancel
//! latency, stop-check overhead, window frame time, memory and close times.
//!
//! `cargo bench --bench compare` (full: 1 GiB file, 1,000 × 256 KiB, 256 MiB of text,
//! 100,000 queued files) or `cargo bench --bench compare -- --quick` (small sizes, for CI);
//! `-- --only NAME` runs one section of [`SECTIONS`].
//! Timings are medians of alternating runs; ratios are Ripcord's time over the peer's.
//!
//! This file is the harness: arguments, sizes, the inputs every section shares and the
//! helpers that time and compare. Each section is a module under `compare/` that prints its
//! own table.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// The tests' helpers; the benchmark uses a few of them.
#[allow(dead_code, unused_imports)]
#[path = "../tests/common/mod.rs"]
mod common;
use common::have;
use common::http;

#[path = "compare/backends.rs"]
mod backends;
#[path = "compare/cancel.rs"]
mod cancel;
#[path = "compare/download.rs"]
mod download;
#[path = "compare/million.rs"]
mod million;
#[path = "compare/tools.rs"]
mod tools;
#[path = "compare/window.rs"]
mod window;

use ripcord::engine::{Event, Job, Summary};

/// A section: runs its measurements and prints its table.
type Section = fn(&Bench);

/// The sections, in the order they run; `--only NAME` runs one.
const SECTIONS: &[(&str, Section)] = &[
    ("tools", tools::section),
    ("backends", backends::section),
    ("cancel", cancel::section),
    ("million", million::section),
    ("download", download::section),
    ("other", other),
];

/// A child process's work: given a folder and how many files it holds.
type Child = fn(&Path, usize);

/// The bench started as a child of itself, to measure a window's peak memory on its own:
/// `FLAG FOLDER FILES` lists FOLDER (FILES files) and prints what it measured.
const CHILDREN: &[(&str, Child)] = &[
    ("--window-million-child", million::window_child),
    ("--window-rss-child", window::child),
];

struct Sizes {
    big: usize,
    small_files: usize,
    small_len: usize,
    text: usize,
    runs: usize,
    cancels: usize,
    queued: usize,
    /// Real-window exits timed per mode.
    exits: usize,
    /// Files in the `million` section's tree.
    million: usize,
}

const FULL: Sizes = Sizes {
    big: 1 << 30,
    small_files: 1000,
    small_len: 256 << 10,
    text: 256 << 20,
    runs: 5,
    cancels: 200,
    queued: 100_000,
    exits: 10,
    million: million::FILES,
};
const QUICK: Sizes = Sizes {
    big: 64 << 20,
    small_files: 200,
    small_len: 64 << 10,
    text: 32 << 20,
    runs: 3,
    cancels: 40,
    queued: 10_000,
    exits: 2,
    million: 20_000,
};

/// What every section is given: the sizes, where to write, and the inputs made once.
struct Bench {
    sz: Sizes,
    /// This run's temporary folder.
    dir: PathBuf,
    /// Where the temporary folder is made (`RIPCORD_BENCH_DIR`, else the system's), and
    /// where data kept between runs goes.
    root: PathBuf,
    /// `sz.big` bytes.
    big: PathBuf,
    /// A quarter of `sz.big` bytes.
    big2: PathBuf,
    /// A folder of `sz.small_files` files of `sz.small_len` bytes.
    small: PathBuf,
    /// `sz.text` bytes of text.
    text: PathBuf,
}

impl Bench {
    /// Writes the shared inputs into `dir`.
    fn make(sz: Sizes, dir: &Path, root: PathBuf) -> Bench {
        let big = dir.join("big.bin");
        std::fs::write(&big, common::bytes(sz.big, 1)).expect("write");
        let big2 = dir.join("big2.bin");
        std::fs::write(&big2, common::bytes(sz.big / 4, 2)).expect("write");
        let small = dir.join("small");
        std::fs::create_dir(&small).expect("mkdir");
        for i in 0..sz.small_files {
            std::fs::write(
                small.join(format!("{i:05}.bin")),
                common::bytes(sz.small_len, i as u64 + 3),
            )
            .expect("write");
        }
        let text = dir.join("text.txt");
        std::fs::write(&text, make_text(sz.text)).expect("write");
        Bench {
            sz,
            dir: dir.to_path_buf(),
            root,
            big,
            big2,
            small,
            text,
        }
    }
}

fn main() {
    // The process-wide set-up the `ripcord` binary makes, for the in-process measurements.
    ripcord::init();
    let args: Vec<String> = std::env::args().collect();
    for (flag, child) in CHILDREN {
        if let Some(i) = args.iter().position(|a| a == flag) {
            let dir = PathBuf::from(&args[i + 1]);
            let n: usize = args[i + 2].parse().unwrap_or(0);
            child(&dir, n);
            return;
        }
    }
    let quick = args.iter().any(|a| a == "--quick");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let root = std::env::var_os("RIPCORD_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let work = tempfile::tempdir_in(&root).expect("temp dir");
    println!(
        "Ripcord benchmark ({}), {} cores",
        if quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let bench = Bench::make(if quick { QUICK } else { FULL }, work.path(), root);
    for (name, section) in SECTIONS {
        if only.as_deref().is_none_or(|o| o == *name) {
            section(&bench);
        }
    }
}

/// The rest: what the per-chunk stop check costs, then the window.
fn other(b: &Bench) {
    time_sh("sync");
    cancel::stop_check_overhead();
    window::section(b);
}

/// The `ripcord` binary built with the bench.
fn ripcord() -> &'static str {
    env!("CARGO_BIN_EXE_ripcord")
}

/// `len` bytes of text made of a few words and numbers: compressible, as text is.
fn make_text(len: usize) -> Vec<u8> {
    let words = [
        "ripcord", "cancel", "thread", "chunk", "zstd", "hash", "copy", "verify", "token", "worker",
    ];
    let mut v = Vec::with_capacity(len + 64);
    let mut i = 0usize;
    while v.len() < len {
        v.extend_from_slice(words[(i * 7 + i / 3) % words.len()].as_bytes());
        v.push(if i % 13 == 12 { b'\n' } else { b' ' });
        v.extend_from_slice(format!("{}", i % 1000).as_bytes());
        v.push(b' ');
        i += 1;
    }
    v.truncate(len);
    v
}

/// Runs a shell command with stdout discarded; its wall time.
fn time_sh(cmd: &str) -> Duration {
    let t = Instant::now();
    let st = Command::new("sh")
        .args(["-c", cmd])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let took = t.elapsed();
    if !st.is_ok_and(|s| s.success()) {
        eprintln!("warning: command failed: {cmd}");
    }
    took
}

/// The middle of `v`.
fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The `p` quantile of `v` (0.5 the median, 1.0 the maximum).
fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// Alternates the commands `runs` times (after one warm-up each) and prints medians.
fn compare(label: &str, ours: &str, peers: &[(&str, String)], runs: usize) {
    let peers: Vec<&(&str, String)> = peers.iter().filter(|(tool, _)| have(tool)).collect();
    // Every run starts with its previous output deleted and nothing left to write back (a
    // peer that leaves its output unsynced, plain `cp` or `zstd`, would otherwise slow down
    // whichever run comes next); neither is timed.
    let run = |cmd: &str| {
        let (prep, timed) = split_prep(cmd);
        if let Some(prep) = prep {
            time_sh(prep);
        }
        time_sh("sync");
        time_sh(timed)
    };
    let mut round = run(ours);
    for (_, p) in &peers {
        round += run(p);
    }
    // Fast cases vary more from run to run: as many rounds as fit in about 3 s, from `runs`
    // up to four times that.
    let runs = ((3.0 / round.as_secs_f64().max(1e-3)).ceil() as usize).clamp(runs, runs * 4);
    let mut mine = Vec::new();
    let mut theirs = vec![Vec::new(); peers.len()];
    for _ in 0..runs {
        mine.push(run(ours));
        for (i, (_, p)) in peers.iter().enumerate() {
            theirs[i].push(run(p));
        }
    }
    let m = median(mine);
    for (i, (tool, cmd)) in peers.iter().enumerate() {
        let t = median(theirs[i].clone());
        println!(
            "| {label} | {:.3} s | `{}` {:.3} s | {:.2}× |",
            m.as_secs_f64(),
            short(cmd, tool),
            t.as_secs_f64(),
            m.as_secs_f64() / t.as_secs_f64()
        );
    }
}

/// A command's untimed preparation (a leading `rm …`, deleting the previous run's output)
/// and the part to time.
fn split_prep(cmd: &str) -> (Option<&str>, &str) {
    match cmd.split_once(" && ") {
        Some((prep, rest)) if prep.starts_with("rm ") => (Some(prep), rest),
        _ => (None, cmd),
    }
}

/// A peer's command as the table shows it: from the tool's name on, without paths.
fn short(cmd: &str, tool: &str) -> String {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let start = words.iter().position(|w| w.ends_with(tool)).unwrap_or(0);
    words[start..]
        .iter()
        .filter(|w| !w.starts_with('/') && !w.starts_with('>'))
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits for the job's summary.
fn finish(job: &Job) -> Summary {
    loop {
        match job.events().recv_timeout(Duration::from_secs(120)) {
            Ok(Event::Finished(s)) => return s,
            Ok(_) => {}
            Err(_) => panic!("job did not finish"),
        }
    }
}

/// Peak RSS (bytes) of process `pid` so far.
fn rss_of(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

/// Peak RSS of a command, sampled from /proc while it runs.
fn peak_rss(mut cmd: Command) -> u64 {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut peak = 0;
    loop {
        if let Some(r) = rss_of(child.id()) {
            peak = peak.max(r);
        }
        if child.try_wait().ok().flatten().is_some() {
            return peak;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
