//! Atomic output files and the clean-up of leftovers.
//!
//! Invariant: a file under its final name is always complete. Output is written to a
//! temporary in the destination folder, flushed and synced, then linked or renamed into
//! place. On Linux the temporary is an anonymous `O_TMPFILE`, which no one can ever see and
//! which vanishes with the process, whatever kills it. Where that is not supported the
//! temporary is a hidden file named `.ripcord-PID-N-NAME.tmp`; dropping an uncommitted
//! [`AtomicOutput`] removes it, and the next run that writes to the folder removes any left
//! by a process that is gone (`kill -9`, power cut, a daemon-mode exit).
//!
//! An existing file is never replaced unless `overwrite` was asked for; without it the final
//! step is an atomic no-replace link, so even a file that appears during the job is safe.
//!
//! A discarded output is freed off the worker, on the background closer (`closer`), which
//! also drops other things slow to free ([`drop_later`], [`FreeLater`]).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::mem::ManuallyDrop;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::error::Error;

mod closer;

use closer::close_later;
pub(crate) use closer::start_closer;
pub use closer::{FreeLater, drop_later, wait_for_discards};

const TEMP_PREFIX: &str = ".ripcord-";
const TEMP_SUFFIX: &str = ".tmp";
/// How a download's resumable partial and its sidecar are named (`ops::download::partial`):
/// hidden, recognised by walks, and never swept, since a later run may continue them.
pub const DOWNLOAD_PARTIAL_PREFIX: &str = ".ripcord-dl-";
/// Longest slice of the final name kept in a temporary's name (names are limited to 255 bytes).
const TEMP_NAME_KEEP_BYTES: usize = 160;

/// Set `RIPCORD_NO_TMPFILE=1` to force named temporaries (tests use it to prove the sweep).
const NO_TMPFILE_ENV: &str = "RIPCORD_NO_TMPFILE";

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Named temporaries that exist right now, so that an immediate exit can remove them.
fn live_temporaries() -> &'static Mutex<HashSet<PathBuf>> {
    static LIVE: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

fn swept_dirs() -> &'static Mutex<HashSet<PathBuf>> {
    static SWEPT: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    SWEPT.get_or_init(Default::default)
}

enum Temp {
    /// An `O_TMPFILE`: nameless until committed.
    Anonymous,
    /// A hidden named file in the destination folder.
    Named(PathBuf),
}

/// An output file that appears under its final name whole, or not at all.
pub struct AtomicOutput {
    /// Taken out in `drop`, to be closed on the closer thread.
    file: ManuallyDrop<File>,
    temp: Temp,
    final_path: PathBuf,
    overwrite: bool,
    committed: bool,
    /// The data was synced already (by a [`crate::ops::pipe::Writer`]).
    synced: bool,
}

impl AtomicOutput {
    /// Starts an output that will become `final_path`. Fails at once, before any work, if
    /// `final_path` exists and `overwrite` is false. Also sweeps the folder of leftovers from
    /// dead processes (once per folder per process).
    pub fn create(final_path: &Path, overwrite: bool) -> Result<Self, Error> {
        let dir = parent_dir(final_path);
        match fs::symlink_metadata(final_path) {
            Ok(m) if m.is_dir() => {
                return Err(Error::invalid(
                    final_path,
                    "a folder is in the way of the output",
                ));
            }
            Ok(_) if !overwrite => {
                return Err(Error::Exists {
                    path: final_path.to_path_buf(),
                });
            }
            _ => {}
        }
        sweep_once(&dir);
        let (file, temp) = if std::env::var_os(NO_TMPFILE_ENV).is_some() {
            create_named(&dir, final_path)?
        } else {
            match crate::sys::open_anonymous(&dir) {
                Ok(f) => (f, Temp::Anonymous),
                // Not every file system has O_TMPFILE; a named temporary does the same job.
                Err(e) if crate::sys::anonymous_refused(&e) => create_named(&dir, final_path)?,
                // Named for the output it was for, so a message can say which file failed.
                Err(e) => return Err(Error::io(final_path, "create", e)),
            }
        };
        Ok(AtomicOutput {
            file: ManuallyDrop::new(file),
            temp,
            final_path: final_path.to_path_buf(),
            overwrite,
            committed: false,
            synced: false,
        })
    }

    /// The temporary file to write to (also readable, to check what was written).
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// The name the output will have once committed.
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Records that all data was written and synced, so [`AtomicOutput::commit`] need not
    /// sync again.
    pub fn mark_synced(&mut self) {
        self.synced = true;
    }

    /// Syncs the data (unless already synced) and puts the file under its final name.
    pub fn commit(mut self) -> Result<PathBuf, Error> {
        let path = self.final_path.clone();
        if !self.synced {
            self.file
                .sync_all()
                .map_err(|e| Error::io(&path, "write", e))?;
        }
        match &self.temp {
            Temp::Anonymous => self.commit_anonymous()?,
            Temp::Named(tmp) => {
                let tmp = tmp.clone();
                place(&tmp, &path, self.overwrite)?;
                forget_live(&tmp);
            }
        }
        self.committed = true;
        // The rename is only durable once the folder itself is synced; a failure here leaves
        // a complete file in place, so it is not reported as a failed output.
        if let Ok(d) = File::open(parent_dir(&path)) {
            let _ = d.sync_all();
        }
        Ok(path)
    }

    fn commit_anonymous(&self) -> Result<(), Error> {
        if !self.overwrite {
            // linkat fails with EEXIST rather than replace: the no-overwrite promise is atomic.
            return crate::sys::link_anonymous(&self.file, &self.final_path).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    Error::Exists {
                        path: self.final_path.clone(),
                    }
                } else {
                    Error::io(&self.final_path, "create", e)
                }
            });
        }
        // To replace, give the file a temporary name first, then rename it over the old one.
        let tmp = temp_name(&parent_dir(&self.final_path), &self.final_path);
        crate::sys::link_anonymous(&self.file, &tmp)
            .map_err(|e| Error::io(&self.final_path, "create", e))?;
        fs::rename(&tmp, &self.final_path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io(&self.final_path, "replace", e)
        })
    }
}

impl Drop for AtomicOutput {
    fn drop(&mut self) {
        // SAFETY: `file` is taken exactly once, here, and not touched again.
        let file = unsafe { ManuallyDrop::take(&mut self.file) };
        if self.committed {
            return;
        }
        if let Temp::Named(tmp) = &self.temp {
            let _ = fs::remove_file(tmp);
            forget_live(tmp);
        }
        // The kernel frees a discarded file's data when its last descriptor closes, which for
        // a large output takes milliseconds to tens of them. Closing it on another thread keeps
        // that off the worker, so a cancel is reported at once; the name is already gone. It
        // must be this descriptor, not a duplicate: the closer may close a duplicate first,
        // and the last close, here, would free the data after all (measured: 5–10 ms).
        close_later(file);
    }
}

fn create_named(dir: &Path, final_path: &Path) -> Result<(File, Temp), Error> {
    let tmp = temp_name(dir, final_path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o666)
        .open(&tmp)
        .map_err(|e| Error::io(final_path, "create", e))?;
    live_temporaries()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(tmp.clone());
    Ok((file, Temp::Named(tmp)))
}

/// Counts `path` among the temporaries an immediate exit removes: a download's partial that
/// is not to be kept (one to be kept is left for `--resume`).
pub(crate) fn track_temporary(path: &Path) {
    live_temporaries()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(path.to_path_buf());
}

/// Undoes [`track_temporary`].
pub(crate) fn untrack_temporary(path: &Path) {
    forget_live(path);
}

fn forget_live(tmp: &Path) {
    live_temporaries()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(tmp);
}

/// Moves `tmp` to `dest`, refusing to replace an existing `dest` unless `overwrite`.
pub(crate) fn place(tmp: &Path, dest: &Path, overwrite: bool) -> Result<(), Error> {
    if overwrite {
        return fs::rename(tmp, dest).map_err(|e| Error::io(dest, "replace", e));
    }
    match crate::sys::rename_no_replace(tmp, dest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::Exists {
            path: dest.to_path_buf(),
        }),
        Err(e) => Err(Error::io(dest, "create", e)),
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn temp_name(dir: &Path, final_path: &Path) -> PathBuf {
    // Relaxed: the counter only has to be unique, not ordered with anything.
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = final_path
        .file_name()
        .map(|n| n.as_bytes())
        .unwrap_or(b"out");
    let mut keep = name.len().min(TEMP_NAME_KEEP_BYTES);
    // Cut on a character boundary where the name is UTF-8, to keep it readable.
    if let Ok(text) = std::str::from_utf8(name) {
        while !text.is_char_boundary(keep) {
            keep -= 1;
        }
    }
    let mut s = format!("{TEMP_PREFIX}{}-{seq}-", std::process::id()).into_bytes();
    s.extend_from_slice(&name[..keep]);
    s.extend_from_slice(TEMP_SUFFIX.as_bytes());
    dir.join(OsString::from_vec(s))
}

/// The process id that made a temporary, if `name` is one of Ripcord's temporaries.
fn temp_owner(name: &[u8]) -> Option<u32> {
    let rest = name.strip_prefix(TEMP_PREFIX.as_bytes())?;
    if !name.ends_with(TEMP_SUFFIX.as_bytes()) {
        return None;
    }
    let end = rest.iter().position(|&b| b == b'-')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// Whether a file name is one of Ripcord's temporaries (walks pass over them).
pub fn is_temporary(name: &[u8]) -> bool {
    temp_owner(name).is_some() || name.starts_with(DOWNLOAD_PARTIAL_PREFIX.as_bytes())
}

fn sweep_once(dir: &Path) {
    let key = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let first = swept_dirs()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key);
    if first {
        sweep_leftovers(dir);
    }
}

/// Removes temporaries that processes now gone left in `dir`. Returns how many were removed.
/// Errors are ignored: a leftover that cannot be removed is still never under a final name.
pub fn sweep_leftovers(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let me = std::process::id();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = temp_owner(name.as_bytes()) else {
            continue;
        };
        if pid != me && !crate::sys::process_alive(pid) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Removes this process's named temporaries right now. For an exit that does not wait for
/// the workers (second Ctrl-C, daemon mode); never blocks, so it may miss one that a worker
/// is creating at that instant, which the next run's sweep then removes.
pub fn remove_live_temporaries() {
    if let Ok(live) = live_temporaries().try_lock() {
        for tmp in live.iter() {
            let _ = fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised() {
        let t = temp_name(Path::new("/x"), Path::new("/x/some file.txt"));
        let name = t
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        assert_eq!(temp_owner(&name), Some(std::process::id()));
        assert_eq!(temp_owner(b".ripcord-12-0-a.txt"), None);
        assert_eq!(temp_owner(b"ripcord-12-0-a.tmp"), None);
        assert_eq!(temp_owner(b".ripcord-12-0-a.tmp"), Some(12));
    }

    #[test]
    fn long_names_fit() {
        let long = "é".repeat(120);
        let t = temp_name(Path::new("/x"), &Path::new("/x").join(&long));
        let len = t.file_name().map(|n| n.len()).unwrap_or(0);
        assert!(len <= 255, "{len}");
    }

    /// A discarded output's data is freed on the closer even while a helper still holds a
    /// duplicate of its descriptor, so the helper's own close later costs nothing.
    #[test]
    fn a_discarded_output_is_emptied_even_with_a_duplicate_open() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut out = AtomicOutput::create(&dir.path().join("x"), false).unwrap();
        out.file().write_all(&vec![7u8; 1 << 20]).unwrap();
        let dup = out.file().try_clone().unwrap();
        drop(out);
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while dup.metadata().unwrap().len() != 0 {
            assert!(std::time::Instant::now() < end, "never emptied");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
