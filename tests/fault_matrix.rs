//! The fault matrix: what the file system and the machine can do to a job, each case
//! asserting that nothing is lost — sources unchanged, outputs whole or absent, temporaries
//! gone after the next run, the rest of the job done, the exit status right. Cases that need
//! root (mounting a small file system) say so on stderr and check nothing where it is not
//! allowed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A deterministic stream of numbers for "random" moments that a failure can be replayed at.
fn moments(seed: u64, n: usize, max_ms: u64) -> Vec<u64> {
    let mut g = XorShift::new(seed);
    (0..n).map(|_| g.next_u64() % max_ms).collect()
}

/// `kill -9` at 50 moments spread over compress, decompress, copy and `hash -o`, half of
/// them with named temporaries: afterwards every file under a final name is complete, and
/// the next normal run succeeds and leaves no temporary behind.
#[test]
fn kill_9_at_random_moments_never_leaves_a_partial_output() {
    let tmp = tempdir();
    let dir = tmp.path();
    let data = bytes(6 << 20, 11);
    write_file(&dir.join("src"), &data);
    tool(dir, "zstd", ["-q", "-1", "src", "-o", "src.zst"]).expect_code(0);
    let want_sha = tool(dir, "sha256sum", ["src"]).stdout;
    let cases: [(&[&str], &str); 4] = [
        (&["compress", "--out-dir", "o1", "src"], "o1/src.zst"),
        (&["decompress", "--out-dir", "o2", "src.zst"], "o2/src"),
        (&["copy", "--to", "o3", "src"], "o3/src"),
        (&["hash", "-o", "o4.sha256", "src"], "o4.sha256"),
    ];
    fs::create_dir_all(dir.join("o1")).unwrap();
    fs::create_dir_all(dir.join("o2")).unwrap();
    let complete = |out: &str| -> bool {
        let p = dir.join(out);
        match out {
            "o1/src.zst" => tool(dir, "zstd", ["-dc", out]).stdout == data,
            "o2/src" | "o3/src" => fs::read(&p).unwrap() == data,
            _ => fs::read(&p).unwrap() == want_sha,
        }
    };
    for (round, at_ms) in moments(7, 50, 400).into_iter().enumerate() {
        let (args, out) = cases[round % cases.len()];
        let named = round % 2 == 1;
        let env: &[(&str, &str)] = if named {
            &[("RIPCORD_NO_TMPFILE", "1")]
        } else {
            &[]
        };
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir)
            .args(args)
            .args(["--force", "--throttle", "24MB/s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(at_ms));
        let _ = child.kill();
        let _ = child.wait();
        if dir.join(out).exists() {
            assert!(
                complete(out),
                "round {round}: {out} is incomplete after kill -9"
            );
        }
        // The next normal run completes the job and sweeps what the killed one left.
        let r = ripcord_env(dir, args.iter().chain(&["--force"]), env);
        r.expect_code(0);
        assert!(
            complete(out),
            "round {round}: {out} incomplete after a normal run"
        );
        assert_eq!(temporaries(dir), Vec::<PathBuf>::new(), "round {round}");
    }
    assert!(
        fs::read(dir.join("src")).unwrap() == data,
        "the source is unchanged"
    );
}

/// Out of inodes: the files that get one are done whole, the others fail by name, and no
/// temporary is left.
#[test]
fn out_of_inodes_fails_only_the_files_that_get_none() {
    let tmp = tempdir();
    let dir = tmp.path();
    let Some(_m) = Mount::new(&dir.join("few"), "size=8m,nr_inodes=12") else {
        return;
    };
    let mut args = vec!["copy".to_string(), "--to".into(), "few".into()];
    for i in 0..20 {
        let n = format!("f{i:02}");
        write_file(&dir.join(&n), format!("file {i}\n").as_bytes());
        args.push(n);
    }
    let r = ripcord(dir, &args);
    r.expect_code(1);
    assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
    let copied = entries(&dir.join("few"));
    assert!(!copied.is_empty(), "some files fit");
    for n in &copied {
        assert_eq!(
            fs::read(dir.join("few").join(n)).unwrap(),
            fs::read(dir.join(n)).unwrap(),
            "{n}"
        );
    }
    for i in 0..20 {
        let n = format!("f{i:02}");
        if !copied.contains(&n) {
            assert!(r.stderr.contains(&n), "{n} not named: {}", r.stderr);
        }
    }
    assert_eq!(temporaries(&dir.join("few")), Vec::<PathBuf>::new());
}

/// The output folder vanishes in the middle of a job: the files after it fail by name, the
/// job ends, the sources are untouched.
#[test]
fn an_output_folder_removed_mid_run_fails_the_rest_loudly() {
    let tmp = tempdir();
    let dir = tmp.path();
    let inputs = numbered_files(dir, "in", 12, 400_000);
    let mut args = vec!["copy", "-j", "1", "--throttle", "2MB/s", "--to", "out"];
    args.extend(inputs.iter().map(String::as_str));
    let mut child = JsonChild::spawn(dir, &args, &[]);
    child.wait_event("done", WAIT);
    fs::remove_dir_all(dir.join("out")).unwrap();
    let exit = child.finish(WAIT);
    assert_eq!(exit.code(), 1);
    assert!(!exit.named("failed").is_empty());
    for (i, n) in inputs.iter().enumerate() {
        assert!(
            fs::read(dir.join(n)).unwrap() == bytes(400_000, i as u64),
            "{n} changed"
        );
    }
}

/// An input that grows or is replaced while it is read is reported, never hashed as if it
/// were whole.
#[test]
fn an_input_grown_or_replaced_mid_read_is_reported() {
    let tmp = tempdir();
    let dir = tmp.path();
    for (name, change) in [("grown", 0), ("replaced", 1)] {
        write_file(&dir.join(name), &bytes(4 << 20, 3));
        let mut child = JsonChild::spawn(dir, ["hash", "--throttle", "4MB/s", name], &[]);
        child.wait_progress(WAIT);
        if change == 0 {
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(dir.join(name))
                .unwrap();
            std::io::Write::write_all(&mut f, b"more").unwrap();
        } else {
            write_file(&dir.join("other"), &bytes(1 << 20, 4));
            fs::rename(dir.join("other"), dir.join(name)).unwrap();
        }
        let exit = child.finish(WAIT);
        assert_eq!(exit.code(), 1, "{name}");
        let failed = exit.named("failed");
        assert_eq!(failed.len(), 1, "{name}");
        assert!(
            failed[0]["error"].as_str().unwrap().contains("changed"),
            "{name}: {failed:?}"
        );
    }
}

/// Names at the limits: 255 bytes (whose `.zst` cannot exist), a newline, a backslash,
/// bytes that are not UTF-8; empty and sparse files.
#[test]
fn odd_names_and_odd_files_round_trip_or_fail_by_name() {
    let tmp = tempdir();
    let dir = tmp.path();
    let long = "L".repeat(255);
    let odd: Vec<Vec<u8>> = vec![
        b"new\nline".to_vec(),
        b"back\\slash".to_vec(),
        b"bad\xff\xfe".to_vec(),
        long.as_bytes().to_vec(),
    ];
    for (i, n) in odd.iter().enumerate() {
        write_file(&dir.join("in").join(os(n)), &bytes(1000 + i, i as u64));
    }
    write_file(&dir.join("in/empty"), b"");
    let sparse = fs::File::create(dir.join("in/sparse")).unwrap();
    sparse.set_len(64 << 20).unwrap();
    drop(sparse);

    let r = ripcord(dir, ["compress", "--out-dir", "z", "in"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains(&long) && r.stderr.contains("too long"),
        "{}",
        r.stderr
    );
    let r = ripcord(dir, ["decompress", "--out-dir", "back", "z/in"]);
    r.expect_code(0);
    for n in odd
        .iter()
        .take(3)
        .chain([&b"empty".to_vec(), &b"sparse".to_vec()])
    {
        let a = fs::read(dir.join("in").join(os(n))).unwrap();
        let b = fs::read(dir.join("back/in").join(os(n))).unwrap();
        assert!(
            a == b,
            "{:?} differs after the round trip",
            String::from_utf8_lossy(n)
        );
    }
    let r = ripcord(dir, ["copy", "--to", "c", "in"]);
    r.expect_code(0);
    assert_eq!(tree(&dir.join("c/in")).len(), odd.len() + 2);
    // Hash lines as sha256sum writes them, for every one of these names.
    let mut names: Vec<_> = raw_entries(&dir.join("in"));
    names.sort();
    let paths: Vec<PathBuf> = names.iter().map(|n| Path::new("in").join(n)).collect();
    let ours = ripcord(
        dir,
        ["hash", "--"]
            .iter()
            .map(|s| s.as_ref())
            .chain(paths.iter().map(|p| p.as_os_str()))
            .collect::<Vec<&std::ffi::OsStr>>(),
    );
    let theirs = tool(
        dir,
        "sha256sum",
        paths.iter().map(|p| p.as_os_str()).collect::<Vec<_>>(),
    );
    ours.expect_code(0);
    assert_same_bytes(&ours.stdout, &theirs.stdout, "odd names");
    assert_eq!(temporaries(dir), Vec::<PathBuf>::new());
}

/// A symbolic link loop, followed on request, ends instead of walking for ever.
#[test]
fn a_symlink_loop_ends() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("d/a"), b"a");
    std::os::unix::fs::symlink("..", dir.join("d/up")).unwrap();
    std::os::unix::fs::symlink("loop", dir.join("d/loop")).unwrap();
    let start = Instant::now();
    let r = ripcord(dir, ["hash", "--follow-symlinks", "d"]);
    assert!(start.elapsed() < Duration::from_secs(30));
    r.expect_code(1);
    assert!(r.out().contains("  d/a\n"), "{}", r.out());
    assert!(r.stderr.contains("d/loop"), "{}", r.stderr);
}

/// A hundred thousand files: every one hashed, in order, none forgotten.
#[test]
fn a_hundred_thousand_files_are_all_done() {
    let tmp = tempdir();
    let dir = tmp.path();
    for d in 0..100 {
        let sub = dir.join(format!("t/{d:03}"));
        fs::create_dir_all(&sub).unwrap();
        for f in 0..1000 {
            fs::write(sub.join(format!("{f:04}")), format!("{d} {f}")).unwrap();
        }
    }
    let r = ripcord(dir, ["hash", "-a", "blake3", "t"]);
    r.expect_code(0);
    let out = r.out();
    assert_eq!(out.lines().count(), 100_000);
    assert!(out.lines().next().unwrap().ends_with("  t/000/0000"));
    assert!(out.lines().last().unwrap().ends_with("  t/099/0999"));
}
