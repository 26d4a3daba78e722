//! The top bar: adding and removing files, and the job's buttons.

use egui::Ui;

use super::Action;

/// What the toolbar needs to know.
pub struct ToolbarState {
    /// A job is running.
    pub running: bool,
    /// It is paused.
    pub paused: bool,
    /// There are rows to process.
    pub has_rows: bool,
    /// There are finished checksums to save.
    pub can_save: bool,
}

/// Draws the toolbar; returns what was clicked.
pub fn show(ui: &mut Ui, st: &ToolbarState, actions: &mut Vec<Action>) {
    ui.horizontal_wrapped(|ui| {
        ui.add_enabled_ui(!st.running, |ui| {
            if ui.button("Add files…").on_hover_text("Ctrl+O").clicked() {
                actions.push(Action::AddFiles);
            }
            if ui.button("Add folder…").clicked() {
                actions.push(Action::AddFolder);
            }
            if ui
                .button("Add URL…")
                .on_hover_text("Download from http:// or https:// (Ctrl+V pastes URLs too)")
                .clicked()
            {
                actions.push(Action::AddUrl);
            }
            if ui
                .button("Remove selected")
                .on_hover_text("Delete")
                .clicked()
            {
                actions.push(Action::RemoveSelected);
            }
            if ui.button("Clear").clicked() {
                actions.push(Action::Clear);
            }
        });
        ui.separator();
        if st.running {
            let label = if st.paused { "Resume" } else { "Pause" };
            if ui.button(label).on_hover_text("Ctrl+P").clicked() {
                actions.push(Action::TogglePause);
            }
            if ui.button("Cancel").on_hover_text("Esc").clicked() {
                actions.push(Action::Cancel);
            }
        } else {
            let start = ui.add_enabled(st.has_rows, egui::Button::new("Start"));
            if start.on_hover_text("Ctrl+Enter").clicked() {
                actions.push(Action::Start);
            }
            if ui
                .add_enabled(st.can_save, egui::Button::new("Save manifest…"))
                .clicked()
            {
                actions.push(Action::SaveManifest);
            }
        }
    });
}
