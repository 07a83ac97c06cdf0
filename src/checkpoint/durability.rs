//! Everything `--checkpoint` does while a run goes on, behind a few hooks that the driver and
//! the reporter call: log each chunk before it enters the dataflow, force the log at each
//! batch's close, note each printed report, keep what a snapshot needs, take snapshots when due,
//! and, in a cluster whose processes all read, announce snapshots and drop what they cover.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use timely::dataflow::InputHandleVec;

use super::{Checkpoint, Snapshot, FORMAT, SNAPSHOT_EVERY};
use crate::dataflow::{Epoch, Word};
use crate::error::Error;
use crate::reporter::ReportHooks;
use crate::source::Chunk;

/// A run's durable side.
pub struct Durability {
    checkpoint: Checkpoint,
    /// Replaying the log: chunks are not logged again.
    replaying: bool,
    /// The first write that failed; it ends the run.
    error: Option<Error>,
    /// On the reporting worker: what a snapshot is made of.
    history: Option<History>,
    /// Printed reports since the last snapshot.
    since_snapshot: u64,
    snapshot_due: bool,
    /// On worker 0 when every process reads: where snapshots are announced to the others.
    announce: Option<InputHandleVec<Epoch, Epoch>>,
    /// On the other reading processes: the latest snapshot announced, and how far this log was
    /// dropped for it.
    announced: Rc<Cell<Option<Epoch>>>,
    dropped_through: Option<Epoch>,
}

impl Durability {
    /// The durable side of a run over `checkpoint`. The reporting worker keeps history for
    /// snapshots of a mode that retracts after `delay` batches (`None`: the running totals are
    /// the state); `announce` is its input for announcements; `announced` is where the others
    /// see them.
    pub fn new(
        checkpoint: Checkpoint,
        reports: Option<Option<u64>>,
        announce: Option<InputHandleVec<Epoch, Epoch>>,
        announced: Rc<Cell<Option<Epoch>>>,
    ) -> Durability {
        Durability {
            checkpoint,
            replaying: false,
            error: None,
            history: reports.map(|delay| History {
                delay,
                epochs: VecDeque::new(),
            }),
            since_snapshot: 0,
            snapshot_due: false,
            announce,
            announced,
            dropped_through: None,
        }
    }

    /// While replaying the log, what is fed is not logged again.
    pub fn set_replaying(&mut self, replaying: bool) {
        self.replaying = replaying;
    }

    /// Logs a chunk before it is sent into `epoch`.
    pub fn log_chunk(&mut self, epoch: Epoch, lines: u64, chunk: &Chunk) {
        if !self.replaying {
            let logged = self.checkpoint.log_chunk(epoch, lines, chunk);
            self.keep(logged);
        }
    }

    /// A batch closed: with `--fsync batch`, the log goes to disk.
    pub fn epoch_closed(&mut self) {
        if !self.replaying {
            let synced = self.checkpoint.epoch_closed();
            self.keep(synced);
        }
    }

    /// The announcement input follows the batches.
    pub fn advance_to(&mut self, epoch: Epoch) {
        if let Some(announce) = &mut self.announce {
            announce.advance_to(epoch);
        }
    }

    /// No more announcements: the input closes, so that the dataflow can complete.
    pub fn close_announcements(&mut self) {
        self.announce = None;
    }

    /// Whether a snapshot should be taken now.
    pub fn snapshot_due(&self) -> bool {
        self.snapshot_due
    }

    /// Writes a snapshot after the report of `reported`, whose table holds `totals`, and
    /// announces it.
    pub fn save<'a>(&mut self, reported: Epoch, totals: impl Iterator<Item = (&'a Word, isize)>) {
        self.snapshot_due = false;
        self.since_snapshot = 0;
        let state = match &self.history {
            Some(History {
                delay: Some(_),
                epochs,
            }) => epochs
                .iter()
                .map(|(epoch, counts)| {
                    let counts = counts.iter().map(|(w, &c)| (w.to_string(), c)).collect();
                    (*epoch, counts)
                })
                .collect(),
            _ => vec![(reported, totals.map(|(w, c)| (w.to_string(), c)).collect())],
        };
        let snapshot = Snapshot {
            format: FORMAT,
            reported,
            state,
        };
        let saved = self.checkpoint.save(&snapshot);
        if self.keep(saved) {
            if let Some(announce) = &mut self.announce {
                announce.send(snapshot.reported);
            }
        }
    }

    /// On a reading process other than 0: drops the part of the log that process 0's latest
    /// announced snapshot covers.
    fn drop_announced(&mut self) {
        let Some(covered) = self.announced.get() else {
            return;
        };
        if self.history.is_some() || self.dropped_through >= Some(covered) {
            return;
        }
        let dropped = self.checkpoint.drop_covered(covered);
        self.keep(dropped);
        self.dropped_through = Some(covered);
    }

    /// After each step of the dataflow: drops what announced snapshots cover; returns the
    /// first failure, which ends the run.
    pub fn after_step(&mut self) -> Option<Error> {
        self.drop_announced();
        self.take_error()
    }

    /// The first failure, which ends the run.
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    /// Keeps the first error; says whether `result` was a success.
    fn keep(&mut self, result: Result<(), Error>) -> bool {
        match result {
            Ok(()) => true,
            Err(e) => {
                self.error.get_or_insert(e);
                false
            }
        }
    }
}

impl ReportHooks for Durability {
    fn wants_changes(&self) -> bool {
        self.history.as_ref().is_some_and(|h| h.delay.is_some())
    }

    fn batch(&mut self, epoch: Epoch, changes: &[(Word, isize)]) {
        if let Some(history) = &mut self.history {
            history.record(epoch, changes);
        }
    }

    fn printed(&mut self, epoch: Epoch, due: bool) {
        let noted = self.checkpoint.log_reported(epoch);
        self.keep(noted);
        self.since_snapshot += 1;
        self.snapshot_due |= due && self.since_snapshot >= SNAPSHOT_EVERY;
    }
}

/// The input counts of each batch still in the window, kept for snapshots. Batch `t`'s counts
/// follow from the changes at `t` and the counts of batch `t − W`, which `t` retracts:
/// `c(t) = changes(t) + c(t − W)`.
struct History {
    /// The retraction delay W; `None` (running totals) keeps no history: the table is the state.
    delay: Option<u64>,
    epochs: VecDeque<(Epoch, HashMap<Word, isize>)>,
}

impl History {
    fn record(&mut self, epoch: Epoch, changes: &[(Word, isize)]) {
        let Some(delay) = self.delay else { return };
        let mut counts = if self.epochs.len() as u64 >= delay {
            self.epochs
                .pop_front()
                .map(|(_, counts)| counts)
                .unwrap_or_default()
        } else {
            HashMap::new()
        };
        for (word, change) in changes {
            let count = counts.entry(word.clone()).or_insert(0);
            *count += change;
            if *count == 0 {
                counts.remove(word);
            }
        }
        self.epochs.push_back((epoch, counts));
    }
}
