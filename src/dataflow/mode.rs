//! The three modes as one function over collections, in differential's style.
//!
//! Every word arrives once, with its count, at the batch it arrived in. What a report counts is
//! that collection plus, `d` batches later, the same collection negated: each word leaves again
//! one batch after it came (`batch`), after the window (`window`), or never (`incremental`).
//! A checkpoint's restored counts are retracted here; the workers' own words are retracted by
//! the same rule where they are combined (`net`), netted with each batch's arrivals so that a
//! word that changed gives one update, not two.

use differential_dataflow::Collection;

use super::{Epoch, WordId};

/// Word counts as they arrive: `+count` at the batch of arrival.
pub type Arrivals<'scope> = Collection<'scope, Epoch, Vec<(WordId, Epoch, isize)>>;

/// The words that count at each batch: `arrivals`, retracted `delay` batches later (never when
/// `delay` is `None`).
pub fn live(arrivals: Arrivals<'_>, delay: Option<u64>) -> Arrivals<'_> {
    match delay {
        None => arrivals,
        Some(delay) => {
            let departures = arrivals.clone().delay(move |epoch| epoch + delay).negate();
            arrivals.concat(departures)
        }
    }
}
