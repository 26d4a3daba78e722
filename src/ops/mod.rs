//! The operations, one module each. Every operation is a loop over chunks that calls
//! [`Ctx::chunk_done`] after each chunk: that reports progress, applies the throttle and
//! checks the stop signal. Operations own no threads and no channels.

pub mod blake3_tree;
pub mod copy;
pub mod hash;
pub mod kind;
pub mod manifest;
pub(crate) mod mapped;
pub mod md5;
pub mod pipe;
pub mod stream;
pub mod verify;
pub mod zstd;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cancel::throttle::Throttle;
use crate::cancel::{CancelToken, Cancelled, Reason};
use crate::error::Error;

/// Why an operation on one file did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Stop {
    /// The file's token was cancelled.
    #[error("{0}")]
    Cancelled(Reason),
    /// The file failed; the job goes on with the others.
    #[error(transparent)]
    Failed(#[from] Error),
}

impl From<Cancelled> for Stop {
    fn from(c: Cancelled) -> Self {
        Stop::Cancelled(c.0)
    }
}

/// What a worker lends an operation for one file.
pub struct Ctx<'a> {
    /// The file's own token (a child of the job's).
    pub token: &'a CancelToken,
    /// Bytes of this file done so far; read by front ends, written only here.
    pub file_bytes: &'a AtomicU64,
    /// Bytes of the whole job done so far.
    pub job_bytes: &'a AtomicU64,
    /// The job's shared rate limit.
    pub throttle: &'a Throttle,
    /// Called (cheaply, coalesced by the callee) whenever progress moved.
    pub on_progress: &'a (dyn Fn() + Sync),
    /// Set while the file is being checked after its work (a copy read back), so front
    /// ends can say "verifying"; read by front ends, written only here.
    pub verifying: &'a std::sync::atomic::AtomicBool,
}

impl Ctx<'_> {
    /// Reports `n` more bytes processed, waits out the throttle (on the token, so a cancel
    /// wakes it), and checks for cancel or pause. Call once per chunk.
    #[inline]
    pub fn chunk_done(&self, n: u64) -> Result<(), Cancelled> {
        // Relaxed: progress counters are statistics; nothing else is published through them.
        self.file_bytes.fetch_add(n, Ordering::Relaxed);
        self.job_bytes.fetch_add(n, Ordering::Relaxed);
        (self.on_progress)();
        self.throttle.consume(n, self.token)?;
        self.token.check()
    }
}

thread_local! {
    /// Each worker's reusable read buffer, so small files cost no allocation.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's scratch buffer of at least `len` bytes.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0);
            }
            f(&mut buf[..len])
        }
        // Re-entered (an operation inside an operation): use a fresh buffer.
        Err(_) => f(&mut vec![0; len]),
    })
}

/// Reads into `buf` until it is full or the file ends, retrying on `Interrupted`.
pub(crate) fn read_full(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
