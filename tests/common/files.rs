//! Making files and reading back what a folder holds: deterministic bytes and text, files of
//! any size, fifos, permissions, small tmpfs mounts; the names, tree and leftover temporaries
//! of a folder.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{TEMP_PREFIX, run_in};

/// A temporary folder, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// An `OsString` from raw bytes (for names that are not UTF-8).
pub fn os(bytes: &[u8]) -> OsString {
    OsStr::from_bytes(bytes).to_os_string()
}

/// A small xorshift64* generator: deterministic, fast, no extra crates.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// `len` random-looking (incompressible) bytes, the same for the same seed.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0; len];
    XorShift::new(seed).fill(&mut v);
    v
}

/// `len` bytes of word salad: compressible, but not trivially.
pub fn text_bytes(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "ripcord ",
        "cancel ",
        "worker ",
        "thread ",
        "chunk ",
        "zstd ",
        "hash ",
        "verify ",
        "copy ",
        "folder ",
        "manifest ",
        "deadline ",
        "signal ",
        "output ",
        "atomic ",
        "\n",
    ];
    let mut rng = XorShift::new(seed);
    let mut v = Vec::with_capacity(len + 16);
    while v.len() < len {
        v.extend_from_slice(WORDS[(rng.next_u64() % 16) as usize].as_bytes());
    }
    v.truncate(len);
    v
}

/// Writes `contents` to `path`, creating parent folders.
pub fn write_file(path: &Path, contents: &[u8]) -> PathBuf {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path.to_path_buf()
}

/// Writes `len` random bytes to `path` (creating parent folders), a megabyte at a time.
pub fn file(path: &Path, len: usize, seed: u64) -> PathBuf {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    let mut f = File::create(path).unwrap();
    let mut rng = XorShift::new(seed);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        rng.fill(&mut buf[..n]);
        f.write_all(&buf[..n]).unwrap();
        left -= n;
    }
    path.to_path_buf()
}

/// `n` files `{prefix}00`, `{prefix}01`… of `len` incompressible bytes each in `dir`; their
/// names, in order.
pub fn numbered_files(dir: &Path, prefix: &str, n: u64, len: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let name = format!("{prefix}{i:02}");
            file(&dir.join(&name), len, i);
            name
        })
        .collect()
}

/// Makes a fifo with the system's `mkfifo`.
pub fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success(), "mkfifo {}", path.display());
}

/// The names in a folder (hidden ones included), sorted, as raw names.
pub fn raw_entries(dir: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name())
        .collect();
    v.sort();
    v
}

/// The names in a folder as lossy text, sorted: handy for `assert_eq!` with string lists.
pub fn entries(dir: &Path) -> Vec<String> {
    raw_entries(dir)
        .iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect()
}

/// Every path below `dir` (relative to it), recursively, sorted.
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().to_path_buf());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// Ripcord temporaries (`.ripcord-*.tmp`) anywhere below `dir`.
pub fn temporaries(dir: &Path) -> Vec<PathBuf> {
    tree(dir)
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().as_bytes();
            n.starts_with(TEMP_PREFIX.as_bytes()) && n.ends_with(b".tmp")
        })
        .collect()
}

/// Panics unless `dir` holds exactly `expected` (top level, hidden names included).
pub fn assert_only(dir: &Path, expected: &[&str]) {
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(entries(dir), want, "contents of {}", dir.display());
}

/// The SHA-256 of a file, by the system's `sha256sum` (an independent reference).
pub fn sha256_of(path: &Path) -> String {
    let r = run_in(Path::new("."), "sha256sum", [path], &[]);
    r.expect_code(0);
    r.out().split_whitespace().next().unwrap().to_string()
}

/// Whether this process can open `path` for reading (false for chmod 000 unless root).
pub fn can_open(path: &Path) -> bool {
    File::open(path)
        .and_then(|mut f| f.read(&mut [0u8; 1]))
        .is_ok()
}

/// Whether this process can list `dir` (false for chmod 000 unless root).
pub fn can_list(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok()
}

/// Whether this process can create a file in `dir` (false for chmod 555 unless root).
pub fn can_create_in(dir: &Path) -> bool {
    let probe = dir.join(".write-probe");
    match File::create(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            true
        }
        Err(_) => false,
    }
}

/// Sets a path's permission bits.
pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A small tmpfs at `dir` with `opts` (`size=…`, `nr_inodes=…`), unmounted on drop; `None`
/// (with a note) where mounting is not allowed.
pub struct Mount(PathBuf);

impl Mount {
    pub fn new(dir: &Path, opts: &str) -> Option<Mount> {
        fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("cannot mount a tmpfs here (not root?): case not checked");
            return None;
        }
        Some(Mount(dir.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
