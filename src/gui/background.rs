//! Work the window hands to helper threads so that it never blocks: file dialogs, finding
//! the files in added paths, writing a manifest, opening the file manager. Answers come back
//! over a channel and wake the window.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender};

use crate::cancel::CancelToken;
use crate::output::AtomicOutput;
use crate::walk::{Entry, Walk};

/// Files found per message while expanding folders.
const LIST_BATCH_FILES: usize = 2000;

/// Batches of found files handed over and not yet taken by the window: the listing waits
/// past this, so a window that falls behind (a busy machine) never holds a million found
/// files twice, once in the channel and once as rows.
const BATCHES_IN_FLIGHT: usize = 16;

/// A file found by listing: its path, size, and the base folder it was found under (shared
/// by every file of that folder).
pub type Found = (Arc<Path>, u64, Option<Arc<Path>>);

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
    /// Choose where to save the CSV report.
    SaveReport,
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
    /// Something in an added folder that is not listed (a link, a fifo), and why.
    Skipped(PathBuf, &'static str),
    /// A manifest or report was saved (or not).
    Saved(Purpose, Result<PathBuf, String>),
    /// A folder was created (or not), for the job waiting on it.
    Created(Result<PathBuf, String>),
    /// Something to tell the person (the file manager could not be opened…).
    Note(String),
}

/// Sends work to helper threads and hands their replies back.
pub struct Background {
    tx: Sender<Reply>,
    rx: Receiver<Reply>,
    wake: Arc<dyn Fn() + Send + Sync>,
    /// Cancelled by "Clear", so a long folder listing stops adding rows.
    listing: CancelToken,
    /// Batches of found files sent and not yet taken.
    in_flight: Arc<AtomicUsize>,
}

impl Background {
    /// A new set of helpers; `wake` repaints the window when a reply arrives.
    pub fn new(wake: Arc<dyn Fn() + Send + Sync>) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let bg = Background {
            tx,
            rx,
            wake,
            listing: CancelToken::new(),
            in_flight: Arc::default(),
        };
        bg.spawn(|| vec![Reply::DialogsAvailable(dialogs_available())]);
        bg
    }

    /// Replies that have arrived.
    pub fn replies(&self) -> Vec<Reply> {
        let replies: Vec<Reply> = self.rx.try_iter().collect();
        let found = replies
            .iter()
            .filter(|r| matches!(r, Reply::Found(_)))
            .count();
        // AcqRel: pairs with the lister's Acquire load, so a slot it sees free is free.
        self.in_flight.fetch_sub(found, Ordering::AcqRel);
        replies
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

    /// Opens a file dialog off the UI thread, in `folder` if given.
    pub fn dialog(
        &self,
        purpose: Purpose,
        suggested_name: Option<String>,
        folder: Option<PathBuf>,
    ) {
        self.spawn(move || {
            let d = rfd::FileDialog::new().set_title(match purpose {
                Purpose::AddFiles => "Add files",
                Purpose::AddFolder => "Add folder",
                Purpose::CopyTo => "Copy to folder",
                Purpose::OutDir => "Output folder",
                Purpose::SaveManifest => "Save manifest",
                Purpose::SaveReport => "Save report",
                Purpose::DownloadTo => "Download to folder",
                Purpose::CaFile => "Root certificates (PEM)",
            });
            let d = match &folder {
                Some(f) => d.set_directory(f),
                None => d,
            };
            let picked = match purpose {
                Purpose::AddFiles => d.pick_files(),
                Purpose::AddFolder => d.pick_folder().map(|p| vec![p]),
                Purpose::CopyTo | Purpose::OutDir | Purpose::DownloadTo => {
                    d.pick_folder().map(|p| vec![p])
                }
                Purpose::CaFile => d.pick_file().map(|p| vec![p]),
                Purpose::SaveManifest | Purpose::SaveReport => d
                    .set_file_name(suggested_name.unwrap_or_else(|| "checksums.sha256".into()))
                    .save_file()
                    .map(|p| vec![p]),
            };
            vec![Reply::Picked(purpose, picked)]
        });
    }

    /// Finds the regular files in `paths` (walking folders with the engine's walker, in name
    /// order) off the UI thread, handing them over in batches as they are found; `found`
    /// counts them for the "Listing… N files" line.
    pub fn add_paths(&self, paths: Vec<PathBuf>, found: Arc<AtomicUsize>) {
        let token = self.listing.clone();
        let tx = self.tx.clone();
        let wake = self.wake.clone();
        let in_flight = Arc::clone(&self.in_flight);
        self.spawn(move || {
            let mut send = |r| {
                let _ = tx.send(r);
                wake();
            };
            let mut lister = Lister {
                token: &token,
                batch: Vec::new(),
                found: &found,
                in_flight: &in_flight,
                send: &mut send,
            };
            for p in paths {
                lister.list(&p);
            }
            lister.flush();
            vec![Reply::ListingDone]
        });
    }

    /// Stops listings under way (their remaining files are not added).
    pub fn stop_listing(&mut self) {
        self.listing.cancel(crate::cancel::Reason::User);
        self.listing = CancelToken::new();
    }

    /// Writes `body` to `path` atomically.
    pub fn save(&self, purpose: Purpose, path: PathBuf, body: Vec<u8>) {
        self.spawn(move || {
            let r = (|| {
                let mut out = AtomicOutput::create(&path, true).map_err(|e| e.to_string())?;
                std::io::Write::write_all(out.file(), &body)
                    .map_err(|e| crate::error::Error::io(&path, "write", e).to_string())?;
                out.commit().map_err(|e| e.to_string())
            })();
            vec![Reply::Saved(purpose, r)]
        });
    }

    /// Creates the folder `dir` (and its parents).
    pub fn create_folder(&self, dir: PathBuf) {
        self.spawn(move || {
            let r = fs::create_dir_all(&dir).map(|()| dir.clone()).map_err(|e| {
                format!(
                    "{}: cannot create folder: {}",
                    dir.display(),
                    crate::error::describe_io(&e)
                )
            });
            vec![Reply::Created(r)]
        });
    }

    /// Shows `path`'s folder in the file manager; says so when there is none to open it.
    pub fn reveal(&self, path: &Path) {
        let dir = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        self.spawn(move || show_folder("xdg-open", &dir));
    }
}

/// Opens `dir` with `opener` (the desktop's `xdg-open`), waiting for it; a note when there
/// is no opener or it found no file manager, so "Show" never does nothing without a word.
fn show_folder(opener: &str, dir: &Path) -> Vec<Reply> {
    match std::process::Command::new(opener)
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(mut child) => match child.wait() {
            Ok(status) if status.success() => Vec::new(),
            _ => vec![Reply::Note(format!(
                "No file manager could show {} ({opener} found none).",
                dir.display()
            ))],
        },
        Err(e) => vec![Reply::Note(format!(
            "No file manager to show {}: {opener}: {}",
            dir.display(),
            crate::error::describe_io(&e)
        ))],
    }
}

/// One listing: the walker's entries turned into batches of rows and notes.
struct Lister<'a> {
    token: &'a CancelToken,
    batch: Vec<Found>,
    found: &'a AtomicUsize,
    in_flight: &'a AtomicUsize,
    send: &'a mut dyn FnMut(Reply),
}

impl Lister<'_> {
    fn push(&mut self, found: Found) {
        self.batch.push(found);
        // Relaxed: a display counter, read by the UI thread for the "Listing…" line.
        self.found.fetch_add(1, Ordering::Relaxed);
        if self.batch.len() >= LIST_BATCH_FILES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        // Acquire: pairs with the window's AcqRel decrement when it takes a batch. The wait
        // is on the listing's token, so Clear or "Cancel listing" ends it at once.
        while self.in_flight.load(Ordering::Acquire) >= BATCHES_IN_FLIGHT {
            if self
                .token
                .wait_timeout(std::time::Duration::from_millis(2))
                .is_err()
            {
                return;
            }
        }
        // AcqRel: as above; counted before the send, so the window never takes more than
        // was counted.
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        (self.send)(Reply::Found(std::mem::take(&mut self.batch)));
    }

    fn list(&mut self, root: &Path) {
        let meta = match fs::metadata(root) {
            Ok(m) => m,
            Err(e) => {
                let why = crate::error::describe_io(&e);
                return (self.send)(Reply::NotAdded(root.to_path_buf(), why));
            }
        };
        if !meta.is_dir() {
            return self.push((Arc::from(root), meta.len(), None));
        }
        let base: Option<Arc<Path>> = root.parent().map(Arc::from);
        for entry in Walk::new(root, self.token, crate::walk::Options::default()) {
            match entry {
                Entry::Folder(_) => {}
                Entry::File { path, size } => self.push((path, size, base.clone())),
                Entry::Skipped { path, note } => (self.send)(Reply::Skipped(path, note)),
                Entry::Error(e) => {
                    let path = e.path().to_path_buf();
                    (self.send)(Reply::NotAdded(path, e.reason()));
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn note(replies: Vec<Reply>) -> Option<String> {
        match replies.as_slice() {
            [Reply::Note(n)] => Some(n.clone()),
            _ => None,
        }
    }

    /// "Show" on a machine without a file manager says so, naming the folder.
    #[test]
    fn show_without_a_file_manager_says_so() {
        let dir = Path::new("/some/folder");
        let missing = note(show_folder("ripcord-test-no-such-opener", dir));
        assert!(
            missing.as_deref().is_some_and(|n| n
                .starts_with("No file manager to show /some/folder: ripcord-test-no-such-opener:")),
            "{missing:?}"
        );
        // An opener that runs but finds no file manager (xdg-open exits non-zero then).
        let failed = note(show_folder("false", dir));
        assert_eq!(
            failed.as_deref(),
            Some("No file manager could show /some/folder (false found none).")
        );
        assert!(note(show_folder("true", dir)).is_none());
    }
}
