//! The eframe window.

use crate::cli::args::GuiArgs;

/// Opens the window and returns the exit status when it closes.
pub fn run(_args: GuiArgs) -> i32 {
    eprintln!("ripcord: the window is not built yet; see `ripcord --help`");
    2
}
