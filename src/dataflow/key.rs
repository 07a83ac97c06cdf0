//! The key differential counts by: a word behind its 64-bit hash.
//!
//! Differential sorts and merges its updates by key many times over. Comparing `String`s there
//! is mostly `memcmp` of words that share prefixes; comparing a hash first settles almost every
//! comparison in one integer compare. The word itself stays in the key, so counts stay exact
//! even when two words share a hash: they are then told apart by their bytes.

use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::quality::FixedState;
use serde::{Deserialize, Serialize};

/// Seed of the word hash; fixed, so that every worker and every process agree on it.
const SEED: u64 = 0x6E65_7477_6321_0001;

/// A word, ordered by its hash and then by its bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WordKey {
    hash: u64,
    word: String,
}

impl WordKey {
    /// The key of `word`.
    pub fn new(word: String) -> WordKey {
        WordKey {
            hash: FixedState::with_seed(SEED).hash_one(word.as_str()),
            word,
        }
    }

    /// The word.
    pub fn into_word(self) -> String {
        self.word
    }
}

impl Hash for WordKey {
    /// Only the stored hash: the exchange routes by it without hashing the word again.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_words_have_equal_keys_and_the_order_is_total() {
        let a = WordKey::new("spark".into());
        assert_eq!(a, WordKey::new("spark".into()));
        let b = WordKey::new("timely".into());
        assert_ne!(a, b);
        assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        assert_eq!(b.into_word(), "timely");
    }
}
