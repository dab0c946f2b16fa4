//! Seeded, reproducible randomness without a generator's state to save: counter-based hashes
//! (data order, subsampling, mixing), seeded permutations computed one position at a time (epochs
//! of shuffled windows), and a small generator for bootstrap draws.

/// A counter-based 64-bit hash (SplitMix64 finaliser over three words): the same inputs always give
/// the same draw, so data order depends only on (seed, step, row) — the basis of exact resume.
pub fn mix64(a: u64, b: u64, c: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
        .wrapping_add(c.wrapping_mul(0x1656_67B1_9E37_79F9))
        .wrapping_add(0x27D4_EB2F_1656_67C5);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Position `i` of a seeded random permutation of `0..n` (`i < n`), computed alone: a balanced
/// Feistel network on the smallest even-bit power of two ≥ `n`, walking cycles back into range. The
/// same (`n`, `key`) always gives the same permutation, and each `key` its own; nothing is stored.
pub fn permute(i: u64, n: u64, key: u64) -> u64 {
    assert!(i < n, "position {i} outside a permutation of {n}");
    let bits = (64 - (n - 1).max(1).leading_zeros()).div_ceil(2).max(1);
    let mask = (1u64 << bits) - 1;
    let mut x = i;
    loop {
        let (mut left, mut right) = (x >> bits, x & mask);
        for round in 0..4 {
            let f = mix64(key, round, right) & mask;
            (left, right) = (right, left ^ f);
        }
        x = (left << bits) | right;
        if x < n {
            return x;
        }
    }
}

/// FNV-1a: a stable 64-bit hash (the standard library's is randomised per process).
pub fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A small counter-based generator (SplitMix64) so bootstrap draws are reproducible.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_bijections_that_depend_on_the_key() {
        for n in [1u64, 2, 3, 7, 16, 17, 1000, 4097] {
            let mut seen: Vec<u64> = (0..n).map(|i| permute(i, n, 9)).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n = {n}");
        }
        let a: Vec<u64> = (0..1000).map(|i| permute(i, 1000, 1)).collect();
        let b: Vec<u64> = (0..1000).map(|i| permute(i, 1000, 2)).collect();
        assert_ne!(a, b);
        assert_eq!(
            a,
            (0..1000).map(|i| permute(i, 1000, 1)).collect::<Vec<_>>()
        );
        // Shuffled, not a shift: few positions keep their place.
        assert!(
            a.iter()
                .enumerate()
                .filter(|(i, &x)| *i as u64 == x)
                .count()
                < 10
        );
    }

    #[test]
    fn hashes_are_stable_across_processes_and_versions() {
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(
            fnv1a("a"),
            0xaf63_dc4c_8601_ec8c,
            "the published FNV-1a 64 value of \"a\""
        );
        assert_ne!(mix64(0, 0, 0), mix64(0, 0, 1));
        assert_eq!(mix64(1, 2, 3), mix64(1, 2, 3));
        let mut a = SplitMix(7);
        let mut b = SplitMix(7);
        assert_eq!(a.next_u64(), b.next_u64());
        assert!((0..1000).all(|_| a.below(10) < 10));
    }
}
