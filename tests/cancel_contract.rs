//! The cancellation contract, with real threads and real files: cancel while waiting, while
//! paused, pause then cancel, many children on many threads, deadline against an explicit
//! cancel, skip, throttle wake-up, join with a time limit, and a cancel in the middle of a
//! real file for every operation leaving nothing behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ripcord::cancel::{CancelToken, Cancelled, Reason};
use ripcord::engine::{Event, Job, JobSpec, Operation, Outcome, Summary};
use ripcord::ops::hash::Algo;

use crate::common::{self, entries};

/// Writes `len` incompressible bytes, so that zstd works for real.
fn write_file(path: &Path, len: usize) {
    common::file(path, len, len as u64);
}

const WAIT: Duration = Duration::from_secs(20);

/// Waits for an event matching `pred`, failing the test after `WAIT`.
fn wait_for(job: &Job, mut pred: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let end = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let ev = job
            .events()
            .recv_timeout(left)
            .expect("timed out waiting for an event");
        let hit = pred(&ev);
        seen.push(ev);
        if hit {
            return seen;
        }
    }
}

fn finish(job: Job) -> (Vec<Event>, Summary) {
    let mut events = wait_for(&job, |e| matches!(e, Event::Finished(_)));
    job.join();
    match events.pop() {
        Some(Event::Finished(s)) => (events, s),
        _ => unreachable!(),
    }
}

fn progressed(job: &Job) {
    let end = Instant::now() + WAIT;
    while job.progress().bytes_done == 0 {
        assert!(Instant::now() < end, "no progress");
        // Waiting for the engine, not synchronising on time: the check is the condition.
        thread::yield_now();
    }
}

#[test]
fn cancel_wakes_a_waiting_thread_at_once() {
    let t = CancelToken::new();
    let t2 = t.clone();
    let h = thread::spawn(move || {
        let start = Instant::now();
        let r = t2.wait_timeout(Duration::from_secs(60));
        (r, start.elapsed())
    });
    t.cancel(Reason::User);
    let (r, took) = h.join().unwrap();
    assert_eq!(r, Err(Cancelled(Reason::User)));
    assert!(took < Duration::from_secs(30));
}

#[test]
fn paused_worker_blocks_until_resume_or_cancel() {
    let t = CancelToken::new();
    t.pause();
    let passed = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let c = t.child();
            let passed = passed.clone();
            thread::spawn(move || {
                let r = c.check();
                passed.fetch_add(1, Ordering::SeqCst);
                r
            })
        })
        .collect();
    // Nothing passes while paused: give the threads every chance to run.
    for _ in 0..1000 {
        thread::yield_now();
    }
    assert_eq!(passed.load(Ordering::SeqCst), 0);
    t.resume();
    for h in hs {
        assert_eq!(h.join().unwrap(), Ok(()));
    }

    // Pause, then cancel: paused threads wake with the reason.
    t.pause();
    let c = t.child();
    let h = thread::spawn(move || c.check());
    t.cancel(Reason::Shutdown);
    assert_eq!(h.join().unwrap(), Err(Cancelled(Reason::Shutdown)));
}

#[test]
fn parent_cancel_reaches_many_children_on_many_threads() {
    let parent = CancelToken::new();
    let stopped = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..64)
        .map(|i| {
            let child = parent.child();
            let grandchild = child.child();
            let stopped = stopped.clone();
            thread::spawn(move || {
                if i % 2 == 0 {
                    let reason = grandchild.wait_cancelled();
                    stopped.fetch_add(1, Ordering::SeqCst);
                    reason
                } else {
                    loop {
                        if let Err(Cancelled(r)) = grandchild.check() {
                            stopped.fetch_add(1, Ordering::SeqCst);
                            return r;
                        }
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    // Children racing with the parent: one cancels itself first.
    let racer = parent.child();
    let r2 = racer.clone();
    let racing = thread::spawn(move || r2.cancel(Reason::Skip));
    parent.cancel(Reason::User);
    racing.join().unwrap();
    for h in hs {
        assert_eq!(h.join().unwrap(), Reason::User);
    }
    assert_eq!(stopped.load(Ordering::SeqCst), 64);
    assert!(racer.is_cancelled());
    assert!(matches!(racer.reason(), Some(Reason::User | Reason::Skip)));
    assert_eq!(parent.reason(), Some(Reason::User));
}

#[test]
fn deadline_against_explicit_cancel() {
    // The deadline fires on its own…
    let t = CancelToken::new();
    t.set_deadline(Duration::from_millis(50)).unwrap();
    assert_eq!(t.wait_cancelled(), Reason::Deadline);

    // …but an earlier explicit cancel wins and keeps its reason.
    let t = CancelToken::new();
    t.set_deadline(Duration::from_millis(200)).unwrap();
    t.cancel(Reason::User);
    assert_eq!(t.wait_cancelled(), Reason::User);

    // Racing: whichever comes first is kept, and it never changes afterwards.
    for _ in 0..50 {
        let t = CancelToken::new();
        t.set_deadline(Duration::from_micros(200)).unwrap();
        let t2 = t.clone();
        let h = thread::spawn(move || t2.cancel(Reason::User));
        let won = h.join().unwrap();
        let first = t.wait_cancelled();
        assert_eq!(first == Reason::User, won);
        assert_eq!(t.reason(), Some(first));
    }
}

/// A job hashing one file of `len` bytes at `rate` bytes a second, once it has made
/// progress; with the folder that holds the file, and the file.
fn throttled_hash(algo: Algo, len: usize, rate: u64) -> (tempfile::TempDir, PathBuf, Job) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f.bin");
    write_file(&f, len);
    let mut s = spec(Operation::Hash { algo }, vec![f.clone()]);
    s.throttle = Some(rate);
    let job = Job::start(s, None).unwrap();
    progressed(&job);
    (dir, f, job)
}

fn spec(op: Operation, inputs: Vec<PathBuf>) -> JobSpec {
    // The process-wide set-up `main` makes (mapped inputs, named pool, closer).
    ripcord::init_engine();
    let mut s = JobSpec::new(op, inputs);
    s.workers = 2;
    s
}

#[test]
fn cancel_mid_file_leaves_nothing_for_every_operation() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.bin");
    write_file(&src, 48 << 20);
    let before = std::fs::read(&src).unwrap();
    // A .zst to decompress, made by a job of our own.
    let zdir = dir.path().join("z");
    std::fs::create_dir(&zdir).unwrap();
    let zsrc = zdir.join("big.bin");
    std::fs::copy(&src, &zsrc).unwrap();
    let (_, s) =
        finish(Job::start(spec(Operation::compress(1, None), vec![zsrc.clone()]), None).unwrap());
    assert_eq!(s.done, 1);
    std::fs::remove_file(&zsrc).unwrap();
    let zst = zdir.join("big.bin.zst");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();

    let ops = [
        (Operation::Hash { algo: Algo::Sha256 }, src.clone()),
        (Operation::compress(3, Some(out.clone())), src.clone()),
        (Operation::decompress(Some(out.clone())), zst.clone()),
        (
            Operation::Copy {
                to: out.clone(),
                verify: true,
            },
            src.clone(),
        ),
        (
            Operation::Copy {
                to: out.clone(),
                verify: false,
            },
            src.clone(),
        ),
    ];
    for (op, input) in ops {
        let name = op.name();
        let mut s = spec(op, vec![input]);
        s.throttle = Some(40_000_000);
        let job = Job::start(s, None).unwrap();
        progressed(&job);
        assert!(job.cancel(Reason::User));
        let (events, summary) = finish(job);
        assert_eq!(summary.cancel_reason, Some(Reason::User), "{name}");
        assert_eq!(summary.cancelled, 1, "{name}: {events:?}");
        let lat = summary.stop_latency.unwrap();
        assert!(lat < Duration::from_secs(2), "{name}: stop took {lat:?}");
        assert!(
            events.iter().any(|e| matches!(
                e,
                Event::Cancelled {
                    reason: Reason::User,
                    ..
                }
            )),
            "{name}"
        );
        assert!(entries(&out).is_empty(), "{name} left {:?}", entries(&out));
        assert_eq!(entries(&zdir), vec!["big.bin.zst".to_string()], "{name}");
    }
    assert_eq!(std::fs::read(&src).unwrap(), before, "the source changed");
}

#[test]
fn pause_stops_progress_and_resume_continues() {
    let (_dir, _, job) = throttled_hash(Algo::Blake3, 32 << 20, 20_000_000);
    job.pause();
    assert!(job.is_paused());
    // A paused worker may finish the chunk it is in, then nothing moves.
    let settle_end = Instant::now() + WAIT;
    let mut last = job.progress().bytes_done;
    loop {
        let busy_wait_end = Instant::now() + Duration::from_millis(300);
        while Instant::now() < busy_wait_end {
            thread::yield_now();
        }
        let now = job.progress().bytes_done;
        if now == last {
            break;
        }
        last = now;
        assert!(
            Instant::now() < settle_end,
            "progress never stopped while paused"
        );
    }
    job.resume();
    let (_, summary) = finish(job);
    assert_eq!(summary.done, 1);
    assert_eq!(summary.bytes, 32 << 20);
}

#[test]
fn skip_one_file_the_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..4)
        .map(|i| {
            let p = dir.path().join(format!("f{i}.bin"));
            write_file(&p, 8 << 20);
            p
        })
        .collect();
    let mut s = spec(Operation::Hash { algo: Algo::Sha256 }, files);
    s.throttle = Some(40_000_000);
    s.workers = 1;
    let job = Job::start(s, None).unwrap();
    wait_for(&job, |e| matches!(e, Event::Started { id: 0 }));
    job.skip(0);
    job.skip(2); // queued: skipped before it starts
    let (events, summary) = finish(job);
    assert_eq!(summary.done, 2, "{events:?}");
    assert_eq!(summary.cancelled, 2);
    for id in [0, 2] {
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Cancelled { id: i, reason: Reason::Skip } if *i == id))
        );
    }
    for id in [1, 3] {
        assert!(
            events.iter().any(
                |e| matches!(e, Event::Done { id: i, outcome: Outcome::Digest(_) } if *i == id)
            )
        );
    }
    assert_eq!(summary.cancel_reason, None);
}

#[test]
fn deadline_cancels_the_job_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f.bin");
    write_file(&f, 16 << 20);
    let mut s = spec(Operation::Hash { algo: Algo::Sha256 }, vec![f]);
    s.throttle = Some(4_000_000);
    s.deadline = Some(Duration::from_millis(300));
    let (events, summary) = finish(Job::start(s, None).unwrap());
    assert_eq!(summary.cancel_reason, Some(Reason::Deadline));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Cancelled {
            reason: Reason::Deadline,
            ..
        }
    )));
}

#[test]
fn throttle_wait_is_woken_by_cancel() {
    // 1 KB/s: the first 256 KiB chunk alone would mean minutes of waiting.
    let (_dir, _, job) = throttled_hash(Algo::Sha256, 4 << 20, 1_000);
    job.cancel(Reason::User);
    let (_, summary) = finish(job);
    assert!(summary.stop_latency.unwrap() < Duration::from_secs(2));
    assert!(summary.elapsed < Duration::from_secs(15));
}

#[test]
fn join_with_a_limit_names_the_busy_workers() {
    let (_dir, f, job) = throttled_hash(Algo::Md5, 4 << 20, 1_000);
    let busy = job.join_timeout(Duration::from_millis(50)).unwrap_err();
    assert_eq!(busy.len(), 1);
    assert_eq!(busy[0].path, f);
    job.cancel(Reason::User);
    job.join_timeout(WAIT).unwrap();
    assert!(job.is_finished());
    job.detach();
}

/// Every id below `n` has exactly one final event among `events`.
fn assert_one_final_event_each(events: &[Event], n: usize) {
    let mut finals = vec![0u32; n];
    for e in events {
        if let Event::Done { id, .. }
        | Event::Failed { id, .. }
        | Event::Cancelled { id, .. }
        | Event::Skipped { id, .. } = e
        {
            finals[*id] += 1;
        }
    }
    assert!(
        finals.iter().all(|&c| c == 1),
        "some file had no or two final events"
    );
}

#[test]
fn many_files_each_get_exactly_one_final_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    for i in 0..600 {
        let p = dir.path().join(format!("{i:04}.txt"));
        std::fs::write(&p, format!("file {i}\n").repeat(i % 50)).unwrap();
        inputs.push(p);
    }
    inputs.push(dir.path().to_path_buf()); // the same files again, through the folder
    let job = Job::start(spec(Operation::Hash { algo: Algo::Xxh3 }, inputs), None).unwrap();
    let (events, summary) = finish(job);
    assert_one_final_event_each(&events, 1200);
    assert_eq!(summary.done, 1200);

    // And cancelled half-way, still exactly one each.
    let inputs: Vec<PathBuf> = (0..600)
        .map(|i| dir.path().join(format!("{i:04}.txt")))
        .collect();
    let mut s = spec(Operation::Hash { algo: Algo::Sha256 }, inputs);
    s.throttle = Some(200_000);
    let job = Job::start(s, None).unwrap();
    let mut seen = wait_for(&job, |e| matches!(e, Event::WalkDone { .. }));
    seen.extend(wait_for(&job, |e| matches!(e, Event::Done { .. })));
    job.cancel(Reason::User);
    let (events, summary) = finish(job);
    seen.extend(events);
    assert_one_final_event_each(&seen, 600);
    assert!(summary.cancelled > 0);
    assert_eq!(summary.done + summary.cancelled + summary.failed, 600);
}

/// More files than workers, cancelled at many early moments (while the walker may still be
/// queueing): every file announced as queued gets exactly one final event before `Finished`.
#[test]
fn early_cancels_leave_no_queued_file_without_a_final_event() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let inputs: Vec<PathBuf> = (0..3)
        .map(|i| {
            let p = dir.path().join(format!("{i}.bin"));
            write_file(&p, 2 << 20);
            p
        })
        .collect();
    for round in 0..60u64 {
        let mut s = spec(Operation::compress(1, Some(out.clone())), inputs.clone());
        s.throttle = Some(2_000_000);
        let job = Job::start(s, None).unwrap();
        if round % 3 == 0 {
            progressed(&job);
        } else {
            thread::sleep(Duration::from_micros(round * 37 % 2000));
        }
        job.cancel(Reason::User);
        let (events, _) = finish(job);
        let queued: Vec<usize> = events
            .iter()
            .filter_map(|e| match e {
                Event::Queued { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        for id in queued {
            let finals = events
                .iter()
                .filter(|e| {
                    matches!(e,
                        Event::Done { id: i, .. }
                        | Event::Failed { id: i, .. }
                        | Event::Cancelled { id: i, .. }
                        | Event::Skipped { id: i, .. } if *i == id)
                })
                .count();
            assert_eq!(finals, 1, "round {round}, file {id}: {events:?}");
        }
        assert!(
            entries(&out).is_empty(),
            "round {round}: {:?}",
            entries(&out)
        );
    }
}

/// The walker is one of the threads a close waits for: while it reads a manifest nobody
/// writes to, `busy` names it, and a cancel stops it at once (issue: the close dialog said
/// "0 workers" while it waited for the walker).
#[test]
fn a_busy_walker_is_listed_and_stops_on_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("m.sha256");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let op = Operation::Verify {
        algo: None,
        relative_to_manifest: false,
        nul_lines: false,
    };
    let job = Job::start(spec(op, vec![fifo.clone()]), None).unwrap();
    let end = Instant::now() + WAIT;
    loop {
        let busy = job.busy();
        if busy.iter().any(|b| b.listing && b.path == fifo) {
            break;
        }
        assert!(
            Instant::now() < end,
            "the walker never showed as busy: {busy:?}"
        );
        thread::yield_now();
    }
    let t = Instant::now();
    job.cancel(Reason::User);
    assert!(job.join_timeout(WAIT).is_ok(), "the walker did not stop");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(job.busy().is_empty());
}

/// A job that ended before its deadline is never marked cancelled by it afterwards.
#[test]
fn a_finished_job_is_not_cancelled_by_its_deadline_later() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    write_file(&f, 1000);
    let mut s = spec(Operation::Hash { algo: Algo::Sha256 }, vec![f]);
    s.deadline = Some(Duration::from_millis(150));
    let job = Job::start(s, None).unwrap();
    let token = job.token().clone();
    let (_, summary) = finish(job);
    assert_eq!(summary.cancel_reason, None);
    // Waiting out the old deadline on the token itself: no cancel may arrive.
    assert!(token.wait_timeout(Duration::from_millis(400)).is_ok());
    assert!(!token.is_cancelled());
}

/// A walk of more files than the workers take waits for them, so a million small files are
/// not all held at once: with the workers paused the walker stops about [`TASKS_AHEAD`]
/// files ahead. Resumed, every file is done once; cancelled while the walker waits, every
/// announced file still gets exactly one final event and `Finished` comes last.
#[test]
fn a_walk_far_ahead_of_the_workers_waits_and_every_file_ends_once() {
    use ripcord::engine::TASKS_AHEAD;
    use std::collections::HashMap;
    let dir = tempfile::tempdir().unwrap();
    let n = TASKS_AHEAD + 4_000;
    for d in 0..4 {
        let sub = dir.path().join(format!("d{d}"));
        std::fs::create_dir(&sub).unwrap();
        for i in 0..n / 4 {
            std::fs::write(sub.join(format!("f{i}")), b"x").unwrap();
        }
    }
    for cancel in [false, true] {
        let job = Job::start(
            spec(
                Operation::Hash { algo: Algo::Blake3 },
                vec![dir.path().to_path_buf()],
            ),
            None,
        )
        .unwrap();
        job.pause();
        let mut ends: HashMap<usize, usize> = HashMap::new();
        let mut queued = 0usize;
        let mut done = 0usize;
        let mut take = |ev: &Event, queued: &mut usize, done: &mut usize| match ev {
            Event::Queued { id, .. } => {
                *queued += 1;
                ends.entry(*id).or_default();
            }
            Event::Done { id, .. } | Event::Cancelled { id, .. } | Event::Failed { id, .. } => {
                *done += 1;
                *ends.entry(*id).or_default() += 1;
            }
            _ => {}
        };
        // The walker reaches the bound (it must: the workers took at most a few) …
        let end = Instant::now() + WAIT;
        while queued < TASKS_AHEAD {
            assert!(Instant::now() < end, "the walk stalled at {queued} files");
            if let Ok(ev) = job.events().recv_timeout(Duration::from_millis(50)) {
                take(&ev, &mut queued, &mut done);
            }
        }
        // … and stays there while the workers are paused.
        let settle = Instant::now() + Duration::from_millis(500);
        while let Ok(ev) = job
            .events()
            .recv_timeout(settle.saturating_duration_since(Instant::now()))
        {
            take(&ev, &mut queued, &mut done);
        }
        assert!(
            queued <= TASKS_AHEAD + done + 4,
            "the walk ran ahead: {queued} files announced, {done} ended"
        );
        if cancel {
            job.cancel(Reason::User);
        } else {
            job.resume();
        }
        let (events, summary) = finish(job);
        for ev in &events {
            take(ev, &mut queued, &mut done);
        }
        assert!(
            ends.values().all(|&e| e == 1),
            "a file without exactly one end"
        );
        if cancel {
            assert!(queued < n, "the walk went on after the cancel");
            assert_eq!(summary.cancel_reason, Some(Reason::User));
        } else {
            assert_eq!(queued, n);
            assert_eq!(summary.done, n);
        }
    }
}
