//! The table a report is read from: each word's current count, kept up to date from the
//! changes the dataflow gathers on worker 0, and cut into the rows of one report.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, HashMap};

use foldhash::fast::RandomState;

use crate::config::Emit;
use crate::dataflow::Word;

/// The rows of one report, in order: count descending, then word ascending (by code point).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    /// At most `top` rows.
    pub rows: Vec<(Word, isize)>,
    /// How many rows there were before `top` cut them.
    pub total: usize,
}

impl Rows {
    /// Whether `top` left rows out.
    pub fn more(&self) -> bool {
        self.total > self.rows.len()
    }
}

/// Current counts, and what changed since the last report.
#[derive(Debug)]
pub struct ResultTable {
    counts: HashMap<Word, isize, RandomState>,
    /// With `Emit::Changes`: each word changed since the last report, with its count then.
    changed: HashMap<Word, isize, RandomState>,
    emit: Emit,
    top: Option<usize>,
    /// With [`ResultTable::ranked`]: every word in row order, so that a report of the top N
    /// costs N, not a sort of the whole table.
    ranking: Option<BTreeSet<(Reverse<isize>, Word)>>,
}

/// The order of rows: highest count first, ties by word.
pub fn row_order(a: &(impl AsRef<str>, isize), b: &(impl AsRef<str>, isize)) -> Ordering {
    b.1.cmp(&a.1).then_with(|| a.0.as_ref().cmp(b.0.as_ref()))
}

impl ResultTable {
    /// An empty table whose reports print `emit` rows, at most `top` of them.
    pub fn new(emit: Emit, top: Option<usize>) -> ResultTable {
        ResultTable {
            counts: HashMap::default(),
            changed: HashMap::default(),
            emit,
            top,
            ranking: None,
        }
    }

    /// Keeps the table in row order as it changes, for reports of every word's count cut to
    /// `--top`: worth it when the table holds far more words than a batch changes (running
    /// totals, long windows), so that a report costs what changed, not what is kept.
    pub fn ranked(mut self) -> ResultTable {
        if self.emit == Emit::All && self.top.is_some() {
            self.ranking = Some(
                self.counts
                    .iter()
                    .map(|(w, &c)| (Reverse(c), w.clone()))
                    .collect(),
            );
        }
        self
    }

    /// Words with a non-zero count now.
    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    /// Every word with a non-zero count, and its count.
    pub fn counts(&self) -> impl Iterator<Item = (&Word, isize)> {
        self.counts.iter().map(|(word, &count)| (word, count))
    }

    /// Adds each change to its word's count.
    pub fn apply(&mut self, changes: Vec<(Word, isize)>) {
        let track = self.emit == Emit::Changes;
        for (word, change) in changes {
            if change == 0 {
                continue;
            }
            if let Some(ranking) = &mut self.ranking {
                let before = self.counts.get(word.as_str()).copied().unwrap_or(0);
                let after = before + change;
                let mut key = (Reverse(before), word);
                if before != 0 {
                    ranking.remove(&key);
                }
                key.0 = Reverse(after);
                if after == 0 {
                    self.counts.remove(key.1.as_str());
                } else {
                    self.counts.insert(key.1.clone(), after);
                    ranking.insert(key);
                }
                continue;
            }
            let before = match self.counts.get_mut(word.as_str()) {
                Some(count) => {
                    let before = *count;
                    *count += change;
                    if *count == 0 {
                        self.counts.remove(word.as_str());
                    }
                    before
                }
                None if track => {
                    self.counts.insert(word.clone(), change);
                    0
                }
                None => {
                    self.counts.insert(word, change);
                    continue;
                }
            };
            if track && !self.changed.contains_key(word.as_str()) {
                self.changed.insert(word, before);
            }
        }
    }

    /// The rows of a report now; with `Emit::Changes`, starts tracking changes afresh.
    pub fn report(&mut self) -> Rows {
        if let (Some(ranking), Some(top)) = (&self.ranking, self.top) {
            return Rows {
                rows: ranking
                    .iter()
                    .take(top)
                    .map(|(Reverse(count), word)| (word.clone(), *count))
                    .collect(),
                total: self.counts.len(),
            };
        }
        match self.emit {
            Emit::All => {
                let rows: Vec<(&Word, isize)> = self.counts.iter().map(|(w, &c)| (w, c)).collect();
                top_rows(rows, self.top, |(word, count)| (word.clone(), count))
            }
            Emit::Changes => {
                let counts = &self.counts;
                let rows: Vec<(Word, isize)> = self
                    .changed
                    .drain()
                    .filter_map(|(word, before)| {
                        let now = counts.get(word.as_str()).copied().unwrap_or(0);
                        (now != before).then_some((word, now))
                    })
                    .collect();
                top_rows(rows, self.top, |row| row)
            }
        }
    }
}

/// Sorts rows, keeping the first `top`; only the kept ones are turned into owned rows.
fn top_rows<R: AsRef<str>>(
    mut rows: Vec<(R, isize)>,
    top: Option<usize>,
    own: impl Fn((R, isize)) -> (Word, isize),
) -> Rows {
    let total = rows.len();
    if let Some(top) = top {
        if top < rows.len() {
            if top > 0 {
                rows.select_nth_unstable_by(top - 1, row_order);
            }
            rows.truncate(top);
        }
    }
    rows.sort_unstable_by(row_order);
    Rows {
        rows: rows.into_iter().map(own).collect(),
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(pairs: &[(&str, isize)]) -> Vec<(Word, isize)> {
        pairs.iter().map(|(w, c)| (w.to_string(), *c)).collect()
    }

    fn rows(pairs: &[(&str, isize)]) -> Vec<(Word, isize)> {
        changes(pairs)
    }

    #[test]
    fn all_rows_sorted_by_count_then_word() {
        let mut table = ResultTable::new(Emit::All, None);
        table.apply(changes(&[("b", 2), ("a", 2), ("c", 5), ("é", 1), ("z", 1)]));
        assert_eq!(
            table.report().rows,
            rows(&[("c", 5), ("a", 2), ("b", 2), ("z", 1), ("é", 1)])
        );
    }

    #[test]
    fn top_keeps_the_highest_and_says_more_exist() {
        let mut table = ResultTable::new(Emit::All, Some(2));
        table.apply(changes(&[("b", 2), ("a", 2), ("c", 5), ("d", 1)]));
        let report = table.report();
        assert_eq!(report.rows, rows(&[("c", 5), ("a", 2)]));
        assert_eq!(report.total, 4);
        assert!(report.more());
    }

    #[test]
    fn a_ranked_table_reports_the_same_rows() {
        let mut plain = ResultTable::new(Emit::All, Some(3));
        let mut ranked = ResultTable::new(Emit::All, Some(3)).ranked();
        let steps: [&[(&str, isize)]; 4] = [
            &[("b", 2), ("a", 2), ("c", 5), ("d", 1)],
            &[("c", -5), ("d", 4), ("e", 2)],
            &[],
            &[("a", -2), ("b", -2), ("d", -4), ("e", -2)],
        ];
        for step in steps {
            plain.apply(changes(step));
            ranked.apply(changes(step));
            assert_eq!(ranked.report(), plain.report());
            assert_eq!(ranked.distinct(), plain.distinct());
        }
    }

    #[test]
    fn zero_counts_leave_the_table() {
        let mut table = ResultTable::new(Emit::All, None);
        table.apply(changes(&[("a", 2), ("b", 1)]));
        table.apply(changes(&[("a", -2), ("b", 1)]));
        assert_eq!(table.report().rows, rows(&[("b", 2)]));
        assert_eq!(table.distinct(), 1);
    }

    #[test]
    fn changes_show_new_counts_and_words_that_dropped_to_zero() {
        let mut table = ResultTable::new(Emit::Changes, None);
        table.apply(changes(&[("a", 2), ("b", 1)]));
        assert_eq!(table.report().rows, rows(&[("a", 2), ("b", 1)]));
        // b goes and comes back: unchanged since the last report, so not shown.
        table.apply(changes(&[("a", -2), ("b", -1), ("b", 1), ("c", 3)]));
        assert_eq!(table.report().rows, rows(&[("c", 3), ("a", 0)]));
        assert_eq!(table.report().rows, rows(&[]));
    }
}
