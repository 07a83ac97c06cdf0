//! Bringing each batch's results to worker 0, which reports them.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Operator;
use timely::dataflow::StreamVec;
use timely::ExchangeData;

use super::{Epoch, NameChange, WordId};
use crate::stats::EpochTally;

/// What worker 0 has gathered of one epoch so far.
#[derive(Debug, Default)]
pub struct EpochResult {
    /// Changes to word counts at this epoch: (id, change). An id can appear more than once.
    pub changes: Vec<(WordId, isize)>,
    /// What the workers' dictionaries learned and forgot, for the names worker 0 keeps.
    pub names: Vec<(WordId, NameChange)>,
    /// Words counted and dropped, over all workers.
    pub tally: EpochTally,
}

/// Results by epoch, filled by the dataflow and taken by the reporter once the probe passes.
#[derive(Debug, Default)]
pub struct Gathered {
    by_epoch: BTreeMap<Epoch, EpochResult>,
    /// The latest epoch any worker had chunks (or an epoch mark) in.
    last_epoch: Option<Epoch>,
}

impl Gathered {
    /// Removes and returns what was gathered for `epoch` (empty if nothing was), with what
    /// was gathered at earlier epochs that no report took: the names a dictionary learned
    /// before the first reported batch (it tells them at its input's frontier, which may be
    /// earlier) go with the first report.
    pub fn take(&mut self, epoch: Epoch) -> EpochResult {
        let later = match epoch.checked_add(1) {
            Some(next) => self.by_epoch.split_off(&next),
            None => BTreeMap::new(),
        };
        let taken = std::mem::replace(&mut self.by_epoch, later);
        let mut result = EpochResult::default();
        for (_, mut earlier) in taken {
            result.names.append(&mut earlier.names);
            result.changes.append(&mut earlier.changes);
            result.tally += earlier.tally;
        }
        result
    }

    /// The latest epoch that any worker saw chunks in.
    pub fn last_epoch(&self) -> Option<Epoch> {
        self.last_epoch
    }
}

/// Routes `stream` to worker 0, where `record` files each message, with its epoch, into
/// `gathered`.
fn gather<'scope, D: ExchangeData>(
    stream: StreamVec<'scope, Epoch, D>,
    name: &str,
    gathered: Rc<RefCell<Gathered>>,
    mut record: impl FnMut(&mut Gathered, Epoch, &mut Vec<D>) + 'static,
) -> StreamVec<'scope, Epoch, ()> {
    stream.unary::<CapacityContainerBuilder<Vec<()>>, _, _, _>(
        Exchange::new(|_: &D| 0),
        name,
        move |_, _| {
            move |input, _output| {
                let mut gathered = gathered.borrow_mut();
                input.for_each(|cap, data| {
                    let Some(&epoch) = cap.least() else { return };
                    record(&mut gathered, epoch, data);
                });
            }
        },
    )
}

/// Routes `count_total`'s output, `((word, count), time, diff)`, to worker 0 and records each
/// as a change of `count * diff` to the word's count at that time. `count_total` gives a
/// word's old count and its new one side by side: they are summed into one change.
pub fn gather_counts<'scope>(
    counts: StreamVec<'scope, Epoch, ((WordId, isize), Epoch, isize)>,
    gathered: Rc<RefCell<Gathered>>,
) -> StreamVec<'scope, Epoch, ()> {
    gather(counts, "GatherCounts", gathered, |gathered, _, data| {
        let mut updates = data.drain(..).peekable();
        while let Some(&(_, epoch, _)) = updates.peek() {
            // A message holds one epoch, as a rule: one lookup for the run of it.
            let changes = &mut gathered.by_epoch.entry(epoch).or_default().changes;
            while let Some(((id, count), _, diff)) = updates.next_if(|update| update.1 == epoch) {
                match changes.last_mut() {
                    Some((last, change)) if *last == id => *change += count * diff,
                    _ => changes.push((id, count * diff)),
                }
            }
        }
    })
}

/// Routes what the dictionaries learned and forgot to worker 0.
pub fn gather_names<'scope>(
    names: StreamVec<'scope, Epoch, (WordId, NameChange)>,
    gathered: Rc<RefCell<Gathered>>,
) -> StreamVec<'scope, Epoch, ()> {
    gather(names, "GatherNames", gathered, |gathered, epoch, data| {
        gathered
            .by_epoch
            .entry(epoch)
            .or_default()
            .names
            .append(data);
    })
}

/// Routes each worker's per-epoch tally to worker 0 and sums them.
pub fn gather_tallies<'scope>(
    tallies: StreamVec<'scope, Epoch, EpochTally>,
    gathered: Rc<RefCell<Gathered>>,
) -> StreamVec<'scope, Epoch, ()> {
    gather(
        tallies,
        "GatherTallies",
        gathered,
        |gathered, epoch, data| {
            gathered.last_epoch = gathered.last_epoch.max(Some(epoch));
            let entry = gathered.by_epoch.entry(epoch).or_default();
            for tally in data.drain(..) {
                entry.tally += tally;
            }
        },
    )
}
