//! The three modes as one function over collections, in differential's style.
//!
//! Every word arrives once, with its count, at the batch it arrived in. What a report counts is
//! that collection plus, `d` batches later, the same collection negated: each word leaves again
//! one batch after it came (`batch`), after the window (`window`), or never (`incremental`).
//! The rule is stated once, as [`Retraction`]: a checkpoint's restored counts are retracted by
//! it here ([`live`]); the workers' own words are retracted by it where they are combined
//! (`worker_batches`), netted with each batch's arrivals so that a word that changed gives one
//! update, not two.

use differential_dataflow::Collection;

use super::{Epoch, WordId};

/// Word counts as they arrive: `+count` at the batch of arrival.
pub type Arrivals<'scope> = Collection<'scope, Epoch, Vec<(WordId, Epoch, isize)>>;

/// When what arrived in a batch stops counting: the mode, as far as counting goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retraction {
    /// Batches after arrival (`None`: never).
    delay: Option<u64>,
}

impl Retraction {
    /// Retraction `delay` batches after arrival: 1 for per-batch counts, the window's length
    /// in batches for a window, `None` (never) for running totals.
    pub fn after(delay: Option<u64>) -> Retraction {
        Retraction { delay }
    }

    /// The batch in which what arrived in `arrival` is retracted (`None`: never; the job's
    /// settings keep every batch it can reach below `u64::MAX`).
    pub fn due(&self, arrival: Epoch) -> Option<Epoch> {
        self.delay.and_then(|delay| arrival.checked_add(delay))
    }
}

/// The words that count at each batch: `arrivals`, retracted as `retraction` says.
pub fn live(arrivals: Arrivals<'_>, retraction: Retraction) -> Arrivals<'_> {
    if retraction.delay.is_none() {
        return arrivals;
    }
    let departures = arrivals
        .clone()
        .delay(move |epoch| retraction.due(*epoch).unwrap_or(Epoch::MAX))
        .negate();
    arrivals.concat(departures)
}
