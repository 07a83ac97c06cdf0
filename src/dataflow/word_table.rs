//! The dictionary's table from a word's text to its entry, built so that a lookup can be
//! started ahead of time.
//!
//! A worker looks words up in the order they arrive, and a table of tens of thousands of words
//! does not stay in cache between batches (the counting, the exchange and the report in
//! between push it out): a lookup then waits ~100 ns for memory, once per distinct word per
//! batch, which was a third of a batch's work. Hash maps cannot say where a word will be before
//! the lookup, so this table can: an index of 8-byte slots (a tag from the hash and the word's
//! number), small enough to stay in cache, and apart from it the words and their values in the
//! order they were added. A lookup goes in three steps, each started ahead of the next:
//! [`WordTable::prefetch_slot`] asks the memory for the word's slot of the index,
//! [`WordTable::candidate`] reads it and tells where the word's value probably is,
//! [`WordTable::prefetch`] asks the memory for that; the caller looks at other words while each
//! arrives (see `Dictionary`'s staged lookups).

use compact_str::CompactString;
use foldhash::fast::RandomState;
use std::hash::BuildHasher;

/// A slot of the index: the high 32 bits of the word's hash, and the word's number.
type Slot = u64;

/// A slot that holds no word.
const EMPTY: Slot = u64::MAX;

/// The index is kept at most half full: a probe reads one or two slots of one cache line.
const MIN_SLOTS: usize = 64;

/// A word and its value, in the order words were added.
#[derive(Debug)]
struct Stored<V> {
    text: CompactString,
    value: V,
}

/// Text to value, with lookups that can be started ahead (module docs).
#[derive(Debug)]
pub struct WordTable<V> {
    /// Open addressing, linear probing, a power of two long.
    slots: Vec<Slot>,
    words: Vec<Stored<V>>,
    hasher: RandomState,
}

impl<V> Default for WordTable<V> {
    fn default() -> Self {
        WordTable {
            slots: vec![EMPTY; MIN_SLOTS],
            words: Vec::new(),
            hasher: RandomState::default(),
        }
    }
}

/// The tag a hash leaves in its slot.
fn tag(hash: u64) -> u64 {
    hash >> 32
}

impl<V> WordTable<V> {
    /// The hash by which `word` is found.
    #[inline]
    pub fn hash(&self, word: &[u8]) -> u64 {
        self.hasher.hash_one(word)
    }

    /// Words held.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// The number of the first word whose slot matches `hash`'s tag: most likely the word
    /// itself (check with [`WordTable::get_mut`]), `None` if no word has that tag.
    #[inline]
    pub fn candidate(&self, hash: u64) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == EMPTY {
                return None;
            }
            if slot >> 32 == tag(hash) {
                return Some(slot as u32);
            }
            at = (at + 1) & mask;
        }
    }

    /// Asks the memory for the index slot where the lookup of `hash` starts, to be read soon
    /// (by [`WordTable::candidate`]).
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        let at = hash as usize & (self.slots.len() - 1);
        prefetch(&self.slots[at] as *const Slot as *const u8);
    }

    /// Asks the memory for word `number`'s text and value, to be read soon.
    #[inline]
    pub fn prefetch(&self, number: u32) {
        if let Some(stored) = self.words.get(number as usize) {
            prefetch(stored as *const Stored<V> as *const u8);
        }
    }

    /// Word `number`'s value, if its text is `word`.
    #[inline]
    pub fn get_mut(&mut self, number: u32, word: &[u8]) -> Option<&mut V> {
        let stored = self.words.get_mut(number as usize)?;
        (stored.text.as_bytes() == word).then_some(&mut stored.value)
    }

    /// The number of `word` (whose hash is `hash`), looked up in full.
    pub fn find(&self, hash: u64, word: &[u8]) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == EMPTY {
                return None;
            }
            if slot >> 32 == tag(hash) && self.words[slot as u32 as usize].text.as_bytes() == word {
                return Some(slot as u32);
            }
            at = (at + 1) & mask;
        }
    }

    /// Adds `word` (not in the table; its hash is `hash`) with `value`; returns its number.
    pub fn insert(&mut self, hash: u64, word: &str, value: V) -> u32 {
        if 2 * (self.words.len() + 1) > self.slots.len() {
            self.reindex(2 * self.slots.len());
        }
        let number = u32::try_from(self.words.len()).expect("fewer than 2^32 words in a table");
        self.words.push(Stored {
            text: CompactString::new(word),
            value,
        });
        self.place(hash, number);
        number
    }

    /// Word `number`'s value.
    #[inline]
    pub fn value_mut(&mut self, number: u32) -> &mut V {
        &mut self.words[number as usize].value
    }

    /// Keeps the words for which `keep` says so (numbers change), and gives back memory past
    /// a burst.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut V) -> bool) {
        self.words
            .retain_mut(|stored| keep(&stored.text, &mut stored.value));
        if self.words.capacity() > 4 * self.words.len() + MIN_SLOTS {
            self.words.shrink_to_fit();
        }
        let slots = (2 * self.words.len()).next_power_of_two().max(MIN_SLOTS);
        self.reindex(slots);
    }

    /// Builds the index anew with `slots` slots.
    fn reindex(&mut self, slots: usize) {
        self.slots = vec![EMPTY; slots];
        for number in 0..self.words.len() {
            let hash = self.hash(self.words[number].text.as_bytes());
            self.place(hash, number as u32);
        }
    }

    /// Puts word `number` into the first free slot from `hash`'s.
    fn place(&mut self, hash: u64, number: u32) {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        while self.slots[at] != EMPTY {
            at = (at + 1) & mask;
        }
        self.slots[at] = tag(hash) << 32 | u64::from(number);
    }
}

/// A hint to the memory that the line at `address` will be read soon (nothing where the
/// target has no such hint on stable Rust).
#[inline(always)]
fn prefetch(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address; SSE is part of x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn finds_what_it_holds_and_forgets_what_it_does_not_keep() {
        let mut table = WordTable::<usize>::default();
        let mut oracle = HashMap::new();
        for i in 0..10_000usize {
            let word = format!("w{}", i % 3_000);
            let hash = table.hash(word.as_bytes());
            match table.find(hash, word.as_bytes()) {
                Some(number) => {
                    assert!(table.candidate(hash).is_some());
                    *table.value_mut(number) += 1;
                }
                None => {
                    table.insert(hash, &word, 1);
                }
            }
            *oracle.entry(word).or_insert(0) += 1;
        }
        assert_eq!(table.len(), 3_000);
        for (word, count) in &oracle {
            let hash = table.hash(word.as_bytes());
            let number = table.find(hash, word.as_bytes()).unwrap();
            assert_eq!(
                table.get_mut(number, word.as_bytes()),
                Some(&mut count.clone())
            );
        }
        table.retain(|word, _| word.ends_with('7'));
        assert_eq!(table.len(), 300);
        for word in oracle.keys() {
            let hash = table.hash(word.as_bytes());
            assert_eq!(
                table.find(hash, word.as_bytes()).is_some(),
                word.ends_with('7'),
                "{word}"
            );
        }
        assert!(table.slots.len() <= 1024);
    }

    #[test]
    fn a_candidate_with_another_text_is_told_apart() {
        let mut table = WordTable::<()>::default();
        let hash = table.hash(b"a");
        let number = table.insert(hash, "a", ());
        assert_eq!(table.candidate(hash), Some(number));
        assert!(table.get_mut(number, b"b").is_none());
        assert!(table.get_mut(number, b"a").is_some());
    }
}
