//! Downloading one URL into a folder, stopping the moment the token says so, and continuing
//! later from the bytes already there.
//!
//! The network work runs on a helper ([`net::Fetch`]) that the worker waits on with its
//! token, so a cancel, a pause or the deadline is seen at once in every phase, a stalled
//! server included. The body goes into a hidden partial beside a sidecar ([`partial`]);
//! the file appears under its final name ([`name`]) only when the whole body is there, its
//! length matches, the optional checksum matches and it is synced.
//!
//! Tries again after a broken connection and after 429 or 5xx answers (`Retry-After`
//! honoured), each wait a wait on the token, continuing with a range request when the
//! server can prove it still has the same version (`If-Range`); a server that answers 200
//! instead, or whose version changed, is started again from zero.

mod answer;
pub mod name;
pub mod net;
pub mod partial;

use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::Receiver;

use self::answer::{backoff, content_range, retry_after, status_line};
use self::net::{Client, Fetch, Head, Msg, NetError, NetKind};
use self::partial::{Partial, Sidecar};
use super::hash::{Algo, Hasher};
use super::{Ctx, Stop};
use crate::cancel::Cancelled;
use crate::error::Error;

/// Tries after the first, by default.
pub const DEFAULT_RETRIES: u32 = 3;
/// The first wait before trying again; it doubles each time.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);
/// Longest the server may send nothing before the file fails.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(30);
/// Times a download may start again from zero in one go (range answers that do not fit).
const MAX_RESTARTS: u32 = 3;
/// Written bytes handed to the kernel's writeback at a time, so the final sync is short.
const WRITEBACK_BYTES: u64 = 8 * 1024 * 1024;
/// Bytes read at a time when checking a finished partial's checksum.
const CHECK_CHUNK_BYTES: usize = 1024 * 1024;

/// How to download: where to, under which name, how hard to try, what to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The destination folder (created if missing).
    pub to: PathBuf,
    /// The name to save under (one URL only); else the server's or the URL's.
    pub name: Option<String>,
    /// Tries after the first, for broken connections and 429/5xx answers.
    pub retries: u32,
    /// The first back-off; doubled after each failed try.
    pub retry_delay: Duration,
    /// The file fails after this long without data.
    pub idle: Duration,
    /// Continue a partial a previous run left for the same URL and folder.
    pub resume: bool,
    /// Keep the partial (and its sidecar) when cancelled or failed.
    pub keep_partial: bool,
    /// Trust only the roots in this PEM file instead of the system's store.
    pub cacert: Option<PathBuf>,
    /// A taken name gets ` (1)`, ` (2)`… instead of failing (the window's choice).
    pub unique_name: bool,
}

impl Options {
    /// Downloads into `to` with every other choice at its default.
    pub fn new(to: PathBuf) -> Self {
        Options {
            to,
            name: None,
            retries: DEFAULT_RETRIES,
            retry_delay: DEFAULT_RETRY_DELAY,
            idle: DEFAULT_IDLE,
            resume: false,
            keep_partial: false,
            cacert: None,
            unique_name: false,
        }
    }
}

/// Whether `s` looks like a URL a download takes (the window decides from this what a
/// pasted or dropped text is).
pub fn is_url(s: &str) -> bool {
    check_url(s.trim()).is_ok()
}

/// Checks that `url` is an absolute http or https URL with a host.
fn check_url(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .ok_or("bad URL: only http:// and https:// URLs can be downloaded")?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("bad URL: it contains spaces or control characters".into());
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') || host.starts_with('@') {
        return Err("bad URL: no host".into());
    }
    url.parse::<ureq::http::Uri>()
        .map(drop)
        .map_err(|e| format!("bad URL: {e}"))
}

/// Downloads `url` into `opts.to` and returns the saved path. `check` is the expected
/// checksum, if any; `overwrite` lets the file replace an existing one (atomically);
/// `on_size` learns the whole body's length once the server says it (again if it changes).
pub fn download(
    url: &str,
    opts: &Options,
    check: Option<(Algo, &str)>,
    overwrite: bool,
    ctx: &Ctx,
    on_size: &dyn Fn(u64),
) -> Result<PathBuf, Stop> {
    check_url(url).map_err(|m| Error::invalid(url, m))?;
    let client = Client::new(opts.cacert.as_deref()).map_err(|m| Error::invalid(url, m))?;
    fs::create_dir_all(&opts.to).map_err(|e| Error::io(&opts.to, "create folder", e))?;
    let part = Partial::open(&opts.to, url, opts.resume, opts.keep_partial)?;
    let mut d = Download {
        url,
        opts,
        overwrite,
        ctx,
        client,
        cancelled: ctx.token.cancelled_channel(),
        part: Some(part),
        on_size,
        announced: None,
        dest: None,
        counted: 0,
        written_since_writeback: 0,
        bad_data: false,
    };
    match d.run(check) {
        Ok(path) => Ok(path),
        Err(stop) => {
            d.leave();
            Err(stop)
        }
    }
}

/// Why one try ended without the whole body.
enum Attempt {
    /// Stop for good: cancelled, or a failure trying again cannot help.
    Stop(Stop),
    /// Worth another try after a wait (the server's `Retry-After`, else the back-off).
    Retry { why: String, wait: Option<Duration> },
    /// The partial does not fit the server's answer: drop it and ask for everything.
    Restart,
}

impl From<Cancelled> for Attempt {
    fn from(c: Cancelled) -> Self {
        Attempt::Stop(c.into())
    }
}

impl From<Error> for Attempt {
    fn from(e: Error) -> Self {
        Attempt::Stop(e.into())
    }
}

impl From<Stop> for Attempt {
    fn from(s: Stop) -> Self {
        Attempt::Stop(s)
    }
}

struct Download<'a> {
    url: &'a str,
    opts: &'a Options,
    overwrite: bool,
    ctx: &'a Ctx<'a>,
    client: Client,
    cancelled: Receiver<()>,
    /// `None` once committed under its final name.
    part: Option<Partial>,
    on_size: &'a dyn Fn(u64),
    /// The length last passed to `on_size`.
    announced: Option<u64>,
    /// The final path, chosen from the first answer.
    dest: Option<PathBuf>,
    /// Bytes of this file reported as done so far.
    counted: u64,
    written_since_writeback: u64,
    /// The partial's bytes are known to be wrong (checksum mismatch): never keep them.
    bad_data: bool,
}

impl Download<'_> {
    fn fail(&self, why: impl Into<String>) -> Stop {
        Error::invalid(self.url, why).into()
    }

    fn part(&mut self) -> Result<&mut Partial, Stop> {
        let url = self.url;
        self.part
            .as_mut()
            .ok_or_else(|| Error::invalid(url, "internal error: the partial is gone").into())
    }

    fn run(&mut self, check: Option<(Algo, &str)>) -> Result<PathBuf, Stop> {
        // Bytes continued from an earlier run count as done: the bar starts where it stopped.
        let have = self.part()?.have;
        self.set_counted(have);
        let mut failures = 0u32;
        let mut restarts = 0u32;
        loop {
            match self.attempt() {
                Ok(()) => break,
                Err(Attempt::Stop(s)) => return Err(s),
                Err(Attempt::Restart) => {
                    restarts += 1;
                    if restarts > MAX_RESTARTS {
                        return Err(
                            self.fail("the server's answers to range requests do not fit together")
                        );
                    }
                    self.part()?.restart()?;
                    self.set_counted(0);
                }
                Err(Attempt::Retry { why, wait }) => {
                    failures += 1;
                    if failures > self.opts.retries {
                        let tries = failures;
                        return Err(self.fail(format!(
                            "{why}; gave up after {tries} {}",
                            if tries == 1 { "try" } else { "tries" }
                        )));
                    }
                    let wait = wait.unwrap_or_else(|| backoff(self.opts.retry_delay, failures));
                    self.ctx.token.wait_timeout(wait)?;
                }
            }
        }
        self.finish(check)
    }

    /// One request, and its body into the partial.
    fn attempt(&mut self) -> Result<(), Attempt> {
        let url = self.url;
        let part = self.part()?;
        let range = match &part.sidecar {
            Some(s) if part.have > 0 => s.validator().map(|v| (part.have, v.to_string())),
            _ => None,
        };
        if range.is_none() && part.have > 0 {
            part.restart()?;
            self.set_counted(0);
        }
        let fetch = Fetch::start(&self.client, url, range.clone())
            .map_err(|e| Error::io(url, "start a network thread for", e))?;
        let head = match self.next_msg(&fetch)? {
            Msg::Head(h) => h,
            Msg::Failed(e) => return Err(self.net_failure(e)),
            Msg::Data(..) | Msg::End => {
                return Err(Attempt::Retry {
                    why: "the response had no head".into(),
                    wait: None,
                });
            }
        };
        let total = self.accept(&head, range.is_some())?;
        if let Some(t) = total.filter(|t| self.announced != Some(*t)) {
            self.announced = Some(t);
            (self.on_size)(t);
        }
        self.choose_name(&head)?;
        let have = self.part()?.have;
        if let Some(t) = total {
            self.check_space(t.saturating_sub(have))?;
        }
        loop {
            match self.next_msg(&fetch)? {
                Msg::Data(buf, n) => {
                    self.write(&buf[..n.min(buf.len())], total)?;
                    fetch.recycle(buf);
                    self.ctx.chunk_done(n as u64)?;
                    self.counted += n as u64;
                }
                Msg::End => break,
                Msg::Failed(mut e) => {
                    if let (NetKind::Broken, Some(t)) = (e.kind, total) {
                        let have = self.part()?.have;
                        e.message = format!(
                            "the body ended after {have} of its {t} bytes ({})",
                            e.message
                        );
                    }
                    return Err(self.net_failure(e));
                }
                Msg::Head(_) => {}
            }
        }
        let have = self.part()?.have;
        match total {
            Some(t) if have < t => Err(Attempt::Retry {
                why: format!("the body ended after {have} of its {t} bytes"),
                wait: None,
            }),
            _ => Ok(()),
        }
    }

    /// Judges an answer's head against what the partial holds; returns the whole body's
    /// length if known. A full answer (200) empties the partial first.
    fn accept(&mut self, head: &Head, ranged: bool) -> Result<Option<u64>, Attempt> {
        let url = self.url.to_string();
        let status = head.status;
        match status {
            206 if ranged => {
                let part = self.part()?;
                let have = part.have;
                let Some(side) = part.sidecar.clone() else {
                    return Err(Attempt::Restart);
                };
                let Some((start, total)) = head.content_range.as_deref().and_then(content_range)
                else {
                    return Err(Attempt::Restart);
                };
                let changed = match (&head.etag, &side.etag) {
                    (Some(now), Some(then)) => now != then,
                    _ => false,
                };
                let length_differs = matches!((total, side.length), (Some(a), Some(b)) if a != b);
                if start != have || changed || length_differs {
                    return Err(Attempt::Restart);
                }
                part.seek_to_end()?;
                Ok(total.or(side.length))
            }
            200..=299 if status != 206 => {
                let part = self.part()?;
                if part.have > 0 {
                    part.restart()?;
                    self.set_counted(0);
                }
                let total = head.content_length;
                let side = Sidecar {
                    url,
                    etag: head.etag.clone(),
                    last_modified: head.last_modified.clone(),
                    length: total,
                };
                self.part()?.save_sidecar(side)?;
                Ok(total)
            }
            // A partial answer to a request for everything cannot be used.
            206 => Err(Attempt::Stop(
                self.fail("the server sent part of the file when asked for all of it"),
            )),
            416 => Err(Attempt::Restart),
            408 | 429 | 500..=599 => Err(Attempt::Retry {
                why: format!("the server answered {}", status_line(status)),
                wait: head.retry_after.as_deref().and_then(retry_after),
            }),
            _ => Err(Attempt::Stop(
                self.fail(format!("the server answered {}", status_line(status))),
            )),
        }
    }

    /// Picks the final path from the first usable answer, refusing a taken name now rather
    /// than after the download (the commit refuses it again, atomically).
    fn choose_name(&mut self, head: &Head) -> Result<(), Stop> {
        if self.dest.is_some() {
            return Ok(());
        }
        let raw = match &self.opts.name {
            Some(n) => n.clone(),
            None => head
                .disposition
                .as_deref()
                .and_then(name::from_disposition)
                .unwrap_or_else(|| name::from_url(&head.final_url)),
        };
        let mut dest = self.opts.to.join(name::safe_name(&raw));
        match fs::symlink_metadata(&dest) {
            Ok(_) if self.opts.unique_name && !self.overwrite => dest = name::free_name(&dest),
            Ok(m) if m.is_dir() => {
                return Err(Error::invalid(&dest, "a folder is in the way of the download").into());
            }
            Ok(_) if !self.overwrite => return Err(Error::Exists { path: dest }.into()),
            _ => {}
        }
        self.dest = Some(dest);
        Ok(())
    }

    /// Fails before writing when the folder's disk cannot hold the rest of the body.
    fn check_space(&self, need: u64) -> Result<(), Stop> {
        let Some(free) = crate::sys::free_space(&self.opts.to) else {
            return Ok(());
        };
        if need > free {
            return Err(self.fail(format!(
                "needs {} more, but the disk of {} has {} free",
                crate::units::human_bytes(need),
                self.opts.to.display(),
                crate::units::human_bytes(free)
            )));
        }
        Ok(())
    }

    /// Appends body bytes, never past the announced length.
    fn write(&mut self, data: &[u8], total: Option<u64>) -> Result<(), Stop> {
        let url = self.url;
        let part = self.part()?;
        let room = total.map_or(u64::MAX, |t| t.saturating_sub(part.have));
        let take = data.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        part.file
            .write_all(&data[..take])
            .map_err(|e| Error::io(&part.path, "write", e))?;
        part.have += take as u64;
        let have = part.have;
        if take < data.len() {
            return Err(Error::invalid(
                url,
                format!("the body is longer than its announced {have} bytes"),
            )
            .into());
        }
        self.written_since_writeback += take as u64;
        if self.written_since_writeback >= WRITEBACK_BYTES {
            // A restart may have emptied the partial since the count began.
            let from = have.saturating_sub(self.written_since_writeback);
            let len = self.written_since_writeback;
            if let Some(p) = &self.part {
                crate::sys::start_writeback(&p.file, from, len);
            }
            self.written_since_writeback = 0;
        }
        Ok(())
    }

    /// The next message from the helper, waiting on the token and at most the idle limit.
    fn next_msg(&self, fetch: &Fetch) -> Result<Msg, Attempt> {
        // Also where a pause holds: nothing is read meanwhile, the helper's queue fills.
        self.ctx.token.check()?;
        crossbeam_channel::select! {
            recv(fetch.messages()) -> m => m.map_err(|_| Attempt::Retry {
                why: "the connection's reader stopped".into(),
                wait: None,
            }),
            recv(self.cancelled) -> _ => {
                self.ctx.token.check()?;
                Err(Attempt::Stop(self.fail("internal error: cancel without a reason")))
            }
            default(self.opts.idle) => Err(Attempt::Stop(self.fail(format!(
                "no data for {}",
                crate::units::human_duration(self.opts.idle)
            )))),
        }
    }

    fn net_failure(&self, e: NetError) -> Attempt {
        match e.kind {
            NetKind::Broken => Attempt::Retry {
                why: e.message,
                wait: None,
            },
            _ => Attempt::Stop(self.fail(e.message)),
        }
    }

    /// Sets this file's progress to `n` bytes (a restart takes back what was counted).
    fn set_counted(&mut self, n: u64) {
        // Relaxed: progress counters are statistics, as in `Ctx::chunk_done`.
        if n >= self.counted {
            let up = n - self.counted;
            self.ctx.file_bytes.fetch_add(up, Ordering::Relaxed);
            self.ctx.job_bytes.fetch_add(up, Ordering::Relaxed);
        } else {
            let down = self.counted - n;
            self.ctx.file_bytes.fetch_sub(down, Ordering::Relaxed);
            self.ctx.job_bytes.fetch_sub(down, Ordering::Relaxed);
        }
        self.counted = n;
        (self.ctx.on_progress)();
    }

    /// Checks the checksum, syncs, and gives the partial its final name.
    fn finish(&mut self, check: Option<(Algo, &str)>) -> Result<PathBuf, Stop> {
        if let Some((algo, want)) = check {
            let got = self.checksum(algo)?;
            if !got.eq_ignore_ascii_case(want.trim()) {
                self.bad_data = true;
                return Err(self.fail(format!(
                    "checksum mismatch: expected {} {}, got {got}",
                    algo.name(),
                    want.trim()
                )));
            }
        }
        self.sync()?;
        let url = self.url;
        let dest = self
            .dest
            .clone()
            .ok_or_else(|| Error::invalid(url, "internal error: no name chosen"))?;
        let overwrite = self.overwrite;
        let part = self.part()?;
        crate::output::place(&part.path, &dest, overwrite)?;
        if let Some(p) = self.part.take() {
            p.forget_sidecar();
        }
        if let Ok(d) = fs::File::open(&self.opts.to) {
            // Makes the new name durable; the file is whole either way.
            let _ = d.sync_all();
        }
        Ok(dest)
    }

    /// The partial's checksum, read back from the disk (it may have come in several runs).
    fn checksum(&mut self, algo: Algo) -> Result<String, Stop> {
        let token = self.ctx.token;
        let part = self.part()?;
        let mut f = fs::File::open(&part.path).map_err(|e| Error::io(&part.path, "read", e))?;
        let mut h = Hasher::new(algo);
        let mut buf = vec![0u8; CHECK_CHUNK_BYTES];
        loop {
            token.check()?;
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(&part.path, "read", e).into()),
            }
        }
        Ok(h.finish_hex())
    }

    /// `fsync` on a helper the worker waits on with the token (a sync may take seconds).
    fn sync(&mut self) -> Result<(), Stop> {
        let part = self.part()?;
        let path = part.path.clone();
        let file = part
            .file
            .try_clone()
            .map_err(|e| Error::io(&path, "write", e))?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::Builder::new()
            .name("ripcord-sync".into())
            .spawn(move || {
                let _ = tx.send(file.sync_all());
            })
            .map_err(|e| Error::io(&path, "start a sync thread for", e))?;
        crossbeam_channel::select! {
            recv(rx) -> r => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(Error::io(&path, "write", e).into()),
                Err(_) => Err(Error::invalid(&path, "the sync thread stopped").into()),
            },
            recv(self.cancelled) -> _ => {
                self.ctx.token.check()?;
                Err(self.fail("internal error: cancel without a reason"))
            }
        }
    }

    /// After a cancel or a failure: keep the partial and its sidecar if asked (and they
    /// are worth keeping), else remove them.
    fn leave(&mut self) {
        let Some(p) = self.part.take() else { return };
        let worth = p.have > 0 && p.sidecar.is_some() && !self.bad_data;
        if self.opts.keep_partial && worth {
            return;
        }
        p.discard();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(is_url("http://127.0.0.1:8080/a.iso"));
        assert!(is_url("HTTPS://example.com"));
        for bad in [
            "ftp://x/y",
            "http://",
            "http:///x",
            "/etc/passwd",
            "http://a b/c",
            "",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
