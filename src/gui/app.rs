//! The app: state, one pass per frame (read replies and events, draw, apply actions).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use egui::{Key, Modifiers, Ui};

use super::background::{Background, Purpose, Reply};
use super::dialogs::Ask;
use super::log::Log;
use super::model::{FileState, Row, RowList, RowResult, Settings};
use super::results::{ManifestSnapshot, ReportRow, common_folder};
use super::run::Run;
use super::{Action, closing, dialogs, look, options, status, table, toolbar};

mod download;
mod events;
use super::Launch;
use crate::cancel::Reason;
use crate::engine::{Bases, Job};
use crate::ops::kind::OpKind;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The longest the window waits between two repaints while work runs or is paused, so the
/// clock moves even when no progress arrives (a throttled worker between chunks, a pause).
const CLOCK_REPAINT_EVERY: Duration = Duration::from_millis(500);
/// The soonest the engine's wake-up repaints after the last frame (~60 frames a second).
const REPAINT_EVERY: Duration = Duration::from_millis(16);

/// The Ripcord window's state.
pub struct RipcordApp {
    /// Remembered settings.
    pub settings: Settings,
    /// The file list.
    pub rows: RowList,
    /// The list's sort, view order and keyboard cursor.
    pub table: table::TableView,
    run: Option<Run>,
    /// Bytes read so far of the files running now.
    running_bytes: u64,
    /// The jobs before the running one, when it runs files added while they ran: the queue
    /// ends with one message for all of it.
    queue_so_far: Option<crate::engine::Summary>,
    /// Checksums were computed and not saved since.
    unsaved: bool,
    /// Every message of the session.
    log: Log,
    /// A question the window is waiting on.
    ask: Option<Ask>,
    /// Which rows the job waiting on a question (a missing folder) runs.
    start_pending: Option<Vec<usize>>,
    /// The person chose to close and drop unsaved checksums.
    discard_ok: bool,
    /// Close once the manifest being saved is written.
    close_after_save: bool,
    /// Files found so far by the listings under way.
    listed: Arc<AtomicUsize>,
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
    /// What the save dialog's answer will be written from.
    to_save: Option<ToSave>,
    /// The settings before and after this launch's flags, so flags stay one-off.
    one_off: OneOff,
    /// The Add URL dialog's text while it is open.
    add_url: Option<String>,
}

/// What is saved once the save dialog answers.
enum ToSave {
    /// A manifest of the checksums (its names depend on where it is saved).
    Manifest(ManifestSnapshot),
    /// The CSV report.
    Report(Vec<u8>),
}

/// Bytes in a MiB: the window shows sizes and speeds in binary units, and its throttle too.
const MIB: f64 = 1024.0 * 1024.0;

/// What `ripcord gui --op/--daemon/--throttle/--keep-partial` changed for this launch only.
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
        if args.keep_partial {
            settings.download.keep_partial = true;
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
            rows: RowList::default(),
            table: table::TableView::default(),
            run: None,
            running_bytes: 0,
            queue_so_far: None,
            unsaved: false,
            log: Log::default(),
            ask: None,
            start_pending: None,
            discard_ok: false,
            close_after_save: false,
            listed: Arc::default(),
            background,
            ctx,
            dialogs_available: None,
            typed_path: String::new(),
            message: None,
            listings_pending: 0,
            autostart: args.start,
            closing: None,
            close_now: false,
            to_save: None,
            add_url: None,
        };
        // URLs among the launch's paths are downloads (`ripcord gui https://…`).
        let (urls, paths): (Vec<PathBuf>, Vec<PathBuf>) = args
            .paths
            .into_iter()
            .partition(|p| crate::ops::download::is_url(&p.to_string_lossy()));
        app.add_urls(
            urls.iter()
                .map(|u| u.to_string_lossy().into_owned())
                .collect(),
        );
        if !paths.is_empty() {
            app.add_paths(paths);
        }
        app
    }

    /// The settings to remember for the next launch: the current ones, except where a
    /// launch flag set a value the person has not changed since (`--throttle`, `--daemon`,
    /// `--op`, `--keep-partial` apply to one launch only).
    pub fn settings_to_remember(&self) -> Settings {
        let (was, flagged) = (&self.one_off.remembered, &self.one_off.launched);
        let mut s = self.settings.clone();
        if s.op == flagged.op {
            s.op = was.op;
        }
        if s.daemon == flagged.daemon {
            s.daemon = was.daemon;
        }
        if s.download.keep_partial == flagged.download.keep_partial {
            s.download.keep_partial = was.download.keep_partial;
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

    /// The message shown under the progress ("Stopped (cancelled by you): …"…).
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The message log, oldest first.
    pub fn log(&self) -> impl Iterator<Item = &str> {
        self.log.lines()
    }

    /// The question the window waits on, if any.
    pub fn asking(&self) -> Option<&Ask> {
        self.ask.as_ref()
    }

    /// Shows `message` in the bottom bar and keeps it in the log.
    fn say(&mut self, message: impl Into<String>) {
        let message = message.into();
        self.log.push(&message);
        self.message = Some(message);
    }

    /// The person asked to close (title bar ×, Ctrl+Q). Returns whether the window may close
    /// now; otherwise a graceful stop has begun and the window closes by itself when done,
    /// or a question about unsaved checksums is showing.
    pub fn request_close(&mut self) -> bool {
        if self.close_now {
            return true;
        }
        let daemon = self.settings.daemon;
        if !daemon && self.unsaved && !self.discard_ok {
            self.ask = Some(Ask::UnsavedClose {
                digests: self.rows.tally().digests,
            });
            return false;
        }
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

    /// One frame of the real window: a close from the title bar goes through
    /// [`RipcordApp::request_close`], exactly as Ctrl+Q does, then [`RipcordApp::show`].
    pub fn frame(&mut self, ui: &mut Ui) {
        if ui.input(|i| i.viewport().close_requested()) && !self.request_close() {
            ui.ctx()
                .send_viewport_cmd(egui::ViewportCommand::CancelClose);
        }
        self.show(ui);
    }

    /// Adds files and folders to the list, as a drop does (while a job runs they join the
    /// queue).
    pub fn add(&mut self, paths: Vec<PathBuf>) {
        self.add_paths(paths);
    }

    fn add_paths(&mut self, paths: Vec<PathBuf>) {
        if paths.is_empty() {
            return;
        }
        if self.listings_pending == 0 {
            // Relaxed: a display counter; no listing runs to race this reset.
            self.listed.store(0, Ordering::Relaxed);
        }
        self.listings_pending += 1;
        self.background.add_paths(paths, Arc::clone(&self.listed));
    }

    /// Files found by the listings under way, while there are any.
    pub fn listing(&self) -> Option<usize> {
        // Relaxed: a display counter.
        (self.listings_pending > 0).then(|| self.listed.load(Ordering::Relaxed))
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
        // A link dropped from a browser, where the platform hands it over as a "path".
        let dropped_links: Vec<String> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_string_lossy().into_owned())
                .filter(|n| crate::ops::download::is_url(n))
                .collect()
        });
        if !dropped_links.is_empty() && !self.is_running() {
            self.add_urls(dropped_links);
        }
        if let Some(urls) = super::download::add_url_window(&ctx, &mut self.add_url) {
            self.add_urls(urls);
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| {
                    !p.as_os_str().is_empty() && !crate::ops::download::is_url(&p.to_string_lossy())
                })
                .collect()
        });
        if !dropped.is_empty() {
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
            let tally = self.rows.tally();
            let st = toolbar::ToolbarState {
                running,
                paused,
                has_rows: !self.rows.is_empty(),
                can_save: self.can_save_manifest(),
                failed: tally.failed,
                remaining: tally.failed + tally.cancelled + tally.waiting,
                rows: self.rows.len(),
            };
            toolbar::show(ui, &st, &mut actions);
            ui.separator();
            options::show(ui, &mut self.settings, running, &mut actions);
            ui.horizontal(|ui| {
                ui.label("Path:");
                let edit = ui.add(
                    egui::TextEdit::singleline(&mut self.typed_path)
                        .hint_text("type or paste a file or folder path, then Enter")
                        .desired_width(420.0),
                );
                let entered = edit.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
                if ui.button("Add").clicked() || entered {
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
            if let Some(n) = self.listing() {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("Listing… {n} files"));
                    if ui.small_button("Cancel listing").clicked() {
                        actions.push(Action::StopListing);
                    }
                });
                ctx.request_repaint_after(CLOCK_REPAINT_EVERY);
            }
            self.log.show(ui);
        });
        egui::CentralPanel::default().show(ui, |ui| {
            let manifests = self.run.as_ref().is_some_and(|r| !r.manifests.is_empty());
            table::show(
                ui,
                &mut self.table,
                self.rows.marks_mut(),
                paused,
                manifests,
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
        } else if let Some(ask) = &self.ask {
            dialogs::show(&ctx, ask, &mut actions);
        }
        // What an action changed (a question to ask, a row skipped) is drawn by the next
        // frame: ask for it now, not when the mouse next moves.
        if !actions.is_empty() {
            ctx.request_repaint();
        }
        for a in actions {
            self.apply(a, &ctx);
        }
        // Paused too: the elapsed clock runs on, with the paused time shown apart.
        if self.is_running() {
            ctx.request_repaint_after(CLOCK_REPAINT_EVERY);
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context, actions: &mut Vec<Action>) {
        let running = self.is_running();
        ctx.input_mut(|i| {
            if i.consume_key(Modifiers::COMMAND, Key::Q) {
                actions.push(Action::Quit);
            }
            if i.consume_key(Modifiers::COMMAND, Key::O) {
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
        if !typing {
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
                    self.say(format!("Not added: {}: {why}", path.display()));
                }
                Reply::Skipped(path, note) => {
                    self.log
                        .push(&format!("Not listed: {}: {note}", path.display()));
                }
                Reply::Picked(purpose, picked) => self.picked(purpose, picked),
                Reply::Saved(purpose, Ok(p)) => {
                    if purpose == Purpose::SaveManifest {
                        self.unsaved = false;
                        self.say(format!("Manifest saved: {}", p.display()));
                        if self.close_after_save {
                            // Saved: now close as asked, through the same path (a job still
                            // running is stopped first, and the window closes once it has).
                            self.close_after_save = false;
                            self.discard_ok = true;
                            if self.request_close()
                                && let Some(ctx) = self.ctx.get()
                            {
                                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                            }
                        }
                    } else {
                        self.say(format!("Report saved: {}", p.display()));
                    }
                }
                Reply::Saved(_, Err(e)) => {
                    self.close_after_save = false;
                    self.say(format!("Not saved: {e}"));
                }
                Reply::Created(Ok(dir)) => {
                    self.say(format!("Created {}", dir.display()));
                    if let Some(rows) = self.start_pending.take() {
                        self.start_rows(rows);
                    }
                }
                Reply::Created(Err(e)) => {
                    self.start_pending = None;
                    self.say(e);
                }
                Reply::Note(text) => self.say(text),
            }
        }
    }

    fn picked(&mut self, purpose: Purpose, picked: Option<Vec<PathBuf>>) {
        let Some(mut paths) = picked else {
            self.to_save = None;
            self.close_after_save = false;
            return;
        };
        match purpose {
            Purpose::AddFiles | Purpose::AddFolder => self.add_paths(paths),
            Purpose::CopyTo => self.settings.copy_to = paths.pop(),
            Purpose::OutDir => self.settings.out_dir = paths.pop(),
            Purpose::DownloadTo | Purpose::CaFile => self.picked_for_download(purpose, paths.pop()),
            Purpose::SaveManifest | Purpose::SaveReport => {
                if let (Some(path), Some(what)) = (paths.pop(), self.to_save.take()) {
                    let body = match what {
                        ToSave::Manifest(m) => m.body(&path),
                        ToSave::Report(b) => b,
                    };
                    self.background.save(purpose, path, body);
                }
            }
        }
    }

    /// Appends found files, leaving out any already listed (a file listed twice would be
    /// processed twice, and its output refused the second time). The list's index finds
    /// them without a search, so adding a folder of a million files twice stays cheap.
    fn add_found(&mut self, files: Vec<super::background::Found>) {
        for (p, size, base) in files {
            self.rows.push_new(Row::new(p, size, base));
        }
    }

    /// Whether "Save manifest…" is offered: checksums (or verified copies) of a finished run.
    pub fn can_save_manifest(&self) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| !r.is_active() && matches!(r.op, OpKind::Hash | OpKind::Copy))
            && self.rows.tally().digests > 0
    }

    /// What a manifest saved now holds.
    fn manifest(&self) -> ManifestSnapshot {
        ManifestSnapshot {
            lines: self
                .rows
                .iter()
                .filter_map(|r| match r.result.as_deref() {
                    Some(RowResult::Digest(d)) => Some((r.path.to_path_buf(), d.hex())),
                    // A verified copy's checksum, under the copy's name: the manifest then
                    // checks the copies later.
                    Some(RowResult::CopyVerified(c)) => {
                        Some((c.dest.to_path_buf(), c.blake3.hex()))
                    }
                    _ => None,
                })
                .collect(),
            algo: self.manifest_algo(),
            partial: self
                .run
                .as_ref()
                .and_then(|r| r.finished.as_ref())
                .and_then(|s| s.cancel_reason)
                .map(|reason| (reason, self.rows.len())),
        }
    }

    /// The algorithm of the checksums a manifest would hold: a copy verifies with BLAKE3.
    fn manifest_algo(&self) -> crate::ops::hash::Algo {
        match self.run.as_ref().map(|r| r.op) {
            Some(OpKind::Copy) => crate::ops::hash::Algo::Blake3,
            _ => self.settings.algo,
        }
    }

    fn dialog(&mut self, purpose: Purpose) {
        if self.dialogs_available == Some(false) {
            self.close_after_save = false;
            self.say(
                "No file dialog can be shown here (install zenity or a desktop portal). Type or paste a path in the Path box instead.",
            );
            return;
        }
        let name = match purpose {
            Purpose::SaveManifest => {
                Some(format!("checksums.{}", self.manifest_algo().extension()))
            }
            Purpose::SaveReport => Some("ripcord-report.csv".to_string()),
            _ => None,
        };
        // Save dialogs open where the files are.
        let folder = matches!(purpose, Purpose::SaveManifest | Purpose::SaveReport)
            .then(|| common_folder(self.rows.iter().map(|r| &*r.path)))
            .flatten();
        self.background.dialog(purpose, name, folder);
    }

    fn apply(&mut self, action: Action, ctx: &egui::Context) {
        match action {
            Action::AddFiles => self.dialog(Purpose::AddFiles),
            Action::AddFolder => self.dialog(Purpose::AddFolder),
            Action::PickOutDir => self.dialog(Purpose::OutDir),
            Action::PickCopyTo => self.dialog(Purpose::CopyTo),
            Action::AddTyped => {
                let text = std::mem::take(&mut self.typed_path);
                self.add_text(&text);
            }
            Action::Paste(text) => self.add_text(&text),
            Action::AddUrl => self.add_url = Some(String::new()),
            Action::PickDownloadTo => self.dialog(Purpose::DownloadTo),
            Action::PickCaFile => self.dialog(Purpose::CaFile),
            Action::Resume(i) => self.resume_row(i),
            Action::RemoveSelected => self.remove_selected(),
            Action::Clear => {
                if self.is_running() {
                    return;
                }
                self.background.stop_listing();
                self.rows.clear();
                self.table.rows_replaced();
                self.run = None;
                self.message = None;
                self.unsaved = false;
            }
            Action::Start => self.start_rows((0..self.rows.len()).collect()),
            Action::RetryFailed => {
                let rows = self.rows_where(|s| matches!(s, FileState::Failed(_)));
                self.start_rows(rows);
            }
            Action::RunRemaining => {
                let rows = self.rows_where(|s| {
                    matches!(
                        s,
                        FileState::Failed(_)
                            | FileState::Cancelled(_)
                            | FileState::Ready
                            | FileState::Queued
                    ) && *s != FileState::Cancelled(Reason::Skip)
                });
                self.start_rows(rows);
            }
            Action::StopListing => {
                self.background.stop_listing();
                self.say("Listing stopped; the files found so far stay in the list.");
            }
            Action::CreateDestination => {
                self.ask = None;
                if let Some(dir) = self.settings.destination() {
                    self.background.create_folder(dir.to_path_buf());
                }
            }
            Action::Dismiss => {
                self.ask = None;
                self.start_pending = None;
            }
            Action::DiscardAndClose => {
                self.ask = None;
                self.discard_ok = true;
                if self.request_close() {
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
            Action::SaveAndClose => {
                self.ask = None;
                self.close_after_save = true;
                self.to_save = Some(ToSave::Manifest(self.manifest()));
                self.dialog(Purpose::SaveManifest);
            }
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
            Action::Skip(row) => self.skip_row(row),
            Action::CopyText(text) => {
                ctx.copy_text(text);
                self.say("Checksum copied to the clipboard.");
            }
            Action::SaveManifest => {
                self.to_save = Some(ToSave::Manifest(self.manifest()));
                self.dialog(Purpose::SaveManifest);
            }
            Action::SaveReport => {
                let op = self.run.as_ref().map_or(self.settings.op, |r| r.op);
                let rows: Vec<ReportRow> = self
                    .rows
                    .iter()
                    .map(|r| ReportRow::new(r, r.ms.map(|ms| f64::from(ms.get()) / 1000.0)))
                    .collect();
                self.to_save = Some(ToSave::Report(super::results::report(&rows, op)));
                self.dialog(Purpose::SaveReport);
            }
            Action::Reveal(i) => {
                if let Some(Some(RowResult::Output(p))) =
                    self.rows.get(i).map(|r| r.result.as_deref())
                {
                    self.background.reveal(p);
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

    /// The rows whose state `pick` says yes to.
    fn rows_where(&self, pick: impl Fn(&FileState) -> bool) -> Vec<usize> {
        (0..self.rows.len())
            .filter(|&i| self.rows.get(i).is_some_and(|r| pick(&r.state)))
            .collect()
    }

    /// Skips a running or queued row of the job; a row waiting for the next job is skipped
    /// at once.
    fn skip_row(&mut self, row: usize) {
        let in_job = self
            .run
            .as_ref()
            .and_then(|r| Some((r.job.as_ref()?, r.id_of(row)?)));
        match in_job {
            Some((job, id)) => job.skip(id),
            None => {
                if self
                    .rows
                    .get(row)
                    .is_some_and(|r| r.state == FileState::Ready)
                {
                    self.rows.set_state(row, FileState::Cancelled(Reason::Skip));
                }
            }
        }
    }

    /// Removes the selected rows; while a job runs, selected rows of the job are skipped
    /// instead (they stay, so the rows under the pointer do not move), and the others go.
    fn remove_selected(&mut self) {
        if self.is_running() {
            let in_job: Vec<usize> = self
                .rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.selected && r.state != FileState::Ready)
                .map(|(i, _)| i)
                .collect();
            for i in in_job {
                self.skip_row(i);
            }
            let remap = self
                .rows
                .retain_remap(|r| !(r.selected && r.state == FileState::Ready));
            self.table.rows_replaced();
            if let Some(run) = &mut self.run {
                run.remap_rows(&remap);
            }
        } else {
            let remap = self.rows.retain_remap(|r| !r.selected);
            self.table.rows_replaced();
            if let Some(run) = &mut self.run {
                run.remap_rows(&remap);
            }
        }
    }

    /// Starts a job over the given rows (the ones not yet in a job, after a job ends).
    fn run_queued(&mut self) {
        let rows = self.rows_where(|s| *s == FileState::Ready);
        if !rows.is_empty() {
            self.start_rows(rows);
        }
    }

    /// Starts a job over `rows` with the current settings: for verify, over the manifests
    /// those rows came from (their old entry rows make way for the new results).
    fn start_rows(&mut self, rows: Vec<usize>) {
        self.start_rows_as(rows, false);
    }

    /// [`Self::start_rows`], or with `resume`, a download that continues from the bytes a
    /// cancel or failure kept.
    fn start_rows_as(&mut self, mut rows: Vec<usize>, resume: bool) {
        if self.is_running() || rows.is_empty() {
            return;
        }
        if let Some(dir) = self.settings.destination()
            && !dir.is_dir()
        {
            // Named once, before any row fails for it.
            self.ask = Some(Ask::CreateFolder(dir.to_path_buf()));
            self.start_pending = Some(rows);
            return;
        }
        let op = self.settings.op;
        let mut manifests: Vec<Arc<Path>> = Vec::new();
        let mut only = None;
        if op == OpKind::Verify {
            let mut seen = std::collections::HashSet::new();
            for &i in &rows {
                if let Some(r) = self.rows.get(i) {
                    let m = r.origin().cloned().unwrap_or_else(|| r.path.clone());
                    if seen.insert(m.clone()) {
                        manifests.push(m);
                    }
                }
            }
            let of_manifests = self
                .rows
                .iter()
                .filter(|r| seen.contains(r.manifest()))
                .count();
            if rows.len() < of_manifests {
                // Some of their entries (Retry failed, Run remaining): only those are checked
                // again, in their rows; the others keep their results.
                only = Some(
                    rows.iter()
                        .filter_map(|&i| self.rows.get(i))
                        .map(|r| r.path.to_path_buf())
                        .collect::<std::collections::HashSet<_>>(),
                );
            } else {
                // The whole manifests, read again: entries added or removed since show.
                let remap = self.rows.retain_remap(|r| !seen.contains(r.manifest()));
                self.table.rows_replaced();
                if let Some(run) = &mut self.run {
                    run.remap_rows(&remap);
                }
                rows.clear();
            }
        }
        let (inputs, bases): (Vec<Arc<Path>>, Bases) = if op == OpKind::Verify {
            (manifests.clone(), Bases::default())
        } else {
            rows.iter()
                .filter_map(|&i| self.rows.get(i))
                .map(|r| (r.path.clone(), r.base().cloned()))
                .unzip()
        };
        let spec = match self.settings.job_spec(inputs, bases) {
            Ok(mut s) => {
                s.only = only;
                if resume {
                    match self.settings.download.operation(true) {
                        Ok(op) => s.op = op,
                        Err(why) => {
                            self.say(why);
                            return;
                        }
                    }
                }
                s
            }
            Err(why) => {
                self.say(why);
                return;
            }
        };
        for &i in &rows {
            self.rows.update(i, |r| {
                r.state = FileState::Queued;
                r.done_bytes = 0;
                r.result = None;
                r.selected = false;
            });
        }
        let wake = repaint_waker(Arc::clone(&self.ctx));
        match Job::start(spec, Some(wake)) {
            Ok(job) => {
                let mut run = Run::new(job, op);
                run.set_input_rows(&rows);
                run.manifests = manifests;
                self.run = Some(run);
                self.running_bytes = 0;
                self.message = None;
            }
            Err(e) => self.say(format!("Cannot start: {e}")),
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
        self.frame(ui);
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
