//! One run of the job: open the source and the output, join the cluster if there is one,
//! start the timely workers, and let the reading worker drive while the others count.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::sync::mpsc::sync_channel;
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
    let stdout = if clustered {
        Some(stdout_for_results()?)
    } else {
        None
    };
    let (out, appending) = open_output(&config, stdout)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if config.workers > 4 * cores {
        log!(
            "warning: -w {} is far more worker threads than the {cores} cores here: each costs memory and start-up time (timely connects every pair of workers) and adds no speed",
            config.workers
        );
    }
    // Until the workers run, a signal ends the process at once: opening the input (a FIFO
    // waits for its writer) or meeting the cluster may wait, and nothing is counted yet.
    let shutdown = Shutdown::install()?;
    let running = shutdown.clone();
    let stop_requests = shutdown.clone();
    let waker = Waker::default();
    let reads = config.cluster.reads_source();
    let live_view = config.ui.as_ref().filter(|_| config.cluster.process == 0);
    let metrics = Metrics::new(live_view.is_some());
    // The checkpoint's lock first: a run refused there must not have read anything.
    let checkpoint = match (&config.checkpoint, reads) {
        (Some(dir), true) => {
            let settings = Settings::for_checkpoint(&config, &stop_words);
            checkpoint::check_cluster_layout(dir, &config.cluster)?;
            let dir = checkpoint::process_dir(dir, &config.cluster);
            // A restart inside the interval of the last report reopens that batch (one
            // process with time batches; a cluster resumes after it).
            let clock = BatchClock::new(config.batching);
            let now = (clock.is_timed() && config.cluster.processes == 1)
                .then(|| clock.epoch_at(crate::batching::unix_micros()));
            Some(Checkpoint::open(&dir, &settings, config.fsync, now)?)
        }
        _ => None,
    };
    let (events, tails) = if reads {
        source::open(
            &config.source,
            config.source_options(),
            waker.clone(),
            metrics.clone(),
            config.cluster.process,
        )?
    } else {
        (
            sync_channel(0).1,
            source::Tails::new(config.cluster.process),
        )
    };
    let recovery = checkpoint
        .as_ref()
        .and_then(|(_, recovery)| recovery.as_ref());
    let own = Resume {
        snapshot: recovery
            .and_then(|recovery| recovery.snapshot.as_ref())
            .and_then(|snapshot| snapshot.reported),
        shift: recovery
            .and_then(Recovery::resume_epoch)
            .map_or(0, |epoch| {
                BatchClock::resumed_at(config.batching, epoch).shift()
            }),
        word_key: WordKey::random().map_err(Error::runtime)?,
    };
    let (links, first) = cluster::join(&config, &stop_words, own)?;
    if let Some(address) = live_view {
        let bound = ui::serve(address, metrics.clone(), &ui::Job::of(&config))?;
        log!("live view on http://{bound}/ (the batches at /api/batches, Prometheus metrics at /metrics)");
        if config.source == Source::Demo && config.stop == StopAfter::default() {
            log!("--demo with --ui runs until interrupted (Ctrl-C)");
        }
    }
    // Every reading process replays only what process 0's snapshot does not cover.
    let checkpoint = checkpoint
        .map(|(checkpoint, recovery)| (checkpoint, recovery.map(|r| r.covered_by(first.snapshot))));
    let progress = Arc::new(ChunkProgress::new(waker.clone()));
    let tokenizer = Tokenizer::new(config.split, config.lowercase, stop_words);

    // The reading worker takes these; the closure below must be `Fn + Sync`.
    let ends = Mutex::new(Some(Ends {
        events,
        tails,
        progress: progress.clone(),
        out,
        appending,
        shutdown,
        metrics,
        checkpoint,
        shift: first.shift,
    }));
    let workers = config.workers;
    // In a cluster, worker 0 names the processes it has not heard from lately.
    let process = config.cluster.process;
    let addresses = if clustered {
        cluster::addresses(&config.cluster)?
    } else {
        Vec::new()
    };
    let mut worker_config = timely::WorkerConfig::default();
    // Arrangements keep merging while the workers are idle, so that what a batch or a window
    // retracted is also freed between batches, not only when later batches push merges along.
    differential_dataflow::configure(
        &mut worker_config,
        &differential_dataflow::Config::default().idle_merge_effort(Some(IDLE_MERGE_EFFORT)),
    );
    let config = Arc::new(config);
    // Nothing that can fail comes between starting the network threads and the workers.
    let (builders, network) = links.start()?;
    let guards = timely::execute::execute_from(builders, network, worker_config, move |worker| {
        let word_count = worker.next_dataflow_index();
        let wc = dataflow::build(
            worker,
            tokenizer.clone(),
            config.mode.retraction_delay(),
            progress.clone(),
            first.word_key,
        );
        let mut stop = StopSignal::build(worker);
        let first_of_process = worker.index() % workers == 0;
        let mut heartbeat = clustered
            .then(|| Heartbeat::build(worker, process, addresses.clone(), first_of_process));
        // The first worker of each reading process feeds the input; worker 0 reports.
        let role = match (worker.index(), first_of_process && reads) {
            (0, _) => Role::FeedAndReport,
            (_, true) => Role::Feed,
            (_, false) => {
                // Open inputs here would hold the frontier back.
                drop(wc.input);
                drop(wc.restore);
                drop(wc.control);
                if first_of_process {
                    // A process that reads nothing still hears signals for the whole job.
                    pass_signals_on(
                        worker,
                        word_count,
                        &mut stop,
                        &stop_requests,
                        &mut heartbeat,
                    );
                }
                stop.close();
                return Ok(None);
            }
        };
        waker.register_current();
        let ends = ends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("one worker per process feeds");
        Driver::new(&config, wc, ends, (stop, heartbeat), role)
            .run(worker)
            .map(Some)
    })
    .map_err(|e| Error::runtime(format!("could not start the workers: {e}")))?;
    running.running();

    let mut summary = None;
    for result in guards.join() {
        match result {
            Ok(Ok(Some(worker_summary))) => summary = Some(worker_summary),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => return Err(e),
            Err(panic) => return Err(Error::runtime(format!("a worker failed: {panic}"))),
        }
    }
    Ok(summary)
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
