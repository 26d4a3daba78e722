//! The operations Ripcord runs, as one fieldless kind shared by the engine, the command line
//! and the window (the engine's `Operation` adds each one's settings).

use std::fmt;
use std::str::FromStr;

/// One of the operations, without its settings.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum OpKind {
    /// Checksums.
    #[default]
    Hash,
    /// Checking files against manifests.
    Verify,
    /// zstd compression.
    Compress,
    /// zstd decompression.
    Decompress,
    /// Copying.
    Copy,
    /// Downloading URLs into a folder.
    Download,
}

impl OpKind {
    /// Every kind, in the order menus show them.
    pub const ALL: [OpKind; 6] = [
        OpKind::Hash,
        OpKind::Verify,
        OpKind::Compress,
        OpKind::Decompress,
        OpKind::Copy,
        OpKind::Download,
    ];

    /// The short name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Hash => "hash",
            OpKind::Verify => "verify",
            OpKind::Compress => "compress",
            OpKind::Decompress => "decompress",
            OpKind::Copy => "copy",
            OpKind::Download => "download",
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OpKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        OpKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<_> = OpKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown operation '{s}' (choose from {})", names.join(", "))
            })
    }
}
