//! A job as the window sees it: the engine's handle plus the clock that excludes pauses.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::engine::{Job, Summary};
use crate::ops::kind::OpKind;

/// Speed and ETA are measured over this much of the recent past: a throttle change or a
/// slowdown shows within it, where an average over the whole run would hide it for minutes.
pub const RATE_WINDOW: Duration = Duration::from_secs(3);

/// The shortest span a rate is computed over (a first frame's rate would be noise).
const RATE_MIN_SPAN: Duration = Duration::from_millis(250);

/// Recent progress samples (time, bytes done, files finished), one per frame at most.
#[derive(Debug, Default)]
pub struct RateMeter {
    samples: VecDeque<(Instant, u64, usize)>,
}

impl RateMeter {
    /// Records where the job stands at `now`, forgetting what is older than the window
    /// (but one sample, so the window is always spanned).
    pub fn sample(&mut self, now: Instant, bytes: u64, files: usize) {
        self.samples.push_back((now, bytes, files));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _, _)| now.saturating_duration_since(*t) >= RATE_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// Bytes and files per second over the recent window, once it spans long enough.
    pub fn rate(&self) -> Option<(f64, f64)> {
        let (t0, b0, f0) = *self.samples.front()?;
        let (t1, b1, f1) = *self.samples.back()?;
        let span = t1.saturating_duration_since(t0);
        if span < RATE_MIN_SPAN {
            return None;
        }
        let secs = span.as_secs_f64();
        Some((
            b1.saturating_sub(b0) as f64 / secs,
            f1.saturating_sub(f0) as f64 / secs,
        ))
    }

    /// Starts over (after a pause: the time stopped is no part of the speed).
    pub fn clear(&mut self) {
        self.samples.clear();
    }
}

/// A running (or just finished) job.
pub struct Run {
    /// The engine's handle; `None` once detached.
    pub job: Option<Job>,
    /// What the job was (for "Save manifest").
    pub op: OpKind,
    started: Instant,
    paused_since: Option<Instant>,
    paused_total: Duration,
    /// The summary, once `Finished` arrived.
    pub finished: Option<Summary>,
    /// When the person pressed Cancel.
    pub cancel_clicked: Option<Instant>,
    /// The row of each engine file id (ids are the job's own, counted from 0); `NO_ROW`
    /// for none. Four bytes a file: a million-file run keeps two of these.
    id_rows: Vec<u32>,
    /// The row of each input (for every operation but verify).
    input_rows: Vec<u32>,
    /// The manifests read (verify's inputs), shared by their entry rows.
    pub manifests: Vec<std::sync::Arc<std::path::Path>>,
    /// When each running row started.
    pub started_rows: std::collections::HashMap<usize, Instant>,
    /// The recent speed.
    pub meter: RateMeter,
}

/// A row index that is none.
const NO_ROW: u32 = u32::MAX;

/// A row index in four bytes; one past what fits (never: four billion rows) is none.
fn narrow(row: usize) -> u32 {
    u32::try_from(row).unwrap_or(NO_ROW)
}

fn row(r: Option<u32>) -> Option<usize> {
    r.filter(|&r| r != NO_ROW).map(|r| r as usize)
}

impl Run {
    /// A run that started now.
    pub fn new(job: Job, op: OpKind) -> Self {
        Run {
            job: Some(job),
            op,
            started: Instant::now(),
            paused_since: None,
            paused_total: Duration::ZERO,
            finished: None,
            cancel_clicked: None,
            id_rows: Vec::new(),
            input_rows: Vec::new(),
            manifests: Vec::new(),
            started_rows: std::collections::HashMap::new(),
            meter: RateMeter::default(),
        }
    }

    /// Whether workers may still be running.
    pub fn is_active(&self) -> bool {
        self.finished.is_none()
    }

    /// Whether the job is paused.
    pub fn is_paused(&self) -> bool {
        self.paused_since.is_some()
    }

    /// Pauses or resumes.
    pub fn toggle_pause(&mut self) {
        let Some(job) = &self.job else { return };
        match self.paused_since.take() {
            Some(since) => {
                self.paused_total += since.elapsed();
                self.meter.clear();
                job.resume();
            }
            None => {
                self.paused_since = Some(Instant::now());
                job.pause();
            }
        }
    }

    /// Time since start, paused time excluded; frozen once finished.
    pub fn active_time(&self) -> Duration {
        let end = match (&self.finished, self.paused_since) {
            (Some(s), _) => return s.elapsed.saturating_sub(self.paused_total),
            (None, Some(since)) => since,
            (None, None) => Instant::now(),
        };
        end.saturating_duration_since(self.started)
            .saturating_sub(self.paused_total)
    }

    /// Time spent paused so far, the current pause included.
    pub fn paused_time(&self) -> Duration {
        self.paused_total + self.paused_since.map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// Wall-clock time since start: it keeps running while paused.
    pub fn elapsed(&self) -> Duration {
        match &self.finished {
            Some(s) => s.elapsed,
            None => self.started.elapsed(),
        }
    }

    /// The row of engine file `id`.
    pub fn row_of(&self, id: usize) -> Option<usize> {
        row(self.id_rows.get(id).copied())
    }

    /// Records that engine file `id` is shown in row `row`.
    pub fn map_id(&mut self, id: usize, row: usize) {
        if self.id_rows.len() <= id {
            self.id_rows.resize(id + 1, NO_ROW);
        }
        self.id_rows[id] = narrow(row);
    }

    /// Sets the row of each input, in input order.
    pub fn set_input_rows(&mut self, rows: &[usize]) {
        self.input_rows = rows.iter().map(|&r| narrow(r)).collect();
        // Each input is a file id at least: no doubling copies while a big run starts.
        self.id_rows.reserve(rows.len());
    }

    /// The row input `group` came from.
    pub fn input_row(&self, group: usize) -> Option<usize> {
        row(self.input_rows.get(group).copied())
    }

    /// Follows rows that moved (`remap[old]` is the new index, `usize::MAX` if removed).
    pub fn remap_rows(&mut self, remap: &[usize]) {
        for r in self.id_rows.iter_mut().chain(self.input_rows.iter_mut()) {
            *r = narrow(
                row(Some(*r))
                    .and_then(|old| remap.get(old).copied())
                    .unwrap_or(usize::MAX),
            );
        }
        let to = |r: usize| remap.get(r).copied().unwrap_or(usize::MAX);
        self.started_rows = std::mem::take(&mut self.started_rows)
            .into_iter()
            .map(|(r, t)| (to(r), t))
            .collect();
    }

    /// The engine file id shown in row `row`, if it is part of this run.
    pub fn id_of(&self, row: usize) -> Option<usize> {
        self.id_rows.iter().position(|&r| r == narrow(row))
    }

    /// The clock's start and the time paused so far, for a run that goes on in another job
    /// ([`Run::continue_clock`]).
    pub fn clock(&self) -> (Instant, Duration) {
        (self.started, self.paused_total)
    }

    /// Runs the clock on from an earlier run's: the files added while a job ran run in a
    /// job of their own, and the person sees one run of the whole queue.
    pub fn continue_clock(&mut self, (started, paused): (Instant, Duration)) {
        self.started = started;
        self.paused_total += paused;
    }

    /// Wall-clock time since the clock's start.
    pub fn since_start(&self) -> Duration {
        self.started.elapsed()
    }

    /// Marks the run finished; closes an open pause so the clocks stop.
    pub fn finish(&mut self, summary: Summary) {
        if let Some(since) = self.paused_since.take() {
            self.paused_total += since.elapsed();
        }
        self.finished = Some(summary);
    }
}

/// Average speed in bytes per second over active time (the summary's figure).
pub fn speed(bytes: u64, active: Duration) -> f64 {
    let secs = active.as_secs_f64();
    if secs > 0.05 {
        bytes as f64 / secs
    } else {
        0.0
    }
}

/// Estimated time left at `speed`.
pub fn eta(done: u64, total: u64, speed: f64) -> Option<Duration> {
    (speed > 0.0 && total > done).then(|| Duration::from_secs_f64((total - done) as f64 / speed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_follows_the_recent_past() {
        let t0 = Instant::now();
        let mut m = RateMeter::default();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // 10 s at 100 MB/s, then 10 s at 10 MB/s: within a window the rate says 10.
        let mut bytes = 0u64;
        for step in 0..=200u64 {
            let per_step = if step <= 100 { 10_000_000 } else { 1_000_000 };
            if step > 0 {
                bytes += per_step;
            }
            m.sample(at(step * 100), bytes, step as usize);
        }
        let (bps, fps) = m.rate().unwrap();
        assert!((bps - 10e6).abs() < 1e5, "{bps}");
        assert!((fps - 10.0).abs() < 0.1, "{fps}");
        assert!(m.samples.len() <= 32, "bounded: {}", m.samples.len());
        m.clear();
        assert_eq!(m.rate(), None);
    }
}
