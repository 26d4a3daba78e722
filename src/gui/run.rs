//! A job as the window sees it: the engine's handle plus the clock that excludes pauses.

use std::time::{Duration, Instant};

use crate::engine::{Job, Summary};

/// A running (or just finished) job.
pub struct Run {
    /// The engine's handle; `None` once detached.
    pub job: Option<Job>,
    /// What the job was (for "Save manifest").
    pub op_name: &'static str,
    started: Instant,
    paused_since: Option<Instant>,
    paused_total: Duration,
    /// The summary, once `Finished` arrived.
    pub finished: Option<Summary>,
    /// When the person pressed Cancel.
    pub cancel_clicked: Option<Instant>,
    /// One more than the highest file id the engine has announced.
    pub ids_seen: usize,
}

impl Run {
    /// A run that started now.
    pub fn new(job: Job, op_name: &'static str) -> Self {
        Run {
            job: Some(job),
            op_name,
            started: Instant::now(),
            paused_since: None,
            paused_total: Duration::ZERO,
            finished: None,
            cancel_clicked: None,
            ids_seen: 0,
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

    /// Wall-clock time since start.
    pub fn elapsed(&self) -> Duration {
        match &self.finished {
            Some(s) => s.elapsed,
            None => self.started.elapsed(),
        }
    }

    /// Marks the run finished; closes an open pause so the clocks stop.
    pub fn finish(&mut self, summary: Summary) {
        if let Some(since) = self.paused_since.take() {
            self.paused_total += since.elapsed();
        }
        self.finished = Some(summary);
    }
}

/// Speed in bytes per second over active time: frozen, not falling, while paused.
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

/// "1 h 02 min", "3 min 05 s", "12.3 s".
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
