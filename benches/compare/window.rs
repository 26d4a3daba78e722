//! The window: Ctrl+Q in the real window under Xvfb (daemon mode and graceful), frame time of
//! the real app's UI code while two workers hash, the engine's wake-ups, whether anything
//! repaints once idle, how long a graceful close takes, and the peak memory of the command
//! line and of the window with many files queued (the window measured in a child process,
//! `--window-rss-child`, so that its peak is its own).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use ripcord::cancel::Reason;
use ripcord::engine::{Job, JobSpec, Operation};
use ripcord::gui::Launch as GuiArgs;
use ripcord::gui::RipcordApp;
use ripcord::ops::hash::Algo;

use super::{Bench, common, finish, pct, peak_rss, ripcord, rss_of};

/// Prints the window's lines: real-window exits, frames and close, memory.
pub fn section(b: &Bench) {
    exits(b);
    frames_and_close(b);
    memory(b);
}

fn exits(b: &Bench) {
    let Some((mut daemon, mut graceful)) = real_window_exits(&b.dir, b.sz.exits) else {
        println!("\nReal window: skipped (no Xvfb or xdotool)");
        return;
    };
    println!(
        "\nReal window under Xvfb, Ctrl+Q while compressing 2 files → process gone ({} runs each): daemon mode median {:.0} ms, max {:.0} ms; graceful (workers stopped first) median {:.0} ms, max {:.0} ms",
        b.sz.exits,
        pct(&mut daemon, 0.5),
        pct(&mut daemon, 1.0),
        pct(&mut graceful, 0.5),
        pct(&mut graceful, 1.0)
    );
}

fn frames_and_close(b: &Bench) {
    // Each input twice, under a second name: the window lists a path once.
    let mut files = vec![b.big.clone(), b.big2.clone()];
    for input in [&b.big, &b.big2] {
        let again = input.with_extension("again.bin");
        std::fs::hard_link(input, &again)
            .or_else(|_| std::fs::copy(input, &again).map(drop))
            .expect("second name");
        files.push(again);
    }
    let (p50, p99, idle, rows) = frames(files);
    let wakes = wakes_per_sec(rows.clone());
    let close_ms = close_ms(rows);
    println!(
        "\nWindow (real app UI code, headless): frame p50 {p50:.2} ms, p99 {p99:.2} ms while 2 workers hash; engine wake-ups {wakes:.0}/s while running; repaint requested when idle: {idle}; graceful close with 2 busy workers: {close_ms:.1} ms"
    );
}

/// Peak memory with `sz.queued` tiny files queued: the command line (throttled, so they stay
/// queued) and the window (in a child process).
fn memory(b: &Bench) {
    let many = b.dir.join("many");
    std::fs::create_dir(&many).expect("mkdir");
    for i in 0..b.sz.queued {
        let sub = many.join(format!("{:03}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir(&sub).expect("mkdir");
        }
        std::fs::write(sub.join(format!("{i:06}")), b"x").expect("write");
    }
    let mut cli = Command::new(ripcord());
    cli.args(["hash", "--throttle", "1k", "--deadline", "3s", "-q"])
        .arg(&many);
    let cli_rss = peak_rss(cli);
    let exe = std::env::current_exe().expect("exe");
    let out = Command::new(exe)
        .arg("--window-rss-child")
        .arg(&many)
        .arg(b.sz.queued.to_string())
        .output()
        .expect("child");
    let win_rss: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    println!(
        "\nMemory, {} files queued: CLI peak RSS {:.0} MB; window peak RSS {:.0} MB",
        b.sz.queued,
        cli_rss as f64 / 1e6,
        win_rss as f64 / 1e6
    );
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
        wait_for_file(&display, &win, &mut child, &home, &work, |n| {
            n.starts_with(".ripcord-")
        });
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

/// In the child (`--window-rss-child DIR N`): lists `dir` (N files) in the real app's UI code,
/// headless, and prints its peak RSS in bytes.
pub fn child(dir: &Path, expect: usize) {
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

/// Frame time (p50, p99 in ms) of the real app's UI code while two workers hash `files`
/// until done or 2,000 frames, whether anything repaints once idle, and the rows' paths.
fn frames(files: Vec<PathBuf>) -> (f64, f64, bool, Vec<PathBuf>) {
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
    let rows = h
        .state()
        .rows
        .iter()
        .map(|r| r.path.to_path_buf())
        .collect();
    (p50, p99, idle_repaint, rows)
}

/// The engine's wake-ups per second while two workers hash `files`, with a front end that
/// re-arms every 16 ms (over at most 3 s).
fn wakes_per_sec(files: Vec<PathBuf>) -> f64 {
    let wakes = Arc::new(AtomicUsize::new(0));
    let w = wakes.clone();
    let mut spec = JobSpec::new(Operation::Hash { algo: Algo::Sha256 }, files);
    spec.workers = 2;
    let job = Job::start(
        spec,
        Some(Box::new(move || {
            // A count read after the job; nothing else is ordered by it.
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
    per_sec
}

/// Graceful close of the window while two workers hash `files`: ms from the request to
/// closed.
fn close_ms(files: Vec<PathBuf>) -> f64 {
    let n = files.len();
    let app = RipcordApp::new(
        ripcord::gui::model::Settings {
            threads: 2,
            ..Default::default()
        },
        GuiArgs {
            paths: files,
            ..Default::default()
        },
    );
    let mut h = Harness::builder().build_ui_state(|ui, app: &mut RipcordApp| app.show(ui), app);
    while h.state().rows.len() < n {
        h.step();
    }
    h.get_by_label("Start").click();
    h.step();
    h.step();
    let t = Instant::now();
    h.state_mut().request_close();
    while !h.state().close_now() {
        h.step();
        // A file that finished before the close leaves a checksum never saved, and the
        // window asks first: the person's answer is Discard.
        if h.state().asking().is_some() {
            h.get_by_label("Discard").click();
        }
    }
    t.elapsed().as_secs_f64() * 1000.0
}
