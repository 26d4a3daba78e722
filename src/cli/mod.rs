//! The `ripcord` command line: the same engine as the window, driven from a terminal.
//!
//! Ctrl-C (or SIGTERM) cancels gracefully: workers stop within one chunk, temporaries are
//! removed, what finished is printed, and the exit status is 130 (143). A second Ctrl-C exits
//! at once without joining; the output contract still leaves nothing under a final name.

/// Writes one line to stderr. A failed write is ignored, as coreutils ignores it: there is
/// nowhere left to report it, and a full stderr must neither panic nor stop the job.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

pub mod args;
mod download;
pub mod report;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cancel::{CancelToken, Reason};
use crate::engine::{Destination, Event, Job, JobSpec, Operation, Summary};
use crate::ops::manifest::{Layout, Style};
use crate::output::AtomicOutput;
use crate::units;
use args::{Command, Common};
use report::{Kind, Reporter};

/// Exit status: everything succeeded.
pub const EXIT_OK: i32 = 0;
/// Exit status: some file failed or did not match.
pub const EXIT_TROUBLE: i32 = 1;
/// Exit status: bad usage.
pub const EXIT_USAGE: i32 = 2;
/// Exit status: the `--deadline` ran out (as `timeout`).
pub const EXIT_DEADLINE: i32 = 124;
/// Exit status: Ctrl-C.
pub const EXIT_SIGINT: i32 = 130;
/// Exit status: SIGTERM.
pub const EXIT_SIGTERM: i32 = 143;

/// How often the progress bar and JSON progress are refreshed.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
const JSON_PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Runs a job subcommand and returns the exit status.
pub fn run(command: Command) -> i32 {
    let (op, inputs, common, kind, manifest_out, keep_partial) = match command {
        Command::Hash(a) => {
            let kind = Kind::Hash {
                algo: a.algo,
                style: if a.tag { Style::Tag } else { Style::Gnu },
                layout: Layout {
                    zero: a.zero,
                    no_names: a.no_names,
                },
                to_manifest: a.output.is_some(),
            };
            (
                Operation::Hash { algo: a.algo },
                or_stdin(a.paths),
                a.common,
                kind,
                a.output,
                a.keep_partial,
            )
        }
        Command::Verify(a) => {
            let kind = Kind::Verify {
                strict: a.strict,
                ignore_missing: a.ignore_missing,
                status: a.status,
                warn: a.warn,
                algo: a.algo,
            };
            let op = Operation::Verify {
                algo: a.algo,
                relative_to_manifest: a.relative,
                nul_lines: a.zero,
            };
            (op, or_stdin(a.manifests), a.common, kind, None, false)
        }
        Command::Compress(a) => {
            if a.level > 19 && !a.ultra {
                say!("ripcord: levels above 19 need --ultra (they are slow and use much memory)");
                return EXIT_USAGE;
            }
            let Some(to) = destination(&a.zstd, false, a.paths.len()) else {
                return EXIT_USAGE;
            };
            let op = Operation::Compress {
                level: a.level,
                out_dir: a.out_dir,
                threads: a.threads,
                long: a.zstd.long,
                to,
                remove_source: a.zstd.rm,
            };
            let mut common = a.common;
            one_at_a_time(&a.zstd, &mut common);
            (op, a.paths, common, Kind::Write, None, false)
        }
        Command::Decompress(a) => {
            let Some(to) = destination(&a.zstd, a.test, a.paths.len()) else {
                return EXIT_USAGE;
            };
            let op = Operation::Decompress {
                out_dir: a.out_dir,
                long: a.zstd.long,
                to,
                remove_source: a.zstd.rm,
            };
            let mut common = a.common;
            one_at_a_time(&a.zstd, &mut common);
            (op, a.paths, common, Kind::Write, None, false)
        }
        Command::Copy(a) => {
            if let Err(e) = std::fs::create_dir_all(&a.to) {
                say!(
                    "ripcord: {}: cannot create folder: {}",
                    a.to.display(),
                    crate::error::describe_io(&e)
                );
                return EXIT_TROUBLE;
            }
            let op = Operation::Copy {
                to: a.to,
                verify: a.verify,
            };
            (op, a.paths, a.common, Kind::Write, None, false)
        }
        Command::Download(a) => match download::job(a) {
            Ok((op, urls, common)) => (op, urls, common, Kind::Download, None, false),
            Err(code) => return code,
        },
        Command::Gui(_) => return EXIT_USAGE,
    };
    // Create the manifest's temporary first: an existing file without --force is refused
    // before any work is done.
    let manifest = match &manifest_out {
        Some(path) => match AtomicOutput::create(path, common.force) {
            Ok(out) => Some(out),
            Err(e) => {
                say!("ripcord: {}", in_cli_words(&e));
                return EXIT_TROUBLE;
            }
        },
        None => None,
    };
    let spec = spec_from(op, inputs, &common);
    let job = match Job::start(spec, None) {
        Ok(j) => j,
        Err(e) => {
            say!("ripcord: {e}");
            return EXIT_TROUBLE;
        }
    };
    if let Err(e) = watch_signals(job.token().clone()) {
        say!("ripcord: cannot catch Ctrl-C: {e}");
    }
    let mut reporter = Reporter::new(kind, common.json, common.quiet);
    let summary = drive(&job, &mut reporter, &common);
    job.join();
    reporter.finish();
    let cancel_reason = summary.cancel_reason;
    let mut code = exit_code(&summary, reporter.trouble);
    if let Some(out) = manifest {
        code = write_manifest(out, &mut reporter, &summary, keep_partial, code);
    }
    // Like coreutils, say nothing extra on success unless someone is watching a terminal.
    let noteworthy =
        cancel_reason.is_some_and(|r| r != Reason::OutputClosed) || std::io::stderr().is_terminal();
    if !common.quiet && !common.json && noteworthy {
        print_summary(&summary);
    }
    if common.json {
        reporter.json_finished(&summary, code);
    }
    match reporter.stdout_error() {
        None => code,
        // As coreutils under a closed pipe: quietly, with SIGPIPE's status.
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => crate::sys::exit_by_sigpipe(),
        Some(e) => {
            say!("ripcord: write error: {}", crate::error::describe_io(e));
            code.max(EXIT_TROUBLE)
        }
    }
}

/// Where compress or decompress outputs go, from `-c`, `-o` and `--test`; `None` (after
/// saying why) for `-o` with more than one input.
fn destination(z: &args::ZstdCommon, test: bool, inputs: usize) -> Option<Destination> {
    Some(if test {
        Destination::Nowhere
    } else if z.stdout {
        Destination::Stdout
    } else if let Some(f) = &z.output {
        if inputs != 1 {
            say!("ripcord: -o FILE takes one input (use --out-dir for several)");
            return None;
        }
        Destination::File(f.clone())
    } else {
        Destination::Usual
    })
}

/// Files written one after the other to standard output must come whole and in order: one
/// worker (each file still uses every core the zstd threads can).
fn one_at_a_time(z: &args::ZstdCommon, common: &mut Common) {
    if z.stdout {
        common.jobs = Some(1);
    }
}

/// A library error as the command line says it: the facts, and what to type about them.
/// (An existing output is always reported as [`crate::error::Error::Exists`] itself, never
/// wrapped for its input.)
pub(crate) fn in_cli_words(e: &crate::error::Error) -> String {
    match e {
        crate::error::Error::Exists { .. } => format!("{e} (use --force to overwrite)"),
        _ => e.to_string(),
    }
}

/// No path means standard input, as for coreutils and b3sum.
fn or_stdin(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from(crate::ops::stream::STDIN_NAME)]
    } else {
        paths
    }
}

fn spec_from(op: Operation, inputs: Vec<PathBuf>, c: &Common) -> JobSpec {
    let mut spec = JobSpec::new(op, inputs);
    spec.workers = c.jobs.unwrap_or(0);
    spec.deadline = c.deadline;
    spec.throttle = c.throttle;
    spec.overwrite = c.force;
    spec.follow_symlinks = c.follow_symlinks;
    // Sizes known before the files are read are for the progress bar and the JSON events;
    // without either, a walk skips them (see `JobSpec::sizes_upfront`).
    spec.sizes_upfront = c.json || progress_bar_shown(c);
    spec
}

/// Whether the command shows a progress bar: not quiet, not JSON, standard error a terminal.
fn progress_bar_shown(c: &Common) -> bool {
    !c.quiet && !c.json && std::io::stderr().is_terminal()
}

/// Reads events until `Finished`, keeping a progress bar (on a terminal) up to date.
fn drive(job: &Job, reporter: &mut Reporter, common: &Common) -> Summary {
    let bar = progress_bar_shown(common).then(|| {
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(style)
    });
    let mut last_json = Instant::now();
    let mut since_look = 0usize;
    let mut streaming = false;
    loop {
        // Events waiting are taken without a timeout, whose deadline reads the clock: three
        // events a file, a million files, and the clock was 3 % of the run.
        let (event, waited) = match job.events().try_recv() {
            Ok(ev) => {
                streaming = true;
                (Some(ev), false)
            }
            Err(crossbeam_channel::TryRecvError::Disconnected) => return Summary::default(),
            // While events stream, a short sleep when they run out: a receiver waiting in the
            // channel spins and yields first (sched_yield: a hundred thousand calls for
            // 100,000 small files) and is then woken by a futex call per event. Once a
            // nap brings nothing, the next wait is in the channel.
            Err(crossbeam_channel::TryRecvError::Empty) if streaming => {
                streaming = false;
                std::thread::sleep(STREAM_NAP);
                (None, true)
            }
            Err(crossbeam_channel::TryRecvError::Empty) => {
                let wait = if reporter.has_pending() {
                    report::GATHER_AT_MOST
                } else {
                    PROGRESS_EVERY
                };
                match job.events().recv_timeout(wait) {
                    Ok(ev) => (Some(ev), true),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => (None, true),
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                        return Summary::default();
                    }
                }
            }
        };
        match event {
            Some(Event::Finished(summary)) => {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                return summary;
            }
            Some(ev) => {
                let print = |r: &mut Reporter| r.event(ev);
                match &bar {
                    Some(b) => b.suspend(|| print(reporter)),
                    None => print(reporter),
                }
            }
            None => {}
        }
        // Results that cannot be delivered are not worth computing: stop at once
        // (`ripcord hash big… | head -1`).
        if reporter.stdout_error().is_some() {
            job.cancel(Reason::OutputClosed);
        }
        // The clocks (gathered lines, progress) are looked at after a wait, and every
        // LOOK_EVERY events while they stream: lines then wait at most GATHER_AT_MOST plus
        // the time of those events (microseconds).
        since_look += 1;
        if !waited && since_look < LOOK_EVERY {
            continue;
        }
        since_look = 0;
        reporter.tick();
        // Taken only when shown: it collects the running files, and there is an event per
        // file start and end (three million for a million files).
        if let Some(b) = &bar {
            let p = job.progress();
            b.set_length(p.bytes_total);
            b.set_position(p.bytes_done);
            b.set_message(format!("{}/{} files", p.files_finished, p.files_total));
        }
        if common.json && last_json.elapsed() >= JSON_PROGRESS_EVERY {
            last_json = Instant::now();
            reporter.json_progress(&job.progress());
        }
    }
}

/// Events handled between two looks at the clocks while events stream (see [`drive`]).
const LOOK_EVERY: usize = 64;

/// How long [`drive`] sleeps when streaming events run out, before it looks again.
const STREAM_NAP: std::time::Duration = std::time::Duration::from_millis(1);

fn exit_code(summary: &Summary, trouble: bool) -> i32 {
    match summary.cancel_reason {
        Some(Reason::Deadline) => EXIT_DEADLINE,
        Some(Reason::OutputClosed) => EXIT_TROUBLE,
        Some(Reason::Terminate) => EXIT_SIGTERM,
        Some(_) => EXIT_SIGINT,
        // The reporter saw every failure and knows which ones do not count
        // (`verify --ignore-missing`).
        None if trouble => EXIT_TROUBLE,
        None => EXIT_OK,
    }
}

fn write_manifest(
    mut out: AtomicOutput,
    reporter: &mut Reporter,
    summary: &Summary,
    keep_partial: bool,
    code: i32,
) -> i32 {
    use std::io::Write;
    let path = out.final_path().to_path_buf();
    let mut body = Vec::new();
    if let Some(reason) = summary.cancel_reason {
        if !keep_partial {
            say!(
                "ripcord: {}: not written, the job was cancelled (use --keep-partial to save the {} finished lines)",
                path.display(),
                reporter.manifest_lines
            );
            return code;
        }
        body.extend_from_slice(&crate::ops::manifest::partial_header(
            reason,
            reporter.manifest_lines,
            None,
        ));
    }
    body.append(&mut reporter.manifest);
    let written = out
        .file()
        .write_all(&body)
        .map_err(|e| crate::error::Error::io(&path, "write", e))
        .and_then(|()| out.commit());
    match written {
        Ok(_) => code,
        Err(e) => {
            say!("ripcord: {e}");
            code.max(EXIT_TROUBLE)
        }
    }
}

fn print_summary(s: &Summary) {
    let secs = s.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        s.bytes as f64 / secs
    } else {
        0.0
    };
    let mut line = format!(
        "ripcord: {} done, {} failed",
        s.done - s.mismatched,
        s.failed
    );
    if s.mismatched > 0 {
        line += &format!(", {} did not match", s.mismatched);
    }
    if s.cancelled > 0 {
        line += &format!(", {} cancelled", s.cancelled);
    }
    if s.skipped > 0 {
        line += &format!(", {} skipped", s.skipped);
    }
    line += &format!(
        "; {} in {:.2} s ({}/s)",
        units::human_bytes(s.bytes),
        secs,
        units::human_bytes(rate as u64)
    );
    if let (Some(r), Some(lat)) = (s.cancel_reason, s.stop_latency) {
        line += &format!(
            "; {r}, all workers stopped {:.1} ms after the cancel",
            lat.as_secs_f64() * 1000.0
        );
    }
    say!("{line}");
}

/// First SIGINT/SIGTERM: cancel the job. Second: leave at once, removing what temporaries
/// can be removed without waiting for the workers.
fn watch_signals(token: CancelToken) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("ripcord-signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                seen += 1;
                let (reason, code) = if sig == SIGTERM {
                    (Reason::Terminate, EXIT_SIGTERM)
                } else {
                    (Reason::Interrupt, EXIT_SIGINT)
                };
                if seen == 1 {
                    token.cancel(reason);
                } else {
                    crate::output::remove_live_temporaries();
                    say!("ripcord: exiting at once, without waiting for the workers");
                    std::process::exit(code);
                }
            }
        })?;
    Ok(())
}
