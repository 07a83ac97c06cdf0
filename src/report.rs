//! The table a report is read from: each word's current count, kept up to date from the
//! changes the dataflow gathers on worker 0, and cut into the rows of one report.
//!
//! Counts are kept by word id. A word's name comes from the workers' dictionaries, once per
//! dictionary entry ([`NameChange`]): the table keeps a row for as long as a dictionary holds
//! the word, the word counts, or its drop to 0 is owed a report, and forgets it then, so its
//! size follows the dictionaries and the counts, nothing else. Two words with one id would show
//! here as a second name for a row that is in use, and the table refuses that
//! ([`TableError`]).

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use foldhash::fast::RandomState;

use crate::config::Emit;
use crate::dataflow::NameChange;
use crate::prefetch::read_ahead;
use crate::rows::top_rows;
pub use crate::rows::Rows;
use crate::table::Table;
use crate::vocab::{Word, WordId};

/// How many changes ahead of applying one its row's lookup starts (two steps: its slot of the
/// table's index, then the row; see [`Table`]).
const LOOK_AHEAD: usize = 8;

/// Called with each change of a batch, by word.
pub type OnChange<'a> = &'a mut dyn FnMut(&Word, isize);

/// What the table cannot do: count two words that share an id, or a word without its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableError {
    /// Two different words arrived with the same id while both were in use.
    Collision(Word, Word),
    /// A count arrived for a word whose name never did (a bug, reported rather than hidden).
    Unnamed(WordId),
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableError::Collision(a, b) => write!(
                f,
                "the words '{a}' and '{b}' have the same 64-bit id, so their counts cannot be told apart (by chance about once in 3.7 × 10^7 jobs of a million words in use); run the job again: each run draws new ids"
            ),
            TableError::Unnamed(id) => write!(
                f,
                "a count arrived for a word whose text never did (id {id}); this is a bug in netwc (please report it)"
            ),
        }
    }
}

/// One word in the table: its name, its count now, and who else needs it.
#[derive(Debug)]
struct Row {
    name: Word,
    count: isize,
    /// Dictionaries that hold the word (each said so once, and says when it forgets it).
    held: u32,
    /// Learned from a checkpoint, its count not applied yet: kept whatever else happens.
    pinned: bool,
    /// Out of use and as good as removed: the table drops such rows in bulk, and a word that
    /// comes back takes its row again.
    gone: bool,
    /// In [`ResultTable::listed`] (at most once). Kept through `gone` and a word's return.
    listed: bool,
}

impl Row {
    /// A row for `name` with no count, held by `held` dictionaries.
    fn new(name: Word, held: u32) -> Row {
        Row {
            name,
            count: 0,
            held,
            pinned: false,
            gone: false,
            listed: false,
        }
    }

    /// A row for `name` in place of this gone one, still listed where this one was.
    fn revived(&self, name: Word, held: u32) -> Row {
        Row {
            listed: self.listed,
            ..Row::new(name, held)
        }
    }

    /// Whether nothing needs the row any more (a change owed a report aside).
    fn unused(&self) -> bool {
        self.count == 0 && self.held == 0 && !self.pinned
    }
}

/// Current counts, and what changed since the last report.
#[derive(Debug)]
pub struct ResultTable {
    /// Every word that counts or that a dictionary holds: one lookup a change, started ahead.
    rows: Table<WordId, Row>,
    /// Rows whose count is not zero.
    counting: usize,
    /// Every row whose count is not zero, and some whose count fell back to zero since (each
    /// once, see [`Row::listed`]): a report of a batch's words finds them here when they are
    /// few beside the rows kept for the dictionaries' vocabularies, where a scan of the table
    /// cost 20 % of `--batch 1ms`'s CPU (every empty batch scanned it too). Rows are named by
    /// their number in the table, read without a lookup (their numbers change only when the
    /// table drops gone rows, and the list is made anew then).
    listed: Vec<u32>,
    /// Rows that are [`Row::gone`].
    gone: usize,
    /// Rows that may have fallen out of use in the batch being applied.
    unused: Vec<WordId>,
    /// With `Emit::Changes`: each word changed since the last report, with its count then.
    changed: HashMap<WordId, isize, RandomState>,
    emit: Emit,
    top: Option<usize>,
    /// With [`ResultTable::ranked`]: every word in row order, so that a report of the top N
    /// costs N, not a sort of the whole table.
    ranking: Option<BTreeSet<(Reverse<isize>, Word)>>,
    /// With `Emit::Changes`: the words the report being made shows (see
    /// [`ResultTable::settle_report`]).
    shown: Vec<WordId>,
}

impl ResultTable {
    /// An empty table whose reports print `emit` rows, at most `top` of them.
    pub fn new(emit: Emit, top: Option<usize>) -> ResultTable {
        ResultTable {
            rows: Table::default(),
            counting: 0,
            listed: Vec::new(),
            gone: 0,
            unused: Vec::new(),
            changed: HashMap::default(),
            emit,
            top,
            ranking: None,
            shown: Vec::new(),
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

    /// Rows kept: words that count, and words only a dictionary holds.
    pub fn rows_kept(&self) -> usize {
        self.rows.len() - self.gone
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
        match self.rows.get_mut(&id) {
            Some(row) => {
                if row.gone {
                    self.gone -= 1;
                    *row = row.revived(name, 0);
                }
                row.pinned = true;
            }
            None => {
                let row = Row {
                    pinned: true,
                    ..Row::new(name, 0)
                };
                self.rows.insert(self.rows.hash(&id), id, row);
            }
        }
    }

    /// Applies one batch: what the dictionaries learned (names first, so that the batch's
    /// counts find them), then each change to a word's count, then what the dictionaries
    /// forgot. The changes, by name, go to `each` (for a checkpoint's history).
    pub fn apply(
        &mut self,
        names: Vec<(WordId, NameChange)>,
        changes: Vec<(WordId, isize)>,
        each: Option<OnChange<'_>>,
    ) -> Result<(), TableError> {
        let forgets = self.learn_names(names)?;
        self.change_counts(&changes, each)?;
        self.forget(forgets);
        self.drop_unused();
        Ok(())
    }

    /// Takes the names the dictionaries learned; returns the ids they forgot, to be let go
    /// once the batch's counts are in.
    fn learn_names(
        &mut self,
        mut names: Vec<(WordId, NameChange)>,
    ) -> Result<Vec<WordId>, TableError> {
        let mut forgets = Vec::new();
        // Each name's row is looked up ahead, as the counts' are: with small batches
        // dictionaries forget and learn again many words, and each waited for memory.
        for i in 0..names.len() {
            self.look_ahead(i, |k| names.get(k).map(|&(id, _)| id));
            let id = names[i].0;
            let change = std::mem::replace(&mut names[i].1, NameChange::Forget);
            let name = match change {
                NameChange::Learn(name) => name,
                NameChange::Forget => {
                    forgets.push(id);
                    continue;
                }
            };
            match self.rows.get_mut(&id) {
                Some(row) if row.gone => {
                    self.gone -= 1;
                    *row = row.revived(name, 1);
                }
                Some(row) if std::sync::Arc::ptr_eq(&row.name, &name) || *row.name == *name => {
                    row.held += 1;
                }
                // A row is only kept while something uses it: another name is a collision.
                Some(row) => return Err(TableError::Collision(row.name.clone(), name)),
                None => {
                    self.rows.insert(self.rows.hash(&id), id, Row::new(name, 1));
                }
            }
        }
        Ok(forgets)
    }

    /// Before the `i`th of a list of ids (`id_at`) is looked up: starts the lookup of the
    /// `2 * LOOK_AHEAD`th after it (its slot of the index) and goes on with the `LOOK_AHEAD`th
    /// (its row), so that each row is in cache when its turn comes.
    #[inline]
    fn look_ahead(&self, i: usize, id_at: impl Fn(usize) -> Option<WordId>) {
        if let Some(id) = id_at(i + 2 * LOOK_AHEAD) {
            self.rows.prefetch_slot_of(&id);
        }
        if let Some(id) = id_at(i + LOOK_AHEAD) {
            self.rows.prefetch_value_of(&id);
        }
    }

    /// Adds each change to its word's count (the lookups started a few changes ahead).
    fn change_counts(
        &mut self,
        changes: &[(WordId, isize)],
        mut each: Option<OnChange<'_>>,
    ) -> Result<(), TableError> {
        let track = self.emit == Emit::Changes;
        for i in 0..changes.len() {
            self.look_ahead(i, |k| changes.get(k).map(|&(id, _)| id));
            let (id, change) = changes[i];
            if change == 0 {
                continue;
            }
            let number = self.rows.number_of(&id);
            let Some(number) = number.filter(|&number| !self.rows.value(number).gone) else {
                return Err(TableError::Unnamed(id));
            };
            let row = self.rows.value_mut(number);
            if let Some(each) = each.as_mut() {
                each(&row.name, change);
            }
            let before = row.count;
            row.count += change;
            row.pinned = false;
            let after = row.count;
            if after != 0 && !row.listed {
                row.listed = true;
                self.listed.push(number);
            }
            // A row a dictionary still holds stays (its forgetting is looked at then): the
            // words a batch retracts are mostly such, and need no second lookup.
            if row.unused() {
                self.unused.push(id);
            }
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
        Ok(())
    }

    /// Lets go of the rows whose names a dictionary forgot (dropped once unused).
    fn forget(&mut self, forgets: Vec<WordId>) {
        for id in forgets {
            if let Some(row) = self.rows.get_mut(&id).filter(|row| !row.gone) {
                row.held = row.held.saturating_sub(1);
                self.unused.push(id);
            }
        }
    }

    /// Forgets the rows that fell out of use, except those whose change a report still owes.
    fn drop_unused(&mut self) {
        for id in self.unused.drain(..) {
            if self.changed.contains_key(&id) {
                continue;
            }
            if let Some(row) = self.rows.get_mut(&id) {
                if !row.gone && row.unused() {
                    row.gone = true;
                    self.gone += 1;
                }
            }
        }
        // Gone rows are dropped in bulk, once they are as many as the rows in use.
        if self.gone > self.rows.len() / 2 + 1024 {
            // The list of rows is made anew from the rows kept: none it names is dropped.
            let listed = &mut self.listed;
            listed.clear();
            let mut kept = 0u32;
            self.rows.retain(|_, row| {
                if row.listed && !row.gone {
                    listed.push(kept);
                }
                kept += u32::from(!row.gone);
                !row.gone
            });
            self.gone = 0;
        }
        // A burst's list of rows to look at is not kept allocated.
        if self.unused.capacity() > 1 << 16 {
            self.unused = Vec::new();
        }
    }

    /// The rows of a report now; with `Emit::Changes`, starts tracking changes afresh.
    pub fn report(&mut self) -> Rows<'_> {
        self.settle_report();
        self.rows()
    }

    /// Makes a report due now: with `Emit::Changes`, notes the words it shows (those whose
    /// count differs from the last report's) and starts tracking changes afresh; the rows of
    /// words now out of use are marked gone, their names kept until the next batch is applied,
    /// so that [`ResultTable::rows`] can still show them.
    pub fn settle_report(&mut self) {
        if self.emit != Emit::Changes {
            self.prune_listed();
            return;
        }
        self.shown.clear();
        for (id, before) in self.changed.drain() {
            let Some(row) = self.rows.get_mut(&id).filter(|row| !row.gone) else {
                continue;
            };
            if row.count != before {
                self.shown.push(id);
            }
            if row.unused() {
                row.gone = true;
                self.gone += 1;
            }
        }
    }

    /// Whether a report finds its rows in [`ResultTable::listed`] rather than by a scan of the
    /// table: a listed row, read out of order, taken to cost about what four rows of a scan do
    /// (a rule of thumb, not measured).
    fn listed_are_few(&self) -> bool {
        self.listed.len() * 4 < self.rows.len()
    }

    /// Takes the rows whose count is zero now out of the list, once they are half of it: each
    /// pass takes out at least as many rows as it keeps, so it costs a read per change that
    /// brought a count to zero, not per row that counts.
    fn prune_listed(&mut self) {
        if self.listed.len() <= 2 * self.counting + 64 {
            return;
        }
        let rows = &mut self.rows;
        self.listed.retain(|&number| {
            let row = rows.value_mut(number);
            row.listed = row.count != 0;
            row.listed
        });
    }

    /// The rows of the report settled last ([`ResultTable::settle_report`]).
    pub fn rows(&self) -> Rows<'_> {
        if let (Some(ranking), Some(top)) = (&self.ranking, self.top) {
            return Rows {
                rows: ranking
                    .iter()
                    .take(top)
                    .map(|(Reverse(count), word)| (&**word, *count))
                    .collect(),
                total: self.counting,
            };
        }
        let rows: Vec<(&Word, isize)> = match self.emit {
            Emit::All if self.counting == 0 => Vec::new(),
            Emit::All if self.listed_are_few() => {
                read_ahead(&self.listed, |&number| self.rows.prefetch(number))
                    .map(|&number| self.rows.value(number))
                    .filter(|row| row.count != 0)
                    .map(|row| (&row.name, row.count))
                    .collect()
            }
            Emit::All => self
                .rows
                .values()
                .filter(|row| row.count != 0)
                .map(|row| (&row.name, row.count))
                .collect(),
            Emit::Changes => self
                .shown
                .iter()
                .filter_map(|id| self.rows.get(id))
                .map(|row| (&row.name, row.count))
                .collect(),
        };
        top_rows(rows, self.top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataflow::WordKey;
    use crate::rows::row_order;

    fn id(word: &str) -> WordId {
        WordKey::from_seed([3; 16]).id(word)
    }

    fn learn(word: &str) -> (WordId, NameChange) {
        (id(word), NameChange::Learn(Word::from(word)))
    }

    /// Applies `pairs` as one batch, each word's name arriving with it.
    fn apply(table: &mut ResultTable, pairs: &[(&str, isize)]) {
        let names = pairs.iter().map(|(w, _)| learn(w)).collect();
        let changes = pairs.iter().map(|(w, c)| (id(w), *c)).collect();
        table.apply(names, changes, None).unwrap();
    }

    fn rows<'a>(pairs: &[(&'a str, isize)]) -> Vec<(&'a str, isize)> {
        pairs.to_vec()
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
    fn words_sharing_their_first_bytes_sort_by_the_whole_word() {
        let mut table = ResultTable::new(Emit::All, None);
        let words = [
            ("abcdefgh2", 1),
            ("abcdefgh", 1),
            ("abcdefgh\0", 1),
            ("abcdefgh1", 1),
            ("ab", 1),
            ("ab\0", 1),
            ("a", 1),
            ("\u{10000}", 1),
            ("\u{ffff}", 1),
        ];
        apply(&mut table, &words);
        let mut expected = rows(&words);
        expected.sort_by(row_order);
        assert_eq!(table.report().rows, expected);
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
        let clash = table.apply(
            vec![(id("a"), NameChange::Learn(Word::from("b")))],
            Vec::new(),
            None,
        );
        assert_eq!(
            clash,
            Err(TableError::Collision(Word::from("a"), Word::from("b")))
        );
        let unnamed = table.apply(Vec::new(), vec![(id("zz"), 1)], None);
        assert_eq!(unnamed, Err(TableError::Unnamed(id("zz"))));
    }

    #[test]
    fn two_new_words_with_one_id_in_one_batch_are_refused() {
        let mut table = ResultTable::new(Emit::All, None);
        let a = id("a");
        let names = vec![learn("a"), (a, NameChange::Learn(Word::from("b")))];
        let clash = table.apply(names, vec![(a, 2)], None);
        assert!(matches!(clash, Err(TableError::Collision(..))));
    }

    #[test]
    fn restored_names_wait_for_their_counts_however_many_batches_come_first() {
        let mut table = ResultTable::new(Emit::All, None);
        let words: Vec<String> = (0..6_000).map(|i| format!("r{i}")).collect();
        for word in &words {
            table.learn(id(word), Word::from(word.as_str()));
        }
        // The first restored batch holds a few of them; the cache of names is then far
        // larger than what counts, but the learned names stay.
        let first = vec![(id("r0"), 1)];
        table.apply(Vec::new(), first, None).unwrap();
        let rest = words[1..].iter().map(|w| (id(w), 1)).collect();
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

    #[test]
    fn reports_list_the_words_that_count_among_many_kept_for_dictionaries() {
        // Batch mode's pattern over a vocabulary far larger than a batch (so that reports take
        // their rows from the list of counting rows, not a scan): each batch retracts the
        // last one's counts and counts a few words; words are forgotten, dropped in bulk and
        // learned again.
        let mut rng = crate::test_rng::TestRng::new(11);
        let words: Vec<String> = (0..10_000).map(|i| format!("w{i}")).collect();
        let mut table = ResultTable::new(Emit::All, None);
        let names = words.iter().map(|word| learn(word)).collect();
        table.apply(names, Vec::new(), None).unwrap();
        let mut held = vec![true; words.len()];
        let mut counts: HashMap<&str, isize> = HashMap::new();
        for round in 0..400 {
            let mut names = Vec::new();
            let mut changes: Vec<(WordId, isize)> = counts
                .drain()
                .map(|(word, count)| (id(word), -count))
                .collect();
            let mut chosen = std::collections::HashSet::new();
            for _ in 0..40 {
                let i = rng.below(words.len() as u64) as usize;
                if !chosen.insert(i) {
                    continue;
                }
                if !held[i] {
                    held[i] = true;
                    names.push(learn(&words[i]));
                }
                let count = 1 + rng.below(4) as isize;
                counts.insert(&words[i], count);
                changes.push((id(&words[i]), count));
            }
            for _ in 0..300 {
                let i = rng.below(words.len() as u64) as usize;
                if held[i] && !chosen.contains(&i) {
                    held[i] = false;
                    names.push((id(&words[i]), NameChange::Forget));
                }
            }
            table.apply(names, changes, None).unwrap();
            let mut expected: Vec<(&str, isize)> =
                counts.iter().map(|(&word, &count)| (word, count)).collect();
            expected.sort_by(row_order);
            assert_eq!(table.report().rows, expected, "round {round}");
        }
    }
}

#[cfg(test)]
mod lifetime_tests {
    use super::*;
    use crate::dataflow::WordKey;

    fn id(word: &str) -> WordId {
        WordKey::from_seed([4; 16]).id(word)
    }

    #[test]
    fn a_row_lives_while_a_dictionary_holds_it_or_it_counts() {
        let mut table = ResultTable::new(Emit::All, None);
        let learn = |w: &str| (id(w), NameChange::Learn(Word::from(w)));
        // Two dictionaries learn "a"; it counts 3, then drops to 0.
        table
            .apply(vec![learn("a"), learn("a")], vec![(id("a"), 3)], None)
            .unwrap();
        table.apply(Vec::new(), vec![(id("a"), -3)], None).unwrap();
        assert_eq!(table.rows_kept(), 1);
        // One forgets: still held by the other, and its count comes back by id alone.
        table
            .apply(vec![(id("a"), NameChange::Forget)], Vec::new(), None)
            .unwrap();
        table.apply(Vec::new(), vec![(id("a"), 1)], None).unwrap();
        assert_eq!(table.report().rows, vec![("a", 1)]);
        // The other forgets while it still counts: kept until the count is gone.
        table
            .apply(vec![(id("a"), NameChange::Forget)], Vec::new(), None)
            .unwrap();
        assert_eq!(table.rows_kept(), 1);
        table.apply(Vec::new(), vec![(id("a"), -1)], None).unwrap();
        assert_eq!(table.rows_kept(), 0);
        // Now another word may take the id without a collision.
        table
            .apply(
                vec![(id("a"), NameChange::Learn(Word::from("b")))],
                Vec::new(),
                None,
            )
            .unwrap();
    }

    #[test]
    fn a_word_that_dropped_to_zero_waits_for_its_report() {
        let mut table = ResultTable::new(Emit::Changes, None);
        let learn = |w: &str| (id(w), NameChange::Learn(Word::from(w)));
        table
            .apply(vec![learn("a")], vec![(id("a"), 2)], None)
            .unwrap();
        table.report();
        let forget = vec![(id("a"), NameChange::Forget)];
        table.apply(forget, vec![(id("a"), -2)], None).unwrap();
        assert_eq!(table.rows_kept(), 1);
        assert_eq!(table.report().rows, vec![("a", 0)]);
        assert_eq!(table.rows_kept(), 0);
    }
}
