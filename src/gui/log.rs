//! The message log: every message of the session, newest last, in a collapsible panel, so
//! that "Checksum copied" never hides a run's summary and every "Not added" stays readable.

use std::time::SystemTime;

use egui::Ui;

/// Messages kept; the oldest go first past this (a listing of a million files with links
/// in it must not grow memory without end).
const KEEP: usize = 10_000;

/// The session's messages.
#[derive(Debug, Default)]
pub struct Log {
    lines: std::collections::VecDeque<String>,
    dropped: usize,
}

impl Log {
    /// Adds a message, stamped with the local time of day.
    pub fn push(&mut self, message: &str) {
        if self.lines.len() >= KEEP {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines
            .push_back(format!("{} {message}", clock(SystemTime::now())));
    }

    /// The messages, oldest first.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(String::as_str)
    }

    /// Draws the log: a header that folds it, then the messages as selectable text.
    pub fn show(&self, ui: &mut Ui) {
        egui::CollapsingHeader::new(format!("Messages ({})", self.lines.len()))
            .id_salt("ripcord-log")
            .default_open(false)
            .show(ui, |ui| {
                if self.dropped > 0 {
                    ui.weak(format!("({} older messages not kept)", self.dropped));
                }
                egui::ScrollArea::vertical()
                    .max_height(140.0)
                    .stick_to_bottom(true)
                    .auto_shrink([false, true])
                    .show_rows(ui, 16.0, self.lines.len(), |ui, range| {
                        for line in self.lines.range(range) {
                            ui.add(egui::Label::new(line.as_str()).selectable(true));
                        }
                    });
            });
    }
}

/// `HH:MM:SS` in local time.
fn clock(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    crate::sys::local_time_of_day(secs)
        .map(|(h, m, s)| format!("{h:02}:{m:02}:{s:02}"))
        .unwrap_or_default()
}
