//! BLAKE3 over independent subtrees, so the cores hash a whole batch of a mapped file
//! without meeting after every chunk.
//!
//! BLAKE3 is a tree of 1 KiB chunks. Any aligned run of `UNIT` bytes (a power of two) is a
//! subtree whose chaining value can be computed alone, on any thread; the values are then
//! merged in order exactly as `blake3::Hasher` merges its chunks. Hashing a mapped file one
//! `update_rayon` call per chunk ended every chunk in a join where one core waited for the
//! other and the idle pool thread fell asleep (perf: 1.75 of 2 CPUs busy, 138 context
//! switches per GiB); here each thread takes the next unit until the batch is done.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root,
};

use super::{Ctx, Stop};

/// Bytes per subtree: the piece size of a mapped BLAKE3 file (~0.25 ms on one core).
pub const UNIT: usize = 1024 * 1024;

/// Pieces shorter than this are hashed on one core; longer ones split across the pool.
const RAYON_MIN_BYTES: usize = 128 * 1024;

/// A running BLAKE3 hash built from subtrees of `unit` bytes.
pub struct Blake3Tree {
    unit: u64,
    /// Chaining values of the finished units, merged lazily (as `blake3::Hasher` does) so
    /// the last merge can still be the root.
    stack: Vec<ChainingValue>,
    /// Units whose chaining value went onto the stack.
    pushed: u64,
    /// The unit after them, holding `cur_len` bytes.
    cur: blake3::Hasher,
    cur_len: u64,
}

impl Default for Blake3Tree {
    fn default() -> Self {
        Self::with_unit(UNIT)
    }
}

impl Blake3Tree {
    /// A tree with subtrees of `unit` bytes, a power of two of at least one BLAKE3 chunk.
    fn with_unit(unit: usize) -> Self {
        debug_assert!(unit.is_power_of_two() && unit >= blake3::CHUNK_LEN);
        Blake3Tree {
            unit: unit as u64,
            stack: Vec::new(),
            pushed: 0,
            cur: blake3::Hasher::new(),
            cur_len: 0,
        }
    }

    /// Feeds bytes that follow everything fed so far.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            // Only now is it known that the full unit is not the last one.
            if self.cur_len == self.unit {
                self.push_cur();
            }
            let room = usize::try_from(self.unit - self.cur_len).unwrap_or(usize::MAX);
            let (now, rest) = data.split_at(room.min(data.len()));
            if now.len() >= RAYON_MIN_BYTES {
                self.cur.update_rayon(now);
            } else {
                self.cur.update(now);
            }
            self.cur_len += now.len() as u64;
            data = rest;
        }
    }

    /// Feeds `pieces`, which follow everything fed so far, calling `ctx.chunk_done` once per
    /// piece (from whichever thread hashed it). When they are whole units and the input so
    /// far ends on a unit boundary, all but the last are hashed in parallel on the rayon
    /// pool; otherwise they are fed in order.
    pub fn update_pieces(&mut self, pieces: &[&[u8]], ctx: &Ctx) -> Result<(), Stop> {
        let Some((last, whole)) = pieces.split_last() else {
            return Ok(());
        };
        let unit = usize::try_from(self.unit).unwrap_or(usize::MAX);
        let aligned = self.cur_len == 0 || self.cur_len == self.unit;
        // An empty last piece would leave the open unit empty, and a unit is closed only
        // once bytes are known to follow it: the last one must be finalized as the root.
        if !aligned || whole.is_empty() || last.is_empty() || whole.iter().any(|p| p.len() != unit)
        {
            for p in pieces {
                self.update(p);
                ctx.chunk_done(p.len() as u64)?;
            }
            return Ok(());
        }
        if self.cur_len == self.unit {
            self.push_cur();
        }
        let cvs = self.hash_units(whole, ctx)?;
        for cv in cvs {
            self.push(cv);
        }
        self.cur = blake3::Hasher::new();
        self.cur.set_input_offset(self.pushed * self.unit);
        // The last piece stays open: it may be the end of the input, which must be
        // finalized as the root rather than as a chaining value.
        self.update(last);
        ctx.chunk_done(last.len() as u64)?;
        Ok(())
    }

    /// The chaining values of `units` (whole units following the pushed ones), computed by
    /// every pool thread taking the next unit in turn; stops all of them at the first
    /// cancel or pause that ends in a cancel.
    fn hash_units(&self, units: &[&[u8]], ctx: &Ctx) -> Result<Vec<ChainingValue>, Stop> {
        let first = self.pushed;
        let next = AtomicUsize::new(0);
        let stopped = AtomicBool::new(false);
        let results: Mutex<Vec<Option<ChainingValue>>> = Mutex::new(vec![None; units.len()]);
        let failure: Mutex<Option<Stop>> = Mutex::new(None);
        let work = || {
            loop {
                // Relaxed: the counter only hands out indices; the values travel through
                // the `results` mutex.
                let i = next.fetch_add(1, Ordering::Relaxed);
                // Relaxed: a hint to stop early; the error itself is under `failure`.
                if i >= units.len() || stopped.load(Ordering::Relaxed) {
                    return;
                }
                let mut h = blake3::Hasher::new();
                h.set_input_offset((first + i as u64) * self.unit);
                h.update(units[i]);
                let cv = h.finalize_non_root();
                results.lock().unwrap_or_else(PoisonError::into_inner)[i] = Some(cv);
                if let Err(c) = ctx.chunk_done(units[i].len() as u64) {
                    stopped.store(true, Ordering::Relaxed);
                    failure
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get_or_insert(c.into());
                    return;
                }
            }
        };
        let helpers = rayon_core::current_num_threads().saturating_sub(1);
        rayon_core::scope(|s| {
            for _ in 0..helpers.min(units.len() - 1) {
                s.spawn(|_| work());
            }
            work();
        });
        // Neither lock is held across anything that panics; a poisoned one still holds
        // good data.
        if let Some(stop) = failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
            return Err(stop);
        }
        let results = results.into_inner().unwrap_or_else(PoisonError::into_inner);
        // A thread skips a unit it took only after a cancel, which returned above; should a
        // value be missing all the same, it is computed here rather than left out.
        Ok(results
            .into_iter()
            .enumerate()
            .map(|(i, cv)| {
                cv.unwrap_or_else(|| {
                    let mut h = blake3::Hasher::new();
                    h.set_input_offset((first + i as u64) * self.unit);
                    h.update(units[i]);
                    h.finalize_non_root()
                })
            })
            .collect())
    }

    /// Pushes the open unit's chaining value and opens the next unit.
    fn push_cur(&mut self) {
        let cv = self.cur.finalize_non_root();
        self.push(cv);
        self.cur = blake3::Hasher::new();
        self.cur.set_input_offset(self.pushed * self.unit);
        self.cur_len = 0;
    }

    /// Pushes the chaining value of the next unit, first merging what the units before it
    /// complete.
    fn push(&mut self, cv: ChainingValue) {
        merge_down(&mut self.stack, self.pushed);
        self.stack.push(cv);
        self.pushed += 1;
    }

    /// The hash of everything fed.
    pub fn finalize(&self) -> blake3::Hash {
        if self.stack.is_empty() {
            return self.cur.finalize();
        }
        // Every push was followed by more input, so the open unit is not empty and what is
        // on the stack can be merged as non-root subtrees.
        let mut right = self.cur.finalize_non_root();
        let mut stack = self.stack.clone();
        merge_down(&mut stack, self.pushed);
        let mut stack = stack.iter().rev().peekable();
        while let Some(left) = stack.next() {
            if stack.peek().is_none() {
                return merge_subtrees_root(left, &right, Mode::Hash);
            }
            right = merge_subtrees_non_root(left, &right, Mode::Hash);
        }
        self.cur.finalize()
    }
}

/// Merges the top of `stack` until it holds one entry per set bit of `units`, the number of
/// units it covers: the complete subtrees, as `blake3::Hasher` keeps them.
fn merge_down(stack: &mut Vec<ChainingValue>, units: u64) {
    let keep = units.count_ones() as usize;
    while stack.len() > keep {
        let (Some(right), Some(left)) = (stack.pop(), stack.pop()) else {
            break;
        };
        stack.push(merge_subtrees_non_root(&left, &right, Mode::Hash));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::throttle::Throttle;
    use crate::cancel::{CancelToken, Reason};
    use std::sync::atomic::AtomicU64;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 1000) as u8).collect()
    }

    pub(super) fn with_ctx<R>(token: &CancelToken, f: impl FnOnce(&Ctx) -> R) -> R {
        let (fb, jb) = (AtomicU64::new(0), AtomicU64::new(0));
        let throttle = Throttle::new(None);
        let ctx = Ctx {
            token,
            file_bytes: &fb,
            job_bytes: &jb,
            throttle: &throttle,
            on_progress: &|| {},
            verifying: &std::sync::atomic::AtomicBool::new(false),
        };
        f(&ctx)
    }

    #[test]
    fn streaming_matches_blake3_for_every_shape() {
        let unit = 2048;
        for len in [
            0, 1, 1023, 1024, 1025, 2047, 2048, 2049, 4096, 6144, 6145, 8192, 10_000, 65_536,
            70_000,
        ] {
            let d = data(len);
            for step in [1, 7, 1000, 2048, 5000, len.max(1)] {
                let mut t = Blake3Tree::with_unit(unit);
                d.chunks(step).for_each(|c| t.update(c));
                assert_eq!(t.finalize(), blake3::hash(&d), "len {len} step {step}");
            }
        }
    }

    #[test]
    fn parallel_batches_match_blake3() {
        let token = CancelToken::new();
        for unit in [1024, 4096] {
            for units in [1, 2, 3, 5, 8, 13, 33] {
                for tail in [0, 1, unit / 2, unit - 1] {
                    let len = units * unit + tail;
                    let d = data(len);
                    for batch in [1, 2, 3, 4, 16, 64] {
                        let mut t = Blake3Tree::with_unit(unit);
                        let pieces: Vec<&[u8]> = d.chunks(unit).collect();
                        for b in pieces.chunks(batch) {
                            with_ctx(&token, |ctx| t.update_pieces(b, ctx)).unwrap();
                        }
                        assert_eq!(
                            t.finalize(),
                            blake3::hash(&d),
                            "unit {unit} units {units} tail {tail} batch {batch}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn mixed_streaming_and_batches_match_blake3() {
        let token = CancelToken::new();
        let unit = 1024;
        let d = data(40 * unit + 77);
        let mut t = Blake3Tree::with_unit(unit);
        // Unaligned start, so the first batch falls back to feeding in order.
        t.update(&d[..100]);
        let p: Vec<&[u8]> = d[100..100 + 3 * unit].chunks(unit).collect();
        with_ctx(&token, |ctx| t.update_pieces(&p, ctx)).unwrap();
        t.update(&d[100 + 3 * unit..8 * unit]);
        let p: Vec<&[u8]> = d[8 * unit..].chunks(unit).collect();
        with_ctx(&token, |ctx| t.update_pieces(&p, ctx)).unwrap();
        assert_eq!(t.finalize(), blake3::hash(&d));
    }

    #[test]
    fn a_cancel_stops_a_batch() {
        let token = CancelToken::new();
        token.cancel(Reason::User);
        let d = data(16 * 1024);
        let p: Vec<&[u8]> = d.chunks(1024).collect();
        let mut t = Blake3Tree::with_unit(1024);
        let r = with_ctx(&token, |ctx| t.update_pieces(&p, ctx));
        assert!(matches!(r, Err(Stop::Cancelled(Reason::User))));
    }
}

/// The tree against `blake3::hash`: whatever the length, the subtree size and the way the
/// input is cut into `update` calls and batches, the hash is BLAKE3's.
#[cfg(test)]
mod properties {
    use super::tests::with_ctx;
    use super::*;
    use crate::cancel::CancelToken;
    use proptest::prelude::*;

    /// Subtree sizes: the smallest allowed, a few in between, and the one files use.
    const UNITS: [usize; 4] = [1024, 4096, 64 * 1024, UNIT];

    /// The longest input tried.
    const MAX_LEN: usize = 3 * UNIT + 4321;

    /// One way of handing the tree the next bytes.
    #[derive(Debug, Clone)]
    enum Feed {
        /// One `update` call.
        Update(usize),
        /// One `update_pieces` call with pieces of these lengths.
        Pieces(Vec<usize>),
        /// One `update_pieces` call with `whole` pieces of one unit each, then `last` bytes:
        /// the shape that is hashed in parallel.
        Units { whole: usize, last: usize },
    }

    /// A length for subtrees of `unit` bytes, most often a byte either side of a multiple of
    /// it, where the tree closes units and chooses between its two paths.
    fn length(unit: usize) -> impl Strategy<Value = usize> {
        let near =
            (0..=3usize, -1..=1isize).prop_map(move |(n, d)| (n * unit).saturating_add_signed(d));
        prop_oneof![4 => near, 1 => 0..=3 * unit, 1 => 0..=2 * UNIT]
    }

    /// A feed for subtrees of `unit` bytes.
    fn feed(unit: usize) -> impl Strategy<Value = Feed> {
        prop_oneof![
            length(unit).prop_map(Feed::Update),
            prop::collection::vec(length(unit), 1..6).prop_map(Feed::Pieces),
            (1..=8usize, length(unit)).prop_map(|(whole, last)| Feed::Units { whole, last }),
        ]
    }

    /// Where the input ends: after everything the feeds ask for, at the end of one of their
    /// pieces (so the pieces after it are empty), or anywhere.
    #[derive(Debug, Clone)]
    enum End {
        All,
        AfterPiece(prop::sample::Index),
        Anywhere(prop::sample::Index),
    }

    /// A unit, feeds, the bytes fed by one last `update` after them, and where the input ends.
    fn case() -> impl Strategy<Value = (usize, Vec<Feed>, usize, End)> {
        let end = prop_oneof![
            1 => Just(End::All),
            2 => any::<prop::sample::Index>().prop_map(End::AfterPiece),
            1 => any::<prop::sample::Index>().prop_map(End::Anywhere),
        ];
        prop::sample::select(&UNITS[..]).prop_flat_map(move |unit| {
            (
                Just(unit),
                prop::collection::vec(feed(unit), 0..8),
                length(unit),
                end.clone(),
            )
        })
    }

    /// The lengths of the pieces `feeds` ask for, in order.
    fn piece_lens(unit: usize, feeds: &[Feed]) -> Vec<usize> {
        let mut lens = Vec::new();
        for f in feeds {
            match f {
                Feed::Update(n) => lens.push(*n),
                Feed::Pieces(ns) => lens.extend(ns),
                Feed::Units { whole, last } => {
                    lens.extend(std::iter::repeat_n(unit, *whole));
                    lens.push(*last);
                }
            }
        }
        lens
    }

    /// `len` bytes that differ from one chunk to the next, so a chunk fed twice or in the
    /// wrong place changes the hash.
    fn data(len: usize) -> Vec<u8> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Takes up to `n` bytes off the front of `rest`.
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> &'a [u8] {
        let (now, later) = rest.split_at(n.min(rest.len()));
        *rest = later;
        now
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_cut_of_any_input_hashes_as_blake3((unit, feeds, tail, end) in case()) {
            // Feeds are cut short where the input ends, and those after it get empty pieces.
            let lens = piece_lens(unit, &feeds);
            let asked = lens.iter().sum::<usize>() + tail;
            let len = match end {
                End::All => asked,
                End::AfterPiece(i) => lens.iter().take(i.index(lens.len() + 1)).sum(),
                End::Anywhere(i) => i.index(asked + 1),
            };
            let d = data(len.min(MAX_LEN));
            let token = CancelToken::new();
            let mut t = Blake3Tree::with_unit(unit);
            let mut rest = &d[..];
            for f in &feeds {
                let pieces: Vec<&[u8]> = match f {
                    Feed::Update(n) => {
                        t.update(take(&mut rest, *n));
                        continue;
                    }
                    Feed::Pieces(lens) => lens.iter().map(|n| take(&mut rest, *n)).collect(),
                    Feed::Units { whole, last } => {
                        let mut p: Vec<_> = (0..*whole).map(|_| take(&mut rest, unit)).collect();
                        p.push(take(&mut rest, *last));
                        p
                    }
                };
                let fed = with_ctx(&token, |ctx| t.update_pieces(&pieces, ctx));
                prop_assert!(fed.is_ok(), "update_pieces stopped: {:?}", fed.err());
            }
            t.update(rest);
            prop_assert_eq!(t.finalize(), blake3::hash(&d));
        }
    }
}
