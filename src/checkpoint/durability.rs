//! Everything `--checkpoint` does while a run goes on, behind a few hooks that the driver and
//! the reporter call: log each chunk before it enters the dataflow, force the log at each
//! batch's close, note each printed report, keep what a snapshot needs, take snapshots when due,
//! and, in a cluster whose processes all read, announce snapshots and drop what they cover.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use timely::dataflow::InputHandleVec;

use super::snapshot_writer::SnapshotWriter;
use super::{Checkpoint, SNAPSHOT_INTERVAL};
use crate::error::Error;
use crate::output::OutputMark;
use crate::reporter::ReportHooks;
use crate::vocab::Chunk;
use crate::vocab::{Epoch, Word};

/// A run's durable side.
pub struct Durability {
    checkpoint: Checkpoint,
    /// Replaying the log: chunks are not logged again.
    replaying: bool,
    /// The first write that failed; it ends the run.
    error: Option<Error>,
    /// On the reporting worker: the thread that writes snapshots.
    snapshots: Option<SnapshotWriter>,
    /// When the last snapshot was asked for.
    last_snapshot: Instant,
    /// The last batch handed to the snapshot thread, and the last printed in full: a snapshot
    /// is taken only when they are the same, so that it holds what a report showed.
    last_batch: Option<Epoch>,
    last_printed: Option<Epoch>,
    /// On worker 0 when every process reads: where snapshots are announced to the others.
    announce: Option<InputHandleVec<Epoch, Epoch>>,
    /// On the other reading processes: the latest snapshot announced.
    announced: Rc<Cell<Option<Epoch>>>,
    /// How far this log was dropped for a snapshot.
    dropped_through: Option<Epoch>,
    /// Readers whose open lines keep the log from being dropped: the driver cuts them.
    lines_to_cut: Vec<u64>,
}

impl Durability {
    /// The durable side of a run over `checkpoint`. The reporting worker takes snapshots of a
    /// mode that retracts after `delay` batches (`None`: running totals); `announce` is its
    /// input for announcements; `announced` is where the others see them.
    pub fn new(
        checkpoint: Checkpoint,
        reports: Option<Option<u64>>,
        announce: Option<InputHandleVec<Epoch, Epoch>>,
        announced: Rc<Cell<Option<Epoch>>>,
    ) -> Durability {
        let snapshots =
            reports.map(|delay| SnapshotWriter::start(checkpoint.snapshot_path(), delay));
        Durability {
            checkpoint,
            replaying: false,
            error: None,
            snapshots,
            last_snapshot: Instant::now(),
            last_batch: None,
            last_printed: None,
            announce,
            announced,
            dropped_through: None,
            lines_to_cut: Vec::new(),
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

    /// At the end of the run, after the report of `reported`: the last snapshot is written and
    /// the log it covers dropped.
    pub fn finish(&mut self, reported: Epoch) {
        if let Some(snapshots) = &mut self.snapshots {
            snapshots.request(reported);
            let durable = snapshots.finish();
            self.dropped(durable);
        }
    }

    /// Drops the log that the snapshot of `durable` covers, and announces it.
    fn dropped(&mut self, durable: Result<Option<Epoch>, Error>) {
        let covered = match durable {
            Ok(Some(covered)) if Some(covered) > self.dropped_through => covered,
            Ok(_) => return,
            Err(error) => {
                self.keep(Err(error));
                return;
            }
        };
        let dropped = self.checkpoint.drop_covered(covered);
        if self.keep_pinning(dropped) {
            self.dropped_through = Some(covered);
            if let Some(announce) = &mut self.announce {
                announce.send(covered);
            }
        }
    }

    /// On a reading process other than 0: drops the part of the log that process 0's latest
    /// announced snapshot covers.
    fn drop_announced(&mut self) {
        let Some(covered) = self.announced.get() else {
            return;
        };
        if self.snapshots.is_some() || self.dropped_through >= Some(covered) {
            return;
        }
        let dropped = self.checkpoint.drop_covered(covered);
        self.keep_pinning(dropped);
        self.dropped_through = Some(covered);
    }

    /// Keeps the readers whose lines should be cut, or the error.
    fn keep_pinning(&mut self, dropped: Result<Vec<u64>, Error>) -> bool {
        match dropped {
            Ok(pinning) => {
                self.lines_to_cut.extend(pinning);
                true
            }
            Err(e) => self.keep(Err(e)),
        }
    }

    /// The readers whose open lines the driver should cut now (see
    /// [`crate::vocab::LineState::CutsOpenLine`]).
    pub fn take_lines_to_cut(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.lines_to_cut)
    }

    /// Asks for a snapshot of the last batch printed, if it is the last one processed, the last
    /// snapshot is on the disk and [`SNAPSHOT_INTERVAL`] has passed since it was asked for.
    fn snapshot_if_due(&mut self) {
        let Some(snapshots) = &mut self.snapshots else {
            return;
        };
        let Some(printed) = self.last_printed.filter(|&p| Some(p) == self.last_batch) else {
            return;
        };
        if snapshots.idle() && self.last_snapshot.elapsed() >= SNAPSHOT_INTERVAL {
            snapshots.request(printed);
            self.last_snapshot = Instant::now();
            self.last_printed = None;
        }
    }

    /// After each step of the dataflow: takes a snapshot when one is due, drops what snapshots
    /// on the disk cover; returns the first failure, which ends the run.
    pub fn after_step(&mut self) -> Option<Error> {
        self.snapshot_if_due();
        if let Some(snapshots) = &self.snapshots {
            let durable = snapshots.durable();
            self.dropped(durable);
        }
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
        self.snapshots.is_some()
    }

    fn batch(&mut self, epoch: Epoch, changes: Vec<(Word, isize)>) {
        if let Some(snapshots) = &mut self.snapshots {
            snapshots.batch(epoch, changes);
            self.last_batch = Some(epoch);
        }
    }

    fn skipped(&mut self, last: Epoch, changes: Vec<(Word, isize)>) {
        if let Some(snapshots) = &mut self.snapshots {
            snapshots.skipped(last, changes);
            self.last_batch = Some(last);
        }
    }

    fn printed(&mut self, epoch: Epoch, due: bool, mark: OutputMark) {
        let noted = self.checkpoint.log_reported(epoch, mark);
        self.keep(noted);
        if due {
            self.last_printed = Some(epoch);
            self.snapshot_if_due();
        }
    }
}
