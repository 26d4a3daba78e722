//! The output contract, proved on a real process: a file under its final name is always
//! complete. Ctrl-C, SIGTERM, a second Ctrl-C and `kill -9` in the middle of a large file
//! leave no output and no temporary (or, with named temporaries after `kill -9`, one that the
//! next run sweeps away), and the source is never touched.
//!
//! Every wait is for an event of the `--json` stream (or a condition polled with a deadline),
//! never a sleep. Files are throttled so that each run lasts seconds, not milliseconds.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;

/// Big enough that, throttled to [`RATE`], one file takes about three seconds.
const BIG: usize = 64 << 20;
const RATE: &str = "20MB/s";
/// The one timing promise: Ctrl-C ends the process within this.
const CTRL_C_LIMIT: Duration = Duration::from_secs(2);

const NAMED_TEMPS: (&str, &str) = ("RIPCORD_NO_TMPFILE", "1");

#[derive(Debug, Clone, Copy)]
enum Op {
    HashManifest,
    Compress,
    Decompress,
    Copy,
}

/// One operation on one big file, ready to run in `dir`.
struct Case {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    args: Vec<String>,
    /// The file read (must be unchanged afterwards).
    source: PathBuf,
    /// Where the output would go.
    output: PathBuf,
    /// What the output's folder must hold after a cancel: exactly this.
    after: Vec<&'static str>,
}

impl Case {
    fn new(op: Op) -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let (args, source, output, after): (&[&str], &str, &str, &[&str]) = match op {
            Op::HashManifest => (
                &["hash", "-o", "m.sha256", "big"],
                "big",
                "m.sha256",
                &["big"],
            ),
            Op::Compress => (&["compress", "big"], "big", "big.zst", &["big"]),
            Op::Decompress => (&["decompress", "big.zst"], "big.zst", "big", &["big.zst"]),
            Op::Copy => (&["copy", "--to", "out", "big"], "big", "out/big", &[]),
        };
        if let Op::Decompress = op {
            // Random data: the .zst is as big as the file, so the throttle on the compressed
            // input makes it last as long as the others.
            file(&dir.join("orig/big"), BIG, 2);
            tool(&dir, "zstd", ["-q", "-1", "orig/big", "-o", "big.zst"]).expect_code(0);
            fs::remove_dir_all(dir.join("orig")).unwrap();
        } else {
            file(&dir.join("big"), BIG, 1);
        }
        Case {
            _tmp: tmp,
            args: args.iter().map(|s| s.to_string()).collect(),
            source: dir.join(source),
            output: dir.join(output),
            after: after.to_vec(),
            dir,
        }
    }

    fn throttled(&self) -> Vec<String> {
        let mut a = self.args.clone();
        a.extend(["--throttle".to_string(), RATE.to_string()]);
        a
    }

    fn output_dir(&self) -> PathBuf {
        self.output.parent().unwrap().to_path_buf()
    }

    /// Nothing under the final name, nothing else beside it, no temporary anywhere.
    fn assert_nothing_written(&self, what: &str) {
        assert!(
            !self.output.exists(),
            "{what}: {} exists",
            self.output.display()
        );
        assert_only(&self.output_dir(), &self.after);
        assert_eq!(
            temporaries(&self.dir),
            Vec::<PathBuf>::new(),
            "{what}: temporaries"
        );
    }
}

/// Starts `case` throttled, waits until bytes are flowing, sends `sig`, and checks the exit
/// status and that nothing was written and the source is unchanged.
fn signal_midway(op: Op, sig: &str, code: i32, reason: &str) {
    let case = Case::new(op);
    let before = sha256_of(&case.source);
    let mut child = JsonChild::spawn(&case.dir, case.throttled(), &[]);
    let progress = child.wait_progress(WAIT);
    assert!(
        progress["bytes_done"].as_u64().unwrap() < BIG as u64,
        "{op:?} finished too early to be cancelled: {progress}"
    );
    child.signal(sig);
    let exit = child.finish(WAIT);
    let what = format!("{op:?} after SIG{sig}");
    assert_eq!(exit.code(), code, "{what}: {}", exit.stderr);
    if sig == "INT" {
        assert!(
            exit.took < CTRL_C_LIMIT,
            "{what}: took {:?} to exit",
            exit.took
        );
    }
    let finished = exit.finished();
    assert_eq!(finished["exit_code"], code, "{what}");
    assert_eq!(finished["cancel_reason"], reason, "{what}");
    assert_eq!(finished["done"], 0, "{what}");
    assert_eq!(
        exit.named("cancelled").len(),
        1,
        "{what}: one file cancelled"
    );
    case.assert_nothing_written(&what);
    assert_eq!(
        sha256_of(&case.source),
        before,
        "{what}: the source changed"
    );
}

#[test]
fn ctrl_c_in_the_middle_of_hash_to_manifest_exits_130_and_writes_nothing() {
    signal_midway(Op::HashManifest, "INT", 130, "interrupt");
}

#[test]
fn ctrl_c_in_the_middle_of_compress_exits_130_and_writes_nothing() {
    signal_midway(Op::Compress, "INT", 130, "interrupt");
}

#[test]
fn ctrl_c_in_the_middle_of_decompress_exits_130_and_writes_nothing() {
    signal_midway(Op::Decompress, "INT", 130, "interrupt");
}

#[test]
fn ctrl_c_in_the_middle_of_copy_exits_130_and_writes_nothing() {
    signal_midway(Op::Copy, "INT", 130, "interrupt");
}

#[test]
fn sigterm_in_the_middle_of_a_file_exits_143_and_writes_nothing() {
    signal_midway(Op::Compress, "TERM", 143, "terminate");
    signal_midway(Op::HashManifest, "TERM", 143, "terminate");
}

/// Starts `case`, waits until its output is being written, and `kill -9`s it. With named
/// temporaries, waits until the temporary holds data. Returns the dead process's id.
fn kill_9_mid_write(case: &Case, named_temps: bool) -> u32 {
    let env: &[(&str, &str)] = if named_temps { &[NAMED_TEMPS] } else { &[] };
    let mut child = JsonChild::spawn(&case.dir, case.throttled(), env);
    child.wait_progress(WAIT);
    if named_temps {
        let out_dir = case.output_dir();
        wait_until(WAIT, "a temporary holding data", || {
            temporaries(&out_dir)
                .iter()
                .any(|t| fs::metadata(out_dir.join(t)).is_ok_and(|m| m.len() > 0))
        });
    }
    let pid = child.pid();
    child.signal("KILL");
    let exit = child.finish(WAIT);
    assert_eq!(exit.status.signal(), Some(9), "killed by SIGKILL");
    assert!(
        !case.output.exists(),
        "{}: exists after kill -9",
        case.output.display()
    );
    pid
}

#[test]
#[cfg_attr(
    feature = "portable-io",
    ignore = "O_TMPFILE only: the portable path names its temporaries, which the next test covers"
)]
fn kill_9_mid_write_leaves_nothing_at_all() {
    for op in [Op::Compress, Op::Copy] {
        let case = Case::new(op);
        kill_9_mid_write(&case, false);
        // The anonymous temporary died with the process.
        case.assert_nothing_written(&format!("{op:?} after kill -9"));
    }
}

#[test]
fn kill_9_with_named_temporaries_leaves_one_that_the_next_run_sweeps() {
    for op in [Op::Compress, Op::Copy] {
        let case = Case::new(op);
        let out_dir = case.output_dir();
        let pid = kill_9_mid_write(&case, true);
        let left = temporaries(&out_dir);
        assert_eq!(left.len(), 1, "{op:?}: one leftover temporary: {left:?}");
        let name = left[0].to_string_lossy().into_owned();
        assert!(
            name.starts_with(&format!("{TEMP_PREFIX}{pid}-")) && name.ends_with(".tmp"),
            "{op:?}: temporary named after the dead process: {name}"
        );
        let mut after: Vec<&str> = case.after.clone();
        after.push(&name);
        assert_only(&out_dir, &after);

        // Any later run that writes into that folder removes it.
        write_file(&case.dir.join("small.txt"), b"small\n");
        let (args, made): (&[&str], &str) = match op {
            Op::Copy => (&["copy", "--to", "out", "small.txt"], "small.txt"),
            _ => (&["compress", "small.txt"], "small.txt.zst"),
        };
        ripcord_env(&case.dir, args, &[NAMED_TEMPS]).expect_code(0);
        assert!(out_dir.join(made).exists(), "{op:?}: the next run's output");
        assert_eq!(
            temporaries(&case.dir),
            Vec::<PathBuf>::new(),
            "{op:?}: swept"
        );
        assert!(!case.output.exists());
    }
}

/// 40 files of 256 KiB in `d/`, hashed throttled so that the run lasts about 5 s.
fn many_files() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    for i in 0..40 {
        write_file(&dir.join(format!("d/f{i:02}")), &bytes(256 << 10, i));
    }
    (tmp, dir)
}

/// Hashes `d/` into `m.sha256` throttled, and presses Ctrl-C once a few files are done.
fn cancel_after_some_files(dir: &Path, extra: &[&str]) -> Exit {
    let mut args = vec!["hash", "-o", "m.sha256", "--throttle", "2MB/s", "d"];
    args.extend(extra);
    let mut child = JsonChild::spawn(dir, &args, &[]);
    for _ in 0..3 {
        child.wait_event("done", WAIT);
    }
    child.signal("INT");
    let exit = child.finish(WAIT);
    assert_eq!(exit.code(), 130, "{}", exit.stderr);
    assert!(exit.took < CTRL_C_LIMIT, "took {:?} to exit", exit.took);
    exit
}

#[test]
fn keep_partial_writes_a_manifest_marked_partial_whose_lines_are_valid() {
    let (_tmp, dir) = many_files();
    let exit = cancel_after_some_files(&dir, &["--keep-partial"]);
    let done = exit.named("done").len();

    let text = fs::read_to_string(dir.join("m.sha256")).expect("the partial manifest");
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("# partial: cancelled"),
        "first line: {first:?}"
    );
    let listed: Vec<&str> = lines.collect();
    assert_eq!(listed.len(), done, "one line per finished file:\n{text}");
    assert!((3..40).contains(&listed.len()), "{} lines", listed.len());
    assert!(
        first.contains(&format!("{} of the files are listed", listed.len())),
        "the comment counts the lines: {first:?}"
    );
    for line in &listed {
        assert!(
            line.len() == 64 + 2 + 5 && line[64..].starts_with("  d/f"),
            "{line:?}"
        );
    }

    // coreutils skips the comment line and accepts the rest; so does ripcord.
    let check = tool(&dir, "sha256sum", ["-c", "--strict", "m.sha256"]);
    check.expect_code(0);
    assert_eq!(
        check.out().matches(": OK\n").count(),
        listed.len(),
        "{}",
        check.out()
    );
    let ours = ripcord(&dir, ["verify", "--strict", "m.sha256"]);
    ours.expect_code(0);
    assert_eq!(temporaries(&dir), Vec::<PathBuf>::new());
}

#[test]
fn without_keep_partial_a_cancelled_manifest_is_not_written() {
    let (_tmp, dir) = many_files();
    let exit = cancel_after_some_files(&dir, &[]);
    assert!(
        !dir.join("m.sha256").exists(),
        "no manifest without --keep-partial"
    );
    assert_only(&dir, &["d"]);
    assert!(exit.stderr.contains("m.sha256"), "{}", exit.stderr);
    assert!(
        exit.stderr.contains("--keep-partial"),
        "says how to keep it: {}",
        exit.stderr
    );
}

/// Presses Ctrl-C twice in a row in the middle of a big compress.
fn double_ctrl_c(case: &Case, env: &[(&str, &str)]) -> Exit {
    let mut child = JsonChild::spawn(&case.dir, case.throttled(), env);
    child.wait_progress(WAIT);
    child.signal("INT");
    child.signal("INT");
    let exit = child.finish(WAIT);
    assert_eq!(exit.code(), 130, "{}", exit.stderr);
    assert!(exit.took < CTRL_C_LIMIT, "took {:?} to exit", exit.took);
    assert!(!case.output.exists(), "nothing under the final name");
    exit
}

#[test]
fn second_ctrl_c_exits_at_once_with_130_and_nothing_under_a_final_name() {
    for op in [Op::Compress, Op::Copy] {
        let case = Case::new(op);
        let before = sha256_of(&case.source);
        double_ctrl_c(&case, &[]);
        case.assert_nothing_written(&format!("{op:?} after two Ctrl-C"));
        assert_eq!(sha256_of(&case.source), before);
    }
}

#[test]
fn second_ctrl_c_with_named_temporaries_leaves_nothing_the_next_run_keeps() {
    let case = Case::new(Op::Compress);
    double_ctrl_c(&case, &[NAMED_TEMPS]);
    // An exit that does not wait may race a worker's own clean-up; whatever is left is a
    // temporary, never a final name, and the next run into the folder removes it.
    write_file(&case.dir.join("small.txt"), b"small\n");
    ripcord_env(&case.dir, ["compress", "small.txt"], &[NAMED_TEMPS]).expect_code(0);
    assert_only(&case.dir, &["big", "small.txt", "small.txt.zst"]);
}

/// A file cut short or removed while it is read fails with a sentence that says so; the
/// other files of the job are still done.
#[test]
fn a_file_truncated_or_removed_while_read_is_a_clear_error() {
    let tmp = tempdir();
    let dir = tmp.path();
    file(&dir.join("shrinks.bin"), 8 << 20, 6);
    file(&dir.join("goes.bin"), 8 << 20, 7);
    file(&dir.join("stays.bin"), 1000, 8);
    let mut child = JsonChild::spawn(
        dir,
        [
            "hash",
            "-j",
            "3",
            "--throttle",
            "8MB/s",
            "shrinks.bin",
            "goes.bin",
            "stays.bin",
        ],
        &[],
    );
    child.wait_for("1 MiB done", WAIT, |e| {
        e["event"] == "progress" && e["bytes_done"].as_u64().unwrap_or(0) > 1 << 20
    });
    fs::File::options()
        .write(true)
        .open(dir.join("shrinks.bin"))
        .unwrap()
        .set_len(4096)
        .unwrap();
    fs::remove_file(dir.join("goes.bin")).unwrap();
    let exit = child.finish(WAIT);
    assert_eq!(exit.code(), 1, "{}", exit.stderr);
    exit.finished();
    let mut failed: Vec<String> = exit
        .named("failed")
        .iter()
        .map(|e| e["error"].as_str().unwrap().to_string())
        .collect();
    failed.sort();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed[0].contains("goes.bin: file was removed while being read"),
        "{failed:?}"
    );
    assert!(
        failed[1].contains("shrinks.bin: file changed while being read"),
        "{failed:?}"
    );
}
