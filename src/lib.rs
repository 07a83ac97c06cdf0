//! netwc: Spark Streaming's `NetworkWordCount` on timely and differential dataflow.
//!
//! Lines arrive from a source, are cut into batches (timely epochs), split into words and
//! counted by differential's `count_total` on every worker; worker 0 reports each batch the
//! moment the probe says it is complete.
//!
//! # Layout
//! (Private modules are named in code spans; `cargo doc --document-private-items` shows them.)
//! - `vocab`: the types every layer names (epochs, word ids and texts, chunks, logged chunks),
//!   a leaf that imports nothing of the crate; `lines`: where lines end.
//! - [`cli`]: the command line as typed (clap); [`config`]: the job's vocabulary and the
//!   validated job ([`Config`]), with `cli::from_args` the one place flags are checked.
//! - `source`: readers (socket, `--listen`, stdin, file, demo, and with the feature `kafka`,
//!   `source::kafka`), line framing; sources know nothing of timely.
//! - `run`: one run's phases (`run::open` opens what can fail at once, `run::job` is the
//!   workers' side); `process`: what a run does to its process ([`ProcessEffects`]), which
//!   `main` installs.
//! - `driver`: the reading worker's loop (feed, advance, step, report); `driver::batcher`
//!   decides when epochs close; `driver::intake` takes what the source read.
//! - `dataflow`: the timely/differential dataflow; `dataflow::worker_batches` is the combine
//!   step as plain state, `dataflow::mode` the three modes' one retraction rule;
//!   `dataflow::stop` carries a signal to every process, `dataflow::heartbeat` notices a
//!   silent one.
//! - `reporter`: worker 0's reports, each epoch once and in order; `report`: the table of
//!   current counts; `rows`: a report's rows and their order; `output`: the `spark`, `jsonl`
//!   and `tsv` formats; `table`: the hash table whose lookups start ahead (the dictionaries'
//!   and the report table's).
//! - `checkpoint`: `--checkpoint` (the write-ahead log, snapshots, the directory and its lock,
//!   recovery; `checkpoint::durability` is what the driver and reporter call while running).
//! - `cluster`: the handshake, whose connections timely's network runs on; `settings`: what
//!   processes and checkpoints must agree on, in plain words.
//! - `metrics`: what the job has done, in one place; `ui`: the live view (`--ui`).
//! - `batching` (epochs, batch names, the clock), `tokenize` (lines to words), `numbers` and
//!   `duration` (bounded flag values), `worker_budget` (whether `-w` threads fit),
//!   `descriptors` (what strangers' connections may take), `stats`,
//!   `shutdown` (signals), `error`, [`mod@log`].

#![warn(missing_docs)]

#[macro_use]
pub mod log;

mod batching;
mod checkpoint;
pub mod cli;
mod cluster;
pub mod config;
mod dataflow;
mod descriptors;
mod driver;
mod duration;
mod error;
mod lines;
mod metrics;
mod numbers;
mod output;
mod prefetch;
mod process;
mod report;
mod reporter;
mod rows;
mod run;
mod settings;
mod shutdown;
mod source;
mod stable_hash;
mod stats;
mod table;
#[cfg(test)]
mod test_rng;
mod tokenize;
mod ui;
mod vocab;
mod worker_budget;

pub use config::Config;
pub use error::Error;
pub use process::ProcessEffects;
pub use run::run;
pub use stats::Summary;

/// The hot paths and the demo generator, for the benchmarks and examples; the job itself is
/// [`run()`] over a [`Config`].
pub mod parts {
    pub use crate::dataflow::{NameChange, WordKey};
    /// Kafka's default partitioner, as `-o kafka://` places a word.
    #[cfg(feature = "kafka")]
    pub use crate::output::kafka_partition;
    pub use crate::report::ResultTable;
    pub use crate::source::{LineFramer, Zipf, MAX_PENDING, VOCABULARY};
    pub use crate::tokenize::{split_like_java, StopWords, Tokenizer};
    pub use crate::vocab::{Chunk, WordId};
}
