//! The tools table: each case runs Ripcord's command and the commands people use instead
//! (`openssl`, the `*sum` tools, `b3sum`, `zstd`, `cp`), alternating, and prints one row per
//! peer that is installed. The cases, in the table's order, are listed in [`cases`].

use super::{Bench, compare, ripcord, time_sh};

/// One case: a row per peer, each against the same Ripcord command.
struct Case {
    label: &'static str,
    /// Run once, untimed, before the case: it makes the case's input.
    setup: Option<String>,
    ripcord: String,
    /// (tool, command line); a peer whose tool is not installed is left out.
    peers: Vec<(&'static str, String)>,
}

impl Case {
    fn new(label: &'static str, ripcord: String, peers: Vec<(&'static str, String)>) -> Case {
        Case {
            label,
            setup: None,
            ripcord,
            peers,
        }
    }

    fn with_setup(mut self, setup: String) -> Case {
        self.setup = Some(setup);
        self
    }
}

/// Prints the tools table.
pub fn section(b: &Bench) {
    println!("\n| operation | ripcord | peer | ratio |\n|---|---|---|---|");
    for case in cases(b) {
        if let Some(setup) = &case.setup {
            time_sh(setup);
        }
        compare(case.label, &case.ripcord, &case.peers, b.sz.runs);
    }
}

fn cases(bench: &Bench) -> Vec<Case> {
    let (r, d) = (ripcord(), bench.dir.display());
    let (b, s, t) = (
        bench.big.display(),
        bench.small.display(),
        bench.text.display(),
    );
    let z = bench.dir.join("z.zst").display().to_string();
    let unz = bench.dir.join("unz").display().to_string();
    vec![
        Case::new(
            "sha256, big file",
            format!("{r} hash {b}"),
            vec![
                ("openssl", format!("openssl sha256 {b}")),
                ("sha256sum", format!("sha256sum {b}")),
            ],
        ),
        Case::new(
            "blake3, big file",
            format!("{r} hash -a blake3 {b}"),
            vec![("b3sum", format!("b3sum {b}"))],
        ),
        Case::new(
            "md5, big file",
            format!("{r} hash -a md5 {b}"),
            vec![("md5sum", format!("md5sum {b}"))],
        ),
        Case::new(
            "sha512, big file",
            format!("{r} hash -a sha512 {b}"),
            vec![("sha512sum", format!("sha512sum {b}"))],
        ),
        Case::new(
            "sha256, small files",
            format!("{r} hash {s}"),
            vec![("sha256sum", format!("sha256sum {s}/*"))],
        ),
        Case::new(
            "blake3, small files",
            format!("{r} hash -a blake3 {s}"),
            vec![("b3sum", format!("b3sum {s}/*"))],
        ),
        // Compress and decompress runs delete the previous output first, for every tool, so
        // none pays for freeing another's; Ripcord syncs its output, so `… && sync` is the
        // fair peer.
        Case::new(
            "compress -3, text, 1 file",
            format!("rm -f {d}/c/text.txt.zst && {r} compress --out-dir {d}/c {t}"),
            vec![
                ("zstd", format!("rm -f {z} && zstd -q -3 -T2 {t} -o {z}")),
                (
                    "zstd",
                    format!("rm -f {z} && zstd -q -3 -T2 {t} -o {z} && sync {z}"),
                ),
                ("zstd", format!("rm -f {z} && zstd -q -3 -T1 {t} -o {z}")),
            ],
        ),
        Case::new(
            "decompress, text",
            format!("rm -f {d}/dz/z && {r} decompress --out-dir {d}/dz {z}"),
            vec![
                ("zstd", format!("rm -f {unz} && zstd -q -d {z} -o {unz}")),
                (
                    "zstd",
                    format!("rm -f {unz} && zstd -q -d {z} -o {unz} && sync {unz}"),
                ),
            ],
        )
        .with_setup(format!("zstd -q -f -3 {t} -o {z}")),
        // Each run first deletes the previous copy, for both tools, so neither pays for
        // freeing the other's; Ripcord syncs its output (the output contract), so
        // `cp && sync` is the fair peer.
        Case::new(
            "copy, big file",
            format!("rm -rf {d}/cp1 && {r} copy --to {d}/cp1 {b}"),
            vec![
                (
                    "cp",
                    format!("rm -rf {d}/cp2 && mkdir {d}/cp2 && cp {b} {d}/cp2/"),
                ),
                (
                    "cp",
                    format!(
                        "rm -rf {d}/cp3 && mkdir {d}/cp3 && cp {b} {d}/cp3/ && sync {d}/cp3/big.bin"
                    ),
                ),
            ],
        ),
    ]
}
