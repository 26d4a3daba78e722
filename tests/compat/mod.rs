//! Helpers shared by the command-line tests: run `ripcord` and the reference tools in a
//! temporary folder, make files, list what a folder holds, and drive a `--json` run event by
//! event (never by sleeping).

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long to wait for anything that should happen: generous, for a loaded 2-core machine.
pub const WAIT: Duration = Duration::from_secs(30);

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ripcord");

/// Prefix of Ripcord's named temporaries (`.ripcord-PID-N-NAME.tmp`).
pub const TEMP_PREFIX: &str = ".ripcord-";

/// A finished command: its status, stdout as bytes and stderr as text.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    /// The exit code; panics if the process was killed by a signal.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by signal {:?}: {self:?}", self.status.signal()))
    }

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

/// An `OsString` from raw bytes (for names that are not UTF-8).
pub fn os(bytes: &[u8]) -> OsString {
    OsStr::from_bytes(bytes).to_os_string()
}

/// A small xorshift64* generator: deterministic, fast, no extra crates.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// `len` random-looking (incompressible) bytes.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0; len];
    XorShift::new(seed).fill(&mut v);
    v
}

/// `len` bytes of word salad: compressible, but not trivially.
pub fn text_bytes(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "ripcord ",
        "cancel ",
        "worker ",
        "thread ",
        "chunk ",
        "zstd ",
        "hash ",
        "verify ",
        "copy ",
        "folder ",
        "manifest ",
        "deadline ",
        "signal ",
        "output ",
        "atomic ",
        "\n",
    ];
    let mut rng = XorShift::new(seed);
    let mut v = Vec::with_capacity(len + 16);
    while v.len() < len {
        v.extend_from_slice(WORDS[(rng.next_u64() % 16) as usize].as_bytes());
    }
    v.truncate(len);
    v
}

/// Writes `contents` to `path`, creating parent folders.
pub fn write_file(path: &Path, contents: &[u8]) -> PathBuf {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path.to_path_buf()
}

/// Writes `len` random bytes to `path`, a megabyte at a time (for big files).
pub fn random_file(path: &Path, len: usize, seed: u64) -> PathBuf {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    let mut f = File::create(path).unwrap();
    let mut rng = XorShift::new(seed);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        rng.fill(&mut buf[..n]);
        f.write_all(&buf[..n]).unwrap();
        left -= n;
    }
    f.sync_all().unwrap();
    path.to_path_buf()
}

/// Makes a fifo with the system's `mkfifo`.
pub fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success(), "mkfifo {}", path.display());
}

/// The names in a folder (hidden ones included), sorted, as raw names.
pub fn entries(dir: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name())
        .collect();
    v.sort();
    v
}

/// The names in a folder as lossy text, sorted: handy for `assert_eq!` with string lists.
pub fn names(dir: &Path) -> Vec<String> {
    entries(dir)
        .iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect()
}

/// Every path below `dir` (relative to it), recursively, sorted.
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().to_path_buf());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// Ripcord temporaries (`.ripcord-*.tmp`) anywhere below `dir`.
pub fn temporaries(dir: &Path) -> Vec<PathBuf> {
    tree(dir)
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().as_bytes();
            n.starts_with(TEMP_PREFIX.as_bytes()) && n.ends_with(b".tmp")
        })
        .collect()
}

/// Panics unless `dir` holds exactly `expected` (top level, hidden names included).
pub fn assert_only(dir: &Path, expected: &[&str]) {
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names(dir), want, "contents of {}", dir.display());
}

/// The SHA-256 of a file, by the system's `sha256sum` (an independent reference).
pub fn sha256_of(path: &Path) -> String {
    let r = run_in(Path::new("."), "sha256sum", [path], &[]);
    r.expect_code(0);
    r.out().split_whitespace().next().unwrap().to_string()
}

/// Whether this process can open `path` for reading (false for chmod 000 unless root).
pub fn can_open(path: &Path) -> bool {
    File::open(path)
        .and_then(|mut f| f.read(&mut [0u8; 1]))
        .is_ok()
}

/// Whether this process can list `dir` (false for chmod 000 unless root).
pub fn can_list(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok()
}

/// Whether this process can create a file in `dir` (false for chmod 555 unless root).
pub fn can_create_in(dir: &Path) -> bool {
    let probe = dir.join(".write-probe");
    match File::create(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            true
        }
        Err(_) => false,
    }
}

/// Sets a path's permission bits.
pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
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

/// How a spawned `--json` run ended.
#[derive(Debug)]
pub struct Exit {
    pub status: ExitStatus,
    /// From the call to [`JsonChild::finish`] to the process's exit.
    pub took: Duration,
    /// Every event it printed.
    pub events: Vec<Value>,
    pub stderr: String,
}

impl Exit {
    /// The exit code; panics if the process was killed by a signal.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| {
            panic!(
                "killed by signal {:?}\nstderr:\n{}",
                self.status.signal(),
                self.stderr
            )
        })
    }

    /// The events named `name`.
    pub fn named(&self, name: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == name).collect()
    }

    /// The closing `finished` event; panics unless it is there and last.
    pub fn finished(&self) -> &Value {
        let last = self.events.last().expect("no events at all");
        assert_eq!(
            last["event"], "finished",
            "last event is not `finished`: {last}\nstderr:\n{}",
            self.stderr
        );
        last
    }
}

/// `ripcord ARGS --json` running in the background, its stdout read line by line on a
/// thread and handed over a channel, so a test can wait for an event with a time limit.
pub struct JsonChild {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    /// Every event seen so far.
    pub events: Vec<Value>,
    /// Events before this index were already matched by [`wait_for`](Self::wait_for).
    cursor: usize,
    eof: bool,
    reaped: bool,
}

impl JsonChild {
    /// Starts `ripcord ARGS --json` in `dir` with extra environment variables.
    pub fn spawn<I, S>(dir: &Path, args: I, env: &[(&str, &str)]) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir)
            .args(args)
            .arg("--json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        JsonChild {
            child,
            lines: rx,
            stderr: Some(stderr),
            events: Vec::new(),
            cursor: 0,
            eof: false,
            reaped: false,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: &str) {
        send_signal(self.pid(), sig);
    }

    fn push(&mut self, line: &str) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout line is not one JSON object ({e}): {line:?}"));
        assert!(v.is_object(), "stdout line is not a JSON object: {line}");
        self.events.push(v);
    }

    /// Waits until an event not matched before satisfies `pred`, and returns it. Panics with
    /// what was seen if the process ends first or `timeout` passes.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let end = Instant::now() + timeout;
        loop {
            while self.cursor < self.events.len() {
                let i = self.cursor;
                self.cursor += 1;
                if pred(&self.events[i]) {
                    return self.events[i].clone();
                }
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.push(&line),
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "timed out after {timeout:?} waiting for {what}; events: {:#?}",
                        self.events
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.eof = true;
                    let stderr = self.take_stderr();
                    panic!(
                        "ripcord ended before {what}; events: {:#?}\nstderr:\n{stderr}",
                        self.events
                    )
                }
            }
        }
    }

    /// Waits for the next event called `name`.
    pub fn wait_event(&mut self, name: &str, timeout: Duration) -> Value {
        self.wait_for(name, timeout, |e| e["event"] == name)
    }

    /// Waits for a `progress` event showing that some bytes were processed.
    pub fn wait_progress(&mut self, timeout: Duration) -> Value {
        self.wait_for("progress with bytes_done > 0", timeout, |e| {
            e["event"] == "progress" && e["bytes_done"].as_u64().unwrap_or(0) > 0
        })
    }

    fn take_stderr(&mut self) -> String {
        self.stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Waits for the process to end (its stdout closing, then the status), at most `timeout`;
    /// on time-out kills it and panics.
    pub fn finish(&mut self, timeout: Duration) -> Exit {
        let start = Instant::now();
        let end = start + timeout;
        while !self.eof {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.push(&line),
                Err(RecvTimeoutError::Disconnected) => self.eof = true,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    self.reaped = true;
                    let stderr = self.take_stderr();
                    panic!(
                        "ripcord did not exit within {timeout:?}; events: {:#?}\nstderr:\n{stderr}",
                        self.events
                    );
                }
            }
        }
        // Stdout closes when the process exits, so this does not block for long.
        let status = self.child.wait().unwrap();
        let took = start.elapsed();
        self.reaped = true;
        Exit {
            status,
            took,
            events: self.events.clone(),
            stderr: self.take_stderr(),
        }
    }
}

impl Drop for JsonChild {
    fn drop(&mut self) {
        // A test that failed half-way must not leave its ripcord running.
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
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

/// A small tmpfs at `dir` with `opts` (`size=…`, `nr_inodes=…`), unmounted on drop; `None`
/// (with a note) where mounting is not allowed.
pub struct Mount(PathBuf);

impl Mount {
    pub fn new(dir: &Path, opts: &str) -> Option<Mount> {
        fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("cannot mount a tmpfs here (not root?): case not checked");
            return None;
        }
        Some(Mount(dir.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
