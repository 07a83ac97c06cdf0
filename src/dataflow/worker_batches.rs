//! One worker's open batches as plain state: the combine step without timely.
//!
//! A worker [`absorb`](WorkerBatches::absorb)s the chunks routed to it into the batch they
//! belong to, and once the input's frontier has passed a batch, [`complete`](WorkerBatches::complete)
//! hands on what the batch changes: each word's count net of what the batch retracts, sorted by
//! id ([`net`]). The operator around it (`pre_aggregate`) only holds timely's capabilities and
//! moves what this gives it onto its outputs, so everything here is tested without a dataflow.

use std::collections::BTreeMap;

use super::dictionary::{BatchWords, Dictionary, NameChange};
use super::mode::Retraction;
use super::net::{self, Counts};
use super::open_lines::{OpenLine, OpenLines};
use super::sorted_runs::Update;
use super::WordKey;
use crate::stats::EpochTally;
use crate::tokenize::Tokenizer;
use crate::vocab::{Chunk, Epoch, LineState, WordId};

/// What one of this worker's batches arrived with, held until the batch is complete.
#[derive(Default)]
struct OpenBatch {
    words: BatchWords,
    tally: EpochTally,
}

/// A batch that is complete on this worker.
pub struct Completed<'a> {
    /// The batch.
    pub epoch: Epoch,
    /// `((id, ()), batch, change)` for each word whose count the batch changed, sorted by id;
    /// the receiver takes them (leaving the vector empty or not, as it likes).
    pub changes: &'a mut Vec<Update<WordId>>,
    /// What the batch brought on this worker; `None` for a batch that only retracts.
    pub tally: Option<EpochTally>,
    /// The later batch in which this batch's counts are retracted, if any: the receiver must
    /// be able to emit there.
    pub retracted_in: Option<Epoch>,
}

/// One worker's batches from the chunks it splits to the changes it emits.
pub struct WorkerBatches {
    tokenizer: Tokenizer,
    dictionary: Dictionary,
    retraction: Retraction,
    /// Batches with words on this worker, not yet complete.
    open: BTreeMap<Epoch, OpenBatch>,
    /// Emptied batches' tables, for the next batches.
    spare: Vec<BatchWords>,
    /// Pieces of over-long lines, counted where their line ends.
    open_lines: OpenLines,
    /// Counts to retract, by the batch they are due in.
    due: BTreeMap<Epoch, Counts>,
    /// Buffers reused from batch to batch.
    brought: Counts,
    scratch: Counts,
    changes: Vec<Update<WordId>>,
}

impl WorkerBatches {
    /// A worker's batches, splitting with `tokenizer`, naming words under `key`, retracting as
    /// `retraction` says.
    pub fn new(tokenizer: Tokenizer, key: WordKey, retraction: Retraction) -> WorkerBatches {
        WorkerBatches {
            tokenizer,
            dictionary: Dictionary::new(key),
            retraction,
            open: BTreeMap::new(),
            spare: Vec::new(),
            open_lines: OpenLines::default(),
            due: BTreeMap::new(),
            brought: Counts::new(),
            scratch: Counts::new(),
            changes: Vec::new(),
        }
    }

    /// Splits `chunk`, which arrived in batch `epoch`, and counts its words there (or, for a
    /// piece of a line not yet ended, where the line ends).
    pub fn absorb(&mut self, epoch: Epoch, chunk: &Chunk) {
        let spare = &mut self.spare;
        let batch = self.open.entry(epoch).or_insert_with(|| OpenBatch {
            words: spare.pop().unwrap_or_default(),
            tally: EpochTally::default(),
        });
        let dictionary = &mut self.dictionary;
        match chunk.line {
            // The line's counts so far go into this batch; it goes on in later pieces.
            LineState::CutsOpenLine => {
                if let Some(line) = self.open_lines.end(chunk.reader) {
                    count_in(line, epoch, batch, dictionary);
                }
            }
            // A piece of a line that has not ended yet counts where the line ends; what may
            // wait no longer counts here.
            LineState::OpensLine | LineState::ContinuesLine => {
                if let Some(line) = self.open_lines.add_piece(chunk, &self.tokenizer) {
                    count_in(line, epoch, batch, dictionary);
                }
            }
            LineState::Whole | LineState::EndsOpenLine => {
                // The words stay borrowed from the text until counted.
                let text = Tokenizer::text(chunk);
                let mut counting = dictionary.counting(epoch, &mut batch.words);
                batch.tally += self
                    .tokenizer
                    .for_each_word_in(&text, chunk, |word| counting.add(word));
                drop(counting);
                // The end of a line whose pieces went before: their counts join it.
                if chunk.line == LineState::EndsOpenLine {
                    if let Some(line) = self.open_lines.end(chunk.reader) {
                        count_in(line, epoch, batch, dictionary);
                    }
                }
            }
        }
    }

    /// Hands `emit` each batch that is complete (`is_open` says false of it), in order: those
    /// with words here, and those in which words of an earlier batch are retracted.
    pub fn complete(&mut self, is_open: impl Fn(Epoch) -> bool, mut emit: impl FnMut(Completed)) {
        loop {
            let first_batch = self.open.first_key_value().map(|(&epoch, _)| epoch);
            let first_due = self.due.first_key_value().map(|(&epoch, _)| epoch);
            let Some(epoch) = first_batch.into_iter().chain(first_due).min() else {
                break;
            };
            if is_open(epoch) {
                break;
            }
            let batch = (first_batch == Some(epoch)).then(|| self.open.pop_first().unwrap().1);
            let due = self.due.remove(&epoch);
            let tally = batch.map(|mut batch| {
                let brought = &mut self.brought;
                self.dictionary.drain(epoch, &mut batch.words, |id, count| {
                    brought.push((id, count))
                });
                net::sort_by_id(&mut self.brought, &mut self.scratch);
                self.spare.push(batch.words.emptied());
                batch.tally
            });
            let retracted = due.as_deref().unwrap_or(&[]);
            net::net(&self.brought, retracted, epoch, &mut self.changes);
            let used = self.brought.len();
            let kept = std::mem::take(&mut self.brought);
            let retracted_in = self.retraction.due(epoch).filter(|_| !kept.is_empty());
            self.brought = match retracted_in {
                Some(later) => {
                    self.due.insert(later, kept);
                    due.unwrap_or_default()
                }
                None => kept,
            };
            emit(Completed {
                epoch,
                changes: &mut self.changes,
                tally,
                retracted_in,
            });
            // Emptied for the next batch; a burst's capacity is given back once batches are
            // small again.
            net::trim(&mut self.brought, used);
            net::trim(&mut self.scratch, used);
            net::trim(&mut self.changes, used);
        }
    }

    /// Drops the retractions due in batch `end` and later: the input closed at `end` once every
    /// batch before it was reported, and none after it will be.
    pub fn forget_due_from(&mut self, end: Epoch) {
        drop(self.due.split_off(&end));
    }

    /// Lets the dictionary forget what it has not seen lately, now that every batch through
    /// `complete` is done (what open batches count stays; long lines count by name).
    pub fn sweep(&mut self, complete: Epoch) {
        self.dictionary.sweep(complete);
    }

    /// What the dictionary learned and forgot since last asked, for worker 0 to name words.
    pub fn take_learned(&mut self) -> Vec<(WordId, NameChange)> {
        self.dictionary.take_learned()
    }
}

/// Waiting counts join batch `epoch` (their line ended there, or waited too long).
fn count_in(line: OpenLine, epoch: Epoch, batch: &mut OpenBatch, dictionary: &mut Dictionary) {
    for (word, count) in line.counts {
        dictionary.add(&word, count, epoch, &mut batch.words);
    }
    batch.tally += line.tally;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SplitRule;
    use crate::tokenize::StopWords;
    use std::collections::HashMap;

    fn batches(delay: Option<u64>) -> WorkerBatches {
        let tokenizer = Tokenizer::new(SplitRule::Whitespace, false, StopWords::default());
        WorkerBatches::new(
            tokenizer,
            WordKey::from_seed([3; 16]),
            Retraction::after(delay),
        )
    }

    fn lines(text: &str) -> Chunk {
        Chunk {
            text: text.as_bytes().to_vec(),
            ..Chunk::default()
        }
    }

    /// A complete batch: its epoch, changes by word id, its tally's words, where it retracts.
    type Done = (Epoch, HashMap<WordId, isize>, Option<u64>, Option<Epoch>);

    /// Each batch complete through `through`.
    fn completed(batches: &mut WorkerBatches, through: Epoch) -> Vec<Done> {
        let mut out = Vec::new();
        batches.complete(
            |epoch| epoch > through,
            |done| {
                let changes = done.changes.drain(..).map(|((id, ()), epoch, change)| {
                    assert_eq!(epoch, done.epoch);
                    (id, change)
                });
                let tally = done.tally.map(|tally| tally.words);
                out.push((done.epoch, changes.collect(), tally, done.retracted_in));
            },
        );
        out
    }

    #[test]
    fn a_batch_is_handed_on_once_complete_and_retracted_as_the_mode_says() {
        let key = WordKey::from_seed([3; 16]);
        let mut batches = batches(Some(2));
        batches.absorb(0, &lines("a b a\n"));
        batches.absorb(1, &lines("b\n"));
        // Nothing is complete while batch 0 is open.
        batches.complete(|_| true, |done| panic!("batch {} is open", done.epoch));
        let done = completed(&mut batches, 1);
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].0, 0);
        assert_eq!(
            done[0].1,
            HashMap::from([(key.id("a"), 2), (key.id("b"), 1)])
        );
        assert_eq!(done[0].2, Some(3));
        assert_eq!(done[0].3, Some(2));
        assert_eq!(done[1].1, HashMap::from([(key.id("b"), 1)]));
        // Batch 2 brings nothing here but retracts batch 0's words, netted into one run.
        batches.absorb(2, &lines("a\n"));
        let done = completed(&mut batches, 2);
        assert_eq!(done.len(), 1);
        assert_eq!(
            done[0].1,
            HashMap::from([(key.id("a"), -1), (key.id("b"), -1)])
        );
        // Batch 3 only retracts batch 1's word: no tally of its own.
        let done = completed(&mut batches, 3);
        assert_eq!(done[0].0, 3);
        assert_eq!(done[0].1, HashMap::from([(key.id("b"), -1)]));
        assert_eq!(done[0].2, None);
    }

    #[test]
    fn running_totals_retract_nothing() {
        let mut batches = batches(None);
        batches.absorb(0, &lines("x\n"));
        let done = completed(&mut batches, 10);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].3, None);
        assert!(completed(&mut batches, 100).is_empty());
    }

    #[test]
    fn pieces_of_a_line_count_in_the_batch_where_it_ends() {
        let key = WordKey::from_seed([3; 16]);
        let mut batches = batches(Some(1));
        let piece = Chunk {
            line: LineState::OpensLine,
            reader: 7,
            ..lines("long line ")
        };
        batches.absorb(0, &piece);
        let end = Chunk {
            line: LineState::EndsOpenLine,
            reader: 7,
            ..lines("ends\n")
        };
        batches.absorb(1, &end);
        let done = completed(&mut batches, 1);
        assert!(
            done[0].1.is_empty(),
            "batch 0 holds no words: {:?}",
            done[0].1
        );
        assert_eq!(
            done[1].1,
            HashMap::from([
                (key.id("long"), 1),
                (key.id("line"), 1),
                (key.id("ends"), 1)
            ])
        );
    }
}
