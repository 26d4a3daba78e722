//! The job's options: operation, its settings, threads, time limit, throttle, daemon mode.

use egui::Ui;

use super::Action;
use super::model::Settings;
use crate::ops::hash::Algo;
use crate::ops::kind::OpKind;

/// Draws the options. While a job runs only the throttle can change (it applies live).
pub fn show(ui: &mut Ui, s: &mut Settings, running: bool, actions: &mut Vec<Action>) {
    ui.add_enabled_ui(!running, |ui| {
        ui.horizontal_wrapped(|ui| {
            ui.label("Operation:");
            for op in OpKind::ALL {
                ui.selectable_value(&mut s.op, op, super::model::op_label(op));
            }
        });
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
