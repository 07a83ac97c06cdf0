//! What one worker's batch changes: the counts it brings, minus the counts it retracts.
//!
//! Each mode retracts a batch's counts a fixed number of batches after they arrived (one for
//! per-batch counts, the window's length, never for running totals: `mode::Retraction`). A
//! worker keeps the sorted list of counts of each of its batches until that list is due
//! (`worker_batches`), and then emits the batch's own counts and the due list negated as one
//! sorted, consolidated run: one update per word
//! that changed, where a retraction stream beside the arrivals would give two (and the
//! arrangement would merge them). Differential's `count_total` then counts as before.

use super::sorted_runs::Update;
use super::{Epoch, WordId};

/// Counts of words, sorted by id.
pub type Counts = Vec<(WordId, isize)>;

/// Below this many updates a plain sort is as fast as bucketing them first.
const BUCKET_ABOVE: usize = 1024;

/// Sorts a batch's counts by id. Ids are uniform hashes, so one pass that buckets them by their
/// top bits leaves a few ids per bucket, each bucket sorted by itself: about twice as fast as a
/// comparison sort of the whole batch (measured on 28 k ids).
pub fn sort_by_id(counts: &mut Counts, scratch: &mut Counts) {
    if counts.len() < BUCKET_ABOVE {
        counts.sort_unstable_by_key(|&(id, _)| id);
        return;
    }
    // About four ids a bucket.
    let bits = (counts.len() / 4).ilog2().clamp(8, 20);
    let bucket = |id: WordId| (id.high() >> (64 - bits)) as usize;
    let mut starts = vec![0usize; (1 << bits) + 1];
    for &(id, _) in counts.iter() {
        starts[bucket(id) + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    scratch.clear();
    scratch.resize(counts.len(), (WordId::default(), 0));
    let mut next = starts.clone();
    for &(id, count) in counts.iter() {
        let slot = &mut next[bucket(id)];
        scratch[*slot] = (id, count);
        *slot += 1;
    }
    for range in starts.windows(2) {
        if range[1] - range[0] > 1 {
            scratch[range[0]..range[1]].sort_unstable_by_key(|&(id, _)| id);
        }
    }
    std::mem::swap(counts, scratch);
}

/// Empties a buffer for reuse, giving back most of its capacity when that is far more than the
/// `used` elements the latest batch needed (after a burst), keeping what steady batches reuse.
pub fn trim<T>(buffer: &mut Vec<T>, used: usize) {
    buffer.clear();
    let enough = 2 * used + BUCKET_ABOVE;
    if buffer.capacity() > 2 * enough {
        buffer.shrink_to(enough);
    }
}

/// Appends to `out`, at `epoch`, `brought` minus `retracted` (both sorted by id), summing each
/// word's updates into one and leaving out those that cancel.
pub fn net(
    brought: &[(WordId, isize)],
    retracted: &[(WordId, isize)],
    epoch: Epoch,
    out: &mut Vec<Update<WordId>>,
) {
    // `out` was handed on whole with the last batch: size it once, not by doubling.
    out.reserve(brought.len() + retracted.len());
    let (mut a, mut b) = (brought.iter().peekable(), retracted.iter().peekable());
    let mut push = |id: WordId, change: isize| match out.last_mut() {
        Some(((last, ()), _, sum)) if *last == id => {
            *sum += change;
            if *sum == 0 {
                out.pop();
            }
        }
        _ if change != 0 => out.push(((id, ()), epoch, change)),
        _ => {}
    };
    loop {
        match (a.peek(), b.peek()) {
            (Some(&&(x, c)), Some(&&(y, _))) if x <= y => {
                push(x, c);
                a.next();
            }
            (_, Some(&&(y, c))) => {
                push(y, -c);
                b.next();
            }
            (Some(&&(x, c)), None) => {
                push(x, c);
                a.next();
            }
            (None, None) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataflow::WordKey;

    fn ids(n: usize) -> Vec<WordId> {
        let key = WordKey::from_seed([5; 16]);
        (0..n).map(|i| key.id(&format!("w{i}"))).collect()
    }

    #[test]
    fn bucketing_sorts_as_a_sort_does() {
        for n in [0, 1, 5, BUCKET_ABOVE - 1, BUCKET_ABOVE, 30_000] {
            let mut counts: Counts = ids(n).into_iter().zip(1..).collect();
            let mut expected = counts.clone();
            expected.sort();
            sort_by_id(&mut counts, &mut Vec::new());
            assert_eq!(counts, expected, "{n} ids");
        }
    }

    #[test]
    fn a_batch_nets_its_counts_against_those_it_retracts() {
        let mut id = ids(4);
        id.sort();
        let brought = [(id[0], 2), (id[1], 1), (id[3], 5)];
        let retracted = [(id[1], 1), (id[2], 4), (id[3], 2)];
        let mut out = Vec::new();
        net(&brought, &retracted, 7, &mut out);
        assert_eq!(
            out,
            [
                ((id[0], ()), 7, 2),
                ((id[2], ()), 7, -4),
                ((id[3], ()), 7, 3)
            ]
        );
    }

    #[test]
    fn a_word_listed_twice_in_a_batch_is_summed() {
        let mut id = ids(2);
        id.sort();
        let mut out = Vec::new();
        net(
            &[(id[0], 2), (id[0], 3), (id[1], 1)],
            &[(id[0], 5)],
            1,
            &mut out,
        );
        assert_eq!(out, [((id[1], ()), 1, 1)]);
    }
}
