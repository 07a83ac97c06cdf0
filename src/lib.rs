//! netwc: Spark Streaming's `NetworkWordCount` on timely and differential dataflow.
//!
//! Lines arrive from a source, are cut into batches (timely epochs), split into words and
//! counted by differential's `count_total` on every worker; worker 0 reports each batch the
//! moment the probe says it is complete.
//!
//! # Layout
//! - [`cli`]: the command line as typed (clap); [`config`]: the validated job ([`Config`]).
//! - [`checkpoint`]: `--checkpoint`: the write-ahead log, snapshots, recovery.
//! - [`cluster`]: the handshake and timely's cluster configuration; [`settings`]: what
//!   processes and checkpoints must agree on, in plain words.
//! - [`source`]: readers (socket, `--listen`, stdin, file, demo) and line framing.
//! - [`batching`]: epochs, batch names and the clock.
//! - [`tokenize`]: lines to words (split rules, case folding, stop words).
//! - [`dataflow`]: the timely/differential dataflow.
//! - [`driver`]: the reading worker's loop that feeds and closes epochs.
//! - [`reporter`]: worker 0's reports, each epoch once and in order.
//! - [`report`]: the table of current counts and the rows of a report.
//! - [`output`]: the `spark`, `jsonl` and `tsv` formats.
//! - [`stats`], [`shutdown`], [`duration`], [`error`], [`mod@log`]: the rest.

#![warn(missing_docs)]

pub mod batching;
pub mod checkpoint;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod dataflow;
pub mod driver;
pub mod duration;
pub mod error;
pub mod log;
pub mod numbers;
pub mod output;
pub mod report;
pub mod reporter;
pub mod run;
pub mod settings;
pub mod shutdown;
pub mod source;
pub mod stats;
pub mod tokenize;

pub use config::Config;
pub use error::Error;
pub use run::run;
