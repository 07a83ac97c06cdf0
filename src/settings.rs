//! The settings that processes of a cluster, and a checkpoint and the run that resumes it,
//! must agree on: named by flag, valued in the words a user types (`window 3s slide 1s`,
//! `lines 2`), so that a mismatch message reads like the command line and a stored checkpoint
//! does not depend on how Rust prints a type.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{Batching, Config, Mode, SplitRule};
use crate::duration::format_millis;
use crate::tokenize::StopWords;

/// The settings to agree on, by flag name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings(BTreeMap<String, String>);

/// Names of the settings that count only within a cluster, not for a checkpoint.
const CLUSTER_ONLY: [&str; 4] = [
    "netwc version",
    "--processes",
    "--workers",
    "--every-process-reads",
];

impl Settings {
    /// What must agree across processes for `config`.
    pub fn of(config: &Config, stop_words: &StopWords) -> Settings {
        let mut words: Vec<&String> = stop_words.iter().collect();
        words.sort();
        let stop_list = crate::stable_hash::fnv1a(
            words
                .iter()
                .flat_map(|word| word.bytes().chain(std::iter::once(b'\n'))),
        );
        let entries = [
            ("netwc version", env!("CARGO_PKG_VERSION").to_string()),
            ("--processes", config.cluster.processes.to_string()),
            ("--workers", config.workers.to_string()),
            ("batching", batching_words(config.batching)),
            ("--mode", mode_words(config.mode, config.batching)),
            ("--split", split_words(config.split).to_string()),
            ("--lowercase", config.lowercase.to_string()),
            (
                "--stop-words",
                format!("{} words, hash {stop_list:016x}", words.len()),
            ),
            (
                "--every-process-reads",
                config.cluster.every_process_reads.to_string(),
            ),
        ];
        let mut settings = Settings(
            entries
                .into_iter()
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
        );
        // A checkpoint keeps where each partition resumes by the topic's place in this list.
        if let crate::config::Source::Kafka(kafka) = &config.source {
            settings.0.insert("--topic".into(), kafka.topics.join(","));
        }
        settings
    }

    /// The settings a checkpoint must share with the run that resumes it: those that shape
    /// the counts, not how many workers or processes compute them. With
    /// `--every-process-reads` the number of processes stays: each process's checkpoint holds
    /// its own source's log (and its share of Kafka's partitions), so a cluster resumed at
    /// another size would drop a log or read a partition again.
    pub fn for_checkpoint(config: &Config, stop_words: &StopWords) -> Settings {
        let mut settings = Settings::of(config, stop_words);
        let keep_processes = config.cluster.every_process_reads && config.cluster.processes > 1;
        for name in CLUSTER_ONLY {
            if !(keep_processes && name == "--processes") {
                settings.0.remove(name);
            }
        }
        // The checkpoint knows the watched files by name: in another directory they would be
        // other files. (Processes that all read watch a directory each.)
        if let crate::config::Source::Watch(watch) = &config.source {
            settings
                .0
                .insert("--watch".into(), watch.dir.display().to_string());
        }
        settings
    }

    /// Each setting that differs, as `name is mine here but theirs there`.
    pub fn differences(&self, theirs: &Settings) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|(name, mine)| {
                let other = theirs.0.get(name).map_or("(not set)", String::as_str);
                (other != mine).then(|| format!("{name} is {mine} here but {other} there"))
            })
            .collect()
    }
}

/// `time 1s` or `lines 100`.
fn batching_words(batching: Batching) -> String {
    match batching {
        Batching::Time { interval_ms } => format!("time {}", format_millis(interval_ms)),
        Batching::Lines { per_batch } => format!("lines {per_batch}"),
    }
}

/// `batch`, `incremental`, or `window 30s slide 10s` (in batches with line batching:
/// `window 3 slide 1`).
pub(crate) fn mode_words(mode: Mode, batching: Batching) -> String {
    let length = |batches: u64| match batching {
        Batching::Time { interval_ms } => format_millis(interval_ms * batches),
        Batching::Lines { .. } => batches.to_string(),
    };
    match mode {
        Mode::Batch => "batch".into(),
        Mode::Incremental => "incremental".into(),
        Mode::Window { length: w, slide } => {
            format!("window {} slide {}", length(w), length(slide))
        }
    }
}

pub(crate) fn split_words(split: SplitRule) -> &'static str {
    match split {
        SplitRule::Whitespace => "whitespace",
        SplitRule::Spark => "spark",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_like_the_command_line() {
        let mut config = Config::new(crate::config::Source::Stdin);
        config.mode = Mode::Window {
            length: 3,
            slide: 1,
        };
        let settings = Settings::for_checkpoint(&config, &StopWords::default());
        assert_eq!(settings.0["batching"], "time 1s");
        assert_eq!(settings.0["--mode"], "window 3s slide 1s");
        assert_eq!(settings.0["--split"], "whitespace");
        config.batching = Batching::Lines { per_batch: 2 };
        let lines = Settings::for_checkpoint(&config, &StopWords::default());
        assert_eq!(lines.0["--mode"], "window 3 slide 1");
        assert_eq!(
            lines.differences(&settings),
            [
                "--mode is window 3 slide 1 here but window 3s slide 1s there",
                "batching is lines 2 here but time 1s there"
            ]
        );
    }
}
