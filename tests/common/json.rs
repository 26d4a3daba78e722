//! Driving `ripcord ARGS --json` event by event: its stdout read line by line on a thread, so
//! that a test waits for an event with a time limit, never by sleeping.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{BIN, send_signal};

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
        cmd.current_dir(dir).args(args).arg("--json");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::start(cmd)
    }

    /// Starts `cmd`, a `ripcord … --json` command made by the caller (for what `spawn` does
    /// not set, such as variables removed from the environment).
    pub fn start(mut cmd: Command) -> Self {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
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
