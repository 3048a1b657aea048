//! `sha256`: SHA-256 (FIPS 180-4) of a 2 MiB pseudo-random buffer — a benchmark of
//! 32-bit integer rotates, adds and xors.
//!
//! The implementation is first checked against the FIPS test vector for `"abc"`; the
//! digest of the buffer was computed with Python's `hashlib` over the same bytes.
#![no_std]

use bf_app_abi::rng::SplitMix64;
use bf_app_abi::{Scratch, opaque, print, print_hex, print_verdict, timed};

/// Bytes hashed.
pub const LEN: usize = 2 << 20;
/// Seed of the [`SplitMix64`] stream that fills the buffer (8 little-endian bytes per
/// output).
pub const SEED: u64 = 0x5348_4132_3536;
/// SHA-256 of the buffer.
pub const EXPECTED_DIGEST: [u8; 32] = hex32(b"eac81d746e923915c22704bcb13fa856524c17fc4b1b02291e92a8bdbc96fd84");
/// SHA-256 of `"abc"` (FIPS 180-4, example B.1).
pub const ABC_DIGEST: [u8; 32] = hex32(b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

static BUFFER: Scratch<[u8; LEN]> = Scratch::new([0; LEN]);

/// The round constants: the first 32 bits of the fractional parts of the cube roots of
/// the first 64 primes.
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// The initial hash value: the first 32 bits of the fractional parts of the square
/// roots of the first 8 primes.
const H0: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// Parses 64 hexadecimal digits at compile time.
const fn hex32(text: &[u8; 64]) -> [u8; 32] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a hex digit"),
        }
    }
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = digit(text[2 * i]) << 4 | digit(text[2 * i + 1]);
        i += 1;
    }
    out
}

/// The compression function: mixes one 64-byte block into `state`.
#[inline(never)]
pub fn sha256_block(state: &mut [u32; 8], block: &[u8; 64]) {
    let mut w = [0u32; 64];
    for (t, word) in block.chunks_exact(4).enumerate() {
        w[t] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
    }
    for t in 16..64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16].wrapping_add(s0).wrapping_add(w[t - 7]).wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for t in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[t]).wrapping_add(w[t]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        h = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = s.wrapping_add(v);
    }
}

/// SHA-256 of `data`.
#[inline(never)]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut state = H0;
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        sha256_block(&mut state, block.try_into().unwrap());
    }
    // Padding: 0x80, zeros, then the length in bits (big-endian) in the last 8 bytes;
    // one or two more blocks.
    let rest = blocks.remainder();
    let mut tail = [0u8; 128];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let tail_len = if rest.len() < 56 { 64 } else { 128 };
    tail[tail_len - 8..tail_len].copy_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in tail[..tail_len].chunks_exact(64) {
        sha256_block(&mut state, block.try_into().unwrap());
    }
    let mut digest = [0u8; 32];
    for (out, s) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&s.to_be_bytes());
    }
    digest
}

/// Fills `buf` from a [`SplitMix64`] stream seeded with `seed`.
#[inline(never)]
pub fn fill(buf: &mut [u8], seed: u64) {
    let mut rng = SplitMix64::new(seed);
    for chunk in buf.chunks_mut(8) {
        let bytes = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// Runs the app: 0 when both digests are right, 1 if the `"abc"` test vector fails, 2
/// if the buffer's digest is wrong.
pub fn run() -> i32 {
    let abc = sha256(b"abc");
    let digest = BUFFER.with(|buf| {
        fill(buf, opaque(SEED));
        timed(|| sha256(buf))
    });
    print("sha256: 2 MiB, digest ");
    print_hex(&digest);
    let status = if abc != ABC_DIGEST {
        1
    } else if digest != EXPECTED_DIGEST {
        2
    } else {
        0
    };
    print_verdict(status == 0);
    status
}

bf_app_abi::app_entry!(run);
