//! A validated job description, built from the command line.
//!
//! [`Config::from_args`] is the one place where flags are combined, defaulted and checked
//! against each other. The engine only ever sees a [`Config`], never clap's types, so tests and
//! library users can build one directly.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use crate::checkpoint::Fsync;
use crate::cli::{Args, EmitArg, FormatArg, FsyncArg, ModeArg, SplitArg};
use crate::duration::{format_millis, parse_millis};

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

/// Which rows a report prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    /// Every word with a non-zero count.
    All,
    /// Only words whose count changed since the previous report, including those now at 0.
    Changes,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Scala `DStream.print()`.
    Spark,
    /// One JSON object per batch.
    Jsonl,
    /// `time word count` rows under a header.
    Tsv,
}

/// How a line is cut into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitRule {
    /// Runs of Unicode white space separate words; no empty words.
    Whitespace,
    /// Java's `line.split(" ")`: single spaces separate, trailing empty words are dropped,
    /// a blank line is one empty word.
    Spark,
}

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
    /// Append results to this file instead of stdout.
    pub output: Option<PathBuf>,
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
    /// Stop conditions.
    pub stop: StopAfter,
    /// This process's place in a cluster.
    pub cluster: ClusterConfig,
    /// `--checkpoint`: where state and the input log are kept.
    pub checkpoint: Option<PathBuf>,
    /// When the input log is forced to disk.
    pub fsync: Fsync,
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

fn invalid(message: String) -> ConfigError {
    ConfigError {
        conflict: false,
        message,
    }
}

fn conflict(message: String) -> ConfigError {
    ConfigError {
        conflict: true,
        message,
    }
}

const SOURCES: &str = "HOST PORT, --listen ADDR, --stdin, --file PATH or --demo";

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
            stop: StopAfter::default(),
            cluster: ClusterConfig::single(),
            checkpoint: None,
            fsync: Fsync::Batch,
        }
    }

    /// Combines, defaults and checks the parsed flags.
    pub fn from_args(args: Args) -> Result<Config, ConfigError> {
        let source = source_of(&args)?;
        let batching = batching_of(&args)?;
        let mode = mode_of(&args, batching)?;
        let format = match args.format {
            FormatArg::Spark => Format::Spark,
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Tsv => Format::Tsv,
        };
        let top = match (args.top, format) {
            (Some(0), _) => None,
            (Some(n), _) => Some(n),
            (None, Format::Spark) => Some(10),
            (None, _) => None,
        };
        let emit = match (args.emit, mode) {
            (Some(EmitArg::All), _) => Emit::All,
            (Some(EmitArg::Changes), _) => Emit::Changes,
            (None, Mode::Incremental) => Emit::Changes,
            (None, _) => Emit::All,
        };
        let cluster = cluster_of(&args)?;
        source_flags_fit(&args, &source)?;
        if args.fsync.is_some() && args.checkpoint.is_none() {
            return Err(conflict("--fsync needs --checkpoint DIR".into()));
        }

        let mut stop = StopAfter {
            batches: args.batches,
            duration: args.duration,
        };
        if source == Source::Demo && stop == StopAfter::default() {
            stop.batches = Some(DEMO_BATCHES);
        }
        Ok(Config {
            source,
            batching,
            mode,
            emit,
            format,
            top,
            output: args.output,
            split: match args.split {
                SplitArg::Whitespace => SplitRule::Whitespace,
                SplitArg::Spark => SplitRule::Spark,
            },
            reconnect: args
                .reconnect
                .then(|| args.retry_delay.unwrap_or(DEFAULT_RETRY_DELAY)),
            max_connections: args.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
            lowercase: args.lowercase,
            stop_words: args.stop_words,
            workers: args.workers,
            stats: args.stats,
            stop,
            fsync: match args.fsync {
                Some(FsyncArg::Read) => Fsync::Read,
                _ => Fsync::Batch,
            },
            checkpoint: args.checkpoint,
            cluster,
        })
    }
}

fn source_of(args: &Args) -> Result<Source, ConfigError> {
    let mut chosen = Vec::new();
    if let Some(host) = &args.host {
        // Java and URLs write IPv6 addresses in brackets; the resolver wants them bare.
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.trim().is_empty() {
            return Err(invalid(format!(
                "invalid HOST '{host}': expected a host name or address (e.g. localhost, 127.0.0.1 or [::1])"
            )));
        }
        let Some(port) = &args.port else {
            return Err(invalid(format!(
                "missing PORT after HOST '{host}': connect with `netwc HOST PORT` (e.g. netwc localhost 9999), or choose another source: {SOURCES}"
            )));
        };
        let port = match port.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => {
                return Err(invalid(format!(
                    "invalid PORT '{port}': expected a number from 1 to 65535"
                )))
            }
        };
        chosen.push((
            "HOST PORT",
            Source::Connect {
                host: host.to_string(),
                port,
            },
        ));
    }
    if let Some(addr) = &args.listen {
        chosen.push(("--listen", Source::Listen(addr.clone())));
    }
    if args.stdin {
        chosen.push(("--stdin", Source::Stdin));
    }
    if let Some(path) = &args.file {
        chosen.push(("--file", Source::File(path.clone())));
    }
    if args.demo {
        chosen.push(("--demo", Source::Demo));
    }
    match chosen.len() {
        0 => Err(conflict(format!(
            "no source given: choose one of {SOURCES}"
        ))),
        1 => Ok(chosen.pop().expect("one source").1),
        _ => {
            let names: Vec<&str> = chosen.iter().map(|(name, _)| *name).collect();
            Err(conflict(format!(
                "{} cannot be used together: choose exactly one of {SOURCES}",
                names.join(" and ")
            )))
        }
    }
}

/// Flags that only one kind of source uses are refused with the others.
fn source_flags_fit(args: &Args, source: &Source) -> Result<(), ConfigError> {
    let connects = matches!(source, Source::Connect { .. });
    if args.reconnect && !connects {
        return Err(conflict(
            "--reconnect is for HOST PORT (a text server netwc connects to); producers reconnect to --listen by themselves".into(),
        ));
    }
    if args.retry_delay.is_some() && !args.reconnect {
        return Err(conflict("--retry-delay needs --reconnect".into()));
    }
    if args.max_connections.is_some() && !matches!(source, Source::Listen(_)) {
        return Err(conflict(
            "--max-connections is for --listen ADDR (producers that connect to netwc); drop it or listen".into(),
        ));
    }
    Ok(())
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

fn cluster_of(args: &Args) -> Result<ClusterConfig, ConfigError> {
    if args.process >= args.processes {
        return Err(invalid(format!(
            "invalid value '{}' for '--process <I>': with --processes {} the index is 0 to {}",
            args.process,
            args.processes,
            args.processes - 1
        )));
    }
    if args.processes == 1 && (args.hostfile.is_some() || args.every_process_reads) {
        return Err(conflict(
            "--hostfile and --every-process-reads are for clusters: add --processes N (and --process I)"
                .into(),
        ));
    }
    if args.processes == 1 && args.connect_timeout.is_some() {
        return Err(conflict(
            "--connect-timeout is for clusters: add --processes N (and --process I)".into(),
        ));
    }
    let last_default_port = crate::cluster::DEFAULT_BASE_PORT as usize + args.processes - 1;
    if args.hostfile.is_none() && last_default_port > usize::from(u16::MAX) {
        return Err(invalid(format!(
            "invalid value '{}' for '--processes <N>': without --hostfile process i listens on port {}+i, so at most {} processes fit below port 65535; list the addresses in a --hostfile",
            args.processes,
            crate::cluster::DEFAULT_BASE_PORT,
            usize::from(u16::MAX) - crate::cluster::DEFAULT_BASE_PORT as usize + 1
        )));
    }
    Ok(ClusterConfig {
        processes: args.processes,
        process: args.process,
        hostfile: args.hostfile.clone(),
        every_process_reads: args.every_process_reads,
        connect_timeout: args.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
    })
}

fn batching_of(args: &Args) -> Result<Batching, ConfigError> {
    match (args.batch_lines, args.batch) {
        (Some(per_batch), _) => Ok(Batching::Lines { per_batch }),
        (None, Some(interval)) => Ok(Batching::Time {
            interval_ms: interval.as_millis() as u64,
        }),
        (None, None) => Ok(Batching::Time { interval_ms: 1_000 }),
    }
}

fn mode_of(args: &Args, batching: Batching) -> Result<Mode, ConfigError> {
    if args.mode != ModeArg::Window {
        for (flag, value) in [("--window", &args.window), ("--slide", &args.slide)] {
            if value.is_some() {
                let mode = args.mode.to_possible_value().expect("modes are not hidden");
                return Err(conflict(format!(
                    "{flag} is only used with --mode window (the mode is {}); add --mode window or drop {flag}",
                    mode.get_name()
                )));
            }
        }
    }
    match args.mode {
        ModeArg::Batch => Ok(Mode::Batch),
        ModeArg::Incremental => Ok(Mode::Incremental),
        ModeArg::Window => {
            let Some(window) = &args.window else {
                return Err(conflict(
                    "--mode window needs --window: its length, e.g. --window 30s (or with --batch-lines a number of batches, e.g. --window 3)".into(),
                ));
            };
            let length = batches_in("--window", window, batching)?;
            let slide = match &args.slide {
                Some(slide) => batches_in("--slide", slide, batching)?,
                None => 1,
            };
            if slide > length {
                return Err(conflict(format!(
                    "--slide {} is longer than --window {}: a window is reported at most once per its length",
                    args.slide.as_deref().unwrap_or_default(),
                    window
                )));
            }
            Ok(Mode::Window { length, slide })
        }
    }
}

/// Reads a window or slide length as a whole number of batches.
fn batches_in(flag: &str, text: &str, batching: Batching) -> Result<u64, ConfigError> {
    match batching {
        Batching::Lines { .. } => match text.trim().parse::<u64>() {
            Ok(n) if (1..=MAX_WINDOW_BATCHES).contains(&n) => Ok(n),
            _ => Err(invalid(format!(
                "invalid value '{text}' for '{flag}': with --batch-lines, {flag} is a whole number of batches from 1 to {MAX_WINDOW_BATCHES}, e.g. {flag} 3"
            ))),
        },
        Batching::Time { interval_ms } => {
            let millis = parse_millis(text)
                .map_err(|why| invalid(format!("invalid value for '{flag}': {why}")))?;
            if !millis.is_multiple_of(interval_ms) {
                return Err(conflict(format!(
                    "{flag} {text} is not a whole multiple of the batch interval {}: window and slide must be multiples of --batch (e.g. {})",
                    format_millis(interval_ms),
                    format_millis(interval_ms * (millis / interval_ms).max(1)),
                )));
            }
            Ok(millis / interval_ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(line: &str) -> Result<Config, ConfigError> {
        // A value clap refuses comes back as a usage error too, with clap's message.
        let args = Args::try_parse_from(std::iter::once("netwc").chain(line.split_whitespace()))
            .map_err(|e| invalid(e.to_string()))?;
        Config::from_args(args)
    }

    #[test]
    fn host_and_port_connect_with_spark_defaults() {
        let config = config("localhost 9999").unwrap();
        assert_eq!(
            config.source,
            Source::Connect {
                host: "localhost".into(),
                port: 9999
            }
        );
        assert_eq!(config.batching, Batching::Time { interval_ms: 1000 });
        assert_eq!(config.top, Some(10));
        assert_eq!(config.emit, Emit::All);
    }

    #[test]
    fn exactly_one_source() {
        assert!(config("").unwrap_err().message.contains("no source given"));
        let both = config("--stdin --demo").unwrap_err();
        assert!(both
            .message
            .contains("--stdin and --demo cannot be used together"));
        assert!(config("localhost")
            .unwrap_err()
            .message
            .contains("missing PORT"));
        assert!(config("localhost 99999")
            .unwrap_err()
            .message
            .contains("1 to 65535"));
    }

    #[test]
    fn defaults_follow_mode_and_format() {
        assert_eq!(
            config("--stdin --mode incremental").unwrap().emit,
            Emit::Changes
        );
        assert_eq!(config("--stdin --format tsv").unwrap().top, None);
        assert_eq!(config("--stdin --top 0").unwrap().top, None);
        assert_eq!(config("--demo").unwrap().stop.batches, Some(DEMO_BATCHES));
        assert_eq!(config("--demo --duration 2s").unwrap().stop.batches, None);
    }

    #[test]
    fn windows_are_multiples_of_the_batch() {
        let mode = config("--stdin --mode window --window 30s --slide 10s --batch 5s")
            .unwrap()
            .mode;
        assert_eq!(
            mode,
            Mode::Window {
                length: 6,
                slide: 2
            }
        );
        let lines = config("--stdin --batch-lines 10 --mode window --window 3").unwrap();
        assert_eq!(
            lines.mode,
            Mode::Window {
                length: 3,
                slide: 1
            }
        );
        let err = config("--stdin --mode window --window 2500ms").unwrap_err();
        assert!(err
            .message
            .contains("not a whole multiple of the batch interval 1s"));
        let err = config("--stdin --mode window --window 2s --slide 3s").unwrap_err();
        assert!(err.message.contains("longer than --window"));
        let err = config("--stdin --window 2s").unwrap_err();
        assert!(err.message.contains("only used with --mode window"));
        let err = config("--stdin --mode window").unwrap_err();
        assert!(err.message.contains("needs --window"));
        let err = config("--stdin --batch-lines 5 --mode window --window 2s").unwrap_err();
        assert!(err.message.contains("whole number of batches"));
    }

    #[test]
    fn cluster_flags_are_checked() {
        let third = config("--stdin -n 3 -p 2").unwrap();
        assert_eq!(third.cluster.processes, 3);
        assert!(!third.cluster.reads_source());
        assert!(config("--stdin -n 2 -p 2")
            .unwrap_err()
            .message
            .contains("0 to 1"));
        assert!(config("--stdin -n 0")
            .unwrap_err()
            .message
            .contains("--processes"));
        assert!(config("--stdin --every-process-reads")
            .unwrap_err()
            .message
            .contains("for clusters"));
    }

    #[test]
    fn zero_is_refused_where_it_cannot_work() {
        assert!(config("--stdin -w 0")
            .unwrap_err()
            .message
            .contains("--workers"));
        assert!(config("--stdin --batches 0")
            .unwrap_err()
            .message
            .contains("--batches"));
        assert!(config("--stdin --batch-lines 0")
            .unwrap_err()
            .message
            .contains("--batch-lines"));
        assert!(config("--stdin --max-connections 0")
            .unwrap_err()
            .message
            .contains("--max-connections"));
    }

    #[test]
    fn options_that_would_do_nothing_are_refused() {
        assert!(config("--file x --max-connections 5")
            .unwrap_err()
            .message
            .contains("--max-connections is for --listen"));
        assert!(config("--stdin --connect-timeout 5s")
            .unwrap_err()
            .message
            .contains("--connect-timeout is for clusters"));
        assert!(config("--listen 127.0.0.1:0 --max-connections 5").is_ok());
        assert!(config("--stdin -n 2 --connect-timeout 5s").is_ok());
    }

    #[test]
    fn absurd_sizes_are_refused_with_the_accepted_range() {
        let window = config("--stdin --batch-lines 1 --mode window --window 18446744073709551615")
            .unwrap_err();
        assert!(window.message.contains("from 1 to 1000000000"), "{window}");
        let batch = config("--stdin --batch 5124095577h").unwrap_err();
        assert!(batch.message.contains("8760h"), "{batch}");
        let workers = config("--stdin -w 4294967296").unwrap_err();
        assert!(workers.message.contains("from 1 to 1024"), "{workers}");
        let ports = config("--stdin -n 70000 -p 0").unwrap_err();
        assert!(ports.message.contains("1 to 65535"), "{ports}");
        let ports = config("--stdin -n 64000 -p 0").unwrap_err();
        assert!(ports.message.contains("at most 63435 processes"), "{ports}");
    }

    #[test]
    fn hosts_in_brackets_and_empty_hosts() {
        assert_eq!(
            config("[::1] 9999").unwrap().source,
            Source::Connect {
                host: "::1".into(),
                port: 9999
            }
        );
    }
}
