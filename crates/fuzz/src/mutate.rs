//! The mutator: small random edits of seed inputs, the kinds that find
//! bugs in binary parsers (AFL's havoc stage, in miniature).

/// Deterministic edits of byte strings from a seeded generator.
#[derive(Debug, Clone)]
pub struct Mutator {
    state: u64,
}

/// Values that sit on boundaries of lengths and counts.
const INTERESTING: [u32; 10] = [
    0,
    1,
    0x7F,
    0x80,
    0xFF,
    0x7FFF,
    0xFFFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
];

impl Mutator {
    /// A mutator whose choices follow from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed | 1 }
    }

    /// The next random number (xorshift64*).
    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// A seed, edited one to eight times.
    pub fn mutant(&mut self, seeds: &[Vec<u8>]) -> Vec<u8> {
        let mut data = seeds[self.below(seeds.len())].clone();
        for _ in 0..=self.below(8) {
            let other = &seeds[self.below(seeds.len())];
            self.edit(&mut data, other);
        }
        data
    }

    fn edit(&mut self, data: &mut Vec<u8>, other: &[u8]) {
        let len = data.len();
        match self.below(8) {
            0 if len > 0 => {
                let at = self.below(len);
                data[at] ^= 1 << self.below(8);
            }
            1 if len > 0 => {
                let at = self.below(len);
                data[at] = self.next_u64() as u8;
            }
            2 if len >= 4 => {
                let at = self.below(len - 3);
                let v = INTERESTING[self.below(INTERESTING.len())];
                let bytes = if self.next_u64() & 1 == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                let width = [1, 2, 4][self.below(3)];
                data[at..at + width].copy_from_slice(&bytes[..width]);
            }
            3 => {
                let at = self.below(len + 1);
                let n = 1 + self.below(64);
                let bytes: Vec<u8> = (0..n).map(|_| self.next_u64() as u8).collect();
                data.splice(at..at, bytes);
            }
            4 if len > 1 => {
                let at = self.below(len);
                let n = 1 + self.below((len - at).min(4096));
                data.drain(at..at + n);
            }
            5 if len > 1 => {
                // Duplicate a range elsewhere (repeated structures, counts
                // that no longer match).
                let at = self.below(len);
                let n = 1 + self.below((len - at).min(4096));
                let chunk = data[at..at + n].to_vec();
                let to = self.below(len + 1);
                data.splice(to..to, chunk);
            }
            6 if len > 0 => {
                let keep = self.below(len);
                data.truncate(keep);
            }
            _ if !other.is_empty() => {
                // Splice: this input's head, the other's tail.
                let at = self.below(len + 1);
                let from = self.below(other.len());
                data.truncate(at);
                data.extend_from_slice(&other[from..other.len().min(from + 65_536)]);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutants_differ_from_their_seeds_and_repeat_from_a_seed() {
        let seeds = vec![b"hello, facekit".to_vec(), vec![0u8; 32]];
        let mut a = Mutator::new(7);
        let mutants: Vec<Vec<u8>> = (0..50).map(|_| a.mutant(&seeds)).collect();
        assert!(mutants.iter().filter(|m| !seeds.contains(m)).count() > 40);
        let mut b = Mutator::new(7);
        assert_eq!(mutants[0], b.mutant(&seeds));
    }
}
