//! A small seeded random generator and the case budget shared by the property tests and the
//! parser fuzz tests (tests only). `FUZZ_CASES` scales every budget (`npm run fuzz` sets it).

/// xorshift64*: deterministic for a seed, good enough to generate test inputs.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed, mixed with `FUZZ_SEED` when set (so long runs explore more).
    pub fn seeded(seed: u64) -> Rng {
        let extra = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        Rng((seed ^ extra.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// The number of cases to run: `default`, or `FUZZ_CASES` when set.
pub fn cases(default: usize) -> usize {
    std::env::var("FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}
