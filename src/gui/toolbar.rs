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
    /// Rows that failed (for "Retry failed").
    pub failed: usize,
    /// Rows failed, cancelled or never started (for "Run remaining").
    pub remaining: usize,
    /// All rows.
    pub rows: usize,
}

/// Draws the toolbar; returns what was clicked.
pub fn show(ui: &mut Ui, st: &ToolbarState, actions: &mut Vec<Action>) {
    ui.horizontal_wrapped(|ui| {
        // Files added while a job runs join the queue: they run when it ends.
        if ui
            .button("Add files…")
            .on_hover_text("Ctrl+O; while a job runs, they join the queue")
            .clicked()
        {
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
        let remove_tip = if st.running {
            "Delete; rows of the running job are skipped"
        } else {
            "Delete"
        };
        if ui
            .button("Remove selected")
            .on_hover_text(remove_tip)
            .clicked()
        {
            actions.push(Action::RemoveSelected);
        }
        if ui
            .add_enabled(!st.running, egui::Button::new("Clear"))
            .clicked()
        {
            actions.push(Action::Clear);
        }
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
            if st.failed > 0
                && ui
                    .button(format!("Retry failed ({})", st.failed))
                    .on_hover_text("Run only the failed rows again, with the same settings")
                    .clicked()
            {
                actions.push(Action::RetryFailed);
            }
            // Offered once some rows are done: when every row remains it is Start.
            if st.remaining > 0
                && st.remaining != st.failed
                && st.remaining < st.rows
                && ui
                    .button(format!("Run remaining ({})", st.remaining))
                    .on_hover_text("Run the failed, cancelled and never-started rows")
                    .clicked()
            {
                actions.push(Action::RunRemaining);
            }
            if ui
                .add_enabled(st.can_save, egui::Button::new("Save manifest…"))
                .clicked()
            {
                actions.push(Action::SaveManifest);
            }
            if ui
                .add_enabled(st.has_rows, egui::Button::new("Save report…"))
                .on_hover_text("Every row as CSV: path, size, operation, state, result, seconds")
                .clicked()
            {
                actions.push(Action::SaveReport);
            }
        }
    });
}
