//! The batcher of `count_total`'s arrangement: updates that arrive in sorted runs are merged,
//! not sorted again.
//!
//! Differential's default `MergeBatcher` cuts its input into chunks of a few hundred updates,
//! sorts each, and merges the chunks in a ladder: every update is copied and compared about
//! log2(chunks) times (measured: 120–200 ns of a batch's work per distinct word). Here every
//! worker already emits each batch's updates sorted by id (see `net`), and a checkpoint's
//! restored counts keep their order through the mode's delay, so what reaches the arrangement
//! is a few long sorted runs (one per sender and time). [`SortedRuns`] appends each arriving container to a run it extends, and merges the
//! few runs once, when a batch is extracted. A container that is not sorted (none of netwc's
//! are, but the batcher does not rely on it) is sorted and consolidated first, so the batcher
//! is correct for any input.

use differential_dataflow::batcher::merge::Sealer;
use differential_dataflow::batcher::{Batcher, Extract};
use differential_dataflow::consolidation::consolidate_updates;
use differential_dataflow::trace::implementations::ord_neu::OrdKeyBatch;
use differential_dataflow::trace::implementations::{KeyBuilder, Vector};
use timely::progress::frontier::{Antichain, AntichainRef};

use super::Epoch;

/// An update of a key-only arrangement: `((key, ()), time, diff)`.
pub type Update<K> = ((K, ()), Epoch, isize);

/// Runs held before they are merged all at once, whatever the input: a bound on the work of
/// one merge and on the cost of finding a run to extend.
const MAX_RUNS: usize = 32;

/// A sorted run of updates (by key, then time; equal neighbours allowed, summed at merge).
struct Run<K> {
    updates: Vec<Update<K>>,
    /// The least time in `updates`.
    earliest: Epoch,
}

/// A [`Batcher`] for inputs that come as sorted runs: see the module documentation.
pub struct SortedRuns<K> {
    runs: Vec<Run<K>>,
    /// The least time of the updates held, after the last extraction.
    frontier: Antichain<Epoch>,
}

impl<K> Default for SortedRuns<K> {
    fn default() -> SortedRuns<K> {
        SortedRuns {
            runs: Vec::new(),
            frontier: Antichain::new(),
        }
    }
}

/// The order of updates in a run.
fn position<K: Ord>(update: &Update<K>) -> (&K, Epoch) {
    (&update.0 .0, update.1)
}

impl<K: Ord + Clone + 'static> SortedRuns<K> {
    /// Merges every run into one.
    fn merge_all(&mut self) {
        let runs = std::mem::take(&mut self.runs);
        if let Some(run) = merge_runs(runs) {
            self.runs.push(run);
        }
    }
}

impl<K: Ord + Clone + 'static> Batcher<Vec<Update<K>>> for SortedRuns<K> {
    fn insert(&mut self, container: &mut Vec<Update<K>>) {
        if container.is_empty() {
            return;
        }
        if !container
            .windows(2)
            .all(|pair| position(&pair[0]) <= position(&pair[1]))
        {
            consolidate_updates(container);
            if container.is_empty() {
                return;
            }
        }
        let earliest = container.iter().map(|update| update.1).min();
        let earliest = earliest.expect("a container that is not empty");
        let first = position(&container[0]);
        let extends = self.runs.iter().position(|run| {
            run.updates
                .last()
                .is_some_and(|last| position(last) <= first)
        });
        match extends {
            Some(index) => {
                let run = &mut self.runs[index];
                run.updates.append(container);
                run.earliest = run.earliest.min(earliest);
            }
            None => {
                if self.runs.len() >= MAX_RUNS {
                    self.merge_all();
                }
                self.runs.push(Run {
                    updates: std::mem::take(container),
                    earliest,
                });
            }
        }
    }
}

impl<K: Ord + Clone + 'static> Extract for SortedRuns<K> {
    type Time = Epoch;
    type Output = OrdKeyBatch<Vector<Update<K>>>;

    fn extract<'a>(
        &'a mut self,
        upper: AntichainRef<'_, Epoch>,
    ) -> (Option<Self::Output>, AntichainRef<'a, Epoch>) {
        // Times are totally ordered: an update is ready when its time is before `upper`'s one
        // element (every update, when `upper` is empty).
        let ready = |time: Epoch| upper.first().is_none_or(|&bound| time < bound);
        let (touched, untouched): (Vec<Run<K>>, Vec<Run<K>>) = std::mem::take(&mut self.runs)
            .into_iter()
            .partition(|run| ready(run.earliest));
        self.runs = untouched;
        let mut batch = None;
        if let Some(merged) = merge_runs(touched) {
            // Usually every update is ready: the run is the batch, not copied.
            let (now, later): (Vec<Update<K>>, Vec<Update<K>>) =
                if merged.updates.iter().all(|update| ready(update.1)) {
                    (merged.updates, Vec::new())
                } else {
                    merged
                        .updates
                        .into_iter()
                        .partition(|update| ready(update.1))
                };
            if let Some(earliest) = later.iter().map(|update| update.1).min() {
                self.runs.push(Run {
                    updates: later,
                    earliest,
                });
            }
            if !now.is_empty() {
                batch = KeyBuilder::<K, Epoch, isize>::seal(&mut vec![now]);
            }
        }
        self.frontier.clear();
        if let Some(earliest) = self.runs.iter().map(|run| run.earliest).min() {
            self.frontier.insert(earliest);
        }
        (batch, self.frontier.borrow())
    }
}

/// Merges sorted runs into one, summing the diffs of equal (key, time) and dropping zeros;
/// `None` if nothing is left.
fn merge_runs<K: Ord + Clone>(mut runs: Vec<Run<K>>) -> Option<Run<K>> {
    if runs.len() == 1 {
        // One run may still hold equal neighbours (a container that began where the run
        // ended): consolidate it in place.
        let mut run = runs.pop()?;
        run.updates.dedup_by(|next, kept| {
            let same = position(next) == position(kept);
            if same {
                kept.2 += next.2;
            }
            same
        });
        run.updates.retain(|update| update.2 != 0);
        return (!run.updates.is_empty()).then_some(run);
    }
    while runs.len() > 1 {
        let mut next = Vec::with_capacity(runs.len().div_ceil(2));
        let mut pairs = runs.into_iter();
        while let Some(a) = pairs.next() {
            match pairs.next() {
                Some(b) => next.push(Run {
                    earliest: a.earliest.min(b.earliest),
                    updates: merge_two(a.updates, b.updates),
                }),
                None => next.push(a),
            }
        }
        runs = next;
    }
    let run = runs.pop()?;
    let earliest = run.updates.iter().map(|update| update.1).min()?;
    Some(Run { earliest, ..run })
}

/// Two sorted runs as one, consolidated.
fn merge_two<K: Ord + Clone>(a: Vec<Update<K>>, b: Vec<Update<K>>) -> Vec<Update<K>> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => {
                if position(x) <= position(y) {
                    a.next()
                } else {
                    b.next()
                }
            }
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next(),
            (None, None) => break,
        };
        if let Some(update) = next {
            push_consolidating(&mut out, update);
        }
    }
    out
}

/// Appends `update` to the sorted `out`, adding it to the last update if both are for the same
/// key and time (and removing that one if the sum is zero).
fn push_consolidating<K: Ord>(out: &mut Vec<Update<K>>, update: Update<K>) {
    if let Some(last) = out.last_mut() {
        if position(last) == position(&update) {
            last.2 += update.2;
            if last.2 == 0 {
                out.pop();
            }
            return;
        }
    }
    if update.2 != 0 {
        out.push(update);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use differential_dataflow::trace::{Cursor, Navigable};

    /// Every (key, time, diff) of a batch, in the batch's order.
    fn contents(batch: &OrdKeyBatch<Vector<Update<u64>>>) -> Vec<(u64, Epoch, isize)> {
        let mut cursor = batch.cursor();
        let mut out = Vec::new();
        while let Some(key) = cursor.get_key(batch) {
            cursor.map_times(batch, |time, diff| out.push((*key, *time, *diff)));
            cursor.step_key(batch);
        }
        out
    }

    fn updates(list: &[(u64, Epoch, isize)]) -> Vec<Update<u64>> {
        list.iter().map(|&(k, t, r)| ((k, ()), t, r)).collect()
    }

    #[test]
    fn runs_from_several_senders_merge_into_one_consolidated_batch() {
        let mut batcher = SortedRuns::default();
        batcher.insert(&mut updates(&[(1, 0, 1), (3, 0, 2)]));
        batcher.insert(&mut updates(&[(2, 0, 1), (3, 0, -2)]));
        // Continues the first run, beginning where it ended.
        batcher.insert(&mut updates(&[(3, 0, 5), (4, 0, 1)]));
        // Not sorted, and a later time: kept back.
        batcher.insert(&mut updates(&[(9, 1, 1), (0, 0, 1), (1, 1, 1), (0, 0, 1)]));
        let (batch, frontier) = batcher.extract(Antichain::from_elem(1).borrow());
        assert_eq!(frontier.to_vec(), vec![1]);
        assert_eq!(
            contents(&batch.unwrap()),
            [(0, 0, 2), (1, 0, 1), (2, 0, 1), (3, 0, 5), (4, 0, 1)]
        );
        let (batch, frontier) = batcher.extract(Antichain::new().borrow());
        assert!(frontier.is_empty());
        assert_eq!(contents(&batch.unwrap()), [(1, 1, 1), (9, 1, 1)]);
    }

    #[test]
    fn updates_that_cancel_make_no_batch() {
        let mut batcher = SortedRuns::default();
        batcher.insert(&mut updates(&[(1, 0, 1)]));
        batcher.insert(&mut updates(&[(1, 0, -1)]));
        let (batch, frontier) = batcher.extract(Antichain::from_elem(5).borrow());
        assert!(batch.is_none());
        assert!(frontier.is_empty());
    }

    #[test]
    fn many_runs_are_merged_as_they_come() {
        let mut batcher = SortedRuns::default();
        let mut expected = Vec::new();
        for round in 0..(3 * MAX_RUNS as u64) {
            // Each container starts below the last: a new run every time.
            let key = 1000 - round;
            batcher.insert(&mut updates(&[(key, 0, 1), (key + 5000, 0, 1)]));
            expected.extend([(key, 0, 1), (key + 5000, 0, 1)]);
            assert!(batcher.runs.len() <= MAX_RUNS);
        }
        expected.sort();
        let (batch, _) = batcher.extract(Antichain::from_elem(1).borrow());
        assert_eq!(contents(&batch.unwrap()), expected);
    }
}
