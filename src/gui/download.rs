//! The window's side of downloads: their settings (folder, keep partial, CA file), the
//! options row, and telling a URL from a path in what is pasted, dropped or typed.

use std::path::PathBuf;

use egui::Ui;
use serde::{Deserialize, Serialize};

use crate::engine::Operation;
use crate::ops::download::{Options, is_url};

/// Download settings remembered between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DownloadSettings {
    /// The destination folder, as typed.
    pub to: String,
    /// Keep what a cancelled or failed download got, so Resume can continue it.
    pub keep_partial: bool,
    /// A PEM file of roots to trust instead of the system's (empty: the system's).
    pub cacert: String,
}

impl DownloadSettings {
    /// The download operation, or why it cannot run yet. `resume` continues partials.
    pub fn operation(&self, resume: bool) -> Result<Operation, &'static str> {
        let to = self.to.trim();
        if to.is_empty() {
            return Err("Type the folder downloads go to first.");
        }
        let mut opts = Options::new(PathBuf::from(to));
        opts.keep_partial = self.keep_partial;
        opts.resume = resume;
        opts.unique_name = true;
        let ca = self.cacert.trim();
        opts.cacert = (!ca.is_empty()).then(|| PathBuf::from(ca));
        Ok(Operation::Download {
            opts,
            checks: Vec::new(),
        })
    }
}

/// The options row of the Download operation.
pub fn options(ui: &mut Ui, s: &mut DownloadSettings, actions: &mut Vec<super::Action>) {
    ui.label("Save to:");
    ui.add(
        egui::TextEdit::singleline(&mut s.to)
            .hint_text("folder")
            .desired_width(220.0),
    );
    if ui.button("Choose…").clicked() {
        actions.push(super::Action::PickDownloadTo);
    }
    ui.checkbox(&mut s.keep_partial, "Keep partial")
        .on_hover_text("A cancelled or failed download keeps what it got; Resume continues it.");
    ui.label("CA file:");
    ui.add(
        egui::TextEdit::singleline(&mut s.cacert)
            .hint_text("system certificates")
            .desired_width(160.0),
    )
    .on_hover_text(
        "A PEM file of root certificates to trust instead of the system's (as curl --cacert).",
    );
    if ui.button("Choose CA file…").clicked() {
        actions.push(super::Action::PickCaFile);
    }
}

/// Where downloads go until the person types a folder: the XDG download folder, else
/// `~/Downloads`, else the current folder.
pub fn default_folder() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DOWNLOAD_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    match std::env::var_os("HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h).join("Downloads"),
        _ => PathBuf::from("."),
    }
}

/// Whether a row offers Resume: a download that was cancelled or failed.
pub fn offers_resume(row: &super::model::Row) -> bool {
    use super::model::FileState;
    matches!(row.state, FileState::Cancelled(_) | FileState::Failed(_))
        && is_url(&row.path.to_string_lossy())
}

/// The "Add URL" dialog while `text` is `Some`: one URL a line. Returns the URLs when the
/// person clicks Add; Add stays disabled until every line is a URL.
pub fn add_url_window(ctx: &egui::Context, text: &mut Option<String>) -> Option<Vec<String>> {
    let mut open = text.is_some();
    let mut added = None;
    let mut close = false;
    let buf = text.as_mut()?;
    egui::Window::new("Add URL")
        .open(&mut open)
        .collapsible(false)
        .resizable(true)
        .show(ctx, |ui| {
            ui.label("One http:// or https:// URL a line:");
            ui.add(
                egui::TextEdit::multiline(buf)
                    .hint_text("https://example.com/file.iso")
                    .desired_rows(3)
                    .desired_width(420.0),
            );
            let urls = urls_in(buf);
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(urls.is_some(), egui::Button::new("Add download"))
                    .clicked()
                {
                    added = urls;
                    close = true;
                }
                if ui.button("Cancel").clicked() {
                    close = true;
                }
            });
        });
    if close || !open {
        *text = None;
    }
    added
}

/// The URLs in `text` (one a line, as pasted or dropped), if every non-empty line is one.
pub fn urls_in(text: &str) -> Option<Vec<String>> {
    let urls: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    (!urls.is_empty() && urls.iter().all(|u| is_url(u))).then_some(urls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_urls_are_told_from_paths() {
        assert_eq!(
            urls_in(" http://a/b \n\nhttps://c/d\n"),
            Some(vec!["http://a/b".to_string(), "https://c/d".to_string()])
        );
        assert_eq!(urls_in("/home/me/file"), None);
        assert_eq!(urls_in("http://a/b\n/etc/x"), None);
        assert_eq!(urls_in(""), None);
    }
}
