//! Downloads against a real server on 127.0.0.1 (`common/http.rs`): byte-identical results,
//! cancel during a stall within the contract with nothing under the final name, resume
//! (after a cancel with keep-partial and after `kill -9`) by a `Range` request, a changed
//! ETag or a server ignoring ranges restarting from zero, every bad case failing with the
//! URL and the reason while the other URLs are still done, names that cannot escape the
//! folder, and HTTPS with and without the test root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ripcord::cancel::Reason;
use ripcord::engine::{Event, Job, JobSpec, Operation, Outcome, Summary};
use ripcord::ops::download::Options;

use crate::common::http::{Resource, Server};
use crate::common::{JsonChild, WAIT, bytes, entries, have, tool};

const MIB: usize = 1 << 20;

/// `ripcord download ARGS` in `dir`, with no proxy from the environment in the way.
fn download(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().unwrap()
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ripcord"));
    cmd.current_dir(dir).arg("download").args(args);
    for v in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        cmd.env_remove(v);
    }
    cmd
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The visible names in a folder (partials are hidden, dot-named).
fn visible(dir: &Path) -> Vec<String> {
    entries(dir)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect()
}

fn partials(dir: &Path) -> Vec<String> {
    entries(dir)
        .into_iter()
        .filter(|n| n.starts_with(".ripcord-dl-"))
        .collect()
}

fn engine_job(url: &str, to: &Path, tune: impl FnOnce(&mut Options)) -> Job {
    ripcord::init_engine();
    let mut opts = Options::new(to.to_path_buf());
    tune(&mut opts);
    let op = Operation::Download {
        opts,
        checks: Vec::new(),
    };
    Job::start(JobSpec::new(op, vec![PathBuf::from(url)]), None).unwrap()
}

fn finish(job: Job) -> (Vec<Event>, Summary) {
    let end = Instant::now() + WAIT;
    let mut events = Vec::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match job.events().recv_timeout(left).expect("no Finished event") {
            Event::Finished(s) => {
                job.join();
                return (events, s);
            }
            e => events.push(e),
        }
    }
}

fn wait_bytes(job: &Job, at_least: u64) {
    let end = Instant::now() + WAIT;
    while job.progress().bytes_done < at_least {
        assert!(Instant::now() < end, "no progress to {at_least}");
        std::thread::yield_now();
    }
}

#[test]
fn a_download_is_byte_identical_and_prints_its_path() {
    let srv = Server::start();
    let body = bytes(3 * MIB + 17, 1);
    srv.put("/files/data.bin", Resource::file(body.clone()));
    let dir = tempfile::tempdir().unwrap();
    let o = download(dir.path(), &["--to", "out", &srv.url("/files/data.bin")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out/data.bin\n");
    assert_eq!(
        std::fs::read(dir.path().join("out/data.bin")).unwrap(),
        body
    );
    assert_eq!(entries(&dir.path().join("out")), vec!["data.bin"]);
    let req = &srv.requests_for("/files/data.bin")[0];
    let ua = req.headers.get("user-agent").cloned().unwrap_or_default();
    assert_eq!(ua, format!("ripcord/{}", env!("CARGO_PKG_VERSION")));
    assert!(
        req.headers
            .get("accept-encoding")
            .is_none_or(|v| !v.contains("gzip")),
        "{req:?}"
    );
    if have("curl") {
        let c = tool(
            dir.path(),
            "curl",
            ["-s", "-o", "curl.bin", &srv.url("/files/data.bin")],
        );
        assert!(c.status.success());
        assert_eq!(std::fs::read(dir.path().join("curl.bin")).unwrap(), body);
    }
}

#[test]
fn a_cancel_during_a_stall_is_immediate_and_leaves_nothing() {
    let srv = Server::start();
    let mut res = Resource::file(bytes(4 * MIB, 2));
    res.stall_at = Some(MIB);
    srv.put("/stall", res);
    srv.put(
        "/silent",
        Resource {
            stall_head: true,
            ..Resource::file(vec![1; 10])
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // Mid-body: the server sent 1 MiB and went quiet.
    let job = engine_job(&srv.url("/stall"), &out, |o| {
        o.idle = Duration::from_secs(120)
    });
    wait_bytes(&job, MIB as u64);
    assert!(job.cancel(Reason::User));
    let (events, s) = finish(job);
    let lat = s.stop_latency.unwrap();
    assert_eq!(s.cancelled, 1, "{events:?}");
    assert!(lat < Duration::from_millis(50), "stop took {lat:?}");
    assert!(entries(&out).is_empty(), "left {:?}", entries(&out));
    // Before the head: the request was accepted, nothing came back.
    let job = engine_job(&srv.url("/silent"), &out, |o| {
        o.idle = Duration::from_secs(120)
    });
    let end = Instant::now() + WAIT;
    while srv.requests_for("/silent").is_empty() {
        assert!(Instant::now() < end);
        std::thread::yield_now();
    }
    job.cancel(Reason::User);
    let (_, s) = finish(job);
    assert!(s.stop_latency.unwrap() < Duration::from_millis(50), "{s:?}");
    // In a TLS handshake with a server that never answers it.
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/x", mute.local_addr().unwrap());
    let job = engine_job(&url, &out, |o| o.idle = Duration::from_secs(120));
    let _conn = mute.accept().unwrap();
    job.cancel(Reason::User);
    let (_, s) = finish(job);
    assert!(s.stop_latency.unwrap() < Duration::from_millis(50), "{s:?}");
    assert!(entries(&out).is_empty(), "left {:?}", entries(&out));
}

#[test]
fn pause_stops_reading_and_resume_continues() {
    let srv = Server::start();
    let body = bytes(64 * MIB, 3);
    srv.put("/big", Resource::file(body.clone()));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    ripcord::init_engine();
    let mut opts = Options::new(out.clone());
    opts.idle = Duration::from_secs(120);
    let mut spec = JobSpec::new(
        Operation::Download {
            opts,
            checks: Vec::new(),
        },
        vec![PathBuf::from(srv.url("/big"))],
    );
    spec.throttle = Some(16 << 20);
    let job = Job::start(spec, None).unwrap();
    wait_bytes(&job, MIB as u64);
    job.pause();
    // Let the worker reach its pause point, then progress must stand still.
    let mut last = job.progress().bytes_done;
    let end = Instant::now() + WAIT;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = job.progress().bytes_done;
        if now == last {
            break;
        }
        last = now;
        assert!(Instant::now() < end, "never stood still");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(job.progress().bytes_done, last, "progress while paused");
    job.resume();
    job.set_throttle(None);
    let (events, s) = finish(job);
    assert_eq!(s.done, 1, "{events:?}");
    assert_eq!(std::fs::read(out.join("big")).unwrap(), body);
}

/// Starts `ripcord download --json ARGS`, waits until `at_least` bytes are done, then
/// sends `sig` and returns the exit code.
fn interrupt_after(dir: &Path, args: &[&str], at_least: u64, sig: &str) -> Option<i32> {
    let mut cmd = command(dir, args);
    cmd.arg("--json");
    let mut child = JsonChild::start(cmd);
    child.wait_for("enough progress", WAIT, |v| {
        v["event"] == "progress" && v["bytes_done"].as_u64().is_some_and(|b| b >= at_least)
    });
    child.signal(sig);
    child.finish(WAIT).status.code()
}

/// Serves `res` at `path`, silent after its first MiB, and runs `download --to out ARGS
/// URL` until that MiB is in, then interrupts it (Ctrl-C, exit 130): the folder and the URL.
fn stalled_then_interrupted(
    srv: &Server,
    path: &str,
    mut res: Resource,
    args: &[&str],
) -> (tempfile::TempDir, String) {
    res.stall_at = Some(MIB);
    srv.put(path, res);
    let dir = tempfile::tempdir().unwrap();
    let url = srv.url(path);
    let mut all = vec!["--to", "out"];
    all.extend_from_slice(args);
    all.push(&url);
    let code = interrupt_after(dir.path(), &all, MIB as u64, "INT");
    assert_eq!(code, Some(130));
    (dir, url)
}

fn range_requests(srv: &Server, path: &str) -> Vec<(String, Option<String>)> {
    srv.requests_for(path)
        .into_iter()
        .filter_map(|r| {
            r.headers
                .get("range")
                .map(|v| (v.clone(), r.headers.get("if-range").cloned()))
        })
        .collect()
}

#[test]
fn resume_after_a_cancel_with_keep_partial_asks_for_the_rest() {
    let srv = Server::start();
    let body = bytes(3 * MIB, 4);
    let (dir, url) = stalled_then_interrupted(
        &srv,
        "/r.bin",
        Resource::file(body.clone()),
        &["--keep-partial"],
    );
    let out = dir.path().join("out");
    assert!(visible(&out).is_empty(), "{:?}", entries(&out));
    assert_eq!(
        partials(&out).len(),
        2,
        "partial and sidecar: {:?}",
        entries(&out)
    );
    srv.edit("/r.bin", |r| r.stall_at = None);
    let o = download(dir.path(), &["--to", "out", "--resume", &url]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        range_requests(&srv, "/r.bin"),
        vec![(format!("bytes={MIB}-"), Some("\"v1\"".to_string()))]
    );
    assert_eq!(std::fs::read(out.join("r.bin")).unwrap(), body);
    assert_eq!(entries(&out), vec!["r.bin"]);
}

#[test]
fn a_cancel_without_keep_partial_leaves_nothing_and_the_next_run_starts_over() {
    let srv = Server::start();
    let body = bytes(2 * MIB, 5);
    let (dir, url) = stalled_then_interrupted(&srv, "/n.bin", Resource::file(body.clone()), &[]);
    assert!(entries(&dir.path().join("out")).is_empty());
    srv.edit("/n.bin", |r| r.stall_at = None);
    let o = download(dir.path(), &["--to", "out", "--resume", &url]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(range_requests(&srv, "/n.bin").is_empty());
    assert_eq!(std::fs::read(dir.path().join("out/n.bin")).unwrap(), body);
}

#[test]
fn resume_after_kill_9_asks_for_the_rest() {
    let srv = Server::start();
    let body = bytes(3 * MIB, 6);
    let mut res = Resource::file(body.clone());
    res.stall_at = Some(2 * MIB);
    srv.put("/k.bin", res);
    let dir = tempfile::tempdir().unwrap();
    let url = srv.url("/k.bin");
    let code = interrupt_after(dir.path(), &["--to", "out", &url], 2 * MIB as u64, "KILL");
    assert_eq!(code, None, "killed by a signal");
    let out = dir.path().join("out");
    assert!(visible(&out).is_empty(), "{:?}", entries(&out));
    srv.edit("/k.bin", |r| r.stall_at = None);
    let o = download(dir.path(), &["--to", "out", "--resume", &url]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ranges = range_requests(&srv, "/k.bin");
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    assert_eq!(ranges[0].0, format!("bytes={}-", 2 * MIB));
    assert_eq!(std::fs::read(out.join("k.bin")).unwrap(), body);
}

#[test]
fn a_changed_etag_restarts_from_zero() {
    let srv = Server::start();
    let old = bytes(2 * MIB, 7);
    let new = bytes(2 * MIB, 8);
    let (dir, url) =
        stalled_then_interrupted(&srv, "/e.bin", Resource::file(old), &["--keep-partial"]);
    srv.put(
        "/e.bin",
        Resource {
            etag: Some("\"v2\"".into()),
            ..Resource::file(new.clone())
        },
    );
    let o = download(dir.path(), &["--to", "out", "--resume", &url]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The range was asked for with the old validator; the server answered with everything.
    assert_eq!(
        range_requests(&srv, "/e.bin"),
        vec![(format!("bytes={MIB}-"), Some("\"v1\"".to_string()))]
    );
    assert_eq!(std::fs::read(dir.path().join("out/e.bin")).unwrap(), new);
}

#[test]
fn a_server_ignoring_ranges_restarts_cleanly() {
    let srv = Server::start();
    let body = bytes(2 * MIB, 9);
    let mut res = Resource::file(body.clone());
    res.ranges = false;
    let (dir, url) = stalled_then_interrupted(&srv, "/i.bin", res, &["--keep-partial"]);
    srv.edit("/i.bin", |r| r.stall_at = None);
    let o = download(dir.path(), &["--to", "out", "--resume", &url]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(range_requests(&srv, "/i.bin").len(), 1);
    assert_eq!(std::fs::read(dir.path().join("out/i.bin")).unwrap(), body);
}

#[test]
fn a_dropped_connection_is_retried_with_a_range() {
    let srv = Server::start();
    let body = bytes(2 * MIB, 10);
    let mut res = Resource::file(body.clone());
    res.drop_at = Some(MIB);
    res.drops = 1;
    srv.put("/d.bin", res);
    let dir = tempfile::tempdir().unwrap();
    let o = download(
        dir.path(),
        &["--to", "out", "--retry-delay", "10ms", &srv.url("/d.bin")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ranges = range_requests(&srv, "/d.bin");
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    assert!(ranges[0].0.starts_with("bytes="), "{ranges:?}");
    assert_eq!(std::fs::read(dir.path().join("out/d.bin")).unwrap(), body);
}

#[test]
fn retry_after_is_honoured() {
    let srv = Server::start();
    let body = bytes(1000, 11);
    let mut res = Resource::file(body.clone());
    res.status = Some(429);
    res.status_times = 1;
    res.retry_after = Some("1".into());
    srv.put("/busy", res);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let o = download(
        dir.path(),
        &["--to", "out", "--retry-delay", "10ms", &srv.url("/busy")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(srv.requests_for("/busy").len(), 2);
    assert_eq!(std::fs::read(dir.path().join("out/busy")).unwrap(), body);
}

#[test]
fn every_bad_case_fails_with_the_url_and_reason_and_the_rest_is_done() {
    let srv = Server::start();
    let good = bytes(100_000, 12);
    srv.put("/good.bin", Resource::file(good.clone()));
    srv.put(
        "/always500",
        Resource {
            status: Some(500),
            status_times: usize::MAX,
            ..Resource::file(vec![0; 10])
        },
    );
    srv.put(
        "/loop",
        Resource {
            redirect: Some("/loop".into()),
            ..Default::default()
        },
    );
    srv.put(
        "/short.bin",
        Resource {
            short_by: 100,
            ..Resource::file(bytes(5000, 13))
        },
    );
    srv.put(
        "/quiet.bin",
        Resource {
            stall_at: Some(1000),
            ..Resource::file(bytes(5000, 14))
        },
    );
    // More than announced: in the body's last write, and in writes after its end.
    srv.put(
        "/long.bin",
        Resource {
            long_by: 100,
            ..Resource::file(bytes(5000, 16))
        },
    );
    srv.put(
        "/long2.bin",
        Resource {
            long_by: 200_000 - 131_072,
            ..Resource::file(bytes(200_000, 18))
        },
    );
    srv.put("/sum.bin", Resource::file(bytes(5000, 15)));
    // Announces an exabyte: refused before a byte is written.
    srv.put(
        "/huge.bin",
        Resource {
            short_by: 1 << 60,
            ..Resource::file(bytes(10, 19))
        },
    );
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        drop(l);
        format!("http://{a}/x")
    };
    let wrong = "0".repeat(64);
    let dir = tempfile::tempdir().unwrap();
    let list = format!(
        "# bad and good\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{refused}\nftp://example/x\n{} sha256:{wrong}\n{}\n{}\n",
        srv.url("/nothing"),
        srv.url("/always500"),
        srv.url("/loop"),
        srv.url("/short.bin"),
        srv.url("/long.bin"),
        srv.url("/long2.bin"),
        srv.url("/quiet.bin"),
        srv.url("/sum.bin"),
        srv.url("/huge.bin"),
        srv.url("/good.bin"),
    );
    std::fs::write(dir.path().join("urls.txt"), list).unwrap();
    let o = download(
        dir.path(),
        &[
            "--to",
            "out",
            "-i",
            "urls.txt",
            "--retries",
            "1",
            "--retry-delay",
            "10ms",
            "--idle-timeout",
            "300ms",
        ],
    );
    let err = stderr(&o);
    // Shown with --nocapture: the messages as a person reads them.
    eprintln!("{err}");
    assert_eq!(o.status.code(), Some(1), "{err}");
    for (url, why) in [
        (srv.url("/nothing"), "404 Not Found"),
        (srv.url("/always500"), "500 Internal Server Error"),
        (srv.url("/loop"), "more than 10 redirects"),
        (
            srv.url("/short.bin"),
            "body ended after 5000 of its 5100 bytes",
        ),
        (
            srv.url("/long.bin"),
            "body is longer than its announced 4900 bytes",
        ),
        (
            srv.url("/long2.bin"),
            "body is longer than its announced 131072 bytes",
        ),
        (srv.url("/quiet.bin"), "no data for"),
        (refused.clone(), "connection refused"),
        ("ftp://example/x".to_string(), "bad URL"),
        (srv.url("/sum.bin"), "checksum mismatch"),
        (srv.url("/huge.bin"), "free"),
    ] {
        assert!(
            err.lines().any(|l| l.contains(&url) && l.contains(why)),
            "no line with {url} and {why:?} in:\n{err}"
        );
    }
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out/good.bin\n");
    assert_eq!(entries(&dir.path().join("out")), vec!["good.bin"]);
    assert_eq!(
        std::fs::read(dir.path().join("out/good.bin")).unwrap(),
        good
    );
}

#[test]
fn a_name_from_the_server_cannot_leave_the_folder() {
    let srv = Server::start();
    for (path, disposition) in [
        ("/cd1", "attachment; filename=\"../../evil.sh\""),
        (
            "/cd2",
            "attachment; filename*=UTF-8''..%2F..%2F.hidden%2Fx.txt",
        ),
        ("/cd3", "attachment; filename=\"-rf\""),
    ] {
        srv.put(
            path,
            Resource {
                disposition: Some(disposition.into()),
                ..Resource::file(b"payload".to_vec())
            },
        );
    }
    srv.put("/dl/..%2F..%2Fup.txt", Resource::file(b"payload".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a/b");
    std::fs::create_dir_all(&root).unwrap();
    let o = download(
        &root,
        &[
            "--to",
            "out",
            &srv.url("/cd1"),
            &srv.url("/cd2"),
            &srv.url("/cd3"),
            &srv.url("/dl/..%2F..%2Fup.txt"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        entries(&root.join("out")),
        vec!["evil.sh", "rf", "up.txt", "x.txt"]
    );
    assert_eq!(entries(&root), vec!["out"]);
    assert_eq!(entries(&dir.path().join("a")), vec!["b"]);
}

#[test]
fn an_existing_file_is_kept_unless_forced() {
    let srv = Server::start();
    srv.put("/f.txt", Resource::file(b"new".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/f.txt"), b"old").unwrap();
    let o = download(dir.path(), &["--to", "out", &srv.url("/f.txt")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("already exists (use --force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(dir.path().join("out/f.txt")).unwrap(), b"old");
    let o = download(dir.path(), &["--to", "out", "--force", &srv.url("/f.txt")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("out/f.txt")).unwrap(), b"new");
    assert_eq!(entries(&dir.path().join("out")), vec!["f.txt"]);
}

#[test]
fn a_matching_checksum_and_a_chosen_name_are_accepted() {
    let srv = Server::start();
    let body = bytes(70_000, 16);
    srv.put("/c.bin", Resource::file(body.clone()));
    let dir = tempfile::tempdir().unwrap();
    let hex =
        ripcord::ops::hash::to_hex(ring::digest::digest(&ring::digest::SHA256, &body).as_ref());
    let o = download(
        dir.path(),
        &[
            "--to",
            "out",
            "-o",
            "mine.bin",
            "--sha256",
            &hex,
            &srv.url("/c.bin"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dir.path().join("out/mine.bin")).unwrap(),
        body
    );
}

#[test]
fn redirects_are_followed_and_the_final_url_names_the_file() {
    let srv = Server::start();
    srv.put(
        "/go",
        Resource {
            redirect: Some("/real/name.txt".into()),
            ..Default::default()
        },
    );
    srv.put("/real/name.txt", Resource::file(b"hello".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let o = download(dir.path(), &["--to", "out", &srv.url("/go")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dir.path().join("out/name.txt")).unwrap(),
        b"hello"
    );
}

#[test]
fn https_works_with_the_test_root_and_fails_clearly_without_it() {
    let srv = Server::start_tls();
    let body = bytes(MIB + 3, 17);
    srv.put("/s.bin", Resource::file(body.clone()));
    let plain = Server::start();
    plain.put("/s.bin", Resource::file(body.clone()));
    srv.put(
        "/down",
        Resource {
            redirect: Some(plain.url("/s.bin")),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("root.pem");
    std::fs::write(&ca, srv.root_pem.as_deref().unwrap()).unwrap();
    let o = download(dir.path(), &["--to", "out", &srv.url("/s.bin")]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&srv.url("/s.bin")) && err.contains("certificate"),
        "{err}"
    );
    assert!(entries(&dir.path().join("out")).is_empty());
    let ca_arg = ca.to_string_lossy().into_owned();
    let o = download(
        dir.path(),
        &["--to", "out", "--cacert", &ca_arg, &srv.url("/s.bin")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("out/s.bin")).unwrap(), body);
    // An https → http redirect is refused.
    let o = download(
        dir.path(),
        &["--to", "other", "--cacert", &ca_arg, &srv.url("/down")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("https to plain http"), "{}", stderr(&o));
    assert!(plain.requests().is_empty());
    // More than announced is found inside TLS too (and a clean end is not taken for it).
    srv.put(
        "/long.bin",
        Resource {
            long_by: 1000,
            ..Resource::file(bytes(70_000, 18))
        },
    );
    let o = download(
        dir.path(),
        &["--to", "long", "--cacert", &ca_arg, &srv.url("/long.bin")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("longer than its announced 69000 bytes"),
        "{}",
        stderr(&o)
    );
    assert!(entries(&dir.path().join("long")).is_empty());
}

#[test]
fn the_engine_reports_the_saved_path() {
    let srv = Server::start();
    srv.put("/x/y.dat", Resource::file(b"abc".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let job = engine_job(&srv.url("/x/y.dat"), dir.path(), |_| {});
    let (events, s) = finish(job);
    assert_eq!(s.done, 1);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Done { outcome: Outcome::Written(p), .. } if p == &dir.path().join("y.dat")
    )));
}

#[test]
fn a_deadline_stops_a_stalled_download_and_json_tells_its_size() {
    let srv = Server::start();
    let mut res = Resource::file(bytes(5000, 18));
    res.stall_at = Some(1000);
    srv.put("/slow.bin", res);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let o = download(
        dir.path(),
        &[
            "--to",
            "out",
            "--json",
            "--deadline",
            "500ms",
            &srv.url("/slow.bin"),
        ],
    );
    assert_eq!(o.status.code(), Some(124), "{}", stderr(&o));
    assert!(t.elapsed() < Duration::from_secs(10));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "sized" && e["size"] == 5000),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "cancelled" && e["reason"] == "deadline"),
        "{events:?}"
    );
    assert!(entries(&dir.path().join("out")).is_empty());
}

#[test]
fn a_proxy_from_the_environment_is_used() {
    let proxy = Server::start();
    // ureq tunnels through the proxy (CONNECT); the tunnel leads back to the same server.
    proxy.put("/p.txt", Resource::file(b"via proxy".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let o = command(
        dir.path(),
        &["--to", "out", "http://files.example.invalid/p.txt"],
    )
    .env("http_proxy", &proxy.base)
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dir.path().join("out/p.txt")).unwrap(),
        b"via proxy"
    );
    let connects: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "CONNECT")
        .map(|r| r.path)
        .collect();
    assert_eq!(connects, vec!["files.example.invalid:80".to_string()]);
}

/// A connect the kernel holds (the server's accept queue is full, so its SYNs go
/// unanswered) cannot be woken by shutting a socket down: the worker leaves it on its
/// helper, which is abandoned, and the cancel is as quick as ever.
#[test]
fn a_cancel_during_a_hanging_connect_does_not_wait_for_it() {
    use std::os::fd::AsRawFd;
    let full = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: `listen` on a descriptor `full` owns; it only changes the accept queue's length.
    let rc = unsafe { libc::listen(full.as_raw_fd(), 0) };
    assert_eq!(rc, 0);
    let addr = full.local_addr().unwrap();
    // Fill the queue (never accepted); a further connect then hangs in SYN retries.
    let mut held = Vec::new();
    for _ in 0..8 {
        let s = socket_nonblocking_connect(addr);
        held.push(s);
    }
    // Proof that a connect now hangs rather than completes or is refused.
    let probe = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300));
    assert_eq!(
        probe.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::TimedOut)
    );
    let dir = tempfile::tempdir().unwrap();
    let job = engine_job(&format!("http://{addr}/x"), dir.path(), |o| {
        o.idle = Duration::from_secs(120)
    });
    // Give the helper time to be inside connect(); any point before the answer will do.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        job.progress().files_finished == 0,
        "the connect did not hang"
    );
    job.cancel(Reason::User);
    let (events, s) = finish(job);
    assert_eq!(s.cancelled, 1, "{events:?}");
    let lat = s.stop_latency.unwrap();
    assert!(lat < Duration::from_millis(50), "stop took {lat:?}");
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
    // The command line's exit does not wait for the abandoned helper either.
    let t = Instant::now();
    let url = format!("http://{addr}/x");
    let o = download(dir.path(), &["--to", "out", "--deadline", "300ms", &url]);
    assert_eq!(o.status.code(), Some(124), "{}", stderr(&o));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

/// A cancel while the host name is being looked up does not wait for the lookup, which
/// cannot be interrupted (`getaddrinfo`). The lookup hangs for real: the command runs in a
/// mount namespace of its own whose resolv.conf names a DNS server on 127.0.0.77 that this
/// test runs and that never answers. Needs root (for the namespace and port 53); skipped
/// without it.
#[test]
fn a_cancel_during_a_hanging_name_lookup_does_not_wait_for_it() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || !have("unshare") || !have("mount") {
        eprintln!("skipping: needs root, unshare and mount");
        return;
    }
    // Containers may refuse a mount namespace even to root.
    let can_mount = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount --bind /etc/resolv.conf /etc/resolv.conf",
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let asks_dns = std::fs::read_to_string("/etc/nsswitch.conf").is_ok_and(|n| {
        n.lines()
            .any(|l| l.trim_start().starts_with("hosts:") && l.contains("dns"))
    });
    if !can_mount || !asks_dns {
        eprintln!("skipping: no mount namespace here, or host names are not looked up by DNS");
        return;
    }
    let dns = match std::net::UdpSocket::bind("127.0.0.77:53") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipping: cannot take 127.0.0.77:53: {e}");
            return;
        }
    };
    dns.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.77\noptions timeout:30 attempts:1\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let t = Instant::now();
    let mut child = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(r#"mount --bind "$1" /etc/resolv.conf && exec "$2" download --to "$3" --deadline 500ms http://stall.ripcord-test/x"#)
        .arg("sh")
        .arg(&resolv)
        .arg(env!("CARGO_BIN_EXE_ripcord"))
        .arg(&out)
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Proof that the command is inside the lookup: its question reaches our silent server.
    let mut question = [0u8; 512];
    while dns.recv_from(&mut question).is_err() {
        let gone = child.try_wait().unwrap();
        assert!(
            gone.is_none() && t.elapsed() < WAIT,
            "no DNS question arrived (command: {gone:?})"
        );
    }
    let o = child.wait_with_output().unwrap();
    let took = t.elapsed();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(124), "{err}");
    assert!(err.contains("http://stall.ripcord-test/x"), "{err}");
    // The lookup itself would wait 30 s for an answer.
    assert!(took < Duration::from_secs(5), "the exit waited {took:?}");
    assert!(entries(&out).is_empty(), "{:?}", entries(&out));
}

/// Starts a connect to `addr` without waiting for it to complete.
fn socket_nonblocking_connect(addr: std::net::SocketAddr) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let std::net::SocketAddr::V4(v4) = addr else {
        panic!("IPv4 only")
    };
    // SAFETY: a plain socket call; the descriptor is owned by the OwnedFd made below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
    assert!(fd >= 0);
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sa` is a valid sockaddr_in for the length given; EINPROGRESS is expected.
    unsafe {
        libc::connect(
            fd,
            std::ptr::addr_of!(sa).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
    }
    owned
}
