//! Work the window hands to helper threads so that it never blocks: file dialogs, finding
//! the files in added paths, writing a manifest, opening the file manager. Answers come back
//! over a channel and wake the window.

use std::fs;
use std::path::{Path, PathBuf};

use crossbeam_channel::{Receiver, Sender};

use crate::cancel::CancelToken;
use crate::output::AtomicOutput;

/// Files found per message while expanding folders.
const LIST_BATCH_FILES: usize = 2000;

/// A file found by listing: its path, size, and the base folder it was found under.
pub type Found = (PathBuf, u64, Option<PathBuf>);

/// What a dialog was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Add files to the list.
    AddFiles,
    /// Add a folder to the list.
    AddFolder,
    /// Choose the copy destination.
    CopyTo,
    /// Choose the compress/decompress output folder.
    OutDir,
    /// Choose where to save the manifest.
    SaveManifest,
    /// Choose the download folder.
    DownloadTo,
    /// Choose a PEM file of roots for downloads.
    CaFile,
}

/// A message from a helper thread.
#[derive(Debug)]
pub enum Reply {
    /// A dialog closed; `None` if the person cancelled it.
    Picked(Purpose, Option<Vec<PathBuf>>),
    /// Whether a file dialog can be shown at all on this machine.
    DialogsAvailable(bool),
    /// Files found: path, size, base folder.
    Found(Vec<Found>),
    /// One `add_paths` call has finished listing.
    ListingDone,
    /// A path that could not be added, and why.
    NotAdded(PathBuf, String),
    /// A manifest was saved (or not).
    Saved(Result<PathBuf, String>),
}

/// Sends work to helper threads and hands their replies back.
pub struct Background {
    tx: Sender<Reply>,
    rx: Receiver<Reply>,
    wake: std::sync::Arc<dyn Fn() + Send + Sync>,
    /// Cancelled by "Clear", so a long folder listing stops adding rows.
    listing: CancelToken,
}

impl Background {
    /// A new set of helpers; `wake` repaints the window when a reply arrives.
    pub fn new(wake: std::sync::Arc<dyn Fn() + Send + Sync>) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let bg = Background {
            tx,
            rx,
            wake,
            listing: CancelToken::new(),
        };
        bg.spawn(|| vec![Reply::DialogsAvailable(dialogs_available())]);
        bg
    }

    /// Replies that have arrived.
    pub fn replies(&self) -> Vec<Reply> {
        self.rx.try_iter().collect()
    }

    fn spawn(&self, f: impl FnOnce() -> Vec<Reply> + Send + 'static) {
        let tx = self.tx.clone();
        let wake = self.wake.clone();
        let spawned = std::thread::Builder::new()
            .name("ripcord-ui-helper".into())
            .spawn(move || {
                for r in f() {
                    let _ = tx.send(r);
                }
                wake();
            });
        if let Err(e) = spawned {
            let _ = self.tx.send(Reply::NotAdded(
                PathBuf::new(),
                format!("cannot start a helper thread: {e}"),
            ));
        }
    }

    /// Opens a file dialog off the UI thread.
    pub fn dialog(&self, purpose: Purpose, suggested_name: Option<String>) {
        self.spawn(move || {
            let d = rfd::FileDialog::new().set_title(match purpose {
                Purpose::AddFiles => "Add files",
                Purpose::AddFolder => "Add folder",
                Purpose::CopyTo => "Copy to folder",
                Purpose::OutDir => "Output folder",
                Purpose::SaveManifest => "Save manifest",
                Purpose::DownloadTo => "Download to folder",
                Purpose::CaFile => "Root certificates (PEM)",
            });
            let picked = match purpose {
                Purpose::AddFiles => d.pick_files(),
                Purpose::AddFolder => d.pick_folder().map(|p| vec![p]),
                Purpose::CopyTo | Purpose::OutDir | Purpose::DownloadTo => {
                    d.pick_folder().map(|p| vec![p])
                }
                Purpose::CaFile => d.pick_file().map(|p| vec![p]),
                Purpose::SaveManifest => d
                    .set_file_name(suggested_name.unwrap_or_else(|| "checksums.sha256".into()))
                    .save_file()
                    .map(|p| vec![p]),
            };
            vec![Reply::Picked(purpose, picked)]
        });
    }

    /// Finds the regular files in `paths` (walking folders, in name order) off the UI thread.
    pub fn add_paths(&self, paths: Vec<PathBuf>) {
        let token = self.listing.clone();
        let tx = self.tx.clone();
        let wake = self.wake.clone();
        self.spawn(move || {
            let mut batch = Vec::new();
            let mut replies = Vec::new();
            for p in paths {
                list(&p, &token, &mut batch, &mut replies, &mut |b| {
                    let _ = tx.send(Reply::Found(b));
                    wake();
                });
            }
            if !batch.is_empty() {
                replies.push(Reply::Found(batch));
            }
            replies.push(Reply::ListingDone);
            replies
        });
    }

    /// Stops listings under way (their remaining files are not added).
    pub fn stop_listing(&mut self) {
        self.listing.cancel(crate::cancel::Reason::User);
        self.listing = CancelToken::new();
    }

    /// Writes `body` to `path` atomically.
    pub fn save(&self, path: PathBuf, body: Vec<u8>) {
        self.spawn(move || {
            let r = (|| {
                let mut out = AtomicOutput::create(&path, true).map_err(|e| e.to_string())?;
                std::io::Write::write_all(out.file(), &body)
                    .map_err(|e| crate::error::Error::io(&path, "write", e).to_string())?;
                out.commit().map_err(|e| e.to_string())
            })();
            vec![Reply::Saved(r)]
        });
    }
}

/// Shows `path`'s folder in the file manager (without waiting for it).
pub fn reveal(path: &Path) {
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if let Ok(mut child) = std::process::Command::new("xdg-open").arg(dir).spawn() {
        // Reap the child when it ends, on a thread of its own.
        let _ = std::thread::Builder::new()
            .name("ripcord-reveal".into())
            .spawn(move || child.wait());
    }
}

fn list(
    root: &Path,
    token: &CancelToken,
    batch: &mut Vec<Found>,
    replies: &mut Vec<Reply>,
    flush: &mut dyn FnMut(Vec<Found>),
) {
    let meta = match fs::metadata(root) {
        Ok(m) => m,
        Err(e) => {
            replies.push(Reply::NotAdded(
                root.to_path_buf(),
                crate::error::describe_io(&e),
            ));
            return;
        }
    };
    if !meta.is_dir() {
        batch.push((root.to_path_buf(), meta.len(), None));
        return;
    }
    let base = root.parent().map(Path::to_path_buf);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if token.is_cancelled() {
            return;
        }
        let mut entries: Vec<_> = match fs::read_dir(&dir) {
            Ok(rd) => rd.flatten().collect(),
            Err(e) => {
                replies.push(Reply::NotAdded(dir, crate::error::describe_io(&e)));
                continue;
            }
        };
        entries.sort_by_key(|e| e.file_name());
        let mut subdirs = Vec::new();
        for e in entries {
            // Links inside folders are not followed, as in the engine's own walk.
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                subdirs.push(e.path());
            } else if ft.is_file() {
                let size = e.metadata().map_or(0, |m| m.len());
                batch.push((e.path(), size, base.clone()));
                if batch.len() >= LIST_BATCH_FILES {
                    flush(std::mem::take(batch));
                }
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
}

/// Whether rfd can show a dialog: through a desktop portal (needs a session bus) or zenity.
fn dialogs_available() -> bool {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        return true;
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join("zenity").is_file()))
}
