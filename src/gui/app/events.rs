//! Reading the engine's events and progress into the rows, once per frame.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::RipcordApp;
use crate::cancel::Reason;
use crate::engine::{Event, Outcome, Summary};
use crate::gui::model::{Digest, FileState, Row, RowResult, VerifiedCopy, same_path};
use crate::gui::status::Totals;
use crate::ops::kind::OpKind;
use crate::units::human_duration;

/// The longest a frame spends on the engine's events.
const EVENT_BUDGET: std::time::Duration = std::time::Duration::from_millis(6);
/// Events applied between two looks at the clock.
const EVENT_CHUNK: usize = 64;

impl RipcordApp {
    /// The row an announced file goes to: its input's row when the path is that row's
    /// (every operation but verify lists files one by one), else a new row (a verify
    /// entry, tagged with its manifest; a file of an input that became a folder).
    fn row_for(&mut self, group: usize, open: Arc<Path>, size: u64) -> Option<usize> {
        let run = self.run.as_ref()?;
        if run.op == OpKind::Verify {
            let origin = run.manifests.get(group).cloned();
            // An entry checked again (a retry of some rows) keeps its row.
            if let Some(i) = self.rows.find(&open)
                && self
                    .rows
                    .get(i)
                    .is_some_and(|r| r.origin() == origin.as_ref())
            {
                self.rows.update(i, |r| r.size = size);
                return Some(i);
            }
            let mut row = Row::new(open, size, None);
            row.set_origin(origin);
            return Some(self.rows.push(row));
        }
        match run.input_row(group) {
            Some(i) if self.rows.get(i).is_some_and(|r| same_path(&r.path, &open)) => {
                // A file announced without a size (it failed before it was measured) keeps
                // the size it was listed with.
                if size > 0 {
                    self.rows.update(i, |r| r.size = size);
                }
                Some(i)
            }
            _ => Some(self.rows.push(Row::new(open, size, None))),
        }
    }

    fn announce(&mut self, id: usize, group: usize, open: Arc<Path>, size: u64, state: FileState) {
        if let Some(i) = self.row_for(group, open, size) {
            self.rows.set_state(i, state);
            if let Some(run) = &mut self.run {
                run.map_id(id, i);
            }
        }
    }

    pub(super) fn poll_job(&mut self, ctx: &egui::Context) {
        let Some(run) = &mut self.run else { return };
        let Some(job) = &run.job else { return };
        job.rearm_wake();
        let progress = job.progress();
        // A frame spends at most EVENT_BUDGET on events, so that a million small files
        // finishing fast never make a frame slow; the rest wait for the next frame, asked
        // for at once.
        let started = std::time::Instant::now();
        let mut finished = None;
        // A handle of the receiver of its own (a cheap clone), so that each event is applied
        // as it is taken: no batch collected and moved again per event.
        let events = job.events().clone();
        let mut applied = 0usize;
        while let Ok(ev) = events.try_recv() {
            self.apply_event(ev, &mut finished);
            applied += 1;
            if applied.is_multiple_of(EVENT_CHUNK) && started.elapsed() >= EVENT_BUDGET {
                ctx.request_repaint();
                break;
            }
        }
        let Some(run) = &self.run else { return };
        let mut running_bytes = 0;
        let rows: Vec<(usize, u64)> = progress
            .running
            .iter()
            .filter_map(|&(id, bytes)| Some((run.row_of(id)?, bytes)))
            .collect();
        let verifying: Vec<usize> = progress
            .verifying
            .iter()
            .filter_map(|&id| run.row_of(id))
            .collect();
        for (i, bytes) in rows {
            let Some(size) = self
                .rows
                .get(i)
                .filter(|r| matches!(r.state, FileState::Running | FileState::Verifying))
                .map(|r| r.size)
            else {
                continue;
            };
            // A copy read back counts its bytes twice (written, then read): the row shows
            // the read-back's own progress, the totals the file's bytes once.
            let (state, shown) = if verifying.contains(&i) {
                (FileState::Verifying, bytes.saturating_sub(size))
            } else {
                (FileState::Running, bytes)
            };
            self.rows.update(i, |r| {
                r.done_bytes = shown;
                r.state = state;
            });
            running_bytes += bytes.min(size);
        }
        self.running_bytes = running_bytes;
        if let Some(summary) = finished {
            self.finished(summary, ctx);
        }
    }

    /// Applies one engine event to the rows; `Finished` is kept for the end of the frame.
    fn apply_event(&mut self, ev: Event, finished: &mut Option<Summary>) {
        match ev {
            Event::Queued {
                id,
                open,
                size,
                group,
                ..
            } => self.announce(id, group, open, size, FileState::Queued),
            Event::Skipped {
                id,
                path,
                note,
                group,
            } => self.announce(
                id,
                group,
                Arc::from(path),
                0,
                FileState::Skipped(note.into()),
            ),
            Event::Sized { id, size } => {
                if let Some(i) = self.run.as_ref().and_then(|r| r.row_of(id)) {
                    self.rows.update(i, |r| r.size = size);
                }
            }
            Event::Started { id } => {
                self.set_state(id, FileState::Running);
                if let Some(run) = &mut self.run
                    && let Some(i) = run.row_of(id)
                {
                    run.started_rows.insert(i, std::time::Instant::now());
                }
            }
            Event::Done { id, outcome } => {
                let result = match outcome {
                    Outcome::Digest(hex) => RowResult::Digest(Digest::from_hex(&hex)),
                    Outcome::Verified { ok, algo } => RowResult::Verified { ok, algo },
                    Outcome::Written(p) => RowResult::Output(p.into()),
                    // The window never streams or only tests; a pass is a pass.
                    Outcome::Streamed => RowResult::Verified {
                        ok: true,
                        algo: None,
                    },
                    Outcome::Copied(c) => match c.digest {
                        Some(blake3) => RowResult::CopyVerified(Box::new(VerifiedCopy {
                            dest: c.dest.into(),
                            blake3: Digest::from_hex(&blake3),
                        })),
                        None => RowResult::Output(c.dest.into()),
                    },
                };
                if result.digest().is_some() {
                    self.unsaved = true;
                }
                if let Some(i) = self.run.as_ref().and_then(|r| r.row_of(id)) {
                    let ms = self.took(i);
                    self.rows.update(i, |r| {
                        r.ms = ms;
                        // A checksum that does not match is a failure, in the row's
                        // state as in its result, and counts as one.
                        r.state = match &result {
                            RowResult::Verified { ok: false, .. } => {
                                FileState::Failed("checksum differs".into())
                            }
                            _ => FileState::Done,
                        };
                        r.done_bytes = r.size;
                        r.result = Some(Box::new(result));
                    });
                }
            }
            Event::Failed { id, error } => {
                self.set_state(id, FileState::Failed(in_window_words(&error).into()))
            }
            Event::Cancelled { id, reason } => self.set_state(id, FileState::Cancelled(reason)),
            Event::Manifest {
                group,
                path,
                entries: 0,
                ..
            } => {
                // A manifest with nothing to check stays in the list, so that Start
                // again reads it again, and says why it did nothing.
                let origin = self
                    .run
                    .as_ref()
                    .and_then(|r| r.manifests.get(group).cloned());
                let mut row = Row::new(path, 0, None);
                row.set_origin(origin);
                row.state = FileState::Failed("no checksum lines found".into());
                self.rows.push(row);
            }
            Event::WalkDone { .. } | Event::Manifest { .. } => {}
            Event::Finished(summary) => *finished = Some(summary),
        }
    }

    fn set_state(&mut self, id: usize, state: FileState) {
        if let Some(i) = self.run.as_ref().and_then(|r| r.row_of(id)) {
            let ms = if state.is_final() { self.took(i) } else { None };
            self.rows.update(i, |r| {
                r.state = state;
                if ms.is_some() {
                    r.ms = ms;
                }
            });
        }
    }

    /// How long row `i` ran, in milliseconds, now that it ended.
    fn took(&mut self, i: usize) -> Option<std::num::NonZeroU32> {
        let started = self.run.as_mut()?.started_rows.remove(&i)?;
        // At least 1 ms: a row that took no time still took some.
        let ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        std::num::NonZeroU32::new(ms.max(1))
    }

    fn finished(&mut self, summary: Summary, ctx: &egui::Context) {
        let Some(run) = &mut self.run else { return };
        let mut summary = summary;
        // This job ran the files added while the ones before it ran: the message, and the
        // time, are of the whole queue.
        if let Some(before) = self.queue_so_far.take() {
            summary.done += before.done;
            summary.mismatched += before.mismatched;
            summary.failed += before.failed;
            summary.cancelled += before.cancelled;
            summary.skipped += before.skipped;
            summary.bytes += before.bytes;
            summary.elapsed = run.since_start();
        }
        let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let counts = summary_counts(&summary);
        let message = match summary.cancel_reason {
            Some(Reason::Deadline) => format!("Stopped: time limit reached: {counts}"),
            // "Cancelled after 0 ms" read as a job cancelled at its start: the time is the
            // stop's, from the click to the last worker's stop.
            Some(reason) => format!(
                "Stopped ({reason}): {counts}; every worker stopped {:.0} ms after the cancel",
                ms(summary.stop_latency),
            ),
            // sha256sum -c's words.
            None if run.op == OpKind::Verify => format!(
                "Finished: {} OK, {} FAILED, {} could not be read in {}",
                summary.done - summary.mismatched,
                summary.mismatched,
                summary.failed,
                human_duration(summary.elapsed)
            ),
            None => format!("Finished: {counts} in {}", human_duration(summary.elapsed)),
        };
        let cancelled = summary.cancel_reason.is_some();
        let clock = run.clock();
        run.finish(summary.clone());
        self.running_bytes = 0;
        // The message makes the bottom bar taller, and a panel takes its new height on the
        // frame after: draw that frame now, not when the mouse next moves.
        ctx.request_repaint();
        if self.closing.is_some() {
            self.say(message);
            self.close_now = true;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if !cancelled {
            // Files added while the job ran joined the queue: they run now, on the same
            // clock, and the message waits for them ("Finished: 1 done in 0.0 s" spoke of
            // the last file added, after a run of many).
            self.run_queued();
            if let Some(next) = self.run.as_mut().filter(|r| r.is_active()) {
                next.continue_clock(clock);
                self.queue_so_far = Some(summary);
                return;
            }
        }
        self.say(message);
    }

    /// The totals the status bar shows, from the tally (no walk over the rows): skipped
    /// rows leave the work to do; failed and cancelled ones stay in it, undone.
    pub(super) fn totals(&self) -> Totals {
        let t = self.rows.tally();
        Totals {
            files: t.files - t.skipped,
            files_final: t.done,
            bytes_done: t.done_bytes + self.running_bytes,
            bytes_total: t.bytes - t.skipped_bytes,
            failed: t.failed,
            cancelled: t.cancelled,
            skipped: t.skipped,
        }
    }
}

/// A library error as the window says it: the facts, and what to do about them here (the
/// window has no `--force`; it has a checkbox).
fn in_window_words(e: &crate::error::Error) -> String {
    use crate::error::Error;
    // An existing output is always reported as `Exists` itself, never wrapped for its input.
    match e {
        Error::Exists { .. } => "exists — tick Overwrite existing".into(),
        _ => e.reason(),
    }
}

/// Every kind of ending a job's files had, in one line: "9 done, 1 skipped, 1 failed, 2
/// cancelled" (kinds with none left out, except done and failed).
fn summary_counts(s: &Summary) -> String {
    let mut line = format!("{} done", s.done);
    if s.skipped > 0 {
        line += &format!(", {} skipped", s.skipped);
    }
    line += &format!(", {} failed", s.failed);
    if s.cancelled > 0 {
        line += &format!(", {} cancelled", s.cancelled);
    }
    line
}
