//! Splitting chunks into words and combining them per worker and per batch, before the
//! exchange: Spark's map-side combine. Differential then sees one update per distinct word per
//! worker per batch, not one per word, and its key is the word's id; the word's name goes
//! beside it to worker 0, which prints it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

use std::sync::Arc;

use super::dictionary::Dictionary;
use super::{ChunkProgress, Epoch, Word, WordId};
use crate::source::Chunk;
use crate::tokenize::Tokenizer;

/// What the workers saw of one batch besides its words, summed over workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochTally {
    /// Words counted.
    pub words: u64,
    /// Words dropped as stop words.
    pub stopped: u64,
}

impl std::ops::AddAssign for EpochTally {
    fn add_assign(&mut self, other: EpochTally) {
        self.words += other.words;
        self.stopped += other.stopped;
    }
}

/// Which worker splits each chunk: the next one, round-robin, except that every piece of an
/// over-long line goes to the worker that got its first piece, which holds the pieces' counts
/// until the line ends (a line counts in the batch its end arrived in).
#[derive(Debug, Default, Clone)]
pub struct RoundRobin {
    next: u64,
    mid_line: bool,
}

impl RoundRobin {
    /// The worker (modulo the number of workers) that splits `chunk`, the next chunk sent.
    pub fn route(&mut self, chunk: &Chunk) -> u64 {
        if !self.mid_line {
            self.next = self.next.wrapping_add(1);
        }
        // An empty chunk that only marks an epoch is no part of any line.
        let marker = chunk.text.is_empty() && !chunk.continues_line;
        if !marker {
            self.mid_line = chunk.ends_mid_line;
        }
        self.next
    }
}

/// Counts by dictionary slot: an array, and the slots that are not zero in it.
#[derive(Debug, Default)]
struct SlotCounts {
    counts: Vec<isize>,
    touched: Vec<u32>,
}

impl SlotCounts {
    fn add(&mut self, slot: u32, count: isize, capacity: usize) {
        if self.counts.len() < capacity {
            self.counts.resize(capacity, 0);
        }
        let total = &mut self.counts[slot as usize];
        if *total == 0 {
            self.touched.push(slot);
        }
        *total += count;
    }

    /// Each slot with its count; the counts are left all zero.
    fn drain(&mut self) -> impl Iterator<Item = (u32, isize)> + '_ {
        let counts = &mut self.counts;
        self.touched
            .drain(..)
            .map(move |slot| (slot, std::mem::take(&mut counts[slot as usize])))
    }
}

/// The counts of a line's pieces that arrived before its end, on the worker that gets them all.
#[derive(Default)]
struct OpenLine {
    counts: SlotCounts,
    tally: EpochTally,
}

/// One batch's words on one worker, held until the batch is complete.
struct OpenEpoch {
    words_cap: Capability<Epoch>,
    names_cap: Capability<Epoch>,
    tally_cap: Capability<Epoch>,
    counts: SlotCounts,
    tally: EpochTally,
}

/// The streams out of pre-aggregation.
pub struct PreAggregated<'scope> {
    /// `(id, batch, +count)`: each distinct word of a batch on a worker, once.
    pub words: StreamVec<'scope, Epoch, (WordId, Epoch, isize)>,
    /// `(id, word)` beside them, for worker 0 to print.
    pub names: StreamVec<'scope, Epoch, (WordId, Word)>,
    /// Each worker's tally per batch.
    pub tallies: StreamVec<'scope, Epoch, EpochTally>,
}

/// Spreads `chunks` over the workers round-robin, splits them into words and, once a batch is
/// complete, emits each distinct word's id with its count at the batch's epoch (the mode's
/// retractions follow in [`super::mode`]) and its name. Also emits each worker's tally per
/// batch.
pub fn pre_aggregate<'scope>(
    chunks: StreamVec<'scope, Epoch, Chunk>,
    tokenizer: Tokenizer,
    progress: Arc<ChunkProgress>,
) -> PreAggregated<'scope> {
    let mut builder = OperatorBuilder::new("SplitAndCombine".to_owned(), chunks.scope());
    // The driver mirrors the routing to know which chunks its own process's workers split
    // (`InFlight::routed`).
    let mut router = RoundRobin::default();
    let round_robin = Exchange::new(move |chunk: &Chunk| router.route(chunk));
    let mut input = builder.new_input(chunks, round_robin);
    let (words_output, words) = builder.new_output();
    let (names_output, names) = builder.new_output();
    let (tally_output, tallies) = builder.new_output();
    let mut words_output =
        OutputBuilder::<_, CapacityContainerBuilder<Vec<(WordId, Epoch, isize)>>>::from(
            words_output,
        );
    let mut names_output =
        OutputBuilder::<_, CapacityContainerBuilder<Vec<(WordId, Word)>>>::from(names_output);
    let mut tally_output =
        OutputBuilder::<_, CapacityContainerBuilder<Vec<EpochTally>>>::from(tally_output);

    builder.build(move |_initial_capabilities| {
        let mut open: BTreeMap<Epoch, OpenEpoch> = BTreeMap::new();
        let mut spare: Vec<SlotCounts> = Vec::new();
        let mut open_line = OpenLine::default();
        let mut dictionary = Dictionary::default();
        move |frontiers| {
            input.for_each(|cap, data| {
                let Some(&epoch) = cap.least() else { return };
                let entry = open.entry(epoch).or_insert_with(|| OpenEpoch {
                    words_cap: cap.delayed(&epoch, 0),
                    names_cap: cap.delayed(&epoch, 1),
                    tally_cap: cap.delayed(&epoch, 2),
                    counts: spare.pop().unwrap_or_default(),
                    tally: EpochTally::default(),
                });
                for chunk in data.iter() {
                    // A piece of a line that has not ended yet counts where the line ends.
                    let (counts, tally) = if chunk.ends_mid_line {
                        (&mut open_line.counts, &mut open_line.tally)
                    } else {
                        (&mut entry.counts, &mut entry.tally)
                    };
                    let seen = tokenizer.for_each_word(chunk, |word| {
                        let slot = dictionary.slot(word, epoch);
                        counts.add(slot, 1, dictionary.capacity());
                    });
                    tally.words += seen.words;
                    tally.stopped += seen.stopped;
                    if chunk.continues_line && !chunk.ends_mid_line {
                        let capacity = dictionary.capacity();
                        for (slot, count) in open_line.counts.drain() {
                            entry.counts.add(slot, count, capacity);
                        }
                        entry.tally += std::mem::take(&mut open_line.tally);
                    }
                }
                progress.add(data.len() as u64);
            });

            let frontier = &frontiers[0];
            let mut words_handle = words_output.activate();
            let mut names_handle = names_output.activate();
            let mut tally_handle = tally_output.activate();
            let mut last_done = None;
            while let Some(entry) = open.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                let (epoch, mut batch) = entry.remove_entry();
                let mut words = words_handle.session(&batch.words_cap);
                let mut names = names_handle.session(&batch.names_cap);
                for (slot, count) in batch.counts.drain() {
                    let word = dictionary.get(slot);
                    words.give((word.id, epoch, count));
                    names.give((word.id, word.name.clone()));
                }
                drop((words, names));
                tally_handle.session(&batch.tally_cap).give(batch.tally);
                spare.push(batch.counts);
                last_done = Some(epoch);
            }
            // Between batches, nothing refers to slots but a long line's waiting counts.
            if let (Some(epoch), true) = (last_done, open.is_empty()) {
                for &slot in &open_line.counts.touched {
                    dictionary.keep(slot, epoch);
                }
                dictionary.sweep(epoch);
            }
        }
    });

    PreAggregated {
        words,
        names,
        tallies,
    }
}
