//! The app: state, one pass per frame (read replies and events, draw, apply actions).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use egui::{Key, Modifiers, Ui};

use super::background::{Background, Purpose, Reply, reveal};
use super::model::{FileState, Row, RowResult, Settings};
use super::run::Run;
use super::{Action, closing, look, options, status, table, toolbar};

mod events;
use super::Launch;
use crate::cancel::Reason;
use crate::engine::Job;
use crate::ops::kind::OpKind;
use crate::ops::manifest::{Style, format_line};

/// The longest the window waits between two repaints while work runs, so the clock moves
/// even when no progress arrives (a throttled worker between chunks).
const CLOCK_REPAINT_EVERY: Duration = Duration::from_millis(500);
/// The soonest the engine's wake-up repaints after the last frame (~60 frames a second).
const REPAINT_EVERY: Duration = Duration::from_millis(16);

/// The Ripcord window's state.
pub struct RipcordApp {
    /// Remembered settings.
    pub settings: Settings,
    /// The file list.
    pub rows: Vec<Row>,
    /// The list's sort, view order and keyboard cursor.
    pub table: table::TableView,
    run: Option<Run>,
    background: Background,
    ctx: Arc<OnceLock<egui::Context>>,
    dialogs_available: Option<bool>,
    typed_path: String,
    message: Option<String>,
    listings_pending: usize,
    autostart: bool,
    /// When a graceful close began.
    closing: Option<Instant>,
    /// The window may close now.
    close_now: bool,
    /// A manifest body waiting for the save dialog's answer.
    manifest_body: Option<Vec<u8>>,
    /// The settings before and after this launch's flags, so flags stay one-off.
    one_off: OneOff,
}

/// Bytes in a MiB: the window shows sizes and speeds in binary units, and its throttle too.
const MIB: f64 = 1024.0 * 1024.0;

/// What `ripcord gui --op/--daemon/--throttle` changed for this launch only.
struct OneOff {
    /// The settings as remembered from the last session.
    remembered: Settings,
    /// The same after the launch's flags.
    launched: Settings,
}

impl RipcordApp {
    /// A window with `settings`, started as `args` say (paths listed, operation, daemon mode,
    /// start at once).
    pub fn new(mut settings: Settings, args: Launch) -> Self {
        let remembered = settings.clone();
        if let Some(op) = args.op {
            settings.op = op;
        }
        if args.daemon {
            settings.daemon = true;
        }
        if let Some(rate) = args.throttle {
            settings.throttle_on = true;
            settings.throttle_mb_s = (rate as f64 / MIB) as f32;
        }
        let ctx: Arc<OnceLock<egui::Context>> = Arc::default();
        let c = Arc::clone(&ctx);
        let background = Background::new(Arc::new(move || {
            if let Some(ctx) = c.get() {
                ctx.request_repaint();
            }
        }));
        let mut app = RipcordApp {
            one_off: OneOff {
                remembered,
                launched: settings.clone(),
            },
            settings,
            rows: Vec::new(),
            table: table::TableView::default(),
            run: None,
            background,
            ctx,
            dialogs_available: None,
            typed_path: String::new(),
            message: None,
            listings_pending: 0,
            autostart: args.start,
            closing: None,
            close_now: false,
            manifest_body: None,
        };
        if !args.paths.is_empty() {
            app.add_paths(args.paths);
        }
        app
    }

    /// The settings to remember for the next launch: the current ones, except where a
    /// launch flag set a value the person has not changed since (`--throttle`, `--daemon`,
    /// `--op` apply to one launch only).
    pub fn settings_to_remember(&self) -> Settings {
        let (was, flagged) = (&self.one_off.remembered, &self.one_off.launched);
        let mut s = self.settings.clone();
        if s.op == flagged.op {
            s.op = was.op;
        }
        if s.daemon == flagged.daemon {
            s.daemon = was.daemon;
        }
        if (s.throttle_on, s.throttle_mb_s) == (flagged.throttle_on, flagged.throttle_mb_s) {
            s.throttle_on = was.throttle_on;
            s.throttle_mb_s = was.throttle_mb_s;
        }
        s
    }

    /// Whether the window may close now (nothing running, daemon mode, or all stopped).
    pub fn close_now(&self) -> bool {
        self.close_now
    }

    /// Whether a job is running.
    pub fn is_running(&self) -> bool {
        self.run.as_ref().is_some_and(Run::is_active)
    }

    /// The message shown under the progress ("Cancelled after 3 ms"…).
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The person asked to close (title bar ×, Ctrl+Q). Returns whether the window may close
    /// now; otherwise a graceful stop has begun and the window closes by itself when done.
    pub fn request_close(&mut self) -> bool {
        if self.close_now {
            return true;
        }
        let daemon = self.settings.daemon;
        match &mut self.run {
            Some(run) if run.is_active() => {
                if daemon {
                    // Exit without joining: workers are abandoned mid-chunk. Outputs are
                    // invisible temporaries, so nothing incomplete appears under a final name.
                    if let Some(job) = run.job.take() {
                        job.detach();
                    }
                    crate::output::remove_live_temporaries();
                    self.close_now = true;
                    return true;
                }
                if self.closing.is_none() {
                    self.closing = Some(Instant::now());
                    if let Some(job) = &run.job {
                        job.cancel(Reason::Shutdown);
                    }
                }
                false
            }
            _ => {
                self.close_now = true;
                true
            }
        }
    }

    fn add_paths(&mut self, paths: Vec<PathBuf>) {
        if paths.is_empty() {
            return;
        }
        self.listings_pending += 1;
        self.background.add_paths(paths);
    }

    /// One frame: everything the window shows and does.
    pub fn show(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        self.ctx.get_or_init(|| ctx.clone());
        let mut actions = Vec::new();
        look::apply(&ctx, self.settings.theme, &mut self.settings.zoom);
        self.poll_background();
        let was_running = self.is_running();
        self.poll_job(&ctx);
        if was_running && let Some(s) = self.run.as_ref().and_then(|r| r.finished.as_ref()) {
            look::job_ended(
                &ctx,
                s.elapsed,
                self.message.as_deref().unwrap_or("Finished"),
            );
        }
        self.shortcuts(&ctx, &mut actions);
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if !dropped.is_empty() && !self.is_running() {
            self.add_paths(dropped);
        }
        if self.autostart && self.listings_pending == 0 && !self.rows.is_empty() {
            self.autostart = false;
            actions.push(Action::Start);
        }
        let running = self.is_running();
        let paused = self.run.as_ref().is_some_and(Run::is_paused);
        egui::Panel::top("ripcord-top").show(ui, |ui| {
            ui.add_space(4.0);
            let st = toolbar::ToolbarState {
                running,
                paused,
                has_rows: !self.rows.is_empty(),
                can_save: self.can_save_manifest(),
            };
            toolbar::show(ui, &st, &mut actions);
            ui.separator();
            options::show(ui, &mut self.settings, running, &mut actions);
            ui.horizontal(|ui| {
                ui.label("Path:");
                let edit = ui.add_enabled(
                    !running,
                    egui::TextEdit::singleline(&mut self.typed_path)
                        .hint_text("type or paste a file or folder path, then Enter")
                        .desired_width(420.0),
                );
                let entered = edit.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
                if ui.add_enabled(!running, egui::Button::new("Add")).clicked() || entered {
                    actions.push(Action::AddTyped);
                }
            });
            ui.add_space(4.0);
        });
        let totals = self.totals();
        look::title(
            &ctx,
            running.then_some((totals.bytes_done, totals.bytes_total)),
        );
        egui::Panel::bottom("ripcord-status").show(ui, |ui| {
            if let Some(run) = &mut self.run
                && run.is_active()
                && !run.is_paused()
            {
                run.meter
                    .sample(Instant::now(), totals.bytes_done, totals.files_final);
            }
            status::show(ui, self.run.as_ref(), &totals, self.message.as_deref());
        });
        egui::CentralPanel::default().show(ui, |ui| {
            table::show(
                ui,
                &mut self.table,
                &mut self.rows,
                paused,
                running,
                &mut actions,
            );
        });
        if let Some(since) = self.closing {
            let busy = self
                .run
                .as_ref()
                .and_then(|r| r.job.as_ref())
                .map(Job::busy)
                .unwrap_or_default();
            closing::show(&ctx, since.elapsed(), &busy, &mut actions);
            ctx.request_repaint_after(Duration::from_millis(200));
        }
        for a in actions {
            self.apply(a, &ctx);
        }
        if self.is_running() && !self.run.as_ref().is_some_and(Run::is_paused) {
            ctx.request_repaint_after(CLOCK_REPAINT_EVERY);
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context, actions: &mut Vec<Action>) {
        let running = self.is_running();
        ctx.input_mut(|i| {
            if i.consume_key(Modifiers::COMMAND, Key::Q) {
                actions.push(Action::Quit);
            }
            if i.consume_key(Modifiers::COMMAND, Key::O) && !running {
                actions.push(Action::AddFiles);
            }
            if i.consume_key(Modifiers::COMMAND, Key::Enter) && !running {
                actions.push(Action::Start);
            }
            if i.consume_key(Modifiers::COMMAND, Key::P) && running {
                actions.push(Action::TogglePause);
            }
            if running && i.consume_key(Modifiers::NONE, Key::Escape) {
                actions.push(Action::Cancel);
            }
        });
        let typing = ctx.memory(|m| m.focused().is_some());
        if !typing && !running {
            ctx.input(|i| {
                for ev in &i.events {
                    if let egui::Event::Paste(text) = ev {
                        actions.push(Action::Paste(text.clone()));
                    }
                }
                if i.key_pressed(Key::Delete) {
                    actions.push(Action::RemoveSelected);
                }
            });
        }
    }

    fn poll_background(&mut self) {
        for reply in self.background.replies() {
            match reply {
                Reply::DialogsAvailable(ok) => self.dialogs_available = Some(ok),
                Reply::Found(files) => self.add_found(files),
                Reply::ListingDone => {
                    self.listings_pending = self.listings_pending.saturating_sub(1)
                }
                Reply::NotAdded(path, why) => {
                    self.message = Some(format!("Not added: {}: {why}", path.display()));
                }
                Reply::Picked(purpose, picked) => self.picked(purpose, picked),
                Reply::Saved(Ok(p)) => {
                    self.message = Some(format!("Manifest saved: {}", p.display()))
                }
                Reply::Saved(Err(e)) => self.message = Some(format!("Manifest not saved: {e}")),
            }
        }
    }

    fn picked(&mut self, purpose: Purpose, picked: Option<Vec<PathBuf>>) {
        let Some(mut paths) = picked else {
            self.manifest_body = None;
            return;
        };
        match purpose {
            Purpose::AddFiles | Purpose::AddFolder => self.add_paths(paths),
            Purpose::CopyTo => self.settings.copy_to = paths.pop(),
            Purpose::OutDir => self.settings.out_dir = paths.pop(),
            Purpose::SaveManifest => {
                if let (Some(path), Some(body)) = (paths.pop(), self.manifest_body.take()) {
                    self.background.save(path, body);
                }
            }
        }
    }

    /// Appends found files, leaving out any already listed (a file listed twice would be
    /// processed twice, and its output refused the second time).
    fn add_found(&mut self, files: Vec<super::background::Found>) {
        let listed: std::collections::HashSet<&std::path::Path> =
            self.rows.iter().map(|r| r.path.as_path()).collect();
        let fresh: Vec<Row> = files
            .into_iter()
            .filter(|(p, _, _)| !listed.contains(p.as_path()))
            .map(|(p, size, base)| Row::new(p, size, base))
            .collect();
        self.rows.extend(fresh);
    }

    fn can_save_manifest(&self) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| !r.is_active() && r.op == OpKind::Hash)
            && self
                .rows
                .iter()
                .any(|r| matches!(r.result, Some(RowResult::Digest(_))))
    }

    fn manifest(&self) -> Vec<u8> {
        let algo = self.settings.algo;
        let mut body = Vec::new();
        let lines: Vec<Vec<u8>> = self
            .rows
            .iter()
            .filter_map(|r| match &r.result {
                Some(RowResult::Digest(hex)) => Some(format_line(&r.path, algo, hex, Style::Gnu)),
                _ => None,
            })
            .collect();
        if let Some(reason) = self
            .run
            .as_ref()
            .and_then(|r| r.finished.as_ref())
            .and_then(|s| s.cancel_reason)
        {
            body.extend_from_slice(&crate::ops::manifest::partial_header(
                reason,
                lines.len(),
                Some(self.rows.len()),
            ));
        }
        for l in lines {
            body.extend_from_slice(&l);
        }
        body
    }

    fn dialog(&mut self, purpose: Purpose) {
        if self.dialogs_available == Some(false) {
            self.message = Some(
                "No file dialog can be shown here (install zenity or a desktop portal). Type or paste a path in the Path box instead."
                    .into(),
            );
            return;
        }
        let name = (purpose == Purpose::SaveManifest)
            .then(|| format!("checksums.{}", self.settings.algo.extension()));
        self.background.dialog(purpose, name);
    }

    fn apply(&mut self, action: Action, ctx: &egui::Context) {
        match action {
            Action::AddFiles => self.dialog(Purpose::AddFiles),
            Action::AddFolder => self.dialog(Purpose::AddFolder),
            Action::PickOutDir => self.dialog(Purpose::OutDir),
            Action::PickCopyTo => self.dialog(Purpose::CopyTo),
            Action::AddTyped => {
                let text = std::mem::take(&mut self.typed_path);
                self.add_paths(parse_pasted(&text));
            }
            Action::Paste(text) => self.add_paths(parse_pasted(&text)),
            Action::RemoveSelected => self.rows.retain(|r| !r.selected),
            Action::Clear => {
                self.background.stop_listing();
                self.rows.clear();
                self.run = None;
                self.message = None;
            }
            Action::Start => self.start(),
            Action::Cancel => {
                if let Some(run) = &mut self.run
                    && let Some(job) = &run.job
                {
                    run.cancel_clicked = Some(Instant::now());
                    job.cancel(Reason::User);
                }
            }
            Action::TogglePause => {
                if let Some(run) = &mut self.run
                    && run.is_active()
                {
                    run.toggle_pause();
                }
            }
            Action::Skip(i) => {
                if let Some(job) = self.run.as_ref().and_then(|r| r.job.as_ref()) {
                    job.skip(i);
                }
            }
            Action::CopyText(text) => {
                ctx.copy_text(text);
                self.message = Some("Checksum copied to the clipboard.".into());
            }
            Action::SaveManifest => {
                self.manifest_body = Some(self.manifest());
                self.dialog(Purpose::SaveManifest);
            }
            Action::Reveal(i) => {
                if let Some(Some(RowResult::Output(p))) = self.rows.get(i).map(|r| &r.result) {
                    reveal(p);
                }
            }
            Action::ThrottleChanged => {
                if let Some(job) = self.run.as_ref().and_then(|r| r.job.as_ref()) {
                    job.set_throttle(self.settings.throttle());
                }
            }
            Action::Quit => {
                if self.request_close() {
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
            Action::ExitNow => {
                if let Some(job) = self.run.as_mut().and_then(|r| r.job.take()) {
                    job.detach();
                }
                crate::output::remove_live_temporaries();
                self.close_now = true;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
    }

    fn start(&mut self) {
        if self.is_running() || self.rows.is_empty() {
            return;
        }
        let spec = match self.settings.job_spec(&self.rows) {
            Ok(s) => s,
            Err(why) => {
                self.message = Some(why.into());
                return;
            }
        };
        let op = spec.op.kind();
        for r in &mut self.rows {
            r.state = FileState::Queued;
            r.done_bytes = 0;
            r.result = None;
            r.selected = false;
        }
        let wake = repaint_waker(Arc::clone(&self.ctx));
        match Job::start(spec, Some(wake)) {
            Ok(job) => {
                self.run = Some(Run::new(job, op));
                self.message = None;
            }
            Err(e) => self.message = Some(format!("Cannot start: {e}")),
        }
    }
}

/// The engine's wake for this window. It never blocks a worker: asking egui for a repaint
/// takes the context's lock, which the UI thread holds while it builds a frame, and a worker
/// on its way out of a cancel waited there for the UI thread to get a core again (a real
/// window reported one cancel at 109 ms). The request is made on a thread of its own; the
/// worker only leaves a note in a one-slot channel.
fn repaint_waker(ctx: Arc<OnceLock<egui::Context>>) -> crate::engine::Wake {
    fn repaint(ctx: &OnceLock<egui::Context>) {
        if let Some(c) = ctx.get() {
            c.request_repaint_after(REPAINT_EVERY);
        }
    }
    let (tx, rx) = crossbeam_channel::bounded::<()>(1);
    let on_thread = Arc::clone(&ctx);
    // Ends when the job, which holds the sender, is dropped.
    let started = std::thread::Builder::new()
        .name("ripcord-repaint".into())
        .spawn(move || rx.iter().for_each(|()| repaint(&on_thread)));
    match started {
        Ok(_) => Box::new(move || {
            // Full means a repaint request is already on its way.
            let _ = tx.try_send(());
        }),
        // No thread to spare: ask directly, as before.
        Err(_) => Box::new(move || repaint(&ctx)),
    }
}

impl eframe::App for RipcordApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        if ui.input(|i| i.viewport().close_requested()) && !self.request_close() {
            ui.ctx()
                .send_viewport_cmd(egui::ViewportCommand::CancelClose);
        }
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings_to_remember());
    }
}

/// Paths from pasted text: one per line; `file://` URIs (as file managers copy them) decoded.
pub fn parse_pasted(text: &str) -> Vec<PathBuf> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix("file://") {
            Some(rest) => PathBuf::from(percent_decode(rest)),
            None => PathBuf::from(l),
        })
        .collect()
}

fn percent_decode(s: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| hex(*c)),
                b.get(i + 2).and_then(|c| hex(*c)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    std::ffi::OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_uris() {
        let v = parse_pasted("file:///tmp/a%20b.txt\n/etc/hosts\n\n");
        assert_eq!(
            v,
            vec![PathBuf::from("/tmp/a b.txt"), PathBuf::from("/etc/hosts")]
        );
        assert_eq!(percent_decode("x%2"), std::ffi::OsString::from("x%2"));
    }

    /// A worker's wake returns at once even while the UI thread holds egui's context lock
    /// (here: inside `memory_mut`), and the repaint is still asked for afterwards.
    #[test]
    fn the_engine_wake_never_waits_for_the_ui_thread() {
        let ctx = egui::Context::default();
        let cell: Arc<OnceLock<egui::Context>> = Arc::default();
        let _ = cell.set(ctx.clone());
        let wake = Arc::new(repaint_waker(cell));
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let returned = ctx.memory_mut(|_| {
            let wake = Arc::clone(&wake);
            let done_tx = done_tx.clone();
            std::thread::spawn(move || {
                wake();
                let _ = done_tx.send(());
            });
            done_rx.recv_timeout(Duration::from_secs(5)).is_ok()
        });
        assert!(returned, "the wake waited for the context lock");
    }
}
