//! The SHA-256 candidates on the CPU at hand, in memory (no file, no process): ring, which
//! Ripcord uses (through its own `Hasher`), against RustCrypto's `sha2` (already a dependency,
//! for SHA-224; its SHA-NI backend where the CPU has one). `openssl sha256` as a command is in the tools section.
//! The rule this backs: ring, unless a CPU shows another candidate faster.

use std::time::{Duration, Instant};

use ripcord::ops::hash::{Algo, Hasher};
use sha2::Digest;

/// Best of `rounds` timings of `f`.
fn best(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

pub fn section(b: &super::Bench) {
    let len = if b.sz.big >= 1 << 30 {
        256 << 20
    } else {
        16 << 20
    };
    let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let mut ours = String::new();
    let mut theirs = Vec::new();
    let ring = best(7, || {
        let mut h = Hasher::new(Algo::Sha256);
        h.update(&data);
        ours = h.finish_hex();
    });
    let sha2 = best(7, || theirs = sha2::Sha256::digest(&data).to_vec());
    let hex: String = theirs.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(ours, hex, "the two SHA-256 implementations disagree");
    let gib_s = |d: Duration| len as f64 / (1u64 << 30) as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "\nSHA-256 backends, {} MiB in memory, best of 7 (CPU: {}):",
        len >> 20,
        cpu_name()
    );
    println!("| backend | GiB/s | ratio to ring |\n|---|---|---|");
    println!("| ring (Ripcord's) | {:.2} | 1.00 |", gib_s(ring));
    println!(
        "| sha2 (RustCrypto) | {:.2} | {:.2} |",
        gib_s(sha2),
        ring.as_secs_f64() / sha2.as_secs_f64().max(1e-9)
    );
}

/// The CPU's model name, as /proc/cpuinfo gives it.
fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|n| n.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
