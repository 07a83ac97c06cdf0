//! Splitting chunks into words and combining them per worker and per batch, before the
//! exchange: Spark's map-side combine. Differential then sees one update per changed word per
//! worker per batch, not one per word (net of what the batch retracts, see `net`), and its key
//! is the word's id; the word's name goes to worker 0 once per dictionary entry.

use std::collections::BTreeMap;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

use std::sync::Arc;

use super::dictionary::{BatchWords, Dictionary, NameChange};
use super::net::{self, Counts, Retractions};
use super::open_lines::{OpenLine, OpenLines};
use super::sorted_runs::Update;
use super::{ChunkProgress, Epoch, WordId, WordKey};
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

/// Waiting counts join batch `epoch` (their line ended there, or waited too long).
fn count_in(line: OpenLine, epoch: Epoch, batch: &mut OpenEpoch, dictionary: &mut Dictionary) {
    for (word, count) in line.counts {
        dictionary.add(&word, count, epoch, &mut batch.words);
    }
    batch.tally += line.tally;
}

/// One batch's words on one worker, held until the batch is complete.
struct OpenEpoch {
    words_cap: Capability<Epoch>,
    tally_cap: Capability<Epoch>,
    words: BatchWords,
    tally: EpochTally,
}

/// The streams out of pre-aggregation.
pub struct PreAggregated<'scope> {
    /// `((id, ()), batch, change)`: each word whose count a batch of this worker changed, once,
    /// sorted by id (the form differential's arrangement takes).
    pub words: StreamVec<'scope, Epoch, Update<WordId>>,
    /// What the dictionary learned and forgot, for worker 0 to print words by name.
    pub names: StreamVec<'scope, Epoch, (WordId, NameChange)>,
    /// Each worker's tally per batch.
    pub tallies: StreamVec<'scope, Epoch, EpochTally>,
}

/// Spreads `chunks` over the workers round-robin, splits them into words and, once a batch is
/// complete, emits what it changes: each distinct word's count, minus the counts of the batch
/// `retraction_delay` before it (see [`net`]), sorted by id. Also emits what the dictionary
/// learned and forgot, and each worker's tally per batch.
pub fn pre_aggregate<'scope>(
    chunks: StreamVec<'scope, Epoch, Chunk>,
    tokenizer: Tokenizer,
    progress: Arc<ChunkProgress>,
    key: WordKey,
    retraction_delay: Option<u64>,
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
        OutputBuilder::<_, CapacityContainerBuilder<Vec<Update<WordId>>>>::from(words_output);
    let mut names_output =
        OutputBuilder::<_, CapacityContainerBuilder<Vec<(WordId, NameChange)>>>::from(names_output);
    let mut tally_output =
        OutputBuilder::<_, CapacityContainerBuilder<Vec<EpochTally>>>::from(tally_output);

    builder.build(move |mut initial_capabilities| {
        // Held at the input frontier: what the dictionary learns and forgets is told to worker
        // 0 at once, before any count that needs the name (none can be earlier than the
        // frontier), whether or not a batch of this worker's is open.
        let mut names_cap: Option<Capability<Epoch>> = Some(initial_capabilities.swap_remove(1));
        let mut open: BTreeMap<Epoch, OpenEpoch> = BTreeMap::new();
        let mut spare: Vec<BatchWords> = Vec::new();
        let mut open_lines = OpenLines::default();
        let mut dictionary = Dictionary::new(key);
        let mut retractions = Retractions::new(retraction_delay);
        let (mut brought, mut scratch, mut changes): (Counts, Counts, Vec<_>) = Default::default();
        move |frontiers| {
            input.for_each(|cap, data| {
                let Some(&epoch) = cap.least() else { return };
                let entry = open.entry(epoch).or_insert_with(|| OpenEpoch {
                    words_cap: cap.delayed(&epoch, 0),
                    tally_cap: cap.delayed(&epoch, 2),
                    words: spare.pop().unwrap_or_default(),
                    tally: EpochTally::default(),
                });
                for chunk in data.iter() {
                    if chunk.cuts_line {
                        // The line's counts so far go into this batch; it goes on.
                        if let Some(line) = open_lines.end(chunk.reader) {
                            count_in(line, epoch, entry, &mut dictionary);
                        }
                        continue;
                    }
                    if chunk.ends_mid_line {
                        // A piece of a line that has not ended yet counts where the line ends;
                        // what may wait no longer counts here.
                        if let Some(line) = open_lines.add_piece(chunk, &tokenizer) {
                            count_in(line, epoch, entry, &mut dictionary);
                        }
                        continue;
                    }
                    // The words stay borrowed from the text until counted.
                    let text = Tokenizer::text(chunk);
                    let mut counting = dictionary.counting(epoch, &mut entry.words);
                    entry.tally +=
                        tokenizer.for_each_word_in(&text, chunk, |word| counting.add(word));
                    drop(counting);
                    // The end of a line whose pieces went before: their counts join it.
                    if chunk.continues_line {
                        if let Some(line) = open_lines.end(chunk.reader) {
                            count_in(line, epoch, entry, &mut dictionary);
                        }
                    }
                }
                progress.add(data.len() as u64);
            });

            let frontier = &frontiers[0];
            let mut words_handle = words_output.activate();
            let mut names_handle = names_output.activate();
            let mut tally_handle = tally_output.activate();
            // Words new to the dictionary, at the frontier the input had before this
            // activation: no earlier than any batch that counts them.
            if let Some(cap) = &names_cap {
                names_handle
                    .session(cap)
                    .give_container(&mut dictionary.take_learned());
            }
            // Batches complete, in order: those with words here, and those in which words of
            // an earlier batch are retracted.
            loop {
                let first_batch = open.first_key_value().map(|(&epoch, _)| epoch);
                let first_due = retractions.first_due();
                let Some(epoch) = first_batch.into_iter().chain(first_due).min() else {
                    break;
                };
                if frontier.less_equal(&epoch) {
                    break;
                }
                let batch = (first_batch == Some(epoch)).then(|| open.pop_first().unwrap().1);
                let due = retractions.take(epoch);
                let (cap, batch) = match (batch, due.as_ref()) {
                    (Some(mut batch), _) => {
                        dictionary.drain(epoch, &mut batch.words, |id, count| {
                            brought.push((id, count));
                        });
                        net::sort_by_id(&mut brought, &mut scratch);
                        (batch.words_cap.clone(), Some(batch))
                    }
                    (None, Some((cap, _))) => (cap.clone(), None),
                    (None, None) => unreachable!("an epoch with a batch or retractions"),
                };
                let retracted = due.as_ref().map_or(&[][..], |(_, counts)| &counts[..]);
                net::net(&brought, retracted, epoch, &mut changes);
                words_handle.session(&cap).give_container(&mut changes);
                if let Some(batch) = batch {
                    tally_handle.session(&batch.tally_cap).give(batch.tally);
                    spare.push(batch.words.emptied());
                }
                let used = brought.len();
                let kept = std::mem::take(&mut brought);
                brought = match retractions.hold(epoch, &cap, kept) {
                    Some(unheld) => unheld,
                    None => due.map(|(_, counts)| counts).unwrap_or_default(),
                };
                // Emptied for the next batch; a burst's capacity is given back once batches are
                // small again.
                net::trim(&mut brought, used);
                net::trim(&mut scratch, used);
                net::trim(&mut changes, used);
            }
            let Some(&next) = frontier.frontier().first() else {
                // The input is done, and every batch drained: nothing more to tell.
                names_cap = None;
                return;
            };
            // The dictionary may forget what it has not seen lately (what open batches count
            // stays; long lines count by name), also when the batches just completed brought
            // this worker nothing. Worker 0 hears of it at the input's frontier now: after
            // every batch that counted those words.
            if let Some(complete) = next.checked_sub(1) {
                dictionary.sweep(complete);
            }
            if let Some(cap) = &mut names_cap {
                cap.downgrade(&next);
                names_handle
                    .session(cap)
                    .give_container(&mut dictionary.take_learned());
            }
        }
    });

    PreAggregated {
        words,
        names,
        tallies,
    }
}
