//! The piece walker: a file handed out as pieces of up to a chunk each, slices of shared
//! mapped windows for a big regular file, bytes read into buffers otherwise.

use std::fs::File;

use super::{Window, fault_error};

/// A piece of input: a range of a shared mapped window, or bytes read into a buffer.
pub(crate) enum Piece {
    /// Part of a mapped window, shared with whoever else holds pieces of it.
    Mapped(std::sync::Arc<Window>, std::ops::Range<usize>),
    /// Bytes read from the file.
    Owned(Vec<u8>),
}

impl Piece {
    /// Whether a read of this piece's window faulted (the file shrank, or the disk failed a
    /// read): its bytes may be zeros that are not the file's. Every consumer asks this after
    /// its last read of the piece.
    pub(crate) fn faulted(&self) -> bool {
        matches!(self, Piece::Mapped(w, _) if w.truncated())
    }

    /// The piece's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Piece::Mapped(w, r) => &w.bytes()[r.clone()],
            Piece::Owned(v) => v,
        }
    }
}

/// Bytes mapped at once: unmapping a window is part of a cancel, so it stays modest.
pub(super) const WINDOW_BYTES: usize = 128 * 1024 * 1024;

/// Files at least this big are read through memory-mapped windows (no copy out of the page
/// cache); smaller ones are read, which costs less than mapping and unmapping.
pub const MAP_MIN_BYTES: u64 = 1024 * 1024;

/// A file read as pieces of up to `chunk` bytes: through mapped windows of [`WINDOW_BYTES`]
/// when the file is regular and at least [`MAP_MIN_BYTES`], with reads otherwise (and after
/// the size it had at open, so growth is seen). A file that shrank under a window fails when
/// that window is left behind.
pub(crate) struct Pieces<'a> {
    path: &'a std::path::Path,
    file: &'a mut File,
    size: u64,
    pos: u64,
    chunk: usize,
    mapping: bool,
    window: Option<(std::sync::Arc<Window>, usize)>,
}

impl<'a> Pieces<'a> {
    /// Pieces of `file` (at `path`, described by `meta` taken at open), from its start.
    pub(crate) fn new(
        path: &'a std::path::Path,
        file: &'a mut File,
        meta: &std::fs::Metadata,
        chunk: usize,
    ) -> Self {
        let size = meta.len();
        Pieces {
            path,
            file,
            size,
            pos: 0,
            chunk,
            mapping: meta.is_file() && size >= MAP_MIN_BYTES,
            window: None,
        }
    }

    /// Whether the file is being read through mapped windows (so far).
    pub(crate) fn maps(&self) -> bool {
        self.mapping
    }

    /// Bytes handed out so far.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// The error for a window whose read faulted: the file changed size, or, if its size is
    /// what it was, the disk failed the read (an I/O error, as a plain read would report).
    pub(crate) fn fault(&self) -> crate::error::Error {
        let now = self.file.metadata().map_or(0, |m| m.len());
        fault_error(self.path, self.size, now)
    }

    /// Gives up the current window, unmapping it on the background dropper.
    fn release_window(&mut self) {
        if let Some((w, _)) = self.window.take() {
            crate::output::drop_later(Box::new(w));
        }
    }

    /// The next piece from a mapped window, or `None` once mapping is over (the end of the
    /// size at open, a window that cannot be mapped, or a file not mapped at all); the file
    /// is then positioned at [`Pieces::pos`] for reading the rest.
    pub(crate) fn next_mapped(&mut self) -> Result<Option<Piece>, crate::error::Error> {
        use crate::error::Error;
        use std::io::{Seek, SeekFrom};
        while self.mapping {
            if let Some((w, used)) = &mut self.window {
                let len = w.bytes().len();
                if *used < len {
                    let end = (*used + self.chunk).min(len);
                    let piece = Piece::Mapped(w.clone(), *used..end);
                    self.pos += (end - *used) as u64;
                    *used = end;
                    return Ok(Some(piece));
                }
                if w.truncated() {
                    return Err(self.fault());
                }
                self.release_window();
            }
            let left = self.size - self.pos;
            let window = (left > 0)
                .then(|| {
                    let len = usize::try_from(left).map_or(WINDOW_BYTES, |l| l.min(WINDOW_BYTES));
                    Window::map(self.file, self.pos, len)
                })
                .flatten();
            match window {
                Some(w) => self.window = Some((std::sync::Arc::new(w), 0)),
                None => {
                    self.mapping = false;
                    self.file
                        .seek(SeekFrom::Start(self.pos))
                        .map_err(|e| Error::io(self.path, "read", e))?;
                }
            }
        }
        Ok(None)
    }

    /// The next piece, mapped or read, or `None` at the end of the file.
    pub(crate) fn next_piece(&mut self) -> Result<Option<Piece>, crate::error::Error> {
        use std::io::Read;
        if let Some(piece) = self.next_mapped()? {
            return Ok(Some(piece));
        }
        let mut v = Vec::with_capacity(self.chunk);
        let n = (&mut *self.file)
            .take(self.chunk as u64)
            .read_to_end(&mut v)
            .map_err(|e| crate::error::Error::io(self.path, "read", e))?;
        self.pos += n as u64;
        Ok((n > 0).then_some(Piece::Owned(v)))
    }
}

impl Drop for Pieces<'_> {
    fn drop(&mut self) {
        self.release_window();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read that faulted in a window whose file has its old size again — what a disk
    /// failing a read looks like — is an I/O error, seen by the piece's reader after its
    /// read on another thread, not "file changed, expected N bytes, got N".
    #[test]
    fn a_fault_with_the_size_unchanged_is_an_io_error_seen_after_the_read() {
        use std::io::Write;
        crate::init_engine();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let len = 4 * MAP_MIN_BYTES as usize;
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&vec![7u8; len])
            .unwrap();
        let mut file = File::open(&path).unwrap();
        let meta = file.metadata().unwrap();
        let mut pieces = Pieces::new(&path, &mut file, &meta, 256 * 1024);
        let mut taken = Vec::new();
        while let Some(p) = pieces.next_mapped().unwrap() {
            taken.push(p);
            if taken.len() == 4 {
                break;
            }
        }
        assert!(taken.iter().all(|p| matches!(p, Piece::Mapped(..))));
        // The file shrinks under the handed-out pieces, then gets its size back.
        let w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        w.set_len(0).unwrap();
        let last = taken.pop().unwrap();
        let reader = std::thread::spawn(move || {
            let sum: u64 = last.bytes().iter().map(|&b| u64::from(b)).sum();
            (sum, last.faulted())
        });
        let (sum, faulted) = reader.join().unwrap();
        w.set_len(len as u64).unwrap();
        assert_eq!(sum, 0, "the handler mapped zeros over the vanished pages");
        assert!(faulted, "the reader sees the fault after its read");
        let e = pieces.fault();
        assert!(
            matches!(&e, crate::error::Error::Io { source, .. } if source.raw_os_error() == Some(crate::sys::EIO)),
            "{e}"
        );
    }
}
