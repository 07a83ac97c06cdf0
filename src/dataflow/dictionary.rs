//! A worker's dictionary of the words it saw lately, which also counts them per batch.
//!
//! Text maps to an entry in one table ([`Table`]): the word's id, and where the word stands
//! in the list of the batch it last turned up in. A batch lists each of its words once, with
//! the id and the count, in the order they first turned up; a word counts by adding one there.
//! So a word costs one lookup (a word of up to 24 bytes is stored inline beside its entry: no
//! pointer to follow) and one increment in a list that is in cache, with no allocation; and
//! draining a batch reads its list in order, without touching the table or the text at all.
//! The lookup is started a few words ahead of the counting ([`Counting`]): the table does not
//! stay in cache between batches, and its misses then overlap instead of following each other.
//!
//! Ids are keyed hashes of the text ([`WordId`]), so the dictionary is only a cache: it
//! forgets the words it has not seen lately ([`Dictionary::sweep`]) and memory stays flat
//! under a stream of ever-new words; a word that comes back gets an entry again, with the same
//! id. Worker 0 needs a word's text to print it: the dictionary hands each entry's name over
//! when it makes the entry and says when it forgets it ([`NameChange`]), so worker 0 keeps a
//! name exactly as long as some dictionary or count needs it.
//!
//! A word that turns up in another batch while the first is still open (the reading worker
//! hands out the next batch's lines before this worker learns that the current one is
//! complete) is listed in both, each with its own count.

use std::borrow::Cow;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::{Epoch, Word, WordId, WordKey};
use crate::table::Table;

/// How many words after a word's arrival its slot of the table's index is read (the slot was
/// asked for on arrival), and how many after that the word is counted (its entry was asked for
/// when the slot was read): enough for the memory to bring each in while other words are
/// counted.
const SLOT_AHEAD: usize = 8;
const ENTRY_AHEAD: usize = 8;

/// Words seen in one batch only that the dictionary holds at least before it sweeps.
const SWEEP_ABOVE: usize = 4096;

/// Words seen in more than one batch (a vocabulary) that a sweep keeps, up to this many: with
/// small batches a vocabulary is far larger than one batch (10 ms batches of a 50,000-word
/// vocabulary hold some 12,000 distinct words each), and forgetting its rarer words at every
/// sweep meant learning them again a few batches later, each time with an id to hash, a name
/// for worker 0 and a row there — a third of such a run. Words seen once (a stream of ever-new
/// words, a burst) are swept as before. 65,536 words of 7 letters cost a worker about 4 MiB.
const KEEP_REPEATED: usize = 1 << 16;

/// Bytes of text past which the dictionary sweeps whatever its number of words (a few long
/// words weigh as much as many short ones); past twice this it keeps only the words of open
/// batches.
pub const SWEEP_ABOVE_BYTES: usize = 32 << 20;

/// Batches without words for this worker after which a sweep no longer keeps the words of the
/// last batch it drained: a worker of many that gets words only every few batches keeps its
/// common words, and a burst followed by silence is still forgotten.
const KEEP_LAST_DRAINED: u64 = 8;

/// What worker 0 learns of a dictionary's entries, so that it holds each name as long as a
/// dictionary does (or a count needs it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NameChange {
    /// A dictionary made an entry for the word with this name.
    Learn(Word),
    /// A dictionary forgot its entry for the word.
    Forget,
}

/// Batches after which a word not seen since is forgotten whatever the dictionary's size: an
/// entry's batch is kept in 32 bits, exact while no entry is 2^31 batches old (about 25 days of
/// 1 ms batches).
const FORGET_AFTER: u64 = 1 << 29;

/// A word's entry, beside its text in the table.
#[derive(Debug, Clone, Copy)]
struct Entry {
    id: WordId,
    /// The latest batch the word turned up in, its low 32 bits (see [`FORGET_AFTER`]).
    epoch: u32,
    /// Where the word stands in that batch's list, and in the top bit whether the word was
    /// listed in more than one batch ([`Entry::REPEATED`]).
    position: u32,
}

impl Entry {
    /// The bit of `position` that says the word was listed in more than one batch (no batch
    /// lists 2^31 words on one worker).
    const REPEATED: u32 = 1 << 31;
    /// The position of a word never listed: in no list.
    const NEVER_LISTED: u32 = !Entry::REPEATED;

    /// Where the word stands in the list of batch `epoch`.
    fn position(&self) -> usize {
        (self.position & !Entry::REPEATED) as usize
    }

    /// Whether the word was listed in more than one batch.
    fn repeated(&self) -> bool {
        self.position & Entry::REPEATED != 0
    }
}

/// One open batch's words, in the order they first turned up: their ids, and apart from
/// them their counts, the one part touched for every word (8 bytes a word, in cache).
#[derive(Debug, Default)]
pub struct BatchWords {
    ids: Vec<WordId>,
    counts: Vec<isize>,
}

impl BatchWords {
    /// Empty, for reuse: a burst's capacity is given back.
    pub fn emptied(mut self) -> BatchWords {
        self.ids.clear();
        self.counts.clear();
        if self.ids.capacity() > 16 * SWEEP_ABOVE {
            self = BatchWords::default();
        }
        self
    }
}

/// Text to entry.
#[derive(Debug)]
pub struct Dictionary {
    key: WordKey,
    /// Text (inline up to 24 bytes) to entry; lookups start ahead (see [`Counting`]).
    entries: Table<CompactString, Entry>,
    /// Entries made since the caller last took them ([`Dictionary::take_learned`]).
    learned: Vec<(WordId, NameChange)>,
    /// Bytes of text held.
    bytes: usize,
    /// Words not [`Entry::repeated`]: a sweep is due when they are many.
    fresh: usize,
    /// Words counted in the batches drained lately (decaying): the dictionary sweeps once it
    /// holds more than three times as many words seen once (and more than [`SWEEP_ABOVE`]),
    /// or more than twice as many words in all (and more than [`KEEP_REPEATED`]).
    recent: usize,
    /// The latest batch accounted in `recent`: batches after it that brought this worker no
    /// words decay it too.
    accounted: Option<Epoch>,
    /// The latest batch drained (one that brought this worker words).
    drained: Option<Epoch>,
    /// The batch drained before that: a sweep keeps the words of both, so that a word of a
    /// vocabulary that turns up every other batch is seen twice before it could be forgotten.
    drained_before: Option<Epoch>,
    /// The latest batch swept through: a batch is swept once.
    swept: Option<Epoch>,
    /// When words not seen for [`FORGET_AFTER`] batches were last forgotten.
    aged: Epoch,
}

/// Whether batch `epoch` (low 32 bits) is at or after `since`: exact while the two are less
/// than 2^31 batches apart, which [`FORGET_AFTER`] ensures.
fn at_or_after(epoch: u32, since: Epoch) -> bool {
    epoch.wrapping_sub(since as u32) as i32 >= 0
}

impl Dictionary {
    /// An empty dictionary whose ids are hashed under `key`.
    pub fn new(key: WordKey) -> Dictionary {
        Dictionary {
            key,
            entries: Table::default(),
            learned: Vec::new(),
            bytes: 0,
            fresh: 0,
            recent: 0,
            accounted: None,
            drained: None,
            drained_before: None,
            swept: None,
            aged: 0,
        }
    }

    /// Adds `count` to `word` in batch `epoch`, whose words are `batch` (at once; a chunk's
    /// words go through [`Dictionary::counting`]).
    pub fn add(&mut self, word: &str, count: isize, epoch: Epoch, batch: &mut BatchWords) {
        let hash = self.entries.hash(word.as_bytes());
        self.add_hashed(word, hash, None, count, epoch, batch);
    }

    /// Counts words into batch `epoch`, whose words are `batch`, each looked up ahead of its
    /// counting (see [`SLOT_AHEAD`]).
    pub fn counting<'a, 't>(
        &'a mut self,
        epoch: Epoch,
        batch: &'a mut BatchWords,
    ) -> Counting<'a, 't> {
        Counting {
            dictionary: self,
            epoch,
            batch,
            staged: Staged::default(),
        }
    }

    /// Adds `count` to `word`, whose hash is `hash` and whose entry is probably `candidate`.
    #[inline(always)]
    fn add_hashed(
        &mut self,
        word: &str,
        hash: u64,
        candidate: Option<u32>,
        count: isize,
        epoch: Epoch,
        batch: &mut BatchWords,
    ) {
        let bytes = word.as_bytes();
        let number = match candidate.filter(|&n| self.entries.confirmed_mut(n, bytes).is_some()) {
            Some(number) => number,
            None => match self.entries.find(hash, bytes) {
                Some(number) => number,
                None => self.insert(word, hash),
            },
        };
        let entry = self.entries.value_mut(number);
        if entry.epoch == epoch as u32 {
            if let Some(counted) = batch.counts.get_mut(entry.position()) {
                *counted += count;
                return;
            }
        }
        let repeated = entry.repeated() || entry.position != Entry::NEVER_LISTED;
        if repeated && !entry.repeated() {
            self.fresh -= 1;
        }
        entry.epoch = epoch as u32;
        entry.position = batch.counts.len() as u32 | if repeated { Entry::REPEATED } else { 0 };
        batch.ids.push(entry.id);
        batch.counts.push(count);
    }

    /// A new entry for `word` (whose hash is `hash`), not listed anywhere yet; its number.
    #[cold]
    fn insert(&mut self, word: &str, hash: u64) -> u32 {
        let id = self.key.id(word);
        self.learned.push((id, NameChange::Learn(Word::from(word))));
        self.bytes += word.len();
        let entry = Entry {
            id,
            // Never listed: no batch's list has this position.
            epoch: u32::MAX,
            position: Entry::NEVER_LISTED,
        };
        self.fresh += 1;
        self.entries.insert(hash, CompactString::new(word), entry)
    }

    /// What the dictionary learned and forgot since this was last called, for worker 0 (taken
    /// whole: a burst's list does not stay allocated here).
    pub fn take_learned(&mut self) -> Vec<(WordId, NameChange)> {
        std::mem::take(&mut self.learned)
    }

    /// Each word of batch `epoch` with its id and count; the batch is left empty.
    pub fn drain(
        &mut self,
        epoch: Epoch,
        batch: &mut BatchWords,
        mut each: impl FnMut(WordId, isize),
    ) {
        // Words of recent batches, decaying: an empty batch does not empty the dictionary.
        self.pass_empty_batches_before(epoch);
        self.recent = batch.ids.len().max(self.recent - self.recent / 8);
        self.accounted = Some(epoch);
        if self.drained != Some(epoch) {
            self.drained_before = self.drained;
        }
        self.drained = Some(epoch);
        for (id, count) in batch.ids.drain(..).zip(batch.counts.drain(..)) {
            each(id, count);
        }
    }

    /// Decays `recent` for the batches after the last one accounted and before `epoch`, which
    /// brought this worker no words (a quarter a batch: a burst followed by quiet is forgotten
    /// within a couple of dozen batches, and worker 0 forgets its names with it).
    fn pass_empty_batches_before(&mut self, epoch: Epoch) {
        let empty = match self.accounted {
            Some(accounted) => epoch.saturating_sub(accounted).saturating_sub(1),
            None => 0,
        };
        for _ in 0..empty.min(64) {
            self.recent -= self.recent / 4;
        }
    }

    /// Forgets the words not listed in an open batch (all batches up to `epoch` are complete)
    /// and not seen in the last two batches drained (or, once the last is more than
    /// [`KEEP_LAST_DRAINED`] batches before `epoch`, not seen after `epoch`) — except a
    /// vocabulary, words seen in more than one batch, up to [`KEEP_REPEATED`] of them. It
    /// sweeps once the words seen once are more than three times those of the latest batches,
    /// or the words in all more than twice them and [`KEEP_REPEATED`] (then the vocabulary is
    /// swept too), or the text passes [`SWEEP_ABOVE_BYTES`]: what a burst brought is forgotten
    /// soon after it, and sweeping costs in proportion to the batches. Worker 0 hears of each
    /// forgotten word through [`Dictionary::take_learned`].
    ///
    /// Called whenever batches up to `epoch` are complete, also when they brought this worker
    /// no words: a burst followed by silence is forgotten as well as one followed by other
    /// words.
    pub fn sweep(&mut self, epoch: Epoch) {
        if self.swept.is_some_and(|swept| swept >= epoch) {
            return;
        }
        self.swept = Some(epoch);
        if self.accounted.is_some_and(|accounted| accounted < epoch) {
            self.pass_empty_batches_before(epoch + 1);
            self.accounted = Some(epoch);
        }
        let words = self.entries.len();
        let aging = epoch.saturating_sub(self.aged) >= FORGET_AFTER;
        if aging {
            self.aged = epoch;
        }
        // Many words seen once; or more words than a vocabulary kept through sweeps.
        let fresh_many = self.fresh >= (3 * self.recent).max(SWEEP_ABOVE);
        let crowded = words >= (2 * self.recent).max(KEEP_REPEATED);
        if !fresh_many && !crowded && self.bytes < SWEEP_ABOVE_BYTES && !aging {
            return;
        }
        let since = match self.drained {
            Some(drained) if epoch.saturating_sub(drained) <= KEEP_LAST_DRAINED => {
                self.drained_before.unwrap_or(drained)
            }
            _ => epoch,
        };
        // Far over the byte budget: keep only the words that open batches list.
        let since = if self.bytes >= 2 * SWEEP_ABOVE_BYTES {
            epoch + 1
        } else if !fresh_many && !crowded && self.bytes < SWEEP_ABOVE_BYTES {
            // Only aging: words seen within FORGET_AFTER batches stay.
            epoch.saturating_sub(FORGET_AFTER)
        } else {
            since
        };
        // A vocabulary stays through a sweep of words seen once (but never past FORGET_AFTER).
        let keep_repeated = fresh_many && !crowded && self.bytes < SWEEP_ABOVE_BYTES;
        let aged = epoch.saturating_sub(FORGET_AFTER);
        let (learned, bytes, fresh) = (&mut self.learned, &mut self.bytes, &mut self.fresh);
        self.entries.retain(|word, entry| {
            // Open batches are after `epoch`: what they list is kept.
            let keep = at_or_after(entry.epoch, since)
                || (keep_repeated && entry.repeated() && at_or_after(entry.epoch, aged));
            if !keep {
                learned.push((entry.id, NameChange::Forget));
                *bytes -= word.len();
                *fresh -= usize::from(!entry.repeated());
            }
            keep
        });
    }

    /// Words held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Words whose lookup has started, oldest first: a ring of a fixed size (no allocation, no
/// bounds to check), each with its hash and where its entry probably is.
#[derive(Debug, Default)]
struct Staged<'t> {
    /// Borrowed from the chunk's text (owned only when lowercasing changed them).
    words: [(Cow<'t, str>, u64, Option<u32>); STAGED],
    first: usize,
    len: usize,
}

/// Room for every word between its arrival and its counting.
const STAGED: usize = (SLOT_AHEAD + ENTRY_AHEAD + 1).next_power_of_two();

impl<'t> Staged<'t> {
    /// Adds the newest word; returns how many are staged.
    #[inline]
    fn push(&mut self, word: Cow<'t, str>, hash: u64) -> usize {
        self.words[(self.first + self.len) % STAGED] = (word, hash, None);
        self.len += 1;
        self.len
    }

    /// The hash and candidate of the `k`th oldest word.
    #[inline]
    fn lookup(&mut self, k: usize) -> (u64, &mut Option<u32>) {
        let (_, hash, candidate) = &mut self.words[(self.first + k) % STAGED];
        (*hash, candidate)
    }

    /// Takes the oldest word.
    #[inline]
    fn pop(&mut self) -> Option<(Cow<'t, str>, u64, Option<u32>)> {
        if self.len == 0 {
            return None;
        }
        let oldest = std::mem::take(&mut self.words[self.first % STAGED]);
        self.first = (self.first + 1) % STAGED;
        self.len -= 1;
        Some(oldest)
    }
}

/// A chunk's words on their way into a batch: each is looked up in steps as other words
/// arrive (its slot of the index, then its entry, fetched from memory in the background) and
/// counted when its entry is in cache. Dropping it counts the words still staged.
pub struct Counting<'a, 't> {
    dictionary: &'a mut Dictionary,
    epoch: Epoch,
    batch: &'a mut BatchWords,
    staged: Staged<'t>,
}

impl<'t> Counting<'_, 't> {
    /// Adds one to `word`.
    #[inline(always)]
    pub fn add(&mut self, word: Cow<'t, str>) {
        let dictionary = &mut *self.dictionary;
        let hash = dictionary.entries.hash(word.as_bytes());
        dictionary.entries.prefetch_slot(hash);
        let staged = self.staged.push(word, hash);
        if staged > SLOT_AHEAD {
            let (hash, candidate) = self.staged.lookup(staged - 1 - SLOT_AHEAD);
            *candidate = dictionary.entries.candidate(hash);
            if let Some(number) = *candidate {
                dictionary.entries.prefetch(number);
            }
        }
        if staged > SLOT_AHEAD + ENTRY_AHEAD {
            self.settle_one();
        }
    }

    /// Counts the first staged word.
    #[inline(always)]
    fn settle_one(&mut self) {
        if let Some((word, hash, candidate)) = self.staged.pop() {
            self.dictionary
                .add_hashed(&word, hash, candidate, 1, self.epoch, self.batch);
        }
    }
}

impl Drop for Counting<'_, '_> {
    fn drop(&mut self) {
        while self.staged.len > 0 {
            self.settle_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> WordKey {
        WordKey::from_seed([7; 16])
    }

    /// Drains `batch`: (id, count), sorted.
    fn drained(
        dictionary: &mut Dictionary,
        epoch: Epoch,
        batch: &mut BatchWords,
    ) -> Vec<(WordId, isize)> {
        let mut words = Vec::new();
        dictionary.drain(epoch, batch, |id, count| words.push((id, count)));
        words.sort();
        words
    }

    fn sorted(mut list: Vec<(WordId, isize)>) -> Vec<(WordId, isize)> {
        list.sort();
        list
    }

    /// The names learned (+1) and forgotten (-1) since the last call, by word.
    fn learned(dictionary: &mut Dictionary) -> Vec<(String, isize)> {
        let k = key();
        let mut changes: Vec<(String, isize)> = dictionary
            .take_learned()
            .into_iter()
            .map(|(id, change)| match change {
                NameChange::Learn(name) => {
                    assert_eq!(id, k.id(&name));
                    (name.to_string(), 1)
                }
                NameChange::Forget => (format!("{id}"), -1),
            })
            .collect();
        changes.sort();
        changes
    }

    #[test]
    fn counts_per_batch_even_when_batches_overlap() {
        let k = key();
        let mut dictionary = Dictionary::new(k);
        let (mut first, mut second) = (BatchWords::default(), BatchWords::default());
        dictionary.add("a", 1, 1, &mut first);
        dictionary.add("a", 1, 1, &mut first);
        // Batch 2 sees "a" while batch 1 is open, then batch 1 sees it again, then batch 2:
        // each time the word goes back to a batch it is listed there again.
        dictionary.add("a", 1, 2, &mut second);
        dictionary.add("b", 1, 1, &mut first);
        dictionary.add("a", 4, 1, &mut first);
        dictionary.add("a", 1, 2, &mut second);
        dictionary.add("a", 1, 2, &mut second);
        assert_eq!(
            drained(&mut dictionary, 1, &mut first),
            sorted(vec![(k.id("a"), 2), (k.id("a"), 4), (k.id("b"), 1)])
        );
        assert_eq!(
            drained(&mut dictionary, 2, &mut second),
            [(k.id("a"), 1), (k.id("a"), 2)]
        );
        // Each name is learned once.
        assert_eq!(learned(&mut dictionary), [("a".into(), 1), ("b".into(), 1)]);
    }

    #[test]
    fn a_later_batch_counts_apart() {
        let k = key();
        let mut dictionary = Dictionary::new(k);
        let (mut first, mut later) = (BatchWords::default(), BatchWords::default());
        dictionary.add("b", 1, 7, &mut first);
        dictionary.add("a", 3, 7, &mut first);
        drained(&mut dictionary, 7, &mut first);
        // 2^32 batches later (the same low 32 bits): "a" stood at position 1 of batch 7's list.
        let again = 7 + (1 << 32);
        dictionary.add("c", 1, again, &mut later);
        dictionary.add("a", 1, again, &mut later);
        dictionary.add("a", 1, again, &mut later);
        assert_eq!(
            drained(&mut dictionary, again, &mut later),
            sorted(vec![(k.id("a"), 2), (k.id("c"), 1)])
        );
    }

    #[test]
    fn words_unseen_for_long_are_forgotten_however_few() {
        let k = key();
        let mut dictionary = Dictionary::new(k);
        let mut batch = BatchWords::default();
        dictionary.add("old", 1, 5, &mut batch);
        drained(&mut dictionary, 5, &mut batch);
        // A word every FORGET_AFTER / 2 batches, far fewer words than a sweep waits for.
        let mut epoch = 5;
        for _ in 0..4 {
            epoch += FORGET_AFTER / 2;
            dictionary.add("new", 1, epoch, &mut batch);
            drained(&mut dictionary, epoch, &mut batch);
            dictionary.sweep(epoch);
        }
        assert_eq!(dictionary.len(), 1);
        // 2^32 batches after "old" was seen, its low bits match the batch: it must count anew.
        let again = 5 + (1 << 32);
        dictionary.add("new", 1, again, &mut batch);
        dictionary.add("old", 2, again, &mut batch);
        assert_eq!(
            drained(&mut dictionary, again, &mut batch),
            sorted(vec![(k.id("new"), 1), (k.id("old"), 2)])
        );
    }

    #[test]
    fn forgotten_words_come_back_with_their_id_and_name() {
        let k = key();
        let mut dictionary = Dictionary::new(k);
        let mut batch = BatchWords::default();
        dictionary.add("a", 1, 0, &mut batch);
        drained(&mut dictionary, 0, &mut batch);
        for i in 0..SWEEP_ABOVE {
            dictionary.add(&format!("w{i}"), 1, 2, &mut batch);
        }
        drained(&mut dictionary, 2, &mut batch);
        dictionary.sweep(2);
        // The dictionary is not yet twice the last batch: nothing is forgotten.
        assert_eq!(dictionary.len(), SWEEP_ABOVE + 1);
        assert_eq!(learned(&mut dictionary).len(), SWEEP_ABOVE + 1);
        // Small batches follow; what the dictionary expects decays, and then the burst of
        // batch 2 and "a" of batch 0 are forgotten while "b" stays.
        for epoch in 3..40 {
            dictionary.add("b", 1, epoch, &mut batch);
            drained(&mut dictionary, epoch, &mut batch);
            dictionary.sweep(epoch);
        }
        assert_eq!(dictionary.len(), 1);
        let changes = learned(&mut dictionary);
        assert_eq!(
            changes.iter().filter(|(_, c)| *c == -1).count(),
            SWEEP_ABOVE + 1
        );
        assert!(changes.contains(&(format!("{}", k.id("a")), -1)));
        dictionary.add("a", 1, 40, &mut batch);
        assert_eq!(drained(&mut dictionary, 40, &mut batch), [(k.id("a"), 1)]);
        assert_eq!(learned(&mut dictionary), [("a".into(), 1)]);
    }

    #[test]
    fn words_of_open_batches_are_never_forgotten() {
        let k = key();
        let mut dictionary = Dictionary::new(k);
        let (mut done, mut open) = (BatchWords::default(), BatchWords::default());
        for i in 0..4 * SWEEP_ABOVE {
            dictionary.add(&format!("w{i}"), 1, 1, &mut done);
        }
        // Batch 20 is open and lists two of them; batch 1 completes, and much later the
        // batches up to 19.
        dictionary.add("w0", 1, 20, &mut open);
        dictionary.add("w9", 1, 20, &mut open);
        drained(&mut dictionary, 1, &mut done);
        dictionary.sweep(19);
        assert_eq!(dictionary.len(), 2);
        dictionary.add("w0", 1, 20, &mut open);
        assert_eq!(
            drained(&mut dictionary, 20, &mut open),
            sorted(vec![(k.id("w0"), 2), (k.id("w9"), 1)])
        );
    }

    #[test]
    fn a_burst_followed_by_silence_is_forgotten() {
        let mut dictionary = Dictionary::new(key());
        let mut batch = BatchWords::default();
        for i in 0..4 * SWEEP_ABOVE {
            dictionary.add(&format!("w{i}"), 1, 1, &mut batch);
        }
        drained(&mut dictionary, 1, &mut batch);
        dictionary.sweep(1);
        assert_eq!(dictionary.len(), 4 * SWEEP_ABOVE);
        // Batches complete that brought this worker nothing: no drain, only sweeps.
        for epoch in 2..40 {
            dictionary.sweep(epoch);
        }
        assert_eq!(dictionary.len(), 0);
        assert_eq!(dictionary.bytes, 0);
        let changes = learned(&mut dictionary);
        assert_eq!(
            changes.iter().filter(|(_, c)| *c == -1).count(),
            4 * SWEEP_ABOVE
        );
    }

    #[test]
    fn long_words_are_swept_by_their_bytes() {
        let mut dictionary = Dictionary::new(key());
        let mut batch = BatchWords::default();
        // Ten 1 MiB words a batch: far fewer words than the count bound, but the text is
        // forgotten once it passes the byte bound.
        for epoch in 0..100u64 {
            for i in 0..10 {
                let word = format!("{epoch}-{i}-{}", "x".repeat(1 << 20));
                dictionary.add(&word, 1, epoch, &mut batch);
            }
            drained(&mut dictionary, epoch, &mut batch);
            dictionary.sweep(epoch);
            assert!(dictionary.bytes <= 2 * SWEEP_ABOVE_BYTES + (11 << 20));
            dictionary.take_learned();
        }
    }

    #[test]
    fn a_worker_that_gets_words_now_and_then_keeps_its_last_batch_for_a_while() {
        let mut dictionary = Dictionary::new(key());
        let mut batch = BatchWords::default();
        let words = 2 * SWEEP_ABOVE;
        for i in 0..words {
            dictionary.add(&format!("w{i}"), 1, 1, &mut batch);
        }
        drained(&mut dictionary, 1, &mut batch);
        // Batches 2 to 7 bring this worker nothing; by 7 the dictionary is more than twice
        // what it expects, but batch 1 was drained only six batches ago: its words stay.
        for epoch in 2..=7 {
            dictionary.sweep(epoch);
        }
        assert_eq!(dictionary.len(), words);
        // Past KEEP_LAST_DRAINED batches of silence they go.
        dictionary.sweep(1 + KEEP_LAST_DRAINED + 1);
        assert_eq!(dictionary.len(), 0);
    }

    #[test]
    fn a_vocabulary_stays_while_words_seen_once_are_swept() {
        let mut dictionary = Dictionary::new(key());
        let mut batch = BatchWords::default();
        // A 10,000-word vocabulary, half of it in each batch, beside 5,000 words never seen
        // again. Once a vocabulary word has come back it stays; the others are forgotten.
        let mut vocabulary_learned = 0;
        for epoch in 0..60u64 {
            for i in 0..5_000 {
                let word = format!("v{}", (epoch * 5_000 + i) % 10_000);
                dictionary.add(&word, 1, epoch, &mut batch);
            }
            for i in 0..5_000 {
                dictionary.add(&format!("f{epoch}-{i}"), 1, epoch, &mut batch);
            }
            drained(&mut dictionary, epoch, &mut batch);
            dictionary.sweep(epoch);
            let learned_now = learned(&mut dictionary)
                .into_iter()
                .filter(|(word, change)| word.starts_with('v') && *change == 1)
                .count();
            if epoch >= 10 {
                assert_eq!(learned_now, 0, "batch {epoch} learned the vocabulary again");
            }
            vocabulary_learned += learned_now;
        }
        assert!(vocabulary_learned <= 20_000, "{vocabulary_learned}");
        assert!(
            dictionary.len() <= 10_000 + 6 * 5_000,
            "{}",
            dictionary.len()
        );
    }

    #[test]
    fn words_seen_twice_are_kept_only_up_to_a_bound() {
        let mut dictionary = Dictionary::new(key());
        let mut batch = BatchWords::default();
        // Every word in two batches, then never again.
        for epoch in 1..40u64 {
            for i in 0..10_000 {
                dictionary.add(&format!("w{epoch}-{i}"), 1, epoch, &mut batch);
                dictionary.add(&format!("w{}-{i}", epoch - 1), 1, epoch, &mut batch);
            }
            drained(&mut dictionary, epoch, &mut batch);
            dictionary.sweep(epoch);
            dictionary.take_learned();
            assert!(
                dictionary.len() <= KEEP_REPEATED + 3 * 20_000,
                "{}",
                dictionary.len()
            );
        }
    }
}
