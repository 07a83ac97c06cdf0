//! `--checkpoint DIR`: durable state, so that a restart after a crash (even `kill -9`) resumes
//! with counts equal to those of a run that never crashed.
//!
//! - Every chunk of lines is appended to a write-ahead log ([`wal`]) before it enters the
//!   dataflow, and every printed report is noted there.
//! - About once a second, a thread of worker 0's appends to the [`snapshot`] file what the
//!   counts depend on and what changed since its last snapshot (running totals of the words
//!   that changed, or the batches that entered and left the window); once it is on the disk,
//!   the log before it is dropped.
//! - At start, the snapshot is fed back into the dataflow and the log after it is replayed;
//!   batches already printed are recomputed silently, so nothing is printed twice.
//!
//! The directory also holds the settings that shaped the counts (mode, window, batching,
//! splitting, case, stop words); a run with other settings is refused with the difference.
//! Every file is checksummed ([`framing`]): damage is an error naming the file and offset,
//! never a silent change of counts.

mod directory;
mod durability;
pub mod framing;
mod recovery;
pub mod snapshot;
mod snapshot_writer;
pub mod wal;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Fsync;
use crate::error::Error;
use crate::output::OutputMark;
use crate::settings::Settings;
use crate::vocab::{Chunk, Epoch, LineState, LoggedChunk};

pub use directory::check_cluster_layout;
pub use durability::Durability;
pub use recovery::Recovery;

use directory::{check_meta, lock, refuse_foreign, remove_leftovers, write_atomically};
pub use snapshot::State;
pub use wal::{Record, Wal};

/// The version of the files in a checkpoint directory: 3 checksums every file and keeps
/// snapshots as chains of changes (1 and 2 kept a JSON snapshot, unchecked); 4 logs a Kafka
/// partition's whole records as their offsets, not their text; 5 notes the `-o` file's length
/// after each report (`ReportedAt`). Only 5 is read.
pub const FORMAT: u32 = 5;

/// How often a snapshot is taken, at most (at a report, when the last one is on the disk).
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(1);

const META: &str = "netwc-checkpoint.json";
const SNAPSHOT: &str = "snapshot.log";
const LOG: &str = "wal.log";
const LOCK: &str = "lock";

/// The directory's metadata: the format and the settings that shaped the counts, in JSON that
/// a person can read, with a checksum of the settings so that an edit is not taken for them.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: u32,
    settings: Settings,
    checksum: u32,
}

/// The directory a process keeps its checkpoint in: DIR itself, or `DIR/process-I` in a
/// cluster, so that processes on one machine can share a DIR.
pub fn process_dir(dir: &Path, cluster: &crate::config::ClusterConfig) -> PathBuf {
    if cluster.processes > 1 {
        dir.join(format!("process-{}", cluster.process))
    } else {
        dir.to_path_buf()
    }
}

/// An open checkpoint directory.
pub struct Checkpoint {
    dir: PathBuf,
    /// The advisory lock that makes this run the directory's only one; the kernel releases it
    /// when the process ends, however it ends.
    _lock: File,
    wal: Wal,
    fsync: Fsync,
    /// Where each epoch's first chunk starts in the log, to drop what a snapshot covers.
    epoch_starts: BTreeMap<Epoch, u64>,
    /// Where the first piece of each over-long line that has not ended yet starts in the log,
    /// by reader: its counts wait for the line's end, so a snapshot does not cover it, whatever
    /// its epoch.
    line_open_at: BTreeMap<u64, u64>,
    /// Where each partition of a replayable source resumes after what the log holds.
    source_offsets: BTreeMap<u64, u64>,
    /// Whether this process writes the snapshots (process 0): another reading process of a
    /// cluster has none, and its log is compacted as far as process 0's snapshot covers.
    keeps_snapshots: bool,
    /// A quick restart's batch to reopen (and how far the log was compacted), done by
    /// [`Checkpoint::reopen_if_due`] once the source is open: a run refused at its source
    /// leaves the checkpoint as it found it.
    reopen_due: Option<(Epoch, Option<Epoch>)>,
    /// The last report whose output length was noted (`-o`), carried over compactions.
    reported_at: Option<(Epoch, u64)>,
    /// The last report after which the `-o kafka://` topic's ends were noted, and those ends,
    /// carried over compactions.
    reported_to: Option<(Option<Epoch>, TopicEnds)>,
}

/// Where each partition of the `-o kafka://` topic ended (partition, next offset).
pub type TopicEnds = Vec<(u32, u64)>;

impl Checkpoint {
    /// Opens `dir` (creating it on a first start) for a run with `settings`; says what a
    /// restart must restore, or `None` on a first start. `now` is the current batch when a
    /// restart inside the interval of the last report may reopen that batch (time batches, one
    /// process): see [`Checkpoint::reopen`]. `keeps_snapshots` says that this process writes
    /// the snapshots (process 0), so that its log may not be compacted past its own snapshot.
    pub fn open(
        dir: &Path,
        settings: &Settings,
        fsync: Fsync,
        now: Option<Epoch>,
        keeps_snapshots: bool,
    ) -> Result<(Checkpoint, Option<Recovery>), Error> {
        let meta_path = dir.join(META);
        if !meta_path.exists() {
            refuse_foreign(dir)?;
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::runtime(format!(
                    "cannot create --checkpoint '{}': {e}",
                    dir.display()
                ))
            })?;
        }
        let lock = lock(dir)?;
        remove_leftovers(dir)?;
        // Decided under the lock: another run may have started the directory meanwhile.
        let fresh = !meta_path.exists();
        let log = dir.join(LOG);
        if fresh {
            // The log first: a directory with metadata always has its log.
            Wal::create(&log)?;
            let meta = Meta {
                format: FORMAT,
                settings: settings.clone(),
                checksum: directory::settings_checksum(settings),
            };
            let text = serde_json::to_vec_pretty(&meta).expect("meta serializes");
            write_atomically(&dir.join(directory::META_TEMPORARY), &meta_path, &text).map_err(
                |e| Error::runtime(format!("cannot write '{}': {e}", meta_path.display())),
            )?;
            log!("Creating new context in {}", dir.display());
        } else {
            check_meta(&meta_path, settings)?;
        }
        let (wal, opened) = Wal::open(&log)?;
        let mut checkpoint = Checkpoint {
            dir: dir.to_path_buf(),
            _lock: lock,
            wal,
            fsync,
            epoch_starts: BTreeMap::new(),
            line_open_at: BTreeMap::new(),
            source_offsets: BTreeMap::new(),
            keeps_snapshots,
            reopen_due: None,
            reported_at: None,
            reported_to: None,
        };
        if fresh {
            return Ok((checkpoint, None));
        }
        let compacted_through = opened.compacted_through;
        let recovery = checkpoint.recover(opened)?;
        checkpoint.reopen_due = recovery
            .last_reported
            .filter(|&last| now.is_some_and(|now| now <= last) && last > 0)
            .map(|last| (last, compacted_through));
        Ok((checkpoint, Some(recovery)))
    }

    /// On a quick restart (see [`Checkpoint::open`]), reopens the last reported batch now that
    /// the source is open, and makes `recovery` what the reopened checkpoint restores. The
    /// log keeps the same chunks, so `recovery` keeps its own (with whatever text a source
    /// gave back to those logged as offsets).
    pub fn reopen_if_due(&mut self, recovery: &mut Recovery) -> Result<(), Error> {
        let Some((last, compacted_through)) = self.reopen_due.take() else {
            return Ok(());
        };
        self.reopen(recovery, last, compacted_through)?;
        let (wal, opened) = Wal::open(&self.dir.join(LOG))?;
        self.wal = wal;
        let mut reopened = self.recover(opened)?;
        let same = |a: &[LoggedChunk], b: &[LoggedChunk]| {
            a.len() == b.len()
                && a.iter().zip(b).all(|(x, y)| {
                    x.epoch == y.epoch && x.lines == y.lines && x.chunk.resume == y.chunk.resume
                })
        };
        if !same(&reopened.replay, &recovery.replay) {
            return Err(Error::runtime(
                "reopening the last batch changed what the checkpoint replays; this is a bug in netwc (please report it)",
            ));
        }
        reopened.replay = std::mem::take(&mut recovery.replay);
        *recovery = reopened;
        Ok(())
    }

    /// Reads what a restart restores: the snapshot, and the log after it (noting where each
    /// epoch and each open line starts in it).
    fn recover(&mut self, opened: wal::Opened) -> Result<Recovery, Error> {
        let snapshot_path = self.snapshot_path();
        let snapshot = snapshot::read(&snapshot_path)?;
        let covered = snapshot.as_ref().and_then(|s| s.reported);
        // Another process's log is compacted as far as process 0's snapshot covers, which
        // the cluster's handshake checks (`Recovery::covered_by`).
        let compacted_through = opened.compacted_through.filter(|_| self.keeps_snapshots);
        if let Some(needed) = compacted_through.filter(|&n| covered < Some(n)) {
            let found = match covered {
                Some(epoch) => format!("holds batch {epoch} only"),
                None => "is missing".into(),
            };
            return Err(Error::runtime(format!(
                "the snapshot '{}' {found}, but the log '{}' was compacted after a snapshot of batch {needed}: the counts before it cannot be restored (move the directory away to start afresh)",
                snapshot_path.display(),
                self.dir.join(LOG).display()
            )));
        }
        let mut recovery = Recovery {
            last_reported: covered,
            covered,
            ..Recovery::default()
        };
        self.epoch_starts.clear();
        self.line_open_at.clear();
        self.source_offsets.clear();
        let mut logged = Vec::new();
        for (offset, record) in opened.records {
            match record {
                Record::Chunk {
                    epoch,
                    lines,
                    chunk,
                } => {
                    self.epoch_starts.entry(epoch).or_insert(offset);
                    self.note_line(offset, &chunk);
                    self.note_offset(&chunk);
                    logged.push(LoggedChunk {
                        epoch,
                        lines,
                        chunk,
                    });
                }
                Record::Reported(epoch) => {
                    recovery.last_reported = recovery.last_reported.max(Some(epoch));
                }
                Record::ReportedAt { epoch, length } => {
                    recovery.last_reported = recovery.last_reported.max(Some(epoch));
                    self.reported_at = self.reported_at.max(Some((epoch, length)));
                }
                Record::ReportedTo { epoch, ends } => {
                    recovery.last_reported = recovery.last_reported.max(epoch);
                    self.reported_to = Some((epoch, ends));
                }
                Record::Offsets(offsets) => self.source_offsets.extend(offsets),
            }
        }
        recovery.source_offsets = self.source_offsets.clone();
        // The output's length is known only if the last report noted it.
        recovery.output_length = self
            .reported_at
            .filter(|&(epoch, _)| Some(epoch) == recovery.last_reported)
            .map(|(_, length)| length);
        recovery.topic_ends = self.reported_to.as_ref().map(|(_, ends)| ends.clone());
        recovery.replay = logged;
        recovery = recovery.covered_by_epoch(covered);
        recovery.snapshot = snapshot;
        Ok(recovery)
    }

    /// A restart inside the interval of the last report, `epoch` (a quick restart after a
    /// stop): that batch is reopened, so that it takes this run's lines beside the last run's
    /// and is reported once more, as a correction, with all of them. On the disk, first the
    /// log is rewritten as what a restart replays, noting `epoch − 1` as the last report (and
    /// as the most its snapshot must cover); then a snapshot that covered `epoch` is rewritten
    /// as the same state after `epoch − 1`. A crash between the two leaves a directory that
    /// restores the same counts.
    fn reopen(
        &mut self,
        recovery: &Recovery,
        epoch: Epoch,
        compacted_through: Option<Epoch>,
    ) -> Result<(), Error> {
        let before = epoch - 1;
        let chunks = recovery.replay.iter().map(|logged| Record::Chunk {
            epoch: logged.epoch,
            lines: logged.lines,
            chunk: logged.chunk.clone(),
        });
        let records: Vec<Record> = std::iter::once(Record::Offsets(self.offsets()))
            .chain(chunks)
            .chain([Record::Reported(before)])
            .collect();
        self.wal
            .rewrite(&records, compacted_through.map(|c| c.min(before)))?;
        if let Some(state) = recovery
            .snapshot
            .as_ref()
            .filter(|s| s.reported >= Some(epoch))
        {
            let reopened = State {
                reported: Some(before),
                ..state.clone()
            };
            snapshot::write_full(&self.snapshot_path(), &reopened)?;
        }
        log!("the last run reported the current batch moments ago: it is reopened, and reported again with the lines of both runs");
        Ok(())
    }

    /// Follows where a replayable source resumes after `chunk`.
    fn note_offset(&mut self, chunk: &Chunk) {
        if let Some(resume) = chunk.resume {
            self.source_offsets.insert(resume.partition, resume.next);
        }
    }

    /// Follows whether an over-long line is open at `offset` in the log, where `chunk` is.
    fn note_line(&mut self, offset: u64, chunk: &Chunk) {
        if chunk.line == LineState::CutsOpenLine {
            // What went before is counted in this chunk's batch.
            self.line_open_at.remove(&chunk.reader);
        } else if chunk.line.ends_mid_line() {
            self.line_open_at.entry(chunk.reader).or_insert(offset);
        } else {
            self.line_open_at.remove(&chunk.reader);
        }
    }

    /// Logs a chunk before it is sent into `epoch`.
    pub fn log_chunk(&mut self, epoch: Epoch, lines: u64, chunk: &Chunk) -> Result<(), Error> {
        let position = self.wal.position();
        self.epoch_starts.entry(epoch).or_insert(position);
        self.note_line(position, chunk);
        self.note_offset(chunk);
        self.wal.append(&Record::Chunk {
            epoch,
            lines,
            chunk: chunk.clone(),
        })?;
        if self.fsync == Fsync::Read {
            self.wal.sync()?;
        }
        Ok(())
    }

    /// An epoch closed: with `Fsync::Batch`, everything logged so far goes to disk.
    pub fn epoch_closed(&mut self) -> Result<(), Error> {
        match self.fsync {
            Fsync::Batch => self.wal.sync(),
            Fsync::Read => Ok(()),
        }
    }

    /// Notes where a replayable source starts the partitions the checkpoint did not hold (all of
    /// them on a first start), on the disk before any of their records is logged: a restart
    /// then reads each from there, whatever `--from` says, and a partition the checkpoint does
    /// not hold is one added since, read from its earliest offset.
    pub fn note_starts(&mut self, starts: &BTreeMap<u64, u64>) -> Result<(), Error> {
        if starts.is_empty() {
            return Ok(());
        }
        self.source_offsets.extend(starts);
        let offsets = starts.iter().map(|(&p, &n)| (p, n)).collect();
        self.wal.append(&Record::Offsets(offsets))?;
        self.wal.sync()
    }

    /// Notes that the report of `epoch` was printed (and, writing to `-o`, the file's length
    /// after it).
    pub fn log_reported(&mut self, epoch: Epoch, mark: OutputMark) -> Result<(), Error> {
        match mark {
            OutputMark::FileLength(length) => {
                self.reported_at = Some((epoch, length));
                self.wal.append(&Record::ReportedAt { epoch, length })
            }
            OutputMark::TopicEnds(ends) => self.log_topic_ends(Some(epoch), ends),
            OutputMark::None => self.wal.append(&Record::Reported(epoch)),
        }
    }

    /// Notes where each partition of the `-o kafka://` topic ends after the report of
    /// `epoch`, or (`None`) at a start that found no such note, before any report.
    pub fn log_topic_ends(
        &mut self,
        epoch: Option<Epoch>,
        ends: Vec<(u32, u64)>,
    ) -> Result<(), Error> {
        let record = Record::ReportedTo {
            epoch,
            ends: ends.clone(),
        };
        self.reported_to = Some((epoch, ends));
        self.wal.append(&record)?;
        if epoch.is_none() {
            self.wal.sync()?;
        }
        Ok(())
    }

    /// What the records that a compaction drops said that still holds: where the source's
    /// partitions resume, and how far the output reached after the last report.
    fn carried(&self) -> Vec<Record> {
        let mut carried = Vec::new();
        if !self.source_offsets.is_empty() {
            carried.push(Record::Offsets(self.offsets()));
        }
        if let Some((epoch, length)) = self.reported_at {
            carried.push(Record::ReportedAt { epoch, length });
        }
        if let Some((epoch, ends)) = &self.reported_to {
            carried.push(Record::ReportedTo {
                epoch: *epoch,
                ends: ends.clone(),
            });
        }
        carried
    }

    /// Where each partition of a replayable source resumes.
    fn offsets(&self) -> Vec<(u64, u64)> {
        self.source_offsets.iter().map(|(&p, &n)| (p, n)).collect()
    }

    /// Where the snapshot file is.
    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.join(SNAPSHOT)
    }

    /// Drops the log records of batches up to `covered`, which a snapshot holds. Returns the
    /// readers whose open lines kept records from before the end of `covered` (the snapshot
    /// holds no counts of a line before its end): cutting each of them (a chunk that
    /// [`LineState::CutsOpenLine`]) lets the next snapshot cover them, so that the log stays bounded by
    /// time whatever lines stay open.
    pub fn drop_covered(&mut self, covered: Epoch) -> Result<Vec<u64>, Error> {
        let covered_end = self
            .epoch_starts
            .range(covered + 1..)
            .next()
            .map_or(self.wal.position(), |(_, &offset)| offset);
        let pinning = self
            .line_open_at
            .iter()
            .filter(|(_, &open)| open < covered_end)
            .map(|(&reader, _)| reader)
            .collect();
        let keep_from = self
            .line_open_at
            .values()
            .fold(covered_end, |k, &open| k.min(open));
        if keep_from <= Wal::start() {
            return Ok(pinning);
        }
        let carried = self.carried();
        self.wal.truncate_before(keep_from, covered, &carried)?;
        // Positions never move (see `Wal::position`): only the epochs dropped are forgotten.
        self.epoch_starts = self.epoch_starts.split_off(&(covered + 1));
        Ok(pinning)
    }
}
