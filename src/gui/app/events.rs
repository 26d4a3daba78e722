//! Reading the engine's events and progress into the rows, once per frame.

use std::path::PathBuf;
use std::time::Duration;

use super::RipcordApp;
use crate::cancel::Reason;
use crate::engine::{Event, Outcome, Summary};
use crate::gui::model::{FileState, Row, RowResult};
use crate::gui::status::Totals;
use crate::ops::kind::OpKind;
use crate::units::human_duration;

impl RipcordApp {
    fn place_row(&mut self, id: usize, path: PathBuf, size: u64) -> Option<&mut Row> {
        if id < self.rows.len() {
            let row = &mut self.rows[id];
            if row.path != path {
                *row = Row::new(path, size, None);
            }
            row.size = size;
        } else {
            self.rows.push(Row::new(path, size, None));
        }
        self.rows.get_mut(id)
    }

    pub(super) fn poll_job(&mut self, ctx: &egui::Context) {
        let Some(run) = &mut self.run else { return };
        let Some(job) = &run.job else { return };
        job.rearm_wake();
        let events: Vec<Event> = job.events().try_iter().collect();
        let progress = job.progress();
        let verify = run.op == OpKind::Verify;
        let mut finished = None;
        let mut ids_seen = run.ids_seen;
        for ev in events {
            match ev {
                Event::Queued { id, path, size, .. } => {
                    ids_seen = ids_seen.max(id + 1);
                    if let Some(r) = self.place_row(id, path, size) {
                        r.state = FileState::Queued;
                    }
                }
                Event::Skipped { id, path, note } => {
                    ids_seen = ids_seen.max(id + 1);
                    if let Some(r) = self.place_row(id, path, 0) {
                        r.state = FileState::Skipped(note);
                    }
                }
                Event::Started { id } => self.set_state(id, FileState::Running),
                Event::Sized { id, size } => {
                    if let Some(r) = self.rows.get_mut(id) {
                        r.size = size;
                    }
                }
                Event::Done { id, outcome } => {
                    let result = match outcome {
                        Outcome::Digest(hex) => RowResult::Digest(hex),
                        Outcome::Verified { ok, algo } => RowResult::Verified { ok, algo },
                        Outcome::Written(p) => RowResult::Output(p),
                        // The window never streams or only tests; a pass is a pass.
                        Outcome::Streamed => RowResult::Verified {
                            ok: true,
                            algo: None,
                        },
                        Outcome::Copied(c) => RowResult::Output(c.dest),
                    };
                    if let Some(r) = self.rows.get_mut(id) {
                        // A checksum that does not match is a failure, in the row's state
                        // as in its result, and counts as one.
                        r.state = match &result {
                            RowResult::Verified { ok: false, .. } => {
                                FileState::Failed("checksum differs".into())
                            }
                            _ => FileState::Done,
                        };
                        r.done_bytes = r.size;
                        r.result = Some(result);
                    }
                }
                Event::Failed { id, error } => {
                    self.set_state(id, FileState::Failed(in_window_words(&error)))
                }
                Event::Cancelled { id, reason } => self.set_state(id, FileState::Cancelled(reason)),
                // Verify replaces the listed manifests by their entries: rows past the last
                // entry are manifests, not files, and go.
                Event::WalkDone { .. } if verify => self.rows.truncate(ids_seen),
                Event::WalkDone { .. } | Event::Manifest { .. } => {}
                Event::Finished(summary) => finished = Some(summary),
            }
        }
        for (id, bytes) in progress.running {
            if let Some(r) = self.rows.get_mut(id)
                && r.state == FileState::Running
            {
                r.done_bytes = bytes;
            }
        }
        if let Some(run) = &mut self.run {
            run.ids_seen = ids_seen;
        }
        if let Some(summary) = finished {
            self.finished(summary, ctx);
        }
    }

    fn set_state(&mut self, id: usize, state: FileState) {
        if let Some(r) = self.rows.get_mut(id) {
            r.state = state;
        }
    }

    fn finished(&mut self, summary: Summary, ctx: &egui::Context) {
        let Some(run) = &mut self.run else { return };
        let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let counts = summary_counts(&summary);
        self.message = Some(match summary.cancel_reason {
            Some(Reason::Deadline) => format!("Stopped: time limit reached: {counts}"),
            Some(reason) => format!(
                "Cancelled after {:.0} ms ({reason}): {counts}",
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
        });
        // The message makes the bottom bar taller, and a panel takes its new height on the
        // frame after: draw that frame now, not when the mouse next moves.
        ctx.request_repaint();
        run.finish(summary);
        if self.closing.is_some() {
            self.close_now = true;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    pub(super) fn totals(&self) -> Totals {
        let mut t = Totals {
            files: self.rows.len(),
            files_final: 0,
            bytes_done: 0,
            bytes_total: 0,
            failed: 0,
        };
        for r in &self.rows {
            t.bytes_total += r.size;
            if r.state.is_final() {
                t.files_final += 1;
            }
            if matches!(r.state, FileState::Failed(_)) {
                t.failed += 1;
            }
            t.bytes_done += match r.state {
                FileState::Done => r.size,
                // A file stopped part way keeps what was processed: after a cancel the
                // totals say how far the job got, not zero.
                FileState::Running | FileState::Cancelled(_) | FileState::Failed(_) => r.done_bytes,
                _ => 0,
            };
        }
        t
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
