//! The eframe window: the same engine as the command line, with a list of files, live
//! progress, pause, skip, cancel, and a daemon-mode exit.
//!
//! Invariant: the UI thread never touches the files it processes and never blocks — file
//! dialogs, folder listings and manifest writes run on helper threads, jobs on the engine's
//! workers. The engine wakes the window (at most ~60 times a second) while work runs;
//! with nothing running nothing repaints.

mod app;
mod background;
mod closing;
pub mod dialogs;
pub mod download;
mod log;
pub mod look;
pub mod model;
mod options;
mod results;
mod run;
mod status;
pub mod table;
mod toolbar;

use std::io::Write as _;
use std::sync::Arc;

pub use app::RipcordApp;

/// The window's title.
pub const TITLE: &str = "Ripcord";
const ICON_PNG: &[u8] = include_bytes!("../../assets/ripcord.png");

/// Something the person asked for this frame; applied in one place by the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open the "Add files" dialog.
    AddFiles,
    /// Open the "Add folder" dialog.
    AddFolder,
    /// Choose the compress/decompress output folder.
    PickOutDir,
    /// Choose the copy destination.
    PickCopyTo,
    /// Add the paths typed into the path box.
    AddTyped,
    /// Add pasted text (one path per line, `file://` URIs too; URLs become downloads).
    Paste(String),
    /// Open the "Add URL" dialog.
    AddUrl,
    /// Continue a cancelled or failed download row.
    Resume(usize),
    /// Choose the download folder.
    PickDownloadTo,
    /// Choose the downloads' CA file.
    PickCaFile,
    /// Remove the selected rows.
    RemoveSelected,
    /// Remove every row.
    Clear,
    /// Start the job over every row.
    Start,
    /// Run only the failed rows again, with the same settings.
    RetryFailed,
    /// Run the failed, cancelled and never-started rows.
    RunRemaining,
    /// Stop the folder listings under way.
    StopListing,
    /// The destination folder was missing: create it, then start.
    CreateDestination,
    /// Leave a dialog without doing anything.
    Dismiss,
    /// Close the window, dropping unsaved checksums.
    DiscardAndClose,
    /// Save the manifest, then close the window.
    SaveAndClose,
    /// Save every row as CSV.
    SaveReport,
    /// Cancel the job.
    Cancel,
    /// Pause or resume.
    TogglePause,
    /// Skip one running or queued file (a row index).
    Skip(usize),
    /// Put text on the clipboard.
    CopyText(String),
    /// Save the checksums as a manifest.
    SaveManifest,
    /// Show a row's output in the file manager.
    Reveal(usize),
    /// The throttle setting changed (applied live).
    ThrottleChanged,
    /// Close the window (Ctrl+Q).
    Quit,
    /// Exit without waiting for a worker that does not stop.
    ExitNow,
}

/// How this launch of the window starts: the paths to list and choices that hold for this
/// launch only (never remembered as settings). `main` builds it from the command line.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// The operation to select.
    pub op: Option<crate::ops::kind::OpKind>,
    /// Tick "Daemon mode".
    pub daemon: bool,
    /// Tick "Keep partial" (downloads).
    pub keep_partial: bool,
    /// Start the job at once.
    pub start: bool,
    /// Turn the throttle on at this total rate, in bytes per second.
    pub throttle: Option<u64>,
    /// Files and folders to list.
    pub paths: Vec<std::path::PathBuf>,
}

/// Opens the window and returns the exit status when it closes.
pub fn run(args: Launch) -> i32 {
    let mut viewport = egui::ViewportBuilder::default()
        .with_title(TITLE)
        .with_app_id("ripcord")
        .with_inner_size([1000.0, 640.0])
        .with_min_inner_size([640.0, 400.0])
        .with_drag_and_drop(true);
    if let Ok(icon) = eframe::icon_data::from_png_bytes(ICON_PNG) {
        viewport = viewport.with_icon(Arc::new(icon));
    }
    let options = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    let result = eframe::run_native(
        "ripcord",
        options,
        Box::new(move |cc| {
            let settings = cc
                .storage
                .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
                .unwrap_or_default();
            Ok(Box::new(RipcordApp::new(settings, args)))
        }),
    );
    match result {
        Ok(()) => 0,
        Err(e) => {
            // A failed write to stderr has nowhere else to go; it must not panic.
            let _ = writeln!(std::io::stderr(), "ripcord: cannot open the window: {e}");
            1
        }
    }
}
