//! The output contract through the real CLI: Ctrl-C and SIGTERM in the middle of real work
//! leave no output and no temporary; `kill -9` leaves nothing under a final name and the
//! next run sweeps the leftover; `--keep-partial` saves only finished, marked lines.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn sha(path: &std::path::Path) -> Vec<u8> {
    tool(
        path.parent().unwrap(),
        "sha256sum",
        &[path.to_str().unwrap()],
    )
    .stdout
}

#[test]
fn ctrl_c_mid_file_leaves_no_output_for_every_operation() {
    let d = tempfile::tempdir().unwrap();
    let src = file(&d.path().join("big.bin"), 48 << 20, 1);
    assert!(
        tool(
            d.path(),
            "zstd",
            &["-q", "-1", "big.bin", "-o", "packed.zst"]
        )
        .status
        .success()
    );
    let before = sha(&src);
    let cases: [&[&str]; 4] = [
        &["hash", "-o", "out/m.sha256", "big.bin"],
        &["compress", "--out-dir", "out", "big.bin"],
        &["decompress", "--out-dir", "out", "packed.zst"],
        &["copy", "--to", "out", "big.bin"],
    ];
    std::fs::create_dir(d.path().join("out")).unwrap();
    for args in cases {
        let mut a = args.to_vec();
        a.extend(["--throttle", "16MB/s"]);
        let (mut child, rx) = spawn_json(d.path(), &a, &[]);
        wait_event(&rx, "progress", |v| v["bytes_done"].as_u64() > Some(0));
        let t = Instant::now();
        signal(&child, "-INT");
        let code = wait_exit(&mut child, WAIT).expect("did not exit");
        assert_eq!(code, Some(130), "{args:?}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{args:?}: exit took {:?}",
            t.elapsed()
        );
        let fin = wait_event(&rx, "finished", |_| true);
        assert_eq!(fin["cancel_reason"], "interrupt");
        assert!(
            entries(&d.path().join("out")).is_empty(),
            "{args:?} left {:?}",
            entries(&d.path().join("out"))
        );
        assert_eq!(entries(d.path()), vec!["big.bin", "out", "packed.zst"]);
    }
    assert_eq!(sha(&src), before, "the source changed");
}

#[test]
fn sigterm_exits_143() {
    let d = tempfile::tempdir().unwrap();
    file(&d.path().join("big.bin"), 16 << 20, 2);
    let (mut child, rx) = spawn_json(
        d.path(),
        &["compress", "--throttle", "4MB/s", "big.bin"],
        &[],
    );
    wait_event(&rx, "progress", |v| v["bytes_done"].as_u64() > Some(0));
    signal(&child, "-TERM");
    assert_eq!(wait_exit(&mut child, WAIT), Some(Some(143)));
    assert_eq!(entries(d.path()), vec!["big.bin"]);
}

#[test]
fn second_ctrl_c_exits_at_once_leaving_nothing_under_a_final_name() {
    let d = tempfile::tempdir().unwrap();
    file(&d.path().join("big.bin"), 16 << 20, 3);
    // 1 KB/s: the graceful stop is quick anyway, so block it with a pause-free wait…
    let (mut child, rx) = spawn_json(
        d.path(),
        &["compress", "--throttle", "4MB/s", "big.bin"],
        &[("RIPCORD_NO_TMPFILE", "1")],
    );
    wait_event(&rx, "progress", |v| v["bytes_done"].as_u64() > Some(0));
    signal(&child, "-INT");
    // …and a second one right after; whichever path wins, the contract holds.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert_eq!(wait_exit(&mut child, WAIT), Some(Some(130)));
    let left = entries(d.path());
    assert!(!left.iter().any(|n| n.ends_with(".zst")), "{left:?}");
}

#[test]
fn kill_9_leaves_nothing_under_a_final_name_and_the_next_run_sweeps() {
    for named in [false, true] {
        let d = tempfile::tempdir().unwrap();
        file(&d.path().join("big.bin"), 16 << 20, 4);
        let env: &[(&str, &str)] = if named {
            &[("RIPCORD_NO_TMPFILE", "1")]
        } else {
            &[]
        };
        let (mut child, rx) = spawn_json(
            d.path(),
            &["compress", "--throttle", "4MB/s", "big.bin"],
            env,
        );
        wait_event(&rx, "progress", |v| {
            v["bytes_done"].as_u64() > Some(1 << 20)
        });
        signal(&child, "-KILL");
        wait_exit(&mut child, WAIT).expect("not killed");
        let left = entries(d.path());
        assert!(!left.contains(&"big.bin.zst".to_string()), "{left:?}");
        if named {
            assert!(
                left.iter()
                    .any(|n| n.starts_with(".ripcord-") && n.ends_with(".tmp")),
                "{left:?}"
            );
        } else {
            assert_eq!(left, vec!["big.bin"], "O_TMPFILE leaves nothing at all");
        }
        // The next run writing to the folder removes the dead process's temporary.
        file(&d.path().join("small.txt"), 100, 5);
        let r = ripcord(d.path(), &["compress", "small.txt"]);
        assert!(r.status.success());
        assert_eq!(
            entries(d.path()),
            vec!["big.bin", "small.txt", "small.txt.zst"]
        );
    }
}

#[test]
fn keep_partial_saves_only_finished_lines_marked_partial() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("files");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..40 {
        file(&dir.join(format!("{i:02}")), 256 << 10, i);
    }
    for keep in [true, false] {
        let mut args = vec![
            "hash",
            "-j",
            "1",
            "--throttle",
            "2MB/s",
            "-o",
            "m.sha256",
            "files",
        ];
        if keep {
            args.push("--keep-partial");
        }
        let (mut child, rx) = spawn_json(d.path(), &args, &[]);
        wait_event(&rx, "done", |_| true);
        signal(&child, "-INT");
        assert_eq!(wait_exit(&mut child, WAIT), Some(Some(130)));
        let m = d.path().join("m.sha256");
        if keep {
            let text = std::fs::read_to_string(&m).unwrap();
            assert!(text.starts_with("# partial: cancelled"), "{text}");
            let lines = text.lines().count();
            assert!((2..41).contains(&lines), "{lines}");
            assert!(
                tool(d.path(), "sha256sum", &["-c", "m.sha256"])
                    .status
                    .success()
            );
            std::fs::remove_file(&m).unwrap();
        } else {
            assert!(
                !m.exists(),
                "a cancelled job wrote a manifest without --keep-partial"
            );
        }
    }
}

#[test]
fn a_file_truncated_or_removed_while_read_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    file(&d.path().join("shrinks.bin"), 8 << 20, 6);
    file(&d.path().join("goes.bin"), 8 << 20, 7);
    file(&d.path().join("stays.bin"), 1000, 8);
    let (mut child, rx) = spawn_json(
        d.path(),
        &[
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
    wait_event(&rx, "progress", |v| {
        v["bytes_done"].as_u64() > Some(1 << 20)
    });
    std::fs::File::options()
        .write(true)
        .open(d.path().join("shrinks.bin"))
        .unwrap()
        .set_len(4096)
        .unwrap();
    std::fs::remove_file(d.path().join("goes.bin")).unwrap();
    let mut failed = Vec::new();
    loop {
        let v = wait_event(&rx, "", |_| true);
        match v["event"].as_str() {
            Some("failed") => failed.push(v["error"].as_str().unwrap().to_string()),
            Some("finished") => break,
            _ => {}
        }
    }
    assert_eq!(wait_exit(&mut child, WAIT), Some(Some(1)));
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
