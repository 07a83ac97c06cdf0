//! The timely/differential dataflow: chunks of lines in, each batch's changed counts out.
//!
//! ```text
//! chunks ──round-robin──▶ split, combine, net ──▶ count_total (arranged by word id)
//!  (a reading worker)      (every worker)           (every worker)
//!                              │ names, tallies                │ changed counts
//!                              └──────────────▶ gather on worker 0 ◀┘ ──▶ probe
//! ```
//!
//! Epochs are batches. The three modes differ only in when a word is retracted: one batch
//! after it arrives (per-batch counts), never (running totals), or a window later ([`mode`]).
//! Each worker emits a batch's counts net of what the batch retracts, as one run sorted by
//! word id ([`net`]), and the arrangement merges those runs ([`sorted_runs`]).

mod dictionary;
mod gather;
mod heartbeat;
mod key;
pub(crate) mod mode;
mod net;
mod open_lines;
mod pre_aggregate;
mod sorted_runs;
mod stop;
mod worker_batches;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use differential_dataflow::operators::CountTotal;
use differential_dataflow::trace::implementations::KeySpine;
use differential_dataflow::AsCollection;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Inspect, Operator, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};
use timely::worker::Worker;

pub use dictionary::NameChange;
pub use gather::Gathered;
pub use heartbeat::Heartbeat;
pub use key::{WordId, WordKey};
pub use mode::Retraction;
pub use pre_aggregate::RoundRobin;
pub use stop::StopSignal;

use crate::source::Waker;
use crate::tokenize::Tokenizer;
pub use crate::vocab::{Chunk, Epoch, Word};

/// How many chunks the workers of this process have split, so that the reading worker hands
/// out only a bounded number ahead of them; each worker wakes it as it finishes some.
#[derive(Debug, Default)]
pub struct ChunkProgress {
    processed: AtomicU64,
    waker: Waker,
}

impl ChunkProgress {
    /// Progress that wakes the thread registered with `waker`.
    pub fn new(waker: Waker) -> ChunkProgress {
        ChunkProgress {
            processed: AtomicU64::new(0),
            waker,
        }
    }

    /// Chunks split so far.
    pub fn processed(&self) -> u64 {
        self.processed.load(Ordering::Acquire)
    }

    fn add(&self, chunks: u64) {
        self.processed.fetch_add(chunks, Ordering::Release);
        self.waker.wake();
    }
}

/// A worker's handles on its copy of the dataflow.
pub struct WordCount {
    /// Where the reading worker feeds chunks; other workers drop theirs at once.
    pub input: InputHandleVec<Epoch, Chunk>,
    /// Where worker 0 feeds a checkpoint's counts back after a restart, at the batches they
    /// arrived in (the mode retracts them as any other arrival); dropped once fed (or at once).
    pub restore: RestoreInput,
    /// With `--checkpoint` and `--every-process-reads`: where worker 0 announces the batch its
    /// latest snapshot covers, so that every reading process can drop that part of its log.
    pub control: InputHandleVec<Epoch, Epoch>,
    /// The latest batch announced on `control`, as seen on this worker.
    pub covered: Rc<Cell<Option<Epoch>>>,
    /// Passes epoch e once every worker is done with it and its results reached worker 0.
    pub probe: ProbeHandle<Epoch>,
    /// On worker 0: each epoch's changed counts and tallies (empty on other workers).
    pub gathered: Rc<RefCell<Gathered>>,
    /// When the reading worker must close `input`, as the workers expect.
    pub input_end: InputEnd,
}

/// Where a checkpoint's counts go back into the dataflow, by word: their ids are the job's.
pub struct RestoreInput {
    input: InputHandleVec<Epoch, (WordId, Epoch, isize)>,
    key: WordKey,
}

impl RestoreInput {
    /// Feeds the counts of batch `epoch` back in, sorted by id (so that they reach the
    /// arrangement as one sorted run, which it merges without sorting: in the order of the
    /// snapshot they cost a merge of every run so far every few thousand words, minutes for
    /// millions); returns each word with its id.
    pub fn send_batch(&mut self, epoch: Epoch, counts: Vec<(Word, isize)>) -> Vec<(WordId, Word)> {
        let mut by_id: Vec<(WordId, Word, isize)> = counts
            .into_iter()
            .map(|(word, count)| (self.key.id(&word), word, count))
            .collect();
        by_id.sort_unstable_by_key(|(id, ..)| *id);
        by_id
            .into_iter()
            .map(|(id, word, count)| {
                self.input.send((id, epoch, count));
                (id, word)
            })
            .collect()
    }
}

/// How the input closes, which says what the workers may leave undone at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputEnd {
    /// Only once every batch before it is reported (one process feeds, and its driver holds
    /// the input open until then): what the mode would retract after the end is never
    /// reported, so it is never computed.
    AfterReports,
    /// Whenever its feeders are done (several processes feed, or a test): every batch due is
    /// computed.
    Whenever,
}

impl InputEnd {
    /// How the input of a job that `several_feed` closes: the reporter learns the last epoch
    /// of several feeders only once every input has closed, so they cannot wait for it.
    pub fn of_job(several_feed: bool) -> InputEnd {
        match several_feed {
            true => InputEnd::Whenever,
            false => InputEnd::AfterReports,
        }
    }
}

/// Builds the word count dataflow on this worker. `retraction` says when a word stops
/// counting after its arrival (the mode), `input_end` when the input closes; `key` is the
/// job's key for word ids, the same on every worker of every process.
pub fn build(
    worker: &mut Worker,
    tokenizer: Tokenizer,
    retraction: Retraction,
    input_end: InputEnd,
    progress: Arc<ChunkProgress>,
    key: WordKey,
) -> WordCount {
    let mut input = InputHandleVec::new();
    let mut restore = InputHandleVec::new();
    let mut control = InputHandleVec::new();
    let covered = Rc::new(Cell::new(None));
    let probe = ProbeHandle::new();
    let gathered = Rc::new(RefCell::new(Gathered::default()));
    worker.dataflow::<Epoch, _, _>(|scope| {
        // The input's own pushes are not flushed to other workers until its epoch ends; an
        // operator's output is flushed after every activation, so chunks pass through one.
        let chunks = input
            .to_stream(scope)
            .unary::<CapacityContainerBuilder<Vec<Chunk>>, _, _, _>(Pipeline, "HandOut", |_, _| {
                move |input, output| {
                    input.for_each(|cap, data| output.session(&cap).give_container(data));
                }
            });
        let words =
            pre_aggregate::pre_aggregate(chunks, tokenizer, progress, key, retraction, input_end);
        // A checkpoint's counts come back as arrivals, and the mode retracts them here; the
        // workers' own words come with their retractions already netted in.
        let restored = mode::live(restore.to_stream(scope).as_collection(), retraction);
        let changes = words
            .words
            .as_collection()
            .concat(restored.map(|id| (id, ())));
        // Each worker's updates of a batch arrive as one sorted run (see `sorted_runs`): the
        // arrangement merges them instead of sorting them again.
        let counts = changes
            .arrange_named::<_, KeySpine<WordId, Epoch, isize>>("Arrange: CountTotal", |_, _| {
                sorted_runs::SortedRuns::default()
            })
            .count_total();
        gather::gather_counts(counts.inner, gathered.clone()).probe_with(&probe);
        gather::gather_names(words.names, gathered.clone()).probe_with(&probe);
        gather::gather_tallies(words.tallies, gathered.clone()).probe_with(&probe);
        let seen = covered.clone();
        control
            .to_stream(scope)
            .broadcast()
            .inspect(move |&epoch: &Epoch| seen.set(seen.get().max(Some(epoch))));
    });
    WordCount {
        input,
        restore: RestoreInput {
            input: restore,
            key,
        },
        control,
        covered,
        probe,
        gathered,
        input_end,
    }
}

#[cfg(test)]
mod tests;
