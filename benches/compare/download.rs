//! The download section: throughput from a server on 127.0.0.1 against `curl -o` and
//! `wget` (same server, same run), cancel latency with the server stalled, and the cost of
//! a download cancelled at 50 % and resumed against one that was never interrupted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ripcord::cancel::Reason;
use ripcord::engine::{Job, JobSpec, Operation};
use ripcord::ops::download::Options;

use super::http::{Resource, Server};
use super::{Bench, compare, finish, pct, time_sh};

fn job(url: &str, to: &Path, resume: bool, keep: bool) -> Job {
    let mut opts = Options::new(to.to_path_buf());
    opts.resume = resume;
    opts.keep_partial = keep;
    opts.idle = Duration::from_secs(300);
    let op = Operation::Download {
        opts,
        checks: Vec::new(),
    };
    let mut spec = JobSpec::new(op, vec![PathBuf::from(url)]);
    spec.overwrite = true;
    Job::start(spec, None).expect("start")
}

fn wait_bytes(job: &Job, n: u64) {
    let end = Instant::now() + Duration::from_secs(120);
    while job.progress().bytes_done < n {
        assert!(Instant::now() < end, "no progress");
        std::thread::yield_now();
    }
}

/// Prints the download rows; the body is `sz.big` bytes (1 GiB in the full run).
pub fn section(b: &Bench) {
    time_sh("sync");
    let (d, size, runs, cancels) = (b.dir.as_path(), b.sz.big, b.sz.runs, b.sz.cancels.min(100));
    let srv = Server::start();
    srv.put("/big.bin", Resource::file(super::common::bytes(size, 21)));
    let url = srv.url("/big.bin");
    let r = super::ripcord();
    let dl = d.join("dl");
    println!(
        "\nDownloads from 127.0.0.1 ({} MiB body, same server):",
        size >> 20
    );
    println!("| operation | ripcord | peer | ratio |\n|---|---|---|---|");
    // Every run deletes the previous output first; Ripcord syncs its file before naming it,
    // so `… && sync FILE` is the fair peer.
    compare(
        "download, loopback",
        &format!(
            "rm -rf {0}/r && {r} download --force --to {0}/r {url}",
            dl.display()
        ),
        &[
            (
                "curl",
                format!(
                    "rm -rf {0}/c && curl -s --create-dirs -o {0}/c/big.bin {url}",
                    dl.display()
                ),
            ),
            (
                "curl",
                format!(
                    "rm -rf {0}/c && curl -s --create-dirs -o {0}/c/big.bin {url} && sync {0}/c/big.bin",
                    dl.display()
                ),
            ),
            (
                "wget",
                format!("rm -rf {0}/w && wget -q -P {0}/w {url}", dl.display()),
            ),
            (
                "wget",
                format!(
                    "rm -rf {0}/w && wget -q -P {0}/w {url} && sync {0}/w/big.bin",
                    dl.display()
                ),
            ),
        ],
        runs,
    );

    // Cancel latency: half the cancels mid-body (the server sent 1 MiB and went quiet),
    // half before the head (the server accepted and says nothing).
    let mut stalled = Resource::file(super::common::bytes(4 << 20, 22));
    stalled.stall_at = Some(1 << 20);
    srv.put("/stall", stalled);
    srv.put(
        "/silent",
        Resource {
            stall_head: true,
            ..Resource::file(vec![0; 16])
        },
    );
    let out = d.join("dl-cancel");
    let mut lat = Vec::with_capacity(cancels);
    for i in 0..cancels {
        let (path, body) = if i % 2 == 0 {
            ("/stall", true)
        } else {
            ("/silent", false)
        };
        let before = srv.requests_for(path).len();
        let j = job(&srv.url(path), &out, false, false);
        if body {
            wait_bytes(&j, 1 << 20);
        } else {
            while srv.requests_for(path).len() == before {
                std::thread::yield_now();
            }
        }
        j.cancel(Reason::User);
        let s = finish(&j);
        j.join();
        if let Some(l) = s.stop_latency {
            lat.push(l.as_secs_f64() * 1000.0);
        }
    }
    if !lat.is_empty() {
        println!(
            "\nCancel latency, server stalled (ms, {} cancels, half mid-body, half before the head): p50 {:.2}, p99 {:.2}, max {:.2}",
            lat.len(),
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99),
            pct(&mut lat, 1.0)
        );
    }

    // Resume overhead: cancelled at 50 % (keep partial) and resumed, against uninterrupted.
    let res = d.join("dl-resume");
    let mut whole = Vec::new();
    let mut split = Vec::new();
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(&res);
        time_sh("sync");
        let t = Instant::now();
        let j = job(&url, &res, false, false);
        finish(&j);
        j.join();
        whole.push(t.elapsed());

        let _ = std::fs::remove_dir_all(&res);
        time_sh("sync");
        srv.edit("/big.bin", |r| r.stall_at = Some(size / 2));
        let t = Instant::now();
        let j = job(&url, &res, false, true);
        wait_bytes(&j, (size / 2) as u64);
        j.cancel(Reason::User);
        finish(&j);
        j.join();
        srv.edit("/big.bin", |r| r.stall_at = None);
        let j = job(&url, &res, true, false);
        finish(&j);
        j.join();
        split.push(t.elapsed());
    }
    let (w, s) = (super::median(whole), super::median(split));
    println!(
        "\n| download cancelled at 50 % and resumed | {:.3} s | uninterrupted {:.3} s | {:.2}× |",
        s.as_secs_f64(),
        w.as_secs_f64(),
        s.as_secs_f64() / w.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dl);
}
