//! The file list: one row per file, drawing only the rows in view, so 100,000 rows scroll
//! as smoothly as ten.

use egui::{Color32, RichText, Ui};

use super::Action;
use super::model::{FileState, Row, RowResult};
use crate::units::human_bytes;

const ROW_HEIGHT: f32 = 22.0;
const NAME_WIDTH: f32 = 320.0;
const SIZE_WIDTH: f32 = 80.0;
const STATE_WIDTH: f32 = 150.0;

/// Draws the rows. `paused` shows running rows as paused.
pub fn show(ui: &mut Ui, rows: &mut [Row], paused: bool, running: bool, actions: &mut Vec<Action>) {
    if rows.is_empty() {
        ui.centered_and_justified(|ui| {
            ui.label(
                RichText::new(
                    "Drop files or folders here, paste paths (Ctrl+V), or use Add files…",
                )
                .size(16.0)
                .weak(),
            );
        });
        return;
    }
    header(ui);
    ui.separator();
    egui::ScrollArea::both().auto_shrink(false).show_rows(
        ui,
        ROW_HEIGHT,
        rows.len(),
        |ui, range| {
            for i in range {
                if let Some(row) = rows.get_mut(i) {
                    row_ui(ui, i, row, paused, running, actions);
                }
            }
        },
    );
}

fn header(ui: &mut Ui) {
    ui.horizontal(|ui| {
        cell(ui, NAME_WIDTH, |ui| ui.strong("Name"));
        cell(ui, SIZE_WIDTH, |ui| ui.strong("Size"));
        cell(ui, STATE_WIDTH, |ui| ui.strong("State"));
        ui.strong("Result");
    });
}

fn cell<R>(ui: &mut Ui, width: f32, f: impl FnOnce(&mut Ui) -> R) -> R {
    ui.allocate_ui_with_layout(
        egui::vec2(width, ROW_HEIGHT),
        egui::Layout::left_to_right(egui::Align::Center),
        |ui| {
            ui.set_min_width(width);
            ui.set_max_width(width);
            f(ui)
        },
    )
    .inner
}

fn state_color(ui: &Ui, st: &FileState) -> Color32 {
    let dark = ui.visuals().dark_mode;
    match st {
        FileState::Done => {
            if dark {
                Color32::LIGHT_GREEN
            } else {
                Color32::DARK_GREEN
            }
        }
        FileState::Failed(_) => {
            if dark {
                Color32::LIGHT_RED
            } else {
                Color32::DARK_RED
            }
        }
        FileState::Cancelled(_) | FileState::Skipped(_) => {
            if dark {
                Color32::from_rgb(240, 190, 90)
            } else {
                Color32::from_rgb(160, 100, 0)
            }
        }
        _ => ui.visuals().text_color(),
    }
}

fn row_ui(
    ui: &mut Ui,
    i: usize,
    row: &mut Row,
    paused: bool,
    running: bool,
    actions: &mut Vec<Action>,
) {
    ui.horizontal(|ui| {
        cell(ui, NAME_WIDTH, |ui| {
            let name = row.path.display().to_string();
            let r = ui
                .selectable_label(row.selected, name)
                .on_hover_text(row.path.display().to_string());
            if r.clicked() && !running {
                row.selected = !row.selected;
            }
        });
        cell(ui, SIZE_WIDTH, |ui| ui.label(human_bytes(row.size)));
        cell(ui, STATE_WIDTH, |ui| {
            let color = state_color(ui, &row.state);
            let r = ui.colored_label(color, row.state.label(paused));
            if let FileState::Failed(why) | FileState::Skipped(why) = &row.state {
                r.on_hover_text(why.as_str());
            }
        });
        match (&row.state, &row.result) {
            (FileState::Running, _) => {
                let frac = if row.size > 0 {
                    row.done_bytes as f32 / row.size as f32
                } else {
                    0.0
                };
                ui.add(
                    egui::ProgressBar::new(frac.clamp(0.0, 1.0))
                        .desired_width(180.0)
                        .show_percentage(),
                );
                if ui
                    .button("Skip")
                    .on_hover_text("Stop this file only")
                    .clicked()
                {
                    actions.push(Action::Skip(i));
                }
            }
            (FileState::Failed(why), _) => {
                ui.colored_label(state_color(ui, &row.state), why.as_str());
            }
            (FileState::Skipped(why), _) => {
                ui.label(RichText::new(why.as_str()).weak());
            }
            (_, Some(RowResult::Digest(hex))) => {
                let r = ui
                    .add(
                        egui::Label::new(RichText::new(hex.as_str()).monospace())
                            .sense(egui::Sense::click()),
                    )
                    .on_hover_text("Click to copy");
                if r.clicked() {
                    actions.push(Action::CopyText(hex.clone()));
                }
            }
            (_, Some(RowResult::Verified { ok, algo })) => {
                // Which algorithm checked it: a manifest of bare 64-digit lines may be
                // SHA-256 or BLAKE3, and the first file decided.
                let (text, good) = match (ok, algo) {
                    (true, Some(a)) => (format!("OK ({a})"), true),
                    (true, None) => ("OK".to_string(), true),
                    (false, Some(a)) => (format!("FAILED: checksum differs ({a})"), false),
                    (false, None) => (
                        "FAILED: matches neither as sha256 nor as blake3".to_string(),
                        false,
                    ),
                };
                let color = if good {
                    state_color(ui, &FileState::Done)
                } else {
                    state_color(ui, &FileState::Failed(String::new()))
                };
                ui.colored_label(color, text);
            }
            (_, Some(RowResult::Output(p))) => {
                ui.monospace(p.display().to_string());
                if ui
                    .small_button("Show")
                    .on_hover_text("Show in the file manager")
                    .clicked()
                {
                    actions.push(Action::Reveal(i));
                }
            }
            _ => {}
        }
        if !running && super::download::offers_resume(row) {
            let r = ui
                .small_button("Resume")
                .on_hover_text("Continue this download from the bytes it has (tick Keep partial)");
            if r.clicked() {
                actions.push(Action::Resume(i));
            }
        }
    });
}
