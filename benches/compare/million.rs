//! A million files: 1,000,000 files of 64 bytes in 1,000 folders, generated once under the
//! bench folder and reused. The command line against a shell pipeline of the peer tools
//! (time and peak memory), and the window: listing time, frame time with a million rows
//! while two workers hash, and peak memory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use ripcord::gui::Launch as GuiArgs;
use ripcord::gui::RipcordApp;

/// Files and folders of the full case.
pub const FILES: usize = 1_000_000;
const PER_FOLDER: usize = 1_000;

/// Prints the section: the command line, then the window, over `sz.million` files.
pub fn section(b: &super::Bench) {
    // Generated once beside the bench's temporary folder, and reused by later runs.
    let n = b.sz.million;
    let tree = tree(&b.root, n);
    cli(super::ripcord(), &tree, n);
    window(&tree, n);
}

/// The tree of `n` files under `root`, made once: a marker file says it is complete, so a
/// later run reuses it (making a million files takes longer than measuring them).
fn tree(root: &Path, n: usize) -> PathBuf {
    let dir = root.join(format!("ripcord-bench-files-{n}"));
    let done = root.join(format!("ripcord-bench-files-{n}.complete"));
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let body = [b'x'; 64];
    for i in 0..n {
        let sub = dir.join(format!("{:04}", i / PER_FOLDER));
        if i % PER_FOLDER == 0 {
            std::fs::create_dir(&sub).expect("mkdir");
        }
        std::fs::write(sub.join(format!("{i:07}")), body).expect("write");
    }
    std::fs::write(&done, b"").expect("marker");
    dir
}

/// Wall time and peak RSS (bytes) of a shell command, stdout discarded.
fn time_and_rss(cmd: &str) -> (Duration, u64) {
    let t = Instant::now();
    let mut child = Command::new("sh")
        .args(["-c", cmd])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // The peak of the whole process tree, sampled: the shell's children are the work.
    let mut peak = 0;
    loop {
        peak = peak.max(tree_rss(child.id()));
        if child.try_wait().ok().flatten().is_some() {
            return (t.elapsed(), peak);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Resident memory of `pid` and its descendants, from /proc.
fn tree_rss(pid: u32) -> u64 {
    let mut total = 0;
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{p}/status")) {
            total += s
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .map_or(0, |kb| kb * 1024);
        }
        if let Ok(kids) = std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")) {
            stack.extend(
                kids.split_whitespace()
                    .filter_map(|k| k.parse::<u32>().ok()),
            );
        }
    }
    total
}

/// The command-line rows: ripcord against `find | xargs -P2` of b3sum and sha256sum.
fn cli(ripcord: &str, dir: &Path, n: usize) {
    let d = dir.display();
    // Warm the cache once, as both sides then read from it.
    let _ = time_and_rss(&format!("find {d} -type f -print0 | xargs -0 cat"));
    println!(
        "\n{n} files of 64 bytes in {} folders (time, peak memory of the whole pipeline):\n| operation | ripcord | peer | ratio |\n|---|---|---|---|",
        n / PER_FOLDER
    );
    for (algo, peer) in [("blake3", "b3sum"), ("sha256", "sha256sum")] {
        if !super::have(peer) {
            continue;
        }
        let (ours, our_rss) = time_and_rss(&format!("{ripcord} hash -a {algo} {d}"));
        let (theirs, their_rss) =
            time_and_rss(&format!("find {d} -type f -print0 | xargs -0 -P2 {peer}"));
        println!(
            "| hash -a {algo}, {n} files | {:.2} s, {:.0} MB | `find | xargs -0 -P2 {peer}` {:.2} s, {:.0} MB | {:.2}× |",
            ours.as_secs_f64(),
            our_rss as f64 / 1e6,
            theirs.as_secs_f64(),
            their_rss as f64 / 1e6,
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
    }
}

/// The window's rows, measured in a child process (so its peak memory is its own).
fn window(dir: &Path, n: usize) {
    let exe = std::env::current_exe().expect("exe");
    let out = Command::new(exe)
        .arg("--window-million-child")
        .arg(dir)
        .arg(n.to_string())
        .output()
        .expect("child");
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

/// A frame of a 60 Hz display.
const FRAME: Duration = Duration::from_micros(16_667);

/// In the child: list `dir` in the real app's UI code (headless), then run a two-worker
/// hash over every row and time the frames, then report peak memory.
pub fn window_child(dir: &Path, n: usize) {
    let settings = ripcord::gui::model::Settings {
        threads: 2,
        ..Default::default()
    };
    let app = RipcordApp::new(settings, GuiArgs::default());
    let mut h = Harness::builder()
        .with_size(egui::vec2(1100.0, 700.0))
        .build_ui_state(|ui, app: &mut RipcordApp| app.show(ui), app);
    h.step();
    let t = Instant::now();
    h.state_mut().add(vec![dir.to_path_buf()]);
    let mut listing_frames = Vec::new();
    while (h.state().rows.len() < n || h.state().listing().is_some())
        && t.elapsed() < Duration::from_secs(300)
    {
        let f = Instant::now();
        h.step();
        listing_frames.push(f.elapsed().as_secs_f64() * 1000.0);
        // At most 60 frames a second, as the real window draws (vsync): frames drawn back to
        // back would take a core from the listing that no window takes.
        std::thread::sleep(FRAME.saturating_sub(f.elapsed()));
    }
    let listed = t.elapsed();
    let rows = h.state().rows.len();
    let listed_rss = super::rss_of(std::process::id()).unwrap_or(0);
    // Adding the same folder again: every file is found listed already.
    let t = Instant::now();
    h.state_mut().add(vec![dir.to_path_buf()]);
    while h.state().listing().is_some() && t.elapsed() < Duration::from_secs(300) {
        let f = Instant::now();
        h.step();
        std::thread::sleep(FRAME.saturating_sub(f.elapsed()));
    }
    let again = t.elapsed();
    h.get_by_label("Start").click();
    h.step();
    let mut frames = Vec::new();
    let t = Instant::now();
    // To the end (60 frames a second, as the real window draws, so the workers have the
    // cores): the memory reported is that of every row with its result.
    while h.state().is_running() && t.elapsed() < Duration::from_secs(120) {
        let f = Instant::now();
        h.step();
        frames.push(f.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(FRAME.saturating_sub(f.elapsed()));
    }
    let hashed = t.elapsed();
    let with_result = h.state().rows.iter().filter(|r| r.result.is_some()).count();
    if h.state().is_running() {
        h.get_by_label("Cancel").click();
        while h.state().is_running() {
            h.step();
        }
    }
    let rss = super::rss_of(std::process::id()).unwrap_or(0);
    println!(
        "\nWindow with {rows} rows (real app UI code, headless): listed in {:.2} s (frame p99 {:.1} ms while listing); the same folder added again {:.2} s; frame p50 {:.2} ms, p99 {:.2} ms over {} frames while 2 workers hash them all in {:.1} s; peak RSS {:.0} MB once listed, {:.0} MB with {with_result} rows hashed",
        listed.as_secs_f64(),
        super::pct(&mut listing_frames, 0.99),
        again.as_secs_f64(),
        super::pct(&mut frames, 0.5),
        super::pct(&mut frames, 0.99),
        frames.len(),
        hashed.as_secs_f64(),
        listed_rss as f64 / 1e6,
        rss as f64 / 1e6
    );
}
