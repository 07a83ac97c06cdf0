//! The write-ahead log: every chunk of lines is appended here before it enters the dataflow,
//! and every printed report is noted, so that a restart replays exactly what was read and
//! prints nothing twice.
//!
//! The file is laid out as [`super::framing`] says: a header whose mark is one past the last
//! batch a snapshot covered when the log was last compacted (0: never compacted), so that a
//! missing or older snapshot is found; then records, each a kind byte and its fields.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::framing::{self, FILE_HEADER};
use crate::error::Error;
use crate::vocab::{Chunk, Epoch, LineState, SourceOffset};

/// What the log's header starts with.
const MAGIC: &[u8; 8] = b"NETWCLOG";
/// A record that only fills space (all zeros), so that a compacted log's records keep their
/// place within a page.
const KIND_FILLER: u8 = 0;
const KIND_REPORTED: u8 = 2;
/// A chunk with the reader that read it (and, flag 8, where its source resumes after it; flag
/// 16, its text left out, to be read again from the source: see [`Record::text_left_out`]).
const KIND_CHUNK: u8 = 3;
/// Where each partition of a replayable source resumes, as of the records a compaction
/// dropped.
const KIND_OFFSETS: u8 = 4;
/// A report, and the output file's length after it.
const KIND_REPORTED_AT: u8 = 5;
/// A report (or the start, before any), and where each partition of the `-o kafka://` topic
/// ended after it.
const KIND_REPORTED_TO: u8 = 6;
/// How [`Record::ReportedTo`] writes "no report yet".
const NO_EPOCH: u64 = u64::MAX;

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A chunk sent into `epoch`, in which `lines` lines end.
    Chunk {
        /// The epoch it was sent in.
        epoch: Epoch,
        /// Lines that end in it.
        lines: u64,
        /// The chunk.
        chunk: Chunk,
    },
    /// The report of `epoch` was written and flushed.
    Reported(Epoch),
    /// The report of `epoch` was written and flushed, and the `-o` file then held `length`
    /// bytes: a restart cuts what a run that failed mid-report left after it.
    ReportedAt {
        /// The batch reported.
        epoch: Epoch,
        /// The output file's length after its report.
        length: u64,
    },
    /// Where a replayable source's partitions resume (partition, next offset), as of the
    /// chunks before this record that a compaction dropped.
    Offsets(Vec<(u64, u64)>),
    /// The report of `epoch` (`None`: the start, before any report) was delivered to the
    /// `-o kafka://` topic, whose partitions then ended at `ends` (partition, next offset): a
    /// restart reads them back from there, so that it sends no record twice.
    ReportedTo {
        /// The batch reported.
        epoch: Option<Epoch>,
        /// Each partition's end after it.
        ends: Vec<(u32, u64)>,
    },
}

impl Record {
    /// Whether a chunk is logged without its text: a chunk of whole records of a replayable
    /// source (Kafka) is the records of offsets `from..next` of its partition, which a restart
    /// reads again from the source, so the log holds offsets, not data. A piece of such a
    /// chunk that a line batch cut holds only some of its records: it is logged with its text.
    pub fn text_left_out(chunk: &Chunk) -> bool {
        chunk.resume.is_some_and(|at| at.from.is_some()) && chunk.line == LineState::Whole
    }

    /// Appends the record to `out`, which starts at file offset `base`.
    fn encode(&self, out: &mut Vec<u8>, base: u64) {
        framing::push_record(out, base, |out| match self {
            Record::Chunk {
                epoch,
                lines,
                chunk,
            } => {
                let left_out = Record::text_left_out(chunk);
                out.push(KIND_CHUNK);
                out.extend_from_slice(&epoch.to_le_bytes());
                out.extend_from_slice(&lines.to_le_bytes());
                out.push(
                    chunk.line.flags()
                        | (u8::from(chunk.resume.is_some()) << 3)
                        | (u8::from(left_out) << 4),
                );
                out.extend_from_slice(&chunk.reader.to_le_bytes());
                if let Some(resume) = chunk.resume {
                    out.extend_from_slice(&resume.partition.to_le_bytes());
                    out.extend_from_slice(&resume.next.to_le_bytes());
                }
                match chunk.resume.and_then(|at| at.from).filter(|_| left_out) {
                    Some(from) => out.extend_from_slice(&from.to_le_bytes()),
                    None => out.extend_from_slice(&chunk.text),
                }
            }
            Record::Reported(epoch) => {
                out.push(KIND_REPORTED);
                out.extend_from_slice(&epoch.to_le_bytes());
            }
            Record::ReportedAt { epoch, length } => {
                out.push(KIND_REPORTED_AT);
                out.extend_from_slice(&epoch.to_le_bytes());
                out.extend_from_slice(&length.to_le_bytes());
            }
            Record::ReportedTo { epoch, ends } => {
                out.push(KIND_REPORTED_TO);
                out.extend_from_slice(&epoch.unwrap_or(NO_EPOCH).to_le_bytes());
                for (partition, end) in ends {
                    out.extend_from_slice(&partition.to_le_bytes());
                    out.extend_from_slice(&end.to_le_bytes());
                }
            }
            Record::Offsets(offsets) => {
                out.push(KIND_OFFSETS);
                for (partition, next) in offsets {
                    out.extend_from_slice(&partition.to_le_bytes());
                    out.extend_from_slice(&next.to_le_bytes());
                }
            }
        })
    }

    fn decode(payload: &[u8]) -> Option<Record> {
        let epoch = |at: usize| {
            Some(u64::from_le_bytes(
                payload.get(at..at + 8)?.try_into().ok()?,
            ))
        };
        match *payload.first()? {
            KIND_CHUNK => {
                let flags = *payload.get(17)?;
                let left_out = flags & 16 != 0;
                let (mut resume, mut text) = match flags & 8 != 0 {
                    true => {
                        let resume = SourceOffset {
                            partition: epoch(26)?,
                            next: epoch(34)?,
                            from: None,
                        };
                        (Some(resume), 42)
                    }
                    false => (None, 26),
                };
                if left_out {
                    // A chunk without its text is one of whole records, which ends at least
                    // one line: anything else is not a record this log could hold.
                    let whole_records = flags & 7 == 0 && resume.is_some() && epoch(9)? > 0;
                    if !whole_records || payload.len() != text + 8 {
                        return None;
                    }
                    if let Some(at) = resume.as_mut() {
                        at.from = Some(epoch(text)?);
                    }
                    text += 8;
                }
                Some(Record::Chunk {
                    epoch: epoch(1)?,
                    lines: epoch(9)?,
                    chunk: Chunk {
                        text: payload.get(text..)?.to_vec(),
                        line: LineState::from_flags(flags)?,
                        reader: epoch(18)?,
                        resume,
                    },
                })
            }
            KIND_OFFSETS if (payload.len() - 1).is_multiple_of(16) => Some(Record::Offsets(
                (1..payload.len())
                    .step_by(16)
                    .map(|at| Some((epoch(at)?, epoch(at + 8)?)))
                    .collect::<Option<_>>()?,
            )),
            KIND_REPORTED if payload.len() == 9 => Some(Record::Reported(epoch(1)?)),
            KIND_REPORTED_TO if payload.len() >= 9 && (payload.len() - 9).is_multiple_of(12) => {
                let ends = (9..payload.len())
                    .step_by(12)
                    .map(|at| {
                        let partition =
                            u32::from_le_bytes(payload.get(at..at + 4)?.try_into().ok()?);
                        Some((partition, epoch(at + 4)?))
                    })
                    .collect::<Option<_>>()?;
                Some(Record::ReportedTo {
                    epoch: Some(epoch(1)?).filter(|&e| e != NO_EPOCH),
                    ends,
                })
            }
            KIND_REPORTED_AT if payload.len() == 17 => Some(Record::ReportedAt {
                epoch: epoch(1)?,
                length: epoch(9)?,
            }),
            _ => None,
        }
    }
}

/// The log file, open for appending.
///
/// Dropping the records that a snapshot covers ([`Wal::truncate_before`]) copies the rest to a
/// new file and syncs it, which takes a while on a long log: a thread of its own does that
/// copy while the counting worker goes on appending, and takes the file's lock only to copy
/// what was appended meanwhile and rename the new file into place.
pub struct Wal {
    path: PathBuf,
    file: Arc<Mutex<LogFile>>,
    buffer: Vec<u8>,
    /// The compaction under way, if any.
    compaction: Option<JoinHandle<Result<(), Error>>>,
    /// Where the records that the last compaction kept start (the first record's position
    /// if none ran): a compaction from there or before would drop nothing.
    kept_from: u64,
}

/// The file behind a [`Wal`], shared with the compaction thread.
struct LogFile {
    file: File,
    /// Bytes in the file.
    length: u64,
    /// Bytes known to be on the disk: a sync with nothing new to force is skipped (empty
    /// batches, and every batch missed while netwc was down, cost no `fsync`).
    synced: u64,
    /// Bytes that compactions dropped from the file's head since it was opened: positions
    /// given out ([`Wal::position`]) count them, so that they never move. (A compaction drops
    /// whole pages, so a record's place within its page is the same either way.)
    dropped: u64,
}

impl LogFile {
    /// Where the next record starts, counting what compactions dropped.
    fn position(&self) -> u64 {
        self.dropped + self.length
    }
}

/// What a log holds when it is opened.
pub struct Opened {
    /// Its records, each with its offset.
    pub records: Vec<(u64, Record)>,
    /// The last batch that a snapshot covered when the log was last compacted: a restart needs
    /// a snapshot that covers at least that much.
    pub compacted_through: Option<Epoch>,
}

impl Wal {
    /// Creates an empty log at `path` (on a first start, before the directory is marked as a
    /// checkpoint, so that a checkpoint always has its log).
    pub fn create(path: &Path) -> Result<(), Error> {
        let temporary = path.with_file_name(super::directory::LOG_TEMPORARY);
        super::write_atomically(&temporary, path, &framing::file_header(MAGIC, 0)).map_err(|e| {
            Error::runtime(format!(
                "cannot create the checkpoint log '{}': {e}",
                path.display()
            ))
        })
    }

    /// Opens the log at `path` and reads its records. A torn last record is cut off, with a
    /// warning; any other damage, or a missing log, is an error.
    pub fn open(path: &Path) -> Result<(Wal, Opened), Error> {
        let fail = |what: &str, e: io::Error| {
            Error::runtime(format!(
                "cannot {what} the checkpoint log '{}': {e}",
                path.display()
            ))
        };
        let mut file = match OpenOptions::new().read(true).append(true).open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::runtime(format!(
                    "the checkpoint log '{}' is missing: the batches it held cannot be replayed (move the directory away to start afresh)",
                    path.display()
                )))
            }
            Err(e) => return Err(fail("open", e)),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| fail("read", e))?;
        let mark = framing::check_file_header(&bytes, MAGIC, path)?;
        let read = framing::read_records(&bytes, path)?;
        let mut records = Vec::with_capacity(read.records.len());
        for (offset, payload) in read.records {
            if payload.first() == Some(&KIND_FILLER) {
                continue;
            }
            let record = Record::decode(payload).ok_or_else(|| {
                framing::corrupt(path, offset, "a record of an unknown kind or size")
            })?;
            records.push((offset, record));
        }
        let mut length = bytes.len() as u64;
        if let Some(zeros) = read.zeros_at {
            // What ext4 (data=writeback) and XFS leave of writes after the last sync: the
            // file's new length reached the disk, its data did not. (Records are checksummed
            // and never hold a zero header, so no record is taken for zeros.)
            log!(
                "warning: dropped {} bytes of zeros at the end of '{}' (from offset {zeros}): a power cut or system crash kept the last writes from the disk",
                length - zeros,
                path.display()
            );
            file.set_len(zeros).map_err(|e| fail("repair", e))?;
            file.sync_all().map_err(|e| fail("repair", e))?;
            length = zeros;
        }
        if let Some(torn) = read.torn_at {
            log!(
                "warning: dropped a torn last record ({} bytes at offset {torn}) of '{}': a crash interrupted its write",
                length - torn,
                path.display()
            );
            file.set_len(torn).map_err(|e| fail("repair", e))?;
            file.sync_all().map_err(|e| fail("repair", e))?;
            length = torn;
        }
        let wal = Wal {
            path: path.to_path_buf(),
            file: Arc::new(Mutex::new(LogFile {
                file,
                length,
                synced: length,
                dropped: 0,
            })),
            buffer: Vec::with_capacity(1 << 16),
            compaction: None,
            kept_from: Wal::start(),
        };
        let compacted_through = mark.checked_sub(1);
        Ok((
            wal,
            Opened {
                records,
                compacted_through,
            },
        ))
    }

    /// Appends a record; it reaches the operating system at once (so it survives the process)
    /// and the disk at the next [`Wal::sync`].
    pub fn append(&mut self, record: &Record) -> Result<(), Error> {
        let mut log = lock(&self.file);
        self.buffer.clear();
        record.encode(&mut self.buffer, log.position());
        log.file.write_all(&self.buffer).map_err(|e| {
            Error::runtime(format!(
                "cannot write the checkpoint log '{}': {e}",
                self.path.display()
            ))
        })?;
        log.length += self.buffer.len() as u64;
        Ok(())
    }

    /// Where the next record starts. Positions never move: those of records a compaction
    /// kept stay as they were.
    pub fn position(&self) -> u64 {
        lock(&self.file).position()
    }

    /// Where the first record starts.
    pub fn start() -> u64 {
        FILE_HEADER as u64
    }

    /// Forces what was appended to the disk (and reports a compaction that failed).
    pub fn sync(&mut self) -> Result<(), Error> {
        self.finish_compaction(false)?;
        let mut log = lock(&self.file);
        if log.synced == log.length {
            return Ok(());
        }
        log.file.sync_data().map_err(|e| {
            Error::runtime(format!(
                "cannot sync the checkpoint log '{}': {e}",
                self.path.display()
            ))
        })?;
        log.synced = log.length;
        Ok(())
    }

    /// Collects the compaction under way if it is over (or, with `wait`, once it is): its
    /// error, if it failed. Whether none is under way now.
    fn finish_compaction(&mut self, wait: bool) -> Result<bool, Error> {
        match self.compaction.take() {
            None => Ok(true),
            Some(running) if !wait && !running.is_finished() => {
                self.compaction = Some(running);
                Ok(false)
            }
            Some(running) => running
                .join()
                .unwrap_or_else(|_| {
                    Err(Error::runtime(
                        "the thread that compacts the checkpoint log failed; this is a bug in netwc (please report it)",
                    ))
                })
                .map(|()| true),
        }
    }

    /// Replaces the log with `records`, its header marking `compacted_through` as the least
    /// that a snapshot must cover.
    pub fn rewrite(
        &mut self,
        records: &[Record],
        compacted_through: Option<Epoch>,
    ) -> Result<(), Error> {
        self.finish_compaction(true)?;
        let mark = compacted_through.map_or(0, |c| c + 1);
        let mut bytes = framing::file_header(MAGIC, mark).to_vec();
        for record in records {
            record.encode(&mut bytes, 0);
        }
        let temporary = self.path.with_file_name(super::directory::LOG_TEMPORARY);
        super::write_atomically(&temporary, &self.path, &bytes).map_err(|e| {
            Error::runtime(format!(
                "cannot rewrite the checkpoint log '{}': {e}",
                self.path.display()
            ))
        })
    }

    /// Drops the records before position `from`, which the snapshot of batch `covered` holds:
    /// the rest is copied after a new header and the `carried` records (what the dropped ones
    /// said that still holds) to a file that atomically replaces the log, by a
    /// thread of its own (see [`Wal`]). One still under way from the last snapshot is waited
    /// for first (compactions come about a second apart, so that is rare). A compaction that
    /// failed is reported here or by the next [`Wal::sync`].
    pub fn truncate_before(
        &mut self,
        from: u64,
        covered: Epoch,
        carried: &[Record],
    ) -> Result<(), Error> {
        if from <= self.kept_from {
            return Ok(());
        }
        self.finish_compaction(true)?;
        self.kept_from = from;
        let (from, end) = {
            let log = lock(&self.file);
            (from - log.dropped, log.length)
        };
        // The records keep their place within a page (no header may cross one): the tail
        // starts at `target`, `from`'s place in its page, after what the dropped records
        // leave that still holds (`carried`: where the source resumes, the last report) and a
        // filler record.
        let mut head = framing::file_header(MAGIC, covered + 1).to_vec();
        for record in carried {
            record.encode(&mut head, 0);
        }
        // (Always, even when nothing stays yet: what is appended meanwhile goes after it.)
        let at = head.len() as u64;
        let bare = at;
        let least = at + framing::padding_before(at) as u64 + framing::RECORD_HEADER as u64 + 1;
        let mut target = from % framing::PAGE;
        while target < least {
            target += framing::PAGE;
        }
        let filler = (target - least + 1) as usize;
        framing::push_record(&mut head, 0, |out| {
            out.resize(out.len() + filler, KIND_FILLER)
        });
        debug_assert_eq!(head.len() as u64, target);
        // A log so short that the new head would not fit before `from`: the records kept
        // would move forward, so it stays as it is, unless none is kept.
        let moved = from.checked_sub(target);
        if moved.is_none() && from < end {
            return Ok(());
        }
        let compaction = Compaction {
            path: self.path.clone(),
            temporary: self.path.with_file_name(super::directory::LOG_TEMPORARY),
            head,
            bare,
            from,
            end,
            moved,
        };
        let file = Arc::clone(&self.file);
        let running = std::thread::Builder::new()
            .name("netwc-compact".into())
            .spawn(move || compaction.run(&file))
            .map_err(|e| {
                Error::runtime(format!(
                    "cannot start a thread to compact the checkpoint log '{}': {e}",
                    self.path.display()
                ))
            })?;
        self.compaction = Some(running);
        Ok(())
    }
}

impl Drop for Wal {
    /// A compaction under way finishes (it is short), so that the next open finds one log.
    fn drop(&mut self) {
        if let Err(e) = self.finish_compaction(true) {
            log!("warning: {e}");
        }
    }
}

/// One compaction of the log: `head`, then the file's bytes from `from` on, replace the file.
struct Compaction {
    path: PathBuf,
    temporary: PathBuf,
    /// The new file's header and first records, then a filler up to `from`'s place in its page.
    head: Vec<u8>,
    /// The length of `head` without the filler: the whole file if no record stays.
    bare: u64,
    /// Where the records kept start in the file.
    from: u64,
    /// The file's length when the compaction began: what is copied without the file's lock.
    end: u64,
    /// How far the records kept move towards the start (`None`: they would move forward, so
    /// the compaction goes ahead only if none is kept).
    moved: Option<u64>,
}

impl Compaction {
    /// Copies and syncs the records up to `end` while the worker appends, then, holding the
    /// file's lock, what it appended meanwhile; renames the copy over the log and takes its
    /// place. A copy that failed is removed (a full disk must not stay full of it).
    fn run(self, shared: &Mutex<LogFile>) -> Result<(), Error> {
        let swapped = self.copy_and_swap(shared);
        if swapped.is_err() {
            let _ = std::fs::remove_file(&self.temporary);
        }
        swapped.map_err(|e| {
            Error::runtime(format!(
                "cannot compact the checkpoint log '{}': {e}",
                self.path.display()
            ))
        })
    }

    fn copy_and_swap(&self, shared: &Mutex<LogFile>) -> io::Result<()> {
        let mut copy = File::create(&self.temporary)?;
        copy.write_all(&self.head)?;
        let mut old = File::open(&self.path)?;
        io::Seek::seek(&mut old, io::SeekFrom::Start(self.from))?;
        let bulk = self.end.saturating_sub(self.from);
        if io::copy(&mut (&mut old).take(bulk), &mut copy)? != bulk {
            return Err(io::Error::other("the log is shorter than it was"));
        }
        copy.sync_data()?;
        let mut log = lock(shared);
        let appended = log.length - self.end;
        if io::copy(&mut (&mut old).take(appended), &mut copy)? != appended {
            return Err(io::Error::other("the log is shorter than it was"));
        }
        // No record stays (a run's last snapshot covers them all): the filler goes too, and
        // positions jump ahead to the next page's start, so that they still never move back
        // and a record's place in its page is the same in both counts.
        let (length, dropped) = if log.length == self.from {
            copy.set_len(self.bare)?;
            let page = framing::PAGE;
            let dropped = log.position().saturating_sub(self.bare).div_ceil(page) * page;
            (self.bare, dropped)
        } else if let Some(moved) = self.moved {
            (log.length - moved, log.dropped + moved)
        } else {
            // Records came meanwhile and would move forward: no compaction this time.
            drop(log);
            drop(copy);
            return std::fs::remove_file(&self.temporary);
        };
        copy.sync_data()?;
        drop(copy);
        // Opened before the rename, so that once the new file has the log's name the worker
        // appends to it whatever fails after.
        let appender = OpenOptions::new().append(true).open(&self.temporary)?;
        std::fs::rename(&self.temporary, &self.path)?;
        log.file = appender;
        log.length = length;
        log.dropped = dropped;
        log.synced = length;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// Locks the log file; a thread that panicked holding it left it as whole as any crash would.
fn lock(file: &Mutex<LogFile>) -> MutexGuard<'_, LogFile> {
    file.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(path: &Path) -> Vec<Record> {
        let (_, opened) = Wal::open(path).unwrap();
        opened.records.into_iter().map(|(_, r)| r).collect()
    }

    /// A new, empty log in a temporary directory (kept while the directory is), opened.
    fn new_log() -> (tempfile::TempDir, PathBuf, Wal) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.log");
        Wal::create(&path).unwrap();
        let (wal, _) = Wal::open(&path).unwrap();
        (dir, path, wal)
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.log");
        let chunk = Record::Chunk {
            epoch: 7,
            lines: 2,
            chunk: Chunk {
                text: b"a b\nc\n".to_vec(),
                line: LineState::EndsOpenLine,
                reader: 1 << 32 | 7,
                resume: Some(SourceOffset {
                    partition: 1 << 32 | 2,
                    from: None,
                    next: 9_000,
                }),
            },
        };
        // Whole records of a partition: logged as offsets, their text read again at restart.
        let whole = |text: &[u8]| Record::Chunk {
            epoch: 7,
            lines: 3,
            chunk: Chunk {
                text: text.to_vec(),
                reader: 1 << 32 | 7,
                resume: Some(SourceOffset {
                    partition: 1 << 32 | 2,
                    from: Some(9_000),
                    next: 9_003,
                }),
                ..Chunk::default()
            },
        };
        Wal::create(&path).unwrap();
        {
            let (mut wal, opened) = Wal::open(&path).unwrap();
            assert!(opened.records.is_empty());
            assert_eq!(opened.compacted_through, None);
            wal.append(&chunk).unwrap();
            wal.append(&whole(b"x\ny\nz\n")).unwrap();
            wal.append(&Record::Reported(7)).unwrap();
        }
        assert!(
            !std::fs::read(&path)
                .unwrap()
                .windows(6)
                .any(|w| w == b"x\ny\nz\n"),
            "the records' text is not logged"
        );
        // A crash in the middle of a third record: its header is whole, its payload is not.
        let mut third = Vec::new();
        let end = std::fs::metadata(&path).unwrap().len();
        Record::Reported(8).encode(&mut third, end);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&third[..third.len() - 3]).unwrap();
        drop(file);
        assert_eq!(
            records(&path),
            vec![chunk.clone(), whole(b""), Record::Reported(7)]
        );
        // Damage before the last record is an error, not a silent loss.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[FILE_HEADER + 14] ^= 0xFF;
        std::fs::write(&path, &bytes).unwrap();
        let error = Wal::open(&path)
            .err()
            .expect("corruption is reported")
            .to_string();
        assert!(error.contains("corrupt at offset 24"), "{error}");
    }

    #[test]
    fn a_tail_of_zeros_is_a_power_cut_and_other_damage_an_error() {
        for zeros in [100, 4096, 65536] {
            let (_dir, path, mut wal) = new_log();
            wal.append(&Record::Reported(1)).unwrap();
            wal.sync().unwrap();
            let synced = wal.position();
            wal.append(&Record::Reported(2)).unwrap();
            drop(wal);
            // What ext4 (data=writeback) or XFS leave of writes after the last sync.
            let mut bytes = std::fs::read(&path).unwrap();
            bytes.extend(std::iter::repeat_n(0, zeros));
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(records(&path), [Record::Reported(1), Record::Reported(2)]);
            // Zeros from the first record past the sync (a lost page): that record is lost,
            // as unsynced.
            let mut bytes = std::fs::read(&path).unwrap();
            let cut = synced as usize;
            bytes[cut..].fill(0);
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(records(&path), [Record::Reported(1)]);
            assert!(std::fs::metadata(&path).unwrap().len() <= cut as u64);
            // Zeros with a byte of something else after them: damage, not a power cut.
            let mut bytes = std::fs::read(&path).unwrap();
            bytes.extend([0, 0, 0, 1]);
            std::fs::write(&path, &bytes).unwrap();
            let error = Wal::open(&path).err().expect("damage is found").to_string();
            assert!(error.contains("corrupt at offset"), "{error}");
        }
    }

    #[test]
    fn a_compacted_log_says_what_its_snapshot_must_cover() {
        let (_dir, path, mut wal) = new_log();
        // Enough records to cross pages (their headers then move past the page's end).
        let mut positions = Vec::new();
        for epoch in 0..1000 {
            positions.push(wal.position());
            wal.append(&Record::Reported(epoch)).unwrap();
        }
        let carried = [
            Record::Offsets(vec![(7, 70)]),
            Record::ReportedAt {
                epoch: 599,
                length: 4096,
            },
        ];
        wal.truncate_before(positions[600], 599, &carried).unwrap();
        // Appended while the compaction runs, or after it.
        for epoch in 1000..3000 {
            let before = wal.position();
            wal.append(&Record::Reported(epoch)).unwrap();
            assert!(wal.position() > before, "positions never move back");
        }
        wal.finish_compaction(true).unwrap();
        wal.append(&Record::Reported(3000)).unwrap();
        drop(wal);
        let (_, opened) = Wal::open(&path).unwrap();
        assert_eq!(opened.compacted_through, Some(599));
        let mut expected = vec![
            Record::Offsets(vec![(7, 70)]),
            Record::ReportedAt {
                epoch: 599,
                length: 4096,
            },
        ];
        expected.extend((600..=3000).map(Record::Reported));
        assert_eq!(records(&path), expected);
    }

    #[test]
    fn a_log_that_a_snapshot_covers_whole_shrinks_to_its_header() {
        let (_dir, path, mut wal) = new_log();
        for epoch in 0..1000 {
            wal.append(&Record::Reported(epoch)).unwrap();
        }
        let end = wal.position();
        wal.truncate_before(end, 999, &[]).unwrap();
        wal.finish_compaction(true).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() < 100);
        assert!(wal.position() >= end, "positions never move back");
        wal.append(&Record::Reported(1000)).unwrap();
        drop(wal);
        let (_, opened) = Wal::open(&path).unwrap();
        assert_eq!(opened.compacted_through, Some(999));
        assert_eq!(records(&path), vec![Record::Reported(1000)]);
    }

    #[test]
    fn where_a_topic_ended_after_a_report_round_trips() {
        let (_dir, path, mut wal) = new_log();
        let written = [
            Record::ReportedTo {
                epoch: None,
                ends: vec![(0, 5), (1, 0), (2, 1 << 40)],
            },
            Record::ReportedTo {
                epoch: Some(7),
                ends: vec![],
            },
        ];
        for record in &written {
            wal.append(record).unwrap();
        }
        drop(wal);
        assert_eq!(records(&path), written);
    }

    #[test]
    fn a_missing_log_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = Wal::open(&dir.path().join("wal.log")).err().unwrap();
        assert!(error.to_string().contains("is missing"), "{error}");
    }
}
