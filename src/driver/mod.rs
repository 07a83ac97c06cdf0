//! The reading worker's loop, in the shape of timely's `hello.rs`: take what the source read,
//! feed it into the open epoch, advance the input when a batch closes, step the dataflow, and
//! (on worker 0) report what the probe has passed.
//!
//! The decisions live elsewhere: [`Batcher`] says when epochs close, [`Durability`] logs and
//! snapshots (`--checkpoint`), the [`Reporter`] prints. Only the reading worker of each reading
//! process feeds the input, so they alone move the frontier: every other worker dropped its
//! input handle when the dataflow was built.

mod batcher;
mod feed;
mod in_flight;
mod intake;
mod recovery;

use std::io;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::dataflow::InputHandleVec;
use timely::worker::Worker;

pub use batcher::{Batcher, Step};

use crate::batching::{unix_micros, BatchClock};
use crate::checkpoint::{Checkpoint, Durability, Recovery};
use crate::config::Config;
use crate::dataflow::{ChunkProgress, Heartbeat, InputEnd, RestoreInput, StopSignal, WordCount};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::output::Sink;
use crate::reporter::{EpochMeta, ReportFailure, ReportHooks, Reporter, ReporterParts, Results};
use crate::shutdown::Shutdown;
use crate::source::{Event, Tails};
use crate::stats::Summary;
use crate::vocab::Epoch;
use crate::vocab::{Chunk, LineState};
use in_flight::InFlight;

/// Chunks handed to the dataflow but not yet split, per worker, before ingest waits: enough
/// to keep every worker busy, few enough that memory stays bounded when they fall behind.
const IN_FLIGHT_PER_WORKER: u64 = 4;

/// Closed batches that carried lines and wait for their report, at most, before the reading
/// worker of process 0 (the one that reports) takes no more input: when counting falls behind
/// reading (small batches, many distinct words), the batches waiting to be counted would
/// otherwise pile up in memory. Batches still close by the clock meanwhile (empty, they cost
/// next to nothing), and the source's channel and TCP slow the producer as with
/// [`IN_FLIGHT_PER_WORKER`]. (Other processes that read, with `--every-process-reads`, are
/// bounded by [`IN_FLIGHT_PER_WORKER`] alone; one step may close several batches, so the bound
/// is a soft one.)
const MAX_BACKLOG: usize = 4;

/// The longest the reading worker parks before it looks at signals and deadlines again.
const MAX_PARK: Duration = Duration::from_millis(20);

/// How long before a batch ends the reading worker stops parking and waits awake, so that the
/// batch closes when its time is up: a parked thread wakes some tens of microseconds after its
/// timeout (here, with the timer slack set to 1 ns by [`wake_on_time`], 51 µs at the median,
/// and 104 µs with Linux's default slack of 50 µs), and every report waited that long. Waiting
/// awake costs at most this much CPU a batch: 8 % of a core at `--batch 1ms`, nothing to speak
/// of at a second.
const WAKE_BEFORE_CLOSE: Duration = Duration::from_micros(80);

/// Where the reading worker gets its input and writes its output.
pub struct Ends {
    /// Events from the source's reader threads.
    pub events: Receiver<Event>,
    /// The readers' partial lines, counted when the run stops before the input ends.
    pub tails: Tails,
    /// How far the workers are with the chunks handed to them.
    pub progress: Arc<ChunkProgress>,
    /// The output: stdout or the `-o` file.
    pub out: Sink,
    /// Signals.
    pub shutdown: Shutdown,
    /// What the job has done, for whoever watches.
    pub metrics: Arc<Metrics>,
    /// `--checkpoint`: the open directory, and what a restart must restore.
    pub checkpoint: Option<(Checkpoint, Option<Recovery>)>,
    /// How far epochs run ahead of the clock after a quick restart ([`BatchClock::shift`]).
    pub shift: u64,
}

/// What a driving worker does besides feeding its process's source into the dataflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Worker 0: it also reports every batch.
    FeedAndReport,
    /// The first worker of another process that reads its own source.
    Feed,
}

/// The dataflow's inputs, and the epoch they are at.
struct Feed {
    /// `None` once the input is closed.
    input: Option<InputHandleVec<Epoch, Chunk>>,
    /// Where a checkpoint's counts go back in; dropped once used.
    restore: Option<RestoreInput>,
    /// Chunks handed to the workers and not yet split.
    in_flight: InFlight,
    max_in_flight: u64,
    /// Several processes feed: each epoch is marked in the dataflow, so that the reporter
    /// learns the epochs other processes closed.
    marks_epochs: bool,
    /// When the inputs close at the end: at once, or once every batch is reported.
    input_end: InputEnd,
}

/// Where the source's text comes from.
struct Intake {
    /// Events from the source's reader threads.
    events: Receiver<Event>,
    /// The readers' partial lines, counted when the run stops before the input ends.
    tails: Tails,
}

/// What stops a run besides the end of its input.
struct Stops {
    /// Signals to this process.
    shutdown: Shutdown,
    /// The job-wide stop: raised when this process is signalled, seen when any process was.
    signal: StopSignal,
    /// `--duration`, from `started`.
    duration: Option<Duration>,
    started: Instant,
}

impl Stops {
    /// Whether the run should stop now (a signal here or elsewhere, or `--duration` passed).
    fn due(&mut self) -> bool {
        if self.shutdown.requested() {
            self.signal.raise();
        }
        let deadline_passed = self.duration.is_some_and(|d| self.started.elapsed() >= d);
        deadline_passed || self.shutdown.requested() || self.signal.seen()
    }
}

/// The driving worker's state.
pub struct Driver {
    feed: Feed,
    /// Decides when epochs close and the run ends.
    batcher: Batcher,
    /// The batcher's decisions, applied in order.
    steps: Vec<Step>,
    intake: Intake,
    stops: Stops,
    /// In a cluster: this process says it is here; worker 0 names processes gone silent.
    heartbeat: Option<Heartbeat>,
    durability: Option<Durability>,
    /// What a restart restores, until [`Driver::run`] has restored it.
    recovery: Option<Recovery>,
    /// The first epoch after those a restart restored, until the reporter has passed them:
    /// then signals ask for a graceful stop (see [`Shutdown::restoring`]).
    restored_before: Option<Epoch>,
    /// On worker 0: reports each closed epoch.
    reporter: Option<Reporter>,
    /// What the open epoch holds so far, for `--stats`.
    open: EpochMeta,
    /// How the source failed, if it did.
    failure: Option<String>,
}

impl Driver {
    /// The driver for `config` over the dataflow `wc`, with `workers` workers per process.
    pub fn new(
        config: &Config,
        wc: WordCount,
        ends: Ends,
        (stop, heartbeat): (StopSignal, Option<Heartbeat>),
        role: Role,
    ) -> Self {
        let (checkpoint, recovery) = ends.checkpoint.map_or((None, None), |(c, r)| (Some(c), r));
        // The shift is process 0's in a cluster, this process's own otherwise.
        let clock = BatchClock::shifted(config.batching, ends.shift);
        let first_epoch = match recovery.as_ref().and_then(Recovery::resume_epoch) {
            Some(resume) => resume,
            None => clock.first_epoch(),
        };
        let reports = role == Role::FeedAndReport;
        let marks_epochs = config.cluster.several_feed();
        let durability = checkpoint.map(|checkpoint| {
            let history = reports.then(|| config.mode.retraction_delay());
            let announce = (reports && marks_epochs).then_some(wc.control);
            Durability::new(checkpoint, history, announce, wc.covered)
        });
        let reporter = reports.then(|| {
            let results = Results {
                probe: wc.probe,
                gathered: wc.gathered,
                others_feed: marks_epochs,
            };
            let parts = ReporterParts {
                results,
                out: ends.out,
                metrics: ends.metrics,
                clock,
                first_epoch,
            };
            Reporter::new(config, parts)
        });
        let cluster = &config.cluster;
        let in_flight = InFlight::new(
            config.workers,
            cluster.process,
            cluster.processes,
            ends.progress,
        );
        Driver {
            feed: Feed {
                input: Some(wc.input),
                restore: Some(wc.restore),
                in_flight,
                max_in_flight: IN_FLIGHT_PER_WORKER * config.workers as u64,
                marks_epochs,
                input_end: wc.input_end,
            },
            batcher: Batcher::new(clock, config.batching, config.stop.batches, first_epoch),
            steps: Vec::new(),
            intake: Intake {
                events: ends.events,
                tails: ends.tails,
            },
            stops: Stops {
                shutdown: ends.shutdown,
                signal: stop,
                duration: config.stop.duration,
                started: Instant::now(),
            },
            heartbeat,
            durability,
            recovery,
            restored_before: None,
            reporter,
            open: EpochMeta::opened(Instant::now()),
            failure: None,
        }
    }

    /// Runs until end of input, a stop condition or a signal; reports every closed epoch.
    pub fn run(mut self, worker: &mut Worker) -> Result<Summary, Error> {
        wake_on_time();
        self.advance_to(self.batcher.open());
        if let Some(recovery) = self.recovery.take() {
            self.restore_and_replay(recovery);
            self.restored_before = Some(self.batcher.open());
        }
        // Nothing more is restored: an open restore input would hold the frontier back.
        self.feed.restore = None;
        if let Some(Err(e)) = self.reporter.as_mut().map(Reporter::begin) {
            return self.output_failed(e.into());
        }
        while self.batcher.end().is_none() {
            let now = unix_micros();
            self.tick(now);
            let stop = self.stops.due();
            let backlogged = self
                .reporter
                .as_ref()
                .is_some_and(|reporter| reporter.backlog() >= MAX_BACKLOG);
            let ended = !stop && !backlogged && self.take_events(self.feed.max_in_flight);
            if ended || stop || self.batcher.batches_done() {
                if !ended {
                    // Every byte already read is counted, a partial line too.
                    self.take_tails();
                }
                self.batcher.finish(&mut self.steps);
                self.apply_steps();
                break;
            }
            let park = self.park_time(now);
            worker.step_or_park(Some(park));
            if park.is_zero() {
                // Waiting awake for the batch to end: the reader threads and other workers
                // may want this core meanwhile.
                std::thread::yield_now();
            }
            self.beat();
            if let Err(e) = self.report_ready() {
                return self.output_failed(e);
            }
            self.note_restored();
            if let Some(error) = self.durability.as_mut().and_then(Durability::after_step) {
                return Err(error);
            }
            self.cut_pinning_lines();
        }
        // Drain: every closed epoch up to the last is reported before the run ends.
        loop {
            if let Err(e) = self.report_ready() {
                return self.output_failed(e);
            }
            self.note_restored();
            let (open, end) = (self.batcher.open(), self.batcher.end());
            if self.reporter.as_ref().is_none_or(|r| r.finished(open, end)) {
                break;
            }
            worker.step_or_park(Some(MAX_PARK));
            self.beat();
        }
        self.close_inputs();
        if let (Some(durability), Some(reporter)) = (&mut self.durability, &self.reporter) {
            durability.finish(reporter.last_processed());
        }
        if let Some(error) = self.durability.as_mut().and_then(Durability::take_error) {
            return Err(error);
        }
        match self.failure.take() {
            Some(why) => Err(Error::runtime(why)),
            None => Ok(self.summary()),
        }
    }

    /// Closes the batches the clock has passed (time batches), unless the run is stopping.
    fn tick(&mut self, now: u64) {
        self.batcher.tick(now, &mut self.steps);
        self.apply_steps();
    }

    /// Cuts the open lines that keep the checkpoint's log from being dropped: their counts so
    /// far go into the open batch, which the next snapshot covers.
    fn cut_pinning_lines(&mut self) {
        let Some(durability) = &mut self.durability else {
            return;
        };
        for reader in durability.take_lines_to_cut() {
            let cut = Chunk {
                line: LineState::CutsOpenLine,
                reader,
                ..Chunk::default()
            };
            self.send(self.batcher.open(), cut, 0);
        }
    }

    /// Says this process is here, in a cluster; on worker 0, names processes gone silent.
    fn beat(&mut self) {
        if let Some(heartbeat) = &mut self.heartbeat {
            heartbeat.beat();
        }
    }

    /// How long the reading worker may park: until [`WAKE_BEFORE_CLOSE`] before the open epoch
    /// ends, at most [`MAX_PARK`]; zero in the last stretch, which it waits out awake. Readers
    /// and workers wake it early when they have something for it.
    fn park_time(&self, now_micros: u64) -> Duration {
        let until_end = self
            .batcher
            .clock()
            .until_end(self.batcher.open(), now_micros);
        until_end.map_or(MAX_PARK, |until_end| {
            until_end.saturating_sub(WAKE_BEFORE_CLOSE).min(MAX_PARK)
        })
    }

    /// Once the reporter has passed the epochs a restart restored, signals ask for a graceful
    /// stop again.
    fn note_restored(&mut self) {
        let Some(before) = self.restored_before else {
            return;
        };
        let passed = self
            .reporter
            .as_ref()
            .is_none_or(|r| r.last_processed() + 1 >= before);
        if passed {
            self.stops.shutdown.running();
            self.restored_before = None;
        }
    }

    /// Reports what is ready, if this worker reports; takes a snapshot when one is due.
    fn report_ready(&mut self) -> Result<(), ReportFailure> {
        let Some(reporter) = &mut self.reporter else {
            return Ok(());
        };
        let mut no_checkpoint = ();
        let hooks: &mut dyn ReportHooks = match &mut self.durability {
            Some(durability) => durability,
            None => &mut no_checkpoint,
        };
        reporter.report_ready(self.batcher.open(), self.batcher.end(), hooks)?;
        Ok(())
    }

    fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        if let Some(reporter) = &self.reporter {
            reporter.add_to(&mut summary);
        }
        summary
    }

    /// Reports failed: a reader of the output that went away ends the run quietly (exit 0, as
    /// Unix filters do); any other failure ends it with an error.
    fn output_failed(mut self, failure: ReportFailure) -> Result<Summary, Error> {
        self.feed.input = None;
        let error = match failure {
            ReportFailure::Output(error) => error,
            ReportFailure::Table(error) => return Err(Error::runtime(error.to_string())),
        };
        if error.kind() != io::ErrorKind::BrokenPipe {
            return Err(Error::runtime(format!(
                "writing the output failed: {error}"
            )));
        }
        Ok(Summary {
            output_closed: true,
            ..self.summary()
        })
    }
}

/// Asks the kernel to wake this thread when its timed parks end, not up to 50 µs later (the
/// default timer slack, by which Linux groups wake-ups to save power): the reading worker
/// closes batches by the clock, and each report waited for that slack.
fn wake_on_time() {
    #[cfg(target_os = "linux")]
    {
        // Best effort: a kernel that refuses leaves the default slack, and batches close a
        // little later.
        let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1));
    }
}
