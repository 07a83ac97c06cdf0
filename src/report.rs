//! The table a report is read from: each word's current count, kept up to date from the
//! changes the dataflow gathers on worker 0, and cut into the rows of one report.
//!
//! Counts are kept by word id; the names that arrive beside them are kept for as long as the
//! word counts (and until the report that shows it dropping to 0), so that rows can be printed
//! and ties ordered by the word. Two words with one id would show here as two names for an id
//! while both count, and the table refuses that ([`TableError`]).

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, HashMap};

use foldhash::fast::RandomState;

use crate::config::Emit;
use crate::dataflow::{Word, WordId};

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

/// Names kept beyond those of words that count, before the others are forgotten.
const NAMES_KEPT: usize = 4096;

/// Called with each change of a batch, by word.
pub type OnChange<'a> = &'a mut dyn FnMut(&Word, isize);

/// What the table cannot do: count two words that share an id, or a word without its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableError {
    /// Two different words arrived with the same id while both counted.
    Collision(Word, Word),
    /// A count arrived for a word whose name never did (a bug, reported rather than hidden).
    Unnamed(WordId),
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableError::Collision(a, b) => write!(
                f,
                "the words '{a}' and '{b}' have the same 128-bit id, so their counts cannot be told apart; this is astronomically unlikely by chance (please report it)"
            ),
            TableError::Unnamed(id) => write!(
                f,
                "a count arrived for a word whose text never did (id {id}); this is a bug in netwc (please report it)"
            ),
        }
    }
}

/// One word in the table: its name and its count now (0 for a word kept only by name).
#[derive(Debug)]
struct Row {
    name: Word,
    count: isize,
    /// Learned from a checkpoint, its count not applied yet: kept whatever the cache does.
    pinned: bool,
    /// The batch (by [`ResultTable::applied`]) whose names set this name.
    named_in: u64,
}

/// Current counts, and what changed since the last report.
#[derive(Debug)]
pub struct ResultTable {
    /// Every word that counts, and (as a cache) words that did lately: one lookup a change.
    rows: HashMap<WordId, Row, RandomState>,
    /// Rows whose count is not zero.
    counting: usize,
    /// Batches applied so far.
    applied: u64,
    /// With `Emit::Changes`: each word changed since the last report, with its count then.
    changed: HashMap<WordId, isize, RandomState>,
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
            rows: HashMap::default(),
            counting: 0,
            applied: 0,
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
            self.ranking = Some(BTreeSet::new());
        }
        self
    }

    /// Words with a non-zero count now.
    pub fn distinct(&self) -> usize {
        self.counting
    }

    /// Every word with a non-zero count, and its count.
    pub fn counts(&self) -> impl Iterator<Item = (&Word, isize)> {
        self.rows
            .values()
            .filter(|row| row.count != 0)
            .map(|row| (&row.name, row.count))
    }

    /// The name of `id`, known before its counts arrive (a checkpoint's restored words).
    pub fn learn(&mut self, id: WordId, name: Word) {
        let row = self.rows.entry(id).or_insert(Row {
            name,
            count: 0,
            pinned: false,
            named_in: 0,
        });
        row.pinned = true;
    }

    /// Applies one batch: the names of the words that arrived in it, then each change to a
    /// word's count. The changes, by name, go to `each` (for a checkpoint's history).
    pub fn apply(
        &mut self,
        names: Vec<(WordId, Word)>,
        changes: Vec<(WordId, isize)>,
        mut each: Option<OnChange<'_>>,
    ) -> Result<(), TableError> {
        self.applied += 1;
        let batch = self.applied;
        for (id, name) in names {
            match self.rows.get_mut(&id) {
                Some(row) if std::sync::Arc::ptr_eq(&row.name, &name) || *row.name == *name => {}
                // A name kept after its word stopped counting may give way; not one that
                // counts, is owed a report, waits for restored counts, or came in this batch.
                Some(row)
                    if row.count != 0
                        || row.pinned
                        || row.named_in == batch
                        || self.changed.contains_key(&id) =>
                {
                    return Err(TableError::Collision(row.name.clone(), name))
                }
                Some(row) => {
                    row.name = name;
                    row.named_in = batch;
                }
                None => {
                    let row = Row {
                        name,
                        count: 0,
                        pinned: false,
                        named_in: batch,
                    };
                    self.rows.insert(id, row);
                }
            }
        }
        let track = self.emit == Emit::Changes;
        for (id, change) in changes {
            if change == 0 {
                continue;
            }
            let Some(row) = self.rows.get_mut(&id) else {
                return Err(TableError::Unnamed(id));
            };
            if let Some(each) = each.as_mut() {
                each(&row.name, change);
            }
            let before = row.count;
            row.count += change;
            row.pinned = false;
            let after = row.count;
            self.counting = self.counting + usize::from(after != 0) - usize::from(before != 0);
            if let Some(ranking) = &mut self.ranking {
                if before != 0 {
                    ranking.remove(&(Reverse(before), row.name.clone()));
                }
                if after != 0 {
                    ranking.insert((Reverse(after), row.name.clone()));
                }
            }
            if track {
                self.changed.entry(id).or_insert(before);
            }
        }
        self.forget_names();
        Ok(())
    }

    /// Rows of words that no longer count are kept as names (a word that comes back in the
    /// next batch keeps its row) until there are twice as many rows as words that count or
    /// are owed a report of their 0; then those are forgotten. After a burst has left (a
    /// window, a batch), its memory is given back.
    fn forget_names(&mut self) {
        let needed = self.counting + self.changed.len();
        if self.rows.len() > 2 * needed + NAMES_KEPT {
            let changed = &self.changed;
            self.rows
                .retain(|id, row| row.count != 0 || row.pinned || changed.contains_key(id));
        }
        if self.rows.capacity() > 4 * self.rows.len() + 1024 {
            self.rows.shrink_to_fit();
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
                total: self.counting,
            };
        }
        match self.emit {
            Emit::All => {
                let rows: Vec<(&Word, isize)> = self
                    .rows
                    .values()
                    .filter(|row| row.count != 0)
                    .map(|row| (&row.name, row.count))
                    .collect();
                top_rows(rows, self.top, |(word, count)| (word.clone(), count))
            }
            Emit::Changes => {
                let mut rows = Vec::new();
                for (id, before) in self.changed.drain() {
                    let Some(row) = self.rows.get(&id) else {
                        continue;
                    };
                    if row.count != before {
                        rows.push((row.name.clone(), row.count));
                    }
                }
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

    /// Applies `pairs` as one batch, each word's name arriving with it.
    fn apply(table: &mut ResultTable, pairs: &[(&str, isize)]) {
        let names = pairs
            .iter()
            .map(|(w, _)| (WordId::of(w), Word::from(*w)))
            .collect();
        let changes = pairs.iter().map(|(w, c)| (WordId::of(w), *c)).collect();
        table.apply(names, changes, None).unwrap();
    }

    fn rows(pairs: &[(&str, isize)]) -> Vec<(Word, isize)> {
        pairs.iter().map(|(w, c)| (Word::from(*w), *c)).collect()
    }

    #[test]
    fn all_rows_sorted_by_count_then_word() {
        let mut table = ResultTable::new(Emit::All, None);
        apply(
            &mut table,
            &[("b", 2), ("a", 2), ("c", 5), ("é", 1), ("z", 1)],
        );
        assert_eq!(
            table.report().rows,
            rows(&[("c", 5), ("a", 2), ("b", 2), ("z", 1), ("é", 1)])
        );
    }

    #[test]
    fn top_keeps_the_highest_and_says_more_exist() {
        let mut table = ResultTable::new(Emit::All, Some(2));
        apply(&mut table, &[("b", 2), ("a", 2), ("c", 5), ("d", 1)]);
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
            apply(&mut plain, step);
            apply(&mut ranked, step);
            assert_eq!(ranked.report(), plain.report());
            assert_eq!(ranked.distinct(), plain.distinct());
        }
    }

    #[test]
    fn two_words_with_one_id_are_refused() {
        let mut table = ResultTable::new(Emit::All, None);
        apply(&mut table, &[("a", 1)]);
        let clash = table.apply(vec![(WordId::of("a"), Word::from("b"))], Vec::new(), None);
        assert_eq!(
            clash,
            Err(TableError::Collision(Word::from("a"), Word::from("b")))
        );
        let unnamed = table.apply(Vec::new(), vec![(WordId::of("zz"), 1)], None);
        assert_eq!(unnamed, Err(TableError::Unnamed(WordId::of("zz"))));
    }

    #[test]
    fn two_new_words_with_one_id_in_one_batch_are_refused() {
        let mut table = ResultTable::new(Emit::All, None);
        let id = WordId::of("a");
        let names = vec![(id, Word::from("a")), (id, Word::from("b"))];
        let clash = table.apply(names, vec![(id, 2)], None);
        assert!(matches!(clash, Err(TableError::Collision(..))));
    }

    #[test]
    fn restored_names_wait_for_their_counts_however_many_batches_come_first() {
        let mut table = ResultTable::new(Emit::All, None);
        let words: Vec<String> = (0..6_000).map(|i| format!("r{i}")).collect();
        for word in &words {
            table.learn(WordId::of(word), Word::from(word.as_str()));
        }
        // The first restored batch holds a few of them; the cache of names is then far
        // larger than what counts, but the learned names stay.
        let first = vec![(WordId::of("r0"), 1)];
        table.apply(Vec::new(), first, None).unwrap();
        let rest = words[1..].iter().map(|w| (WordId::of(w), 1)).collect();
        table.apply(Vec::new(), rest, None).unwrap();
        assert_eq!(table.distinct(), 6_000);
    }

    #[test]
    fn zero_counts_leave_the_table() {
        let mut table = ResultTable::new(Emit::All, None);
        apply(&mut table, &[("a", 2), ("b", 1)]);
        apply(&mut table, &[("a", -2), ("b", 1)]);
        // A count's change comes as its old value out and its new value in, in any order.
        apply(&mut table, &[("b", -2), ("b", 2)]);
        assert_eq!(table.report().rows, rows(&[("b", 2)]));
        assert_eq!(table.distinct(), 1);
    }

    #[test]
    fn changes_show_new_counts_and_words_that_dropped_to_zero() {
        let mut table = ResultTable::new(Emit::Changes, None);
        apply(&mut table, &[("a", 2), ("b", 1)]);
        assert_eq!(table.report().rows, rows(&[("a", 2), ("b", 1)]));
        // b goes and comes back: unchanged since the last report, so not shown.
        apply(&mut table, &[("a", -2), ("b", -1), ("b", 1), ("c", 3)]);
        assert_eq!(table.report().rows, rows(&[("c", 3), ("a", 0)]));
        assert_eq!(table.report().rows, rows(&[]));
    }
}
