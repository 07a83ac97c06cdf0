//! Splitting chunks into words and combining them per worker and per batch, before the
//! exchange: Spark's map-side combine. Differential then sees one update per distinct word per
//! worker per batch, not one per word.

use std::collections::{BTreeMap, HashMap};

use foldhash::fast::RandomState;
use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

use std::sync::Arc;

use super::{ChunkProgress, Epoch, Word, WordKey};
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

/// The counts of a line's pieces that arrived before its end, on the worker that gets them all.
#[derive(Default)]
struct OpenLine {
    counts: HashMap<Word, isize, RandomState>,
    tally: EpochTally,
}

/// One batch's words on one worker, held until the batch is complete.
struct OpenEpoch {
    words_cap: Capability<Epoch>,
    tally_cap: Capability<Epoch>,
    counts: HashMap<Word, isize, RandomState>,
    tally: EpochTally,
}

type WordUpdates<'scope> = StreamVec<'scope, Epoch, (WordKey, Epoch, isize)>;

/// Spreads `chunks` over the workers round-robin, splits them into words and, once a batch is
/// complete, emits each distinct word with its count at the batch's epoch (the mode's
/// retractions follow in [`super::mode`]). Also emits each worker's tally per batch.
pub fn pre_aggregate<'scope>(
    chunks: StreamVec<'scope, Epoch, Chunk>,
    tokenizer: Tokenizer,
    progress: Arc<ChunkProgress>,
) -> (WordUpdates<'scope>, StreamVec<'scope, Epoch, EpochTally>) {
    let mut builder = OperatorBuilder::new("SplitAndCombine".to_owned(), chunks.scope());
    // The driver mirrors the routing to know which chunks its own process's workers split
    // (`Driver::count_routed`).
    let mut router = RoundRobin::default();
    let round_robin = Exchange::new(move |chunk: &Chunk| router.route(chunk));
    let mut input = builder.new_input(chunks, round_robin);
    let (words_output, words) = builder.new_output();
    let (tally_output, tallies) = builder.new_output();
    let mut words_output =
        OutputBuilder::<_, CapacityContainerBuilder<Vec<(WordKey, Epoch, isize)>>>::from(
            words_output,
        );
    let mut tally_output =
        OutputBuilder::<_, CapacityContainerBuilder<Vec<EpochTally>>>::from(tally_output);

    builder.build(move |_initial_capabilities| {
        let mut open: BTreeMap<Epoch, OpenEpoch> = BTreeMap::new();
        let mut spare_maps: Vec<HashMap<Word, isize, RandomState>> = Vec::new();
        let mut open_line = OpenLine::default();
        move |frontiers| {
            input.for_each(|cap, data| {
                let Some(&epoch) = cap.least() else { return };
                let entry = open.entry(epoch).or_insert_with(|| OpenEpoch {
                    words_cap: cap.delayed(&epoch, 0),
                    tally_cap: cap.delayed(&epoch, 1),
                    counts: spare_maps.pop().unwrap_or_default(),
                    tally: EpochTally::default(),
                });
                for chunk in data.iter() {
                    // A piece of a line that has not ended yet counts where the line ends.
                    let (counts, tally) = if chunk.ends_mid_line {
                        (&mut open_line.counts, &mut open_line.tally)
                    } else {
                        (&mut entry.counts, &mut entry.tally)
                    };
                    let seen = tokenizer.for_each_word(chunk, |word| add_word(counts, word, 1));
                    tally.words += seen.words;
                    tally.stopped += seen.stopped;
                    if chunk.continues_line && !chunk.ends_mid_line {
                        for (word, count) in open_line.counts.drain() {
                            add_word(&mut entry.counts, &word, count);
                        }
                        entry.tally += std::mem::take(&mut open_line.tally);
                    }
                }
                progress.add(data.len() as u64);
            });

            let frontier = &frontiers[0];
            let mut words_handle = words_output.activate();
            let mut tally_handle = tally_output.activate();
            while let Some(entry) = open.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                let (epoch, mut batch) = entry.remove_entry();
                let mut session = words_handle.session(&batch.words_cap);
                for (word, count) in batch.counts.drain() {
                    session.give((WordKey::new(word), epoch, count));
                }
                drop(session);
                tally_handle.session(&batch.tally_cap).give(batch.tally);
                spare_maps.push(batch.counts);
            }
        }
    });

    (words, tallies)
}

fn add_word(counts: &mut HashMap<Word, isize, RandomState>, word: &str, count: isize) {
    match counts.get_mut(word) {
        Some(total) => *total += count,
        None => {
            counts.insert(word.to_owned(), count);
        }
    }
}
