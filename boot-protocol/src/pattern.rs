//! The boot-test pattern: a module of known content that the image tool can add to the
//! payload (to make it ≥ 60 MiB) and that the kernel verifies in memory after boot.
//!
//! Word `i` (little-endian u64 at byte offset `8 * i`) is [`pattern_word`]`(i)`, a
//! SplitMix64 step, so a shifted, truncated, duplicated or zeroed sector is detected.

/// Name of the pattern module in the FLUD module table.
pub const PATTERN_MODULE: &str = "pattern";

/// The 64-bit word at index `index` of the pattern.
pub const fn pattern_word(index: u64) -> u64 {
    let mut z = index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fills `out` with the pattern (its length must be a multiple of 8).
pub fn fill(out: &mut [u8]) {
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&pattern_word(i as u64).to_le_bytes());
    }
}

/// Checks `words` against the pattern; returns the index of the first wrong word.
pub fn first_mismatch(words: &[u64]) -> Option<usize> {
    words.iter().enumerate().find(|&(i, &w)| w != pattern_word(i as u64)).map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_and_check_agree() {
        let mut bytes = [0u8; 4096];
        fill(&mut bytes);
        let words: [u64; 512] =
            core::array::from_fn(|i| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap()));
        assert_eq!(first_mismatch(&words), None);
        let mut bad = words;
        bad[300] ^= 1 << 17;
        assert_eq!(first_mismatch(&bad), Some(300));
        // Neighbouring words differ, so a shifted copy is caught.
        assert_ne!(pattern_word(0), pattern_word(1));
        assert_ne!(pattern_word(0), 0);
    }
}
