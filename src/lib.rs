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

#[macro_use]
pub mod log;

mod batching;
mod checkpoint;
pub mod cli;
mod cluster;
pub mod config;
mod dataflow;
mod driver;
mod duration;
mod error;
mod metrics;
mod numbers;
mod output;
mod report;
mod reporter;
mod run;
mod settings;
mod shutdown;
mod source;
mod stats;
mod tokenize;
mod ui;

pub use config::Config;
pub use error::Error;
pub use run::run;
pub use stats::Summary;

/// The hot paths and the demo generator, for the benchmarks and examples; the job itself is
/// [`run`] over a [`Config`].
pub mod parts {
    pub use crate::dataflow::WordKey;
    pub use crate::report::ResultTable;
    pub use crate::source::{Chunk, LineFramer, Zipf, MAX_PENDING, VOCABULARY};
    pub use crate::tokenize::{split_like_java, StopWords, Tokenizer};
}
