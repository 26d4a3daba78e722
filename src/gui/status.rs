//! The bottom bar: overall progress, speed, ETA and the last message.

use egui::{RichText, Ui};

use super::run::{Run, eta, human_duration, speed};
use crate::cli::units::human_bytes;

/// Totals over the rows.
pub struct Totals {
    /// Files in the list (or found by the job).
    pub files: usize,
    /// Files in a final state.
    pub files_final: usize,
    /// Bytes processed.
    pub bytes_done: u64,
    /// Bytes to process.
    pub bytes_total: u64,
    /// Failed files.
    pub failed: usize,
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
        let active = run.active_time();
        let rate = speed(t.bytes_done, active);
        let mut line = format!(
            "Files {} of {} · {} of {} · {}/s",
            t.files_final,
            t.files,
            human_bytes(t.bytes_done),
            human_bytes(t.bytes_total),
            human_bytes(rate as u64),
        );
        if run.is_active()
            && let Some(left) = eta(t.bytes_done, t.bytes_total, rate)
        {
            line += &format!(" · ETA {}", human_duration(left));
        }
        line += &format!(" · elapsed {}", human_duration(run.elapsed()));
        if run.is_paused() {
            line += " · paused";
        }
        if t.failed > 0 {
            line += &format!(" · {} failed", t.failed);
        }
        ui.label(line);
    } else {
        ui.label(format!(
            "{} files · {}",
            t.files,
            human_bytes(t.bytes_total)
        ));
    }
    if let Some(m) = message {
        ui.label(RichText::new(m).strong());
    }
    ui.add_space(2.0);
}
