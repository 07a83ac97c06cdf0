//! The workers' side of a run: what every worker of the process shares, and each worker's
//! part (build the dataflow; drive it, or count, or pass signals on).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cluster;
use crate::config::Config;
use crate::dataflow::{self, ChunkProgress, Heartbeat, StopSignal, WordKey};
use crate::driver::{Driver, Ends, Role};
use crate::error::Error;
use crate::shutdown::Shutdown;
use crate::source::Waker;
use crate::stats::Summary;
use crate::tokenize::{StopWords, Tokenizer};

/// Merge work an arrangement does per idle scheduling (differential's `idle_merge_effort`).
const IDLE_MERGE_EFFORT: isize = 100_000;

/// What every worker of the process shares: the closure that runs them must be `Fn + Sync`.
pub(super) struct Job {
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
    pub(super) fn new(
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
    pub(super) fn work(
        &self,
        worker: &mut timely::worker::Worker,
    ) -> Result<Option<Summary>, Error> {
        let config = &self.config;
        let clustered = config.cluster.processes > 1;
        let word_count = worker.next_dataflow_index();
        let wc = dataflow::build(
            worker,
            self.tokenizer.clone(),
            dataflow::Retraction::after(config.mode.retraction_delay()),
            dataflow::InputEnd::of_job(config.cluster.several_feed()),
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
pub(super) fn join_workers(
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

/// How long a worker of a job with several polls for messages before it parks, where timely
/// polls for 10 µs: a batch passes between the workers several times (the exchange, then each
/// step of progress), and a parked worker wakes some 50 µs after it is called. At `-w 2`,
/// 2 M words/s in 1 ms batches, a batch's report came 2.3 ms after it closed (median) and
/// comes 1.3 ms after with this; more bought nothing (`latency.py 200000 10 --batch 1ms -w
/// 2`, with `--stats`). A lone worker has nobody to wait for: there it cost CPU (the readers'
/// too) and bought nothing, so it keeps timely's default.
const IDLE_SPIN_WITH_PEERS: Duration = Duration::from_micros(100);

/// Timely's worker settings: workers of a job with several poll a little longer before they
/// park ([`IDLE_SPIN_WITH_PEERS`]); arrangements keep merging while the workers are idle, so
/// that what a batch or a window retracted is also freed between batches, not only when later
/// batches push merges along.
pub(super) fn worker_config(peers: usize) -> timely::WorkerConfig {
    let mut worker_config = timely::WorkerConfig::default();
    if peers > 1 {
        worker_config = worker_config.idle_spin(IDLE_SPIN_WITH_PEERS);
    }
    differential_dataflow::configure(
        &mut worker_config,
        &differential_dataflow::Config::default().idle_merge_effort(Some(IDLE_MERGE_EFFORT)),
    );
    worker_config
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
        worker.step_or_park(Some(Duration::from_millis(20)));
    }
}
