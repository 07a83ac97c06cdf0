//! A hash table whose lookups can be started ahead of time: the dictionaries' table from a
//! word's text to its entry, and worker 0's table of rows by word id.
//!
//! Words are looked up in the order they arrive, and a table of tens of thousands of words does
//! not stay in cache between batches (the counting, the exchange and the report in between
//! push it out): a lookup then waits ~100 ns for memory, once per distinct word per batch,
//! which was a third of a batch's work. Hash maps cannot say where a key will be before the
//! lookup, so this table can: an index of 8-byte slots (a tag from the hash and the key's
//! number), and apart from it the keys and their values in the order they were added. A
//! lookup goes in three steps, each started ahead of the next:
//! [`Table::prefetch_slot`] asks the memory for the word's slot of the index,
//! [`Table::candidate`] reads it and tells where the word's value probably is,
//! [`Table::prefetch`] asks the memory for that; the caller looks at other keys while each
//! arrives (see `Dictionary`'s staged lookups and `ResultTable::apply`).

use compact_str::CompactString;
use foldhash::fast::RandomState;
use std::hash::BuildHasher;

use crate::prefetch::prefetch;
use crate::vocab::WordId;

/// What a table can be keyed by: how a key is looked up (its borrowed form), hashed and
/// compared.
pub trait Key {
    /// The form lookups take.
    type Borrowed: ?Sized;
    /// The key in the form lookups take.
    fn borrowed(&self) -> &Self::Borrowed;
    /// The hash of a key, under the table's `hasher`.
    fn hash(hasher: &RandomState, key: &Self::Borrowed) -> u64;
    /// Whether two keys are the same.
    fn same(a: &Self::Borrowed, b: &Self::Borrowed) -> bool;
}

/// A word's text, kept inline up to 24 bytes, looked up by its bytes.
impl Key for CompactString {
    type Borrowed = [u8];
    #[inline]
    fn borrowed(&self) -> &[u8] {
        self.as_bytes()
    }
    #[inline]
    fn hash(hasher: &RandomState, key: &[u8]) -> u64 {
        hasher.hash_one(key)
    }
    /// Short words (most are) without a call to `memcmp`: two loads that overlap cover 4 to
    /// 16 bytes; other lengths compare as slices.
    #[inline]
    fn same(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        let n = a.len();
        if (8..=16).contains(&n) {
            let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().unwrap());
            word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8)
        } else if (4..8).contains(&n) {
            let word = |s: &[u8], at: usize| u32::from_ne_bytes(s[at..at + 4].try_into().unwrap());
            word(a, 0) == word(b, 0) && word(a, n - 4) == word(b, n - 4)
        } else {
            a == b
        }
    }
}

/// A word id is a keyed hash already: it is its own hash.
impl Key for WordId {
    type Borrowed = WordId;
    fn borrowed(&self) -> &WordId {
        self
    }
    #[inline]
    fn hash(_: &RandomState, key: &WordId) -> u64 {
        key.high()
    }
    #[inline]
    fn same(a: &WordId, b: &WordId) -> bool {
        a == b
    }
}

/// A slot of the index: the tag of the word's hash (its low 32 bits), and the word's number.
type Slot = u64;

/// A slot that holds no word.
const EMPTY: Slot = u64::MAX;

/// The index is kept at most half full: a probe reads one or two slots of one cache line.
const MIN_SLOTS: usize = 64;

/// A key and its value, in the order keys were added.
#[derive(Debug)]
struct Stored<K, V> {
    key: K,
    value: V,
}

/// Key to value, with lookups that can be started ahead (module docs).
#[derive(Debug)]
pub struct Table<K, V> {
    /// Open addressing, linear probing, a power of two long.
    slots: Vec<Slot>,
    words: Vec<Stored<K, V>>,
    hasher: RandomState,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            slots: vec![EMPTY; MIN_SLOTS],
            words: Vec::new(),
            hasher: RandomState::default(),
        }
    }
}

/// The tag a hash leaves in its slot: its low 32 bits (its high bits are its place, see
/// [`Table::start`]).
fn tag(hash: u64) -> u64 {
    hash & u64::from(u32::MAX)
}

impl<K: Key, V> Table<K, V> {
    /// The hash by which `key` is found.
    #[inline]
    pub fn hash(&self, key: &K::Borrowed) -> u64 {
        K::hash(&self.hasher, key)
    }

    /// The slot where the lookup of `hash` starts: the hash's high bits, so that keys looked
    /// up in increasing order read the index front to back, which the memory serves best.
    /// Word ids are keyed hashes already (their own hash), and worker 0 gets each batch's
    /// changes sorted by id: its lookups walk the index forwards instead of jumping about it.
    #[inline]
    fn start(&self, hash: u64) -> usize {
        // The index has a power of two of at least `MIN_SLOTS` slots: the shift is below 64.
        (hash >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// The number of the first key whose slot matches `hash`'s tag: most likely the key
    /// itself (check with [`Table::confirmed_mut`]), `None` if no key has that tag.
    #[inline]
    pub fn candidate(&self, hash: u64) -> Option<u32> {
        self.probe(hash, |_| true)
    }

    /// Walks the slots from `hash`'s: the first number whose tag matches and that `matches`
    /// accepts, or `None` at the first empty slot.
    #[inline]
    fn probe(&self, hash: u64, mut matches: impl FnMut(u32) -> bool) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut at = self.start(hash);
        loop {
            let slot = self.slots[at];
            if slot == EMPTY {
                return None;
            }
            if slot >> 32 == tag(hash) && matches(slot as u32) {
                return Some(slot as u32);
            }
            at = (at + 1) & mask;
        }
    }

    /// Asks the memory for the index slot where the lookup of `hash` starts, to be read soon
    /// (by [`Table::candidate`]).
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        prefetch(&self.slots[self.start(hash)] as *const Slot as *const u8);
    }

    /// Starts a lookup of `key` that will come after others: asks for its slot of the index.
    #[inline]
    pub fn prefetch_slot_of(&self, key: &K::Borrowed) {
        self.prefetch_slot(self.hash(key));
    }

    /// Goes on with a lookup of `key` started with [`Table::prefetch_slot_of`]: reads its slot
    /// (in cache by now) and asks for its key and value.
    #[inline]
    pub fn prefetch_value_of(&self, key: &K::Borrowed) {
        if let Some(number) = self.candidate(self.hash(key)) {
            self.prefetch(number);
        }
    }

    /// Asks the memory for key `number` and its value, to be read soon: both cache lines of
    /// an entry that spans two (entries of 40 bytes, as worker 0's rows and the dictionaries'
    /// are, do every other time; asking for the first line only left a third of
    /// `ResultTable::apply`'s samples waiting).
    #[inline]
    pub fn prefetch(&self, number: u32) {
        if let Some(stored) = self.words.get(number as usize) {
            let start = stored as *const Stored<K, V> as *const u8;
            prefetch(start);
            prefetch(start.wrapping_add(size_of::<Stored<K, V>>() - 1));
        }
    }

    /// Key `number`'s value, if the key is `key`.
    #[inline]
    pub fn confirmed_mut(&mut self, number: u32, key: &K::Borrowed) -> Option<&mut V> {
        let stored = self.words.get_mut(number as usize)?;
        K::same(stored.key.borrowed(), key).then_some(&mut stored.value)
    }

    /// The number of `key` (whose hash is `hash`), looked up in full.
    #[inline]
    pub fn find(&self, hash: u64, key: &K::Borrowed) -> Option<u32> {
        self.probe(hash, |number| {
            K::same(self.words[number as usize].key.borrowed(), key)
        })
    }

    /// Adds `key` (not in the table; its hash is `hash`) with `value`; returns its number.
    pub fn insert(&mut self, hash: u64, key: K, value: V) -> u32 {
        if 2 * (self.words.len() + 1) > self.slots.len() {
            self.reindex(2 * self.slots.len());
        }
        let number = u32::try_from(self.words.len()).expect("fewer than 2^32 keys in a table");
        self.words.push(Stored { key, value });
        self.place(hash, number);
        number
    }

    /// The number of `key`, looked up in full: it stays the key's until [`Table::retain`].
    #[inline]
    pub fn number_of(&self, key: &K::Borrowed) -> Option<u32> {
        self.find(self.hash(key), key)
    }

    /// Key `number`'s value.
    #[inline]
    pub fn value(&self, number: u32) -> &V {
        &self.words[number as usize].value
    }

    /// Key `number`'s value.
    #[inline]
    pub fn value_mut(&mut self, number: u32) -> &mut V {
        &mut self.words[number as usize].value
    }

    /// The value of `key`, looked up in full.
    #[inline]
    pub fn get(&self, key: &K::Borrowed) -> Option<&V> {
        Some(self.value(self.number_of(key)?))
    }

    /// The value of `key`, looked up in full.
    #[inline]
    pub fn get_mut(&mut self, key: &K::Borrowed) -> Option<&mut V> {
        let number = self.number_of(key)?;
        Some(self.value_mut(number))
    }

    /// Every value, in the order they were added.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.words.iter().map(|stored| &stored.value)
    }

    /// Keeps the keys for which `keep` says so (numbers change), and gives back memory past
    /// a burst.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.words
            .retain_mut(|stored| keep(&stored.key, &mut stored.value));
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
            let hash = self.hash(self.words[number].key.borrowed());
            self.place(hash, number as u32);
        }
    }

    /// Puts word `number` into the first free slot from `hash`'s.
    fn place(&mut self, hash: u64, number: u32) {
        let mask = self.slots.len() - 1;
        let mut at = self.start(hash);
        while self.slots[at] != EMPTY {
            at = (at + 1) & mask;
        }
        self.slots[at] = tag(hash) << 32 | u64::from(number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn finds_what_it_holds_and_forgets_what_it_does_not_keep() {
        let mut table = Table::<CompactString, usize>::default();
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
                    table.insert(hash, CompactString::new(&word), 1);
                }
            }
            *oracle.entry(word).or_insert(0) += 1;
        }
        assert_eq!(table.len(), 3_000);
        for (word, count) in &oracle {
            let hash = table.hash(word.as_bytes());
            let number = table.find(hash, word.as_bytes()).unwrap();
            assert_eq!(
                table.confirmed_mut(number, word.as_bytes()),
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
        let mut table = Table::<CompactString, ()>::default();
        let hash = table.hash(b"a");
        let number = table.insert(hash, CompactString::new("a"), ());
        assert_eq!(table.candidate(hash), Some(number));
        assert!(table.confirmed_mut(number, b"b").is_none());
        assert!(table.confirmed_mut(number, b"a").is_some());
    }
}
