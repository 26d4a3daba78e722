//! What each cell shows: the name cut to fit, the state, and the result (progress and Skip
//! while running, then the checksum, verdict, output or reason).

use std::path::Path;

use egui::{Align, Color32, FontId, RichText, Ui};

use crate::gui::Action;
use crate::gui::model::{FileState, Row, RowResult};

const PROGRESS_MAX_WIDTH: f32 = 180.0;

/// The name shown: relative to the folder it was found in, else the whole path.
fn shown_name(row: &Row) -> String {
    let p: &Path = row
        .base()
        .and_then(|b| row.path.strip_prefix(b).ok())
        .unwrap_or(&row.path);
    p.display().to_string()
}

/// The name, cut in the middle to fit; a click marks the row. Clickable but not focusable,
/// so after a click the keyboard still moves the list.
pub(super) fn name_cell(ui: &mut Ui, row: &mut Row) -> bool {
    let font = egui::TextStyle::Body.resolve(ui.style());
    let full = shown_name(row);
    let text = elide_middle(ui, &full, &font, ui.available_width());
    let r = ui
        .add(
            egui::Label::new(text)
                .sense(egui::Sense::CLICK)
                .selectable(false),
        )
        .on_hover_ui(|ui| {
            ui.label(row.path.display().to_string());
        });
    whole_for_screen_readers(&r, &full);
    if r.clicked() {
        row.selected = !row.selected;
    }
    r.clicked()
}

pub(super) fn state_cell(ui: &mut Ui, row: &Row, paused: bool) {
    let color = state_color(ui, &row.state);
    let r =
        ui.add(egui::Label::new(RichText::new(row.state.label(paused)).color(color)).truncate());
    if let FileState::Failed(why) | FileState::Skipped(why) = &row.state {
        r.on_hover_text(&**why);
    }
}

pub(super) fn result_cell(ui: &mut Ui, i: usize, row: &Row, actions: &mut Vec<Action>) {
    // Each kind of content gets its own ids: a press on Skip that is released after the row
    // finished must not click the checksum that took Skip's place.
    match (&row.state, row.result.as_deref()) {
        (FileState::Running | FileState::Verifying, _) => {
            ui.push_id("running", |ui| {
                ui.with_layout(egui::Layout::right_to_left(Align::Center), |ui| {
                    if ui
                        .button("Skip")
                        .on_hover_text("Stop this file only")
                        .clicked()
                    {
                        actions.push(Action::Skip(i));
                    }
                    let frac = if row.size > 0 {
                        row.done_bytes as f32 / row.size as f32
                    } else {
                        0.0
                    };
                    ui.add(
                        egui::ProgressBar::new(frac.clamp(0.0, 1.0))
                            .desired_width(ui.available_width().min(PROGRESS_MAX_WIDTH))
                            .show_percentage(),
                    );
                });
            });
        }
        (FileState::Failed(why), _) => {
            let color = state_color(ui, &row.state);
            ui.add(egui::Label::new(RichText::new(&**why).color(color)).truncate());
        }
        (FileState::Skipped(why), _) => {
            ui.add(egui::Label::new(RichText::new(&**why).weak()).truncate());
        }
        (_, Some(RowResult::Digest(d))) => {
            ui.push_id("digest", |ui| checksum(ui, &d.hex(), None, actions));
        }
        (_, Some(RowResult::CopyVerified(c))) => {
            ui.push_id("copy-verified", |ui| {
                ui.colored_label(state_color(ui, &FileState::Done), "verified");
                let about = format!("The copy {} reads back equal: BLAKE3", c.dest.display());
                checksum(ui, &c.blake3.hex(), Some(&about), actions);
            });
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
                state_color(ui, &FileState::Failed("".into()))
            };
            ui.add(egui::Label::new(RichText::new(text).color(color)).truncate());
        }
        (_, Some(RowResult::Output(p))) => {
            ui.push_id("output", |ui| {
                ui.with_layout(egui::Layout::right_to_left(Align::Center), |ui| {
                    if ui
                        .small_button("Show")
                        .on_hover_text("Show in the file manager")
                        .clicked()
                    {
                        actions.push(Action::Reveal(i));
                    }
                    let font = egui::TextStyle::Monospace.resolve(ui.style());
                    let full = p.display().to_string();
                    let text = elide_middle(ui, &full, &font, ui.available_width());
                    ui.label(RichText::new(text).monospace())
                        .on_hover_text(full);
                });
            });
        }
        _ => {}
    }
    if super::super::download::offers_resume(row) {
        let r = ui
            .small_button("Resume")
            .on_hover_text("Continue this download from the bytes it has (tick Keep partial)");
        if r.clicked() {
            actions.push(Action::Resume(i));
        }
    }
}

/// A checksum cut in the middle to fit; a click copies all of it. Clickable but not
/// focusable, like the name.
fn checksum(ui: &mut Ui, hex: &str, about: Option<&str>, actions: &mut Vec<Action>) {
    let font = egui::TextStyle::Monospace.resolve(ui.style());
    let text = elide_middle(ui, hex, &font, ui.available_width());
    let r = ui
        .add(
            egui::Label::new(RichText::new(text).monospace())
                .sense(egui::Sense::CLICK)
                .selectable(false),
        )
        .on_hover_ui(|ui| {
            if let Some(about) = about {
                ui.label(about);
            }
            ui.monospace(hex);
            ui.label("Click to copy");
        });
    whole_for_screen_readers(&r, hex);
    if r.clicked() {
        actions.push(Action::CopyText(hex.to_string()));
    }
}

/// Names a cut label by its whole text for screen readers (and tests), not the "…" shown.
fn whole_for_screen_readers(r: &egui::Response, whole: &str) {
    r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, whole));
}

/// `text` cut in the middle with "…" to fit `max_width`, keeping more of the end (a file's
/// name, a checksum's last digits). Lays out O(log n) candidates; only rows on screen ask.
fn elide_middle(ui: &Ui, text: &str, font: &FontId, max_width: f32) -> String {
    let width = |s: &str| {
        ui.ctx().fonts_mut(|f| {
            f.layout_no_wrap(s.to_owned(), font.clone(), Color32::PLACEHOLDER)
                .size()
                .x
        })
    };
    if width(text) <= max_width {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let candidate = |keep: usize| {
        let tail = keep * 3 / 5;
        let head = keep - tail;
        let mut s: String = chars.iter().take(head).collect();
        s.push('…');
        s.extend(chars.iter().skip(chars.len() - tail));
        s
    };
    // The most characters that still fit; "…" alone when nothing does.
    let (mut lo, mut hi) = (0, chars.len().saturating_sub(1));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if width(&candidate(mid)) <= max_width {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    candidate(lo)
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
