//! `--checkpoint DIR`: durable state, so that a restart after a crash (even `kill -9`) resumes
//! with counts equal to those of a run that never crashed.
//!
//! - Every chunk of lines is appended to a write-ahead log ([`wal`]) before it enters the
//!   dataflow, and every printed report is noted there.
//! - Every few reports, worker 0 writes a [`Snapshot`] of what the counts depend on (the live
//!   window's per-batch counts, or the running totals) atomically, and the log before it is
//!   dropped.
//! - At start, the snapshot is fed back into the dataflow and the log after it is replayed;
//!   batches already printed are recomputed silently, so nothing is printed twice.
//!
//! The directory also holds the settings that shaped the counts (mode, window, batching,
//! splitting, case, stop words); a run with other settings is refused with the difference.

mod durability;
pub mod wal;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Fsync;
use crate::dataflow::Epoch;
use crate::error::Error;
use crate::settings::Settings;
use crate::source::Chunk;

pub use durability::Durability;
pub use wal::{Record, Wal};

/// The version of the files in a checkpoint directory. Format 1 stored the settings in Rust's
/// debug text; format 2 stores them in plain words, and reads format 1's.
pub const FORMAT: u32 = 2;

/// Reports between snapshots.
pub const SNAPSHOT_EVERY: u64 = 10;

const META: &str = "netwc-checkpoint.json";
const SNAPSHOT: &str = "snapshot.json";
const LOG: &str = "wal.log";
const LOCK: &str = "lock";

/// What a checkpoint holds besides the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The file format.
    pub format: u32,
    /// The last batch whose report was printed when the snapshot was taken.
    pub reported: Epoch,
    /// What the counts depend on: each live batch's word counts (window and batch modes), or
    /// the running totals at `reported` (incremental mode).
    pub state: Vec<(Epoch, Vec<(String, isize)>)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: u32,
    settings: Settings,
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

/// What a restart finds.
#[derive(Debug, Default)]
pub struct Recovery {
    /// The latest snapshot, if one was written.
    pub snapshot: Option<Snapshot>,
    /// The last batch a snapshot covers: this process's own, or process 0's in a cluster.
    pub covered: Option<Epoch>,
    /// Chunks logged after the snapshot: (epoch, lines, chunk), in order.
    pub replay: Vec<(Epoch, u64, Chunk)>,
    /// The last batch whose report was printed.
    pub last_reported: Option<Epoch>,
}

impl Recovery {
    /// Drops the logged chunks that process 0's snapshot already covers (in a cluster whose
    /// processes all read, the others' logs are compacted only when process 0 says so).
    pub fn covered_by(self, snapshot: Option<Epoch>) -> Recovery {
        match snapshot.filter(|&c| Some(c) > self.covered) {
            Some(covered) => self.covered_by_epoch(Some(covered)),
            None => self,
        }
    }

    /// Keeps the logged chunks after batch `covered`, and the pieces of a line that was still
    /// open then: a snapshot holds no counts of a line before its end.
    fn covered_by_epoch(mut self, covered: Option<Epoch>) -> Recovery {
        let Some(covered) = covered else {
            return self;
        };
        let after = self
            .replay
            .iter()
            .position(|(epoch, _, _)| *epoch > covered)
            .unwrap_or(self.replay.len());
        let open_line = self.replay[..after]
            .iter()
            .rposition(|(_, _, chunk)| !chunk.ends_mid_line)
            .map_or(0, |last_whole| last_whole + 1);
        self.replay.drain(..open_line);
        self.covered = Some(covered);
        self
    }

    /// The epoch a restarted run resumes in: after the snapshot, or the first epoch the log
    /// holds or that was not reported yet; `None` when there is nothing to resume.
    pub fn resume_epoch(&self) -> Option<u64> {
        if let Some(covered) = self.covered {
            return Some(covered + 1);
        }
        let logged = self.replay.first().map(|(epoch, _, _)| *epoch);
        let unreported = self.last_reported.map(|e| e + 1);
        match (logged, unreported) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The number of distinct words in the snapshot's state.
    pub fn words_in_state(&self) -> usize {
        let mut words = std::collections::HashSet::new();
        for (_, counts) in self.snapshot.iter().flat_map(|s| &s.state) {
            words.extend(counts.iter().map(|(w, _)| w.as_str()));
        }
        words.len()
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
    /// Where the first piece of an over-long line that has not ended yet starts in the log:
    /// its counts wait for the line's end, so a snapshot does not cover it, whatever its epoch.
    line_open_at: Option<u64>,
}

impl Checkpoint {
    /// Opens `dir` (creating it on a first start) for a run with `settings`; says what a
    /// restart must restore, or `None` on a first start.
    pub fn open(
        dir: &Path,
        settings: &Settings,
        fsync: Fsync,
    ) -> Result<(Checkpoint, Option<Recovery>), Error> {
        let meta_path = dir.join(META);
        let fresh = !meta_path.exists();
        if fresh {
            refuse_foreign(dir)?;
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::runtime(format!(
                    "cannot create --checkpoint '{}': {e}",
                    dir.display()
                ))
            })?;
        }
        let lock = lock(dir)?;
        if fresh {
            let meta = Meta {
                format: FORMAT,
                settings: settings.clone(),
            };
            let text = serde_json::to_vec_pretty(&meta).expect("meta serializes");
            write_atomically(&dir.join("meta.tmp"), &meta_path, &text).map_err(|e| {
                Error::runtime(format!("cannot write '{}': {e}", meta_path.display()))
            })?;
            crate::log!("Creating new context in {}", dir.display());
        } else {
            check_meta(&meta_path, settings)?;
        }
        let (wal, records) = Wal::open(&dir.join(LOG))?;
        let mut checkpoint = Checkpoint {
            dir: dir.to_path_buf(),
            _lock: lock,
            wal,
            fsync,
            epoch_starts: BTreeMap::new(),
            line_open_at: None,
        };
        if fresh {
            return Ok((checkpoint, None));
        }
        let snapshot = read_snapshot(&dir.join(SNAPSHOT))?;
        let covered = snapshot.as_ref().map(|s| s.reported);
        let mut recovery = Recovery {
            last_reported: covered,
            covered,
            ..Recovery::default()
        };
        let mut logged = Vec::new();
        for (offset, record) in records {
            match record {
                Record::Chunk {
                    epoch,
                    lines,
                    chunk,
                } => {
                    checkpoint.epoch_starts.entry(epoch).or_insert(offset);
                    checkpoint.note_line(offset, &chunk);
                    logged.push((epoch, lines, chunk));
                }
                Record::Reported(epoch) => {
                    recovery.last_reported = recovery.last_reported.max(Some(epoch));
                }
            }
        }
        recovery.replay = logged;
        recovery = recovery.covered_by_epoch(covered);
        recovery.snapshot = snapshot;
        Ok((checkpoint, Some(recovery)))
    }

    /// Follows whether an over-long line is open at `offset` in the log, where `chunk` is.
    fn note_line(&mut self, offset: u64, chunk: &Chunk) {
        if chunk.ends_mid_line {
            self.line_open_at.get_or_insert(offset);
        } else {
            self.line_open_at = None;
        }
    }

    /// Logs a chunk before it is sent into `epoch`.
    pub fn log_chunk(&mut self, epoch: Epoch, lines: u64, chunk: &Chunk) -> Result<(), Error> {
        let position = self.wal.position();
        self.epoch_starts.entry(epoch).or_insert(position);
        self.note_line(position, chunk);
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

    /// Notes that the report of `epoch` was printed.
    pub fn log_reported(&mut self, epoch: Epoch) -> Result<(), Error> {
        self.wal.append(&Record::Reported(epoch))
    }

    /// Writes `snapshot` atomically, then drops the log records it covers.
    pub fn save(&mut self, snapshot: &Snapshot) -> Result<(), Error> {
        let path = self.dir.join(SNAPSHOT);
        let text = serde_json::to_vec(snapshot).expect("snapshot serializes");
        self.wal.sync()?;
        write_atomically(&self.dir.join("snapshot.tmp"), &path, &text)
            .map_err(|e| Error::runtime(format!("cannot write '{}': {e}", path.display())))?;
        self.drop_covered(snapshot.reported)
    }

    /// Drops the log records of batches up to `covered`, which a snapshot holds.
    pub fn drop_covered(&mut self, covered: Epoch) -> Result<(), Error> {
        let keep_from = self
            .epoch_starts
            .range(covered + 1..)
            .next()
            .map_or(self.wal.position(), |(_, &offset)| offset);
        let keep_from = self
            .line_open_at
            .map_or(keep_from, |open| open.min(keep_from));
        if keep_from == 0 {
            return Ok(());
        }
        self.wal.truncate_before(keep_from)?;
        self.line_open_at = self.line_open_at.map(|open| open - keep_from);
        self.epoch_starts = self
            .epoch_starts
            .split_off(&(covered + 1))
            .into_iter()
            .map(|(epoch, offset)| (epoch, offset - keep_from))
            .collect();
        Ok(())
    }
}

/// Takes the directory's lock, or says which process holds it. The lock file holds the PID of
/// its holder, for that message; the lock itself is `flock`, which dies with its process, so a
/// `kill -9` leaves nothing stale behind.
fn lock(dir: &Path) -> Result<File, Error> {
    let path = dir.join(LOCK);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::runtime(format!("cannot open '{}': {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = match holder.trim() {
                "" => "another process".to_string(),
                pid => format!("process {pid}"),
            };
            return Err(Error::runtime(format!(
                "--checkpoint '{}' is in use by another netwc ({holder}): one run per directory; stop that run first or choose another directory",
                dir.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(Error::runtime(format!(
                "cannot lock '{}': {e}",
                path.display()
            )))
        }
    }
    let written = file
        .set_len(0)
        .and_then(|_| writeln!(file, "{}", std::process::id()));
    written.map_err(|e| Error::runtime(format!("cannot write '{}': {e}", path.display())))?;
    Ok(file)
}

/// A directory without our metadata is refused unless it is empty (or only holds a lock file
/// a first start left): it may hold someone's files. A cluster's checkpoint (`process-I`
/// folders) gets a message of its own.
fn refuse_foreign(dir: &Path) -> Result<(), Error> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != LOCK)
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let processes = names.iter().filter(|n| n.starts_with("process-")).count();
    if processes > 0 && dir.join("process-0").join(META).exists() {
        return Err(Error::Usage(format!(
            "--checkpoint '{}' holds the checkpoint of a cluster of {processes} processes (process-0 … process-{}): resume it with --processes {processes}, or choose another directory",
            dir.display(),
            processes - 1
        )));
    }
    Err(Error::runtime(format!(
        "--checkpoint '{}' holds files but no {META}: it is not a netwc checkpoint; choose an empty or new directory",
        dir.display()
    )))
}

/// A cluster keeps its checkpoint in `DIR/process-I`: a DIR that holds a single process's
/// checkpoint is refused, or the cluster would start afresh beside it.
pub fn check_cluster_layout(
    dir: &Path,
    cluster: &crate::config::ClusterConfig,
) -> Result<(), Error> {
    if cluster.processes > 1 && dir.join(META).exists() {
        return Err(Error::Usage(format!(
            "--checkpoint '{}' holds the checkpoint of a single process: resume it without --processes, or choose another directory",
            dir.display()
        )));
    }
    Ok(())
}

fn check_meta(path: &Path, settings: &Settings) -> Result<(), Error> {
    let text = std::fs::read(path)
        .map_err(|e| Error::runtime(format!("cannot read '{}': {e}", path.display())))?;
    let meta: Meta = serde_json::from_slice(&text).map_err(|e| {
        Error::runtime(format!(
            "'{}' is corrupt or not a netwc checkpoint: {e}",
            path.display()
        ))
    })?;
    if meta.format > FORMAT {
        return Err(Error::runtime(format!(
            "'{}' has checkpoint format {}, newer than this netwc's {FORMAT}: use a newer netwc or another directory",
            path.display(),
            meta.format
        )));
    }
    let stored = match meta.format {
        1 => Settings::from_format_1(&meta.settings).ok_or_else(|| {
            Error::runtime(format!(
                "'{}' was written by an older netwc (checkpoint format 1) with settings this netwc cannot read: choose another directory",
                path.display()
            ))
        })?,
        _ => meta.settings,
    };
    let differences = settings.differences(&stored);
    if !differences.is_empty() {
        return Err(Error::Usage(format!(
            "--checkpoint '{}' was written by a run with other settings: {}; resume with the same settings or choose another directory",
            path.parent().unwrap_or(path).display(),
            differences.join("; ").replace(" there", " in the checkpoint")
        )));
    }
    Ok(())
}

fn read_snapshot(path: &Path) -> Result<Option<Snapshot>, Error> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::runtime(format!(
                "cannot read '{}': {e}",
                path.display()
            )))
        }
    };
    let snapshot: Snapshot = serde_json::from_slice(&text).map_err(|e| {
        Error::runtime(format!(
            "the snapshot '{}' is corrupt ({e}); it cannot be restored safely",
            path.display()
        ))
    })?;
    if snapshot.format > FORMAT {
        return Err(Error::runtime(format!(
            "the snapshot '{}' has format {}, newer than this netwc's {FORMAT}",
            path.display(),
            snapshot.format
        )));
    }
    Ok(Some(snapshot))
}

/// Writes `bytes` to `temporary`, syncs it, and renames it over `path`, then syncs the folder:
/// a reader sees the old file or the new one, never a part.
pub(crate) fn write_atomically(temporary: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(temporary, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}
