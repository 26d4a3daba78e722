//! Questions the window asks before it acts: a missing destination folder, and closing with
//! checksums that were never saved.

use std::path::PathBuf;

use egui::{Context, Id};

use super::Action;

/// A question waiting for an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// The destination folder does not exist; the job waits for "Create".
    CreateFolder(PathBuf),
    /// Closing would drop checksums that were never saved.
    UnsavedClose {
        /// How many checksums.
        digests: usize,
    },
}

/// Draws the question as a modal dialog.
pub fn show(ctx: &Context, ask: &Ask, actions: &mut Vec<Action>) {
    egui::Modal::new(Id::unique("ripcord-ask")).show(ctx, |ui| match ask {
        Ask::CreateFolder(dir) => {
            ui.heading("Destination missing");
            ui.label(format!("{} does not exist — create it?", dir.display()));
            ui.horizontal(|ui| {
                if ui.button("Create and start").clicked() {
                    actions.push(Action::CreateDestination);
                }
                if ui.button("Cancel").clicked() {
                    actions.push(Action::Dismiss);
                }
            });
        }
        Ask::UnsavedClose { digests } => {
            ui.heading("Unsaved checksums");
            ui.label(format!(
                "{digests} checksum{} computed and not saved as a manifest.",
                if *digests == 1 { "" } else { "s" }
            ));
            ui.horizontal(|ui| {
                if ui.button("Save manifest…").clicked() {
                    actions.push(Action::SaveAndClose);
                }
                if ui.button("Discard").clicked() {
                    actions.push(Action::DiscardAndClose);
                }
                if ui.button("Keep working").clicked() {
                    actions.push(Action::Dismiss);
                }
            });
        }
    });
}
