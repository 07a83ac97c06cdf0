//! What differential counts: a word's 64-bit id, not its text.
//!
//! Differential sorts, merges and clones its keys many times over; with `String` keys that was
//! most of netwc's time (allocation and `memcmp`). A [`WordId`] is a 64-bit keyed hash of the
//! word (SipHash-1-3, a pseudorandom function under its key), the same on every worker and in
//! every process of one job, so ids need no coordination, and a worker's dictionary of them is
//! only a cache that may forget at will. The text travels to worker 0 once per dictionary
//! entry (see `dictionary`), which prints it.
//!
//! The key ([`WordKey`]) is drawn at random by process 0 for each run and handed to the other
//! processes in the handshake: nobody who sends words can know it, so nobody can choose two
//! words with one id, nor words that all land on one worker (the exchange routes by the id).
//! Snapshots and the log hold text, so a restart may draw another key. Two words in use at once
//! share an id by chance with probability about n²/2^65 for n such words (one in 3.7 × 10^7
//! for a million, one in 3,700 for a hundred million); worker 0 notices if it ever happens
//! and stops the job with an error naming both words, never merging their counts (see
//! `report`), and the restart draws another key. 64 bits rather than 128: differential's
//! arrangement, merges and `count_total` move half the bytes per key, about 9 % of the work
//! at 10 ms batches.

use std::hash::Hasher;

use serde::{Deserialize, Serialize};
use siphasher::sip::SipHasher13;

pub use crate::vocab::WordId;

/// The secret under which one job hashes its words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WordKey([u64; 2]);

impl WordKey {
    /// A fresh key from the operating system's random source.
    pub fn random() -> Result<WordKey, String> {
        let draw =
            || getrandom::u64().map_err(|e| format!("cannot draw a random key for word ids: {e}"));
        Ok(WordKey([draw()?, draw()?]))
    }

    /// A fixed key, for benchmarks that need repeatable ids.
    pub const fn fixed() -> WordKey {
        WordKey([0x6E65_7477_6321_0001, 0x6964_7320_6172_6532])
    }

    /// A key made from fixed bytes (tests, which need repeatable ids).
    pub fn from_seed(seed: [u8; 16]) -> WordKey {
        let half = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        WordKey([half(&seed[..8]), half(&seed[8..])])
    }

    /// The id of `word` under this key.
    pub fn id(&self, word: &str) -> WordId {
        let mut hasher = SipHasher13::new_with_keys(self.0[0], self.0[1]);
        hasher.write(word.as_bytes());
        WordId::from_bits(hasher.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use differential_dataflow::hashable::Hashable;

    #[test]
    fn equal_words_have_equal_ids_under_one_key() {
        let key = WordKey::from_seed([1; 16]);
        assert_eq!(key.id("spark"), key.id("spark"));
        assert_ne!(key.id("spark"), key.id("timely"));
        assert_ne!(key.id(""), key.id(" "));
        assert_eq!(key.id("a"), key.id(&String::from("a")));
    }

    #[test]
    fn two_runs_give_one_word_different_ids_and_routes() {
        let (one, two) = (WordKey::random().unwrap(), WordKey::random().unwrap());
        assert_ne!(one, two);
        assert_ne!(one.id("spark"), two.id("spark"));
        // The exchange routes by the id's hash: which worker gets a word follows the key, so
        // over many words the two keys send some of them to different workers.
        let workers = 4;
        let route = |key: WordKey, word: &str| key.id(word).hashed() % workers;
        let differ = (0..64)
            .map(|i| format!("w{i}"))
            .filter(|w| route(one, w) != route(two, w))
            .count();
        assert!(differ > 16, "only {differ} of 64 words changed worker");
        // Routing is by the id alone: equal ids, equal routes.
        assert_eq!(route(one, "spark"), one.id("spark").hashed() % workers);
    }
}
