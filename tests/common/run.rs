//! Running a program to its end in a folder — `ripcord` or a reference tool — with a time
//! limit, so that a hang fails the test instead of stalling the suite; signals, exits, and
//! waiting for a condition with a deadline.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{BIN, write_file};

/// A finished command: its status, stdout as bytes and stderr as text.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    /// Stdout as (lossy) text, for messages and `contains` checks.
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Panics with everything the command said unless it exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(code),
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.out(),
            self.stderr
        );
        self
    }
}

/// Longest any single command may take before it is killed and the test fails (a hang, such
/// as a fifo opened by mistake, must fail the test rather than stall the suite).
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Runs `program ARGS` in `dir` with extra environment variables, and captures its output.
pub fn run_in<I, S>(dir: &Path, program: &str, args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b);
        b
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        let _ = tx.send(b);
    });
    let stdout = match rx.recv_timeout(RUN_LIMIT) {
        Ok(b) => b,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} did not finish within {RUN_LIMIT:?}");
        }
    };
    let stderr = err_reader.join().unwrap_or_default();
    let status = child.wait().unwrap();
    Run {
        status,
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Panics, showing both as text, unless two outputs are byte-identical.
pub fn assert_same_bytes(ours: &[u8], theirs: &[u8], what: &str) {
    assert!(
        ours == theirs,
        "{what}: outputs differ\n--- ripcord ---\n{}\n--- reference ---\n{}",
        String::from_utf8_lossy(ours).escape_debug(),
        String::from_utf8_lossy(theirs).escape_debug()
    );
}

/// `ripcord ARGS` run in `dir`.
pub fn ripcord<I, S>(dir: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_in(dir, BIN, args, &[])
}

/// `ripcord ARGS` run in `dir` with extra environment variables.
pub fn ripcord_env<I, S>(dir: &Path, args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_in(dir, BIN, args, env)
}

/// A reference tool (`sha256sum`, `b3sum`, `zstd`…) run in `dir`.
pub fn tool<I, S>(dir: &Path, program: &str, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_in(dir, program, args, &[])
}

/// Stderr of a tool with its program-name prefix replaced by Ripcord's, for comparisons.
pub fn as_ripcord_stderr(stderr: &str, program: &str) -> String {
    stderr.replace(&format!("{program}: "), "ripcord: ")
}

/// Polls `cond` until it holds, panicking with `what` after `timeout`. For conditions that
/// have no event to wait on (a file's size); the pause between polls is not a synchronisation.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < end,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends a signal (`"INT"`, `"TERM"`, `"KILL"`) with the system's `kill`.
pub fn send_signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(st.success(), "kill -{sig} {pid} failed");
}

/// Waits for `child` to exit: its status, or `None` if it is still running after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
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

/// Whether the installed `b3sum` escapes a carriage return in a name, as b3sum 1.5 and later
/// do (and Ripcord does). Older ones (Debian 12 ships 1.2) write it raw; tests that compare
/// with such a `b3sum` leave those names out, and `tests/trust.rs` checks the escaping.
pub fn b3sum_escapes_cr() -> bool {
    let tmp = tempfile::tempdir().unwrap();
    write_file(&tmp.path().join("c\rr"), b"");
    let out = tool(tmp.path(), "b3sum", ["c\rr"]);
    out.stdout.starts_with(b"\\")
}
