//! The job's vocabulary: a validated job description ([`Config`]) and the types it is made of,
//! each default written once here.
//!
//! [`Config::from_args`] (in `cli::from_args`) is the one place where flags are combined,
//! defaulted and checked against each other. The engine only ever sees a [`Config`], never
//! clap's parsed arguments, so tests and library users can build one directly.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

/// How many batches `--demo` runs when neither `--batches` nor `--duration` is given.
pub const DEMO_BATCHES: u64 = 5;

/// Where lines come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Connect to a text server, as Spark's `socketTextStream(host, port)`.
    Connect {
        /// Host name or address.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// Accept producers on this address.
    Listen(String),
    /// Standard input.
    Stdin,
    /// A file.
    File(PathBuf),
    /// The built-in generator, served over loopback.
    Demo,
    /// Records of Kafka topics (`--kafka`, built with the feature `kafka`).
    Kafka(KafkaSource),
    /// Files that appear in a directory (`--watch`), as Spark's `textFileStream`.
    Watch(WatchSource),
}

/// Where `-o` sends results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A file, appended to.
    File(PathBuf),
    /// A Kafka topic (`-o kafka://BROKERS/TOPIC`, built with the feature `kafka`): a record
    /// per row.
    Kafka(KafkaTarget),
}

/// Where `-o kafka://BROKERS/TOPIC` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaTarget {
    /// Bootstrap brokers, `host:port` each.
    pub brokers: Vec<String>,
    /// The topic (it must exist).
    pub topic: String,
    /// How long the brokers may take to answer at start.
    pub connect_timeout: Duration,
}

/// Where `--watch` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSource {
    /// The directory watched.
    pub dir: PathBuf,
    /// Whether the files there at the first start are read too (without a checkpoint, or on
    /// its first start; a restart reads on where the checkpoint says).
    pub from: StartFrom,
}

/// Where `--kafka` reads: Spark's direct Kafka stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSource {
    /// Bootstrap brokers, `host:port` each.
    pub brokers: Vec<String>,
    /// Topics; every partition of each is read.
    pub topics: Vec<String>,
    /// Where a partition is read from.
    pub from: StartFrom,
    /// How long the brokers may take to answer at start (retried meanwhile).
    pub connect_timeout: Duration,
    /// Which partitions this process reads: (this process, of how many processes read). Of
    /// every partition of the topics, in order, the i-th goes to process i mod n.
    pub share: (usize, usize),
}

/// Where a source with a past starts (`--from`): `--kafka` in each partition, as Spark's
/// `auto.offset.reset`; `--watch` with the files already there, as `newFilesOnly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartFrom {
    /// The oldest record the broker keeps; every file already in the directory.
    Earliest,
    /// What arrives after the start.
    Latest,
}

/// How sources behave beyond where they read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceOptions {
    /// How lines are cut into words (over-long lines are cut between words of this rule).
    pub split: SplitRule,
    /// With `HOST PORT`: keep reconnecting, waiting this long between attempts.
    pub reconnect: Option<Duration>,
    /// With `--listen`: the most producers at once.
    pub max_connections: usize,
}

/// Producers accepted at once by `--listen` unless `--max-connections` says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;

/// How long cluster processes wait for each other unless `--connect-timeout` says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest window counted in batches (`--window N` with `--batch-lines`): far beyond any
/// real use, and small enough that no epoch arithmetic can overflow.
pub const MAX_WINDOW_BATCHES: u64 = 1_000_000_000;

/// Spark's receiver waits 2 s between connection attempts.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(2);

/// How the stream is cut into batches (timely epochs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// By the wall clock: a line belongs to the interval in which netwc took it in.
    Time {
        /// Batch interval in milliseconds.
        interval_ms: u64,
    },
    /// By line count: batch k holds lines kN..(k+1)N.
    Lines {
        /// Lines per batch.
        per_batch: u64,
    },
}

/// What a report holds. All three are one dataflow with a different retraction delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Counts of each batch: a word is retracted one batch after it arrives.
    Batch,
    /// Running totals: words are never retracted.
    Incremental,
    /// Sliding window: a word is retracted `length` batches after it arrives, and a report is
    /// made every `slide` batches.
    Window {
        /// Window length in batches.
        length: u64,
        /// Report every this many batches.
        slide: u64,
    },
}

impl Mode {
    /// How many batches after its arrival a word stops counting, if ever.
    pub fn retraction_delay(&self) -> Option<u64> {
        match self {
            Mode::Batch => Some(1),
            Mode::Incremental => None,
            Mode::Window { length, .. } => Some(*length),
        }
    }

    /// Report every this many batches.
    pub fn slide(&self) -> u64 {
        match self {
            Mode::Window { slide, .. } => *slide,
            _ => 1,
        }
    }
}

/// Which rows a report prints (`--emit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// Every word with a non-zero count.
    All,
    /// Only words whose count changed since the previous report, including those now at 0.
    Changes,
}

/// Output format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Scala `DStream.print()`.
    Spark,
    /// One JSON object per batch.
    Jsonl,
    /// `time word count` rows under a header.
    Tsv,
}

/// How a line is cut into words (`--split`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitRule {
    /// Runs of Unicode white space separate words; no empty words.
    Whitespace,
    /// Java's `line.split(" ")`: single spaces separate, trailing empty words are dropped,
    /// a blank line is one empty word.
    Spark,
}

/// When the checkpoint log is forced to disk (`--fsync`). Appended records survive the process
/// at once; these say what survives the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Fsync {
    /// At every batch's close: a power loss loses at most the open batch.
    Batch,
    /// After every chunk read: a power loss loses nothing that was read.
    Read,
}

/// Timely's default cluster addresses: process i at 127.0.0.1:2101+i.
pub const DEFAULT_BASE_PORT: u16 = 2101;

/// When to stop, besides end of input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StopAfter {
    /// After this many batches.
    pub batches: Option<u64>,
    /// After this long.
    pub duration: Option<Duration>,
}

/// How this process takes part in a cluster of processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Processes in the cluster.
    pub processes: usize,
    /// This process's index.
    pub process: usize,
    /// The hostfile, or `None` for timely's default addresses.
    pub hostfile: Option<PathBuf>,
    /// Whether every process reads its own source.
    pub every_process_reads: bool,
    /// How long to wait for the other processes at start.
    pub connect_timeout: Duration,
}

impl ClusterConfig {
    /// A single process: no cluster.
    pub fn single() -> ClusterConfig {
        ClusterConfig {
            processes: 1,
            process: 0,
            hostfile: None,
            every_process_reads: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Whether this process reads the source.
    pub fn reads_source(&self) -> bool {
        self.process == 0 || self.every_process_reads
    }

    /// Whether more than one process feeds the dataflow: then each marks the epochs it closes,
    /// and the reporter learns the last one only once every input has closed.
    pub fn several_feed(&self) -> bool {
        self.every_process_reads && self.processes > 1
    }
}

/// Everything a run needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where lines come from.
    pub source: Source,
    /// How the stream is cut into batches.
    pub batching: Batching,
    /// Per-batch counts, running totals or windows.
    pub mode: Mode,
    /// Every row or only the changed ones.
    pub emit: Emit,
    /// Output format.
    pub format: Format,
    /// At most this many rows per report; `None` prints all.
    pub top: Option<usize>,
    /// Where results go instead of stdout.
    pub output: Option<Output>,
    /// How lines are cut into words.
    pub split: SplitRule,
    /// With `HOST PORT`: reconnect after this delay when the server is absent or closes.
    pub reconnect: Option<Duration>,
    /// With `--listen`: the most producers at once.
    pub max_connections: usize,
    /// Fold words to lower case.
    pub lowercase: bool,
    /// File of words to drop.
    pub stop_words: Option<PathBuf>,
    /// Worker threads.
    pub workers: usize,
    /// Per-batch statistics on stderr.
    pub stats: bool,
    /// `--ui`: where to serve the live view (`HOST:PORT`).
    pub ui: Option<String>,
    /// Stop conditions.
    pub stop: StopAfter,
    /// This process's place in a cluster.
    pub cluster: ClusterConfig,
    /// `--checkpoint`: where state and the input log are kept.
    pub checkpoint: Option<PathBuf>,
    /// When the input log is forced to disk.
    pub fsync: Fsync,
}

impl Config {
    /// The defaults of a run over `source`: 1 s batches, per-batch counts, Spark's output.
    pub fn new(source: Source) -> Config {
        Config {
            source,
            batching: Batching::Time { interval_ms: 1_000 },
            mode: Mode::Batch,
            emit: Emit::All,
            format: Format::Spark,
            top: Some(10),
            output: None,
            split: SplitRule::Whitespace,
            reconnect: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            lowercase: false,
            stop_words: None,
            workers: 1,
            stats: false,
            ui: None,
            stop: StopAfter::default(),
            cluster: ClusterConfig::single(),
            checkpoint: None,
            fsync: Fsync::Batch,
        }
    }
}

impl Config {
    /// The options sources run with.
    pub fn source_options(&self) -> SourceOptions {
        SourceOptions {
            split: self.split,
            reconnect: self.reconnect,
            max_connections: self.max_connections,
        }
    }
}

/// A flag, or a combination of flags, that cannot run. Always a usage error (exit 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Whether flags conflict (as opposed to one flag having a bad value).
    pub conflict: bool,
    /// What is wrong and what is accepted.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}
