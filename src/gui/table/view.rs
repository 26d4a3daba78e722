//! The list's view of the rows: the sort, the order shown (a permutation of the rows'
//! indices) and the keyboard cursor.

use std::cmp::Ordering;
use std::os::unix::ffi::OsStrExt;

use egui::{Align, Key, Modifiers, Ui};

use super::Col;
use crate::gui::model::{FileState, Row, RowResult};

/// Which way a column sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// The column.
    pub col: Col,
    /// Smallest first.
    pub ascending: bool,
}

/// What the list remembers between frames: the sort, the view order, the keyboard cursor.
#[derive(Debug, Default)]
pub struct TableView {
    pub(super) sort: Option<Sort>,
    /// Display position → row index; a permutation of `0..rows.len()`.
    pub(super) order: Vec<usize>,
    /// The keyboard cursor, as a display position.
    pub(super) cursor: Option<usize>,
    /// Bring this display position into view on the next frame (and how).
    pub(super) scroll_to: Option<(usize, Option<Align>)>,
}

impl TableView {
    /// The current sort, if any.
    pub fn sort(&self) -> Option<Sort> {
        self.sort
    }

    /// The row under the keyboard cursor.
    pub fn cursor_row(&self) -> Option<usize> {
        self.cursor.and_then(|p| self.order.get(p).copied())
    }

    /// Row indices in the order shown.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// Forgets the view order, to be rebuilt on the next frame. For whoever removes or
    /// replaces rows: the list notices rows added or removed by their number, not a removal
    /// and an addition of as many rows between two frames.
    pub fn rows_replaced(&mut self) {
        self.order.clear();
        self.cursor = None;
    }

    /// Brings the view order up to date with `rows`: cheap when nothing changed, a merge of
    /// the new rows when rows were added, a full sort only when the sort changed or rows
    /// were removed.
    pub(super) fn sync(&mut self, rows: &[Row]) {
        let n = rows.len();
        if self.order.len() == n {
            return;
        }
        // Rows removed: the app says so (`rows_replaced`); a shorter list is the other sign.
        // No look at every entry here: this runs on every frame that adds rows.
        if self.order.len() > n {
            self.order.clear();
            self.cursor = None;
        }
        let old = self.order.len();
        let mut fresh: Vec<usize> = (old..n).collect();
        if let Some(s) = self.sort {
            fresh = sorted(s, rows, fresh);
            if old > 0 {
                self.order = merge(std::mem::take(&mut self.order), fresh, s, rows);
                return;
            }
        }
        self.order.extend(fresh);
    }

    /// Sorts by `col`: ascending, then descending, then back to list order.
    pub(super) fn toggle_sort(&mut self, col: Col, rows: &[Row]) {
        let cursor_row = self.cursor_row();
        self.sort = match self.sort {
            Some(Sort {
                col: c,
                ascending: true,
            }) if c == col => Some(Sort {
                col,
                ascending: false,
            }),
            Some(Sort { col: c, .. }) if c == col => None,
            _ => Some(Sort {
                col,
                ascending: true,
            }),
        };
        self.order = (0..rows.len()).collect();
        if let Some(s) = self.sort {
            self.order = sorted(s, rows, std::mem::take(&mut self.order));
        }
        // The cursor stays on its row, wherever the row went.
        self.cursor = cursor_row.and_then(|r| self.order.iter().position(|&i| i == r));
        self.scroll_to = self.cursor.map(|p| (p, Some(Align::Center)));
    }

    /// Moves the cursor and toggles marks from the keyboard. Never while a text field has the
    /// keyboard, so typing a path never moves the list. An arrow key takes the keyboard from
    /// a focused button (egui would move focus among buttons); Space and Enter stay the
    /// button's. Returns the cursor's row when Enter asks for its own action (Resume).
    pub(super) fn keys(&mut self, ui: &Ui, rows: &mut [Row], page_rows: usize) -> Option<usize> {
        let ctx = ui.ctx();
        if ctx.text_edit_focused() {
            return None;
        }
        let focused = ctx.memory(|m| m.focused());
        let n = self.order.len();
        if n == 0 {
            return None;
        }
        let last = n - 1;
        let page = page_rows.max(1);
        let (mut moved, mut toggle, mut enter) = (None, false, false);
        ctx.input_mut(|i| {
            let cur = self.cursor;
            let step = |back: bool, by: usize| match (cur, back) {
                (None, _) => 0,
                (Some(c), true) => c.saturating_sub(by),
                (Some(c), false) => (c + by).min(last),
            };
            if i.consume_key(Modifiers::NONE, Key::ArrowDown) {
                moved = Some((step(false, 1), None));
            }
            if i.consume_key(Modifiers::NONE, Key::ArrowUp) {
                moved = Some((step(true, 1), None));
            }
            if i.consume_key(Modifiers::NONE, Key::PageDown) {
                moved = Some((step(false, page), Some(Align::BOTTOM)));
            }
            if i.consume_key(Modifiers::NONE, Key::PageUp) {
                moved = Some((step(true, page), Some(Align::TOP)));
            }
            if i.consume_key(Modifiers::NONE, Key::Home) {
                moved = Some((0, Some(Align::TOP)));
            }
            if i.consume_key(Modifiers::NONE, Key::End) {
                moved = Some((last, Some(Align::BOTTOM)));
            }
            // An arrow in this same frame took the keyboard and placed the cursor, so Space
            // and Enter typed right after it (one frame's input) are the row's too.
            let keyboard = focused.is_none() || moved.is_some();
            toggle = keyboard && i.consume_key(Modifiers::NONE, Key::Space);
            enter = keyboard
                && (cur.is_some() || moved.is_some())
                && i.consume_key(Modifiers::NONE, Key::Enter);
        });
        if let Some((pos, align)) = moved {
            if let Some(id) = focused {
                ctx.memory_mut(|m| m.surrender_focus(id));
            }
            self.cursor = Some(pos);
            self.scroll_to = Some((pos, align));
        }
        if toggle && let Some(r) = self.cursor_row().and_then(|i| rows.get_mut(i)) {
            r.selected = !r.selected;
        }
        enter.then(|| self.cursor_row()).flatten()
    }
}

fn compare(s: Sort, rows: &[Row], a: usize, b: usize) -> Ordering {
    let (Some(ra), Some(rb)) = (rows.get(a), rows.get(b)) else {
        return Ordering::Equal;
    };
    let o = s.col.key(ra).cmp(&s.col.key(rb));
    if s.ascending { o } else { o.reverse() }
}

/// `idx` in the order of `s`, ties in index order (as a stable sort would leave them). The
/// keys are taken once, in one pass over the rows, and sorted beside their indices: sorting
/// by looking rows up in every comparison took 0.7 s for a million rows, mostly cache misses.
fn sorted(s: Sort, rows: &[Row], idx: Vec<usize>) -> Vec<usize> {
    let mut keyed: Vec<_> = idx
        .into_iter()
        .filter_map(|i| rows.get(i).map(|r| (s.col.key(r), i)))
        .collect();
    keyed.sort_unstable_by(|(ka, ia), (kb, ib)| {
        let o = ka.cmp(kb);
        (if s.ascending { o } else { o.reverse() }).then(ia.cmp(ib))
    });
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Merges `fresh` (sorted by `s`) into `old` (sorted by `s`), stable: `old` first on ties, so
/// listed rows keep their order. Each new row finds its place by binary search, and the rest
/// is copied in runs, so a batch of k rows into n costs k·log n comparisons and one copy —
/// a million rows listed in batches under a sort stay cheap.
fn merge(old: Vec<usize>, fresh: Vec<usize>, s: Sort, rows: &[Row]) -> Vec<usize> {
    let mut out = Vec::with_capacity(old.len() + fresh.len());
    let mut rest = old.as_slice();
    for y in fresh {
        let at = rest.partition_point(|&x| compare(s, rows, x, y) != Ordering::Greater);
        let (before, after) = rest.split_at(at);
        out.extend_from_slice(before);
        out.push(y);
        rest = after;
    }
    out.extend_from_slice(rest);
    out
}

/// The State column's order: work under way first, then waiting, then the endings.
pub(super) fn state_rank(s: &FileState) -> u8 {
    match s {
        FileState::Running | FileState::Verifying => 0,
        FileState::Queued => 1,
        FileState::Ready => 2,
        FileState::Failed(_) => 3,
        FileState::Cancelled(_) => 4,
        FileState::Skipped(_) => 5,
        FileState::Done => 6,
    }
}

/// What the Result column sorts on: rows with a result of one kind together, then by text.
pub(super) fn result_key(r: &Row) -> (u8, &[u8]) {
    match (&r.state, r.result.as_deref()) {
        (FileState::Failed(why) | FileState::Skipped(why), _) => (1, why.as_bytes()),
        (_, Some(RowResult::Verified { ok: false, .. })) => (2, &[]),
        (_, Some(RowResult::Verified { ok: true, .. })) => (3, &[]),
        (_, Some(RowResult::Digest(d))) => (4, d.sort_bytes()),
        (_, Some(RowResult::CopyVerified(c))) => (4, c.blake3.sort_bytes()),
        (_, Some(RowResult::Output(p))) => (5, p.as_os_str().as_bytes()),
        (_, None) => (6, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn rows(sizes: &[u64]) -> Vec<Row> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &s)| Row::new(PathBuf::from(format!("/f{i}")), s, None))
            .collect()
    }

    /// A million rows: a sort by name well under a second and a batch merged in milliseconds
    /// (release build; the window lists in batches of 2,000).
    #[test]
    fn a_million_rows_sort_and_merge_quickly() {
        let mut r: Vec<Row> = (0..1_000_000u64)
            .map(|i| {
                let name = format!("/data/d{}/f{}.bin", i % 1000, (i * 7919) % 1_000_003);
                Row::new(PathBuf::from(name), i % 4096, None)
            })
            .collect();
        let mut v = TableView::default();
        v.sync(&r);
        let t = std::time::Instant::now();
        v.toggle_sort(Col::Name, &r);
        let sorted = t.elapsed();
        r.extend((0..2000).map(|i| Row::new(PathBuf::from(format!("/data/x{i}")), 1, None)));
        let t = std::time::Instant::now();
        v.sync(&r);
        let merged = t.elapsed();
        assert_eq!(v.order().len(), r.len());
        eprintln!("sort {sorted:?}, merge {merged:?}");
        if !cfg!(debug_assertions) {
            assert!(sorted.as_millis() < 3000, "sort took {sorted:?}");
            assert!(merged.as_millis() < 100, "merge took {merged:?}");
        }
    }

    #[test]
    fn added_rows_merge_into_the_sorted_order_without_moving_the_others() {
        let mut r = rows(&[30, 10, 20]);
        let mut v = TableView::default();
        v.sync(&r);
        v.toggle_sort(Col::Size, &r);
        assert_eq!(v.order(), &[1, 2, 0]);
        r.extend(rows(&[15, 40]));
        v.sync(&r);
        assert_eq!(v.order(), &[1, 3, 2, 0, 4]);
        v.toggle_sort(Col::Size, &r);
        assert_eq!(v.order(), &[4, 0, 2, 3, 1]);
        v.toggle_sort(Col::Size, &r);
        assert_eq!(v.order(), &[0, 1, 2, 3, 4]);
        r.truncate(2);
        v.sync(&r);
        assert_eq!(v.order(), &[0, 1]);
    }
}
