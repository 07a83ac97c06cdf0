//! `--kafka` against a real Kafka-compatible broker: Tansu, started on a loopback port for each
//! test (`NETWC_TANSU` names its binary, else `tansu` on the PATH; `.ci/run` installs it).
//! Built with `--features kafka`. What a run reads (`reading`), how it meets faults
//! (`faults`), and exactly once with a checkpoint (`exactly_once`).

mod broker;
mod exactly_once;
mod faults;
mod reading;
mod sink;

use std::path::Path;

use crate::util::*;
use broker::Broker;

/// `lines` lines of words (the lines' order across partitions is the broker's, so only what
/// does not depend on it is compared).
fn text(seed: u64, lines: usize) -> String {
    let mut rng = Rng::new(seed);
    (0..lines)
        .map(|_| {
            let words: Vec<String> = (0..1 + rng.below(6))
                .map(|_| format!("w{}", rng.below(40)))
                .collect();
            words.join(" ") + "\n"
        })
        .collect()
}

/// netwc reading every partition of `topic` at the broker `address` from its earliest offset.
fn reading(address: &str, topic: &str) -> Netwc {
    Netwc::new().args(["--kafka", address, "--topic", topic, "--from", "earliest"])
}

/// [`reading`] running totals of line batches into a checkpoint at `state`, at `-w 2`, its
/// reports and logs piped.
fn checkpointed(address: &str, topic: &str, per_batch: usize, state: &Path) -> Netwc {
    reading(address, topic)
        .args(["--batch-lines", &per_batch.to_string()])
        .args(["--mode", "incremental", "--emit", "all"])
        .args(["--format", "tsv", "--top", "0", "-w", "2", "--checkpoint"])
        .arg(state)
}

/// netwc over the whole topic, `batches` line batches of `per_batch` lines, then it stops.
fn count(broker: &Broker, topic: &str, args: &[&str], per_batch: usize, batches: usize) -> String {
    stdout_of(
        &reading(&broker.address, topic)
            .args(["--batch-lines", &per_batch.to_string()])
            .args(["--batches", &batches.to_string()])
            .args(["--format", "tsv", "--emit", "all", "--top", "0"])
            .args(args)
            .output(),
    )
}
