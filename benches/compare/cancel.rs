//! Cancel latency: from `cancel()` until the last worker has stopped, per operation (two
//! workers keeping both cores busy, cancelled at random points; the cases are listed in
//! [`cases`]), and from `pause()` until every worker is blocked. Also what the per-chunk stop
//! check costs a hash, printed with the `other` section.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use ripcord::cancel::throttle::Throttle;
use ripcord::cancel::{CancelToken, Reason};
use ripcord::engine::{Job, JobSpec, Operation};
use ripcord::ops::Ctx;
use ripcord::ops::hash::{Algo, Hasher};

use super::{Bench, common, finish, median, pct, time_sh};

/// One row: label, operation, inputs.
type Case = (&'static str, Operation, Vec<PathBuf>);

/// The operations timed, in the table's order; outputs go to `out`, `zbig` is the big file
/// compressed.
fn cases(b: &Bench, out: &Path, zbig: &Path) -> Vec<Case> {
    let two = vec![b.big.clone(), b.big2.clone()];
    let out = out.to_path_buf();
    vec![
        (
            "hash sha256",
            Operation::Hash { algo: Algo::Sha256 },
            two.clone(),
        ),
        (
            "hash blake3",
            Operation::Hash { algo: Algo::Blake3 },
            two.clone(),
        ),
        (
            "compress -3",
            Operation::compress(3, Some(out.clone())),
            two.clone(),
        ),
        (
            "compress -3, 1 file (2 zstd threads)",
            Operation::compress(3, Some(out.clone())),
            vec![b.big.clone()],
        ),
        (
            "decompress",
            Operation::decompress(Some(out.clone())),
            vec![zbig.to_path_buf()],
        ),
        (
            "copy",
            Operation::Copy {
                to: out.clone(),
                verify: false,
            },
            two.clone(),
        ),
        (
            "copy --verify",
            Operation::Copy {
                to: out,
                verify: true,
            },
            two,
        ),
    ]
}

/// Prints the cancel-latency table; `RIPCORD_BENCH_CASE=PREFIX` runs only the cases whose
/// label starts so (the pause row always runs).
pub fn section(b: &Bench) {
    // The last peers (plain `cp`) left their output to the kernel's writeback; its disk
    // and flusher-thread work would land on the first cancels.
    time_sh("sync");
    println!(
        "\nCancel latency (ms, cancel call → last worker stopped; 2 workers, {} cancels each):",
        b.sz.cancels
    );
    println!("| operation | p50 | p99 | max |\n|---|---|---|---|");
    let mut seed = 0x1234_5678_9abc_def1u64;
    let out = b.dir.join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    time_sh(&format!(
        "zstd -q -f -3 {} -o {}/big.bin.zst",
        b.big.display(),
        b.dir.display()
    ));
    let zbig = b.dir.join("big.bin.zst");
    let case_filter = std::env::var("RIPCORD_BENCH_CASE").ok();
    for (label, op, inputs) in cases(b, &out, &zbig) {
        if case_filter
            .as_deref()
            .is_some_and(|f| !label.starts_with(f))
        {
            continue;
        }
        let mut l = cancel_latency(op, inputs, b.sz.cancels, &mut seed);
        if l.is_empty() {
            continue;
        }
        println!(
            "| {label} | {:.2} | {:.2} | {:.2} |",
            pct(&mut l, 0.5),
            pct(&mut l, 0.99),
            pct(&mut l, 1.0)
        );
    }
    let mut p = pause_latency(b.big.clone(), b.sz.cancels);
    println!(
        "| pause → all paused | {:.2} | {:.2} | {:.2} |",
        pct(&mut p, 0.5),
        pct(&mut p, 0.99),
        pct(&mut p, 1.0)
    );
}

/// Prints what the per-chunk stop check costs: sha256 over 256 MiB in memory, with the
/// check and without.
pub fn stop_check_overhead() {
    println!(
        "\nStop-check overhead (sha256 over 256 MiB in memory, per-chunk check vs none): {:+.2} %",
        check_overhead()
    );
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
