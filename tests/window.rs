//! The window: headless with egui_kittest (clicking by label), and the real release binary
//! under Xvfb driven with xdotool.

/// The window's downloads (rows, paste, Resume), against a local server.
mod download;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use ripcord::cancel::Reason;
use ripcord::gui::Launch as GuiArgs;
use ripcord::gui::RipcordApp;
use ripcord::gui::model::{FileState, Settings};
use ripcord::ops::kind::OpKind;

use crate::common::x11::{key, launch, wait_for_file, xvfb};
use crate::common::{self, WAIT, entries, wait_exit};

fn files(dir: &Path, n: usize, len: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = dir.join(format!("file{i}.bin"));
            common::file(&p, len, i as u64);
            p
        })
        .collect()
}

/// Steps the UI until `cond` holds (the app's helper threads and workers run meanwhile).
fn step_until(
    h: &mut Harness<'_, RipcordApp>,
    what: &str,
    mut cond: impl FnMut(&RipcordApp) -> bool,
) {
    let end = Instant::now() + WAIT;
    while !cond(h.state()) {
        assert!(Instant::now() < end, "timed out waiting for: {what}");
        h.step();
        std::thread::yield_now();
    }
}

/// Steps the UI until a widget whose label contains `label` is shown.
fn step_until_shown(h: &mut Harness<'_, RipcordApp>, label: &str) {
    let end = Instant::now() + WAIT;
    while h.query_all_by_label_contains(label).next().is_none() {
        assert!(
            Instant::now() < end,
            "timed out waiting for '{label}' to show"
        );
        h.step();
        std::thread::yield_now();
    }
}

/// A headless window 1100×700 whose files are listed.
fn harness(settings: Settings, paths: Vec<PathBuf>) -> Harness<'static, RipcordApp> {
    harness_of(egui::vec2(1100.0, 700.0), settings, paths)
}

/// A headless window of `size` whose files (given in this order) are listed.
fn harness_of(
    size: egui::Vec2,
    settings: Settings,
    paths: Vec<PathBuf>,
) -> Harness<'static, RipcordApp> {
    ripcord::init_engine();
    let n = paths.len();
    let app = RipcordApp::new(
        settings,
        GuiArgs {
            paths,
            ..Default::default()
        },
    );
    let mut h = Harness::builder()
        // The app's helper threads (listing, the dialog probe, the engine) wake it: on a
        // busy machine a settle takes more than kittest's 4 frames.
        .with_max_steps(64)
        .with_size(size)
        .build_ui_state(|ui, app: &mut RipcordApp| app.frame(ui), app);
    step_until(&mut h, "files listed", |a| {
        a.rows.len() == n && a.listing().is_none()
    });
    h
}

fn throttled(op: OpKind, mb_s: f32) -> Settings {
    Settings {
        op,
        throttle_on: true,
        throttle_mb_s: mb_s,
        threads: 2,
        ..Settings::default()
    }
}

#[test]
fn cancel_mid_run_leaves_every_row_cancelled_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let paths = files(&src, 3, 8 << 20);
    let mut s = throttled(OpKind::Compress, 2.0);
    s.out_dir = Some(out.clone());
    let mut h = harness(s, paths);
    h.get_by_label("Start").click();
    step_until(&mut h, "running", |a| {
        a.rows.iter().any(|r| r.done_bytes > 0)
    });
    h.get_by_label("Cancel").click();
    step_until(&mut h, "stopped", |a| !a.is_running());
    h.step();
    let app = h.state();
    assert!(
        app.rows
            .iter()
            .all(|r| r.state == FileState::Cancelled(Reason::User)),
        "{:?}",
        app.rows.iter().map(|r| &r.state).collect::<Vec<_>>()
    );
    let msg = app.message().unwrap_or_default().to_string();
    assert!(msg.starts_with("Stopped (cancelled by you): "), "{msg}");
    assert!(msg.contains("ms after the cancel"), "{msg}");
    assert!(
        h.query_by_label_contains("Stopped (cancelled by you)")
            .is_some()
    );
    assert!(entries(&out).is_empty(), "left {:?}", entries(&out));
    assert_eq!(entries(&src).len(), 3);
}

#[test]
fn pause_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 2, 4 << 20);
    let mut h = harness(throttled(OpKind::Hash, 8.0), paths);
    h.get_by_label("Start").click();
    step_until(&mut h, "running", |a| {
        a.rows.iter().any(|r| r.done_bytes > 0)
    });
    h.get_by_label("Pause").click();
    step_until_shown(&mut h, "Resume");
    step_until_shown(&mut h, "paused");
    // Paused: the bytes done stay put however many frames pass.
    let frozen: u64 = h.state().rows.iter().map(|r| r.done_bytes).sum();
    for _ in 0..3 {
        let end = Instant::now() + Duration::from_millis(200);
        while Instant::now() < end {
            h.step();
        }
        let now: u64 = h.state().rows.iter().map(|r| r.done_bytes).sum();
        assert!(
            now <= frozen + (2 << 20),
            "progress moved while paused: {frozen} -> {now}"
        );
    }
    // No progress arrives while paused, yet the clock shown (elapsed, and paused time apart)
    // keeps moving: each quiet frame asks for the next within a second. It asked for none,
    // and the real window showed "paused 0.0 s" for as long as the pause lasted.
    h.run_steps(3);
    let next = h
        .output()
        .viewport_output
        .get(&egui::ViewportId::ROOT)
        .map(|v| v.repaint_delay);
    assert!(
        next.is_some_and(|d| d <= Duration::from_secs(1)),
        "a paused job's clock is not redrawn: next frame in {next:?}"
    );
    h.get_by_label("Resume").click();
    step_until(&mut h, "finished", |a| !a.is_running());
    assert!(h.state().rows.iter().all(|r| r.state == FileState::Done));
    assert!(h.query_by_label("Save manifest…").is_some());
}

#[test]
fn skip_one_row_the_others_finish() {
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 3, 3 << 20);
    let mut s = throttled(OpKind::Hash, 4.0);
    s.threads = 1;
    let mut h = harness(s, paths);
    h.get_by_label("Start").click();
    step_until(&mut h, "first row running", |a| {
        a.rows[0].state == FileState::Running
    });
    h.step();
    h.get_by_label("Skip").click();
    step_until(&mut h, "finished", |a| !a.is_running());
    let rows = &h.state().rows;
    assert_eq!(rows[0].state, FileState::Cancelled(Reason::Skip));
    assert_eq!(rows[1].state, FileState::Done);
    assert_eq!(rows[2].state, FileState::Done);
}

#[test]
fn close_with_daemon_off_stops_then_closes() {
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 2, 8 << 20);
    let mut h = harness(throttled(OpKind::Hash, 1.0), paths);
    h.get_by_label("Start").click();
    step_until(&mut h, "running", |a| {
        a.rows.iter().any(|r| r.done_bytes > 0)
    });
    assert!(
        !h.state_mut().request_close(),
        "must not close while work runs"
    );
    step_until_shown(&mut h, "Stopping…");
    step_until(&mut h, "closed by itself", RipcordApp::close_now);
    assert!(!h.state().is_running());
    let rows = &h.state().rows;
    assert!(
        rows.iter()
            .all(|r| r.state == FileState::Cancelled(Reason::Shutdown))
    );
    // Cancelled files are not done: the status line counts them apart, and none of their
    // bytes as done.
    h.run();
    for shown in ["Files 0 of 2", "0 B of 16.0 MiB", "· 2 cancelled"] {
        assert!(h.query_by_label_contains(shown).is_some(), "{shown}");
    }
}

#[test]
fn close_with_daemon_on_closes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 2, 8 << 20);
    let mut s = throttled(OpKind::Hash, 1.0);
    s.daemon = true;
    let mut h = harness(s, paths);
    h.get_by_label("Start").click();
    step_until(&mut h, "running", |a| {
        a.rows.iter().any(|r| r.done_bytes > 0)
    });
    assert!(h.state_mut().request_close(), "daemon mode closes at once");
    assert!(h.state().close_now());
}

#[test]
fn daemon_checkbox_and_settings_survive_a_restart() {
    #[derive(Default)]
    struct Mem(std::collections::HashMap<String, String>);
    impl eframe::Storage for Mem {
        fn get_string(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }
        fn set_string(&mut self, key: &str, value: String) {
            self.0.insert(key.to_string(), value);
        }
        fn remove_string(&mut self, key: &str) {
            self.0.remove(key);
        }
        fn flush(&mut self) {}
    }
    let mut h = harness(Settings::default(), Vec::new());
    h.get_by_label("Daemon mode: exit without waiting for running work")
        .click();
    h.get_by_label("Compress").click();
    h.step();
    assert!(h.state().settings.daemon);
    let mut store = Mem::default();
    eframe::App::save(h.state_mut(), &mut store);
    let back: Settings = eframe::get_value(&store, eframe::APP_KEY).unwrap();
    assert_eq!(back, h.state().settings);
    assert_eq!(back.op, OpKind::Compress);
    let app = RipcordApp::new(back, GuiArgs::default());
    assert!(app.settings.daemon);
}

// ---- The real window, under Xvfb ----

#[test]
fn real_window_escape_cancels_and_ctrl_q_closes() {
    let Some(display) = xvfb() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 2, 8 << 20);
    let mut args = vec!["--op", "compress", "--start", "--throttle", "1MB/s", "--"];
    let p: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    args.extend(p.iter().map(String::as_str));
    let (mut child, win) = launch(&display, home.path(), &args, &[("RIPCORD_NO_TMPFILE", "1")]);
    // Compression has begun once its temporary exists.
    wait_for_file(&display, &win, &mut child, home.path(), dir.path(), |n| {
        n.starts_with(".ripcord-")
    });
    key(&display, &win, "Escape");
    let end = Instant::now() + WAIT;
    while entries(dir.path())
        .iter()
        .any(|n| n.starts_with(".ripcord-"))
    {
        assert!(Instant::now() < end, "Esc did not cancel");
        std::thread::yield_now();
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the window closed on Esc"
    );
    assert!(!entries(dir.path()).iter().any(|n| n.ends_with(".zst")));
    key(&display, &win, "ctrl+q");
    let status = wait_exit(&mut child, WAIT).expect("Ctrl+Q did not close the window");
    assert!(status.success());
}

#[test]
fn real_window_ctrl_q_in_daemon_mode_exits_at_once() {
    let Some(display) = xvfb() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 2, 8 << 20);
    let mut args = vec![
        "--op",
        "compress",
        "--daemon",
        "--start",
        "--throttle",
        "1MB/s",
        "--",
    ];
    let p: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    args.extend(p.iter().map(String::as_str));
    let (mut child, win) = launch(&display, home.path(), &args, &[("RIPCORD_NO_TMPFILE", "1")]);
    wait_for_file(&display, &win, &mut child, home.path(), dir.path(), |n| {
        n.starts_with(".ripcord-")
    });
    crate::common::x11::focus(&display, &win);
    // From the key press on: starting xdotool and focusing are the test's own time, which a
    // loaded machine stretches to seconds.
    crate::common::x11::type_key(&display, "ctrl+q");
    let t0 = Instant::now();
    let status = wait_exit(&mut child, WAIT).expect("Ctrl+Q did not close the window");
    let took = t0.elapsed();
    eprintln!("daemon-mode exit took {took:?}");
    assert!(status.success(), "{status:?}");
    // The work left takes at least 8 s more at 1 MB/s: an exit that waited for it is caught,
    // while a frame or two on a loaded machine is not mistaken for one. The benchmark's
    // window section times the exit itself.
    assert!(took < Duration::from_secs(4), "daemon exit took {took:?}");
    // Nothing incomplete under a final name, and the temporaries are gone too.
    let left = entries(dir.path());
    assert!(!left.iter().any(|n| n.ends_with(".zst")), "{left:?}");
}

/// Three files of 100 kB in a new folder and `SHA256SUMS` beside them, written by
/// `sha256sum`: the folder, the files and the manifest.
fn three_files_and_their_sums() -> (tempfile::TempDir, Vec<PathBuf>, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 3, 100_000);
    let out = std::process::Command::new("sha256sum")
        .current_dir(dir.path())
        .args(["file0.bin", "file1.bin", "file2.bin"])
        .output()
        .unwrap();
    let manifest = dir.path().join("SHA256SUMS");
    std::fs::write(&manifest, &out.stdout).unwrap();
    (dir, paths, manifest)
}

/// A window set to verify `manifest`, after one run of it to the end.
fn verified(manifest: PathBuf) -> Harness<'static, RipcordApp> {
    let settings = Settings {
        op: OpKind::Verify,
        ..Settings::default()
    };
    let mut h = harness(settings, vec![manifest]);
    h.get_by_label("Start").click();
    step_until_finished(&mut h);
    h
}

#[test]
fn verify_lists_each_manifest_entry_with_its_result() {
    let (_dir, paths, manifest) = three_files_and_their_sums();
    std::fs::write(&paths[1], b"changed").unwrap();
    let h = verified(manifest);
    let rows = &h.state().rows;
    let results: Vec<_> = rows.iter().map(|r| r.result.as_deref().cloned()).collect();
    use ripcord::gui::model::RowResult::Verified;
    use ripcord::ops::hash::Algo;
    let v = |ok| {
        Some(Verified {
            ok,
            algo: Some(Algo::Sha256),
        })
    };
    assert_eq!(results, vec![v(true), v(false), v(true)]);
    // A mismatch is a failed row, and the summary counts it in sha256sum -c's words.
    assert!(
        matches!(rows[1].state, FileState::Failed(_)),
        "{:?}",
        rows[1].state
    );
    let message = h.state().message().unwrap_or_default().to_string();
    assert!(
        message.contains("2 OK, 1 FAILED, 0 could not be read"),
        "{message}"
    );
}

#[test]
fn dropped_and_pasted_paths_are_listed_once() {
    #[derive(Debug)]
    struct Dropped(PathBuf);
    impl egui::DroppedFile for Dropped {
        fn path(&self) -> &Path {
            &self.0
        }
        fn bytes(&self) -> Result<Vec<u8>, String> {
            std::fs::read(&self.0).map_err(|e| e.to_string())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("folder");
    std::fs::create_dir(&sub).unwrap();
    let inside = files(&sub, 3, 1000);
    let loose = files(dir.path(), 1, 1000);
    let mut h = harness(Settings::default(), Vec::new());
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(sub.clone())));
    step_until(&mut h, "dropped folder listed", |a| a.rows.len() == 3);
    // Pasting the folder again and a file URI of the loose file adds only the new file.
    let uri = format!("file://{}", loose[0].display()).replace(' ', "%20");
    h.event(egui::Event::Paste(format!("{}\n{uri}\n", sub.display())));
    step_until(&mut h, "pasted file listed", |a| a.rows.len() == 4);
    for _ in 0..5 {
        h.step();
    }
    let listed = row_paths(h.state());
    let mut want = inside;
    want.extend(loose);
    assert_eq!(listed, want);
}

/// The window speaks of its own controls, and its summary names every kind of ending.
#[test]
fn an_existing_output_is_explained_in_the_windows_words() {
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 2, 10_000);
    std::fs::write(dir.path().join("file1.bin.zst"), b"already here").unwrap();
    let settings = Settings {
        op: OpKind::Compress,
        ..Settings::default()
    };
    let mut h = harness(settings, paths);
    h.get_by_label("Start").click();
    step_until(&mut h, "finished", |a| {
        !a.is_running() && a.rows.iter().all(|r| r.state.is_final())
    });
    let rows = &h.state().rows;
    assert_eq!(rows[0].state, FileState::Done);
    assert_eq!(
        rows[1].state,
        FileState::Failed("exists — tick Overwrite existing".into())
    );
    let message = h.state().message().unwrap_or_default().to_string();
    assert!(
        message.starts_with("Finished: 1 done, 1 failed in"),
        "{message}"
    );
    assert!(!message.contains("--force"));
    assert_eq!(
        std::fs::read(dir.path().join("file1.bin.zst")).unwrap(),
        b"already here"
    );
}

/// `ripcord gui --throttle/--daemon/--op/--keep-partial` apply to that launch only: what is
/// remembered for the next plain launch is what was remembered before, unless the person
/// changed it.
#[test]
fn launch_flags_are_not_remembered() {
    let before = Settings::default();
    let args = GuiArgs {
        throttle: Some(100_000),
        daemon: true,
        keep_partial: true,
        op: Some(OpKind::Copy),
        ..Default::default()
    };
    let mut app = RipcordApp::new(before.clone(), args);
    assert!(app.settings.throttle_on && app.settings.daemon);
    assert!(app.settings.download.keep_partial);
    assert_eq!(app.settings_to_remember(), before);
    // A change the person makes is theirs, and is remembered.
    app.settings.throttle_mb_s = 42.0;
    let kept = app.settings_to_remember();
    assert!(kept.throttle_on && kept.throttle_mb_s == 42.0);
    assert_eq!((kept.daemon, kept.op), (before.daemon, before.op));
}

/// The rows' paths, in list order.
fn row_paths(app: &RipcordApp) -> Vec<PathBuf> {
    app.rows.iter().map(|r| r.path.to_path_buf()).collect()
}

/// Steps until no job runs and every row has ended (after one step, so that a click just
/// made has started its job).
fn step_until_finished(h: &mut Harness<'_, RipcordApp>) {
    h.step();
    step_until(h, "finished", |a| {
        !a.is_running() && a.rows.iter().all(|r| r.state.is_final())
    });
}

/// Verify keeps its manifests: each entry row names its manifest, Start again reads the
/// manifests again (not the entries' names against the current folder), and switching to
/// another operation works on the entries' real paths.
#[test]
fn verify_again_rereads_its_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    files(dir.path(), 2, 50_000);
    files(&sub, 1, 60_000);
    for d in [dir.path(), sub.as_path()] {
        let names: Vec<String> = entries(d)
            .into_iter()
            .filter(|n| n.ends_with(".bin"))
            .collect();
        let out = std::process::Command::new("sha256sum")
            .current_dir(d)
            .args(&names)
            .output()
            .unwrap();
        std::fs::write(d.join("SUMS.sha256"), &out.stdout).unwrap();
    }
    let manifests = vec![dir.path().join("SUMS.sha256"), sub.join("SUMS.sha256")];
    let settings = Settings {
        op: OpKind::Verify,
        ..Settings::default()
    };
    let mut h = harness(settings, manifests.clone());
    for round in 0..2 {
        h.get_by_label("Start").click();
        step_until_finished(&mut h);
        let rows = &h.state().rows;
        assert_eq!(rows.len(), 3, "round {round}: {rows:?}");
        assert!(
            rows.iter().all(|r| r.state == FileState::Done),
            "round {round}: {:?}",
            rows.iter().map(|r| &r.state).collect::<Vec<_>>()
        );
        let origins: Vec<PathBuf> = rows
            .iter()
            .map(|r| r.origin().unwrap().to_path_buf())
            .collect();
        assert_eq!(
            origins,
            [
                manifests[0].clone(),
                manifests[0].clone(),
                manifests[1].clone()
            ],
            "round {round}"
        );
        // The Manifest column names each row's manifest.
        h.run();
        assert!(h.query_by_label("Manifest").is_some(), "a Manifest column");
        assert_eq!(h.query_all_by_label("SUMS.sha256").count(), 3);
    }
    // Another operation on the same rows opens the files themselves.
    h.state_mut().settings.op = OpKind::Hash;
    h.get_by_label("Start").click();
    step_until_finished(&mut h);
    assert!(
        h.state().rows.iter().all(|r| r.state == FileState::Done),
        "{:?}",
        h.state().rows.iter().map(|r| &r.state).collect::<Vec<_>>()
    );
}

/// Totals: a skipped file leaves the work to do, a failed one stays in it undone and keeps
/// its size, "Files N of M" counts done files, and the summary names every kind. An input
/// with nothing to do (a .zst to compress) is skipped with its reason, not failed.
#[test]
fn totals_count_skipped_and_failed_apart() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.bin");
    let b = dir.path().join("b.zst");
    let c = dir.path().join("c.bin");
    common::file(&a, 100_000, 1);
    common::file(&b, 30_000, 2);
    common::file(&c, 70_000, 3);
    let settings = Settings {
        op: OpKind::Compress,
        ..Settings::default()
    };
    let mut h = harness(settings, vec![a, b, c.clone()]);
    std::fs::remove_file(&c).unwrap();
    h.get_by_label("Start").click();
    step_until_finished(&mut h);
    let rows = &h.state().rows;
    assert_eq!(rows[0].state, FileState::Done);
    assert!(
        matches!(&rows[1].state, FileState::Skipped(why) if why.contains("already compressed")),
        "{:?}",
        rows[1].state
    );
    assert!(matches!(rows[2].state, FileState::Failed(_)));
    assert_eq!(rows[2].size, 70_000, "a failed row keeps its size");
    h.run();
    for shown in [
        "Files 1 of 2",
        "97.7 KiB of 166.0 KiB",
        "· 1 failed",
        "· 1 skipped",
        "1 done, 1 skipped, 1 failed",
    ] {
        assert!(
            h.query_all_by_label_contains(shown).next().is_some(),
            "{shown} not shown"
        );
    }
}

/// Files added while a job runs join the queue and run when it ends; a queued row of the
/// running job can be skipped (selected + Delete) without stopping the others.
#[test]
fn files_added_while_running_join_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 3, 3 << 20);
    let later = dir.path().join("later.bin");
    common::file(&later, 1 << 20, 9);
    let settings = Settings {
        threads: 1,
        ..throttled(OpKind::Hash, 4.0)
    };
    let mut h = harness(settings, paths);
    h.get_by_label("Start").click();
    step_until(&mut h, "running", |a| a.rows[0].state == FileState::Running);
    h.state_mut().add(vec![later.clone()]);
    step_until(&mut h, "added while running", |a| a.rows.len() == 4);
    assert_eq!(h.state().rows[3].state, FileState::Ready);
    assert_eq!(h.state().rows[2].state, FileState::Queued);
    h.state_mut().rows.marks_mut()[2].selected = true;
    h.key_press(egui::Key::Delete);
    step_until(&mut h, "queued row skipped", |a| {
        a.rows[2].state == FileState::Cancelled(Reason::Skip)
    });
    assert_eq!(h.state().rows.len(), 4, "a row of the job stays in place");
    step_until(&mut h, "the queue ran", |a| {
        !a.is_running() && a.rows[3].state == FileState::Done
    });
    let states: Vec<_> = h.state().rows.iter().map(|r| r.state.clone()).collect();
    assert_eq!(
        states,
        [
            FileState::Done,
            FileState::Done,
            FileState::Cancelled(Reason::Skip),
            FileState::Done
        ]
    );
    // One message for the whole queue (the file added ran in a job of its own, whose
    // "Finished: 1 done, 0 failed in 0.0 s" was all the window said).
    let msg = h.state().message().unwrap_or_default().to_string();
    assert!(
        msg.starts_with("Finished: 3 done, 0 failed, 1 cancelled in "),
        "{msg}"
    );
}

/// Verify's "Retry failed" checks only the failed entries again, in their rows: the
/// others keep their results and are not read (before, the whole manifest was re-read).
#[test]
fn verify_retry_failed_checks_only_the_failed_entries() {
    let (_dir, paths, manifest) = three_files_and_their_sums();
    let good = std::fs::read(&paths[1]).unwrap();
    std::fs::write(&paths[1], b"changed").unwrap();
    let mut h = verified(manifest);
    let order = row_paths(h.state());
    assert!(matches!(h.state().rows[1].state, FileState::Failed(_)));
    // Mended; and file 2 spoiled, which a check of it would now find.
    std::fs::write(&paths[1], &good).unwrap();
    std::fs::write(&paths[2], b"spoiled after its check").unwrap();
    h.run();
    h.get_by_label("Retry failed (1)").click();
    step_until_finished(&mut h);
    let rows = &h.state().rows;
    let now: Vec<PathBuf> = rows.iter().map(|r| r.path.to_path_buf()).collect();
    assert_eq!(now, order, "the rows stay where they were");
    assert!(
        rows.iter().all(|r| r.state == FileState::Done),
        "{:?}",
        rows.iter().map(|r| &r.state).collect::<Vec<_>>()
    );
    use ripcord::gui::model::RowResult::Verified;
    for r in rows.iter() {
        assert!(
            matches!(r.result.as_deref(), Some(Verified { ok: true, .. })),
            "{:?}",
            r.result
        );
    }
}

/// "Retry failed" runs only the failed rows; "Run remaining" runs what a cancel left.
#[test]
fn retry_failed_and_run_remaining() {
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 3, 2 << 20);
    let mut h = harness(Settings::default(), paths.clone());
    // Before anything ran, every row remains: that is Start, offered once.
    assert!(h.query_by_label_contains("Run remaining").is_none());
    let moved = dir.path().join("away");
    std::fs::rename(&paths[1], &moved).unwrap();
    h.get_by_label("Start").click();
    step_until_finished(&mut h);
    assert!(matches!(h.state().rows[1].state, FileState::Failed(_)));
    let before: Vec<_> = h.state().rows.iter().map(|r| r.result.clone()).collect();
    std::fs::rename(&moved, &paths[1]).unwrap();
    h.run();
    h.get_by_label("Retry failed (1)").click();
    step_until_finished(&mut h);
    let rows = &h.state().rows;
    assert!(
        rows.iter().all(|r| r.state == FileState::Done),
        "{:?}",
        rows.iter().map(|r| &r.state).collect::<Vec<_>>()
    );
    assert_eq!(rows[0].result, before[0]);
    assert_eq!(rows[2].result, before[2]);
    let message = h.state().message().unwrap_or_default().to_string();
    assert!(
        message.contains("1 done, 0 failed"),
        "only one ran: {message}"
    );

    // A cancel part way, then "Run remaining" finishes the job.
    h.state_mut().settings = Settings {
        threads: 1,
        ..throttled(OpKind::Hash, 8.0)
    };
    h.get_by_label("Start").click();
    h.step();
    step_until(&mut h, "the second running", |a| {
        a.rows[0].state == FileState::Done
            && a.rows[1].state == FileState::Running
            && a.rows[1].done_bytes > 0
    });
    h.get_by_label("Cancel").click();
    step_until_finished(&mut h);
    let left = h
        .state()
        .rows
        .iter()
        .filter(|r| r.state != FileState::Done)
        .count();
    assert_eq!(left, 2);
    h.state_mut().settings.throttle_on = false;
    h.run();
    h.get_by_label(&format!("Run remaining ({left})")).click();
    step_until_finished(&mut h);
    assert!(h.state().rows.iter().all(|r| r.state == FileState::Done));
}

/// Closing with checksums never saved asks first, from the title bar exactly as from
/// Ctrl+Q: Keep working stays, Discard closes. Daemon mode does not ask.
#[test]
fn closing_with_unsaved_checksums_asks_first() {
    use ripcord::gui::dialogs::Ask;
    ripcord::init_engine();
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 1, 1000);
    let app = RipcordApp::new(
        Settings::default(),
        GuiArgs {
            paths,
            ..Default::default()
        },
    );
    let mut h = Harness::builder()
        // The app's helper threads (listing, the dialog probe, the engine) wake it: on a
        // busy machine a settle takes more than kittest's 4 frames.
        .with_max_steps(64)
        .with_size(egui::vec2(1100.0, 700.0))
        .build_ui_state(|ui, app: &mut RipcordApp| app.frame(ui), app);
    step_until(&mut h, "listed", |a| {
        a.rows.len() == 1 && a.listing().is_none()
    });
    h.get_by_label("Start").click();
    step_until_finished(&mut h);
    // The title bar's ×.
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    h.step();
    assert!(!h.state().close_now());
    assert!(matches!(
        h.state().asking(),
        Some(Ask::UnsavedClose { digests: 1 })
    ));
    h.run();
    h.get_by_label("Keep working").click();
    h.run();
    assert!(h.state().asking().is_none() && !h.state().close_now());
    // Ctrl+Q asks the same.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Q);
    h.step();
    assert!(matches!(h.state().asking(), Some(Ask::UnsavedClose { .. })));
    h.run();
    h.get_by_label("Discard").click();
    h.step();
    assert!(h.state().close_now());

    // Daemon mode closes without asking.
    let mut h = harness(
        Settings {
            daemon: true,
            ..Settings::default()
        },
        files(dir.path(), 1, 10),
    );
    h.get_by_label("Start").click();
    step_until_finished(&mut h);
    assert!(h.state_mut().request_close());
}

/// A missing destination folder is named once before Start, and created on request.
#[test]
fn a_missing_destination_is_named_once_and_created_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 2, 1000);
    let to = dir.path().join("not/yet");
    let settings = Settings {
        op: OpKind::Copy,
        copy_to: Some(to.clone()),
        ..Settings::default()
    };
    let mut h = harness(settings, paths);
    h.get_by_label("Start").click();
    h.run();
    let question = format!("{} does not exist — create it?", to.display());
    assert!(h.query_by_label_contains(&question).is_some());
    assert!(!h.state().is_running());
    h.get_by_label("Create and start").click();
    step_until(&mut h, "copied", |a| {
        a.rows.iter().all(|r| r.state == FileState::Done)
    });
    assert_eq!(entries(&to), ["file0.bin", "file1.bin"]);
}

/// The message log keeps every message: each path not added, the run's summary, and a
/// later "Checksum copied" that does not hide it.
#[test]
fn the_message_log_keeps_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 1, 1000);
    let mut h = harness(Settings::default(), paths);
    h.state_mut()
        .add(vec![dir.path().join("nope1"), dir.path().join("nope2")]);
    step_until(&mut h, "both refused", |a| {
        a.log().filter(|l| l.contains("Not added")).count() == 2
    });
    h.get_by_label("Start").click();
    step_until_finished(&mut h);
    h.run();
    let digest = match h.state().rows[0].result.as_deref() {
        Some(ripcord::gui::model::RowResult::Digest(d)) => d.hex(),
        other => panic!("{other:?}"),
    };
    h.get_by_label(&digest).click();
    h.run();
    let log: Vec<String> = h.state().log().map(str::to_string).collect();
    for want in ["nope1", "nope2", "Finished: 1 done", "Checksum copied"] {
        assert!(log.iter().any(|l| l.contains(want)), "{want}: {log:?}");
    }
    // The log is shown: its header names the count, and unfolds to selectable lines.
    h.get_by_label_contains("Messages (").click();
    h.run();
    assert!(h.query_by_label_contains("Finished: 1 done").is_some());
}

/// Copy with verify shows its phase while the copy is read back, then "verified" with the
/// BLAKE3 checksum both sides share; Save manifest works after it.
#[test]
fn a_verified_copy_shows_its_phase_and_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 1, 4 << 20);
    let to = dir.path().join("copies");
    std::fs::create_dir(&to).unwrap();
    let settings = Settings {
        copy_to: Some(to.clone()),
        copy_verify: true,
        ..throttled(OpKind::Copy, 8.0)
    };
    let mut h = harness(settings, paths.clone());
    h.get_by_label("Start").click();
    step_until(&mut h, "reading the copy back", |a| {
        a.rows[0].state == FileState::Verifying
    });
    h.run_steps(2);
    assert!(h.query_by_label_contains("verifying").is_some());
    step_until_finished(&mut h);
    let want = blake3::hash(&std::fs::read(&paths[0]).unwrap())
        .to_hex()
        .to_string();
    match h.state().rows[0].result.as_deref() {
        Some(ripcord::gui::model::RowResult::CopyVerified(c)) => {
            assert_eq!(c.blake3.hex(), want);
            assert_eq!(&*c.dest, to.join("file0.bin"));
        }
        other => panic!("{other:?}"),
    }
    assert!(h.state().can_save_manifest(), "Save manifest is offered");
}

// ---- Layout: the table, keyboard, theme, title (issue 10 §4) ----

/// A harness of `size` whose files were given in this order.
fn harness_at(
    size: egui::Vec2,
    settings: Settings,
    paths: Vec<PathBuf>,
) -> Harness<'static, RipcordApp> {
    let mut h = harness_of(size, settings, paths);
    h.run_steps(3);
    h
}

/// A wide window listing `n` files of `len` bytes in `dir`, set to hash them at `mb_s`
/// MiB/s, so that a test can act while the job runs.
fn slow_hash(dir: &Path, n: usize, len: usize, mb_s: f32) -> Harness<'static, RipcordApp> {
    let paths = files(dir, n, len);
    harness_at(
        egui::vec2(1100.0, 700.0),
        throttled(OpKind::Hash, mb_s),
        paths,
    )
}

/// Files named `name`, each `len` bytes long.
fn named(dir: &Path, names: &[(&str, usize)]) -> Vec<PathBuf> {
    names
        .iter()
        .enumerate()
        .map(|(i, (name, len))| {
            let p = dir.join(name);
            common::file(&p, *len, i as u64);
            p
        })
        .collect()
}

#[test]
fn a_long_name_leaves_size_and_state_on_a_narrow_window() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("{}.bin", "a-very-long-name-".repeat(14));
    let paths = named(dir.path(), &[(&long, 1234), ("short.bin", 5678)]);
    let width = 640.0;
    let h = harness_at(egui::vec2(width, 400.0), Settings::default(), paths);
    for label in ["1.2 KiB", "5.5 KiB", "Size", "State", "Result"] {
        let r = h.get_by_label(label).rect();
        assert!(
            r.max.x <= width,
            "'{label}' is off the window: right edge {} > {width}",
            r.max.x
        );
    }
    for ready in h.query_all_by_label("ready") {
        assert!(ready.rect().max.x <= width, "a state is off the window");
    }
    // The name is cut to fit (screen readers still get it whole).
    let name = h.get_by_label_contains(&long).rect();
    assert!(name.max.x <= width, "the name ends at {}", name.max.x);
}

#[test]
fn sorting_by_size_changes_the_view_not_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let paths = named(
        dir.path(),
        &[("a.bin", 3000), ("b.bin", 1000), ("c.bin", 2000)],
    );
    let mut h = harness_at(
        egui::vec2(1100.0, 700.0),
        Settings::default(),
        paths.clone(),
    );
    let listed = row_paths(h.state());
    let y = |h: &Harness<'_, RipcordApp>, p: &Path| {
        h.get_by_label(&p.display().to_string()).rect().min.y
    };
    let before: Vec<f32> = listed.iter().map(|p| y(&h, p)).collect();
    assert!(before.windows(2).all(|w| w[0] < w[1]), "list order first");
    h.get_by_label("Size").click();
    h.run_steps(3);
    let shown: Vec<f32> = listed.iter().map(|p| y(&h, p)).collect();
    let mut idx: Vec<usize> = (0..3).collect();
    idx.sort_by(|&a, &b| shown[a].total_cmp(&shown[b]));
    let sizes = |h: &Harness<'_, RipcordApp>, idx: &[usize]| -> Vec<u64> {
        idx.iter().map(|&i| h.state().rows[i].size).collect()
    };
    assert_eq!(
        sizes(&h, &idx),
        vec![1000, 2000, 3000],
        "shown smallest first"
    );
    let after = row_paths(h.state());
    assert_eq!(after, listed, "the rows themselves keep their order");
    // Again: largest first.
    h.get_by_label("Size").click();
    h.run_steps(3);
    let order = h.state().table.order().to_vec();
    assert_eq!(sizes(&h, &order), vec![3000, 2000, 1000]);
}

#[test]
fn arrows_move_the_cursor_and_space_toggles_the_mark() {
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 5, 100);
    let mut h = harness_at(egui::vec2(1100.0, 700.0), Settings::default(), paths);
    let key = |h: &mut Harness<'_, RipcordApp>, k: egui::Key| {
        h.key_press(k);
        h.run_steps(2);
    };
    assert_eq!(h.state().table.cursor_row(), None);
    key(&mut h, egui::Key::ArrowDown);
    assert_eq!(h.state().table.cursor_row(), Some(0));
    // A click on a name puts the cursor there and leaves the keyboard with the list.
    let second = h.state().rows[1].path.display().to_string();
    h.get_by_label(&second).click();
    h.run_steps(2);
    assert_eq!(h.state().table.cursor_row(), Some(1));
    assert!(h.state().rows[1].selected, "a click marks the row");
    key(&mut h, egui::Key::Space);
    assert!(
        !h.state().rows[1].selected,
        "Space after a click unmarks it"
    );
    key(&mut h, egui::Key::Home);
    key(&mut h, egui::Key::ArrowDown);
    key(&mut h, egui::Key::ArrowDown);
    key(&mut h, egui::Key::ArrowUp);
    assert_eq!(h.state().table.cursor_row(), Some(1));
    key(&mut h, egui::Key::Space);
    assert!(h.state().rows[1].selected);
    assert!(h.state().rows.iter().filter(|r| r.selected).count() == 1);
    key(&mut h, egui::Key::Space);
    assert!(!h.state().rows[1].selected);
    key(&mut h, egui::Key::End);
    assert_eq!(h.state().table.cursor_row(), Some(4));
    key(&mut h, egui::Key::Home);
    assert_eq!(h.state().table.cursor_row(), Some(0));
    key(&mut h, egui::Key::PageDown);
    assert_eq!(
        h.state().table.cursor_row(),
        Some(4),
        "a page holds all five"
    );
}

#[test]
fn the_theme_choice_is_remembered() {
    let mut h = harness_at(egui::vec2(1100.0, 700.0), Settings::default(), Vec::new());
    h.get_by_label_contains("View (").click();
    h.run_steps(2);
    h.get_by_label("Dark").click();
    h.run_steps(2);
    assert_eq!(h.state().settings.theme, ripcord::gui::look::Theme::Dark);
    assert_eq!(
        h.ctx.options(|o| o.theme_preference),
        egui::ThemePreference::Dark
    );
    let saved = serde_json::to_string(&h.state().settings_to_remember()).unwrap();
    let back: Settings = serde_json::from_str(&saved).unwrap();
    assert_eq!(back.theme, ripcord::gui::look::Theme::Dark);
    // An old settings file without the field still loads, following the system.
    let old: Settings = serde_json::from_str(r#"{"daemon":true}"#).unwrap();
    assert_eq!(old.theme, ripcord::gui::look::Theme::System);
}

#[test]
fn the_title_shows_progress_while_a_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = slow_hash(dir.path(), 2, 4 << 20, 8.0);
    assert_eq!(
        ripcord::gui::look::shown_title(&h.ctx).as_deref(),
        Some("Ripcord")
    );
    h.get_by_label("Start").click();
    step_until(&mut h, "running", |a| {
        a.rows.iter().any(|r| r.done_bytes > 0)
    });
    h.step();
    let title = ripcord::gui::look::shown_title(&h.ctx).unwrap_or_default();
    let pct = title
        .strip_suffix(" % — Ripcord")
        .unwrap_or_else(|| panic!("{title}"));
    assert!(pct.parse::<u8>().is_ok_and(|p| p <= 100), "{title}");
    step_until(&mut h, "finished", |a| !a.is_running());
    h.step();
    assert_eq!(
        ripcord::gui::look::shown_title(&h.ctx).as_deref(),
        Some("Ripcord")
    );
}

/// Names in six scripts are drawn with glyphs, not boxes: the headless harness panics on a
/// glyph no font has, and here, as in the real window (eframe's `system_fonts`), the
/// system's fonts are found through fontconfig. Needs the README's font packages.
#[test]
fn names_in_every_script_render_as_text() {
    let names = [
        "中文文件名.txt",
        "日本語のファイル.txt",
        "한국어 파일.txt",
        "ملف عربي.txt",
        "קובץ עברי.txt",
        "हिंदी फ़ाइल.txt",
    ];
    let app = RipcordApp::new(Settings::default(), GuiArgs::default());
    let mut h = Harness::builder()
        // The app's helper threads (listing, the dialog probe, the engine) wake it: on a
        // busy machine a settle takes more than kittest's 4 frames.
        .with_max_steps(64)
        .with_size(egui::vec2(1100.0, 700.0))
        .build_ui_state(|ui, app: &mut RipcordApp| app.frame(ui), app);
    h.ctx.add_font_provider(std::sync::Arc::new(
        egui_system_font_provider::SystemFontProvider::new(),
    ));
    for n in names {
        let row = ripcord::gui::model::Row::new(PathBuf::from("/x").join(n), 1, None);
        h.state_mut().rows.push(row);
    }
    h.run_steps(3);
    for n in names {
        assert!(h.query_by_label_contains(n).is_some(), "{n} not shown");
    }
}

#[test]
fn a_short_window_folds_the_options_and_keeps_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 20, 10);
    let h = harness_at(egui::vec2(640.0, 400.0), Settings::default(), paths);
    assert!(h.query_by_label_contains("Options: ").is_some());
    assert!(
        h.query_by_label("Daemon mode: exit without waiting for running work")
            .is_none(),
        "the options are folded"
    );
    let shown = h.query_all_by_label_contains("file").count();
    assert!(shown >= 8, "only {shown} rows show in a 400-high window");
}

/// In a short window (or a large zoom) the list ends above the status bar, so End brings
/// the last row into view: the table's scroll area kept egui_extras' 200-point minimum
/// height and ran on under the bar, hiding the last rows from End and the scroll wheel.
#[test]
fn end_brings_the_last_row_into_a_short_window() {
    let dir = tempfile::tempdir().unwrap();
    let paths = files(dir.path(), 20, 10);
    let mut h = harness_at(egui::vec2(640.0, 400.0), Settings::default(), paths);
    h.key_press(egui::Key::End);
    h.run_steps(3);
    assert_eq!(h.state().table.cursor_row(), Some(19));
    let last = h.state().rows[19].path.display().to_string();
    let row = h.get_by_label(&last).rect();
    let status = h.get_by_label_contains("20 files").rect();
    assert!(
        row.max.y <= status.min.y,
        "the last row (down to y {}) is under the status bar (from y {})",
        row.max.y,
        status.min.y
    );
}

/// Rows of a running job can be marked (for Remove selected, which skips them) by a click
/// or with the keyboard.
#[test]
fn rows_can_be_marked_while_a_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = slow_hash(dir.path(), 3, 4 << 20, 4.0);
    h.get_by_label("Start").click();
    step_until(&mut h, "running", |a| a.is_running());
    let last = h.state().rows[2].path.display().to_string();
    h.get_by_label(&last).click();
    h.step();
    assert!(
        h.state().rows[2].selected,
        "a click marks a row while running"
    );
    h.key_press(egui::Key::ArrowUp);
    h.step();
    h.key_press(egui::Key::Space);
    h.step();
    assert!(
        h.state().rows[1].selected,
        "Space marks a row while running"
    );
    h.get_by_label("Cancel").click();
    step_until(&mut h, "stopped", |a| !a.is_running());
}

/// A press on Skip that is released after the row finished, over the checksum that took
/// Skip's place, neither copies the checksum nor skips anything.
#[test]
fn a_click_acts_on_what_was_under_the_pointer_when_pressed() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = slow_hash(dir.path(), 1, 3 << 20, 6.0);
    h.get_by_label("Start").click();
    step_until_shown(&mut h, "Skip");
    let at = h.get_by_label("Skip").rect().center();
    h.event(egui::Event::PointerMoved(at));
    h.event(egui::Event::PointerButton {
        pos: at,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    step_until(&mut h, "finished", |a| !a.is_running());
    h.run_steps(2);
    let digest = match h.state().rows[0].result.as_deref() {
        Some(ripcord::gui::model::RowResult::Digest(d)) => d.hex(),
        other => panic!("{other:?}"),
    };
    assert!(
        h.get_by_label(&digest).rect().contains(at),
        "the checksum is under the pointer"
    );
    h.event(egui::Event::PointerButton {
        pos: at,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    h.run_steps(2);
    assert!(!h.state().log().any(|l| l.contains("copied")), "copied");
    assert_eq!(h.state().rows[0].state, FileState::Done);
}
