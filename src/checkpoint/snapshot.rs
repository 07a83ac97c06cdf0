//! The snapshot file, `snapshot.log`: what the counts depend on, kept as a chain of snapshots
//! that each hold only what changed since the one before, so that a snapshot costs what
//! changed, not what the state holds.
//!
//! The file is laid out as [`super::framing`] says; each record's payload is an [`Entry`] in
//! `postcard`'s encoding. A snapshot is the entries from a `Begin` to its `End`; one that lacks
//! its `End` (a crash while it was written) is ignored, and the log it would have let go is
//! still there. A `Begin` marked `full` holds the whole state; the file starts with one (a
//! chain that grew past the state's size is rewritten whole, atomically).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::framing;
use crate::error::Error;
use crate::vocab::{Epoch, Word};

/// What the snapshot file's header starts with.
pub const MAGIC: &[u8; 8] = b"NETWCSNP";

/// Entries per record at most, so that no record grows with the state.
pub const ENTRIES_PER_RECORD: usize = 1 << 16;

/// One record of the snapshot file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Entry {
    /// A snapshot of the state after the report of `reported` begins; `full`: it holds the
    /// whole state, and replaces what came before.
    Begin {
        /// The last batch reported.
        reported: Epoch,
        /// Whether it holds the whole state.
        full: bool,
    },
    /// Running totals (incremental mode): each replaces the word's earlier total; 0 removes it.
    Totals(Vec<(Word, isize)>),
    /// Counts of a batch still in the window (window and batch modes), added to what earlier
    /// records of the same snapshot gave it.
    Batch {
        /// The batch.
        epoch: Epoch,
        /// Its word counts.
        counts: Vec<(Word, isize)>,
    },
    /// The batches before `before` left the window.
    Retire {
        /// The first batch that stays.
        before: Epoch,
    },
    /// The snapshot begun by the last `Begin` is complete.
    End {
        /// The same batch as its `Begin`.
        reported: Epoch,
    },
}

/// Counts by word. foldhash, seeded per process (the words are anyone's): SipHash was a
/// sixth of reading a snapshot of millions of words back.
pub type WordCounts = HashMap<Word, isize, foldhash::fast::RandomState>;

/// What the counts depend on: the running totals, or each live batch's counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct State {
    /// The last batch whose report the state follows.
    pub reported: Option<Epoch>,
    /// Incremental mode: every word's running total.
    pub totals: WordCounts,
    /// Window and batch modes: the counts of each batch still in the window, oldest first.
    pub batches: VecDeque<(Epoch, WordCounts)>,
}

impl State {
    /// Applies one entry of a snapshot.
    fn apply(&mut self, entry: Entry) {
        match entry {
            Entry::Begin { full: true, .. } => *self = State::default(),
            Entry::Begin { full: false, .. } => {}
            Entry::Totals(totals) => {
                for (word, total) in totals {
                    if total == 0 {
                        self.totals.remove(&word);
                    } else {
                        self.totals.insert(word, total);
                    }
                }
            }
            Entry::Batch { epoch, counts } => {
                let at = self.batches.iter().position(|(e, _)| *e == epoch);
                let at = at.unwrap_or_else(|| {
                    self.batches.push_back((epoch, WordCounts::default()));
                    self.batches.len() - 1
                });
                let batch = &mut self.batches[at].1;
                for (word, count) in counts {
                    *batch.entry(word).or_insert(0) += count;
                }
            }
            Entry::Retire { before } => self.batches.retain(|(epoch, _)| *epoch >= before),
            Entry::End { reported } => self.reported = Some(reported),
        }
    }

    /// The number of distinct words in the state.
    pub fn words(&self) -> usize {
        if self.batches.is_empty() {
            return self.totals.len();
        }
        let mut words = std::collections::HashSet::new();
        for (_, counts) in &self.batches {
            words.extend(counts.keys());
        }
        words.len()
    }

    /// What goes back into the dataflow: each batch's counts at its batch, or the totals at
    /// the last batch reported.
    pub fn counts(&self) -> Vec<(Epoch, Vec<(&Word, isize)>)> {
        let mut counts: Vec<_> = self
            .batches
            .iter()
            .map(|(epoch, counts)| (*epoch, counts.iter().map(|(w, &c)| (w, c)).collect()))
            .collect();
        if let Some(reported) = self.reported.filter(|_| !self.totals.is_empty()) {
            counts.push((reported, self.totals.iter().map(|(w, &c)| (w, c)).collect()));
        }
        counts
    }
}

/// The entries of a snapshot that holds the whole of `state`, between its `Begin` and `End`.
pub fn full_entries(state: &State) -> Vec<Entry> {
    let totals: Vec<(Word, isize)> = state.totals.iter().map(|(w, &c)| (w.clone(), c)).collect();
    let mut entries: Vec<Entry> = totals
        .chunks(ENTRIES_PER_RECORD)
        .map(|part| Entry::Totals(part.to_vec()))
        .collect();
    for (epoch, counts) in &state.batches {
        push_batch(&mut entries, *epoch, counts);
    }
    entries
}

/// Appends the counts of batch `epoch` to `entries`, in records of at most
/// [`ENTRIES_PER_RECORD`].
pub fn push_batch(entries: &mut Vec<Entry>, epoch: Epoch, counts: &WordCounts) {
    let counts: Vec<(Word, isize)> = counts.iter().map(|(w, &c)| (w.clone(), c)).collect();
    for part in counts.chunks(ENTRIES_PER_RECORD) {
        entries.push(Entry::Batch {
            epoch,
            counts: part.to_vec(),
        });
    }
}

/// A snapshot file that holds `entries` as one snapshot of the state after `reported`:
/// `full`, the whole state, starting the file; otherwise what changed, to append at file
/// offset `base`.
pub fn encode(reported: Epoch, full: bool, entries: &[Entry], out: &mut Vec<u8>, base: u64) {
    let base = if full {
        out.extend_from_slice(&framing::file_header(MAGIC, 0));
        0
    } else {
        base
    };
    push_entry(out, base, &Entry::Begin { reported, full });
    for entry in entries {
        push_entry(out, base, entry);
    }
    push_entry(out, base, &Entry::End { reported });
}

/// Replaces the snapshot file at `path`, atomically, by one that holds the whole of `state`.
pub fn write_full(path: &Path, state: &State) -> Result<(), Error> {
    let reported = state.reported.expect("a snapshot follows a report");
    let mut bytes = Vec::new();
    encode(reported, true, &full_entries(state), &mut bytes, 0);
    let temporary = path.with_file_name(super::directory::SNAPSHOT_TEMPORARY);
    super::write_atomically(&temporary, path, &bytes)
        .map_err(|e| Error::runtime(format!("cannot write '{}': {e}", path.display())))
}

/// Appends `entry` to `out`, which starts at file offset `base`, as a record.
pub fn push_entry(out: &mut Vec<u8>, base: u64, entry: &Entry) {
    framing::push_record(out, base, |out| {
        let bytes = postcard::to_extend(entry, std::mem::take(out)).expect("entries serialize");
        *out = bytes;
    });
}

/// Reads the snapshot file at `path`: the state its complete snapshots give, or `None` if
/// there is no file. Any damage but a torn tail is an error naming the offset.
pub fn read(path: &Path) -> Result<Option<State>, Error> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::runtime(format!(
                "cannot read '{}': {e}",
                path.display()
            )))
        }
    };
    framing::check_file_header(&bytes, MAGIC, path)?;
    let read = framing::read_records(&bytes, path)?;
    if let Some(zeros) = read.zeros_at {
        // Each snapshot is synced before the next begins: zeros can only stand for the last
        // one's writes, which a power cut kept from the disk. The one before it is restored
        // (the log still holds what the lost one would have let go).
        log!(
            "warning: ignored {} bytes of zeros at the end of '{}' (from offset {zeros}): a power cut or system crash kept the last snapshot's writes from the disk; the one before it is restored",
            bytes.len() as u64 - zeros,
            path.display()
        );
    }
    let mut state = State::default();
    let mut open: Option<(u64, Epoch, Vec<Entry>)> = None;
    for (offset, payload) in read.records {
        let entry: Entry = postcard::from_bytes(payload)
            .map_err(|e| framing::corrupt(path, offset, &format!("a record reads as {e}")))?;
        let wrong = |what: &str| Err(framing::corrupt(path, offset, what));
        match (&mut open, entry) {
            (None, Entry::Begin { reported, full }) => {
                if state.reported.is_none() && !full {
                    return wrong("the first snapshot does not hold the whole state");
                }
                open = Some((offset, reported, vec![Entry::Begin { reported, full }]));
            }
            (None, _) => return wrong("a record outside any snapshot"),
            (Some((_, begun, entries)), Entry::End { reported }) => {
                if reported != *begun {
                    return wrong("a snapshot ends with another batch than it began");
                }
                for entry in entries.drain(..) {
                    state.apply(entry);
                }
                state.apply(Entry::End { reported });
                open = None;
            }
            (Some(_), Entry::Begin { .. }) => return wrong("a snapshot begins inside another"),
            (Some((_, _, entries)), entry) => entries.push(entry),
        }
    }
    if let Some((offset, ..)) = open {
        // Only a crash before its end explains a snapshot without one; the log still holds
        // what it would have covered.
        log!(
            "warning: ignored an unfinished snapshot at offset {offset} of '{}': a crash interrupted its write",
            path.display()
        );
    }
    if state.reported.is_none() {
        return Err(framing::corrupt(
            path,
            framing::FILE_HEADER as u64,
            "the file holds no complete snapshot",
        ));
    }
    Ok(Some(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str) -> Word {
        Word::from(text)
    }

    fn file(entries: &[Entry]) -> Vec<u8> {
        let mut bytes = framing::file_header(MAGIC, 0).to_vec();
        for entry in entries {
            push_entry(&mut bytes, 0, entry);
        }
        bytes
    }

    #[test]
    fn deltas_apply_in_order_and_an_unfinished_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot.log");
        let entries = [
            Entry::Begin {
                reported: 3,
                full: true,
            },
            Entry::Totals(vec![(word("a"), 2), (word("b"), 1)]),
            Entry::End { reported: 3 },
            Entry::Begin {
                reported: 5,
                full: false,
            },
            Entry::Totals(vec![(word("a"), 0), (word("c"), 4)]),
            Entry::End { reported: 5 },
            Entry::Begin {
                reported: 6,
                full: false,
            },
            Entry::Totals(vec![(word("d"), 9)]),
        ];
        std::fs::write(&path, file(&entries)).unwrap();
        let state = read(&path).unwrap().unwrap();
        assert_eq!(state.reported, Some(5));
        let expected: WordCounts = [(word("b"), 1), (word("c"), 4)].into_iter().collect();
        assert_eq!(state.totals, expected);
    }

    #[test]
    fn batches_enter_and_retire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot.log");
        let batch = |epoch, w: &str| Entry::Batch {
            epoch,
            counts: vec![(word(w), 1)],
        };
        let entries = [
            Entry::Begin {
                reported: 2,
                full: true,
            },
            batch(1, "a"),
            batch(2, "b"),
            Entry::End { reported: 2 },
            Entry::Begin {
                reported: 3,
                full: false,
            },
            Entry::Retire { before: 2 },
            batch(3, "c"),
            Entry::End { reported: 3 },
        ];
        std::fs::write(&path, file(&entries)).unwrap();
        let state = read(&path).unwrap().unwrap();
        let epochs: Vec<Epoch> = state.batches.iter().map(|(e, _)| *e).collect();
        assert_eq!(epochs, [2, 3]);
        assert_eq!(state.words(), 2);
    }

    #[test]
    fn no_complete_snapshot_is_an_error_and_no_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot.log");
        assert_eq!(read(&path).unwrap(), None);
        std::fs::write(&path, file(&[])).unwrap();
        assert!(read(&path).is_err());
    }
}
