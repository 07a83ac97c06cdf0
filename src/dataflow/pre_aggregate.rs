//! Splitting chunks into words and combining them per worker and per batch, before the
//! exchange: Spark's map-side combine. Differential then sees one update per distinct word per
//! worker per batch, not one per word, and its key is the word's id; the word's name goes
//! beside it to worker 0, which prints it.

use std::collections::{BTreeMap, HashMap};

use foldhash::fast::RandomState;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

use std::sync::Arc;

use super::dictionary::{BatchWords, Dictionary, Spill};
use super::{ChunkProgress, Epoch, Word, WordId};
use crate::source::Chunk;
use crate::stats::EpochTally;
use crate::tokenize::Tokenizer;

/// Which worker splits each chunk: the next one, round-robin, except that every piece of an
/// over-long line goes to the worker that got its first piece (per reader), which holds the
/// pieces' counts until the line ends (a line counts in the batch its end arrived in).
#[derive(Debug, Default, Clone)]
pub struct RoundRobin {
    next: u64,
    /// Readers with a line open, and the worker that has its pieces.
    open_lines: BTreeMap<u64, u64>,
}

impl RoundRobin {
    /// The worker (modulo the number of workers) that splits `chunk`, the next chunk sent.
    pub fn route(&mut self, chunk: &Chunk) -> u64 {
        let worker = match self.open_lines.get(&chunk.reader) {
            Some(&worker) => worker,
            None => {
                self.next = self.next.wrapping_add(1);
                self.next
            }
        };
        // An empty chunk that only marks an epoch is no part of any line.
        let marker = chunk.text.is_empty() && !chunk.continues_line;
        if chunk.ends_mid_line {
            self.open_lines.insert(chunk.reader, worker);
        } else if !marker {
            self.open_lines.remove(&chunk.reader);
        }
        worker
    }
}

/// The most distinct words of one unfinished line whose counts wait for its end.
/// The most bytes of distinct words of one unfinished line whose counts wait for its end
/// (64 pieces' worth): past it, the counts so far go into the current batch.
pub const MAX_CARRIED_BYTES: usize = 64 * crate::source::MAX_PENDING;

/// The counts of a line's pieces that arrived before its end, on the worker that gets them all.
#[derive(Default)]
struct OpenLine {
    counts: HashMap<Word, isize, RandomState>,
    /// The bytes of the distinct words in `counts`.
    bytes: usize,
    tally: EpochTally,
}

impl OpenLine {
    /// The waiting counts join batch `epoch` (the line ended there, or waited too long).
    fn count_in(
        self,
        epoch: Epoch,
        batch: &mut OpenEpoch,
        dictionary: &mut Dictionary,
        spills: &mut Vec<Spill>,
    ) {
        for (word, count) in self.counts {
            dictionary.add(&word, count, epoch, &mut batch.words, spills);
        }
        batch.tally += self.tally;
    }
}

/// One batch's words on one worker, held until the batch is complete.
struct OpenEpoch {
    words_cap: Capability<Epoch>,
    names_cap: Capability<Epoch>,
    tally_cap: Capability<Epoch>,
    words: BatchWords,
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
        let mut spare: Vec<BatchWords> = Vec::new();
        let mut open_lines: BTreeMap<u64, OpenLine> = BTreeMap::new();
        let mut dictionary = Dictionary::default();
        let mut spills = Vec::new();
        move |frontiers| {
            input.for_each(|cap, data| {
                let Some(&epoch) = cap.least() else { return };
                let entry = open.entry(epoch).or_insert_with(|| OpenEpoch {
                    words_cap: cap.delayed(&epoch, 0),
                    names_cap: cap.delayed(&epoch, 1),
                    tally_cap: cap.delayed(&epoch, 2),
                    words: spare.pop().unwrap_or_default(),
                    tally: EpochTally::default(),
                });
                for chunk in data.iter() {
                    let seen = if chunk.ends_mid_line {
                        // A piece of a line that has not ended yet counts where the line ends.
                        let line = open_lines.entry(chunk.reader).or_default();
                        let seen = tokenizer.for_each_word(chunk, |word| {
                            match line.counts.get_mut(word) {
                                Some(count) => *count += 1,
                                None => {
                                    line.bytes += word.len();
                                    line.counts.insert(Word::from(word), 1);
                                }
                            }
                        });
                        line.tally += seen;
                        if line.bytes > MAX_CARRIED_BYTES {
                            // A line of endless new words: the counts so far go into this
                            // batch and the rest of the line waits afresh, or memory would
                            // grow without bound.
                            if let Some(line) = open_lines.remove(&chunk.reader) {
                                line.count_in(epoch, entry, &mut dictionary, &mut spills);
                            }
                        }
                        continue;
                    } else {
                        tokenizer.for_each_word(chunk, |word| {
                            dictionary.add(word, 1, epoch, &mut entry.words, &mut spills);
                        })
                    };
                    entry.tally += seen;
                    // The end of a line whose pieces went before: their counts join it.
                    let ended = chunk
                        .continues_line
                        .then(|| open_lines.remove(&chunk.reader));
                    if let Some(line) = ended.flatten() {
                        line.count_in(epoch, entry, &mut dictionary, &mut spills);
                    }
                }
                for (earlier, word, count) in spills.drain(..) {
                    if let Some(batch) = open.get_mut(&earlier) {
                        Dictionary::spilled(&mut batch.words, word, count);
                    }
                }
                progress.add(data.len() as u64);
            });

            let frontier = &frontiers[0];
            let mut words_handle = words_output.activate();
            let mut names_handle = names_output.activate();
            let mut tally_handle = tally_output.activate();
            while let Some(entry) = open.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                let (epoch, mut batch) = entry.remove_entry();
                let mut words = words_handle.session(&batch.words_cap);
                let mut names = names_handle.session(&batch.names_cap);
                dictionary.drain(epoch, &mut batch.words, |id, name, count| {
                    words.give((id, epoch, count));
                    names.give((id, name.clone()));
                });
                drop((words, names));
                tally_handle.session(&batch.tally_cap).give(batch.tally);
                spare.push(batch.words.emptied());
            }
            // The dictionary may forget what it has not seen lately (what open batches count
            // stays; long lines count by name), also when the batches just completed brought
            // this worker nothing.
            let complete = frontier
                .frontier()
                .first()
                .and_then(|next| next.checked_sub(1));
            if let Some(epoch) = complete {
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
