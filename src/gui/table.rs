//! The file list: a table with resizable, sortable columns over a virtual body, and a
//! keyboard cursor. The columns are here; the view order and cursor in `view`, the cells'
//! contents in `cells`.
//!
//! Invariants: the rows themselves are never reordered here (other code addresses rows by
//! index); a sort is a view order, a permutation kept in [`TableView`]. Per-frame work is
//! proportional to the rows on screen: the permutation is rebuilt only when the sort changes
//! or rows are removed, and rows added are merged in, never re-sorted with the rest. A sort is
//! a snapshot: a row whose state changes keeps its place (rows added under a sort take theirs
//! among the others). Widget ids carry the row, so a click pressed on one row never acts on
//! another that came under the pointer before the release.

mod cells;
mod view;

use std::os::unix::ffi::OsStrExt;

use egui::{Align, RichText, Ui};
use egui_extras::{Column, TableBuilder};

use super::Action;
use super::model::Row;
use crate::units::human_bytes;
use cells::{name_cell, result_cell, state_cell};
pub use view::{Sort, TableView};
use view::{result_key, state_rank};

const ROW_HEIGHT: f32 = 22.0;
const HEADER_HEIGHT: f32 = 24.0;
const SIZE_WIDTH: f32 = 80.0;
const STATE_WIDTH: f32 = 110.0;
/// The Manifest column's first width (verify entries only).
const MANIFEST_WIDTH: f32 = 130.0;
/// The Name column's share of the list's width when first shown.
const NAME_SHARE: f32 = 0.45;
const MIN_NAME_WIDTH: f32 = 120.0;
const MIN_RESULT_WIDTH: f32 = 120.0;

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
    /// For verify entries: the manifest the row came from.
    Manifest,
}

impl Col {
    /// The columns, left to right.
    pub const ALL: [Col; 4] = [Col::Name, Col::Size, Col::State, Col::Result];

    /// The columns when the list holds verify entries: which manifest each came from too.
    pub const WITH_MANIFEST: [Col; 5] =
        [Col::Name, Col::Manifest, Col::Size, Col::State, Col::Result];

    fn title(self) -> &'static str {
        match self {
            Col::Name => "Name",
            Col::Size => "Size",
            Col::State => "State",
            Col::Result => "Result",
            Col::Manifest => "Manifest",
        }
    }

    /// The column's sizing. The last column takes what is left, and the Name column never
    /// grows past what leaves the others their room, also after the window narrows (egui
    /// keeps a resized width; the bound is applied anew each frame).
    fn spec(self, list_width: f32, spacing: f32, manifests: bool) -> Column {
        let manifest_room = if manifests {
            MANIFEST_WIDTH + spacing
        } else {
            0.0
        };
        match self {
            Col::Name => {
                let room = list_width
                    - SIZE_WIDTH
                    - STATE_WIDTH
                    - MIN_RESULT_WIDTH
                    - manifest_room
                    - 4.0 * spacing;
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
            Col::Manifest => Column::initial(MANIFEST_WIDTH)
                .at_least(40.0)
                .resizable(true)
                .clip(true),
        }
    }

    /// What this column sorts a row by (ascending), borrowed from the row.
    fn key(self, r: &Row) -> SortKey<'_> {
        match self {
            // Bytes, not path components: the same order for names, several times faster
            // over a million rows.
            Col::Name => SortKey::Bytes(r.path.as_os_str().as_bytes()),
            Col::Size => SortKey::Number(r.size),
            Col::State => SortKey::Ranked(state_rank(&r.state), &[]),
            Col::Result => {
                let (rank, text) = result_key(r);
                SortKey::Ranked(rank, text)
            }
            Col::Manifest => {
                SortKey::Bytes(r.origin().map_or(&[][..], |m| m.as_os_str().as_bytes()))
            }
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
            Col::Name => return name_cell(ui, row),
            Col::Size => {
                ui.label(human_bytes(row.size));
            }
            Col::State => state_cell(ui, row, cx.paused),
            Col::Result => result_cell(ui, i, row, out),
            Col::Manifest => {
                if let Some(m) = row.origin() {
                    let name = m.file_name().unwrap_or(m.as_os_str()).to_string_lossy();
                    ui.add(egui::Label::new(name).truncate())
                        .on_hover_text(m.display().to_string());
                }
            }
        }
        false
    }
}

/// A row's place in a column's order. One column uses one kind; the kinds never meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey<'a> {
    Number(u64),
    Bytes(&'a [u8]),
    /// A group (a state, a kind of result), then text within it.
    Ranked(u8, &'a [u8]),
}

/// What every cell may need besides its row.
struct CellContext {
    paused: bool,
}

/// Draws the list. `paused` shows running rows as paused. Marks (for Remove selected) may
/// change while a job runs: what removing a row of the job means is the app's business.
pub fn show(
    ui: &mut Ui,
    view: &mut TableView,
    rows: &mut [Row],
    paused: bool,
    manifests: bool,
    actions: &mut Vec<Action>,
) {
    let cols: &[Col] = if manifests {
        &Col::WITH_MANIFEST
    } else {
        &Col::ALL
    };
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
    // Enter on a row does what its own button does: Resume, for a download that stopped.
    if let Some(i) = view.keys(ui, rows, page_rows.saturating_sub(1))
        && rows.get(i).is_some_and(super::download::offers_resume)
    {
        actions.push(Action::Resume(i));
    }
    let list_width = ui.available_width();
    let spacing = ui.spacing().item_spacing.x;
    let mut builder = TableBuilder::new(ui)
        .id_salt("ripcord-files")
        .striped(true)
        .resizable(true)
        .auto_shrink(false)
        // egui_extras keeps a scrolled body at least 200 points high even where less is
        // left (a short window, a large zoom); the rest ran on under the status bar, out of
        // reach of End and the scroll wheel.
        .min_scrolled_height(0.0)
        .cell_layout(egui::Layout::left_to_right(Align::Center));
    for &c in cols {
        builder = builder.column(c.spec(list_width, spacing, manifests));
    }
    if let Some((pos, align)) = view.scroll_to.take() {
        builder = builder.scroll_to_row(pos, align);
    }
    let mut clicked_header = None;
    let mut clicked_row = None;
    let mut cursor_rect = None;
    let cx = CellContext { paused };
    let body = builder
        .header(HEADER_HEIGHT, |mut header| {
            for &c in cols {
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
                for &c in cols {
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
    // Applied after drawing, so shown on the next frame: ask for it now, not when the mouse
    // next moves.
    if let Some(c) = clicked_header {
        view.toggle_sort(c, rows);
        ui.ctx().request_repaint();
    }
    if let Some(pos) = clicked_row {
        view.cursor = Some(pos);
        ui.ctx().request_repaint();
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
