//! The window's downloads, headless with egui_kittest against a server on 127.0.0.1: Add
//! URL makes download rows and selects Download; a paste of URLs does too; a download
//! cancelled during a stall with Keep partial offers Resume, which finishes it with a
//! `Range` request.

use std::path::PathBuf;
use std::time::Instant;

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use ripcord::gui::Launch;
use ripcord::gui::RipcordApp;
use ripcord::gui::model::{FileState, Settings};
use ripcord::ops::kind::OpKind;

use super::row_paths;
use crate::common::http::{Resource, Server};
use crate::common::{self, WAIT};

fn step_until(h: &mut Harness<'_, RipcordApp>, what: &str, cond: impl Fn(&RipcordApp) -> bool) {
    let end = Instant::now() + WAIT;
    while !cond(h.state()) {
        assert!(Instant::now() < end, "timed out waiting for: {what}");
        h.step();
        std::thread::yield_now();
    }
}

fn harness(settings: Settings) -> Harness<'static, RipcordApp> {
    ripcord::init_engine();
    let app = RipcordApp::new(settings, Launch::default());
    Harness::builder()
        // The app's helper threads (listing, the dialog probe, the engine) wake it: on a
        // busy machine a settle takes more than kittest's 4 frames.
        .with_max_steps(64)
        .with_size(egui::vec2(1200.0, 700.0))
        .build_ui_state(|ui, app: &mut RipcordApp| app.show(ui), app)
}

/// Opens Add URL, types `text` and clicks Add.
fn add_url(h: &mut Harness<'_, RipcordApp>, text: &str) {
    h.get_by_label("Add URL…").click();
    h.run();
    let input = h.get_by_role(Role::MultilineTextInput);
    input.focus();
    h.run();
    h.get_by_role(Role::MultilineTextInput).type_text(text);
    h.run();
    h.get_by_label("Add download").click();
    h.run();
}

#[test]
fn add_url_makes_download_rows_and_they_download() {
    let srv = Server::start();
    srv.put("/a.bin", Resource::file(common::bytes(300_000, 1)));
    srv.put("/b.bin", Resource::file(common::bytes(1000, 2)));
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.download.to = dir.path().display().to_string();
    let mut h = harness(settings);
    add_url(
        &mut h,
        &format!("{}\n{}", srv.url("/a.bin"), srv.url("/b.bin")),
    );
    assert_eq!(h.state().settings.op, OpKind::Download);
    let rows = row_paths(h.state());
    assert_eq!(
        rows,
        vec![
            PathBuf::from(srv.url("/a.bin")),
            PathBuf::from(srv.url("/b.bin"))
        ]
    );
    // The dialog closed; a paste of a URL adds a row too.
    assert!(h.query_by_role(Role::MultilineTextInput).is_none());
    h.event(egui::Event::Paste(srv.url("/b.bin")));
    h.run();
    assert_eq!(h.state().rows.len(), 2, "the same URL is listed once");
    h.get_by_label("Start").click();
    step_until(&mut h, "both done", |a| {
        a.rows.iter().all(|r| r.state == FileState::Done)
    });
    assert_eq!(
        std::fs::read(dir.path().join("a.bin")).unwrap(),
        common::bytes(300_000, 1)
    );
}

#[test]
fn a_cancelled_download_offers_resume_and_resume_finishes_it() {
    cancelled_download_resumes(|h| {
        h.get_by_label("Resume").click();
    });
}

/// Down and Enter typed faster than a frame (one frame's input, as a busy window or XTEST
/// delivers them) place the cursor on the row and resume it.
#[test]
fn down_and_enter_in_one_frame_resume_a_cancelled_download() {
    cancelled_download_resumes(|h| {
        assert_eq!(h.state().table.cursor_row(), None);
        // kittest gives each queued event its own frame; these go into one frame's input.
        let press = |key, pressed| egui::Event::Key {
            key,
            physical_key: None,
            pressed,
            repeat: false,
            modifiers: egui::Modifiers::NONE,
        };
        h.input_mut().events.extend([
            press(egui::Key::ArrowDown, true),
            press(egui::Key::ArrowDown, false),
            press(egui::Key::Enter, true),
            press(egui::Key::Enter, false),
        ]);
        h.step();
        assert_eq!(h.state().table.cursor_row(), Some(0));
    });
}

/// Cancels a download stalled after its first MiB, with Keep partial; `resume` then asks
/// for the rest, which must come with one `Range` request and finish the file.
fn cancelled_download_resumes(resume: impl FnOnce(&mut Harness<'_, RipcordApp>)) {
    let srv = Server::start();
    let body = common::bytes(2 << 20, 3);
    let mut res = Resource::file(body.clone());
    res.stall_at = Some(1 << 20);
    srv.put("/r.bin", res);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.download.to = dir.path().display().to_string();
    settings.download.keep_partial = true;
    let mut h = harness(settings);
    add_url(&mut h, &srv.url("/r.bin"));
    h.get_by_label("Start").click();
    step_until(&mut h, "running", |a| {
        a.rows
            .first()
            .is_some_and(|r| r.state == FileState::Running)
    });
    // The server sent 1 MiB and stalls: cancel once the row shows it.
    step_until(&mut h, "1 MiB in", |a| {
        a.rows.first().is_some_and(|r| r.done_bytes >= 1 << 20)
    });
    h.get_by_label("Cancel").click();
    step_until(&mut h, "cancelled", |a| {
        a.rows
            .first()
            .is_some_and(|r| matches!(r.state, FileState::Cancelled(_)))
            && !a.is_running()
    });
    assert!(!dir.path().join("r.bin").exists());
    srv.edit("/r.bin", |r| r.stall_at = None);
    h.run();
    resume(&mut h);
    step_until(&mut h, "resumed and done", |a| {
        a.rows.first().is_some_and(|r| r.state == FileState::Done)
    });
    assert_eq!(std::fs::read(dir.path().join("r.bin")).unwrap(), body);
    let ranged = srv
        .requests_for("/r.bin")
        .into_iter()
        .filter(|r| r.headers.contains_key("range"))
        .count();
    assert_eq!(ranged, 1);
}

/// The real window under Xvfb: `ripcord gui --start URL` downloads into the default folder;
/// Esc during a stall cancels at once with nothing under the final name, and Ctrl+Q then
/// closes the window without waiting for the silent server.
#[test]
fn real_window_downloads_and_a_stall_does_not_hold_cancel_or_close() {
    use crate::common::wait_exit;
    use crate::common::x11::{key, xvfb};
    let Some(display) = xvfb() else { return };
    let srv = Server::start();
    let body = common::bytes(200_000, 4);
    srv.put("/ok.bin", Resource::file(body.clone()));
    let mut stalled = Resource::file(common::bytes(4 << 20, 5));
    stalled.stall_at = Some(1 << 20);
    srv.put("/stall.bin", stalled);
    let (dir, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ok = srv.url("/ok.bin");
    let (mut child, win) = launch_into(&display, &dir, &home, &["--start", "--", &ok]);
    let end = Instant::now() + WAIT;
    while std::fs::read(dir.path().join("ok.bin")).ok().as_deref() != Some(&body[..]) {
        assert!(Instant::now() < end, "the window did not download");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    key(&display, &win, "ctrl+q");
    assert!(
        wait_exit(&mut child, WAIT)
            .expect("did not close")
            .success()
    );

    let stall = srv.url("/stall.bin");
    let (mut child, win) = launch_into(&display, &dir, &home, &["--start", "--", &stall]);
    let end = Instant::now() + WAIT;
    while srv.requests_for("/stall.bin").is_empty() {
        assert!(Instant::now() < end, "no request");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Let the first MiB arrive; the server then says nothing.
    std::thread::sleep(std::time::Duration::from_millis(300));
    key(&display, &win, "Escape");
    let end = Instant::now() + WAIT;
    while common::entries(dir.path())
        .iter()
        .any(|n| n.starts_with(".ripcord-dl-"))
    {
        assert!(Instant::now() < end, "Esc did not cancel");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the window closed on Esc"
    );
    assert!(!dir.path().join("stall.bin").exists());
    let t = Instant::now();
    key(&display, &win, "ctrl+q");
    assert!(
        wait_exit(&mut child, WAIT)
            .expect("did not close")
            .success()
    );
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
}

/// In the real window: a download cancelled during a stall with Keep partial (a one-off
/// `--keep-partial`) keeps its bytes; Down then Enter on its row is Resume, which asks the
/// server for the rest only (`Range`) and completes the file.
#[test]
fn real_window_resumes_a_cancelled_download_from_the_keyboard() {
    use crate::common::wait_exit;
    use crate::common::x11::{key, xdotool, xvfb};
    let Some(display) = xvfb() else { return };
    let srv = Server::start();
    let body = common::bytes(4 << 20, 6);
    let mut stalled = Resource::file(body.clone());
    stalled.stall_at = Some(1 << 20);
    srv.put("/big.bin", stalled);
    let (dir, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let url = srv.url("/big.bin");
    let args = ["--keep-partial", "--start", "--", &url];
    let (mut child, win) = launch_into(&display, &dir, &home, &args);
    // The first MiB arrives; then the server says nothing.
    let part_len = || {
        common::entries(dir.path())
            .iter()
            .filter(|n| n.ends_with(".part"))
            .filter_map(|n| std::fs::metadata(dir.path().join(n)).ok())
            .map(|m| m.len())
            .max()
    };
    let end = Instant::now() + WAIT;
    while part_len() != Some(1 << 20) {
        assert!(
            Instant::now() < end,
            "the first MiB never arrived: {:?}",
            part_len()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The title shows the running job's progress, so its return to plain "Ripcord" below
    // means the job has ended.
    let title = || xdotool(&display.name, &["getwindowname", &win]);
    let end = Instant::now() + WAIT;
    while title() == "Ripcord" {
        assert!(Instant::now() < end, "the title never showed progress");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    key(&display, &win, "Escape");
    // Cancelled: the title loses its progress, and the partial stays.
    let end = Instant::now() + WAIT;
    while title() != "Ripcord" {
        assert!(Instant::now() < end, "Esc did not cancel");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(part_len(), Some(1 << 20), "the partial was not kept");
    assert!(!dir.path().join("big.bin").exists());
    // The server answers whole from now on; Resume must ask for the rest only.
    srv.edit("/big.bin", |r| r.stall_at = None);
    key(&display, &win, "Down");
    key(&display, &win, "Return");
    let end = Instant::now() + WAIT;
    while std::fs::read(dir.path().join("big.bin")).ok().as_deref() != Some(&body[..]) {
        assert!(
            Instant::now() < end,
            "Resume did not finish the file (title {:?})",
            title()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let asked: Vec<Option<String>> = srv
        .requests_for("/big.bin")
        .iter()
        .map(|r| r.headers.get("range").cloned())
        .collect();
    assert_eq!(
        asked,
        vec![None, Some(format!("bytes={}-", 1 << 20))],
        "one whole request, then one for the rest"
    );
    assert!(
        !common::entries(dir.path())
            .iter()
            .any(|n| n.starts_with(".ripcord-dl-")),
        "the partial and its sidecar are gone"
    );
    key(&display, &win, "ctrl+q");
    assert!(
        wait_exit(&mut child, WAIT)
            .expect("did not close")
            .success()
    );
}

/// Opens the real window with `args`, downloading into `dir` (`XDG_DOWNLOAD_DIR`), its
/// settings kept in `home`.
fn launch_into(
    display: &crate::common::x11::Display,
    dir: &tempfile::TempDir,
    home: &tempfile::TempDir,
    args: &[&str],
) -> (std::process::Child, String) {
    let to = dir.path().display().to_string();
    crate::common::x11::launch(display, home.path(), args, &[("XDG_DOWNLOAD_DIR", &to)])
}
