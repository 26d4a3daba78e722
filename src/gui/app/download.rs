//! The app's download actions: adding URL rows (the Add URL dialog, a paste, a drop) and
//! resuming one cancelled or failed download row.

use std::path::PathBuf;

use super::RipcordApp;
use crate::engine::{Job, JobSpec};
use crate::gui::background::Purpose;
use crate::gui::download::{default_folder, urls_in};
use crate::gui::model::{FileState, Row};
use crate::gui::run::Run;
use crate::ops::kind::OpKind;

impl RipcordApp {
    /// Adds a row per URL and selects the Download operation (with a folder, if none yet).
    pub(super) fn add_urls(&mut self, urls: Vec<String>) {
        if urls.is_empty() {
            return;
        }
        for u in urls {
            let path = PathBuf::from(u);
            if !self.rows.iter().any(|r| r.path == path) {
                self.rows.push(Row::new(path, 0, None));
            }
        }
        self.settings.op = OpKind::Download;
        if self.settings.download.to.trim().is_empty() {
            self.settings.download.to = default_folder().display().to_string();
        }
    }

    /// A folder or CA file chosen in a dialog.
    pub(super) fn picked_for_download(&mut self, purpose: Purpose, picked: Option<PathBuf>) {
        let Some(p) = picked else { return };
        let shown = p.display().to_string();
        match purpose {
            Purpose::DownloadTo => self.settings.download.to = shown,
            Purpose::CaFile => self.settings.download.cacert = shown,
            _ => {}
        }
    }

    /// Pasted or dropped text: URLs become download rows, anything else is paths.
    pub(super) fn add_text(&mut self, text: &str) {
        match urls_in(text) {
            Some(urls) => self.add_urls(urls),
            None => self.add_paths(super::parse_pasted(text)),
        }
    }

    /// Continues row `i`'s download from the bytes a cancel or failure left. The row moves
    /// to the top, where the job's only file is shown; the other rows keep their states.
    pub(super) fn resume_row(&mut self, i: usize) {
        if self.is_running() || i >= self.rows.len() {
            return;
        }
        let op = match self.settings.download.operation(true) {
            Ok(op) => op,
            Err(why) => {
                self.message = Some(why.into());
                return;
            }
        };
        let row = self.rows.remove(i);
        self.rows.insert(0, row);
        let mut spec = JobSpec::new(op, vec![self.rows[0].path.clone()]);
        spec.throttle = self.settings.throttle();
        spec.deadline = self.settings.stop_after_on.then(|| {
            std::time::Duration::from_secs(u64::from(self.settings.stop_after_secs.max(1)))
        });
        if let Some(r) = self.rows.first_mut() {
            r.state = FileState::Queued;
            r.done_bytes = 0;
            r.result = None;
        }
        let wake = super::repaint_waker(std::sync::Arc::clone(&self.ctx));
        match Job::start(spec, Some(wake)) {
            Ok(job) => {
                self.run = Some(Run::new(job, OpKind::Download));
                self.message = None;
            }
            Err(e) => self.message = Some(format!("Cannot start: {e}")),
        }
    }
}
