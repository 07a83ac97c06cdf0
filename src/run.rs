//! One run of the job: open the source and the output, join the cluster if there is one,
//! start the timely workers, and let the reading worker drive while the others count.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use crate::batching::BatchClock;
use crate::checkpoint::Recovery;
use crate::checkpoint::{self, Checkpoint};
use crate::cluster::{self, Resume};
use crate::config::{Config, Source, StopAfter};
use crate::dataflow::{self, ChunkProgress, Heartbeat, StopSignal, WordKey};
use crate::driver::{Driver, Ends, Role};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::shutdown::Shutdown;
use crate::source::{self, Waker};
use crate::stats::Summary;
use crate::tokenize::{StopWords, Tokenizer};
use crate::ui;

/// Merge work an arrangement does per idle scheduling (differential's `idle_merge_effort`).
const IDLE_MERGE_EFFORT: isize = 100_000;

/// Runs the job described by `config` to its end and says what it did. Results go to stdout
/// or the `-o` file (on process 0 only); logs and statistics go to stderr. The summary is
/// `None` on a process of a cluster that reads no source.
pub fn run(config: Config) -> Result<Option<Summary>, Error> {
    // Before anything is opened: a `-w` this machine cannot start is refused at once.
    crate::worker_budget::check(
        config.workers,
        crate::worker_budget::Limits::of_this_process(),
    )?;
    let stop_words = load_stop_words(&config)?;
    let clustered = config.cluster.processes > 1;
    // Timely's network threads print with `println!` (a connection that breaks mid-message):
    // in a cluster, file descriptor 1 goes to stderr and results go to a copy of the real
    // stdout.
    let stdout = clustered.then(stdout_for_results).transpose()?;
    let (out, appending) = open_output(&config, stdout)?;
    warn_of_too_many_workers(config.workers);
    // Until the workers run, a signal ends the process at once: opening the input (a FIFO
    // waits for its writer) or meeting the cluster may wait, and nothing is counted yet.
    let shutdown = Shutdown::install()?;
    let waker = Waker::default();
    let live_view = config.ui.as_ref().filter(|_| config.cluster.process == 0);
    let metrics = Metrics::new(live_view.is_some());
    // The checkpoint's lock first: a run refused there must not have read anything.
    let mut checkpoint = open_checkpoint(&config, &stop_words)?;
    let recovery = checkpoint.as_mut().and_then(|(_, r)| r.as_mut());
    let OpenedSource {
        events,
        tails,
        started,
    } = open_source(&config, &waker, &metrics, recovery)?;
    if let Some((checkpoint, recovery)) = checkpoint.as_mut() {
        if let Some(recovery) = recovery {
            checkpoint.reopen_if_due(recovery)?;
        }
        checkpoint.note_starts(&started)?;
    }
    let recovery = checkpoint.as_ref().and_then(|(_, r)| r.as_ref());
    let own = resume_of(&config, recovery)?;
    let (links, first) = cluster::join(&config, &stop_words, own)?;
    if let Some(address) = live_view {
        serve_live_view(&config, address, &metrics)?;
    }
    // Every reading process replays only what process 0's snapshot does not cover.
    let checkpoint = checkpoint
        .map(|(checkpoint, recovery)| (checkpoint, recovery.map(|r| r.covered_by(first.snapshot))));
    let ends = Ends {
        events,
        tails,
        progress: Arc::new(ChunkProgress::new(waker.clone())),
        out,
        appending,
        shutdown: shutdown.clone(),
        metrics,
        checkpoint,
        shift: first.shift,
    };
    let job = Job::new(
        config,
        stop_words,
        ends,
        first.word_key,
        shutdown.clone(),
        waker,
    )?;
    // Nothing that can fail comes between starting the network threads and the workers.
    let (builders, network) = links.start()?;
    let guards =
        timely::execute::execute_from(builders, network, worker_config(), move |w| job.work(w))
            .map_err(|e| Error::runtime(format!("could not start the workers: {e}")))?;
    shutdown.running();
    join_workers(guards.join())
}

/// What every worker of the process shares: the closure that runs them must be `Fn + Sync`.
struct Job {
    config: Arc<Config>,
    tokenizer: Tokenizer,
    progress: Arc<ChunkProgress>,
    word_key: WordKey,
    /// In a cluster: every process's address, for the heartbeat's messages.
    addresses: Vec<String>,
    /// The reading worker takes these.
    ends: Mutex<Option<Ends>>,
    stop_requests: Shutdown,
    waker: Waker,
}

impl Job {
    /// What the workers share, given what the reading worker takes (`ends`).
    fn new(
        config: Config,
        stop_words: StopWords,
        ends: Ends,
        word_key: WordKey,
        stop_requests: Shutdown,
        waker: Waker,
    ) -> Result<Job, Error> {
        Ok(Job {
            progress: ends.progress.clone(),
            tokenizer: Tokenizer::new(config.split, config.lowercase, stop_words),
            addresses: match config.cluster.processes > 1 {
                true => cluster::addresses(&config.cluster)?,
                false => Vec::new(),
            },
            ends: Mutex::new(Some(ends)),
            word_key,
            stop_requests,
            waker,
            config: Arc::new(config),
        })
    }

    /// One worker's part: build the dataflow; the first worker of a reading process drives it
    /// (worker 0 also reports), the others count.
    fn work(&self, worker: &mut timely::worker::Worker) -> Result<Option<Summary>, Error> {
        let config = &self.config;
        let clustered = config.cluster.processes > 1;
        let word_count = worker.next_dataflow_index();
        let wc = dataflow::build(
            worker,
            self.tokenizer.clone(),
            dataflow::Retraction::after(config.mode.retraction_delay()),
            self.progress.clone(),
            self.word_key,
        );
        let mut stop = StopSignal::build(worker);
        let first_of_process = worker.index().is_multiple_of(config.workers);
        // In a cluster, worker 0 names the processes it has not heard from lately.
        let process = config.cluster.process;
        let mut heartbeat = clustered
            .then(|| Heartbeat::build(worker, process, self.addresses.clone(), first_of_process));
        // The first worker of each reading process feeds the input; worker 0 reports.
        let role = match (
            worker.index(),
            first_of_process && config.cluster.reads_source(),
        ) {
            (0, _) => Role::FeedAndReport,
            (_, true) => Role::Feed,
            (_, false) => {
                // Open inputs here would hold the frontier back.
                drop(wc.input);
                drop(wc.restore);
                drop(wc.control);
                if first_of_process {
                    // A process that reads nothing still hears signals for the whole job.
                    let (stops, beat) = (&self.stop_requests, &mut heartbeat);
                    pass_signals_on(worker, word_count, &mut stop, stops, beat);
                }
                stop.close();
                return Ok(None);
            }
        };
        self.waker.register_current();
        let ends = self
            .ends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("one worker per process feeds");
        Driver::new(config, wc, ends, (stop, heartbeat), role)
            .run(worker)
            .map(Some)
    }
}

/// The summary of the worker that reported, or the first failure.
fn join_workers(
    results: Vec<Result<Result<Option<Summary>, Error>, String>>,
) -> Result<Option<Summary>, Error> {
    let mut summary = None;
    for result in results {
        match result {
            Ok(Ok(Some(worker_summary))) => summary = Some(worker_summary),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => return Err(e),
            Err(panic) => return Err(Error::runtime(format!("a worker failed: {panic}"))),
        }
    }
    Ok(summary)
}

/// Timely's worker settings: arrangements keep merging while the workers are idle, so that
/// what a batch or a window retracted is also freed between batches, not only when later
/// batches push merges along.
fn worker_config() -> timely::WorkerConfig {
    let mut worker_config = timely::WorkerConfig::default();
    differential_dataflow::configure(
        &mut worker_config,
        &differential_dataflow::Config::default().idle_merge_effort(Some(IDLE_MERGE_EFFORT)),
    );
    worker_config
}

fn warn_of_too_many_workers(workers: usize) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if workers > 4 * cores {
        log!(
            "warning: -w {workers} is far more worker threads than the {cores} cores here: each costs memory and start-up time (timely connects every pair of workers) and adds no speed"
        );
    }
}

/// Opens `--checkpoint` on a process that reads, or `None`.
fn open_checkpoint(
    config: &Config,
    stop_words: &StopWords,
) -> Result<Option<(Checkpoint, Option<Recovery>)>, Error> {
    let Some(dir) = config
        .checkpoint
        .as_ref()
        .filter(|_| config.cluster.reads_source())
    else {
        return Ok(None);
    };
    let settings = Settings::for_checkpoint(config, stop_words);
    checkpoint::check_cluster_layout(dir, &config.cluster)?;
    let dir = checkpoint::process_dir(dir, &config.cluster);
    // A restart inside the interval of the last report reopens that batch (one process with
    // time batches; a cluster resumes after it).
    let clock = BatchClock::new(config.batching);
    let now = (clock.is_timed() && config.cluster.processes == 1)
        .then(|| clock.epoch_at(crate::batching::unix_micros()));
    let keeps_snapshots = config.cluster.process == 0;
    Checkpoint::open(&dir, &settings, config.fsync, now, keeps_snapshots).map(Some)
}

/// A source, open.
struct OpenedSource {
    events: Receiver<source::Event>,
    tails: source::Tails,
    /// Where a replayable source started the partitions a checkpoint did not hold.
    started: BTreeMap<u64, u64>,
}

/// Opens the source on a process that reads; a channel that never speaks on one that does
/// not.
fn open_source(
    config: &Config,
    waker: &Waker,
    metrics: &Arc<Metrics>,
    recovery: Option<&mut Recovery>,
) -> Result<OpenedSource, Error> {
    let mut started = BTreeMap::new();
    if !config.cluster.reads_source() {
        return Ok(OpenedSource {
            events: sync_channel(0).1,
            tails: source::Tails::new(config.cluster.process),
            started,
        });
    }
    let none = BTreeMap::new();
    let resume = match recovery {
        Some(recovery) => source::Resumption {
            offsets: &recovery.source_offsets,
            replay: &mut recovery.replay,
            started: &mut started,
        },
        None => source::Resumption {
            offsets: &none,
            replay: &mut [],
            started: &mut started,
        },
    };
    let (events, tails) = source::open(
        &config.source,
        config.source_options(),
        (waker.clone(), metrics.clone()),
        config.cluster.process,
        resume,
    )?;
    Ok(OpenedSource {
        events,
        tails,
        started,
    })
}

/// What this process tells the cluster about its resumption.
fn resume_of(config: &Config, recovery: Option<&Recovery>) -> Result<Resume, Error> {
    Ok(Resume {
        snapshot: recovery
            .and_then(|recovery| recovery.snapshot.as_ref())
            .and_then(|snapshot| snapshot.reported),
        shift: recovery
            .and_then(Recovery::resume_epoch)
            .map_or(0, |epoch| {
                BatchClock::resumed_at(config.batching, epoch).shift()
            }),
        word_key: WordKey::random().map_err(Error::runtime)?,
    })
}

fn serve_live_view(config: &Config, address: &str, metrics: &Arc<Metrics>) -> Result<(), Error> {
    let bound = ui::serve(address, metrics.clone(), &ui::Job::of(config))?;
    log!("live view on http://{bound}/ (the batches at /api/batches, Prometheus metrics at /metrics)");
    if config.source == Source::Demo && config.stop == StopAfter::default() {
        log!("--demo with --ui runs until interrupted (Ctrl-C)");
    }
    Ok(())
}

/// On a process that reads no source: steps the dataflows until the job is done, and raises
/// the job's stop when this process is signalled.
fn pass_signals_on(
    worker: &mut timely::worker::Worker,
    word_count: usize,
    stop: &mut StopSignal,
    shutdown: &Shutdown,
    heartbeat: &mut Option<Heartbeat>,
) {
    while worker.installed_dataflows().contains(&word_count) {
        if shutdown.requested() {
            stop.raise();
        }
        if let Some(heartbeat) = heartbeat {
            heartbeat.beat();
        }
        worker.step_or_park(Some(std::time::Duration::from_millis(20)));
    }
}

/// The largest stop-word file read: far more than any list of words to drop, and a bound on
/// what a mistaken path (a device, a huge file) can cost.
const MAX_STOP_WORDS_BYTES: u64 = 64 << 20;

fn load_stop_words(config: &Config) -> Result<StopWords, Error> {
    let Some(path) = &config.stop_words else {
        return Ok(StopWords::default());
    };
    let failed = |e: std::io::Error| {
        Error::runtime(format!(
            "cannot read --stop-words '{}': {e}",
            path.display()
        ))
    };
    // Read one byte past the bound, so that a longer file (or an endless one such as
    // /dev/zero) is told apart without reading it all.
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|file| file.take(MAX_STOP_WORDS_BYTES + 1).read_to_end(&mut bytes))
        .map_err(failed)?;
    if bytes.len() as u64 > MAX_STOP_WORDS_BYTES {
        return Err(Error::runtime(format!(
            "--stop-words '{}' is larger than {} MiB; a stop-word list of at most that size is accepted (one word a line)",
            path.display(),
            MAX_STOP_WORDS_BYTES >> 20
        )));
    }
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

/// A handle on the real stdout for results, after which file descriptor 1 writes to stderr.
fn stdout_for_results() -> Result<File, Error> {
    let failed = |e: rustix::io::Errno| Error::runtime(format!("cannot set up stdout: {e}"));
    let copy = rustix::io::dup(std::io::stdout()).map_err(failed)?;
    rustix::stdio::dup2_stdout(std::io::stderr()).map_err(failed)?;
    Ok(File::from(copy))
}

/// Opens stdout (or its copy) or the `-o` file (appending); says whether a file already held
/// output.
fn open_output(
    config: &Config,
    stdout: Option<File>,
) -> Result<(Box<dyn Write + Send>, bool), Error> {
    if config.cluster.process != 0 {
        // Only process 0 reports; the others' stdout stays empty.
        return Ok((Box::new(std::io::sink()), false));
    }
    match &config.output {
        None => Ok(match stdout {
            Some(file) => (Box::new(BufWriter::new(file)), false),
            None => (Box::new(BufWriter::new(std::io::stdout())), false),
        }),
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    Error::runtime(format!("cannot write --output '{}': {e}", path.display()))
                })?;
            let appending = file.metadata().map(|m| m.len() > 0).unwrap_or(false);
            Ok((Box::new(BufWriter::new(file)), appending))
        }
    }
}
