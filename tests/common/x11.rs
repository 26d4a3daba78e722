//! The real window under Xvfb, driven with xdotool as a person would: for the window tests
//! and the benchmark's exit timings.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{WAIT, entries, have, send_signal, wait_exit};

/// A private X display, stopped when dropped.
pub struct Display {
    /// The Xvfb process.
    pub xvfb: Child,
    /// The display, as `:N`.
    pub name: String,
    /// Real-window tests run one at a time, so two never pick the same free display number.
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

static REAL_WINDOW: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Drop for Display {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: Xvfb then removes its lock file and socket, which would
        // otherwise use up the display numbers over many runs.
        send_signal(self.xvfb.id(), "TERM");
        if wait_exit(&mut self.xvfb, Duration::from_secs(5)).is_none() {
            let _ = self.xvfb.kill();
            let _ = self.xvfb.wait();
        }
    }
}

/// Starts Xvfb on a free display; `None` (skip) only outside CI.
pub fn xvfb() -> Option<Display> {
    if !have("Xvfb") || !have("xdotool") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but Xvfb or xdotool is missing"
        );
        eprintln!("skipping: Xvfb or xdotool not installed");
        return None;
    }
    let one_at_a_time = REAL_WINDOW
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Numbers from 90 up, skipping any that is in use; Xvfb takes a display's lock
    // atomically, so if another process got there first ours exits and the next is tried.
    let mut found = None;
    for n in 90..190 {
        if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
            || Path::new(&format!("/tmp/.X{n}-lock")).exists()
        {
            continue;
        }
        let name = format!(":{n}");
        // -noreset: by default Xvfb resets itself whenever its last client leaves, and a
        // client connecting meanwhile is refused ("Failed to open connection to X server").
        // The readiness probe below is such a last client, and so was every xdotool call.
        let mut xvfb = Command::new("Xvfb")
            .args([
                &name,
                "-screen",
                "0",
                "1280x860x24",
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Ready when a client gets an answer; gone if the display was taken after all.
        let end = Instant::now() + WAIT;
        let ready = loop {
            if Command::new("xdotool")
                .env("DISPLAY", &name)
                .arg("getdisplaygeometry")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
            {
                break true;
            }
            if xvfb.try_wait().unwrap().is_some() {
                break false;
            }
            assert!(Instant::now() < end, "Xvfb did not start on {name}");
            std::thread::sleep(Duration::from_millis(20));
        };
        if ready {
            found = Some((xvfb, name));
            break;
        }
    }
    let Some((xvfb, name)) = found else {
        panic!("no free X display");
    };
    Some(Display {
        xvfb,
        name,
        _one_at_a_time: one_at_a_time,
    })
}

pub fn xdotool(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .env("DISPLAY", display)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn launch(
    display: &Display,
    home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ripcord"));
    cmd.env("DISPLAY", &display.name)
        .env("XDG_DATA_HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env_remove("WAYLAND_DISPLAY")
        .arg("gui")
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(home.join("stderr.txt")).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let end = Instant::now() + WAIT;
    let win = loop {
        let w = xdotool(
            &display.name,
            &["search", "--onlyvisible", "--name", "^Ripcord$"],
        );
        if let Some(first) = w.lines().next() {
            break first.to_string();
        }
        if Instant::now() >= end {
            let all = xdotool(&display.name, &["search", "--name", "Ripcord"]);
            panic!(
                "the window did not appear on {} (windows named Ripcord: {all:?}; process: {:?}; xvfb alive: {}; app's stderr: {})",
                display.name,
                child.try_wait(),
                std::path::Path::new(&format!("/proc/{}", display.xvfb.id())).exists(),
                std::fs::read_to_string(home.join("stderr.txt")).unwrap_or_default()
            );
        }
        // Every xdotool is a new X client and process: poll, do not spin.
        std::thread::sleep(Duration::from_millis(20));
    };
    (child, win)
}

/// Focuses the window (there is no window manager to do it).
pub fn focus(display: &Display, win: &str) {
    let end = Instant::now() + WAIT;
    while xdotool(&display.name, &["getwindowfocus"]) != win {
        xdotool(&display.name, &["windowfocus", "--sync", win]);
        assert!(Instant::now() < end, "could not focus the window");
    }
}

/// Types `k` into the focused window through XTEST, as a person's keyboard would.
pub fn type_key(display: &Display, k: &str) {
    xdotool(&display.name, &["key", "--clearmodifiers", k]);
}

/// Focuses the window and types `k`.
pub fn key(display: &Display, win: &str, k: &str) {
    focus(display, win);
    type_key(display, k);
}

/// Waits for a file in `dir` that `pred` accepts, while the window's process lives; on
/// failure says what the window showed (its title carries a running job's progress), how
/// the process stands and what it printed.
pub fn wait_for_file(
    display: &Display,
    win: &str,
    child: &mut Child,
    home: &Path,
    dir: &Path,
    pred: impl Fn(&str) -> bool,
) {
    let end = Instant::now() + WAIT;
    while !entries(dir).iter().any(|n| pred(n)) {
        let exited = child.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() >= end {
            panic!(
                "no matching file appeared in {} (files: {:?}; window title: {:?}; process: {:?}; app's stderr: {})",
                dir.display(),
                entries(dir),
                xdotool(&display.name, &["getwindowname", win]),
                exited,
                std::fs::read_to_string(home.join("stderr.txt")).unwrap_or_default()
            );
        }
        // Every look is a readdir: poll, do not spin (a spinning test thread takes a core
        // from the window it waits for).
        std::thread::sleep(Duration::from_millis(5));
    }
}
