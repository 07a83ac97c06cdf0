//! Splitting chunks into words and combining them per worker and per batch, before the
//! exchange: Spark's map-side combine. Differential then sees one update per changed word per
//! worker per batch, not one per word (net of what the batch retracts, see `net`), and its key
//! is the word's id; the word's name goes to worker 0 once per dictionary entry.

use std::collections::BTreeMap;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::{Capability, InputCapability};
use timely::dataflow::StreamVec;

use std::sync::Arc;

use super::dictionary::NameChange;
use super::mode::Retraction;
use super::sorted_runs::Update;
use super::worker_batches::WorkerBatches;
use super::{ChunkProgress, Epoch, InputEnd, WordId, WordKey};
use crate::stats::EpochTally;
use crate::tokenize::Tokenizer;
use crate::vocab::Chunk;

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
        let marker = chunk.text.is_empty() && !chunk.line.continues_line();
        if chunk.line.ends_mid_line() {
            self.open_lines.insert(chunk.reader, worker);
        } else if !marker {
            self.open_lines.remove(&chunk.reader);
        }
        worker
    }
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
/// complete, emits what it changes: each distinct word's count, minus the counts that
/// `retraction` retracts in that batch (see `worker_batches`), sorted by id. Also emits what the dictionary
/// learned and forgot, and each worker's tally per batch.
pub fn pre_aggregate<'scope>(
    chunks: StreamVec<'scope, Epoch, Chunk>,
    tokenizer: Tokenizer,
    progress: Arc<ChunkProgress>,
    key: WordKey,
    retraction: Retraction,
    input_end: InputEnd,
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
        let mut batches = WorkerBatches::new(tokenizer, key, retraction);
        let mut caps = BatchCaps::default();
        // The input's frontier when last seen open: the end, once it closes.
        let mut last_open: Option<Epoch> = None;
        move |frontiers| {
            input.for_each(|cap, data| {
                let Some(&epoch) = cap.least() else { return };
                caps.arrived(epoch, &cap);
                for chunk in data.iter() {
                    batches.absorb(epoch, chunk);
                }
                progress.add(data.len() as u64);
            });

            let frontier = &frontiers[0];
            if let (InputEnd::AfterReports, true, Some(end)) =
                (input_end, frontier.frontier().is_empty(), last_open)
            {
                // Every batch before the end is reported: its retractions are never needed.
                batches.forget_due_from(end);
                caps.forget_retractions_from(end);
            }
            let mut words_handle = words_output.activate();
            let mut names_handle = names_output.activate();
            let mut tally_handle = tally_output.activate();
            // Words new to the dictionary, at the frontier the input had before this
            // activation: no earlier than any batch that counts them.
            if let Some(cap) = &names_cap {
                names_handle
                    .session(cap)
                    .give_container(&mut batches.take_learned());
            }
            batches.complete(
                |epoch| frontier.less_equal(&epoch),
                |done| {
                    let (cap, tally_cap) = caps.take(done.epoch);
                    words_handle.session(&cap).give_container(done.changes);
                    if let (Some(tally), Some(tally_cap)) = (done.tally, tally_cap) {
                        tally_handle.session(&tally_cap).give(tally);
                    }
                    if let Some(later) = done.retracted_in {
                        caps.retracts(later, &cap);
                    }
                },
            );
            let Some(&next) = frontier.frontier().first() else {
                // The input is done, and every batch drained: nothing more to tell.
                names_cap = None;
                return;
            };
            last_open = Some(next);
            // The dictionary may forget what it has not seen lately, also when the batches
            // just completed brought this worker nothing. Worker 0 hears of it at the input's
            // frontier now: after every batch that counted those words.
            if let Some(complete) = next.checked_sub(1) {
                batches.sweep(complete);
            }
            if let Some(cap) = &mut names_cap {
                cap.downgrade(&next);
                names_handle
                    .session(cap)
                    .give_container(&mut batches.take_learned());
            }
        }
    });

    PreAggregated {
        words,
        names,
        tallies,
    }
}

/// The capabilities to emit at the batches `WorkerBatches` holds: for each batch that brought
/// words, one for its changes and one for its tally; for each batch in which earlier counts
/// are retracted, one for its changes.
#[derive(Default)]
struct BatchCaps {
    arrived: BTreeMap<Epoch, (Capability<Epoch>, Capability<Epoch>)>,
    retracting: BTreeMap<Epoch, Capability<Epoch>>,
}

impl BatchCaps {
    /// Words arrived in `epoch`, with `cap`.
    fn arrived(&mut self, epoch: Epoch, cap: &InputCapability<Epoch>) {
        self.arrived
            .entry(epoch)
            .or_insert_with(|| (cap.delayed(&epoch, 0), cap.delayed(&epoch, 2)));
    }

    /// Counts emitted with `cap` are retracted in batch `later`.
    fn retracts(&mut self, later: Epoch, cap: &Capability<Epoch>) {
        self.retracting.insert(later, cap.delayed(&later));
    }

    /// Nothing will be retracted in batch `end` or later.
    fn forget_retractions_from(&mut self, end: Epoch) {
        drop(self.retracting.split_off(&end));
    }

    /// The capabilities for `epoch`, which is complete: its changes', and its tally's if it
    /// brought words.
    fn take(&mut self, epoch: Epoch) -> (Capability<Epoch>, Option<Capability<Epoch>>) {
        let retracting = self.retracting.remove(&epoch);
        match self.arrived.remove(&epoch) {
            Some((words, tally)) => (words, Some(tally)),
            None => (
                retracting.expect("a complete batch brought words or retracts some"),
                None,
            ),
        }
    }
}
