//! Ripcord against the tools people use instead, measured in the same run, plus cancel
//! latency, stop-check overhead, window frame time, memory and close times.
//!
//! `cargo bench --bench compare` (full: 1 GiB file, 1,000 × 256 KiB, 256 MiB of text,
//! 100,000 queued files) or `cargo bench --bench compare -- --quick` (small sizes, for CI).
//! Timings are medians of alternating runs; ratios are Ripcord's time over the peer's.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

// The tests' helpers; the benchmark uses a few of them.
#[allow(dead_code, unused_imports)]
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "compare/million.rs"]
mod million;
use common::have;
#[path = "compare/download.rs"]
mod download;
use common::http;

use egui_kittest::kittest::Queryable;
use ripcord::cancel::throttle::Throttle;
use ripcord::cancel::{CancelToken, Reason};
use ripcord::engine::{Event, Job, JobSpec, Operation, Summary};
use ripcord::ops::Ctx;
use ripcord::ops::hash::{Algo, Hasher};

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
};

fn ripcord() -> &'static str {
    env!("CARGO_BIN_EXE_ripcord")
}

fn text(len: usize) -> Vec<u8> {
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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// Alternates the commands `runs` times (after one warm-up each) and prints medians.
fn compare(label: &str, ours: &str, peers: &[(&str, String)], runs: usize, rows: &mut Vec<String>) {
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
        let row = format!(
            "| {label} | {:.3} s | `{}` {:.3} s | {:.2}× |",
            m.as_secs_f64(),
            short(cmd, tool),
            t.as_secs_f64(),
            m.as_secs_f64() / t.as_secs_f64()
        );
        println!("{row}");
        rows.push(row);
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

fn finish(job: &Job) -> Summary {
    loop {
        match job.events().recv_timeout(Duration::from_secs(120)) {
            Ok(Event::Finished(s)) => return s,
            Ok(_) => {}
            Err(_) => panic!("job did not finish"),
        }
    }
}

/// Cancel latency for `op` over two big inputs (both cores busy), at random points.
fn cancel_latency(op: Operation, inputs: Vec<PathBuf>, n: usize, seed: &mut u64) -> Vec<f64> {
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let delay = Duration::from_micros(2_000 + *seed % 40_000);
        let mut spec = JobSpec::new(op.clone(), inputs.clone());
        spec.workers = 2;
        spec.overwrite = true;
        let job = Job::start(spec, None).expect("start");
        std::thread::sleep(delay);
        job.cancel(Reason::User);
        let s = finish(&job);
        job.join();
        if let Some(l) = s.stop_latency {
            lat.push(l.as_secs_f64() * 1000.0);
        }
        // Independent cancels: let the kernel free the discarded output of this one first.
        std::thread::sleep(Duration::from_millis(50));
    }
    lat
}

/// The `n` worker threads of this process: their CPU-time clocks and their scheduler
/// statistics, opened ahead so that reading them takes microseconds; `None` where the
/// kernel does not provide them.
fn worker_clocks(n: usize) -> Option<Vec<(libc::clockid_t, std::fs::File)>> {
    // A new thread names itself once it runs; give the workers a moment.
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        let mut out = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").ok()? {
            let dir = task.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if comm.starts_with("ripcord-worker") {
                let tid: libc::clockid_t = dir.file_name()?.to_str()?.parse().ok()?;
                // The kernel's per-thread CPU clock id (as glibc's pthread_getcpuclockid).
                let clock = (!tid << 3) | 6;
                out.push((clock, std::fs::File::open(dir.join("schedstat")).ok()?));
            }
        }
        if out.len() == n {
            return Some(out);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    None
}

/// Per worker, ns spent running plus ns spent waiting for a core. The running time comes
/// from the thread's CPU clock, which is exact even while it runs; the scheduler
/// statistics' own running time is only brought up to date at the next tick (4 ms here),
/// which made every worker look up to 4 ms late.
fn sched_ns(clocks: &[(libc::clockid_t, std::fs::File)]) -> Option<Vec<u64>> {
    use std::os::unix::fs::FileExt;
    clocks
        .iter()
        .map(|(clock, stat)| {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `ts` is a valid out-pointer; a bad clock id only returns an error.
            if unsafe { libc::clock_gettime(*clock, &mut ts) } != 0 {
                return None;
            }
            let run =
                u64::try_from(ts.tv_sec).ok()? * 1_000_000_000 + u64::try_from(ts.tv_nsec).ok()?;
            let mut buf = [0u8; 128];
            let n = stat.read_at(&mut buf, 0).ok()?;
            let text = std::str::from_utf8(&buf[..n]).ok()?;
            let wait = text.split_whitespace().nth(1)?.parse::<u64>().ok()?;
            Some(run + wait)
        })
        .collect()
}

/// From pause() until every worker is blocked in the pause, over `n` pauses: the most any
/// worker spent running or waiting for a core after pause() was called, from the workers'
/// own clocks and scheduler statistics. (Watching progress from a spinning thread measured
/// mostly that thread's own waits for a core.) Without those, progress is watched.
fn pause_latency(input: PathBuf, n: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut spec = JobSpec::new(
            Operation::Hash { algo: Algo::Sha256 },
            vec![input.clone(), input.clone()],
        );
        spec.workers = 2;
        let job = Job::start(spec, None).expect("start");
        let clocks = worker_clocks(2);
        // Fresh from a sleep, this thread is not about to lose its core between the
        // reading and the pause.
        std::thread::sleep(Duration::from_millis(5 + (i as u64 * 7) % 30));
        let before = clocks.as_deref().and_then(sched_ns);
        let t = Instant::now();
        job.pause();
        let ms = match before {
            Some(before) => {
                // Long enough for every worker to reach its next check and block.
                std::thread::sleep(Duration::from_millis(20));
                let after = clocks.as_deref().and_then(sched_ns).unwrap_or_default();
                let worst = after.iter().zip(&before).map(|(a, b)| a.saturating_sub(*b));
                worst.max().unwrap_or(0) as f64 / 1e6
            }
            None => {
                let mut last = job.progress().bytes_done;
                let mut last_change = Instant::now();
                while last_change.elapsed() < Duration::from_millis(20) {
                    let now = job.progress().bytes_done;
                    if now != last {
                        last = now;
                        last_change = Instant::now();
                    }
                    std::hint::spin_loop();
                }
                last_change.saturating_duration_since(t).as_secs_f64() * 1000.0
            }
        };
        out.push(ms);
        job.cancel(Reason::User);
        finish(&job);
        job.join();
    }
    out
}

/// Ctrl+Q in the real window (release binary under Xvfb) while it compresses two files, with
/// daemon mode on (exit without waiting) and off (stop the workers, then exit): ms from the
/// key press to the process gone, over `runs` runs each. `None` without Xvfb and xdotool.
fn real_window_exits(dir: &Path, runs: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    use common::wait_exit;
    use common::x11::{focus, launch, type_key, wait_for_file, xvfb};
    let display = xvfb()?;
    let (mut daemon, mut graceful) = (Vec::new(), Vec::new());
    for run in 0..runs * 2 {
        let daemon_mode = run % 2 == 0;
        let work = dir.join(format!("exit{run}"));
        let home = work.join("home");
        std::fs::create_dir_all(&home).expect("mkdir");
        let inputs: Vec<String> = (0..2)
            .map(|i| {
                let p = work.join(format!("in{i}.bin"));
                std::fs::write(&p, common::bytes(8 << 20, i)).expect("write");
                p.display().to_string()
            })
            .collect();
        let mut args = vec!["--op", "compress", "--start", "--throttle", "1MB/s"];
        if daemon_mode {
            args.push("--daemon");
        }
        args.push("--");
        args.extend(inputs.iter().map(String::as_str));
        // Named temporaries, so the bench can see the work has begun.
        let (mut child, win) = launch(&display, &home, &args, &[("RIPCORD_NO_TMPFILE", "1")]);
        wait_for_file(&work, |n| n.starts_with(".ripcord-"));
        focus(&display, &win);
        let t = Instant::now();
        type_key(&display, "ctrl+q");
        let status = wait_exit(&mut child, Duration::from_secs(30)).expect("Ctrl+Q: no exit");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(status.success(), "{status:?}");
        let left = common::entries(&work);
        assert!(
            !left.iter().any(|n| n.ends_with(".zst")),
            "an output was left: {left:?}"
        );
        if daemon_mode {
            daemon.push(ms);
        } else {
            graceful.push(ms);
        }
    }
    Some((daemon, graceful))
}

/// Hashing an in-memory buffer chunk by chunk with and without the per-chunk stop check.
fn check_overhead() -> f64 {
    let data = common::bytes(256 << 20, 7);
    let chunk = ripcord::ops::hash::HASH_CHUNK_BYTES;
    let token = CancelToken::new();
    let (fb, jb) = (AtomicU64::new(0), AtomicU64::new(0));
    let throttle = Throttle::new(None);
    let noop = || {};
    let ctx = Ctx {
        token: &token,
        file_bytes: &fb,
        job_bytes: &jb,
        throttle: &throttle,
        on_progress: &noop,
        verifying: &std::sync::atomic::AtomicBool::new(false),
    };
    let mut with = Vec::new();
    let mut without = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let mut h = Hasher::new(Algo::Sha256);
        for c in data.chunks(chunk) {
            h.update(c);
        }
        std::hint::black_box(h.finish_hex());
        without.push(t.elapsed());
        let t = Instant::now();
        let mut h = Hasher::new(Algo::Sha256);
        for c in data.chunks(chunk) {
            h.update(c);
            if ctx.chunk_done(c.len() as u64).is_err() {
                break;
            }
        }
        std::hint::black_box(h.finish_hex());
        with.push(t.elapsed());
    }
    (median(with).as_secs_f64() / median(without).as_secs_f64() - 1.0) * 100.0
}

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

fn window_child(dir: &Path, expect: usize) {
    use egui_kittest::Harness;
    use ripcord::gui::Launch as GuiArgs;
    use ripcord::gui::RipcordApp;
    let app = RipcordApp::new(
        Default::default(),
        GuiArgs {
            paths: vec![dir.to_path_buf()],
            ..Default::default()
        },
    );
    let mut h = Harness::builder()
        .with_size(egui::vec2(1100.0, 700.0))
        .build_ui_state(|ui, app: &mut RipcordApp| app.show(ui), app);
    let end = Instant::now() + Duration::from_secs(120);
    while h.state().rows.len() < expect && Instant::now() < end {
        h.step();
    }
    for _ in 0..10 {
        h.step();
    }
    println!("{}", rss_of(std::process::id()).unwrap_or(0));
}

/// Frame time of the real app's UI code while two workers saturate the cores, the engine's
/// wake-ups per second, and whether anything repaints once idle.
fn window_frames(files: Vec<PathBuf>) -> (f64, f64, f64, bool, f64) {
    use egui_kittest::Harness;
    use ripcord::gui::Launch as GuiArgs;
    use ripcord::gui::RipcordApp;
    let n = files.len();
    let settings = ripcord::gui::model::Settings {
        threads: 2,
        ..Default::default()
    };
    let app = RipcordApp::new(
        settings,
        GuiArgs {
            paths: files,
            ..Default::default()
        },
    );
    let mut h = Harness::builder()
        .with_size(egui::vec2(1100.0, 700.0))
        .build_ui_state(|ui, app: &mut RipcordApp| app.show(ui), app);
    while h.state().rows.len() < n {
        h.step();
    }
    h.get_by_label("Start").click();
    h.step();
    let mut frames = Vec::new();
    while h.state().is_running() && frames.len() < 2000 {
        let t = Instant::now();
        h.step();
        frames.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    // Let the job end (cancel what the frame budget did not cover), then look at idle.
    if h.state().is_running() {
        h.get_by_label("Cancel").click();
    }
    while h.state().is_running() {
        h.step();
    }
    for _ in 0..3 {
        h.step();
    }
    let idle_repaint = h.ctx.has_requested_repaint();
    let p50 = pct(&mut frames, 0.5);
    let p99 = pct(&mut frames, 0.99);

    // The engine's wake-ups while running, with a front end that re-arms every 16 ms.
    let wakes = Arc::new(AtomicUsize::new(0));
    let w = wakes.clone();
    let big: Vec<PathBuf> = h.state().rows.iter().map(|r| r.path.clone()).collect();
    let mut spec = JobSpec::new(Operation::Hash { algo: Algo::Sha256 }, big);
    spec.workers = 2;
    let job = Job::start(
        spec,
        Some(Box::new(move || {
            w.fetch_add(1, Ordering::Relaxed);
        })),
    )
    .expect("start");
    let t = Instant::now();
    while !job.is_finished() && t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(16));
        job.rearm_wake();
    }
    let per_sec = wakes.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64();
    job.cancel(Reason::User);
    finish(&job);

    // Graceful close while two workers are busy: request to closed.
    let app = RipcordApp::new(
        ripcord::gui::model::Settings {
            threads: 2,
            ..Default::default()
        },
        GuiArgs {
            paths: h.state().rows.iter().map(|r| r.path.clone()).collect(),
            ..Default::default()
        },
    );
    let mut h2 = Harness::builder().build_ui_state(|ui, app: &mut RipcordApp| app.show(ui), app);
    while h2.state().rows.len() < n {
        h2.step();
    }
    h2.get_by_label("Start").click();
    h2.step();
    h2.step();
    let t = Instant::now();
    h2.state_mut().request_close();
    while !h2.state().close_now() {
        h2.step();
    }
    let close_ms = t.elapsed().as_secs_f64() * 1000.0;
    (p50, p99, per_sec, idle_repaint, close_ms)
}

fn main() {
    // The process-wide set-up the `ripcord` binary makes, for the in-process measurements.
    ripcord::init();
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--window-million-child") {
        let dir = PathBuf::from(&args[i + 1]);
        let n: usize = args[i + 2].parse().unwrap_or(0);
        million::window_child(&dir, n);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--window-rss-child") {
        let dir = PathBuf::from(&args[i + 1]);
        let n: usize = args[i + 2].parse().unwrap_or(0);
        window_child(&dir, n);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    // `--only tools|cancel|download|other` runs one section (all by default).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let run = |section: &str| only.as_deref().is_none_or(|o| o == section);
    let sz = if quick { QUICK } else { FULL };
    let work = tempfile::tempdir_in(
        std::env::var_os("RIPCORD_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
    )
    .expect("temp dir");
    let d = work.path();
    println!(
        "Ripcord benchmark ({}), {} cores",
        if quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let big = d.join("big.bin");
    std::fs::write(&big, common::bytes(sz.big, 1)).expect("write");
    let big2 = d.join("big2.bin");
    std::fs::write(&big2, common::bytes(sz.big / 4, 2)).expect("write");
    let small = d.join("small");
    std::fs::create_dir(&small).expect("mkdir");
    for i in 0..sz.small_files {
        std::fs::write(
            small.join(format!("{i:05}.bin")),
            common::bytes(sz.small_len, i as u64 + 3),
        )
        .expect("write");
    }
    let txt = d.join("text.txt");
    std::fs::write(&txt, text(sz.text)).expect("write");
    let (r, b, s, t) = (
        ripcord(),
        big.display().to_string(),
        small.display().to_string(),
        txt.display().to_string(),
    );
    let runs = sz.runs;
    let mut rows = Vec::new();
    if run("tools") {
        println!("\n| operation | ripcord | peer | ratio |\n|---|---|---|---|");
        compare(
            "sha256, big file",
            &format!("{r} hash {b}"),
            &[
                ("openssl", format!("openssl sha256 {b}")),
                ("sha256sum", format!("sha256sum {b}")),
            ],
            runs,
            &mut rows,
        );
        compare(
            "blake3, big file",
            &format!("{r} hash -a blake3 {b}"),
            &[("b3sum", format!("b3sum {b}"))],
            runs,
            &mut rows,
        );
        compare(
            "md5, big file",
            &format!("{r} hash -a md5 {b}"),
            &[("md5sum", format!("md5sum {b}"))],
            runs,
            &mut rows,
        );
        compare(
            "sha512, big file",
            &format!("{r} hash -a sha512 {b}"),
            &[("sha512sum", format!("sha512sum {b}"))],
            runs,
            &mut rows,
        );
        compare(
            "sha256, small files",
            &format!("{r} hash {s}"),
            &[("sha256sum", format!("sha256sum {s}/*"))],
            runs,
            &mut rows,
        );
        compare(
            "blake3, small files",
            &format!("{r} hash -a blake3 {s}"),
            &[("b3sum", format!("b3sum {s}/*"))],
            runs,
            &mut rows,
        );
        // Compress and decompress runs delete the previous output first, for every tool, so none
        // pays for freeing another's; Ripcord syncs its output, so `… && sync` is the fair peer.
        let z = d.join("z.zst").display().to_string();
        compare(
            "compress -3, text, 1 file",
            &format!(
                "rm -f {0}/c/text.txt.zst && {r} compress --out-dir {0}/c {t}",
                d.display()
            ),
            &[
                ("zstd", format!("rm -f {z} && zstd -q -3 -T2 {t} -o {z}")),
                (
                    "zstd",
                    format!("rm -f {z} && zstd -q -3 -T2 {t} -o {z} && sync {z}"),
                ),
                ("zstd", format!("rm -f {z} && zstd -q -3 -T1 {t} -o {z}")),
            ],
            runs,
            &mut rows,
        );
        time_sh(&format!("zstd -q -f -3 {t} -o {z}"));
        let unz = d.join("unz").display().to_string();
        compare(
            "decompress, text",
            &format!(
                "rm -f {0}/dz/z && {r} decompress --out-dir {0}/dz {z}",
                d.display()
            ),
            &[
                ("zstd", format!("rm -f {unz} && zstd -q -d {z} -o {unz}")),
                (
                    "zstd",
                    format!("rm -f {unz} && zstd -q -d {z} -o {unz} && sync {unz}"),
                ),
            ],
            runs,
            &mut rows,
        );
        // Each run first deletes the previous copy, for both tools, so neither pays for freeing the
        // other's; Ripcord syncs its output (the output contract), so `cp && sync` is the fair peer.
        compare(
            "copy, big file",
            &format!("rm -rf {0}/cp1 && {r} copy --to {0}/cp1 {b}", d.display()),
            &[
                (
                    "cp",
                    format!(
                        "rm -rf {0}/cp2 && mkdir {0}/cp2 && cp {b} {0}/cp2/",
                        d.display()
                    ),
                ),
                (
                    "cp",
                    format!(
                        "rm -rf {0}/cp3 && mkdir {0}/cp3 && cp {b} {0}/cp3/ && sync {0}/cp3/big.bin",
                        d.display()
                    ),
                ),
            ],
            runs,
            &mut rows,
        );
    }

    if run("cancel") {
        // The last peers (plain `cp`) left their output to the kernel's writeback; its disk
        // and flusher-thread work would land on the first cancels.
        time_sh("sync");
        println!(
            "\nCancel latency (ms, cancel call → last worker stopped; 2 workers, {} cancels each):",
            sz.cancels
        );
        println!("| operation | p50 | p99 | max |\n|---|---|---|---|");
        let mut seed = 0x1234_5678_9abc_def1u64;
        let out = d.join("out");
        std::fs::create_dir_all(&out).expect("mkdir");
        time_sh(&format!("zstd -q -f -3 {b} -o {}/big.bin.zst", d.display()));
        let zbig = d.join("big.bin.zst");
        let cases: Vec<(&str, Operation, Vec<PathBuf>)> = vec![
            (
                "hash sha256",
                Operation::Hash { algo: Algo::Sha256 },
                vec![big.clone(), big2.clone()],
            ),
            (
                "hash blake3",
                Operation::Hash { algo: Algo::Blake3 },
                vec![big.clone(), big2.clone()],
            ),
            (
                "compress -3",
                Operation::compress(3, Some(out.clone())),
                vec![big.clone(), big2.clone()],
            ),
            (
                "compress -3, 1 file (2 zstd threads)",
                Operation::compress(3, Some(out.clone())),
                vec![big.clone()],
            ),
            (
                "decompress",
                Operation::decompress(Some(out.clone())),
                vec![zbig.clone()],
            ),
            (
                "copy",
                Operation::Copy {
                    to: out.clone(),
                    verify: false,
                },
                vec![big.clone(), big2.clone()],
            ),
            (
                "copy --verify",
                Operation::Copy {
                    to: out.clone(),
                    verify: true,
                },
                vec![big.clone(), big2.clone()],
            ),
        ];
        let case_filter = std::env::var("RIPCORD_BENCH_CASE").ok();
        for (label, op, inputs) in cases {
            if case_filter
                .as_deref()
                .is_some_and(|f| !label.starts_with(f))
            {
                continue;
            }
            let mut l = cancel_latency(op, inputs, sz.cancels, &mut seed);
            if l.is_empty() {
                continue;
            }
            let row = format!(
                "| {label} | {:.2} | {:.2} | {:.2} |",
                pct(&mut l, 0.5),
                pct(&mut l, 0.99),
                pct(&mut l, 1.0)
            );
            println!("{row}");
        }
        let mut p = pause_latency(big.clone(), sz.cancels);
        println!(
            "| pause → all paused | {:.2} | {:.2} | {:.2} |",
            pct(&mut p, 0.5),
            pct(&mut p, 0.99),
            pct(&mut p, 1.0)
        );
    }

    if run("million") {
        // Generated once beside the bench's temporary folder, and reused by later runs.
        let root =
            std::env::var_os("RIPCORD_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
        let n = if quick { 20_000 } else { million::FILES };
        let tree = million::tree(&root, n);
        million::cli(r, &tree, n);
        million::window(&tree, n);
    }

    if run("download") {
        time_sh("sync");
        download::section(d, sz.big, sz.runs, sz.cancels.min(100), &mut rows);
    }

    if !run("other") {
        return;
    }
    time_sh("sync");
    println!(
        "\nStop-check overhead (sha256 over 256 MiB in memory, per-chunk check vs none): {:+.2} %",
        check_overhead()
    );

    let frame_files: Vec<PathBuf> = vec![big.clone(), big2.clone(), big.clone(), big2.clone()];
    if let Some((mut daemon, mut graceful)) = real_window_exits(d, sz.exits) {
        println!(
            "\nReal window under Xvfb, Ctrl+Q while compressing 2 files → process gone ({} runs each): daemon mode median {:.0} ms, max {:.0} ms; graceful (workers stopped first) median {:.0} ms, max {:.0} ms",
            sz.exits,
            pct(&mut daemon, 0.5),
            pct(&mut daemon, 1.0),
            pct(&mut graceful, 0.5),
            pct(&mut graceful, 1.0)
        );
    } else {
        println!("\nReal window: skipped (no Xvfb or xdotool)");
    }
    let (p50, p99, wakes, idle, close_ms) = window_frames(frame_files);
    println!(
        "\nWindow (real app UI code, headless): frame p50 {p50:.2} ms, p99 {p99:.2} ms while 2 workers hash; engine wake-ups {wakes:.0}/s while running; repaint requested when idle: {idle}; graceful close with 2 busy workers: {close_ms:.1} ms"
    );

    let many = d.join("many");
    std::fs::create_dir(&many).expect("mkdir");
    for i in 0..sz.queued {
        let sub = many.join(format!("{:03}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir(&sub).expect("mkdir");
        }
        std::fs::write(sub.join(format!("{i:06}")), b"x").expect("write");
    }
    let mut cli = Command::new(r);
    cli.args(["hash", "--throttle", "1k", "--deadline", "3s", "-q"])
        .arg(&many);
    let cli_rss = peak_rss(cli);
    let exe = std::env::current_exe().expect("exe");
    let out = Command::new(exe)
        .arg("--window-rss-child")
        .arg(&many)
        .arg(sz.queued.to_string())
        .output()
        .expect("child");
    let win_rss: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    println!(
        "\nMemory, {} files queued: CLI peak RSS {:.0} MB; window peak RSS {:.0} MB",
        sz.queued,
        cli_rss as f64 / 1e6,
        win_rss as f64 / 1e6
    );
}
