//! MD5 (RFC 1321), written for speed on one core.
//!
//! MD5 is one long chain of dependent steps, so its speed is the length of that chain. Each
//! step here computes whatever does not depend on the previous step's result (message word,
//! constant, and the parts of F, G and I that need only `c` and `d`) first, leaving three or
//! four operations on the chain. The `md-5` crate's straightforward form measured 1.24× the
//! time of coreutils' `md5sum`; this one is below it (see the README's table).

/// The MD5 round constants, `floor(abs(sin(i + 1)) * 2^32)`.
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// A running MD5 digest.
#[derive(Clone)]
pub struct Md5 {
    state: [u32; 4],
    /// Bytes of an unfinished block.
    pending: [u8; 64],
    pending_len: usize,
    /// Message length in bytes so far.
    len: u64,
}

impl Default for Md5 {
    fn default() -> Self {
        Self::new()
    }
}

impl Md5 {
    /// The digest of nothing yet.
    pub fn new() -> Self {
        Md5 {
            state: [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476],
            pending: [0; 64],
            pending_len: 0,
            len: 0,
        }
    }

    /// Feeds `data`.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.pending_len > 0 {
            let take = (64 - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            data = &data[take..];
            if self.pending_len < 64 {
                return;
            }
            let block = self.pending;
            compress(&mut self.state, &block);
            self.pending_len = 0;
        }
        let mut blocks = data.chunks_exact(64);
        for block in &mut blocks {
            // chunks_exact(64) yields 64-byte slices, so the conversion cannot fail.
            if let Ok(block) = <&[u8; 64]>::try_from(block) {
                compress(&mut self.state, block);
            }
        }
        let rest = blocks.remainder();
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    /// The 16-byte digest.
    pub fn finalize(mut self) -> [u8; 16] {
        let bits = self.len.wrapping_mul(8);
        let mut tail = [0u8; 128];
        let n = self.pending_len;
        tail[..n].copy_from_slice(&self.pending[..n]);
        tail[n] = 0x80;
        let total = if n < 56 { 64 } else { 128 };
        tail[total - 8..total].copy_from_slice(&bits.to_le_bytes());
        for block in tail[..total].chunks_exact(64) {
            if let Ok(block) = <&[u8; 64]>::try_from(block) {
                compress(&mut self.state, block);
            }
        }
        let mut out = [0u8; 16];
        for (o, s) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&s.to_le_bytes());
        }
        out
    }
}

/// One step: `a = b + rotl(a + k + m + f, s)`, with `pre` (the part of `f` that needs
/// neither `b` nor the previous step) summed before `on_b`, which does.
macro_rules! step {
    ($a:ident, $b:ident, $m:expr, $k:expr, $s:expr, $pre:expr, $on_b:expr) => {
        let early = opaque($a.wrapping_add($m).wrapping_add($k).wrapping_add($pre));
        $a = early.wrapping_add($on_b).rotate_left($s).wrapping_add($b);
    };
}

/// Returns `v` unchanged, but LLVM can no longer see through it. Without this its
/// reassociation moves the constant `k` to the end of each step's sum, putting one more add
/// on the critical chain (measured: 1.13× `md5sum`'s time instead of ≤ 1.0×).
#[inline(always)]
fn opaque(mut v: u32) -> u32 {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    // SAFETY: an empty asm block executes nothing; it only takes and returns a register.
    unsafe {
        std::arch::asm!("/* {0:e} */", inout(reg) v, options(pure, nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above, an empty asm block that only takes and returns a register.
    unsafe {
        std::arch::asm!("/* {0:w} */", inout(reg) v, options(pure, nomem, nostack, preserves_flags));
    }
    v
}

/// F(b, c, d) = (b & c) | (!b & d) = ((c ^ d) & b) ^ d: `c ^ d` is ready early.
macro_rules! ff {
    ($a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $i:expr, $s:expr) => {
        step!($a, $b, $m, K[$i], $s, 0u32, (($c ^ $d) & $b) ^ $d)
    };
}

/// G(b, c, d) = (b & d) | (c & !d); the two halves share no bits, so they can be added
/// separately and `c & !d` is ready early.
macro_rules! gg {
    ($a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $i:expr, $s:expr) => {
        step!($a, $b, $m, K[$i], $s, $c & !$d, $b & $d)
    };
}

/// H(b, c, d) = b ^ c ^ d: `c ^ d` is ready early.
macro_rules! hh {
    ($a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $i:expr, $s:expr) => {
        step!($a, $b, $m, K[$i], $s, 0u32, ($c ^ $d) ^ $b)
    };
}

/// I(b, c, d) = c ^ (b | !d): `!d` is ready early.
macro_rules! ii {
    ($a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $i:expr, $s:expr) => {
        step!($a, $b, $m, K[$i], $s, 0u32, $c ^ ($b | !$d))
    };
}

/// Runs the 64 steps over one block.
#[inline]
fn compress(state: &mut [u32; 4], block: &[u8; 64]) {
    let mut x = [0u32; 16];
    for (w, bytes) in x.iter_mut().zip(block.chunks_exact(4)) {
        *w = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;

    ff!(a, b, c, d, x[0], 0, 7);
    ff!(d, a, b, c, x[1], 1, 12);
    ff!(c, d, a, b, x[2], 2, 17);
    ff!(b, c, d, a, x[3], 3, 22);
    ff!(a, b, c, d, x[4], 4, 7);
    ff!(d, a, b, c, x[5], 5, 12);
    ff!(c, d, a, b, x[6], 6, 17);
    ff!(b, c, d, a, x[7], 7, 22);
    ff!(a, b, c, d, x[8], 8, 7);
    ff!(d, a, b, c, x[9], 9, 12);
    ff!(c, d, a, b, x[10], 10, 17);
    ff!(b, c, d, a, x[11], 11, 22);
    ff!(a, b, c, d, x[12], 12, 7);
    ff!(d, a, b, c, x[13], 13, 12);
    ff!(c, d, a, b, x[14], 14, 17);
    ff!(b, c, d, a, x[15], 15, 22);

    gg!(a, b, c, d, x[1], 16, 5);
    gg!(d, a, b, c, x[6], 17, 9);
    gg!(c, d, a, b, x[11], 18, 14);
    gg!(b, c, d, a, x[0], 19, 20);
    gg!(a, b, c, d, x[5], 20, 5);
    gg!(d, a, b, c, x[10], 21, 9);
    gg!(c, d, a, b, x[15], 22, 14);
    gg!(b, c, d, a, x[4], 23, 20);
    gg!(a, b, c, d, x[9], 24, 5);
    gg!(d, a, b, c, x[14], 25, 9);
    gg!(c, d, a, b, x[3], 26, 14);
    gg!(b, c, d, a, x[8], 27, 20);
    gg!(a, b, c, d, x[13], 28, 5);
    gg!(d, a, b, c, x[2], 29, 9);
    gg!(c, d, a, b, x[7], 30, 14);
    gg!(b, c, d, a, x[12], 31, 20);

    hh!(a, b, c, d, x[5], 32, 4);
    hh!(d, a, b, c, x[8], 33, 11);
    hh!(c, d, a, b, x[11], 34, 16);
    hh!(b, c, d, a, x[14], 35, 23);
    hh!(a, b, c, d, x[1], 36, 4);
    hh!(d, a, b, c, x[4], 37, 11);
    hh!(c, d, a, b, x[7], 38, 16);
    hh!(b, c, d, a, x[10], 39, 23);
    hh!(a, b, c, d, x[13], 40, 4);
    hh!(d, a, b, c, x[0], 41, 11);
    hh!(c, d, a, b, x[3], 42, 16);
    hh!(b, c, d, a, x[6], 43, 23);
    hh!(a, b, c, d, x[9], 44, 4);
    hh!(d, a, b, c, x[12], 45, 11);
    hh!(c, d, a, b, x[15], 46, 16);
    hh!(b, c, d, a, x[2], 47, 23);

    ii!(a, b, c, d, x[0], 48, 6);
    ii!(d, a, b, c, x[7], 49, 10);
    ii!(c, d, a, b, x[14], 50, 15);
    ii!(b, c, d, a, x[5], 51, 21);
    ii!(a, b, c, d, x[12], 52, 6);
    ii!(d, a, b, c, x[3], 53, 10);
    ii!(c, d, a, b, x[10], 54, 15);
    ii!(b, c, d, a, x[1], 55, 21);
    ii!(a, b, c, d, x[8], 56, 6);
    ii!(d, a, b, c, x[15], 57, 10);
    ii!(c, d, a, b, x[6], 58, 15);
    ii!(b, c, d, a, x[13], 59, 21);
    ii!(a, b, c, d, x[4], 60, 6);
    ii!(d, a, b, c, x[11], 61, 10);
    ii!(c, d, a, b, x[2], 62, 15);
    ii!(b, c, d, a, x[9], 63, 21);

    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

#[cfg(test)]
mod tests {
    use super::Md5;
    use crate::ops::hash::to_hex;

    fn md5_hex(data: &[u8]) -> String {
        let mut h = Md5::new();
        h.update(data);
        to_hex(&h.finalize())
    }

    #[test]
    fn rfc_1321_test_suite() {
        for (input, want) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            assert_eq!(md5_hex(input.as_bytes()), want, "{input:?}");
        }
    }

    /// Every length around the padding boundaries, fed whole and in uneven pieces, against
    /// the `md-5` crate.
    #[test]
    fn matches_reference_for_all_lengths_and_splits() {
        use md5_ref::Digest as _;
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 + i / 7) as u8).collect();
        for len in 0..data.len() {
            let want = to_hex(&md5_ref::Md5::digest(&data[..len]));
            assert_eq!(md5_hex(&data[..len]), want, "len {len}");
            let mut h = Md5::new();
            for piece in data[..len].chunks(1 + len % 97) {
                h.update(piece);
            }
            assert_eq!(to_hex(&h.finalize()), want, "len {len} in pieces");
        }
    }
}
