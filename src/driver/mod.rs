//! The reading worker's loop: take lines from the source, cut them into epochs, step the
//! dataflow, and (on worker 0) hand each closed epoch to the [`Reporter`].
//!
//! Only the reading worker of each reading process feeds the input, so they alone move the
//! frontier: every other worker dropped its input handle when the dataflow was built. An epoch
//! is closed when the clock passes its end (time batches) or its N-th line arrives (line
//! batches), and at the end of the run.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, TryLockError};
use std::time::{Duration, Instant};

use timely::dataflow::InputHandleVec;
use timely::worker::Worker;

mod recovery;

use crate::batching::{unix_micros, BatchClock};
use crate::checkpoint::{Checkpoint, Recovery};
use crate::config::{Batching, Config, StopAfter};
use crate::dataflow::{ChunkProgress, Epoch, RoundRobin, StopSignal, WordCount, WordKey};
use crate::error::Error;
use crate::reporter::{EpochMeta, Reporter};
use crate::shutdown::Shutdown;
use crate::source::lines::end_of_lines;
use crate::source::{Chunk, Event, Framed, Tails};
use crate::stats::Summary;

/// Chunks handed to the dataflow but not yet split, per worker, before ingest waits: enough
/// to keep every worker busy, few enough that memory stays bounded when they fall behind.
const IN_FLIGHT_PER_WORKER: u64 = 4;

/// The longest the reading worker parks before it looks at signals and deadlines again.
const MAX_PARK: Duration = Duration::from_millis(20);

/// Where the reading worker gets its input and writes its output.
pub struct Ends {
    /// Events from the source's reader threads.
    pub events: Receiver<Event>,
    /// The readers' partial lines, counted when the run stops before the input ends.
    pub tails: Tails,
    /// How far the workers are with the chunks handed to them.
    pub progress: Arc<ChunkProgress>,
    /// The output: stdout or the `-o` file.
    pub out: Box<dyn Write + Send>,
    /// Whether `out` is a file that already holds output (TSV then writes no header).
    pub appending: bool,
    /// Signals.
    pub shutdown: Shutdown,
    /// `--checkpoint`: the open directory, and what a restart must restore.
    pub checkpoint: Option<(Checkpoint, Option<Recovery>)>,
}

/// What a driving worker does besides feeding its process's source into the dataflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Worker 0: it also reports every batch.
    FeedAndReport,
    /// The first worker of another process that reads its own source.
    Feed,
}

/// The driving worker's state.
pub struct Driver {
    /// `None` once the input is closed.
    input: Option<InputHandleVec<Epoch, Chunk>>,
    /// Where a checkpoint's counts go back in; dropped once used.
    restore: Option<InputHandleVec<Epoch, (WordKey, Epoch, isize)>>,
    /// On worker 0 when every process reads and checkpoints: where snapshots are announced.
    control: Option<InputHandleVec<Epoch, Epoch>>,
    /// The latest snapshot batch announced by worker 0, and the latest this log dropped.
    covered: std::rc::Rc<std::cell::Cell<Option<Epoch>>>,
    dropped_through: Option<Epoch>,
    /// `--checkpoint`: the log every chunk goes to before the dataflow.
    checkpoint: Option<Checkpoint>,
    /// What a restart restores, until [`Driver::run`] has restored it.
    recovery: Option<Recovery>,
    /// Replaying the log: chunks are not logged again.
    replaying: bool,
    /// The first checkpoint write that failed; it ends the run.
    checkpoint_error: Option<Error>,
    retraction_delay: Option<u64>,
    clock: BatchClock,
    lines_per_batch: Option<u64>,
    stop: StopAfter,
    max_in_flight: u64,
    /// On worker 0: reports each closed epoch.
    reporter: Option<Reporter>,
    /// Several processes feed: each epoch is marked in the dataflow, so that the reporter
    /// learns the epochs other processes closed.
    marks_epochs: bool,
    ends: Ends,

    started: Instant,
    open_epoch: Epoch,
    open: EpochMeta,
    batches_closed: u64,
    lines_left: u64,
    /// The dataflow's routing of chunks to workers, mirrored.
    router: RoundRobin,
    /// Of those, the chunks that went to this process's workers.
    local_sent: u64,
    /// Workers in the whole computation.
    peers: u64,
    /// The global indexes of this process's workers.
    local_workers: std::ops::Range<u64>,
    /// Set when this driver stops: one past the last of its epochs to report.
    end: Option<Epoch>,
    /// The job-wide stop: raised when this process is signalled, seen when any process was.
    stop_signal: StopSignal,
    /// Stopping before the end of the input: the last batch takes what was read, no more
    /// batches are closed by the clock.
    stopping: bool,
    /// How the source failed, if it did.
    failure: Option<String>,
    summary: Summary,
}

impl Driver {
    /// The driver for `config` over the dataflow `wc`, with `workers` workers per process.
    pub fn new(
        config: &Config,
        wc: WordCount,
        mut ends: Ends,
        stop_signal: StopSignal,
        workers: usize,
        role: Role,
    ) -> Driver {
        let (checkpoint, recovery) = match ends.checkpoint.take() {
            Some((checkpoint, recovery)) => (Some(checkpoint), recovery),
            None => (None, None),
        };
        let (clock, first_epoch) = match recovery.as_ref().and_then(Recovery::resume_epoch) {
            Some(resume) => (BatchClock::resumed_at(config.batching, resume), resume),
            None => {
                let clock = BatchClock::new(config.batching);
                (clock, clock.first_epoch())
            }
        };
        let lines_per_batch = match config.batching {
            Batching::Lines { per_batch } => Some(per_batch),
            Batching::Time { .. } => None,
        };
        let now = Instant::now();
        let marks_epochs = config.cluster.every_process_reads && config.cluster.processes > 1;
        let reporter = (role == Role::FeedAndReport).then(|| {
            Reporter::new(
                config,
                clock,
                wc.probe,
                wc.gathered,
                first_epoch,
                marks_epochs,
            )
        });
        let announces = role == Role::FeedAndReport && marks_epochs && checkpoint.is_some();
        Driver {
            input: Some(wc.input),
            restore: Some(wc.restore),
            control: announces.then_some(wc.control),
            covered: wc.covered,
            dropped_through: None,
            checkpoint,
            recovery,
            replaying: false,
            checkpoint_error: None,
            retraction_delay: config.mode.retraction_delay(),
            clock,
            lines_per_batch,
            stop: config.stop,
            max_in_flight: IN_FLIGHT_PER_WORKER * workers as u64,
            reporter,
            marks_epochs,
            ends,
            started: now,
            open_epoch: first_epoch,
            open: EpochMeta::opened(now),
            batches_closed: 0,
            lines_left: lines_per_batch.unwrap_or(0),
            router: RoundRobin::default(),
            local_sent: 0,
            peers: (workers * config.cluster.processes) as u64,
            local_workers: (workers * config.cluster.process) as u64
                ..(workers * (config.cluster.process + 1)) as u64,
            end: None,
            stop_signal,
            stopping: false,
            failure: None,
            summary: Summary::default(),
        }
    }

    /// Runs until end of input, a stop condition or a signal; reports every closed epoch.
    pub fn run(mut self, worker: &mut Worker) -> Result<Summary, Error> {
        if let Some(input) = &mut self.input {
            input.advance_to(self.open_epoch);
        }
        if let Some(control) = &mut self.control {
            control.advance_to(self.open_epoch);
        }
        if let Some(recovery) = self.recovery.take() {
            self.restore_and_replay(recovery);
        }
        // Nothing more is restored: an open restore input would hold the frontier back.
        self.restore = None;
        if let Some(reporter) = &mut self.reporter {
            if let Err(e) = reporter.begin(&mut self.ends.out, self.ends.appending) {
                return self.output_failed(e);
            }
        }
        while self.end.is_none() {
            let now = unix_micros();
            if self.clock.is_timed() {
                self.close_epochs_until(self.clock.epoch_at(now));
            }
            let deadline_passed = self
                .stop
                .duration
                .is_some_and(|d| self.started.elapsed() >= d);
            if self.ends.shutdown.requested() {
                self.stop_signal.raise();
            }
            let signalled = self.ends.shutdown.requested() || self.stop_signal.seen();
            // After a signal, lines already read are counted before the batch closes.
            let limit = if signalled {
                u64::MAX
            } else {
                self.max_in_flight
            };
            let ended = self.take_events(limit);
            if ended || deadline_passed || signalled {
                if !ended {
                    self.take_tails();
                }
                self.close_last_epoch();
                break;
            }
            worker.step_or_park(Some(self.park_time(now)));
            if let Err(e) = self.report_ready() {
                return self.output_failed(e);
            }
            self.drop_announced();
            if let Some(error) = self.checkpoint_error.take() {
                self.input = None;
                return Err(error);
            }
        }
        // Drain: every closed epoch up to the last is reported before the run ends.
        loop {
            if let Err(e) = self.report_ready() {
                return self.output_failed(e);
            }
            let (open, end) = (self.open_epoch, self.end);
            if self.reporter.as_ref().is_none_or(|r| r.finished(open, end)) {
                break;
            }
            worker.step_or_park(Some(MAX_PARK));
        }
        self.save_snapshot();
        if let Some(error) = self.checkpoint_error.take() {
            return Err(error);
        }
        if let Some(reporter) = &self.reporter {
            reporter.add_to(&mut self.summary);
        }
        match self.failure.take() {
            Some(why) => Err(Error::runtime(why)),
            None => Ok(self.summary),
        }
    }

    /// Takes available events while fewer than `limit` chunks are in flight. Returns true at
    /// the end of the input (or a failure, recorded in `self.failure`).
    fn take_events(&mut self, limit: u64) -> bool {
        let mut ended = false;
        while self.in_flight() < limit && self.end.is_none() {
            match self.ends.events.try_recv() {
                Ok(Event::Text(framed)) => {
                    if self.clock.is_timed() {
                        self.close_epochs_until(self.clock.epoch_at(unix_micros()));
                    }
                    self.ingest(framed);
                }
                Ok(Event::Ended) | Err(TryRecvError::Disconnected) => {
                    ended = true;
                    break;
                }
                Ok(Event::Failed(why)) => {
                    self.failure = Some(why);
                    ended = true;
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        if let Some(input) = &mut self.input {
            input.flush();
        }
        ended
    }

    /// The run stops before its input ended: every byte already read is counted, the lines
    /// in the channel first, then each reader's partial line.
    fn take_tails(&mut self) {
        self.stopping = true;
        for tail in self.ends.tails.current() {
            loop {
                self.take_events(u64::MAX);
                // A reader holds its tail while it sends; the channel was just drained, so
                // it gets on and lets go.
                let mut tail = match tail.try_lock() {
                    Ok(tail) => tail,
                    Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                    Err(TryLockError::WouldBlock) => {
                        std::thread::yield_now();
                        continue;
                    }
                };
                self.take_events(u64::MAX);
                if let Some(last) = tail.take() {
                    self.ingest(last);
                }
                break;
            }
        }
        if let Some(input) = &mut self.input {
            input.flush();
        }
    }

    fn in_flight(&self) -> u64 {
        self.local_sent
            .saturating_sub(self.ends.progress.processed())
    }

    /// Feeds a chunk into the open epoch; with line batches, cuts it where batches end.
    fn ingest(&mut self, framed: Framed) {
        self.open.cut_words += framed.cut_words;
        let Some(per_batch) = self.lines_per_batch else {
            self.send(framed.chunk, framed.lines);
            return;
        };
        let mut lines = framed.lines;
        if lines < self.lines_left {
            self.lines_left -= lines;
            self.send(framed.chunk, lines);
            return;
        }
        // The chunk ends one batch or more: send each batch's part, then close the batch.
        let Chunk {
            text,
            continues_line,
            ends_mid_line,
        } = framed.chunk;
        let mut start = 0;
        while lines >= self.lines_left && self.end.is_none() {
            let take = self.lines_left;
            let end = end_of_lines(&text[start..], take).map_or(text.len(), |len| start + len);
            let piece = Chunk {
                text: text[start..end].to_vec(),
                continues_line: continues_line && start == 0,
                ends_mid_line: ends_mid_line && end == text.len(),
            };
            self.send(piece, take);
            self.lines_left = per_batch;
            self.close_open_epoch();
            lines -= take;
            start = end;
        }
        if start < text.len() && self.end.is_none() {
            self.lines_left -= lines;
            let rest = Chunk {
                text: text[start..].to_vec(),
                continues_line: false,
                ends_mid_line,
            };
            self.send(rest, lines);
        }
    }

    /// Counts the lines that end in `chunk` and hands it to the dataflow (unless it is empty:
    /// the end of a line whose text went in earlier chunks).
    fn send(&mut self, chunk: Chunk, lines: u64) {
        if self.input.is_none() {
            return;
        }
        self.open.lines += lines;
        self.open.has_text |= lines > 0 || !chunk.text.is_empty();
        if let Some(checkpoint) = self.checkpoint.as_mut().filter(|_| !self.replaying) {
            if let Err(e) = checkpoint.log_chunk(self.open_epoch, lines, &chunk) {
                self.checkpoint_error.get_or_insert(e);
            }
        }
        // An empty chunk still ends a line whose pieces went before (their counts wait).
        if chunk.text.is_empty() && !chunk.continues_line {
            return;
        }
        self.count_routed(&chunk);
        if let Some(input) = &mut self.input {
            input.send(chunk);
        }
    }

    /// Counts a chunk about to be handed out, and whether one of this process's workers gets
    /// it: only those report their progress here, so only those count as in flight. Chunks for
    /// other processes are interleaved with local ones, so they are bounded alongside.
    fn count_routed(&mut self, chunk: &Chunk) {
        let worker = self.router.route(chunk) % self.peers;
        if self.local_workers.contains(&worker) {
            self.local_sent += 1;
        }
    }

    /// Closes epochs until `epoch` is the open one (time batches), or a stop condition hits.
    fn close_epochs_until(&mut self, epoch: Epoch) {
        while self.open_epoch < epoch && self.end.is_none() && !self.stopping {
            self.close_open_epoch();
        }
    }

    /// Closes the open epoch and opens the next, or ends the run if `--batches` is reached.
    fn close_open_epoch(&mut self) {
        if self.stop.batches == Some(self.batches_closed + 1) {
            // With time batches the last batch is cut by the clock, as by a deadline: what
            // was read counts. (Line batches are cut by their lines.)
            if self.clock.is_timed() && !self.stopping {
                self.take_tails();
            }
            self.close_last_epoch();
            return;
        }
        self.retire_open_epoch();
        self.open_epoch += 1;
        if let Some(input) = &mut self.input {
            input.advance_to(self.open_epoch);
            input.flush();
        }
        if let Some(control) = &mut self.control {
            control.advance_to(self.open_epoch);
        }
    }

    /// Ends the run: the open epoch is closed and is the last reported, except an empty line
    /// batch (line batches exist only for lines), where the one before it is the last.
    fn close_last_epoch(&mut self) {
        if self.end.is_some() {
            return;
        }
        let empty_line_batch = self.lines_per_batch.is_some() && !self.open.has_text;
        if empty_line_batch {
            self.end = Some(self.open_epoch);
        } else {
            self.retire_open_epoch();
            self.end = Some(self.open_epoch + 1);
        }
        // Dropping the inputs closes every epoch from the open one on.
        self.input = None;
        self.control = None;
    }

    /// Moves the open epoch's record to those waiting for their report.
    fn retire_open_epoch(&mut self) {
        if self.marks_epochs && self.input.is_some() {
            // An empty chunk: the reporter then sees a tally for this epoch.
            let marker = Chunk::default();
            self.count_routed(&marker);
            if let Some(input) = &mut self.input {
                input.send(marker);
            }
        }
        if let Some(checkpoint) = self.checkpoint.as_mut().filter(|_| !self.replaying) {
            if let Err(e) = checkpoint.epoch_closed() {
                self.checkpoint_error.get_or_insert(e);
            }
        }
        let now = Instant::now();
        self.open.closed_at = now;
        self.open.closed_micros = unix_micros();
        if let Some(reporter) = &mut self.reporter {
            reporter.closed(self.open_epoch, self.open);
        }
        self.batches_closed += 1;
        self.open = EpochMeta::opened(now);
    }

    /// How long the reading worker may park: until the open epoch ends, at most
    /// [`MAX_PARK`]. Readers and workers wake it early when they have something for it.
    fn park_time(&self, now_micros: u64) -> Duration {
        self.clock
            .until_end(self.open_epoch, now_micros)
            .map_or(MAX_PARK, |until_end| until_end.min(MAX_PARK))
    }

    /// Reports what is ready, if this worker reports; notes each report in the checkpoint log
    /// and takes a snapshot when one is due.
    fn report_ready(&mut self) -> io::Result<()> {
        let Some(reporter) = &mut self.reporter else {
            return Ok(());
        };
        let checkpoint = &mut self.checkpoint;
        let error = &mut self.checkpoint_error;
        reporter.report_ready(&mut self.ends.out, self.open_epoch, self.end, |epoch| {
            if let Some(Err(e)) = checkpoint.as_mut().map(|c| c.log_reported(epoch)) {
                error.get_or_insert(e);
            }
        })?;
        if reporter.snapshot_due() {
            self.save_snapshot();
        }
        Ok(())
    }

    /// The output failed: a reader that went away ends the run quietly (exit 0, as Unix
    /// filters do); any other write error is a failure.
    fn output_failed(mut self, error: io::Error) -> Result<Summary, Error> {
        self.input = None;
        if let Some(reporter) = &self.reporter {
            reporter.add_to(&mut self.summary);
        }
        if error.kind() == io::ErrorKind::BrokenPipe {
            self.summary.output_closed = true;
            Ok(self.summary)
        } else {
            Err(Error::runtime(format!(
                "writing the output failed: {error}"
            )))
        }
    }
}
