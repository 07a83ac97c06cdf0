//! A report's rows: the words of the table in report order (count descending, then word
//! ascending), cut to `--top`, borrowed from the table.

use std::cmp::Ordering;

use crate::prefetch::{prefetch, read_ahead};
use crate::vocab::Word;

/// The rows of one report, in order: count descending, then word ascending (by code point).
/// The words are borrowed from the table: a report of every word of a batch copies no name
/// and touches no name's reference count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows<'a> {
    /// At most `top` rows.
    pub rows: Vec<(&'a str, isize)>,
    /// How many rows there were before `top` cut them.
    pub total: usize,
}

impl<'a> Rows<'a> {
    /// Whether `top` left rows out.
    pub fn more(&self) -> bool {
        self.total > self.rows.len()
    }

    /// The rows in order, each word's text asked of memory a few rows before it is read: the
    /// names lie scattered over the heap, and a report of a batch's every word otherwise waits
    /// for memory once a row (86 % of the TSV writer's samples on the yardstick's 100 batches).
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, isize)> + '_ {
        read_ahead(&self.rows, |(word, _)| prefetch(word.as_ptr())).copied()
    }
}

/// Sorts rows, keeping the first `top`.
pub(crate) fn top_rows(mut rows: Vec<(&Word, isize)>, top: Option<usize>) -> Rows<'_> {
    let total = rows.len();
    if let Some(top) = top.filter(|&top| top < rows.len()) {
        // The first `top` rows hold the `top` highest counts: rows below the least of those
        // are left out by their counts alone, before any word's text is read (a batch of
        // 23 k words, cut to 10 rows, then orders a few dozen by text, not all of them).
        if top == 0 {
            rows.clear();
        } else {
            let mut counts: Vec<isize> = rows.iter().map(|&(_, count)| count).collect();
            let least = *counts.select_nth_unstable_by(top - 1, |a, b| b.cmp(a)).1;
            rows.retain(|&(_, count)| count >= least);
        }
    }
    // Each row's first bytes are read for its sort key, asked for a few rows ahead. The keys
    // hold each word as `&str`, read here once from the table's row: after the sort has
    // scattered the rows, reading it from the row again waited for memory once a row.
    let mut keyed: Vec<SortKey<&str>> = read_ahead(&rows, |(word, _)| prefetch(word.as_ptr()))
        .map(|&(word, count)| SortKey::of((&**word, count)))
        .collect();
    drop(rows);
    if let Some(top) = top {
        if top < keyed.len() {
            if top > 0 {
                keyed.select_nth_unstable_by(top - 1, SortKey::order);
            }
            keyed.truncate(top);
        }
    }
    sort_by_count_then_word(&mut keyed);
    Rows {
        rows: keyed.into_iter().map(|key| (key.word, key.count)).collect(),
        total,
    }
}

/// Counts below this are sorted by bucket (see [`sort_by_count_then_word`]).
const COUNT_BUCKETS: usize = 256;

/// Sorts rows in report order. Most rows of a batch have a small count: they are placed by
/// count first (a counting sort over counts 1 to 255), and only rows of one count are
/// compared, by their words; rows of other counts are compared whole. Measured against one
/// sort of all the rows: 3.5 % less CPU on the yardstick's 100-batch run, which prints every
/// word of every batch.
fn sort_by_count_then_word(keyed: &mut Vec<SortKey<&str>>) {
    if keyed.len() < 4 * COUNT_BUCKETS {
        keyed.sort_unstable_by(SortKey::order);
        return;
    }
    let bucket = |count: isize| {
        usize::try_from(count)
            .ok()
            .filter(|&c| (1..COUNT_BUCKETS).contains(&c))
    };
    // Where each bucket starts: counts of `COUNT_BUCKETS` and more first, then 255 down to 1,
    // then 0 and below.
    let mut sizes = [0usize; COUNT_BUCKETS];
    let mut high = 0;
    for key in keyed.iter() {
        match bucket(key.count) {
            Some(b) => sizes[b] += 1,
            None => high += usize::from(key.count > 0),
        }
    }
    let mut starts = [0usize; COUNT_BUCKETS];
    let mut at = high;
    for b in (1..COUNT_BUCKETS).rev() {
        starts[b] = at;
        at += sizes[b];
    }
    let (mut next_high, mut next_low) = (0, at);
    let mut sorted: Vec<Option<SortKey<&str>>> = (0..keyed.len()).map(|_| None).collect();
    for key in keyed.drain(..) {
        let slot = match bucket(key.count) {
            Some(b) => {
                starts[b] += 1;
                starts[b] - 1
            }
            None if key.count > 0 => {
                next_high += 1;
                next_high - 1
            }
            None => {
                next_low += 1;
                next_low - 1
            }
        };
        sorted[slot] = Some(key);
    }
    keyed.extend(sorted.into_iter().flatten());
    keyed[..high].sort_unstable_by(SortKey::order);
    keyed[at..].sort_unstable_by(SortKey::order);
    let mut from = high;
    for b in (1..COUNT_BUCKETS).rev() {
        let run = &mut keyed[from..from + sizes[b]];
        run.sort_unstable_by(|a, b| a.prefix.cmp(&b.prefix).then_with(|| a.word.cmp(b.word)));
        from += sizes[b];
    }
}

/// A row with what orders it up front: most rows of a batch share a small count, and their
/// words then differ in the first 8 bytes, compared as one integer without reading the text.
struct SortKey<R> {
    count: isize,
    /// The word's first 8 bytes, big-endian, padded with zeros.
    prefix: u64,
    word: R,
}

impl<R: AsRef<str>> SortKey<R> {
    fn of((word, count): (R, isize)) -> SortKey<R> {
        let bytes = word.as_ref().as_bytes();
        let mut head = [0u8; 8];
        let n = bytes.len().min(8);
        head[..n].copy_from_slice(&bytes[..n]);
        SortKey {
            count,
            prefix: u64::from_be_bytes(head),
            word,
        }
    }

    /// Highest count first, ties by word: padding with zeros keeps byte order, and equal prefixes (which include a
    /// word and its extension by NUL bytes) fall back to the whole words.
    fn order(a: &SortKey<R>, b: &SortKey<R>) -> Ordering {
        b.count
            .cmp(&a.count)
            .then(a.prefix.cmp(&b.prefix))
            .then_with(|| a.word.as_ref().cmp(b.word.as_ref()))
    }
}

/// The order of rows: highest count first, ties by word (what [`SortKey::order`] does faster).
#[cfg(test)]
pub(crate) fn row_order(a: &(impl AsRef<str>, isize), b: &(impl AsRef<str>, isize)) -> Ordering {
    b.1.cmp(&a.1).then_with(|| a.0.as_ref().cmp(b.0.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_rows_are_those_of_a_whole_sort_cut_to_top_ties_too() {
        // Few distinct counts, so that many rows tie with the least count kept.
        let mut rng = crate::test_rng::TestRng::new(7);
        let mut next = move || rng.below(1 << 31);
        for n in [0usize, 1, 5, 40, 300] {
            let rows: Vec<(String, isize)> = (0..n)
                .map(|i| {
                    (
                        format!("w{}", next() % 1000 + i as u64 * 1000),
                        (next() % 4) as isize,
                    )
                })
                .collect();
            let mut sorted = rows.clone();
            sorted.sort_by(row_order);
            for top in [0usize, 1, 3, 10, n, n + 1] {
                let words: Vec<(Word, isize)> = rows
                    .iter()
                    .map(|(w, c)| (Word::from(w.as_str()), *c))
                    .collect();
                let got = top_rows(words.iter().map(|(w, c)| (w, *c)).collect(), Some(top));
                let want: Vec<(&str, isize)> = sorted
                    .iter()
                    .take(top)
                    .map(|(w, c)| (w.as_str(), *c))
                    .collect();
                assert_eq!(got.rows, want, "{n} rows, top {top}");
                assert_eq!(got.total, n);
            }
        }
    }

    #[test]
    fn the_bucketed_sort_orders_as_a_whole_sort_does() {
        let mut rng = crate::test_rng::TestRng::new(3u64);
        let mut next = move |below: u64| rng.below(below);
        // Counts of every kind: zero, small (bucketed), past the buckets; words that share
        // their first 8 bytes, so that ties of count and prefix fall back to the whole word.
        let rows: Vec<(String, isize)> = (0..5_000)
            .map(|_| {
                let word = format!("abcdefgh{}", next(3_000));
                let count = match next(10) {
                    0 => 0,
                    1 => 256 + next(1_000) as isize,
                    2 => COUNT_BUCKETS as isize - 1,
                    _ => 1 + next(6) as isize,
                };
                (word, count)
            })
            .collect();
        let words: Vec<(Word, isize)> = rows
            .iter()
            .map(|(w, c)| (Word::from(w.as_str()), *c))
            .collect();
        let got = top_rows(words.iter().map(|(w, c)| (w, *c)).collect(), None);
        let mut want = rows.clone();
        want.sort_by(row_order);
        let want: Vec<(&str, isize)> = want.iter().map(|(w, c)| (w.as_str(), *c)).collect();
        assert_eq!(got.rows, want);
    }
}
