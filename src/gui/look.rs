//! How the window looks and what it tells the desktop: theme, zoom, progress in the title,
//! and a notification when a long job ends unseen.
//!
//! Invariant: nothing here blocks the UI thread — a notification is sent from a thread of its
//! own, and the title is sent to the window only when its text changes.

use std::time::Duration;

use egui::{Context, Id, ThemePreference, Ui};
use serde::{Deserialize, Serialize};

use super::TITLE;

/// The colours the window uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Theme {
    /// Light or dark as the desktop says.
    #[default]
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

impl Theme {
    /// Every choice, in menu order.
    pub const ALL: [Theme; 3] = [Theme::System, Theme::Light, Theme::Dark];

    /// The menu's word for it.
    pub fn label(self) -> &'static str {
        match self {
            Theme::System => "Follow system",
            Theme::Light => "Light",
            Theme::Dark => "Dark",
        }
    }

    fn preference(self) -> ThemePreference {
        match self {
            Theme::System => ThemePreference::System,
            Theme::Light => ThemePreference::Light,
            Theme::Dark => ThemePreference::Dark,
        }
    }
}

/// The zoom steps the View menu offers (Ctrl +/− moves between egui's own steps, kept within
/// the same range).
pub const ZOOM_STEPS: [f32; 7] = [0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0];
const ZOOM_MIN: f32 = 0.75;
const ZOOM_MAX: f32 = 2.0;
/// Below this two zoom factors are the same (they are stored as f32 in the settings file).
const ZOOM_EPSILON: f32 = 1e-3;
/// A job shorter than this ends while the person is still looking: no notification.
pub const NOTIFY_AFTER: Duration = Duration::from_secs(10);

fn zoom_id() -> Id {
    Id::unique("ripcord-look-zoom")
}

fn title_id() -> Id {
    Id::unique("ripcord-look-title")
}

/// Applies the remembered theme and zoom, once a frame. A zoom changed with Ctrl +/− since
/// the last frame is taken into `zoom`, so it is remembered like one chosen in the menu.
pub fn apply(ctx: &Context, theme: Theme, zoom: &mut f32) {
    let want = theme.preference();
    if ctx.options(|o| o.theme_preference) != want {
        ctx.set_theme(want);
        ctx.request_repaint();
    }
    let last: Option<f32> = ctx.data(|d| d.get_temp(zoom_id()));
    let now = ctx.zoom_factor();
    let wanted = match last {
        // Changed by egui's keyboard shortcut since we last set it.
        Some(l) if (now - l).abs() > ZOOM_EPSILON => now,
        _ => *zoom,
    };
    let wanted = if wanted.is_finite() {
        wanted.clamp(ZOOM_MIN, ZOOM_MAX)
    } else {
        1.0
    };
    *zoom = wanted;
    if (now - wanted).abs() > ZOOM_EPSILON {
        ctx.set_zoom_factor(wanted);
        ctx.request_repaint();
    }
    ctx.data_mut(|d| d.insert_temp(zoom_id(), wanted));
}

/// The View menu: theme and zoom. The choices land in `theme` and `zoom`, and [`apply`]
/// applies them on the next frame, which this asks for.
pub fn view_menu(ui: &mut Ui, theme: &mut Theme, zoom: &mut f32) {
    let before = (*theme, *zoom);
    let pct = (*zoom * 100.0).round();
    ui.menu_button(format!("View ({pct:.0} %)"), |ui| {
        ui.label("Theme");
        for t in Theme::ALL {
            ui.radio_value(theme, t, t.label());
        }
        ui.separator();
        ui.label("Zoom (Ctrl + / Ctrl −)");
        ui.horizontal_wrapped(|ui| {
            for z in ZOOM_STEPS {
                let on = (*zoom - z).abs() < ZOOM_EPSILON;
                if ui
                    .selectable_label(on, format!("{:.0} %", z * 100.0))
                    .clicked()
                {
                    *zoom = z;
                }
            }
        });
    });
    if before != (*theme, *zoom) {
        ui.ctx().request_repaint();
    }
}

/// The window title for a job `progress` of the way through (0.0–1.0), or none running.
pub fn title_text(progress: Option<f32>) -> String {
    match progress {
        Some(f) => {
            let pct = (f.clamp(0.0, 1.0) * 100.0).floor();
            format!("{pct:.0} % — {TITLE}")
        }
        None => TITLE.to_string(),
    }
}

/// Puts the job's progress in the window title (so it shows in the task bar), telling the
/// window only when the text changes. `bytes` is (done, total) while a job runs.
pub fn title(ctx: &Context, bytes: Option<(u64, u64)>) {
    let progress = bytes.map(|(done, total)| {
        if total == 0 {
            0.0
        } else {
            (done as f64 / total as f64) as f32
        }
    });
    let text = title_text(progress);
    if shown_title(ctx).as_deref() != Some(text.as_str()) {
        ctx.send_viewport_cmd(egui::ViewportCommand::Title(text.clone()));
        ctx.data_mut(|d| d.insert_temp(title_id(), text));
    }
}

/// The title last sent to the window.
pub fn shown_title(ctx: &Context) -> Option<String> {
    ctx.data(|d| d.get_temp(title_id()))
}

/// Called when a job ends: a job of more than [`NOTIFY_AFTER`] that ends while the window is
/// not focused sends a desktop notification with `summary`. Where no notification service
/// runs, nothing happens; the UI thread never waits for the desktop.
pub fn job_ended(ctx: &Context, elapsed: Duration, summary: &str) {
    if !should_notify(ctx.input(|i| i.viewport().focused), elapsed) {
        return;
    }
    let body = summary.to_string();
    // No thread to spare means no notification: the summary is in the window anyway.
    let _ = std::thread::Builder::new()
        .name("ripcord-notify".into())
        .spawn(move || {
            // No service (no session bus, no notification daemon) is not an error to report.
            let _ = notify(&body);
        });
}

/// Whether a job that took `elapsed` ends unseen: the window is known not to have the focus
/// (unknown focus, as in a headless test, counts as seen).
fn should_notify(focused: Option<bool>, elapsed: Duration) -> bool {
    focused == Some(false) && elapsed > NOTIFY_AFTER
}

/// Sends the notification over D-Bus; blocks until the desktop answers or refuses.
fn notify(body: &str) -> Result<(), notify_rust::error::Error> {
    notify_rust::Notification::new()
        .appname(TITLE)
        .summary("Ripcord: job finished")
        .body(body)
        .icon("ripcord")
        .show()
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_shows_whole_percent_and_plain_name_when_idle() {
        assert_eq!(title_text(Some(0.375)), "37 % — Ripcord");
        assert_eq!(title_text(Some(1.5)), "100 % — Ripcord");
        assert_eq!(title_text(None), "Ripcord");
    }

    #[test]
    fn only_a_long_job_ending_unseen_notifies() {
        let long = NOTIFY_AFTER + Duration::from_secs(1);
        assert!(should_notify(Some(false), long));
        assert!(!should_notify(Some(true), long));
        assert!(!should_notify(None, long));
        assert!(!should_notify(Some(false), NOTIFY_AFTER));
    }

    /// Without a session bus (as here, and in CI) sending fails at once instead of hanging.
    #[test]
    fn no_notification_service_is_a_quiet_error() {
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(notify("test").is_err());
        });
        let failed = rx.recv_timeout(Duration::from_secs(5));
        assert_eq!(failed, Ok(true));
    }

    #[test]
    fn zoom_from_settings_is_clamped_and_applied() {
        let ctx = Context::default();
        let mut zoom = 5.0;
        // The font atlas a frame makes is not drawn here: epaint's debug check wants it
        // taken before the output is dropped.
        let frame = |zoom: &mut f32| {
            let mut out = ctx.run_ui(egui::RawInput::default(), |ui| {
                apply(ui.ctx(), Theme::Dark, zoom)
            });
            out.textures_delta.clear();
        };
        frame(&mut zoom);
        assert_eq!(zoom, ZOOM_MAX);
        frame(&mut zoom);
        assert!((ctx.zoom_factor() - ZOOM_MAX).abs() < ZOOM_EPSILON);
        assert_eq!(ctx.options(|o| o.theme_preference), ThemePreference::Dark);
    }
}
