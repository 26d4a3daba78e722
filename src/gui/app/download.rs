//! The app's download actions: adding URL rows (the Add URL dialog, a paste, a drop) and
//! resuming one cancelled or failed download row.

use std::path::PathBuf;

use super::RipcordApp;
use crate::gui::background::Purpose;
use crate::gui::download::{default_folder, urls_in};
use crate::gui::model::Row;
use crate::ops::kind::OpKind;

impl RipcordApp {
    /// Adds a row per URL and selects the Download operation (with a folder, if none yet).
    pub(super) fn add_urls(&mut self, urls: Vec<String>) {
        if urls.is_empty() {
            return;
        }
        for u in urls {
            self.rows.push_new(Row::new(PathBuf::from(u), 0, None));
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

    /// Continues row `i`'s download from the bytes a cancel or failure left, in place (the
    /// other rows keep their places and states).
    pub(super) fn resume_row(&mut self, i: usize) {
        if self.is_running() || i >= self.rows.len() {
            return;
        }
        self.start_rows_as(vec![i], true);
    }
}
