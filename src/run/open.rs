//! What a run opens before its workers start, each of which may fail at once with a clear
//! message: the stop-word list, the output, the checkpoint (its lock first), the source.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use crate::batching::BatchClock;
use crate::checkpoint::{self, Checkpoint, Recovery};
use crate::cluster::Resume;
use crate::config::{Config, Output, Source, StopAfter};
use crate::dataflow::WordKey;
use crate::descriptors::ConnectionBudget;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::output::{OutputMark, Sink};
use crate::settings::Settings;
use crate::source::{self, Waker};
use crate::tokenize::StopWords;
use crate::ui;

pub(super) fn warn_of_too_many_workers(workers: usize) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if workers > 4 * cores {
        log!(
            "warning: -w {workers} is far more worker threads than the {cores} cores here: each costs memory and start-up time (timely connects every pair of workers) and adds no speed"
        );
    }
}

/// Caps the connections strangers may hold (producers with `--listen`, clients of `--ui`)
/// below the descriptor limit, keeping what the job needs; says so when `--max-connections`
/// does not fit. Returns the live view's slots.
pub(super) fn share_descriptors(config: &mut Config, live_view: bool) -> usize {
    let listens = matches!(config.source, Source::Listen(_)) && config.cluster.reads_source();
    let requested = if listens { config.max_connections } else { 0 };
    let ui_wanted = if live_view { ui::MAX_CONNECTIONS } else { 0 };
    let budget = ConnectionBudget::of_this_process(requested, ui_wanted);
    if listens && budget.producers < requested {
        log!(
            "--max-connections {requested} does not fit under this process's descriptor limit (ulimit -n) beside what the job keeps for itself: at most {} producers are accepted at once (raise the limit for more)",
            budget.producers
        );
        config.max_connections = budget.producers;
    }
    budget.ui
}

/// A checkpoint, open, with what a restart found in it.
pub(super) type OpenedCheckpoint = Option<(Checkpoint, Option<Recovery>)>;

/// Opens the checkpoint (its lock first: a run refused there must not have read anything),
/// then the source, resuming as the checkpoint says; notes where the source started.
pub(super) fn open_inputs(
    config: &Config,
    stop_words: &StopWords,
    waker: &Waker,
    metrics: &Arc<Metrics>,
) -> Result<(OpenedCheckpoint, OpenedSource), Error> {
    let mut checkpoint = open_checkpoint(config, stop_words)?;
    let recovery = checkpoint.as_mut().and_then(|(_, r)| r.as_mut());
    let source = open_source(config, waker, metrics, recovery)?;
    if let Some((checkpoint, recovery)) = checkpoint.as_mut() {
        if let Some(recovery) = recovery {
            checkpoint.reopen_if_due(recovery)?;
        }
        checkpoint.note_starts(&source.started)?;
    }
    Ok((checkpoint, source))
}

/// Opens `--checkpoint` on a process that reads, or `None`.
fn open_checkpoint(config: &Config, stop_words: &StopWords) -> Result<OpenedCheckpoint, Error> {
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
    let now = (clock.is_timed() && config.cluster.processes == 1 && !names_each_batch_once(config))
        .then(|| clock.epoch_at(crate::batching::unix_micros()));
    let keeps_snapshots = config.cluster.process == 0;
    Checkpoint::open(&dir, &settings, config.fsync, now, keeps_snapshots).map(Some)
}

/// A source, open.
pub(super) struct OpenedSource {
    pub events: Receiver<source::Event>,
    pub tails: source::Tails,
    /// Where a replayable source started the partitions a checkpoint did not hold.
    pub started: BTreeMap<u64, u64>,
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
            resumed: true,
            offsets: &recovery.source_offsets,
            replay: &mut recovery.replay,
            started: &mut started,
        },
        None => source::Resumption {
            resumed: false,
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

/// Into a topic, with a checkpoint that noted no ends yet: notes where each partition ends
/// now, before any report, so that a restart reads back from there.
pub(super) fn note_topic_start(
    checkpoint: Option<&mut (Checkpoint, Option<Recovery>)>,
    out: &Sink,
) -> Result<(), Error> {
    let (Some((checkpoint, recovery)), OutputMark::TopicEnds(ends)) = (checkpoint, out.mark())
    else {
        return Ok(());
    };
    if recovery
        .as_ref()
        .and_then(|r| r.topic_ends.as_ref())
        .is_none()
    {
        checkpoint.log_topic_ends(None, ends)?;
    }
    Ok(())
}

/// Opens the `-o kafka://` topic.
#[cfg(feature = "kafka")]
fn open_topic(
    config: &Config,
    target: &crate::config::KafkaTarget,
    recovery: Option<&Recovery>,
) -> Result<Sink, Error> {
    use crate::output::RecordValue as Value;
    let value = match config.format {
        crate::config::Format::Jsonl => Value::JsonRow,
        _ => Value::Count,
    };
    let unit = match config.batching {
        crate::config::Batching::Time { interval_ms } => interval_ms,
        crate::config::Batching::Lines { .. } => 1,
    };
    let window = match config.mode {
        crate::config::Mode::Window { length, .. } => Some(length * unit),
        _ => None,
    };
    let noted = recovery.and_then(|r| r.topic_ends.as_deref());
    let sink = crate::output::KafkaSink::open(target, noted, value, window)?;
    Ok(Sink::Kafka(Box::new(sink)))
}

/// Without the feature, `-o kafka://` is refused when the command line is read.
#[cfg(not(feature = "kafka"))]
fn open_topic(
    _: &Config,
    _: &crate::config::KafkaTarget,
    _: Option<&Recovery>,
) -> Result<Sink, Error> {
    unreachable!("-o kafka:// is refused without the kafka feature")
}

/// Whether a quick restart (inside the interval of the last report) must neither report that
/// batch again as a correction nor name its first batch as that one (a shifted clock would):
/// into a topic, a (batch, word) record is never written twice. That restart's first batch
/// runs on to the end of the next interval instead.
fn names_each_batch_once(config: &Config) -> bool {
    matches!(config.output, Some(Output::Kafka(_)))
}

/// What this process tells the cluster about its resumption.
pub(super) fn resume_of(config: &Config, recovery: Option<&Recovery>) -> Result<Resume, Error> {
    Ok(Resume {
        snapshot: recovery
            .and_then(|recovery| recovery.snapshot.as_ref())
            .and_then(|snapshot| snapshot.reported),
        shift: recovery
            .and_then(Recovery::resume_epoch)
            .filter(|_| !names_each_batch_once(config))
            .map_or(0, |epoch| {
                BatchClock::resumed_at(config.batching, epoch).shift()
            }),
        word_key: WordKey::random().map_err(Error::runtime)?,
    })
}

pub(super) fn serve_live_view(
    config: &Config,
    address: &str,
    slots: usize,
    metrics: &Arc<Metrics>,
) -> Result<(), Error> {
    let bound = ui::serve(address, slots, metrics.clone(), &ui::Job::of(config))?;
    log!("live view on http://{bound}/ (the batches at /api/batches, Prometheus metrics at /metrics)");
    if config.source == Source::Demo && config.stop == StopAfter::default() {
        log!("--demo with --ui runs until interrupted (Ctrl-C)");
    }
    Ok(())
}

/// The largest stop-word file read: far more than any list of words to drop, and a bound on
/// what a mistaken path (a device, a huge file) can cost.
const MAX_STOP_WORDS_BYTES: u64 = 64 << 20;

pub(super) fn load_stop_words(config: &Config) -> Result<StopWords, Error> {
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

/// Opens stdout (or its copy), the `-o` file (appending), cut back to the end of the last
/// report a checkpoint noted, or the `-o kafka://` topic, read back from where the checkpoint
/// noted its partitions ended.
pub(super) fn open_output(
    config: &Config,
    stdout: Option<File>,
    recovery: Option<&Recovery>,
) -> Result<Sink, Error> {
    if config.cluster.process != 0 {
        // Only process 0 reports; the others' stdout stays empty.
        return Ok(Sink::Nowhere);
    }
    let path = match &config.output {
        None => {
            return Ok(match stdout {
                Some(file) => Sink::StdoutCopy(BufWriter::new(file)),
                None => Sink::Stdout(BufWriter::new(std::io::stdout())),
            })
        }
        Some(Output::File(path)) => path,
        Some(Output::Kafka(target)) => return open_topic(config, target, recovery),
    };
    let cut_to = recovery.and_then(|r| r.output_length);
    let (sink, cut) = Sink::append_to(path, cut_to)
        .map_err(|e| Error::runtime(format!("cannot write --output '{}': {e}", path.display())))?;
    if cut > 0 {
        log!(
            "cut {cut} bytes from the end of --output '{}': what the last run wrote after its last whole report (a write that failed); that report comes again whole",
            path.display()
        );
    }
    Ok(sink)
}
