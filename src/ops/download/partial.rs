//! A download's bytes before they are whole: a hidden file in the destination folder,
//! `.ripcord-dl-KEY.part`, beside a sidecar `.ripcord-dl-KEY.json` saying which URL they
//! are from, which version of it (ETag or Last-Modified) and how long it is. KEY is derived
//! from the URL, so a later run for the same URL and folder finds them (after a cancel with
//! keep-partial, a failure, or `kill -9`).
//!
//! Invariants: the partial is never under the final name; it is only continued when the
//! sidecar names the same URL and a validator the server can confirm (`If-Range`), else it
//! starts from zero; the sidecar is replaced by rename, so it is whole or absent. An
//! exclusive `flock` on the partial keeps two downloads (two processes, or a new attempt
//! and an old one) from writing the same bytes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::output::DOWNLOAD_PARTIAL_PREFIX;

/// What the sidecar records.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sidecar {
    /// The URL asked for (before redirects): the key's source, checked on resume.
    pub url: String,
    /// The strong ETag of the version being fetched.
    #[serde(default)]
    pub etag: Option<String>,
    /// Its `Last-Modified`, used when there is no strong ETag.
    #[serde(default)]
    pub last_modified: Option<String>,
    /// The whole body's length, when the server said it.
    #[serde(default)]
    pub length: Option<u64>,
}

impl Sidecar {
    /// The `If-Range` value that proves the server still has the same version, if any.
    pub fn validator(&self) -> Option<&str> {
        match (&self.etag, &self.last_modified) {
            (Some(e), _) if !e.starts_with("W/") => Some(e),
            (_, Some(lm)) => Some(lm),
            _ => None,
        }
    }
}

/// An open, locked partial and its sidecar.
pub struct Partial {
    /// The partial's data, opened for reading and writing.
    pub file: File,
    /// The partial's path.
    pub path: PathBuf,
    sidecar_path: PathBuf,
    /// What the sidecar says now (`None`: no sidecar, nothing to resume).
    pub sidecar: Option<Sidecar>,
    /// Bytes in the partial.
    pub have: u64,
    /// Removed by an immediate exit (second Ctrl-C, daemon mode), as other temporaries.
    tracked: bool,
}

/// The key of `url`: 16 hex digits of its SHA-256.
fn key(url: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, url.as_bytes());
    crate::ops::hash::to_hex(&d.as_ref()[..8])
}

/// The partial's path for `url` in `dir` (its sidecar is the same with `.json`).
pub fn partial_path(dir: &Path, url: &str) -> PathBuf {
    dir.join(format!("{DOWNLOAD_PARTIAL_PREFIX}{}.part", key(url)))
}

fn sidecar_path(dir: &Path, url: &str) -> PathBuf {
    dir.join(format!("{DOWNLOAD_PARTIAL_PREFIX}{}.json", key(url)))
}

impl Partial {
    /// Opens (creating it if needed) and locks the partial for `url` in `dir`. With `resume`
    /// the bytes there are kept if the sidecar is for this URL; otherwise they are dropped.
    /// Unless `keep`, an immediate exit removes the partial like any temporary.
    pub fn open(dir: &Path, url: &str, resume: bool, keep: bool) -> Result<Partial, Error> {
        let path = partial_path(dir, url);
        let sidecar_path = sidecar_path(dir, url);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .map_err(|e| Error::io(&path, "create", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::invalid(
                    url,
                    format!(
                        "another download of this URL into {} is running",
                        dir.display()
                    ),
                ));
            }
            // A file system without locks: go on unprotected rather than refuse to work.
            Err(_) => {}
        }
        let mut p = Partial {
            file,
            path,
            sidecar_path,
            sidecar: None,
            have: 0,
            tracked: !keep,
        };
        if p.tracked {
            crate::output::track_temporary(&p.path);
            crate::output::track_temporary(&p.sidecar_path);
        }
        let sidecar = if resume { p.read_sidecar() } else { None };
        match sidecar.filter(|s| s.url == url && s.validator().is_some()) {
            Some(s) => {
                let len = p
                    .file
                    .metadata()
                    .map_err(|e| Error::io(&p.path, "read", e))?
                    .len();
                if s.length.is_some_and(|total| len > total) {
                    p.restart()?;
                } else {
                    p.have = len;
                    p.sidecar = Some(s);
                }
            }
            None => p.restart()?,
        }
        Ok(p)
    }

    fn read_sidecar(&self) -> Option<Sidecar> {
        let text = fs::read(&self.sidecar_path).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Drops every byte and the sidecar: the next request starts from zero.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.file
            .set_len(0)
            .and_then(|()| self.file.seek(SeekFrom::Start(0)).map(drop))
            .map_err(|e| Error::io(&self.path, "write", e))?;
        self.have = 0;
        self.sidecar = None;
        match fs::remove_file(&self.sidecar_path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::io(&self.sidecar_path, "remove", e))
            }
            _ => Ok(()),
        }
    }

    /// Positions the file at the end of what it has, for appending.
    pub fn seek_to_end(&mut self) -> Result<(), Error> {
        self.file
            .seek(SeekFrom::Start(self.have))
            .map(drop)
            .map_err(|e| Error::io(&self.path, "write", e))
    }

    /// Records `s` in the sidecar, replacing it whole (written beside, then renamed).
    pub fn save_sidecar(&mut self, s: Sidecar) -> Result<(), Error> {
        let mut tmp = self.sidecar_path.clone().into_os_string();
        tmp.push(".new");
        let tmp = PathBuf::from(tmp);
        let text = serde_json::to_vec(&s).map_err(|e| Error::invalid(&tmp, e.to_string()))?;
        File::create(&tmp)
            .and_then(|mut f| f.write_all(&text))
            .and_then(|()| fs::rename(&tmp, &self.sidecar_path))
            .map_err(|e| {
                let _ = fs::remove_file(&tmp);
                Error::io(&self.sidecar_path, "write", e)
            })?;
        self.sidecar = Some(s);
        Ok(())
    }

    /// Removes the sidecar once the partial has its final name.
    pub fn forget_sidecar(&self) {
        // A leftover sidecar without its partial is ignored by every later run.
        let _ = fs::remove_file(&self.sidecar_path);
        self.untrack();
    }

    fn untrack(&self) {
        if self.tracked {
            crate::output::untrack_temporary(&self.path);
            crate::output::untrack_temporary(&self.sidecar_path);
        }
    }

    /// Removes the partial and its sidecar; the data is freed off this thread (it may be
    /// gigabytes, and the last close frees it).
    pub fn discard(self) {
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_file(&self.sidecar_path);
        self.untrack();
        crate::output::drop_later(Box::new(self.file));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_only_for_the_same_url_with_a_validator() {
        let dir = tempfile::tempdir().unwrap();
        let url = "http://127.0.0.1:1/a";
        let mut p = Partial::open(dir.path(), url, false, true).unwrap();
        p.file.write_all(b"hello").unwrap();
        p.save_sidecar(Sidecar {
            url: url.into(),
            etag: Some("\"v1\"".into()),
            last_modified: None,
            length: Some(10),
        })
        .unwrap();
        drop(p);
        let p = Partial::open(dir.path(), url, true, true).unwrap();
        assert_eq!(p.have, 5);
        assert_eq!(
            p.sidecar.as_ref().and_then(|s| s.validator()),
            Some("\"v1\"")
        );
        drop(p);
        // Without --resume the bytes go.
        let p = Partial::open(dir.path(), url, false, true).unwrap();
        assert_eq!(p.have, 0);
        assert!(p.sidecar.is_none());
    }

    #[test]
    fn a_weak_etag_is_no_validator() {
        let s = Sidecar {
            etag: Some("W/\"x\"".into()),
            ..Default::default()
        };
        assert_eq!(s.validator(), None);
    }

    #[test]
    fn a_second_opener_is_refused_while_the_first_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = "http://127.0.0.1:1/b";
        let _p = Partial::open(dir.path(), url, false, true).unwrap();
        let e = Partial::open(dir.path(), url, true, true).err().unwrap();
        assert!(e.to_string().contains("another download"), "{e}");
    }
}
