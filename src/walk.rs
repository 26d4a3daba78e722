//! The one folder walker, shared by the engine (a job's inputs) and the window (listing what
//! the person added), so both find the same files and say the same about the rest.
//!
//! Depth-first in name order, so results come in a stable order. Ripcord's own temporaries
//! are left out; links are followed only when asked (then a folder reached twice is entered
//! once); fifos, sockets and devices are skipped with a note; a folder to stay out of (the
//! job's output folder) is never entered. The token is checked per entry, so a folder of a
//! million names does not hold a cancel up.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cancel::CancelToken;
use crate::error::Error;

/// How to walk.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Follow symbolic links met inside folders.
    pub follow_symlinks: bool,
    /// A folder (device, inode) never entered: the job's output folder.
    pub avoid: Option<(u64, u64)>,
    /// Take no `lstat` of a regular file (its folder entry says what it is): files come
    /// with size 0. For callers that learn sizes when they open the files and show none
    /// before: the `lstat` looks the name up in the kernel once more, and for a million
    /// small files that lookup was as costly as the whole rest of a walk.
    pub skip_sizes: bool,
}

/// One thing the walk met.
#[derive(Debug)]
pub enum Entry {
    /// A folder about to be read (for "listing …" displays); shared, as the walk holds it.
    Folder(Arc<Path>),
    /// A regular file and its size.
    File {
        /// The file. Shared: the engine's events and task, and the window's row, hold this
        /// one allocation instead of copying it (a million of them in a big folder).
        path: Arc<Path>,
        /// Its size in bytes.
        size: u64,
    },
    /// Something that is not processed, and why.
    Skipped {
        /// The entry.
        path: PathBuf,
        /// Why, as a note ("symbolic link not followed …").
        note: &'static str,
    },
    /// An entry or folder that could not be read.
    Error(Error),
}

/// A walk of one folder; an iterator of [`Entry`]. Ends early, without an entry, once the
/// token is cancelled.
pub struct Walk<'t> {
    token: &'t CancelToken,
    opts: Options,
    /// Folders still to read, the next on top.
    stack: Vec<Arc<Path>>,
    /// The entries of the folder being read.
    current: std::vec::IntoIter<Listed>,
    /// Its subfolders, entered after its files, in name order.
    subdirs: Vec<Arc<Path>>,
    /// Folders entered through followed links, to stop cycles.
    visited: HashSet<(u64, u64)>,
}

impl<'t> Walk<'t> {
    /// A walk of the folder `root` (not itself reported as an entry).
    pub fn new(root: &Path, token: &'t CancelToken, opts: Options) -> Self {
        let mut visited = HashSet::new();
        if opts.follow_symlinks
            && let Ok(m) = fs::metadata(root)
        {
            visited.insert((m.dev(), m.ino()));
        }
        Walk {
            token,
            opts,
            stack: vec![Arc::from(root)],
            current: Vec::new().into_iter(),
            subdirs: Vec::new(),
            visited,
        }
    }

    /// What the walk makes of one entry of a folder; `None` when it is a subfolder (queued)
    /// or something left out without a word (a temporary, the avoided folder, a cycle).
    fn entry(&mut self, listed: Listed) -> Option<Entry> {
        let Listed { path, entry, meta } = listed;
        if path
            .file_name()
            .is_some_and(|n| crate::output::is_temporary(n.as_encoded_bytes()))
        {
            return None;
        }
        let ft = match entry.file_type() {
            Ok(ft) => ft,
            Err(e) => return Some(Entry::Error(Error::io(&*path, "open", e))),
        };
        if self.opts.skip_sizes && ft.is_file() {
            return Some(Entry::File { path, size: 0 });
        }
        let meta = if ft.is_symlink() {
            if !self.opts.follow_symlinks {
                return Some(Entry::Skipped {
                    path: path.to_path_buf(),
                    note: "symbolic link not followed (use --follow-symlinks)",
                });
            }
            fs::metadata(&path).map_err(|e| Error::io(&*path, "follow link", e))
        } else if ft.is_dir() {
            // A folder needs its identity only to be avoided or to stop a cycle.
            if self.opts.avoid.is_none() && !self.opts.follow_symlinks {
                self.subdirs.push(path);
                return None;
            }
            entry.metadata().map_err(|e| Error::io(&*path, "open", e))
        } else {
            match meta {
                Some(m) => m.map_err(|e| Error::io(&*path, "open", e)),
                None => entry.metadata().map_err(|e| Error::io(&*path, "open", e)),
            }
        };
        let meta = match meta {
            Ok(m) => m,
            Err(e) => return Some(Entry::Error(e)),
        };
        let key = (meta.dev(), meta.ino());
        if meta.is_dir() {
            let cycle = self.opts.follow_symlinks && !self.visited.insert(key);
            if Some(key) != self.opts.avoid && !cycle {
                self.subdirs.push(path);
            }
            None
        } else if meta.is_file() {
            Some(Entry::File {
                path,
                size: meta.len(),
            })
        } else {
            Some(Entry::Skipped {
                path: path.to_path_buf(),
                note: special_note(&meta.file_type()),
            })
        }
    }
}

impl Iterator for Walk<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            if self.token.is_cancelled() {
                return None;
            }
            if let Some(listed) = self.current.next() {
                if let Some(e) = self.entry(listed) {
                    return Some(e);
                }
                continue;
            }
            // Reverse, so that the stack pops folders in name order.
            self.stack.extend(self.subdirs.drain(..).rev());
            let dir = self.stack.pop()?;
            match read_sorted(&dir, self.token, !self.opts.skip_sizes) {
                Ok(entries) => self.current = entries.into_iter(),
                Err(e) => return Some(Entry::Error(Error::io(&*dir, "read folder", e))),
            }
            return Some(Entry::Folder(dir));
        }
    }
}

/// An entry of a folder, with its `lstat` when it was taken ahead.
struct Listed {
    path: Arc<Path>,
    entry: fs::DirEntry,
    meta: Option<std::io::Result<fs::Metadata>>,
}

/// Entries per piece of a folder whose `lstat`s are taken on the pool at once.
const STAT_PIECE: usize = 128;

/// A folder's entries in name order, each file's `lstat` taken ahead (with `stat`). Stops
/// early (with what it has) on a cancel, checked per entry.
///
/// The `lstat`s are relative to the open folder (`fstatat`, not by the whole path again),
/// and a big folder's are split over the rayon pool: with a million small files, looking the
/// names up in the kernel was most of the walk, and it is CPU work that two cores halve.
fn read_sorted(dir: &Path, token: &CancelToken, stat: bool) -> std::io::Result<Vec<Listed>> {
    let mut v = Vec::new();
    let mut scratch = Vec::new();
    for entry in fs::read_dir(dir)? {
        if token.is_cancelled() {
            break;
        }
        let entry = entry?;
        v.push(Listed {
            path: joined(&mut scratch, dir, &entry.file_name()),
            entry,
            meta: None,
        });
    }
    // Every path here is the same folder, a `/`, then a name: comparing the paths' bytes
    // orders the names (comparing paths component by component, or taking each name out
    // again, cost more than the rest of the sort).
    v.sort_unstable_by(|a, b| {
        a.path
            .as_os_str()
            .as_encoded_bytes()
            .cmp(b.path.as_os_str().as_encoded_bytes())
    });
    if stat {
        stat_ahead(&mut v, token);
    }
    Ok(v)
}

/// `dir/name` as `Path::join` makes it, in one allocation of exactly its size (built in
/// `scratch`, reused): a listed path is kept for as long as its row, a million of them in
/// a big listing, and shared from there by the jobs that run it.
fn joined(scratch: &mut Vec<u8>, dir: &Path, name: &std::ffi::OsStr) -> Arc<Path> {
    use std::os::unix::ffi::OsStrExt;
    let d = dir.as_os_str().as_bytes();
    scratch.clear();
    scratch.extend_from_slice(d);
    if !d.is_empty() && !d.ends_with(b"/") {
        scratch.push(b'/');
    }
    scratch.extend_from_slice(name.as_bytes());
    Arc::from(Path::new(std::ffi::OsStr::from_bytes(scratch)))
}

/// Takes the `lstat` of every entry that is neither a link nor a folder, in parallel pieces.
fn stat_ahead(v: &mut [Listed], token: &CancelToken) {
    if v.len() <= STAT_PIECE {
        for l in v {
            if token.is_cancelled() {
                return;
            }
            let plain = l
                .entry
                .file_type()
                .is_ok_and(|ft| !ft.is_symlink() && !ft.is_dir());
            if plain {
                l.meta = Some(l.entry.metadata());
            }
        }
        return;
    }
    let (a, b) = v.split_at_mut(v.len() / 2);
    rayon_core::join(|| stat_ahead(a, token), || stat_ahead(b, token));
}

/// Why a file that is not regular is left out.
pub fn special_note(ft: &fs::FileType) -> &'static str {
    if ft.is_fifo() {
        "not a regular file (fifo), skipped"
    } else if ft.is_socket() {
        "not a regular file (socket), skipped"
    } else if ft.is_block_device() || ft.is_char_device() {
        "not a regular file (device), skipped"
    } else {
        "not a regular file, skipped"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path, opts: Options) -> Vec<String> {
        let token = CancelToken::new();
        Walk::new(dir, &token, opts)
            .map(|e| match e {
                Entry::Folder(p) => format!("D {}", rel(dir, &p)),
                Entry::File { path, size } => format!("F {} {size}", rel(dir, &path)),
                Entry::Skipped { path, .. } => format!("S {}", rel(dir, &path)),
                Entry::Error(e) => format!("E {e}"),
            })
            .collect()
    }

    fn rel(root: &Path, p: &Path) -> String {
        p.strip_prefix(root).unwrap_or(p).display().to_string()
    }

    #[test]
    fn files_in_name_order_temporaries_out_links_noted_cycles_cut() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("b/c")).unwrap();
        fs::write(r.join("b/c/z"), b"zz").unwrap();
        fs::write(r.join("b/y"), b"y").unwrap();
        fs::write(r.join("a"), b"aaa").unwrap();
        fs::write(r.join(".ripcord-123-0-a.tmp"), b"t").unwrap();
        std::os::unix::fs::symlink(r, r.join("b/loop")).unwrap();
        let plain = names(r, Options::default());
        assert_eq!(
            plain,
            [
                "D ",
                "F a 3",
                "D b",
                "S b/loop",
                "F b/y 1",
                "D b/c",
                "F b/c/z 2"
            ],
            "{plain:?}"
        );
        let followed = names(
            r,
            Options {
                follow_symlinks: true,
                ..Options::default()
            },
        );
        // The link leads back to the root, already entered: no second walk of it.
        assert_eq!(
            followed,
            ["D ", "F a 3", "D b", "F b/y 1", "D b/c", "F b/c/z 2"]
        );
        let m = fs::metadata(r.join("b")).unwrap();
        let avoided = names(
            r,
            Options {
                avoid: Some((m.dev(), m.ino())),
                ..Options::default()
            },
        );
        assert_eq!(avoided, ["D ", "F a 3"]);
        // Without sizes: the same files, size 0; links, temporaries and fifos as before.
        let made = std::process::Command::new("mkfifo")
            .arg(r.join("b/fifo"))
            .status()
            .unwrap();
        assert!(made.success());
        let sizeless = names(
            r,
            Options {
                skip_sizes: true,
                ..Options::default()
            },
        );
        assert_eq!(
            sizeless,
            [
                "D ",
                "F a 0",
                "D b",
                "S b/fifo",
                "S b/loop",
                "F b/y 0",
                "D b/c",
                "F b/c/z 0"
            ],
        );
    }

    /// The one-allocation join is `Path::join`.
    #[test]
    fn joined_is_path_join_exactly_sized() {
        for (d, n) in [
            ("a", "b"),
            ("a/", "b"),
            ("/", "b"),
            ("", "b"),
            ("/x/y", "z z"),
        ] {
            let j = joined(&mut Vec::new(), Path::new(d), std::ffi::OsStr::new(n));
            assert_eq!(&*j, Path::new(d).join(n), "{d:?} {n:?}");
        }
    }

    #[test]
    fn a_cancel_ends_the_walk_at_the_next_entry() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..10 {
            fs::write(d.path().join(format!("{i}")), b"x").unwrap();
        }
        let token = CancelToken::new();
        let mut w = Walk::new(d.path(), &token, Options::default());
        assert!(matches!(w.next(), Some(Entry::Folder(_))));
        assert!(matches!(w.next(), Some(Entry::File { .. })));
        token.cancel(crate::cancel::Reason::User);
        assert!(w.next().is_none());
    }
}
