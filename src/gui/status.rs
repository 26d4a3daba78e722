//! The bottom bar: overall progress, speed, ETA and the last message.

use egui::{RichText, Ui};

use super::run::{Run, eta, speed};

/// Files per second worth showing beside the bytes: many small files.
const SHOW_FILES_PER_SEC: f64 = 2.0;
use crate::units::{human_bytes, human_duration};

/// Totals over the rows. Skipped files are no longer work to do and leave `files` and
/// `bytes_total`; failed and cancelled ones stay in them, undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Files meant to be processed.
    pub files: usize,
    /// Files done.
    pub files_final: usize,
    /// Bytes processed: files done, and the part of running files read so far.
    pub bytes_done: u64,
    /// Bytes meant to be processed.
    pub bytes_total: u64,
    /// Failed files.
    pub failed: usize,
    /// Cancelled files.
    pub cancelled: usize,
    /// Skipped files.
    pub skipped: usize,
}

/// Draws the status bar.
pub fn show(ui: &mut Ui, run: Option<&Run>, t: &Totals, message: Option<&str>) {
    ui.add_space(4.0);
    if let Some(run) = run {
        let frac = if t.bytes_total > 0 {
            t.bytes_done as f32 / t.bytes_total as f32
        } else {
            0.0
        };
        ui.add(egui::ProgressBar::new(frac.clamp(0.0, 1.0)).show_percentage());
        let mut line = format!(
            "Files {} of {} · {} of {}",
            t.files_final,
            t.files,
            human_bytes(t.bytes_done),
            human_bytes(t.bytes_total),
        );
        if !run.is_active() {
            // The summary gives the average over the time spent working.
            // A run too short to time (under 50 ms) has no average worth showing.
            let avg = speed(t.bytes_done, run.active_time());
            if avg > 0.0 {
                line += &format!(" · average {}/s", human_bytes(avg as u64));
            }
        } else if run.is_paused() {
            line += " · paused";
        } else if let Some((bps, fps)) = run.meter.rate() {
            // Speed and ETA from the last few seconds, so a change shows within them.
            line += &format!(" · {}/s", human_bytes(bps as u64));
            if fps >= SHOW_FILES_PER_SEC {
                line += &format!(" · {fps:.0} files/s");
            }
            if let Some(left) = eta(t.bytes_done, t.bytes_total, bps) {
                line += &format!(" · ETA {}", human_duration(left));
            }
        }
        line += &format!(" · elapsed {}", human_duration(run.elapsed()));
        let paused = run.paused_time();
        if !paused.is_zero() {
            line += &format!(" (paused {})", human_duration(paused));
        }
        for (n, what) in [
            (t.failed, "failed"),
            (t.cancelled, "cancelled"),
            (t.skipped, "skipped"),
        ] {
            if n > 0 {
                line += &format!(" · {n} {what}");
            }
        }
        ui.label(line);
    } else {
        ui.label(format!(
            "{} files · {}",
            t.files + t.skipped,
            human_bytes(t.bytes_total)
        ));
    }
    if let Some(m) = message {
        ui.label(RichText::new(m).strong());
    }
    ui.add_space(2.0);
}
