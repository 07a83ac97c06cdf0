//! Snapshots written off the workers: the reporting worker hands each batch's changes to a
//! thread of its own, which keeps a copy of the state, and asks it now and then for a
//! snapshot. The thread appends what changed since its last snapshot to the snapshot file,
//! forces it to disk, and says how far the state is durable; only then may the log before it
//! go. A worker never waits for a snapshot, whatever the state's size.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::snapshot::{self, Entry, State, WordCounts, ENTRIES_PER_RECORD};
use crate::error::Error;
use crate::vocab::{Epoch, Word};

/// The size below which a snapshot file is never rewritten whole for its length alone.
const SMALL_FILE: u64 = 64 << 10;

enum Message {
    /// The changes of a batch, by word, in batch order.
    Batch(Epoch, Vec<(Word, isize)>),
    /// The batches up to this one since the last were skipped (empty while netwc was down),
    /// with their changes together.
    Skipped(Epoch, Vec<(Word, isize)>),
    /// Write a snapshot of the state after the batch reported last.
    Snapshot(Epoch),
}

/// What the thread tells the worker.
#[derive(Default)]
struct Progress {
    /// The last batch whose snapshot is on the disk.
    durable: Option<Epoch>,
    /// The first write that failed.
    error: Option<Error>,
}

/// The worker's handle on the snapshot thread.
pub struct SnapshotWriter {
    sender: Option<Sender<Message>>,
    thread: Option<JoinHandle<()>>,
    progress: Arc<Mutex<Progress>>,
    /// The last snapshot asked for.
    requested: Option<Epoch>,
}

impl SnapshotWriter {
    /// Starts the thread that keeps the snapshot file at `path`, for a mode that retracts
    /// each batch `delay` batches later (`None`: running totals).
    /// A thread that cannot start is a failure that the first [`SnapshotWriter::durable`]
    /// returns.
    pub fn start(path: PathBuf, delay: Option<u64>) -> SnapshotWriter {
        let (sender, receiver) = channel();
        let progress = Arc::new(Mutex::new(Progress::default()));
        let store = Store {
            path,
            file: None,
            length: 0,
            mirror: Mirror::new(delay),
            full_length: 0,
            buffer: Vec::new(),
        };
        let shared = progress.clone();
        let thread = std::thread::Builder::new()
            .name("snapshots".into())
            .spawn(move || store.run(receiver, shared));
        let thread = match thread {
            Ok(thread) => Some(thread),
            Err(e) => {
                let error = Error::runtime(format!("cannot start the snapshot thread: {e}"));
                progress.lock().unwrap_or_else(|e| e.into_inner()).error = Some(error);
                None
            }
        };
        SnapshotWriter {
            sender: thread.is_some().then_some(sender),
            thread,
            progress,
            requested: None,
        }
    }

    /// Hands over the changes of `epoch`.
    pub fn batch(&mut self, epoch: Epoch, changes: Vec<(Word, isize)>) {
        if let Some(sender) = &self.sender {
            // A thread that ended has said why in `progress`.
            let _ = sender.send(Message::Batch(epoch, changes));
        }
    }

    /// Hands over the changes of the batches up to `last` that were skipped.
    pub fn skipped(&mut self, last: Epoch, changes: Vec<(Word, isize)>) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(Message::Skipped(last, changes));
        }
    }

    /// Asks for a snapshot after `reported`, unless one is asked for already.
    pub fn request(&mut self, reported: Epoch) {
        if self.requested >= Some(reported) {
            return;
        }
        self.requested = Some(reported);
        if let Some(sender) = &self.sender {
            let _ = sender.send(Message::Snapshot(reported));
        }
    }

    /// Whether the last snapshot asked for is on the disk (or none was asked for).
    pub fn idle(&self) -> bool {
        self.requested <= self.progress().durable
    }

    /// The last batch whose snapshot is on the disk, or the first failure.
    pub fn durable(&self) -> Result<Option<Epoch>, Error> {
        let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        match progress.error.take() {
            Some(error) => Err(error),
            None => Ok(progress.durable),
        }
    }

    /// Waits until every snapshot asked for is written; the thread ends.
    pub fn finish(&mut self) -> Result<Option<Epoch>, Error> {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                return Err(Error::runtime("the snapshot thread panicked"));
            }
        }
        self.durable()
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread's side: the file and the copy of the state.
struct Store {
    path: PathBuf,
    /// Open for appending once a full snapshot has been written by this run.
    file: Option<File>,
    /// Bytes in the file.
    length: u64,
    mirror: Mirror,
    /// Bytes of the last full snapshot: once the file is twice that (or [`SMALL_FILE`]), the
    /// next snapshot is full again, so that the file stays within about twice the state,
    /// also when the state is small and snapshots come often (an idle job, batch mode).
    full_length: u64,
    buffer: Vec<u8>,
}

impl Store {
    fn run(mut self, receiver: Receiver<Message>, progress: Arc<Mutex<Progress>>) {
        for message in receiver {
            match message {
                Message::Batch(epoch, changes) => self.mirror.record(epoch, changes),
                Message::Skipped(last, changes) => self.mirror.skipped(last, changes),
                Message::Snapshot(reported) => {
                    let written = self.write(reported);
                    let mut progress = progress.lock().unwrap_or_else(|e| e.into_inner());
                    match written {
                        Ok(()) => progress.durable = Some(reported),
                        Err(error) => {
                            progress.error.get_or_insert(error);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Writes the snapshot after `reported`: what changed since the last one, or the whole
    /// state when this run has written none yet or the changes outgrew the state.
    fn write(&mut self, reported: Epoch) -> Result<(), Error> {
        let full = self.file.is_none() || self.length >= (2 * self.full_length).max(SMALL_FILE);
        let entries = self.mirror.take_changes(full);
        self.buffer.clear();
        snapshot::encode(reported, full, &entries, &mut self.buffer, self.length);
        let fail = |e: std::io::Error| {
            Error::runtime(format!("cannot write '{}': {e}", self.path.display()))
        };
        if full {
            let temporary = self
                .path
                .with_file_name(super::directory::SNAPSHOT_TEMPORARY);
            super::write_atomically(&temporary, &self.path, &self.buffer).map_err(fail)?;
            self.file = Some(
                OpenOptions::new()
                    .append(true)
                    .open(&self.path)
                    .map_err(fail)?,
            );
            self.length = self.buffer.len() as u64;
            self.full_length = self.length;
        } else if let Some(file) = &mut self.file {
            file.write_all(&self.buffer).map_err(fail)?;
            file.sync_data().map_err(fail)?;
            self.length += self.buffer.len() as u64;
        }
        Ok(())
    }
}

/// The thread's copy of the state, and what changed since the last snapshot.
struct Mirror {
    state: State,
    delay: Option<u64>,
    /// Incremental mode: the words whose totals changed.
    changed: HashSet<Word, foldhash::fast::RandomState>,
    /// Window modes: the last batch written.
    written_through: Option<Epoch>,
    /// Window modes: the batches before this one have left the window.
    retired_before: Epoch,
}

impl Mirror {
    fn new(delay: Option<u64>) -> Mirror {
        Mirror {
            state: State::default(),
            delay,
            changed: HashSet::default(),
            written_through: None,
            retired_before: 0,
        }
    }

    /// Batch `t`'s counts follow from its changes and the counts of batch `t − W`, which it
    /// retracts: `c(t) = changes(t) + c(t − W)`. Running totals add the changes.
    fn record(&mut self, epoch: Epoch, changes: Vec<(Word, isize)>) {
        let Some(delay) = self.delay else {
            self.add_to_totals(changes);
            return;
        };
        let retracted = self.retire_through(epoch.checked_sub(delay));
        let mut counts = retracted.unwrap_or_default();
        for (word, change) in changes {
            let count = counts.entry(word.clone()).or_insert(0);
            *count += change;
            if *count == 0 {
                counts.remove(&word);
            }
        }
        if !counts.is_empty() {
            self.state.batches.push_back((epoch, counts));
        }
    }

    /// The batches up to `last` were skipped: empty, so in window modes their changes only
    /// retract what left the window, and every batch up to `last − W` leaves it.
    fn skipped(&mut self, last: Epoch, changes: Vec<(Word, isize)>) {
        match self.delay {
            None => self.add_to_totals(changes),
            Some(delay) => {
                self.retire_through(last.checked_sub(delay));
            }
        }
    }

    fn add_to_totals(&mut self, changes: Vec<(Word, isize)>) {
        for (word, change) in changes {
            let total = self.state.totals.entry(word.clone()).or_insert(0);
            *total += change;
            if *total == 0 {
                self.state.totals.remove(&word);
            }
            self.changed.insert(word);
        }
    }

    /// Window modes: the batches up to `through` leave the window; returns the counts of
    /// `through` itself, if it held any.
    fn retire_through(&mut self, through: Option<Epoch>) -> Option<WordCounts> {
        let through = through?;
        self.retired_before = self.retired_before.max(through + 1);
        let batches = &mut self.state.batches;
        let mut last = None;
        while let Some((epoch, _)) = batches.front().filter(|(e, _)| *e <= through) {
            let epoch = *epoch;
            let counts = batches.pop_front().map(|(_, c)| c);
            last = (epoch == through).then_some(counts).flatten();
        }
        last
    }

    /// The entries of a snapshot: the whole state (`full`), or what changed since the last.
    fn take_changes(&mut self, full: bool) -> Vec<Entry> {
        let changed = std::mem::take(&mut self.changed);
        let last = self.state.batches.back().map(|(e, _)| *e);
        let written_through = self.written_through;
        self.written_through = last.max(written_through);
        if full {
            return snapshot::full_entries(&self.state);
        }
        if self.delay.is_none() {
            let total = |w: &Word| self.state.totals.get(w).copied().unwrap_or(0);
            let totals: Vec<(Word, isize)> = changed
                .into_iter()
                .map(|w| (w.clone(), total(&w)))
                .collect();
            return totals
                .chunks(ENTRIES_PER_RECORD)
                .map(|part| Entry::Totals(part.to_vec()))
                .collect();
        }
        let mut entries = Vec::new();
        if self.retired_before > 0 {
            entries.push(Entry::Retire {
                before: self.retired_before,
            });
        }
        for (epoch, counts) in &self.state.batches {
            if Some(*epoch) > written_through {
                snapshot::push_batch(&mut entries, *epoch, counts);
            }
        }
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(words: &[(&str, isize)]) -> Vec<(Word, isize)> {
        words.iter().map(|&(w, c)| (Word::from(w), c)).collect()
    }

    #[test]
    fn a_chain_of_snapshots_reads_back_as_the_state() {
        for delay in [None, Some(1), Some(3)] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("snapshot.log");
            let mut writer = SnapshotWriter::start(path.clone(), delay);
            let mut mirror = Mirror::new(delay);
            for epoch in 0..40u64 {
                let batch = changes(&[
                    (&format!("w{}", epoch % 7), 1),
                    (&format!("v{}", epoch % 3), 2),
                ]);
                writer.batch(epoch, batch.clone());
                mirror.record(epoch, batch);
                if epoch % 4 == 1 {
                    writer.request(epoch);
                }
            }
            writer.request(39);
            assert_eq!(writer.finish().unwrap(), Some(39));
            let mut read = snapshot::read(&path).unwrap().unwrap();
            assert_eq!(read.reported, Some(39));
            read.reported = None;
            assert_eq!(read, mirror.state, "delay {delay:?}");
        }
    }

    #[test]
    fn the_file_stays_within_twice_the_state_however_many_snapshots() {
        for delay in [None, Some(1)] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("snapshot.log");
            let mut writer = SnapshotWriter::start(path.clone(), delay);
            let mut largest = 0;
            // A snapshot a batch, each batch with a few words (batch mode holds one batch;
            // running totals hold the 50 words): the file is rewritten whole as it grows.
            for epoch in 0..5_000u64 {
                writer.batch(epoch, changes(&[(&format!("w{}", epoch % 50), 1)]));
                writer.request(epoch);
                while writer.durable().unwrap() != Some(epoch) {
                    std::thread::yield_now();
                }
                largest = largest.max(std::fs::metadata(&path).unwrap().len());
            }
            assert!(
                largest <= 2 * SMALL_FILE,
                "delay {delay:?}: the file grew to {largest} bytes"
            );
            writer.finish().unwrap();
        }
    }
}
