//! The trust contract: every result true, every failure loud. Each test here is a case that
//! once said "fine" when it was not, or failed with exit status 0; each names the item of
//! the issue it proves.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// The binary under test: this build's, or `RIPCORD_BIN` (to show that a test fails on an
/// older build).
fn bin() -> String {
    std::env::var("RIPCORD_BIN").unwrap_or_else(|_| BIN.to_string())
}

fn rc<I, S>(dir: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    run_in(dir, &bin(), args, &[])
}

fn rc_env<I, S>(dir: &Path, args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    run_in(dir, &bin(), args, env)
}

/// Runs ripcord with stdin from `input` and stdout to `stdout` (a file such as /dev/full).
fn ripcord_io(dir: &Path, args: &[&str], input: Stdio, stdout: Stdio) -> (i32, String) {
    let out = Command::new(bin())
        .current_dir(dir)
        .args(args)
        .stdin(input)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or_else(|| {
        panic!(
            "killed by signal {:?}: {}",
            out.status.signal(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn dev_full() -> Stdio {
    Stdio::from(OpenOptions::new().write(true).open("/dev/full").unwrap())
}

fn sha256_line(dir: &Path, name: &str) -> Vec<u8> {
    tool(dir, "sha256sum", [name]).stdout
}

// 1. Writing stdout can fail silently.
#[test]
fn a_stdout_that_cannot_be_written_fails_the_run() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("a"), b"abc");
    for args in [
        &["hash", "a"][..],
        &["hash", "--json", "a"][..],
        &["hash", "-a", "blake3", "a"][..],
    ] {
        let (code, err) = ripcord_io(dir, args, Stdio::null(), dev_full());
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains("write error"), "{args:?}: {err}");
    }
    let m = tool(dir, "sha256sum", ["a"]).stdout;
    write_file(&dir.join("m.sha256"), &m);
    let (code, err) = ripcord_io(dir, &["verify", "m.sha256"], Stdio::null(), dev_full());
    assert_eq!(code, 1, "verify: {err}");
    assert!(err.contains("write error"), "{err}");
}

/// `ripcord hash -j 1 --throttle 4MB/s` over `files` files of 1 MiB made in `dir`, its
/// stdout a pipe: a job that takes a quarter of a second a file.
fn throttled_hash(dir: &Path, files: u64, stderr: Stdio) -> std::process::Child {
    let names = numbered_files(dir, "f", files, 1 << 20);
    Command::new(bin())
        .current_dir(dir)
        .args(["hash", "-j", "1", "--throttle", "4MB/s"])
        .args(&names)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

// 1. A closed pipe stops the job at once, quietly or with SIGPIPE's status.
#[test]
fn a_closed_pipe_stops_the_job_at_once() {
    let tmp = tempdir();
    let dir = tmp.path();
    // At 4 MB/s the 40 MiB take ten seconds; a run that stops at the closed pipe takes one.
    let mut child = throttled_hash(dir, 40, Stdio::piped());
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    let closed = Instant::now();
    drop(stdout);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            closed.elapsed() < Duration::from_secs(5),
            "still hashing after the reader left"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        status.signal() == Some(libc_sigpipe())
            || status.code() == Some(141)
            || status.code() == Some(1)
            || status.code() == Some(0),
        "{status:?}: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// Into a pipe, result lines are gathered (one write for many, as coreutils does) but never
/// held back: each arrives while the job still runs, within moments of its file's end.
#[test]
fn lines_reach_a_pipe_as_their_files_finish() {
    let tmp = tempdir();
    let dir = tmp.path();
    // At 4 MB/s a file takes a quarter of a second and the job three seconds.
    let started = Instant::now();
    let mut child = throttled_hash(dir, 12, Stdio::null());
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    for i in 0..2 {
        line.clear();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        assert!(line.ends_with(&format!("  f{i:02}\n")), "{line:?}");
        // The job cannot end before 3 s: a line held to the end comes after that.
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "line {i} came only after {:?}",
            started.elapsed()
        );
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest.lines().count(), 10, "{rest}");
    assert!(child.wait().unwrap().success());
}

fn libc_sigpipe() -> i32 {
    13
}

// 2. Non-regular files named on the command line are read, as coreutils reads them.
#[test]
fn named_devices_and_fifos_are_read_like_coreutils() {
    let tmp = tempdir();
    let dir = tmp.path();
    let r = rc(dir, ["hash", "/dev/null"]);
    r.expect_code(0);
    assert_same_bytes(&r.stdout, &sha256_line(dir, "/dev/null"), "/dev/null");

    mkfifo(&dir.join("pipe"));
    let writer = {
        let p = dir.join("pipe");
        std::thread::spawn(move || {
            let mut f = OpenOptions::new().write(true).open(p).unwrap();
            f.write_all(b"abc").unwrap();
        })
    };
    let r = rc(dir, ["hash", "pipe"]);
    writer.join().unwrap();
    r.expect_code(0);
    write_file(&dir.join("plain"), b"abc");
    let expected = String::from_utf8(sha256_line(dir, "plain"))
        .unwrap()
        .replace("plain", "pipe");
    assert_eq!(r.out(), expected);

    // Process substitution: a path to a pipe the shell opened.
    let out = Command::new("bash")
        .current_dir(dir)
        .args(["-c", &format!("{} hash <(printf abc)", bin())])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&expected[..64]),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // /dev/zero is read until the deadline.
    let start = Instant::now();
    let r = rc(dir, ["hash", "--deadline", "300ms", "/dev/zero"]);
    r.expect_code(124);
    assert!(start.elapsed() < Duration::from_secs(10));
}

// 3. Standard input.
#[test]
fn a_dash_or_no_path_reads_standard_input() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("a"), &bytes(300_000, 7));
    let a = dir.join("a");
    let theirs = with_stdin(dir, "sha256sum", &[], &a).stdout;
    for args in [&["hash", "-"][..], &["hash"][..]] {
        let out = with_stdin(dir, &bin(), args, &a);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_same_bytes(&out.stdout, &theirs, "stdin");
    }
    let b3 = with_stdin(dir, "b3sum", &[], &a).stdout;
    let out = with_stdin(dir, &bin(), &["hash", "-a", "blake3", "-"], &a);
    assert_same_bytes(&out.stdout, &b3, "stdin blake3");

    // verify reads its manifest from stdin.
    let m = tool(dir, "md5sum", ["a"]).stdout;
    write_file(&dir.join("f.md5"), &m);
    let out = with_stdin(
        dir,
        &bin(),
        &["verify", "-a", "md5", "-"],
        &dir.join("f.md5"),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"a: OK\n");
}

/// `program ARGS < input`, run in `dir`.
fn with_stdin(dir: &Path, program: &str, args: &[&str], input: &Path) -> std::process::Output {
    Command::new(program)
        .current_dir(dir)
        .args(args)
        .stdin(File::open(input).unwrap())
        .output()
        .unwrap()
}

// 4. A b3sum manifest that is not named *.b3.
#[test]
fn a_b3sum_manifest_under_any_name_verifies() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("a"), b"hello\n");
    write_file(&dir.join("b"), &bytes(2_000_000, 3));
    let m = tool(dir, "b3sum", ["a", "b"]).stdout;
    write_file(&dir.join("checksums.txt"), &m);
    let r = rc(dir, ["verify", "checksums.txt"]);
    r.expect_code(0);
    assert_eq!(r.out(), "a: OK\nb: OK\n");
    let r = rc(dir, ["verify", "--json", "checksums.txt"]);
    r.expect_code(0);
    assert!(r.out().contains("\"algorithm\":\"blake3\""), "{}", r.out());

    // A sha256sum manifest under the same neutral name still verifies as SHA-256.
    let m = tool(dir, "sha256sum", ["a", "b"]).stdout;
    write_file(&dir.join("sums.txt"), &m);
    let r = rc(dir, ["verify", "sums.txt"]);
    r.expect_code(0);

    // Neither matches: FAILED, naming both algorithms tried.
    write_file(
        &dir.join("bad.txt"),
        format!("{}  a\n", "0".repeat(64)).as_bytes(),
    );
    let r = rc(dir, ["verify", "bad.txt"]);
    r.expect_code(1);
    assert_eq!(r.out(), "a: FAILED\n");
    assert!(
        r.stderr.contains("sha256") && r.stderr.contains("blake3"),
        "{}",
        r.stderr
    );
}

// 5. Compressed files carry a content checksum, and decompress checks it.
#[test]
fn a_flipped_bit_in_a_zst_is_caught() {
    let tmp = tempdir();
    let dir = tmp.path();
    // Incompressible: stored as raw blocks, where a flipped bit decodes without complaint
    // unless the frame carries a checksum.
    write_file(&dir.join("data"), &bytes(200_000, 9));
    rc(dir, ["compress", "data"]).expect_code(0);
    let mut z = fs::read(dir.join("data.zst")).unwrap();
    let descriptor = z[4];
    assert!(descriptor & 0b100 != 0, "no content checksum flag");
    let mid = z.len() / 2;
    z[mid] ^= 0x10;
    fs::remove_file(dir.join("data")).unwrap();
    write_file(&dir.join("data.zst"), &z);
    let r = rc(dir, ["decompress", "data.zst"]);
    r.expect_code(1);
    assert!(r.stderr.contains("data.zst"), "{}", r.stderr);
    assert!(!dir.join("data").exists(), "no output from a corrupt file");
    let t = tool(dir, "zstd", ["-t", "data.zst"]);
    assert!(!t.status.success(), "zstd -t must reject it too");
}

// 9. OpenSSL lines, BSD names with a leading space or star, BLAKE3 names with \r.
#[test]
fn openssl_lines_and_odd_bsd_names_verify() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("f"), b"abc");
    let md5 = "900150983cd24fb0d6963f7d28e17f72";
    let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    write_file(
        &dir.join("o.txt"),
        format!("MD5(f)= {md5}\nSHA256(f)= {sha}\n").as_bytes(),
    );
    let r = rc(dir, ["verify", "o.txt"]);
    r.expect_code(0);
    assert_eq!(r.out(), "f: OK\nf: OK\n");

    write_file(&dir.join(" lead"), b"x");
    write_file(&dir.join("*star"), b"y");
    for tag in [&["--tag"][..], &[][..]] {
        let mut args: Vec<&str> = tag.to_vec();
        args.extend([" lead", "*star"]);
        let m = tool(dir, "sha256sum", &args).stdout;
        write_file(&dir.join("m.sha256"), &m);
        let ours = rc(dir, ["verify", "m.sha256"]);
        let theirs = tool(dir, "sha256sum", ["-c", "m.sha256"]);
        assert_same_bytes(&ours.stdout, &theirs.stdout, "odd names");
        ours.expect_code(0);
    }

    write_file(&dir.join("c\rr"), b"z");
    let r = rc(dir, ["hash", "-a", "blake3", "c\rr"]);
    r.expect_code(0);
    let hex = String::from_utf8(r.stdout.clone()).unwrap();
    assert!(
        hex.starts_with('\\') && hex.ends_with("  c\\rr\n"),
        "{hex:?}"
    );
    write_file(&dir.join("r.b3"), &r.stdout);
    rc(dir, ["verify", "r.b3"]).expect_code(0);
}

// 10. --force never overwrites an output of the same job.
#[test]
fn two_inputs_with_one_output_name_fail_the_second() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("a/x"), b"from a\n");
    write_file(&dir.join("b/x"), b"from b\n");
    for force in [false, true] {
        let _ = fs::remove_dir_all(dir.join("d"));
        let mut args = vec!["copy", "--to", "d", "a/x", "b/x"];
        if force {
            args.insert(1, "--force");
        }
        let r = rc(dir, &args);
        r.expect_code(1);
        assert!(
            r.stderr.contains("a/x") && r.stderr.contains("b/x"),
            "force={force}: {}",
            r.stderr
        );
        assert_eq!(fs::read(dir.join("d/x")).unwrap(), b"from a\n");
    }
    let r = rc(dir, ["compress", "--force", "--out-dir", "z", "a/x", "b/x"]);
    r.expect_code(1);
    assert!(r.stderr.contains("b/x"), "{}", r.stderr);
    rc(dir, ["decompress", "--out-dir", "y", "z/x.zst"]).expect_code(0);
    assert_eq!(fs::read(dir.join("y/x")).unwrap(), b"from a\n");
}

// 14. copy DIR --to DIR/inside refuses instead of nesting deeper on every run.
#[test]
fn copying_a_folder_into_itself_is_refused() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("src/a"), b"a");
    for to in ["src", "src/sub", "src/."] {
        let r = rc(dir, ["copy", "src", "--to", to]);
        r.expect_code(1);
        assert!(r.stderr.contains("into itself"), "{to}: {}", r.stderr);
    }
    assert_eq!(entries_of(&dir.join("src")), vec!["a", "sub"]);
    assert_eq!(entries_of(&dir.join("src/sub")), Vec::<String>::new());
}

fn entries_of(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// 15. An output that cannot be created names the input, not only its folder.
#[test]
fn an_output_that_cannot_be_created_names_the_input() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("a.txt"), b"a");
    write_file(&dir.join("b.txt"), b"b");
    let Some(ro) = Mount::new(&dir.join("ro"), "ro,size=1m") else {
        return;
    };
    let r = rc(
        dir,
        ["compress", "--out-dir", "ro", "--json", "a.txt", "b.txt"],
    );
    drop(ro);
    r.expect_code(1);
    let failed: Vec<serde_json::Value> = r
        .out()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "failed")
        .collect();
    assert_eq!(failed.len(), 2, "{}", r.out());
    // JSON events come as they happen: two workers may fail the two files in either order.
    for name in ["a.txt", "b.txt"] {
        let ev = failed.iter().find(|v| v["path"] == name);
        let e = ev.and_then(|v| v["error"].as_str()).unwrap_or_default();
        assert!(
            e.contains(name) && e.contains(&format!("ro/{name}.zst")),
            "{name}: {}",
            r.out()
        );
    }
}

// 16. Input that panicked: a huge deadline, a full stderr.
#[test]
fn absurd_input_is_a_usage_error_not_a_panic() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("a"), b"a");
    for d in ["1e19", "1e30s", "99999999999999h"] {
        let r = rc(dir, ["hash", "--deadline", d, "a"]);
        r.expect_code(2);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    let out = Command::new(bin())
        .current_dir(dir)
        .args(["hash", "a", "missing"])
        .stdout(Stdio::piped())
        .stderr(dev_full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a full stderr is ignored");
    assert_same_bytes(&out.stdout, &sha256_line(dir, "a"), "stdout still right");
}

// 17. Errors worded as coreutils words them.
#[test]
fn errors_read_like_coreutils() {
    let tmp = tempdir();
    let dir = tmp.path();
    let r = rc(dir, ["hash", "nope"]);
    r.expect_code(1);
    assert_eq!(r.stderr, "ripcord: nope: No such file or directory\n");
    let t = tool(dir, "sha256sum", ["nope"]);
    assert_eq!(as_ripcord_stderr(&t.stderr, "sha256sum"), r.stderr);
}

// 12. verify can be stopped while it reads a manifest or opens an entry.
#[test]
fn verify_stops_on_time_whatever_it_waits_for() {
    let tmp = tempdir();
    let dir = tmp.path();
    mkfifo(&dir.join("nobody-writes.sha256"));
    let start = Instant::now();
    let r = rc(
        dir,
        ["verify", "--deadline", "300ms", "nobody-writes.sha256"],
    );
    r.expect_code(124);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );

    // A manifest line naming a fifo nobody writes to.
    mkfifo(&dir.join("quiet"));
    write_file(
        &dir.join("m.sha256"),
        format!("{}  quiet\n", "0".repeat(64)).as_bytes(),
    );
    let start = Instant::now();
    let r = rc(dir, ["verify", "--deadline", "300ms", "m.sha256"]);
    r.expect_code(124);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );

    // No newline for ever: a clear error, not an allocator abort.
    let r = rc(dir, ["verify", "/dev/zero"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("/dev/zero") && r.stderr.contains("longer than"),
        "{}",
        r.stderr
    );

    // A manifest that arrives slowly on a pipe still stops at the deadline.
    let start = Instant::now();
    let mut child = Command::new(bin())
        .current_dir(dir)
        .args(["verify", "--deadline", "500ms", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut slow = child.stdin.take().unwrap();
    slow.write_all(format!("{}  quiet", "0".repeat(64)).as_bytes())
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("still reading a silent pipe after 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(slow);
    assert_eq!(status.code(), Some(124));
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

// 11. A full disk fails only the files that do not fit.
#[test]
fn a_full_disk_fails_only_what_does_not_fit() {
    let tmp = tempdir();
    let dir = tmp.path();
    let small = dir.join("small");
    let Some(mount) = Mount::new(&small, "size=8m") else {
        return;
    };
    write_file(&dir.join("a-big"), &bytes(12 << 20, 1));
    let mut args = vec![
        "copy".to_string(),
        "-j".into(),
        "1".into(),
        "--to".into(),
        "small".into(),
        "a-big".into(),
    ];
    for i in 0..5 {
        let n = format!("b{i}");
        write_file(&dir.join(&n), &bytes(200_000, i + 2));
        args.push(n);
    }
    let r = rc(dir, &args);
    let listed = entries(&small);
    drop(mount);
    r.expect_code(1);
    assert!(
        r.stderr.contains("a-big") && r.stderr.contains("No space left"),
        "{}",
        r.stderr
    );
    assert_eq!(listed, vec!["b0", "b1", "b2", "b3", "b4"], "{}", r.stderr);
}

// Machinery: a panic on a worker or the walker fails that file or input; the rest is done.
#[test]
fn a_panic_on_any_thread_fails_one_file_and_the_job_goes_on() {
    let tmp = tempdir();
    let dir = tmp.path();
    for n in ["a", "b", "c"] {
        write_file(&dir.join(n), n.as_bytes());
    }
    for (site, expect) in [
        ("worker:b", "internal error while processing"),
        ("walker:b", "internal error while listing"),
    ] {
        let r = rc_env(
            dir,
            ["hash", "a", "b", "c"],
            &[("RIPCORD_PANIC_FOR_TESTING", site)],
        );
        r.expect_code(1);
        assert!(
            r.stderr.contains(expect) && r.stderr.contains("test panic"),
            "{site}: {}",
            r.stderr
        );
        let out = r.out();
        assert!(
            out.contains("  a\n") && out.contains("  c\n") && !out.contains("  b\n"),
            "{site}: {out}"
        );
    }
}

// Flags users reach for: each compared with the real tool.
#[test]
fn hash_and_verify_flags_match_coreutils_and_b3sum() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("a"), b"abc");
    write_file(&dir.join("n\nl"), b"x\ny");
    write_file(&dir.join("b\\s"), &bytes(70_000, 5));
    let names = ["a", "n\nl", "b\\s"];
    for (algo, reference) in [("sha224", "sha224sum"), ("sha384", "sha384sum")] {
        let mut args = vec!["hash", "-a", algo];
        args.extend(names);
        let ours = rc(dir, &args);
        ours.expect_code(0);
        assert_same_bytes(&ours.stdout, &tool(dir, reference, names).stdout, algo);
        write_file(&dir.join(format!("m.{algo}")), &ours.stdout);
        let check = rc(dir, ["verify", &format!("m.{algo}")]);
        check.expect_code(0);
        assert_same_bytes(
            &check.stdout,
            &tool(dir, reference, ["-c", &format!("m.{algo}")]).stdout,
            "verify",
        );
    }
    let mut args = vec!["hash", "-z"];
    args.extend(names);
    let ours = rc(dir, &args);
    let mut zargs = vec!["-z"];
    zargs.extend(names);
    assert_same_bytes(&ours.stdout, &tool(dir, "sha256sum", &zargs).stdout, "-z");
    write_file(&dir.join("m.z"), &ours.stdout);
    let check = rc(dir, ["verify", "-z", "m.z"]);
    check.expect_code(0);
    assert_eq!(check.out(), "a: OK\n\\n\\nl: OK\nb\\s: OK\n");

    let ours = rc(dir, ["hash", "-a", "blake3", "--no-names", "a", "b\\s"]);
    assert_same_bytes(
        &ours.stdout,
        &tool(dir, "b3sum", ["--no-names", "a", "b\\s"]).stdout,
        "--no-names",
    );

    // --status, --warn, as sha256sum -c says them.
    let good = tool(dir, "sha256sum", ["a"]).stdout;
    let mut m = good.clone();
    m.extend_from_slice(b"not a checksum line\n");
    m.extend_from_slice(format!("{}  missing\n", "0".repeat(64)).as_bytes());
    write_file(&dir.join("m.sha256"), &m);
    for flags in [
        &["--status"][..],
        &["-w"][..],
        &["--status", "-w"][..],
        &["-w", "--status"][..],
    ] {
        let mut args = vec!["verify"];
        args.extend(flags);
        args.push("m.sha256");
        let ours = rc(dir, &args);
        let mut theirs_args = vec!["-c"];
        theirs_args.extend(flags);
        theirs_args.push("m.sha256");
        let theirs = tool(dir, "sha256sum", &theirs_args);
        assert_eq!(ours.status.code(), theirs.status.code(), "{flags:?}");
        assert_same_bytes(&ours.stdout, &theirs.stdout, &format!("{flags:?} stdout"));
        let theirs_err = as_ripcord_stderr(&theirs.stderr, "sha256sum");
        assert_eq!(ours.stderr, theirs_err, "{flags:?} stderr");
    }
}

/// Runs ripcord with stdout captured as bytes (for `-c`).
fn rc_stdout(dir: &Path, args: &[&str]) -> (Option<i32>, Vec<u8>, String) {
    let out = Command::new(bin())
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// zstd's flags: -c, -o, -t, --rm, --ultra, --long, -T, each checked against zstd itself.
#[test]
fn zstd_flags_work_like_zstd() {
    let tmp = tempdir();
    let dir = tmp.path();
    let data = text_bytes(3_000_000, 4);
    write_file(&dir.join("a"), &data);
    write_file(&dir.join("b"), &bytes(500_000, 8));

    // -c both ways, and several files one after the other, as zstd -c concatenates them.
    let (code, z, err) = rc_stdout(dir, &["compress", "-c", "a", "b"]);
    assert_eq!(code, Some(0), "{err}");
    write_file(&dir.join("ab.zst"), &z);
    let mut both = data.clone();
    both.extend(bytes(500_000, 8));
    assert_eq!(tool(dir, "zstd", ["-dc", "ab.zst"]).stdout, both);
    let (code, back, err) = rc_stdout(dir, &["decompress", "-c", "ab.zst"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(back == both, "decompress -c gave other bytes");
    assert_eq!(entries(dir), vec!["a", "ab.zst", "b"], "-c writes no file");

    // -o FILE, one input only.
    rc(dir, ["compress", "-T", "2", "-o", "one.zst", "a"]).expect_code(0);
    assert_eq!(tool(dir, "zstd", ["-dc", "one.zst"]).stdout, data);
    rc(dir, ["compress", "-o", "two.zst", "a", "b"]).expect_code(2);
    rc(dir, ["decompress", "-o", "a.back", "one.zst"]).expect_code(0);
    assert!(fs::read(dir.join("a.back")).unwrap() == data);

    // -t: a good file passes, a corrupt one fails, nothing is written either way.
    rc(dir, ["decompress", "-t", "one.zst"]).expect_code(0);
    let mut bad = fs::read(dir.join("one.zst")).unwrap();
    let n = bad.len();
    bad[n - 2] ^= 1; // inside the content checksum
    write_file(&dir.join("bad.zst"), &bad);
    let r = rc(dir, ["decompress", "-t", "bad.zst", "one.zst"]);
    r.expect_code(1);
    assert!(r.stderr.contains("bad.zst"), "{}", r.stderr);
    assert!(!dir.join("bad").exists() && !dir.join("one").exists());

    // --rm: the source goes only after a complete output; a failure keeps it.
    fs::copy(dir.join("a"), dir.join("c")).unwrap();
    rc(dir, ["compress", "--rm", "c"]).expect_code(0);
    assert!(!dir.join("c").exists());
    assert_eq!(tool(dir, "zstd", ["-dc", "c.zst"]).stdout, data);
    rc(dir, ["decompress", "--rm", "bad.zst"]).expect_code(1);
    assert!(
        dir.join("bad.zst").exists(),
        "a failed decompress keeps its source"
    );
    rc(dir, ["decompress", "--rm", "c.zst"]).expect_code(0);
    assert!(!dir.join("c.zst").exists() && fs::read(dir.join("c")).unwrap() == data);

    // --ultra: levels past 19 only when asked.
    rc(dir, ["compress", "-l", "22", "-o", "u.zst", "b"]).expect_code(2);
    rc(dir, ["compress", "--ultra", "-l", "22", "-o", "u.zst", "b"]).expect_code(0);
    assert_eq!(
        tool(dir, "zstd", ["-dc", "u.zst"]).stdout,
        bytes(500_000, 8)
    );

    // --long: a frame whose window is past zstd's default 128 MiB.
    let zeros = vec![0u8; 140 << 20];
    write_file(&dir.join("z"), &zeros);
    tool(dir, "zstd", ["-q", "-1", "--long=28", "z", "-o", "z.zst"]).expect_code(0);
    let r = rc(dir, ["decompress", "-t", "z.zst"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("--long") && !r.stderr.contains("corrupt"),
        "{}",
        r.stderr
    );
    rc(dir, ["decompress", "-t", "--long=28", "z.zst"]).expect_code(0);
    rc(dir, ["compress", "--long=28", "-o", "z2.zst", "z"]).expect_code(0);
    let t = tool(dir, "zstd", ["-t", "--long=28", "z2.zst"]);
    assert!(t.status.success(), "{}", t.stderr);
}

// The cancel contract holds for a stream to stdout too: a deadline stops it.
#[test]
fn a_deadline_stops_a_stream_to_stdout() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("big"), &bytes(32 << 20, 3));
    let start = Instant::now();
    let (code, _, err) = rc_stdout(
        dir,
        &[
            "compress",
            "-c",
            "--throttle",
            "4MB/s",
            "--deadline",
            "300ms",
            "big",
        ],
    );
    assert_eq!(code, Some(124), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(entries(dir), vec!["big"]);
}

/// Item 7: a SIGBUS sent with `kill` is not a fault in a mapped window (its `si_addr` is no
/// address), so the handler must not swallow it: with no earlier handler, the process dies
/// of SIGBUS as it would without Ripcord's handler, even while windows are mapped.
#[test]
fn a_sigbus_sent_by_kill_is_not_swallowed() {
    let dir = tempdir();
    fs::write(dir.path().join("big"), vec![7u8; 64 << 20]).unwrap();
    let mut child = Command::new(bin())
        .current_dir(dir.path())
        .args(["hash", "--throttle", "4MiB/s", "big"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Long enough for the first window to be mapped and read under the throttle.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "ended before the signal"
    );
    let sent = Command::new("kill")
        .args(["-BUS", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("a sent SIGBUS was swallowed: the hash ran on");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.signal(), Some(libc_sigbus()), "{status:?}");
}

fn libc_sigbus() -> i32 {
    // SIGBUS is 7 on x86 and ARM Linux.
    7
}
