//! The command line as the user types it: flags and their syntax, nothing more.
//!
//! `clap` checks each flag on its own (a duration is a duration, a port is a port); how flags
//! combine (one source, windows that are multiples of the batch) is checked in
//! [`crate::config`], which turns these [`Args`] into a [`crate::Config`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

mod from_args;

use crate::config::{Emit, Format, Fsync, SplitRule};
use crate::duration::parse_duration;
use crate::numbers::{
    parse_batch_lines, parse_batches, parse_max_connections, parse_process, parse_processes,
    parse_top, parse_workers,
};

/// Spark Streaming's NetworkWordCount on timely and differential dataflow.
///
/// Reads lines from a text server (as `nc -lk 9999`), standard input, a file, producers that
/// connect to it, or a built-in demo; cuts the stream into batches; and prints each batch's word
/// counts the moment the batch is complete, like Spark's `DStream.print()`.
#[derive(Debug, Parser)]
#[command(name = "netwc", version, max_term_width = 100)]
#[command(after_help = "Examples:\n  \
    nc -lk 9999                      # in one terminal: a text server\n  \
    netwc localhost 9999             # in another: 1 s batches of word counts\n  \
    netwc --demo                     # no setup: a built-in generator feeds the job\n  \
    netwc --file book.txt --batch-lines 1000 --format tsv --top 0\n  \
    netwc --mode window --window 30s --slide 10s localhost 9999")]
pub struct Args {
    /// Host of the text server to connect to (Spark's `socketTextStream(host, port)`).
    #[arg(value_name = "HOST")]
    pub host: Option<String>,

    /// Port of the text server to connect to.
    #[arg(value_name = "PORT")]
    pub port: Option<String>,

    /// Run on a built-in generator of Zipf-distributed words (no setup needed); stops after
    /// 5 batches unless --batches or --duration say otherwise.
    #[arg(long, help_heading = "Source (choose one)")]
    pub demo: bool,

    /// Be the server: accept any number of producers on ADDR (e.g. 127.0.0.1:9999) and count
    /// the lines they all send. Runs until a signal, --batches or --duration.
    #[arg(long, value_name = "ADDR", help_heading = "Source (choose one)")]
    pub listen: Option<String>,

    /// With --listen: accept at most N producers at once; more are refused and logged
    /// [default: 1000].
    #[arg(long, value_name = "N", value_parser = parse_max_connections, allow_hyphen_values = true, help_heading = "Source (choose one)")]
    pub max_connections: Option<usize>,

    /// With HOST PORT: keep running when the server is absent or closes, and retry every
    /// --retry-delay, like Spark's receiver (empty batches are reported meanwhile).
    #[arg(long, help_heading = "Source (choose one)")]
    pub reconnect: bool,

    /// With --reconnect: how long to wait between attempts.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, allow_hyphen_values = true, help_heading = "Source (choose one)")]
    pub retry_delay: Option<Duration>,

    /// Read standard input.
    #[arg(long, help_heading = "Source (choose one)")]
    pub stdin: bool,

    /// Read the records of Kafka topics (--topic) from these bootstrap brokers
    /// (host:port, comma-separated), as Spark's direct Kafka stream: each record's value is
    /// text, and a record ends a line. Needs a netwc built with `--features kafka`.
    #[arg(long, value_name = "BROKERS", help_heading = "Source (choose one)")]
    pub kafka: Option<String>,

    /// With --kafka: the topics to read (comma-separated); every partition of each is read.
    #[arg(
        long,
        value_name = "TOPIC[,TOPIC]",
        help_heading = "Source (choose one)"
    )]
    pub topic: Option<String>,

    /// With --kafka: where each partition is read from, as Spark's auto.offset.reset. With
    /// --watch: whether the files already in the directory are read (earliest) or only those
    /// that appear later (latest, Spark's newFilesOnly). A checkpoint's restart reads on where
    /// it left off.
    #[arg(
        long,
        value_enum,
        value_name = "WHERE",
        help_heading = "Source (choose one)"
    )]
    pub from: Option<crate::config::StartFrom>,

    /// Read a file.
    #[arg(long, value_name = "PATH", help_heading = "Source (choose one)")]
    pub file: Option<PathBuf>,

    /// Read each file that appears in this directory, as Spark's textFileStream: names
    /// starting with `.` or `_` are ignored, and files are to be moved in whole (write
    /// elsewhere, then `mv`). A name is read once.
    #[arg(long, value_name = "DIR", help_heading = "Source (choose one)")]
    pub watch: Option<PathBuf>,

    /// Batch interval: 1ms up to hours (500ms, 1s, 2m, 1h). Batches are named by their end
    /// time, aligned to multiples of the interval in Unix epoch milliseconds, as in Spark.
    #[arg(short, long, value_name = "DUR", value_parser = parse_duration, allow_hyphen_values = true, help_heading = "Batching")]
    pub batch: Option<Duration>,

    /// Batch by line count instead of time: batch k holds lines kN..(k+1)N and is named k+1.
    /// Output is then reproducible, byte for byte, for any number of workers.
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "batch",
        value_parser = parse_batch_lines,
        allow_hyphen_values = true,
        help_heading = "Batching"
    )]
    pub batch_lines: Option<u64>,

    /// What each report holds: `batch` = counts of this batch (NetworkWordCount),
    /// `incremental` = running totals since start (StatefulNetworkWordCount),
    /// `window` = counts over the last --window (reduceByKeyAndWindow).
    #[arg(long, value_enum, default_value_t = ModeArg::Batch, hide_possible_values = true, help_heading = "Counting")]
    pub mode: ModeArg,

    /// Window length for --mode window: a duration that is a whole multiple of --batch
    /// (30s), or with --batch-lines a number of batches (3).
    #[arg(long, value_name = "DUR|N", help_heading = "Counting")]
    pub window: Option<String>,

    /// How often the window is reported: a whole multiple of --batch, at most --window
    /// (default: every batch). With --batch-lines, a number of batches.
    #[arg(long, value_name = "DUR|N", help_heading = "Counting")]
    pub slide: Option<String>,

    /// How words are cut from a line: `whitespace` = runs of Unicode white space separate
    /// words; `spark` = Java's `line.split(" ")` exactly, empty words included.
    #[arg(long, value_enum, default_value_t = SplitRule::Whitespace, hide_possible_values = true, help_heading = "Counting")]
    pub split: SplitRule,

    /// Fold words to lower case before counting.
    #[arg(long, help_heading = "Counting")]
    pub lowercase: bool,

    /// Drop the words listed in FILE (one a line; folded too with --lowercase) and count how
    /// many were dropped (see --stats and the summary on stderr at exit).
    #[arg(long, value_name = "FILE", help_heading = "Counting")]
    pub stop_words: Option<PathBuf>,

    /// Print every word's count (`all`), or only words whose count changed since the previous
    /// report (`changes`; a word that drops out prints 0). Default: `all` for batch and window,
    /// `changes` for incremental.
    #[arg(long, value_enum, hide_possible_values = true, help_heading = "Output")]
    pub emit: Option<Emit>,

    /// Output format: `spark` (as Scala's DStream.print()), `jsonl` (one JSON object per
    /// batch), `tsv` (time, word, count rows under a header).
    #[arg(long, value_enum, default_value_t = Format::Spark, hide_possible_values = true, help_heading = "Output")]
    pub format: Format,

    /// At most N rows per batch, highest counts first; 0 = all. Default: 10 for spark (as
    /// print()), all for jsonl and tsv.
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_top,
        allow_hyphen_values = true,
        help_heading = "Output"
    )]
    pub top: Option<usize>,

    /// Write results to PATH (created, or appended to) instead of standard output; or, as
    /// kafka://BROKERS/TOPIC (a netwc built with `--features kafka`), a record per row into an
    /// existing topic: key the word, value the count (the JSON row with --format jsonl),
    /// header `batch` the batch's time.
    #[arg(short, long, value_name = "PATH", help_heading = "Output")]
    pub output: Option<PathBuf>,

    /// Serve a live view while the job runs: a page at http://ADDR/, the recent batches at
    /// /api/batches and Prometheus metrics at /metrics. ADDR is HOST:PORT, or a bare PORT on
    /// 127.0.0.1. With --demo, the demo then runs until interrupted.
    #[arg(long, value_name = "ADDR", help_heading = "Output")]
    pub ui: Option<String>,

    /// Print one line per batch on stderr: time, lines, words, distinct words, processing
    /// and delay in ms, input rate.
    #[arg(long, help_heading = "Output")]
    pub stats: bool,

    /// Keep the counts' state and the unprocessed input durable in DIR: a write-ahead log of
    /// everything read, and about once a second a snapshot of what changed. A restart with the
    /// same DIR (after a crash, even kill -9) resumes exactly; batches printed before are not
    /// printed again.
    #[arg(long, value_name = "DIR", help_heading = "Running")]
    pub checkpoint: Option<PathBuf>,

    /// With --checkpoint: when the log is forced to disk. `batch` = at every batch's close (a
    /// power loss loses at most the open batch); `read` = after every read (loses nothing that
    /// was read, slower). A crash of netwc alone loses nothing with either.
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        hide_possible_values = true,
        help_heading = "Running"
    )]
    pub fsync: Option<Fsync>,

    /// Worker threads that split and count (per process).
    #[arg(
        short,
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = parse_workers,
        allow_hyphen_values = true,
        help_heading = "Running"
    )]
    pub workers: usize,

    /// Run as one process of a cluster of N processes (timely's `-n`); all of them form one
    /// computation. Every process needs the same --hostfile, --workers and counting flags.
    #[arg(
        short = 'n',
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = parse_processes,
        allow_hyphen_values = true,
        help_heading = "Cluster"
    )]
    pub processes: usize,

    /// This process's index in the cluster, 0 to N-1 (timely's `-p`). Process 0 prints.
    #[arg(
        short = 'p',
        long,
        value_name = "I",
        default_value_t = 0,
        value_parser = parse_process,
        allow_hyphen_values = true,
        help_heading = "Cluster"
    )]
    pub process: usize,

    /// The cluster's addresses: one `host:port` a line, in process order (blank lines and lines
    /// starting with # are skipped). Default: 127.0.0.1:2101, 127.0.0.1:2102, ...
    #[arg(long, value_name = "FILE", help_heading = "Cluster")]
    pub hostfile: Option<PathBuf>,

    /// Every process reads its own source (its own HOST PORT, --listen address, file or stdin)
    /// instead of process 0 alone, so that ingest scales with processes; the totals are those of
    /// all sources together.
    #[arg(long, help_heading = "Cluster")]
    pub every_process_reads: bool,

    /// How long processes wait at start for the other processes of the cluster, and how long
    /// `--kafka` tries to reach its brokers and find every partition [default: 30s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration, allow_hyphen_values = true, help_heading = "Cluster")]
    pub connect_timeout: Option<Duration>,

    /// Stop after N batches (the last one is closed and reported as at end of input).
    #[arg(long, value_name = "N", value_parser = parse_batches, allow_hyphen_values = true, help_heading = "Running")]
    pub batches: Option<u64>,

    /// Stop after DUR; the batch in flight then is closed and reported.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, allow_hyphen_values = true, help_heading = "Running")]
    pub duration: Option<Duration>,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Counts of each batch alone.
    Batch,
    /// Running totals since start.
    Incremental,
    /// Counts over a sliding window.
    Window,
}
