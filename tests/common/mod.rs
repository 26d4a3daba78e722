//! Helpers shared by the command-line tests: run `ripcord` and the reference tools in a
//! temporary folder, make files, list what a folder holds.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod x11;

/// Long enough for a loaded 2-core machine.
pub const WAIT: Duration = Duration::from_secs(30);

/// `ripcord ARGS` run in `dir`.
pub fn ripcord(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Any command run in `dir`.
pub fn tool(dir: &Path, cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Deterministic, incompressible bytes.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Writes a file of `len` bytes.
pub fn file(path: &Path, len: usize, seed: u64) -> PathBuf {
    std::fs::write(path, bytes(len, seed)).unwrap();
    path.to_path_buf()
}

/// The names in a folder, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Spawns `ripcord ARGS --json` and returns it with a channel of its stdout lines.
pub fn spawn_json(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, crossbeam_channel::Receiver<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ripcord"));
    cmd.current_dir(dir)
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits for a JSON line whose `event` is `event` (any, if empty) and which `pred` accepts.
pub fn wait_event(
    rx: &crossbeam_channel::Receiver<String>,
    event: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let end = Instant::now() + WAIT;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no '{event}' event"));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if (event.is_empty() || v["event"] == event) && pred(&v) {
            return v;
        }
    }
}

/// Sends a signal with `kill`.
pub fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Waits for the child to exit: `None` on time-out, else its status code (`None` if killed).
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<Option<i32>> {
    let end = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s.code());
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::yield_now();
    }
}

/// Whether `cmd` is on the PATH.
pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
