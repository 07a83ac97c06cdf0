//! A worker's dictionary of the words it saw lately: text to a slot that holds the word's id
//! and its shared name, so that a known word costs one hash lookup on borrowed bytes and no
//! allocation, and a batch's counts are an array indexed by slot.
//!
//! Ids are hashes of the text ([`WordId`]), so the dictionary is only a cache: it forgets the
//! words it has not seen lately ([`Dictionary::sweep`]) and memory stays flat under a stream
//! of ever-new words; a word that comes back simply gets a slot again, with the same id.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::{Epoch, Word, WordId};

/// Words the dictionary holds at least before it sweeps.
const SWEEP_ABOVE: usize = 4096;

/// One word's entry.
#[derive(Debug)]
pub struct Slot {
    /// The word's id, differential's key.
    pub id: WordId,
    /// The word, shared with worker 0's table.
    pub name: Word,
    /// The latest epoch the word was seen in.
    last_seen: Epoch,
}

/// Text to slot, with the slots and a free list.
#[derive(Debug, Default)]
pub struct Dictionary {
    by_word: HashMap<Word, u32, RandomState>,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    /// Words held after the last sweep: the next sweeps once there are twice as many.
    kept: usize,
}

impl Dictionary {
    /// The slot of `word`, seen in `epoch`; a new one if the word is new (or was forgotten).
    pub fn slot(&mut self, word: &str, epoch: Epoch) -> u32 {
        if let Some(&slot) = self.by_word.get(word) {
            if let Some(entry) = &mut self.slots[slot as usize] {
                entry.last_seen = entry.last_seen.max(epoch);
            }
            return slot;
        }
        let name: Word = Word::from(word);
        let entry = Slot {
            id: WordId::of(word),
            name: name.clone(),
            last_seen: epoch,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(entry);
                slot
            }
            None => {
                self.slots.push(Some(entry));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_word.insert(name, slot);
        slot
    }

    /// The entry of a slot handed out and not swept since.
    pub fn get(&self, slot: u32) -> &Slot {
        self.slots[slot as usize]
            .as_ref()
            .expect("a slot in use is never swept")
    }

    /// Slots handed out so far, swept ones included: an array indexed by slot needs this size.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Notes that `slot` is still in use in `epoch` (a long line's counts wait in it).
    pub fn keep(&mut self, slot: u32, epoch: Epoch) {
        if let Some(entry) = &mut self.slots[slot as usize] {
            entry.last_seen = entry.last_seen.max(epoch);
        }
    }

    /// Forgets the words not seen since `epoch`, once the dictionary has grown to twice what
    /// the last sweep kept. Only call it when no counts refer to slots any more.
    pub fn sweep(&mut self, epoch: Epoch) {
        if self.by_word.len() < (2 * self.kept).max(SWEEP_ABOVE) {
            return;
        }
        let (slots, free) = (&mut self.slots, &mut self.free);
        self.by_word.retain(|_, slot| {
            let keep = slots[*slot as usize]
                .as_ref()
                .is_some_and(|entry| entry.last_seen >= epoch);
            if !keep {
                slots[*slot as usize] = None;
                free.push(*slot);
            }
            keep
        });
        self.kept = self.by_word.len();
        // Past a large burst, give the arrays' memory back too.
        if free.len() > slots.len() / 2 {
            while slots.last().is_some_and(Option::is_none) {
                slots.pop();
            }
            free.retain(|&slot| (slot as usize) < slots.len());
            slots.shrink_to_fit();
            self.by_word.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_words_keep_their_slot_and_forgotten_ones_come_back_with_their_id() {
        let mut dictionary = Dictionary::default();
        let a = dictionary.slot("a", 0);
        assert_eq!(dictionary.slot("a", 1), a);
        assert_eq!(dictionary.get(a).id, WordId::of("a"));
        assert_eq!(&*dictionary.get(a).name, "a");
        for i in 0..SWEEP_ABOVE {
            dictionary.slot(&format!("w{i}"), 2);
        }
        dictionary.sweep(2);
        // "a" was last seen in epoch 1: forgotten; the others stay.
        assert_eq!(dictionary.by_word.len(), SWEEP_ABOVE);
        let again = dictionary.slot("a", 3);
        assert_eq!(dictionary.get(again).id, WordId::of("a"));
    }
}
