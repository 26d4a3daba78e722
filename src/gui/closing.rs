//! The "Stopping…" dialog shown while a graceful close waits for the workers.

use std::time::Duration;

use egui::{Context, Id};

use super::Action;
use super::run::human_duration;
use crate::engine::Busy;

/// After this long, name the files that hold the close up and offer "Exit now".
pub const STUCK_AFTER: Duration = Duration::from_secs(5);

/// Draws the dialog: how many workers are still busy, and after [`STUCK_AFTER`] which files
/// and an "Exit now" button.
pub fn show(ctx: &Context, waited: Duration, busy: &[Busy], actions: &mut Vec<Action>) {
    egui::Modal::new(Id::unique("ripcord-closing")).show(ctx, |ui| {
        ui.heading(format!(
            "Stopping… {} worker{}",
            busy.len(),
            if busy.len() == 1 { "" } else { "s" }
        ));
        ui.label("Ripcord closes by itself as soon as every worker has stopped.");
        if waited >= STUCK_AFTER {
            ui.separator();
            ui.label("Still busy (a read the system does not interrupt):");
            for b in busy {
                ui.monospace(format!(
                    "worker {}: {} ({})",
                    b.worker + 1,
                    b.path.display(),
                    human_duration(b.elapsed)
                ));
            }
            if ui.button("Exit now").clicked() {
                actions.push(Action::ExitNow);
            }
        }
    });
}
