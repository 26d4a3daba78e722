//! The file list: a table with resizable, sortable columns over a virtual body, and a
//! keyboard cursor.
//!
//! Invariants: the rows themselves are never reordered here (other code addresses rows by
//! index); a sort is a view order, a permutation kept in [`TableView`]. Per-frame work is
//! proportional to the rows on screen: the permutation is rebuilt only when the sort changes
//! or rows are removed, and rows added are merged in, never re-sorted with the rest. A sort is
//! a snapshot: a row whose state changes keeps its place, so rows never move under the
//! pointer.

use std::cmp::Ordering;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use egui::{Align, Color32, FontId, Key, Modifiers, RichText, Ui};
use egui_extras::{Column, TableBuilder};

use super::Action;
use super::model::{FileState, Row, RowResult};
use crate::units::human_bytes;

const ROW_HEIGHT: f32 = 22.0;
const HEADER_HEIGHT: f32 = 24.0;
const SIZE_WIDTH: f32 = 80.0;
const STATE_WIDTH: f32 = 110.0;
/// The Name column's share of the list's width when first shown.
const NAME_SHARE: f32 = 0.45;
const MIN_NAME_WIDTH: f32 = 120.0;
const MIN_RESULT_WIDTH: f32 = 120.0;
const PROGRESS_MAX_WIDTH: f32 = 180.0;

/// A column of the list. To add one: a variant here, then the compiler names each `match`
/// to extend (title, width, sort order, cell).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// The file's name (relative to the folder it was found in).
    Name,
    /// Its size.
    Size,
    /// Where it is in its life.
    State,
    /// Progress while running, then the checksum, verdict, output or reason.
    Result,
}

impl Col {
    /// The columns, left to right.
    pub const ALL: [Col; 4] = [Col::Name, Col::Size, Col::State, Col::Result];

    fn title(self) -> &'static str {
        match self {
            Col::Name => "Name",
            Col::Size => "Size",
            Col::State => "State",
            Col::Result => "Result",
        }
    }

    /// The column's sizing. The last column takes what is left, and the Name column never
    /// grows past what leaves the others their room, also after the window narrows (egui
    /// keeps a resized width; the bound is applied anew each frame).
    fn spec(self, list_width: f32, spacing: f32) -> Column {
        match self {
            Col::Name => {
                let room = list_width - SIZE_WIDTH - STATE_WIDTH - MIN_RESULT_WIDTH - 4.0 * spacing;
                let most = room.max(MIN_NAME_WIDTH);
                Column::initial((list_width * NAME_SHARE).clamp(MIN_NAME_WIDTH, most))
                    .range(MIN_NAME_WIDTH / 2.0..=most)
                    .resizable(true)
                    .clip(true)
            }
            Col::Size => Column::initial(SIZE_WIDTH)
                .at_least(40.0)
                .resizable(true)
                .clip(true),
            Col::State => Column::initial(STATE_WIDTH)
                .at_least(50.0)
                .resizable(true)
                .clip(true),
            Col::Result => Column::remainder().at_least(MIN_RESULT_WIDTH).clip(true),
        }
    }

    /// The ascending order of two rows by this column.
    fn cmp(self, a: &Row, b: &Row) -> Ordering {
        match self {
            // Bytes, not path components: the same order for names, several times faster
            // over a million rows.
            Col::Name => a
                .path
                .as_os_str()
                .as_bytes()
                .cmp(b.path.as_os_str().as_bytes()),
            Col::Size => a.size.cmp(&b.size),
            Col::State => state_rank(&a.state).cmp(&state_rank(&b.state)),
            Col::Result => result_key(a).cmp(&result_key(b)),
        }
    }

    /// Draws the cell; returns whether the person clicked the row (to put the cursor there).
    fn cell(
        self,
        ui: &mut Ui,
        i: usize,
        row: &mut Row,
        cx: &CellContext,
        out: &mut Vec<Action>,
    ) -> bool {
        match self {
            Col::Name => return name_cell(ui, row, cx.running),
            Col::Size => {
                ui.label(human_bytes(row.size));
            }
            Col::State => state_cell(ui, row, cx.paused),
            Col::Result => result_cell(ui, i, row, out),
        }
        false
    }
}

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
    sort: Option<Sort>,
    /// Display position → row index; a permutation of `0..rows.len()`.
    order: Vec<usize>,
    /// The keyboard cursor, as a display position.
    cursor: Option<usize>,
    /// Bring this display position into view on the next frame (and how).
    scroll_to: Option<(usize, Option<Align>)>,
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
    fn sync(&mut self, rows: &[Row]) {
        let n = rows.len();
        if self.order.len() == n {
            return;
        }
        if self.order.len() > n || self.order.iter().any(|&i| i >= n) {
            self.order.clear();
            self.cursor = None;
        }
        let old = self.order.len();
        let mut fresh: Vec<usize> = (old..n).collect();
        if let Some(s) = self.sort {
            fresh.sort_by(|&a, &b| compare(s, rows, a, b));
            if old > 0 {
                self.order = merge(std::mem::take(&mut self.order), fresh, s, rows);
                return;
            }
        }
        self.order.extend(fresh);
    }

    /// Sorts by `col`: ascending, then descending, then back to list order.
    fn toggle_sort(&mut self, col: Col, rows: &[Row]) {
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
            self.order.sort_by(|&a, &b| compare(s, rows, a, b));
        }
        // The cursor stays on its row, wherever the row went.
        self.cursor = cursor_row.and_then(|r| self.order.iter().position(|&i| i == r));
        self.scroll_to = self.cursor.map(|p| (p, Some(Align::Center)));
    }

    /// Moves the cursor and toggles marks from the keyboard. Never while a text field has the
    /// keyboard, so typing a path never moves the list. An arrow key takes the keyboard from
    /// a focused button (egui would move focus among buttons); Space stays the button's.
    fn keys(&mut self, ui: &Ui, rows: &mut [Row], page_rows: usize, running: bool) {
        let ctx = ui.ctx();
        if ctx.text_edit_focused() {
            return;
        }
        let focused = ctx.memory(|m| m.focused());
        let n = self.order.len();
        if n == 0 {
            return;
        }
        let last = n - 1;
        let page = page_rows.max(1);
        let (mut moved, mut toggle) = (None, false);
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
            toggle = focused.is_none() && i.consume_key(Modifiers::NONE, Key::Space);
        });
        if let Some((pos, align)) = moved {
            if let Some(id) = focused {
                ctx.memory_mut(|m| m.surrender_focus(id));
            }
            self.cursor = Some(pos);
            self.scroll_to = Some((pos, align));
        }
        if toggle
            && !running
            && let Some(r) = self.cursor_row().and_then(|i| rows.get_mut(i))
        {
            r.selected = !r.selected;
        }
    }
}

fn compare(s: Sort, rows: &[Row], a: usize, b: usize) -> Ordering {
    let (Some(ra), Some(rb)) = (rows.get(a), rows.get(b)) else {
        return Ordering::Equal;
    };
    let o = s.col.cmp(ra, rb);
    if s.ascending { o } else { o.reverse() }
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

fn state_rank(s: &FileState) -> u8 {
    match s {
        FileState::Running => 0,
        FileState::Queued => 1,
        FileState::Ready => 2,
        FileState::Failed(_) => 3,
        FileState::Cancelled(_) => 4,
        FileState::Skipped(_) => 5,
        FileState::Done => 6,
    }
}

/// What the Result column sorts on: rows with a result of one kind together, then by text.
fn result_key(r: &Row) -> (u8, &[u8]) {
    match (&r.state, &r.result) {
        (FileState::Failed(why) | FileState::Skipped(why), _) => (1, why.as_bytes()),
        (_, Some(RowResult::Verified { ok: false, .. })) => (2, &[]),
        (_, Some(RowResult::Verified { ok: true, .. })) => (3, &[]),
        (_, Some(RowResult::Digest(hex))) => (4, hex.as_bytes()),
        (_, Some(RowResult::Output(p))) => (5, p.as_os_str().as_bytes()),
        (_, None) => (6, &[]),
    }
}

/// What every cell may need besides its row.
struct CellContext {
    paused: bool,
    /// Marks (for Remove selected) change only between jobs.
    running: bool,
}

/// Draws the list. `paused` shows running rows as paused; `running` is whether a job runs.
pub fn show(
    ui: &mut Ui,
    view: &mut TableView,
    rows: &mut [Row],
    paused: bool,
    running: bool,
    actions: &mut Vec<Action>,
) {
    view.sync(rows);
    if rows.is_empty() {
        ui.centered_and_justified(|ui| {
            ui.label(
                RichText::new(
                    "Drop files or folders here, paste paths (Ctrl+V), or use Add files…",
                )
                .size(16.0)
                .weak(),
            );
        });
        return;
    }
    let row_step = ROW_HEIGHT + ui.spacing().item_spacing.y;
    let page_rows = ((ui.available_height() - HEADER_HEIGHT) / row_step).floor() as usize;
    view.keys(ui, rows, page_rows.saturating_sub(1), running);
    let list_width = ui.available_width();
    let spacing = ui.spacing().item_spacing.x;
    let mut builder = TableBuilder::new(ui)
        .id_salt("ripcord-files")
        .striped(true)
        .resizable(true)
        .auto_shrink(false)
        .cell_layout(egui::Layout::left_to_right(Align::Center));
    for c in Col::ALL {
        builder = builder.column(c.spec(list_width, spacing));
    }
    if let Some((pos, align)) = view.scroll_to.take() {
        builder = builder.scroll_to_row(pos, align);
    }
    let mut clicked_header = None;
    let mut clicked_row = None;
    let mut cursor_rect = None;
    let cx = CellContext { paused, running };
    let body = builder
        .header(HEADER_HEIGHT, |mut header| {
            for c in Col::ALL {
                header.col(|ui| {
                    if header_button(ui, c, view.sort) {
                        clicked_header = Some(c);
                    }
                });
            }
        })
        .body(|body| {
            body.rows(ROW_HEIGHT, view.order.len(), |mut table_row| {
                let pos = table_row.index();
                let Some(&i) = view.order.get(pos) else {
                    return;
                };
                let Some(row) = rows.get_mut(i) else { return };
                table_row.set_selected(row.selected);
                for c in Col::ALL {
                    table_row.col(|ui| {
                        // Ids carry the row, so a click pressed on one row never lands on
                        // another that took its place.
                        if ui.push_id(i, |ui| c.cell(ui, i, row, &cx, actions)).inner {
                            clicked_row = Some(pos);
                        }
                    });
                }
                if view.cursor == Some(pos) {
                    cursor_rect = Some(table_row.response().rect);
                }
            });
        });
    // The cursor is a frame around its row, drawn over the cells and kept out of the header.
    if let Some(r) = cursor_rect {
        let gap = ui.spacing().item_spacing;
        ui.painter().with_clip_rect(body.inner_rect).rect_stroke(
            r.expand2(gap * 0.5),
            2.0,
            ui.visuals().selection.stroke,
            egui::StrokeKind::Inside,
        );
    }
    if let Some(c) = clicked_header {
        view.toggle_sort(c, rows);
    }
    if let Some(pos) = clicked_row {
        view.cursor = Some(pos);
    }
}

/// A header cell: the title and, when it sorts the list, a painted arrow (egui's own fonts
/// have no arrow glyph, and system fonts may be missing); returns whether it was clicked.
fn header_button(ui: &mut Ui, c: Col, sort: Option<Sort>) -> bool {
    let clicked = ui
        .add(egui::Button::new(RichText::new(c.title()).strong()).frame(false))
        .on_hover_text("Sort by this column (again: reverse, a third time: list order)")
        .clicked();
    if let Some(s) = sort.filter(|s| s.col == c) {
        let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
        let (top, bottom) = (rect.top() + 2.0, rect.bottom() - 2.0);
        let (tip, base) = if s.ascending {
            (top, bottom)
        } else {
            (bottom, top)
        };
        let points = vec![
            egui::pos2(rect.center().x, tip),
            egui::pos2(rect.left() + 1.0, base),
            egui::pos2(rect.right() - 1.0, base),
        ];
        let color = ui.visuals().strong_text_color();
        ui.painter().add(egui::Shape::convex_polygon(
            points,
            color,
            egui::Stroke::NONE,
        ));
    }
    clicked
}

/// The name shown: relative to the folder it was found in, else the whole path.
fn shown_name(row: &Row) -> String {
    let p: &Path = row
        .base
        .as_deref()
        .and_then(|b| row.path.strip_prefix(b).ok())
        .unwrap_or(&row.path);
    p.display().to_string()
}

/// The name, cut in the middle to fit; a click marks the row. Clickable but not focusable,
/// so after a click the keyboard still moves the list.
fn name_cell(ui: &mut Ui, row: &mut Row, running: bool) -> bool {
    let font = egui::TextStyle::Body.resolve(ui.style());
    let full = shown_name(row);
    let text = elide_middle(ui, &full, &font, ui.available_width());
    let r = ui
        .add(
            egui::Label::new(text)
                .sense(egui::Sense::CLICK)
                .selectable(false),
        )
        .on_hover_ui(|ui| {
            ui.label(row.path.display().to_string());
        });
    if r.clicked() && !running {
        row.selected = !row.selected;
    }
    r.clicked()
}

fn state_cell(ui: &mut Ui, row: &Row, paused: bool) {
    let color = state_color(ui, &row.state);
    let r =
        ui.add(egui::Label::new(RichText::new(row.state.label(paused)).color(color)).truncate());
    if let FileState::Failed(why) | FileState::Skipped(why) = &row.state {
        r.on_hover_text(why.as_str());
    }
}

fn result_cell(ui: &mut Ui, i: usize, row: &Row, actions: &mut Vec<Action>) {
    // Each kind of content gets its own ids: a press on Skip that is released after the row
    // finished must not click the checksum that took Skip's place.
    match (&row.state, &row.result) {
        (FileState::Running, _) => {
            ui.push_id("running", |ui| {
                ui.with_layout(egui::Layout::right_to_left(Align::Center), |ui| {
                    if ui
                        .button("Skip")
                        .on_hover_text("Stop this file only")
                        .clicked()
                    {
                        actions.push(Action::Skip(i));
                    }
                    let frac = if row.size > 0 {
                        row.done_bytes as f32 / row.size as f32
                    } else {
                        0.0
                    };
                    ui.add(
                        egui::ProgressBar::new(frac.clamp(0.0, 1.0))
                            .desired_width(ui.available_width().min(PROGRESS_MAX_WIDTH))
                            .show_percentage(),
                    );
                });
            });
        }
        (FileState::Failed(why), _) => {
            let color = state_color(ui, &row.state);
            ui.add(egui::Label::new(RichText::new(why.as_str()).color(color)).truncate());
        }
        (FileState::Skipped(why), _) => {
            ui.add(egui::Label::new(RichText::new(why.as_str()).weak()).truncate());
        }
        (_, Some(RowResult::Digest(hex))) => {
            ui.push_id("digest", |ui| {
                let font = egui::TextStyle::Monospace.resolve(ui.style());
                let text = elide_middle(ui, hex, &font, ui.available_width());
                let r = ui
                    .add(
                        egui::Label::new(RichText::new(text).monospace())
                            .sense(egui::Sense::CLICK)
                            .selectable(false),
                    )
                    .on_hover_text(format!("{hex}\nClick to copy"));
                if r.clicked() {
                    actions.push(Action::CopyText(hex.clone()));
                }
            });
        }
        (_, Some(RowResult::Verified { ok, algo })) => {
            // Which algorithm checked it: a manifest of bare 64-digit lines may be
            // SHA-256 or BLAKE3, and the first file decided.
            let (text, good) = match (ok, algo) {
                (true, Some(a)) => (format!("OK ({a})"), true),
                (true, None) => ("OK".to_string(), true),
                (false, Some(a)) => (format!("FAILED: checksum differs ({a})"), false),
                (false, None) => (
                    "FAILED: matches neither as sha256 nor as blake3".to_string(),
                    false,
                ),
            };
            let color = if good {
                state_color(ui, &FileState::Done)
            } else {
                state_color(ui, &FileState::Failed(String::new()))
            };
            ui.add(egui::Label::new(RichText::new(text).color(color)).truncate());
        }
        (_, Some(RowResult::Output(p))) => {
            ui.push_id("output", |ui| {
                ui.with_layout(egui::Layout::right_to_left(Align::Center), |ui| {
                    if ui
                        .small_button("Show")
                        .on_hover_text("Show in the file manager")
                        .clicked()
                    {
                        actions.push(Action::Reveal(i));
                    }
                    let font = egui::TextStyle::Monospace.resolve(ui.style());
                    let full = p.display().to_string();
                    let text = elide_middle(ui, &full, &font, ui.available_width());
                    ui.label(RichText::new(text).monospace())
                        .on_hover_text(full);
                });
            });
        }
        _ => {}
    }
}

/// `text` cut in the middle with "…" to fit `max_width`, keeping more of the end (a file's
/// name, a checksum's last digits). Lays out O(log n) candidates; only rows on screen ask.
fn elide_middle(ui: &Ui, text: &str, font: &FontId, max_width: f32) -> String {
    let width = |s: &str| {
        ui.ctx().fonts_mut(|f| {
            f.layout_no_wrap(s.to_owned(), font.clone(), Color32::PLACEHOLDER)
                .size()
                .x
        })
    };
    if width(text) <= max_width {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let candidate = |keep: usize| {
        let tail = keep * 3 / 5;
        let head = keep - tail;
        let mut s: String = chars.iter().take(head).collect();
        s.push('…');
        s.extend(chars.iter().skip(chars.len() - tail));
        s
    };
    // The most characters that still fit; "…" alone when nothing does.
    let (mut lo, mut hi) = (0, chars.len().saturating_sub(1));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if width(&candidate(mid)) <= max_width {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    candidate(lo)
}

fn state_color(ui: &Ui, st: &FileState) -> Color32 {
    let dark = ui.visuals().dark_mode;
    match st {
        FileState::Done => {
            if dark {
                Color32::LIGHT_GREEN
            } else {
                Color32::DARK_GREEN
            }
        }
        FileState::Failed(_) => {
            if dark {
                Color32::LIGHT_RED
            } else {
                Color32::DARK_RED
            }
        }
        FileState::Cancelled(_) | FileState::Skipped(_) => {
            if dark {
                Color32::from_rgb(240, 190, 90)
            } else {
                Color32::from_rgb(160, 100, 0)
            }
        }
        _ => ui.visuals().text_color(),
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
