//! `ripcord`: parses the command line and hands over to the CLI or the window.

use clap::Parser;
use ripcord::cli::{self, args::Cli, args::Command};

fn main() {
    ripcord::init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // clap prints help and version on stdout (status 0) and errors on stderr (2).
            let _ = e.print();
            std::process::exit(if e.use_stderr() {
                cli::EXIT_USAGE
            } else {
                cli::EXIT_OK
            });
        }
    };
    let code = match cli.command {
        None => ripcord::gui::run(Default::default()),
        Some(Command::Gui(args)) => ripcord::gui::run(args.into_launch()),
        Some(cmd) => cli::run(cmd),
    };
    std::process::exit(code);
}
