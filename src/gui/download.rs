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
        let ca = self.cacert.trim();
        opts.cacert = (!ca.is_empty()).then(|| PathBuf::from(ca));
        Ok(Operation::Download {
            opts,
            checks: Vec::new(),
        })
    }
}

/// The options row of the Download operation.
pub fn options(ui: &mut Ui, s: &mut DownloadSettings) {
    ui.label("Save to:");
    ui.add(
        egui::TextEdit::singleline(&mut s.to)
            .hint_text("folder")
            .desired_width(220.0),
    );
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
