//! The "Stopping…" dialog shown while a graceful close waits for the workers.

use std::time::Duration;

use egui::{Context, Id};

use super::Action;
use crate::engine::Busy;
use crate::units::human_duration;

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
                let who = if b.listing {
                    "listing".to_string()
                } else {
                    format!("worker {}", b.worker + 1)
                };
                ui.monospace(format!(
                    "{who}: {} ({})",
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

#[cfg(test)]
mod tests {
    use super::*;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;

    fn busy() -> Vec<Busy> {
        vec![Busy {
            worker: 0,
            listing: false,
            id: 3,
            path: "/mnt/slow/disk.img".into(),
            elapsed: Duration::from_secs(7),
        }]
    }

    #[test]
    fn names_the_stuck_file_and_offers_exit_now_after_five_seconds() {
        let b = busy();
        let mut h = Harness::new_ui_state(
            |ui, actions: &mut Vec<Action>| {
                show(ui.ctx(), STUCK_AFTER + Duration::from_secs(1), &b, actions)
            },
            Vec::new(),
        );
        h.run_steps(3);
        assert!(h.query_by_label("Stopping… 1 worker").is_some());
        assert!(h.query_by_label_contains("/mnt/slow/disk.img").is_some());
        h.get_by_label("Exit now").click();
        h.run_steps(2);
        assert!(h.state().contains(&Action::ExitNow));
    }

    #[test]
    fn before_five_seconds_only_says_stopping() {
        let b = busy();
        let mut h = Harness::new_ui_state(
            |ui, actions: &mut Vec<Action>| show(ui.ctx(), Duration::from_secs(1), &b, actions),
            Vec::new(),
        );
        h.run_steps(3);
        assert!(h.query_by_label("Stopping… 1 worker").is_some());
        assert!(h.query_by_label("Exit now").is_none());
    }
}
