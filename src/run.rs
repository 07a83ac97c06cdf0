//! One run of the job: open the source and the output, start the timely workers, and let
//! worker 0 drive and report while the others count.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::dataflow::{self, ChunkProgress};
use crate::driver::{Driver, Ends};
use crate::error::Error;
use crate::shutdown::Shutdown;
use crate::source::{self, Waker};
use crate::stats::Summary;
use crate::tokenize::{StopWords, Tokenizer};

/// Merge work an arrangement does per idle scheduling (differential's `idle_merge_effort`).
const IDLE_MERGE_EFFORT: isize = 100_000;

/// Runs the job described by `config` to its end and says what it did. Results go to stdout
/// or the `-o` file; logs and statistics go to stderr.
pub fn run(config: Config) -> Result<Summary, Error> {
    let stop_words = load_stop_words(&config)?;
    let (out, appending) = open_output(&config)?;
    let shutdown = Shutdown::install()?;
    let waker = Waker::default();
    let events = source::open(&config.source, config.split, waker.clone())?;
    let progress = Arc::new(ChunkProgress::new(waker.clone()));
    let tokenizer = Tokenizer::new(config.split, config.lowercase, stop_words);

    // Worker 0 takes these; the closure below must be `Fn + Sync`.
    let ends = Mutex::new(Some(Ends {
        events,
        progress: progress.clone(),
        out,
        appending,
        shutdown,
    }));
    let workers = config.workers;
    let mut timely_config = if workers > 1 {
        timely::Config::process(workers)
    } else {
        timely::Config::thread()
    };
    // Arrangements keep merging while the workers are idle, so that what a batch or a window
    // retracted is also freed between batches, not only when later batches push merges along.
    differential_dataflow::configure(
        &mut timely_config.worker,
        &differential_dataflow::Config::default().idle_merge_effort(Some(IDLE_MERGE_EFFORT)),
    );
    let config = Arc::new(config);
    let guards = timely::execute(timely_config, move |worker| {
        let wc = dataflow::build(
            worker,
            tokenizer.clone(),
            config.mode.retraction_delay(),
            progress.clone(),
        );
        if worker.index() != 0 {
            // Only worker 0 feeds the input; an open input here would hold the frontier back.
            drop(wc.input);
            return Ok(None);
        }
        waker.register_current();
        let ends = ends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("worker 0 starts once");
        Driver::new(&config, wc, ends, workers)
            .run(worker)
            .map(Some)
    })
    .map_err(|e| Error::runtime(format!("could not start the workers: {e}")))?;

    let mut summary = None;
    for result in guards.join() {
        match result {
            Ok(Ok(Some(worker_summary))) => summary = Some(worker_summary),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => return Err(e),
            Err(panic) => return Err(Error::runtime(format!("a worker failed: {panic}"))),
        }
    }
    summary.ok_or_else(|| Error::runtime("worker 0 ended without a summary"))
}

fn load_stop_words(config: &Config) -> Result<StopWords, Error> {
    let Some(path) = &config.stop_words else {
        return Ok(StopWords::default());
    };
    let bytes = std::fs::read(path).map_err(|e| {
        Error::runtime(format!(
            "cannot read --stop-words '{}': {e}",
            path.display()
        ))
    })?;
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Opens stdout or the `-o` file (appending); says whether a file already held output.
fn open_output(config: &Config) -> Result<(Box<dyn Write + Send>, bool), Error> {
    match &config.output {
        None => Ok((Box::new(BufWriter::new(std::io::stdout())), false)),
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
