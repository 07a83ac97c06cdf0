//! What differential counts: a word's 128-bit id, not its text.
//!
//! Differential sorts, merges and clones its keys many times over; with `String` keys that was
//! most of netwc's time (allocation and `memcmp`). A [`WordId`] is two independent 64-bit
//! hashes of the word, the same on every worker and in every process, so ids need no
//! coordination, and a worker's dictionary of them is only a cache that may forget at will.
//! The text travels beside the counts to worker 0, which prints it (see `gather`), and which
//! would notice if two words ever shared an id while both were counted: at 128 bits that takes
//! about 2^64 distinct words, and netwc then stops with an error instead of merging them.

use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::quality::FixedState;
use serde::{Deserialize, Serialize};

/// Seeds of the two word hashes; fixed, so that every worker and every process agree on them.
const SEEDS: [u64; 2] = [0x6E65_7477_6321_0001, 0x6964_7320_6172_6532];

/// A word's id: differential's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WordId(u128);

impl WordId {
    /// The id of `word`.
    pub fn of(word: &str) -> WordId {
        let [high, low] = SEEDS.map(|seed| FixedState::with_seed(seed).hash_one(word));
        WordId((u128::from(high) << 64) | u128::from(low))
    }
}

impl std::fmt::Display for WordId {
    /// The id as 32 hexadecimal digits.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl Hash for WordId {
    /// One of the two hashes: the exchange routes by it without mixing 128 bits.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0 as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_words_have_equal_ids() {
        assert_eq!(WordId::of("spark"), WordId::of("spark"));
        assert_ne!(WordId::of("spark"), WordId::of("timely"));
        assert_ne!(WordId::of(""), WordId::of(" "));
        // Stable across runs and processes: the seeds are fixed.
        assert_eq!(WordId::of("a"), WordId::of(&String::from("a")));
    }
}
