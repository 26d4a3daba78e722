//! The job's options: operation, its settings, threads, time limit, throttle, daemon mode,
//! and the View menu (theme, zoom).
//!
//! The operation row always shows; the rest folds into a collapsible section, folded at
//! first in a short window, so the list keeps most of the height.

use egui::Ui;

use super::Action;
use super::model::Settings;
use crate::ops::hash::Algo;
use crate::ops::kind::OpKind;

/// Below this window height (in points) the options start folded.
const FOLD_BELOW_HEIGHT: f32 = 560.0;

/// Draws the options. While a job runs only the throttle can change (it applies live).
pub fn show(ui: &mut Ui, s: &mut Settings, running: bool, actions: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        ui.add_enabled_ui(!running, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.label("Operation:");
                for op in OpKind::ALL {
                    ui.selectable_value(&mut s.op, op, super::model::op_label(op));
                }
            });
        });
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            super::look::view_menu(ui, &mut s.theme, &mut s.zoom);
        });
    });
    let tall = ui.ctx().content_rect().height() >= FOLD_BELOW_HEIGHT;
    // Folded when the window opens short (even if left open last time) or becomes short,
    // open when it becomes tall again; in between the person's choice holds.
    let was_tall_id = ui.make_persistent_id("ripcord-options-tall");
    let was_tall: Option<bool> = ui.ctx().data(|d| d.get_temp(was_tall_id));
    ui.ctx().data_mut(|d| d.insert_temp(was_tall_id, tall));
    let force = match was_tall {
        None => (!tall).then_some(false),
        Some(t) => (t != tall).then_some(tall),
    };
    egui::CollapsingHeader::new(format!("Options: {}", summary(s)))
        .id_salt("ripcord-options")
        .default_open(tall)
        .open(force)
        .show(ui, |ui| details(ui, s, running, actions));
}

/// One line saying what the folded options are set to.
fn summary(s: &Settings) -> String {
    let mut parts = Vec::new();
    match s.op {
        OpKind::Hash => parts.push(s.algo.name().to_string()),
        OpKind::Compress => parts.push(format!("level {}", s.level)),
        _ => {}
    }
    parts.push(if s.threads == 0 {
        "threads auto".to_string()
    } else {
        format!("{} threads", s.threads)
    });
    if s.throttle_on {
        parts.push(format!("throttle {:.1} MiB/s", s.throttle_mb_s));
    }
    if s.stop_after_on {
        parts.push(format!("stop after {} s", s.stop_after_secs));
    }
    if s.daemon {
        parts.push("daemon mode".to_string());
    }
    parts.join(" · ")
}

fn details(ui: &mut Ui, s: &mut Settings, running: bool, actions: &mut Vec<Action>) {
    ui.add_enabled_ui(!running, |ui| {
        ui.horizontal_wrapped(|ui| {
            match s.op {
                OpKind::Hash => {
                    egui::ComboBox::from_label("Algorithm")
                        .selected_text(s.algo.name())
                        .show_ui(ui, |ui| {
                            for a in Algo::ALL {
                                ui.selectable_value(&mut s.algo, a, a.name());
                            }
                        });
                }
                OpKind::Verify => {
                    ui.label("List checksum files (.sha256, .b3, SHA256SUMS…); names in them are relative to their folder.");
                }
                OpKind::Compress | OpKind::Decompress => {
                    if s.op == OpKind::Compress {
                        ui.add(egui::Slider::new(&mut s.level, 1..=19).text("Level"));
                    }
                    folder_choice(ui, "Output:", "beside each file", &mut s.out_dir, Action::PickOutDir, actions);
                }
                OpKind::Copy => {
                    folder_choice(ui, "Copy to:", "(choose a folder)", &mut s.copy_to, Action::PickCopyTo, actions);
                    ui.checkbox(&mut s.copy_verify, "Verify after copy");
                }
                OpKind::Download => super::download::options(ui, &mut s.download, actions),
            }
            if s.op != OpKind::Hash && s.op != OpKind::Verify {
                ui.checkbox(&mut s.overwrite, "Overwrite existing");
            }
        });
        ui.horizontal_wrapped(|ui| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            egui::ComboBox::from_label("Threads")
                .selected_text(if s.threads == 0 { format!("auto ({cores})") } else { s.threads.to_string() })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut s.threads, 0, format!("auto ({cores})"));
                    for n in 1..=cores.max(4) {
                        ui.selectable_value(&mut s.threads, n, n.to_string());
                    }
                });
            ui.separator();
            ui.checkbox(&mut s.stop_after_on, "Stop after");
            ui.add_enabled(
                s.stop_after_on,
                egui::DragValue::new(&mut s.stop_after_secs).range(1..=86_400).suffix(" s"),
            );
        });
    });
    ui.horizontal_wrapped(|ui| {
        let before = (s.throttle_on, s.throttle_mb_s);
        ui.checkbox(&mut s.throttle_on, "Throttle");
        ui.add_enabled(
            s.throttle_on,
            egui::DragValue::new(&mut s.throttle_mb_s)
                .range(0.1..=100_000.0)
                .speed(1.0)
                .suffix(" MiB/s"),
        );
        if before != (s.throttle_on, s.throttle_mb_s) {
            actions.push(Action::ThrottleChanged);
        }
        ui.separator();
        ui.checkbox(&mut s.daemon, "Daemon mode: exit without waiting for running work")
            .on_hover_text("Closing the window exits at once; unfinished outputs never appear under their final names.");
    });
}

fn folder_choice(
    ui: &mut Ui,
    label: &str,
    none: &str,
    value: &mut Option<std::path::PathBuf>,
    pick: Action,
    actions: &mut Vec<Action>,
) {
    ui.label(label);
    let shown = value
        .as_ref()
        .map_or_else(|| none.to_string(), |p| p.display().to_string());
    ui.monospace(shown);
    if ui.button("Choose…").clicked() {
        actions.push(pick);
    }
    if value.is_some() && ui.small_button("×").on_hover_text("Reset").clicked() {
        *value = None;
    }
}
