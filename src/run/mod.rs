//! One run of the job: open the source and the output, join the cluster if there is one,
//! start the timely workers, and let the reading worker drive while the others count.
//!
//! What the run does to its whole process (signal handlers, file descriptor 1) is installed by
//! the caller ([`ProcessEffects`]) and passed in; what it opens is in `open`; what the workers
//! do is in `job`.

mod job;
mod open;

use std::sync::Arc;

use crate::cluster;
use crate::config::Config;
use crate::dataflow::ChunkProgress;
use crate::driver::Ends;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::process::ProcessEffects;
use crate::source::Waker;
use crate::stats::Summary;
use job::Job;

/// Words in a checkpoint's snapshot from which its restore takes long enough (about 0.1 s
/// and more) that a signal meanwhile ends the process at once rather than wait for it.
const SLOW_RESTORE_WORDS: usize = 100_000;

/// Runs the job described by `config` to its end and says what it did. Results go to stdout
/// (`effects` says which descriptor) or the `-o` file (on process 0 only); logs and statistics
/// go to stderr. The summary is `None` on a process of a cluster that reads no source.
pub fn run(mut config: Config, effects: ProcessEffects) -> Result<Option<Summary>, Error> {
    // Before anything is opened: a `-w` this machine cannot start is refused at once.
    crate::worker_budget::check(
        config.workers,
        crate::worker_budget::Limits::of_this_process(),
    )?;
    let stop_words = open::load_stop_words(&config)?;
    open::warn_of_too_many_workers(config.workers);
    let shutdown = effects.shutdown;
    let waker = Waker::default();
    let serves_ui = config.ui.is_some() && config.cluster.process == 0;
    let ui_slots = open::share_descriptors(&mut config, serves_ui);
    let live_view = config.ui.as_ref().filter(|_| serves_ui);
    let metrics = Metrics::new(serves_ui);
    let (mut checkpoint, source) = open::open_inputs(&config, &stop_words, &waker, &metrics)?;
    let recovery = checkpoint.as_ref().and_then(|(_, r)| r.as_ref());
    // A lone process that restores many counts (seconds of work) stays quick to stop until
    // it has reported them (see `crate::shutdown`); a cluster's processes stop together,
    // through the dataflow.
    let restores = config.cluster.processes == 1
        && recovery.is_some_and(|r| r.words_in_state() >= SLOW_RESTORE_WORDS);
    let out = open::open_output(&config, effects.results, recovery)?;
    let own = open::resume_of(&config, recovery)?;
    open::note_topic_start(checkpoint.as_mut(), &out)?;
    let (links, first) = cluster::join(&config, &stop_words, own)?;
    if let Some(address) = live_view {
        open::serve_live_view(&config, address, ui_slots, &metrics)?;
    }
    // Every reading process replays only what process 0's snapshot does not cover.
    let checkpoint = checkpoint
        .map(|(checkpoint, recovery)| (checkpoint, recovery.map(|r| r.covered_by(first.snapshot))));
    let progress = Arc::new(ChunkProgress::new(waker.clone()));
    let ends = Ends {
        events: source.events,
        tails: source.tails,
        progress,
        out,
        shutdown: shutdown.clone(),
        metrics,
        checkpoint,
        shift: first.shift,
    };
    let peers = config.workers * config.cluster.processes;
    let job = Job::new(
        config,
        stop_words,
        ends,
        first.word_key,
        shutdown.clone(),
        waker,
    )?;
    // Before the workers start: the reporting worker says when the restore is reported.
    if restores {
        shutdown.restoring();
    }
    // Nothing that can fail comes between starting the network threads and the workers.
    let (builders, network) = links.start()?;
    let guards =
        timely::execute::execute_from(builders, network, job::worker_config(peers), move |w| {
            job.work(w)
        })
        .map_err(|e| Error::runtime(format!("could not start the workers: {e}")))?;
    if !restores {
        shutdown.running();
    }
    job::join_workers(guards.join())
}
