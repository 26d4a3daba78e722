//! The command line against the tools it replaces: byte-identical checksums, manifests that
//! pass both ways, zstd round trips, copies, and clear per-file errors while the rest goes on.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

fn awkward_names(dir: &Path) -> Vec<String> {
    let names: [&[u8]; 6] = [
        b"plain.txt",
        b"with space.txt",
        b"back\\slash",
        b"new\nline",
        b"cr\rret",
        b"bad\xffbyte",
    ];
    for (i, n) in names.iter().enumerate() {
        file(&dir.join(OsStr::from_bytes(n)), 1000 * i + 7, i as u64);
    }
    let mut v = entries(dir);
    v.retain(|n| !n.ends_with(".sha256"));
    v
}

fn sorted_args(dir: &Path) -> Vec<std::ffi::OsString> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    v.sort();
    v
}

fn run_os(
    dir: &Path,
    cmd: &str,
    pre: &[&str],
    names: &[std::ffi::OsString],
) -> std::process::Output {
    std::process::Command::new(cmd)
        .current_dir(dir)
        .args(pre)
        .args(names)
        .output()
        .unwrap()
}

#[test]
fn hash_output_is_byte_identical_to_coreutils_and_b3sum() {
    let d = tempfile::tempdir().unwrap();
    awkward_names(d.path());
    let names = sorted_args(d.path());
    let me = env!("CARGO_BIN_EXE_ripcord");
    for (algo, tool) in [
        ("sha256", "sha256sum"),
        ("sha512", "sha512sum"),
        ("sha1", "sha1sum"),
        ("md5", "md5sum"),
        ("blake3", "b3sum"),
    ] {
        // b3sum before 1.5 (Debian 12 ships 1.2) writes a carriage return in a name raw;
        // current b3sum and Ripcord escape it (checked in tests/trust.rs).
        let old_b3sum = tool == "b3sum"
            && !run_os(d.path(), tool, &[], &["cr\rret".into()])
                .stdout
                .starts_with(b"\\");
        let names: Vec<_> = names
            .iter()
            .filter(|n| !(old_b3sum && n.as_bytes().contains(&b'\r')))
            .cloned()
            .collect();
        let ours = run_os(d.path(), me, &["hash", "-a", algo, "--"], &names);
        let theirs = run_os(d.path(), tool, &[], &names);
        assert!(
            ours.status.success(),
            "{algo}: {}",
            String::from_utf8_lossy(&ours.stderr)
        );
        assert_eq!(ours.stdout, theirs.stdout, "{algo} differs from {tool}");
    }
    let ours = run_os(d.path(), me, &["hash", "--tag", "--"], &names);
    let theirs = run_os(d.path(), "sha256sum", &["--tag"], &names);
    assert_eq!(ours.stdout, theirs.stdout, "--tag differs");
}

/// Big files are hashed as BLAKE3 subtrees in parallel batches of mapped windows; every way
/// a file can end against a unit, a batch and a window must give `b3sum`'s hash.
#[test]
fn big_blake3_files_match_b3sum_at_every_boundary() {
    let d = tempfile::tempdir().unwrap();
    const MIB: usize = 1 << 20;
    let sizes = [
        MIB,
        MIB + 1,
        3 * MIB - 1,
        128 * MIB,
        129 * MIB + 12_345,
        256 * MIB,
    ];
    let mut names = Vec::new();
    for (i, len) in sizes.into_iter().enumerate() {
        let name = format!("f{i}.bin");
        std::fs::write(d.path().join(&name), common::bytes(len, i as u64)).unwrap();
        names.push(std::ffi::OsString::from(name));
    }
    let me = env!("CARGO_BIN_EXE_ripcord");
    let theirs = run_os(d.path(), "b3sum", &[], &names);
    // One worker has the pool to itself; two share it.
    for jobs in ["1", "2"] {
        let ours = run_os(
            d.path(),
            me,
            &["hash", "-a", "blake3", "-j", jobs, "--"],
            &names,
        );
        assert!(
            ours.status.success(),
            "{}",
            String::from_utf8_lossy(&ours.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "-j {jobs}"
        );
    }
}

#[test]
fn lines_come_in_input_order_with_many_workers() {
    let d = tempfile::tempdir().unwrap();
    let sub = d.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    for i in 0..200 {
        // Big files first so that later, small ones finish earlier.
        file(&sub.join(format!("{i:03}")), (200 - i) * 997, i as u64);
    }
    let ours = ripcord(d.path(), &["hash", "-j", "2", "sub"]);
    let mut names: Vec<String> = entries(&sub)
        .into_iter()
        .map(|n| format!("sub/{n}"))
        .collect();
    names.sort();
    let theirs = tool(
        d.path(),
        "sha256sum",
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&theirs.stdout)
    );
}

#[test]
fn manifests_pass_both_ways() {
    let d = tempfile::tempdir().unwrap();
    for i in 0..5 {
        file(&d.path().join(format!("f{i}.bin")), 5000 + i, i as u64);
    }
    let ours = ripcord(
        d.path(),
        &[
            "hash", "-o", "m.sha256", "f0.bin", "f1.bin", "f2.bin", "f3.bin", "f4.bin",
        ],
    );
    assert!(ours.status.success());
    assert!(
        tool(d.path(), "sha256sum", &["-c", "m.sha256"])
            .status
            .success()
    );

    let theirs = tool(
        d.path(),
        "sha256sum",
        &["f0.bin", "f1.bin", "f2.bin", "f3.bin", "f4.bin"],
    );
    std::fs::write(d.path().join("SHA256SUMS"), &theirs.stdout).unwrap();
    let a = ripcord(d.path(), &["verify", "SHA256SUMS"]);
    let b = tool(d.path(), "sha256sum", &["-c", "SHA256SUMS"]);
    assert_eq!(a.stdout, b.stdout);
    assert!(a.status.success());

    // b3sum and BSD-tag manifests.
    let b3 = tool(d.path(), "b3sum", &["f0.bin", "f1.bin"]);
    std::fs::write(d.path().join("x.b3"), &b3.stdout).unwrap();
    assert!(ripcord(d.path(), &["verify", "x.b3"]).status.success());
    let tag = tool(d.path(), "md5sum", &["--tag", "f2.bin"]);
    std::fs::write(d.path().join("tagged"), &tag.stdout).unwrap();
    let v = ripcord(d.path(), &["verify", "tagged"]);
    assert_eq!(String::from_utf8_lossy(&v.stdout), "f2.bin: OK\n");

    // Tampered, missing, malformed: the same answers and statuses as sha256sum -c.
    std::fs::write(d.path().join("f1.bin"), b"tampered").unwrap();
    std::fs::remove_file(d.path().join("f3.bin")).unwrap();
    let mut m = theirs.stdout.clone();
    m.extend_from_slice(b"this is not a checksum line\n");
    std::fs::write(d.path().join("SHA256SUMS"), &m).unwrap();
    for flags in [&[][..], &["--strict"], &["--ignore-missing"], &["--quiet"]] {
        let mut args = vec!["verify"];
        args.extend_from_slice(flags);
        args.push("SHA256SUMS");
        let a = ripcord(d.path(), &args);
        let mut targs = vec!["-c"];
        targs.extend_from_slice(flags);
        targs.push("SHA256SUMS");
        let b = tool(d.path(), "sha256sum", &targs);
        assert_eq!(
            String::from_utf8_lossy(&a.stdout),
            String::from_utf8_lossy(&b.stdout),
            "{flags:?}"
        );
        assert_eq!(a.status.code(), b.status.code(), "{flags:?}");
        let theirs_err = String::from_utf8_lossy(&b.stderr).replace("sha256sum:", "ripcord:");
        assert_eq!(String::from_utf8_lossy(&a.stderr), theirs_err, "{flags:?}");
    }
    let a = ripcord(d.path(), &["verify", "SHA256SUMS"]);
    let out = String::from_utf8_lossy(&a.stdout);
    assert!(
        out.contains("f1.bin: FAILED\n") && out.contains("f3.bin: FAILED open or read\n"),
        "{out}"
    );
}

#[test]
fn existing_outputs_are_refused_without_force() {
    let d = tempfile::tempdir().unwrap();
    file(&d.path().join("a"), 100, 1);
    std::fs::write(d.path().join("m.sha256"), b"keep me").unwrap();
    let r = ripcord(d.path(), &["hash", "-o", "m.sha256", "a"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("m.sha256: already exists"));
    assert_eq!(
        std::fs::read(d.path().join("m.sha256")).unwrap(),
        b"keep me"
    );
    assert!(
        ripcord(d.path(), &["hash", "-f", "-o", "m.sha256", "a"])
            .status
            .success()
    );
    assert!(
        tool(d.path(), "sha256sum", &["-c", "m.sha256"])
            .status
            .success()
    );

    std::fs::write(d.path().join("a.zst"), b"old").unwrap();
    let r = ripcord(d.path(), &["compress", "a"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("a.zst: already exists"));
    assert_eq!(std::fs::read(d.path().join("a.zst")).unwrap(), b"old");
}

#[test]
fn zstd_round_trips_both_ways() {
    let d = tempfile::tempdir().unwrap();
    let src = file(&d.path().join("data.bin"), 3 << 20, 9);
    let mut text = Vec::new();
    for i in 0..200_000 {
        text.extend_from_slice(format!("line {i} of some text\n").as_bytes());
    }
    std::fs::write(d.path().join("t.txt"), &text).unwrap();
    for level in ["1", "3", "19"] {
        let r = ripcord(
            d.path(),
            &["compress", "-f", "-l", level, "data.bin", "t.txt"],
        );
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let back = tool(d.path(), "zstd", &["-d", "-c", "t.txt.zst"]);
        assert_eq!(back.stdout, text);
        let back = tool(d.path(), "zstd", &["-d", "-c", "data.bin.zst"]);
        assert_eq!(back.stdout, std::fs::read(&src).unwrap());
    }
    // zstd → ripcord, into --out-dir.
    assert!(
        tool(
            d.path(),
            "zstd",
            &["-q", "-f", "-19", "t.txt", "-o", "z.txt.zst"]
        )
        .status
        .success()
    );
    let r = ripcord(d.path(), &["decompress", "--out-dir", "out", "z.txt.zst"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(std::fs::read(d.path().join("out/z.txt")).unwrap(), text);
}

#[test]
fn bad_zstd_inputs_fail_clearly_and_leave_nothing() {
    let d = tempfile::tempdir().unwrap();
    file(&d.path().join("fake.zst"), 5000, 1);
    let r = ripcord(d.path(), &["decompress", "fake.zst"]);
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("fake.zst: not in zstd format"), "{err}");
    assert!(!d.path().join("fake").exists());

    file(&d.path().join("x"), 1 << 20, 2);
    assert!(
        tool(d.path(), "zstd", &["-q", "x", "-o", "full.zst"])
            .status
            .success()
    );
    let full = std::fs::read(d.path().join("full.zst")).unwrap();
    std::fs::write(d.path().join("cut.zst"), &full[..full.len() / 2]).unwrap();
    let r = ripcord(
        d.path(),
        &["decompress", "cut.zst", "full.zst", "--out-dir", "o"],
    );
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("cut.zst: truncated"));
    assert_eq!(
        entries(&d.path().join("o")),
        vec!["full".to_string()],
        "the good file still done"
    );
}

#[test]
fn copy_keeps_contents_times_and_permissions() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("tree");
    std::fs::create_dir_all(tree.join("inner")).unwrap();
    let a = file(&tree.join("a.bin"), 3 << 20, 1);
    let b = file(&tree.join("inner/b.txt"), 1234, 2);
    std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o640)).unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_500_000_000);
    std::fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(old)
        .unwrap();
    for (flag, dest) in [(None, "d1"), (Some("--verify"), "d2")] {
        let mut args = vec!["copy", "--to", dest];
        args.extend(flag);
        args.push("tree");
        let r = ripcord(d.path(), &args);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let ca = d.path().join(dest).join("tree/a.bin");
        let cb = d.path().join(dest).join("tree/inner/b.txt");
        assert_eq!(std::fs::read(&ca).unwrap(), std::fs::read(&a).unwrap());
        assert_eq!(std::fs::read(&cb).unwrap(), std::fs::read(&b).unwrap());
        assert_eq!(std::fs::metadata(&ca).unwrap().modified().unwrap(), old);
        assert_eq!(
            std::fs::metadata(&cb).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }
    let r = ripcord(d.path(), &["copy", "--to", "d1", "tree"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("already exists"));
}

#[test]
fn bad_inputs_are_reported_per_file_while_the_rest_completes() {
    let d = tempfile::tempdir().unwrap();
    file(&d.path().join("good"), 100, 1);
    let dir = d.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    file(&dir.join("ok"), 10, 2);
    assert!(tool(&dir, "mkfifo", &["pipe"]).status.success());
    std::os::unix::fs::symlink("ok", dir.join("link")).unwrap();
    let r = ripcord(d.path(), &["hash", "missing", "good", "dir"]);
    assert_eq!(r.status.code(), Some(1));
    let out = String::from_utf8_lossy(&r.stdout);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("ripcord: missing: No such file or directory\n"),
        "{err}"
    );
    assert!(err.contains("dir/pipe: not a regular file (fifo)"), "{err}");
    assert!(
        err.contains("dir/link: symbolic link not followed"),
        "{err}"
    );
    assert!(
        out.contains("  good\n") && out.contains("  dir/ok\n"),
        "{out}"
    );

    // An output folder that cannot exist (its parent is a file), even for root.
    let r = ripcord(d.path(), &["compress", "--out-dir", "good/sub", "dir/ok"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("cannot create folder"));

    // Unreadable files: only meaningful where permissions bind (not as root).
    let locked = file(&d.path().join("locked"), 10, 3);
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&locked).is_err() {
        let r = ripcord(d.path(), &["hash", "locked", "good"]);
        assert_eq!(r.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&r.stderr).contains("ripcord: locked: Permission denied"));
        assert!(String::from_utf8_lossy(&r.stdout).contains("  good\n"));
    }
}

#[test]
fn deadline_exits_124_and_usage_errors_2() {
    let d = tempfile::tempdir().unwrap();
    file(&d.path().join("big"), 8 << 20, 4);
    let r = ripcord(
        d.path(),
        &[
            "compress",
            "--throttle",
            "1MB/s",
            "--deadline",
            "300ms",
            "big",
        ],
    );
    assert_eq!(r.status.code(), Some(124));
    assert!(String::from_utf8_lossy(&r.stderr).contains("time limit reached"));
    assert_eq!(entries(d.path()), vec!["big".to_string()]);
    assert_eq!(
        ripcord(d.path(), &["hash", "--bogus"]).status.code(),
        Some(2)
    );
    assert_eq!(
        ripcord(d.path(), &["hash", "-a", "sha3", "big"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn json_events_are_one_object_per_line() {
    let d = tempfile::tempdir().unwrap();
    file(&d.path().join("a"), 100, 1);
    let r = ripcord(d.path(), &["hash", "--json", "a", "nope"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&r.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|v| v["event"].as_str().unwrap()).collect();
    for k in [
        "queued",
        "started",
        "done",
        "failed",
        "walk_done",
        "finished",
    ] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    assert_eq!(kinds.last(), Some(&"finished"));
    let done = lines.iter().find(|v| v["event"] == "done").unwrap();
    assert_eq!(done["path"], "a");
    assert_eq!(done["digest"].as_str().unwrap().len(), 64);
    assert_eq!(lines.last().unwrap()["exit_code"], 1);
}

#[test]
fn manifest_file_lines_follow_input_order_like_stdout() {
    let d = tempfile::tempdir().unwrap();
    file(&d.path().join("a_big.bin"), 6 << 20, 1);
    let sub = d.path().join("d");
    std::fs::create_dir(&sub).unwrap();
    for i in 0..50 {
        file(&sub.join(format!("f{i:02}")), 100 + i, i as u64);
    }
    let printed = ripcord(d.path(), &["hash", "-j", "2", "a_big.bin", "d"]);
    let saved = ripcord(
        d.path(),
        &["hash", "-j", "2", "-o", "m.sha256", "a_big.bin", "d"],
    );
    assert!(saved.status.success());
    assert_eq!(
        std::fs::read(d.path().join("m.sha256")).unwrap(),
        printed.stdout
    );
}

#[test]
fn verify_ignore_missing_exits_0_when_the_rest_matches() {
    let d = tempfile::tempdir().unwrap();
    file(&d.path().join("a"), 100, 1);
    file(&d.path().join("b"), 100, 2);
    let m = tool(d.path(), "sha256sum", &["a", "b"]);
    std::fs::write(d.path().join("m.sha256"), &m.stdout).unwrap();
    std::fs::remove_file(d.path().join("b")).unwrap();
    let ours = ripcord(d.path(), &["verify", "--ignore-missing", "m.sha256"]);
    let theirs = tool(
        d.path(),
        "sha256sum",
        &["-c", "--ignore-missing", "m.sha256"],
    );
    assert_eq!(ours.stdout, theirs.stdout);
    assert_eq!(ours.status.code(), theirs.status.code());
    assert_eq!(ours.status.code(), Some(0));
}

/// Big files are hashed through memory maps. One truncated meanwhile must be reported as
/// changed (a read past the new end would otherwise kill the process with SIGBUS), and the
/// other files still hash correctly.
#[test]
fn a_file_truncated_while_mapped_is_reported_and_the_rest_goes_on() {
    for algo in ["sha256", "blake3"] {
        let dir = tempfile::tempdir().unwrap();
        let big = file(&dir.path().join("big.bin"), 64 << 20, 1);
        file(&dir.path().join("ok.bin"), 3 << 20, 2);
        let want_ok = ripcord(dir.path(), &["hash", "-a", algo, "ok.bin"]);
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_ripcord"))
            .current_dir(dir.path())
            .args([
                "hash",
                "-a",
                algo,
                "--throttle",
                "16MiB/s",
                "big.bin",
                "ok.bin",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // About a quarter in at that rate; the mapped window covers the whole file.
        std::thread::sleep(std::time::Duration::from_millis(1000));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&big)
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{algo}: {stderr}");
        assert!(
            stderr.contains("big.bin") && stderr.contains("changed while being read"),
            "{algo}: {stderr}"
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&want_ok.stdout),
            "{algo}"
        );
    }
}

/// Between two file systems `copy_file_range` is refused and the copy goes through user
/// space (and the background writer): the result must be the same, times and all.
#[test]
fn copy_between_file_systems_falls_back_and_matches() {
    use std::os::unix::fs::MetadataExt;
    let shm = Path::new("/dev/shm");
    let src_dir = match tempfile::tempdir_in(shm) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("skipped: no /dev/shm here ({e})");
            return;
        }
    };
    let dest = tempfile::tempdir().unwrap();
    assert_ne!(
        std::fs::metadata(src_dir.path()).unwrap().dev(),
        std::fs::metadata(dest.path()).unwrap().dev(),
        "/dev/shm and the temp folder must be different file systems for this test"
    );
    let src = file(&src_dir.path().join("big.bin"), (5 << 20) + 17, 9);
    let to = dest.path().display().to_string();
    for verify in [false, true] {
        let out = dest.path().join("big.bin");
        let _ = std::fs::remove_file(&out);
        let mut args = vec!["copy", "--to", to.as_str(), src.to_str().unwrap()];
        if verify {
            args.insert(1, "--verify");
        }
        let r = ripcord(dest.path(), &args);
        assert_eq!(
            r.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&r.stderr)
        );
        assert!(
            std::fs::read(&out).unwrap() == std::fs::read(&src).unwrap(),
            "verify {verify}"
        );
        assert_eq!(
            std::fs::metadata(&out).unwrap().mtime(),
            std::fs::metadata(&src).unwrap().mtime()
        );
    }
}
