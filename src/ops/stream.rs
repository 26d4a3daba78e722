//! Reading what is not a regular file — standard input, a pipe, a fifo, a character device —
//! so that a cancel is never stuck behind it.
//!
//! Opening a fifo blocks until a writer comes, and reading a pipe blocks for as long as its
//! writer is silent; neither call looks at a stop signal. So the open and the reads run on a
//! helper thread, which hands chunks over a short queue, and the worker waits for them on a
//! `select!` that a cancel also wakes. A cancelled worker leaves at once; a helper still in
//! `open` is released (a fifo is opened once for writing, which wakes its reader), and one
//! still in `read` ends as soon as the read returns and finds nobody waiting.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Receiver;

use super::{Ctx, Stop};
use crate::cancel::CancelToken;
use crate::error::Error;

/// The name that means standard input, as in coreutils and b3sum.
pub const STDIN_NAME: &str = "-";

/// Bytes asked of one `read` on a stream.
const STREAM_CHUNK_BYTES: usize = 256 * 1024;

/// Chunks that may wait between the helper and the worker.
const QUEUE: usize = 4;

/// Whether `path` means standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN_NAME
}

/// Whether a file of this kind is read as a stream: anything that is not a regular file or
/// a folder (a fifo, a character device, a `/dev/fd/N` pipe).
pub fn is_stream(meta: &std::fs::Metadata) -> bool {
    !meta.is_file() && !meta.is_dir()
}

/// A helper's message: a chunk of data, or why opening or reading failed.
type Chunk = Result<Vec<u8>, (&'static str, std::io::Error)>;

/// A stream being read on a helper thread. Dropping it abandons the helper.
pub struct Stream {
    path: PathBuf,
    rx: Receiver<Chunk>,
    /// Set by the helper once `open` returned; until then a fifo may still hold it.
    opened: Arc<AtomicBool>,
}

impl Stream {
    /// Starts opening and reading `path` (`-`: standard input) on a helper thread.
    pub fn open(path: &Path) -> Result<Stream, Error> {
        let (tx, rx) = crossbeam_channel::bounded::<Chunk>(QUEUE);
        let opened = Arc::new(AtomicBool::new(false));
        let helper_opened = Arc::clone(&opened);
        let from = path.to_path_buf();
        std::thread::Builder::new()
            .name("ripcord-stream".into())
            .spawn(move || {
                let file = open_source(&from);
                // Release: pairs with the Acquire in `Drop`, which then need not release us.
                helper_opened.store(true, Ordering::Release);
                let mut file = match file {
                    Ok(f) => f,
                    Err(e) => {
                        let _ = tx.send(Err(("open", e)));
                        return;
                    }
                };
                loop {
                    let mut buf = vec![0u8; STREAM_CHUNK_BYTES];
                    let msg = match file.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            buf.truncate(n);
                            Ok(buf)
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => Err(("read", e)),
                    };
                    let failed = msg.is_err();
                    // A worker that stopped waiting has dropped the receiver: end here.
                    if tx.send(msg).is_err() || failed {
                        return;
                    }
                }
            })
            .map_err(|e| Error::io(path, "start a reader thread for", e))?;
        Ok(Stream {
            path: path.to_path_buf(),
            rx,
            opened,
        })
    }

    /// The next chunk, or `None` at the end. Waits on the token: a cancel ends the wait at
    /// once, whatever the helper is doing.
    pub fn next(&mut self, token: &CancelToken) -> Result<Option<Vec<u8>>, Stop> {
        token.check()?;
        let cancelled = token.cancelled_channel();
        crossbeam_channel::select! {
            recv(self.rx) -> msg => match msg {
                Ok(Ok(chunk)) => Ok(Some(chunk)),
                Ok(Err((action, e))) => Err(Error::io(&self.path, action, e).into()),
                // The helper ended after the last chunk.
                Err(_) => Ok(None),
            },
            recv(cancelled) -> _ => {
                token.check()?;
                // Disconnected without a reason cannot happen; look again.
                self.next(token)
            }
        }
    }

    /// Feeds every chunk to `f`, calling [`Ctx::chunk_done`] after each. Returns the bytes
    /// read.
    pub fn for_each(&mut self, ctx: &Ctx, mut f: impl FnMut(&[u8])) -> Result<u64, Stop> {
        let mut total = 0u64;
        while let Some(chunk) = self.next(ctx.token)? {
            f(&chunk);
            total += chunk.len() as u64;
            ctx.chunk_done(chunk.len() as u64)?;
        }
        Ok(total)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // Acquire: pairs with the helper's Release store after `open`.
        if self.opened.load(Ordering::Acquire) {
            return;
        }
        // A helper still in `open` of a fifo waits for a writer: be that writer for a moment,
        // without blocking (the helper is a reader, so this succeeds), and it is released.
        let is_fifo = std::fs::metadata(&self.path).is_ok_and(|m| m.file_type().is_fifo());
        if is_fifo {
            let _ = crate::sys::open_write_nonblocking(&self.path);
        }
    }
}

/// Opens what `path` names: a duplicate of standard input for `-`, else the path itself.
fn open_source(path: &Path) -> std::io::Result<File> {
    if is_stdin(path) {
        use std::os::fd::AsFd;
        let fd = std::io::stdin().as_fd().try_clone_to_owned()?;
        return Ok(File::from(fd));
    }
    File::open(path)
}
