//! The command line's contracts, proved against the reference tools on real files:
//! checksum lines byte-identical to coreutils and b3sum, manifests that both sides accept,
//! zstd files the zstd CLI reads (and the reverse), copies that keep times and permissions,
//! bad inputs that fail alone, and the exit statuses.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::*;
use serde_json::Value;

/// Names that break naive tools: spaces, a backslash, a newline, a carriage return, bytes
/// that are not UTF-8, and an empty file. Sizes cross the hash chunk sizes.
fn awkward_files(dir: &Path) -> Vec<OsString> {
    let files: [(&[u8], usize); 7] = [
        (b"plain.txt", 300_000),
        (b"with space.txt", 1),
        (b"back\\slash.txt", 1_100_000),
        (b"new\nline.txt", 4096),
        (b"carriage\rreturn.txt", 77),
        (b"non-utf8-\xff\xfe.bin", 65_537),
        (b"empty", 0),
    ];
    files
        .iter()
        .enumerate()
        .map(|(i, (name, len))| {
            let name = os(name);
            write_file(&dir.join(&name), &bytes(*len, i as u64 + 1));
            name
        })
        .collect()
}

fn args_then(first: &[&str], rest: &[OsString]) -> Vec<OsString> {
    let mut v: Vec<OsString> = first.iter().map(OsString::from).collect();
    v.extend(rest.iter().cloned());
    v
}

// ---------------------------------------------------------------------------------------
// hash
// ---------------------------------------------------------------------------------------

/// Ripcord's algorithms that coreutils has a tool for, with that tool.
const COREUTILS_SUMS: [(&str, &str); 4] = [
    ("sha256", "sha256sum"),
    ("md5", "md5sum"),
    ("sha1", "sha1sum"),
    ("sha512", "sha512sum"),
];

#[test]
fn hash_lines_are_byte_identical_to_coreutils_and_b3sum_even_for_awkward_names() {
    let tmp = tempdir();
    let dir = tmp.path();
    let names = awkward_files(dir);
    for (algo, reference) in COREUTILS_SUMS.into_iter().chain([("blake3", "b3sum")]) {
        let mut names = names.clone();
        if reference == "b3sum" && !b3sum_escapes_cr() {
            names.retain(|n| !n.as_encoded_bytes().contains(&b'\r'));
        }
        let ours = ripcord(dir, args_then(&["hash", "-a", algo], &names));
        ours.expect_code(0);
        let theirs = tool(dir, reference, &names);
        theirs.expect_code(0);
        assert_same_bytes(
            &ours.stdout,
            &theirs.stdout,
            &format!("hash -a {algo} vs {reference}"),
        );
        assert_eq!(ours.stderr, "", "nothing on stderr for -a {algo}");
    }
    // sha256 is the default.
    let default = ripcord(dir, args_then(&["hash"], &names));
    let reference = tool(dir, "sha256sum", &names);
    assert_same_bytes(
        &default.stdout,
        &reference.stdout,
        "hash (default algorithm)",
    );
}

#[test]
fn hash_tag_lines_are_byte_identical_to_coreutils_tag() {
    let tmp = tempdir();
    let dir = tmp.path();
    let names = awkward_files(dir);
    for (algo, reference) in COREUTILS_SUMS {
        let ours = ripcord(dir, args_then(&["hash", "--tag", "-a", algo], &names));
        ours.expect_code(0);
        let theirs = tool(dir, reference, args_then(&["--tag"], &names));
        theirs.expect_code(0);
        assert_same_bytes(
            &ours.stdout,
            &theirs.stdout,
            &format!("hash --tag -a {algo}"),
        );
    }
}

/// A big file first (so the second worker finishes many small ones before it), then 200 small
/// files given in reverse name order, then a folder: lines come out in input order.
fn order_fixture(dir: &Path) -> (Vec<OsString>, Vec<OsString>) {
    file(&dir.join("big.bin"), 8 << 20, 99);
    let mut args = vec![OsString::from("big.bin")];
    let mut expanded = args.clone();
    for i in (0..200).rev() {
        let name = format!("f{i:03}.txt");
        write_file(&dir.join(&name), &bytes(100 + i * 7, i as u64));
        args.push(name.clone().into());
        expanded.push(name.into());
    }
    args.push("tree".into());
    for i in 0..20 {
        let name = format!("tree/a{i:02}");
        write_file(&dir.join(&name), &bytes(1000 + i, 500 + i as u64));
        expanded.push(name.into());
    }
    // Sorts after every file of the folder, so any depth-first name order lists it last.
    for i in 0..5 {
        let name = format!("tree/zz_sub/b{i}");
        write_file(&dir.join(&name), &bytes(10 + i, 700 + i as u64));
        expanded.push(name.into());
    }
    (args, expanded)
}

#[test]
fn hash_lines_follow_input_order_with_two_workers_and_many_files() {
    let tmp = tempdir();
    let dir = tmp.path();
    let (args, expanded) = order_fixture(dir);
    let ours = ripcord(dir, args_then(&["hash", "-j", "2"], &args));
    ours.expect_code(0);
    let theirs = tool(dir, "sha256sum", &expanded);
    theirs.expect_code(0);
    assert_same_bytes(&ours.stdout, &theirs.stdout, "hash -j 2 over 226 files");
}

#[test]
fn hash_manifest_file_lines_follow_input_order_like_stdout() {
    let tmp = tempdir();
    let dir = tmp.path();
    let (args, _) = order_fixture(dir);
    let stdout = ripcord(dir, args_then(&["hash", "-j", "2"], &args));
    stdout.expect_code(0);
    ripcord(
        dir,
        args_then(&["hash", "-j", "2", "-o", "m.sha256"], &args),
    )
    .expect_code(0);
    let manifest = fs::read(dir.join("m.sha256")).unwrap();
    assert_same_bytes(
        &manifest,
        &stdout.stdout,
        "hash -o m.sha256 vs hash to stdout",
    );
}

// ---------------------------------------------------------------------------------------
// manifests: written by one side, checked by the other
// ---------------------------------------------------------------------------------------

#[test]
fn ripcord_manifest_passes_sha256sum_check() {
    let tmp = tempdir();
    let dir = tmp.path();
    let mut names = awkward_files(dir);
    write_file(&dir.join("tree/one"), b"one\n");
    write_file(&dir.join("tree/sub/two"), b"two\n");
    names.push("tree".into());
    let r = ripcord(dir, args_then(&["hash", "-o", "m.sha256"], &names));
    r.expect_code(0);
    assert_eq!(r.out(), "", "with -o nothing goes to stdout");
    let check = tool(dir, "sha256sum", ["-c", "--strict", "m.sha256"]);
    check.expect_code(0);
    let ok_lines = check.out().matches(": OK\n").count();
    assert_eq!(ok_lines, 9, "every file checked OK:\n{}", check.out());
}

#[test]
fn ripcord_blake3_manifest_passes_b3sum_check() {
    let tmp = tempdir();
    let dir = tmp.path();
    // b3sum writes non-UTF-8 names lossily, so it could not open them again; leave them out.
    // An old b3sum (before 1.5) cannot read back the escaped carriage return either.
    let cr_ok = b3sum_escapes_cr();
    let names: Vec<OsString> = awkward_files(dir)
        .into_iter()
        .filter(|n| n.to_str().is_some())
        .filter(|n| cr_ok || !n.as_encoded_bytes().contains(&b'\r'))
        .collect();
    ripcord(
        dir,
        args_then(&["hash", "-a", "blake3", "-o", "m.b3"], &names),
    )
    .expect_code(0);
    let check = tool(dir, "b3sum", ["-c", "m.b3"]);
    check.expect_code(0);
    assert_eq!(
        check.out().matches(": OK\n").count(),
        names.len(),
        "{}",
        check.out()
    );
}

#[test]
fn verify_of_sha256sum_manifest_prints_what_sha256sum_check_prints() {
    let tmp = tempdir();
    let dir = tmp.path();
    let (_, mut expanded) = order_fixture(dir);
    expanded.extend(awkward_files(dir));
    let manifest = tool(dir, "sha256sum", &expanded);
    manifest.expect_code(0);
    write_file(&dir.join("m.sha256"), &manifest.stdout);

    let ours = ripcord(dir, ["verify", "-j", "2", "m.sha256"]);
    let theirs = tool(dir, "sha256sum", ["-c", "m.sha256"]);
    ours.expect_code(0);
    theirs.expect_code(0);
    assert_same_bytes(&ours.stdout, &theirs.stdout, "verify vs sha256sum -c");
    assert_eq!(ours.stderr, as_ripcord_stderr(&theirs.stderr, "sha256sum"));
}

/// a.txt, b.txt, c.txt and their sha256sum manifest `m.sha256`.
fn three_files_and_manifest(dir: &Path) {
    for (i, n) in ["a.txt", "b.txt", "c.txt"].iter().enumerate() {
        write_file(&dir.join(n), &bytes(10_000 * (i + 1), i as u64));
    }
    let m = tool(dir, "sha256sum", ["a.txt", "b.txt", "c.txt"]);
    m.expect_code(0);
    write_file(&dir.join("m.sha256"), &m.stdout);
}

/// Runs `ripcord verify ARGS` and `sha256sum -c ARGS`: same stdout, same stderr (but for
/// the program name), same exit status. Returns ripcord's run.
fn verify_like_sha256sum(dir: &Path, args: &[&str]) -> Run {
    let ours = ripcord(dir, args_then(&["verify"], &to_os(args)));
    let theirs = tool(dir, "sha256sum", args_then(&["-c"], &to_os(args)));
    assert_same_bytes(&ours.stdout, &theirs.stdout, &format!("verify {args:?}"));
    assert_eq!(
        ours.stderr,
        as_ripcord_stderr(&theirs.stderr, "sha256sum"),
        "stderr of verify {args:?}"
    );
    assert_eq!(
        ours.status.code(),
        theirs.status.code(),
        "exit of verify {args:?}"
    );
    ours
}

fn to_os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

#[test]
fn verify_reports_a_tampered_file_as_failed_with_exit_1() {
    let tmp = tempdir();
    let dir = tmp.path();
    three_files_and_manifest(dir);
    let mut b = fs::read(dir.join("b.txt")).unwrap();
    b[5000] ^= 1;
    fs::write(dir.join("b.txt"), b).unwrap();
    let r = verify_like_sha256sum(dir, &["m.sha256"]);
    r.expect_code(1);
    assert_eq!(r.out(), "a.txt: OK\nb.txt: FAILED\nc.txt: OK\n");
    assert!(
        r.stderr.contains("1 computed checksum did NOT match"),
        "{}",
        r.stderr
    );
    let quiet = verify_like_sha256sum(dir, &["--quiet", "m.sha256"]);
    quiet.expect_code(1);
    assert_eq!(
        quiet.out(),
        "b.txt: FAILED\n",
        "--quiet prints only failures"
    );
}

#[test]
fn verify_reports_a_missing_file_as_failed_open_or_read() {
    let tmp = tempdir();
    let dir = tmp.path();
    three_files_and_manifest(dir);
    fs::remove_file(dir.join("b.txt")).unwrap();

    let r = verify_like_sha256sum(dir, &["m.sha256"]);
    r.expect_code(1);
    assert_eq!(
        r.out(),
        "a.txt: OK\nb.txt: FAILED open or read\nc.txt: OK\n"
    );
    assert!(
        r.stderr.contains("b.txt: No such file or directory"),
        "{}",
        r.stderr
    );
}

#[test]
fn verify_ignore_missing_says_nothing_of_a_missing_file_and_exits_0() {
    let tmp = tempdir();
    let dir = tmp.path();
    three_files_and_manifest(dir);
    fs::remove_file(dir.join("b.txt")).unwrap();

    let r = verify_like_sha256sum(dir, &["--ignore-missing", "m.sha256"]);
    r.expect_code(0);
    assert_eq!(r.out(), "a.txt: OK\nc.txt: OK\n");
    assert_eq!(r.stderr, "");
}

#[test]
fn verify_strict_fails_on_an_improperly_formatted_line() {
    let tmp = tempdir();
    let dir = tmp.path();
    three_files_and_manifest(dir);
    let mut m = fs::read(dir.join("m.sha256")).unwrap();
    m.extend_from_slice(b"this is not a checksum line\n");
    fs::write(dir.join("m.sha256"), m).unwrap();

    let lax = verify_like_sha256sum(dir, &["m.sha256"]);
    lax.expect_code(0);
    assert!(
        lax.stderr.contains("1 line is improperly formatted"),
        "{}",
        lax.stderr
    );
    let strict = verify_like_sha256sum(dir, &["--strict", "m.sha256"]);
    strict.expect_code(1);
    assert_eq!(strict.out(), "a.txt: OK\nb.txt: OK\nc.txt: OK\n");
}

#[test]
fn verify_accepts_a_b3sum_manifest() {
    let tmp = tempdir();
    let dir = tmp.path();
    three_files_and_manifest(dir);
    let m = tool(dir, "b3sum", ["a.txt", "b.txt", "c.txt"]);
    m.expect_code(0);
    write_file(&dir.join("x.b3"), &m.stdout);

    let ours = ripcord(dir, ["verify", "x.b3"]);
    let theirs = tool(dir, "b3sum", ["-c", "x.b3"]);
    ours.expect_code(0);
    theirs.expect_code(0);
    assert_same_bytes(&ours.stdout, &theirs.stdout, "verify x.b3 vs b3sum -c");

    fs::write(dir.join("c.txt"), b"changed").unwrap();
    let ours = ripcord(dir, ["verify", "x.b3"]);
    let theirs = tool(dir, "b3sum", ["-c", "x.b3"]);
    ours.expect_code(1);
    theirs.expect_code(1);
    assert_same_bytes(
        &ours.stdout,
        &theirs.stdout,
        "verify x.b3 (tampered) vs b3sum -c",
    );
    assert!(ours.out().contains("c.txt: FAILED\n"));
}

#[test]
fn verify_accepts_bsd_tag_manifests() {
    let tmp = tempdir();
    let dir = tmp.path();
    let names = awkward_files(dir);
    for (reference, manifest) in [("sha256sum", "tagged.txt"), ("md5sum", "tagged-list")] {
        let m = tool(dir, reference, args_then(&["--tag"], &names));
        m.expect_code(0);
        write_file(&dir.join(manifest), &m.stdout);
        let ours = ripcord(dir, ["verify", manifest]);
        let theirs = tool(dir, reference, ["-c", manifest]);
        ours.expect_code(0);
        theirs.expect_code(0);
        assert_same_bytes(
            &ours.stdout,
            &theirs.stdout,
            &format!("verify of {reference} --tag"),
        );
    }
}

// ---------------------------------------------------------------------------------------
// outputs are never overwritten without --force
// ---------------------------------------------------------------------------------------

#[test]
fn hash_output_refuses_an_existing_file_without_force_and_replaces_it_with_force() {
    let tmp = tempdir();
    let dir = tmp.path();
    three_files_and_manifest(dir);
    fs::write(dir.join("m.sha256"), b"precious\n").unwrap();

    let r = ripcord(dir, ["hash", "-o", "m.sha256", "a.txt", "b.txt"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("m.sha256"),
        "names the file: {}",
        r.stderr
    );
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(
        fs::read(dir.join("m.sha256")).unwrap(),
        b"precious\n",
        "untouched"
    );
    assert_eq!(temporaries(dir), Vec::<PathBuf>::new());

    ripcord(dir, ["hash", "--force", "-o", "m.sha256", "a.txt", "b.txt"]).expect_code(0);
    let reference = tool(dir, "sha256sum", ["a.txt", "b.txt"]);
    assert_same_bytes(
        &fs::read(dir.join("m.sha256")).unwrap(),
        &reference.stdout,
        "--force",
    );
}

// ---------------------------------------------------------------------------------------
// zstd
// ---------------------------------------------------------------------------------------

#[test]
fn compressed_files_are_read_by_the_zstd_cli() {
    let tmp = tempdir();
    let dir = tmp.path();
    file(&dir.join("random.bin"), 3 << 20, 1);
    write_file(&dir.join("text.txt"), &text_bytes(1 << 20, 2));
    write_file(&dir.join("empty"), b"");
    write_file(&dir.join("with space.txt"), b"spaced out\n");
    let inputs = ["random.bin", "text.txt", "empty", "with space.txt"];
    let r = ripcord(dir, args_then(&["compress"], &to_os(&inputs)));
    r.expect_code(0);
    for name in inputs {
        let zst = format!("{name}.zst");
        tool(dir, "zstd", ["-t", "-q", &zst]).expect_code(0);
        let back = tool(dir, "zstd", ["-d", "-c", "-q", &zst]);
        back.expect_code(0);
        assert!(
            back.stdout == fs::read(dir.join(name)).unwrap(),
            "{name} round trip"
        );
    }
}

#[test]
fn zstd_cli_files_are_decompressed_by_ripcord_beside_or_into_out_dir() {
    let tmp = tempdir();
    let dir = tmp.path();
    file(&dir.join("orig/random.bin"), 3 << 20, 3);
    write_file(&dir.join("orig/text.txt"), &text_bytes(500_000, 4));
    write_file(&dir.join("orig/empty"), b"");
    fs::create_dir(dir.join("packed")).unwrap();
    for name in ["random.bin", "text.txt", "empty"] {
        let (src, dst) = (format!("orig/{name}"), format!("packed/{name}.zst"));
        tool(dir, "zstd", ["-q", "-19", &src, "-o", &dst]).expect_code(0);
    }
    // Two frames one after the other are one valid zstd file.
    let mut both = fs::read(dir.join("packed/text.txt.zst")).unwrap();
    both.extend(fs::read(dir.join("packed/random.bin.zst")).unwrap());
    fs::write(dir.join("packed/both.zst"), both).unwrap();

    ripcord(dir, ["decompress", "--out-dir", "out", "packed"]).expect_code(0);
    for name in ["random.bin", "text.txt", "empty"] {
        let want = fs::read(dir.join("orig").join(name)).unwrap();
        assert!(
            fs::read(dir.join("out/packed").join(name)).unwrap() == want,
            "{name} via --out-dir"
        );
    }
    let mut want = fs::read(dir.join("orig/text.txt")).unwrap();
    want.extend(fs::read(dir.join("orig/random.bin")).unwrap());
    assert!(
        fs::read(dir.join("out/packed/both")).unwrap() == want,
        "two frames"
    );

    ripcord(dir, ["decompress", "packed/random.bin.zst"]).expect_code(0);
    assert!(
        fs::read(dir.join("packed/random.bin")).unwrap()
            == fs::read(dir.join("orig/random.bin")).unwrap(),
        "beside the source"
    );
    assert!(
        dir.join("packed/random.bin.zst").exists(),
        "the source is kept"
    );
}

#[test]
fn compress_level_and_out_dir_are_honoured() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("docs/text.txt"), &text_bytes(2 << 20, 5));
    write_file(&dir.join("docs/sub/more.txt"), &text_bytes(100_000, 6));

    ripcord(
        dir,
        ["compress", "--level", "1", "--out-dir", "fast", "docs"],
    )
    .expect_code(0);
    ripcord(dir, ["compress", "-l", "19", "--out-dir", "small", "docs"]).expect_code(0);
    for out in ["fast", "small"] {
        assert_eq!(
            tree(&dir.join(out)),
            [
                "docs",
                "docs/sub",
                "docs/sub/more.txt.zst",
                "docs/text.txt.zst"
            ]
            .iter()
            .map(PathBuf::from)
            .collect::<Vec<_>>(),
            "--out-dir {out} mirrors the input folder"
        );
        for name in ["text.txt", "sub/more.txt"] {
            let zst = format!("{out}/docs/{name}.zst");
            let back = tool(dir, "zstd", ["-d", "-c", "-q", &zst]);
            back.expect_code(0);
            assert!(
                back.stdout == fs::read(dir.join("docs").join(name)).unwrap(),
                "{zst}"
            );
        }
    }
    let fast = fs::metadata(dir.join("fast/docs/text.txt.zst"))
        .unwrap()
        .len();
    let small = fs::metadata(dir.join("small/docs/text.txt.zst"))
        .unwrap()
        .len();
    assert!(
        small < fast,
        "level 19 ({small} B) should beat level 1 ({fast} B)"
    );
    assert_eq!(
        tree(&dir.join("docs")).len(),
        3,
        "nothing written beside the sources"
    );
}

#[test]
fn decompressing_a_file_that_is_not_zstd_fails_alone_and_leaves_no_output() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("fake.zst"), b"this is plain text, not zstd\n");
    write_file(&dir.join("good"), b"good data\n");
    tool(dir, "zstd", ["-q", "--rm", "good"]).expect_code(0);

    let r = ripcord(dir, ["decompress", "fake.zst", "good.zst"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("fake.zst"),
        "names the file: {}",
        r.stderr
    );
    assert!(r.stderr.contains("not in zstd format"), "{}", r.stderr);
    assert_only(dir, &["fake.zst", "good", "good.zst"]);
    assert_eq!(fs::read(dir.join("good")).unwrap(), b"good data\n");
}

#[test]
fn decompressing_a_truncated_file_fails_alone_and_leaves_no_output() {
    let tmp = tempdir();
    let dir = tmp.path();
    file(&dir.join("data"), 1 << 20, 7);
    write_file(&dir.join("other"), b"other\n");
    tool(dir, "zstd", ["-q", "--rm", "data", "other"]).expect_code(0);
    let whole = fs::read(dir.join("data.zst")).unwrap();
    for cut in [whole.len() / 2, whole.len() - 1] {
        fs::write(dir.join("data.zst"), &whole[..cut]).unwrap();
        let r = ripcord(dir, ["decompress", "data.zst", "other.zst"]);
        r.expect_code(1);
        assert!(
            r.stderr.contains("data.zst"),
            "names the file: {}",
            r.stderr
        );
        assert!(r.stderr.contains("truncated"), "{}", r.stderr);
        assert_only(dir, &["data.zst", "other", "other.zst"]);
        fs::remove_file(dir.join("other")).unwrap();
    }
}

#[test]
fn existing_outputs_are_refused_without_force_and_left_untouched() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("data.bin"), &bytes(200_000, 8));
    write_file(&dir.join("data.bin.zst"), b"precious\n");
    write_file(&dir.join("other.bin"), b"other\n");

    let r = ripcord(dir, ["compress", "data.bin", "other.bin"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("data.bin.zst"),
        "names the file: {}",
        r.stderr
    );
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(fs::read(dir.join("data.bin.zst")).unwrap(), b"precious\n");
    assert!(dir.join("other.bin.zst").exists(), "the other file is done");

    ripcord(dir, ["compress", "--force", "data.bin"]).expect_code(0);
    let back = tool(dir, "zstd", ["-d", "-c", "-q", "data.bin.zst"]);
    assert!(
        back.stdout == fs::read(dir.join("data.bin")).unwrap(),
        "--force replaced it"
    );

    // Decompress the other way round onto an existing file.
    fs::write(dir.join("other.bin"), b"precious too\n").unwrap();
    let r = ripcord(dir, ["decompress", "other.bin.zst"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("other.bin") && r.stderr.contains("already exists"),
        "{}",
        r.stderr
    );
    assert_eq!(fs::read(dir.join("other.bin")).unwrap(), b"precious too\n");
    ripcord(dir, ["decompress", "-f", "other.bin.zst"]).expect_code(0);
    assert_eq!(fs::read(dir.join("other.bin")).unwrap(), b"other\n");
    assert_eq!(temporaries(dir), Vec::<PathBuf>::new());
}

// ---------------------------------------------------------------------------------------
// copy
// ---------------------------------------------------------------------------------------

fn set_mtime(path: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn copy_fixture(dir: &Path) -> Vec<(&'static str, u32, SystemTime)> {
    let files = vec![
        (
            "tree/a.txt",
            0o640,
            UNIX_EPOCH + Duration::new(981_173_106, 0),
        ),
        (
            "tree/sub/run.sh",
            0o755,
            UNIX_EPOCH + Duration::new(1_262_304_000, 123_456_789),
        ),
        (
            "tree/sub/deep/big.bin",
            0o600,
            UNIX_EPOCH + Duration::new(1_500_000_000, 5),
        ),
        (
            "tree/sub/deep/empty",
            0o644,
            UNIX_EPOCH + Duration::new(1_600_000_000, 0),
        ),
        (
            "single.txt",
            0o444,
            UNIX_EPOCH + Duration::new(1_000_000_000, 999_999_999),
        ),
    ];
    for (i, (name, mode, mtime)) in files.iter().enumerate() {
        let p = dir.join(name);
        let len = if name.ends_with("big.bin") {
            9 << 20
        } else if name.ends_with("empty") {
            0
        } else {
            5000 + i
        };
        file(&p, len, 40 + i as u64);
        set_mtime(&p, *mtime);
        chmod(&p, *mode);
    }
    files
}

fn assert_copied(dir: &Path, files: &[(&str, u32, SystemTime)], to: &str) {
    for (name, mode, mtime) in files {
        let (src, dst) = (dir.join(name), dir.join(to).join(name));
        assert!(
            fs::read(&src).unwrap() == fs::read(&dst).unwrap(),
            "{name}: contents"
        );
        let meta = fs::metadata(&dst).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o7777,
            *mode,
            "{name}: permission bits"
        );
        assert_eq!(
            meta.modified().unwrap(),
            *mtime,
            "{name}: modification time"
        );
    }
}

#[test]
fn copy_keeps_contents_modification_times_and_permissions() {
    let tmp = tempdir();
    let dir = tmp.path();
    let files = copy_fixture(dir);
    ripcord(dir, ["copy", "--to", "dest", "tree", "single.txt"]).expect_code(0);
    assert_copied(dir, &files, "dest");
    assert_eq!(
        tree(&dir.join("dest")).len(),
        tree(&dir.join("tree")).len() + 2
    );
    assert_eq!(temporaries(dir), Vec::<PathBuf>::new());
}

#[test]
fn copy_verify_copies_and_checks_every_file() {
    let tmp = tempdir();
    let dir = tmp.path();
    let files = copy_fixture(dir);
    let r = ripcord(
        dir,
        ["copy", "--verify", "--to", "dest", "tree", "single.txt"],
    );
    r.expect_code(0);
    assert_copied(dir, &files, "dest");
    let json = ripcord(
        dir,
        ["copy", "--verify", "--json", "--to", "dest2", "single.txt"],
    );
    json.expect_code(0);
    assert!(json.out().contains("\"verified\":true"), "{}", json.out());
}

#[test]
fn copy_refuses_an_existing_destination_without_force() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("a.txt"), b"new a\n");
    write_file(&dir.join("b.txt"), b"new b\n");
    write_file(&dir.join("dest/a.txt"), b"precious\n");

    let r = ripcord(dir, ["copy", "--to", "dest", "a.txt", "b.txt"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("dest/a.txt"),
        "names the file: {}",
        r.stderr
    );
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(fs::read(dir.join("dest/a.txt")).unwrap(), b"precious\n");
    assert_eq!(
        fs::read(dir.join("dest/b.txt")).unwrap(),
        b"new b\n",
        "the rest is copied"
    );

    ripcord(dir, ["copy", "--force", "--to", "dest", "a.txt"]).expect_code(0);
    assert_eq!(fs::read(dir.join("dest/a.txt")).unwrap(), b"new a\n");
    assert_only(&dir.join("dest"), &["a.txt", "b.txt"]);
}

// ---------------------------------------------------------------------------------------
// bad inputs fail alone
// ---------------------------------------------------------------------------------------

#[test]
fn a_missing_input_is_named_and_the_rest_completes() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("a.txt"), b"a\n");
    write_file(&dir.join("b.txt"), b"b\n");

    let r = ripcord(dir, ["hash", "a.txt", "missing.txt", "b.txt"]);
    r.expect_code(1);
    assert_same_bytes(
        &r.stdout,
        &tool(dir, "sha256sum", ["a.txt", "b.txt"]).stdout,
        "other lines",
    );
    assert!(
        r.stderr.contains("missing.txt") && r.stderr.contains("No such file or directory"),
        "{}",
        r.stderr
    );

    let r = ripcord(dir, ["compress", "a.txt", "missing.txt", "b.txt"]);
    r.expect_code(1);
    assert!(r.stderr.contains("missing.txt"), "{}", r.stderr);
    assert_only(dir, &["a.txt", "a.txt.zst", "b.txt", "b.txt.zst"]);
}

/// Every line `sha256sum` printed for the readable files is in `r`'s stdout. Where `blocked`
/// (not root), the run also exits 1, names `name` with "Permission denied" on stderr, and
/// prints nothing else on stdout; as root, chmod 000 does not stop `what`, so that part is
/// not checked.
fn assert_rest_hashed_and_blocked_named(
    r: &Run,
    reference: &str,
    blocked: bool,
    name: &str,
    what: &str,
) {
    let stdout = String::from_utf8(r.stdout.clone()).unwrap();
    for line in reference.lines() {
        assert!(stdout.contains(line), "missing line {line:?} in:\n{stdout}");
    }
    if blocked {
        r.expect_code(1);
        assert!(
            r.stderr.contains(name) && r.stderr.contains("Permission denied"),
            "{}",
            r.stderr
        );
        assert_eq!(stdout, reference);
    } else {
        eprintln!("running as root: chmod 000 does not stop {what}, error not checked");
    }
}

#[test]
fn an_unreadable_file_is_named_and_the_rest_completes() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("a.txt"), b"a\n");
    write_file(&dir.join("secret.txt"), b"secret\n");
    write_file(&dir.join("b.txt"), b"b\n");
    chmod(&dir.join("secret.txt"), 0o000);
    let blocked = !can_open(&dir.join("secret.txt"));

    let r = ripcord(dir, ["hash", "a.txt", "secret.txt", "b.txt"]);
    let reference = tool(dir, "sha256sum", ["a.txt", "b.txt"]).out();
    assert_rest_hashed_and_blocked_named(&r, &reference, blocked, "secret.txt", "reading");
    chmod(&dir.join("secret.txt"), 0o644);
}

#[test]
fn an_unreadable_folder_is_named_and_the_rest_completes() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("a.txt"), b"a\n");
    write_file(&dir.join("data/ok.txt"), b"ok\n");
    write_file(&dir.join("data/locked/hidden.txt"), b"hidden\n");
    write_file(&dir.join("data/z.txt"), b"z\n");
    chmod(&dir.join("data/locked"), 0o000);
    let blocked = !can_list(&dir.join("data/locked"));

    let r = ripcord(dir, ["hash", "a.txt", "data"]);
    let reference = tool(dir, "sha256sum", ["a.txt", "data/ok.txt", "data/z.txt"]).out();
    assert_rest_hashed_and_blocked_named(&r, &reference, blocked, "data/locked", "listing");
    chmod(&dir.join("data/locked"), 0o755);
}

#[test]
fn a_fifo_inside_a_folder_is_skipped_with_a_note() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("data/a.txt"), b"a\n");
    mkfifo(&dir.join("data/pipe"));
    write_file(&dir.join("data/z.txt"), b"z\n");
    // A symbolic link is not followed unless asked, and says so too.
    std::os::unix::fs::symlink("a.txt", dir.join("data/link")).unwrap();

    // Opening the fifo would block for ever; the run limit turns that into a failure.
    let r = ripcord(dir, ["hash", "data"]);
    r.expect_code(0);
    assert_same_bytes(
        &r.stdout,
        &tool(dir, "sha256sum", ["data/a.txt", "data/z.txt"]).stdout,
        "hash",
    );
    assert!(
        r.stderr.contains("data/pipe") && r.stderr.contains("fifo"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("skipped"), "{}", r.stderr);
    assert!(
        r.stderr.contains("data/link: symbolic link not followed"),
        "{}",
        r.stderr
    );

    let r = ripcord(dir, ["copy", "--to", "dest", "data"]);
    r.expect_code(0);
    assert!(r.stderr.contains("data/pipe"), "{}", r.stderr);
    assert_only(&dir.join("dest/data"), &["a.txt", "z.txt"]);
}

#[test]
fn an_output_folder_that_cannot_be_written_is_named_and_the_rest_completes() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("a.txt"), b"a\n");
    write_file(&dir.join("docs/b.txt"), b"b\n");
    // `out/docs` is a regular file, so no output can go under it, even for root.
    write_file(&dir.join("out/docs"), b"in the way\n");

    let r = ripcord(dir, ["compress", "--out-dir", "out", "a.txt", "docs"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("out/docs"),
        "names the folder: {}",
        r.stderr
    );
    assert_only(&dir.join("out"), &["a.txt.zst", "docs"]);
    assert_eq!(fs::read(dir.join("out/docs")).unwrap(), b"in the way\n");

    // A manifest whose folder is a file.
    let r = ripcord(dir, ["hash", "-o", "a.txt/m.sha256", "a.txt"]);
    r.expect_code(1);
    assert!(r.stderr.contains("a.txt"), "{}", r.stderr);

    // A read-only folder (not for root, who may write anyway).
    write_file(&dir.join("ro/c.txt"), b"c\n");
    chmod(&dir.join("ro"), 0o555);
    if can_create_in(&dir.join("ro")) {
        eprintln!("running as root: chmod 555 does not stop writing, read-only case not checked");
    } else {
        let r = ripcord(dir, ["compress", "ro/c.txt", "a.txt"]);
        r.expect_code(1);
        assert!(r.stderr.contains("ro"), "{}", r.stderr);
        assert_only(&dir.join("ro"), &["c.txt"]);
        assert!(dir.join("a.txt.zst").exists(), "the rest completes");
    }
    chmod(&dir.join("ro"), 0o755);
}

// ---------------------------------------------------------------------------------------
// deadline, usage, JSON
// ---------------------------------------------------------------------------------------

#[test]
fn deadline_exits_124_and_leaves_no_output_or_temporary() {
    let tmp = tempdir();
    let dir = tmp.path();
    file(&dir.join("big"), 4 << 20, 11);
    fs::create_dir(dir.join("packed")).unwrap();
    tool(dir, "zstd", ["-q", "-1", "big", "-o", "packed/big.zst"]).expect_code(0);
    let slow = ["--deadline", "300ms", "--throttle", "1MB/s"];
    for env in [&[][..], &[("RIPCORD_NO_TMPFILE", "1")][..]] {
        for (cmd, expect_dir, expect) in [
            (
                &["hash", "-o", "m.sha256", "big"][..],
                ".",
                &["big", "packed"][..],
            ),
            (&["compress", "big"][..], ".", &["big", "packed"][..]),
            (
                &["decompress", "packed/big.zst"][..],
                "packed",
                &["big.zst"][..],
            ),
            (&["copy", "--to", "dest", "big"][..], "dest", &[][..]),
        ] {
            let mut args = cmd.to_vec();
            args.extend(slow);
            let r = ripcord_env(dir, &args, env);
            assert_eq!(r.status.code(), Some(124), "{args:?} {env:?}: {}", r.stderr);
            assert!(r.stderr.contains("time limit"), "{}", r.stderr);
            assert_only(&dir.join(expect_dir), expect);
            assert_eq!(temporaries(dir), Vec::<PathBuf>::new(), "{args:?} {env:?}");
            let _ = fs::remove_dir(dir.join("dest"));
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("x"), b"x\n");
    for args in [
        // `hash` and `verify` alone read standard input, as coreutils does (tests/trust.rs).
        &["frobnicate"][..],
        &["hash", "--bogus", "x"],
        &["hash", "-a", "sha3", "x"],
        &["hash", "--keep-partial", "x"],
        &["hash", "--deadline", "soon", "x"],
        &["hash", "--throttle", "fast", "x"],
        &["hash", "-j", "many", "x"],
        &["compress", "--level", "30", "x"],
        &["copy", "x"],
    ] {
        let r = ripcord(dir, args);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.is_empty(), "{args:?} explains itself on stderr");
        assert_eq!(r.out(), "", "{args:?} prints nothing on stdout");
    }
    assert_only(dir, &["x"]);
    let help = ripcord(dir, ["hash", "--help"]);
    help.expect_code(0);
    assert!(help.out().contains("--algo"));
}

fn json_lines(r: &Run) -> Vec<Value> {
    r.out()
        .lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
            assert!(v.is_object(), "not an object: {l}");
            v
        })
        .collect()
}

/// A walk skips the files' sizes only when nothing shows them: `--json` announces every
/// file of a folder with its real size.
#[test]
fn json_mode_announces_files_found_in_folders_with_their_sizes() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("d/a.txt"), b"a\n");
    write_file(&dir.join("d/sub/b.bin"), &bytes(600_000, 4));
    let r = ripcord(dir, ["hash", "--json", "d"]);
    r.expect_code(0);
    let mut sizes: Vec<(String, u64)> = json_lines(&r)
        .iter()
        .filter(|e| e["event"] == "queued")
        .map(|e| {
            (
                e["path"].as_str().unwrap_or_default().to_string(),
                e["size"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    sizes.sort();
    assert_eq!(
        sizes,
        [
            ("d/a.txt".to_string(), 2),
            ("d/sub/b.bin".to_string(), 600_000)
        ]
    );
}

#[test]
fn json_mode_prints_one_event_object_per_line_ending_with_finished() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_file(&dir.join("a.txt"), b"a\n");
    write_file(&dir.join("b.txt"), &bytes(600_000, 3));

    let r = ripcord(dir, ["hash", "--json", "a.txt", "b.txt"]);
    r.expect_code(0);
    let events = json_lines(&r);
    let of = |name: &str| {
        events
            .iter()
            .filter(|e| e["event"] == name)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("queued").len(), 2);
    assert_eq!(of("started").len(), 2);
    let mut done = of("done");
    assert_eq!(done.len(), 2);
    // JSON events come as they happen, not reordered: two workers may finish either way round.
    done.sort_by_key(|d| d["path"].as_str().unwrap_or_default().to_string());
    for (d, name) in done.iter().zip(["a.txt", "b.txt"]) {
        assert_eq!(d["path"], name);
        assert_eq!(d["digest"].as_str().unwrap(), sha256_of(&dir.join(name)));
    }
    let last = events.last().unwrap();
    assert_eq!(last["event"], "finished");
    assert_eq!(last["exit_code"], 0);
    assert_eq!(last["done"], 2);
    assert_eq!(of("finished").len(), 1);
    assert_eq!(
        of("walk_done").len(),
        1,
        "the inputs' walk announces its end"
    );

    // A failure shows up as an event, and in the closing exit_code.
    let r = ripcord(dir, ["hash", "--json", "a.txt", "missing.txt"]);
    r.expect_code(1);
    let events = json_lines(&r);
    let failed: Vec<_> = events.iter().filter(|e| e["event"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["path"], "missing.txt");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("No such file")
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "finished");
    assert_eq!(last["exit_code"], 1);

    // Every announced file gets exactly one final event, for every operation.
    for args in [
        &["compress", "--json", "a.txt", "b.txt"][..],
        &["copy", "--json", "--to", "dest", "a.txt", "b.txt"],
        &["decompress", "--json", "a.txt.zst", "b.txt.zst"],
    ] {
        if args[0] == "decompress" {
            fs::remove_file(dir.join("a.txt")).unwrap();
            fs::remove_file(dir.join("b.txt")).unwrap();
        }
        let r = ripcord(dir, args);
        r.expect_code(0);
        let events = json_lines(&r);
        let ids = |name: &str| {
            let mut v: Vec<u64> = events
                .iter()
                .filter(|e| e["event"] == name)
                .map(|e| e["id"].as_u64().unwrap())
                .collect();
            v.sort();
            v
        };
        assert_eq!(ids("queued"), vec![0, 1], "{args:?}");
        assert_eq!(ids("done"), vec![0, 1], "{args:?}");
        assert_eq!(events.last().unwrap()["event"], "finished", "{args:?}");
    }
}

// ---------------------------------------------------------------------------------------
// big files: mapped, in parallel batches, and between file systems
// ---------------------------------------------------------------------------------------

/// Big files are hashed as BLAKE3 subtrees in parallel batches of mapped windows; every way
/// a file can end against a unit, a batch and a window must give `b3sum`'s hash.
#[test]
fn big_blake3_files_match_b3sum_at_every_boundary() {
    let tmp = tempdir();
    let dir = tmp.path();
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
        file(&dir.join(&name), len, i as u64);
        names.push(OsString::from(name));
    }
    let theirs = tool(dir, "b3sum", &names);
    theirs.expect_code(0);
    // One worker has the pool to itself; two share it.
    for jobs in ["1", "2"] {
        let ours = ripcord(
            dir,
            args_then(&["hash", "-a", "blake3", "-j", jobs, "--"], &names),
        );
        ours.expect_code(0);
        assert_same_bytes(&ours.stdout, &theirs.stdout, &format!("-j {jobs}"));
    }
}

/// Big files are hashed through memory maps. One truncated meanwhile must be reported as
/// changed (a read past the new end would otherwise kill the process with SIGBUS), and the
/// other files still hash correctly.
#[test]
fn a_file_truncated_while_mapped_is_reported_and_the_rest_goes_on() {
    for algo in ["sha256", "blake3"] {
        let tmp = tempdir();
        let dir = tmp.path();
        let big = file(&dir.join("big.bin"), 64 << 20, 1);
        file(&dir.join("ok.bin"), 3 << 20, 2);
        let want = ripcord(dir, ["hash", "-a", algo, "ok.bin"]);
        want.expect_code(0);
        let want = want.out().split_whitespace().next().unwrap().to_string();
        let mut child = JsonChild::spawn(
            dir,
            [
                "hash",
                "-a",
                algo,
                "--throttle",
                "16MiB/s",
                "big.bin",
                "ok.bin",
            ],
            &[],
        );
        // Well into the big file at that rate; the mapped window covers the whole file.
        child.wait_for("8 MiB done", WAIT, |e| {
            e["event"] == "progress" && e["bytes_done"].as_u64().unwrap_or(0) >= 8 << 20
        });
        fs::OpenOptions::new()
            .write(true)
            .open(&big)
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        let exit = child.finish(WAIT);
        assert_eq!(exit.code(), 1, "{algo}: {}", exit.stderr);
        let failed = exit.named("failed");
        assert_eq!(failed.len(), 1, "{algo}: {failed:?}");
        assert_eq!(failed[0]["path"], "big.bin", "{algo}");
        let error = failed[0]["error"].as_str().unwrap();
        assert!(
            error.contains("changed while being read"),
            "{algo}: {error}"
        );
        let done = exit.named("done");
        assert_eq!(done.len(), 1, "{algo}: {done:?}");
        assert_eq!(done[0]["path"], "ok.bin", "{algo}");
        assert_eq!(done[0]["digest"], want.as_str(), "{algo}");
    }
}

/// Between two file systems `copy_file_range` is refused and the copy goes through user
/// space (and the background writer): the result must be the same, times and all.
#[test]
fn copy_between_file_systems_falls_back_and_matches() {
    use std::os::unix::fs::MetadataExt;
    let src_dir = match tempfile::tempdir_in("/dev/shm") {
        Ok(d) => d,
        Err(e) => {
            eprintln!("skipped: no /dev/shm here ({e})");
            return;
        }
    };
    let dest = tempdir();
    assert_ne!(
        fs::metadata(src_dir.path()).unwrap().dev(),
        fs::metadata(dest.path()).unwrap().dev(),
        "/dev/shm and the temp folder must be different file systems for this test"
    );
    let src = file(&src_dir.path().join("big.bin"), (5 << 20) + 17, 9);
    let to = dest.path().display().to_string();
    for verify in [false, true] {
        let out = dest.path().join("big.bin");
        let _ = fs::remove_file(&out);
        let mut args = vec!["copy", "--to", to.as_str(), src.to_str().unwrap()];
        if verify {
            args.insert(1, "--verify");
        }
        ripcord(dest.path(), &args).expect_code(0);
        assert!(
            fs::read(&out).unwrap() == fs::read(&src).unwrap(),
            "verify {verify}"
        );
        assert_eq!(
            fs::metadata(&out).unwrap().mtime(),
            fs::metadata(&src).unwrap().mtime()
        );
    }
}

/// A job stopped part-way names the file it stopped in the middle of and counts the files
/// still queued in one line: a Ctrl-C in a folder of a million files printed a line for
/// each of the 16,384 queued (the same path as a time limit, used here).
#[test]
fn a_stopped_job_counts_the_files_it_never_began_in_one_line() {
    let tmp = tempdir();
    let dir = tmp.path();
    let names = numbered_files(dir, "f", 60, 100_000);
    // One worker at 1 MB/s: about ten files before the time limit, the rest queued.
    let mut args = vec!["hash", "-j", "1", "--throttle", "1MB/s", "--deadline", "1s"];
    args.extend(names.iter().map(String::as_str));
    let r = ripcord(dir, &args);
    r.expect_code(124);
    let done = r.out().lines().count();
    let named: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| {
            names
                .iter()
                .any(|n| l.starts_with(&format!("ripcord: {n}:")))
        })
        .collect();
    assert!(
        named.len() <= 1 && named.iter().all(|l| l.ends_with(": time limit reached")),
        "only the file the one worker was in is named: {named:?}"
    );
    let left = 60 - done - named.len();
    assert!(left > 0, "the limit came after every file: {}", r.stderr);
    let counted = format!("ripcord: {left} queued files not started: time limit reached\n");
    assert!(r.stderr.contains(&counted), "{counted:?} in:\n{}", r.stderr);
}
