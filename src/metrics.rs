//! What the job has done, in one place: the readers count bytes and connections, the reporter
//! counts lines, words and batches and times each batch, and whoever watches (the live view's
//! `/metrics` and `/api/batches`) reads from here. The counters are Prometheus's own types
//! (`prometheus-client`): atomics, cheap to update from any thread.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::stats::BatchStats;

/// The most recent batches kept for `/api/batches`.
pub const RECENT_BATCHES: usize = 1000;

/// Rows of a batch's report kept with it.
pub const TOP_ROWS: usize = 10;

/// The job's counters, gauges, histograms and (for a live view) its recent batches.
pub struct Metrics {
    registry: Registry,
    lines: Counter,
    words: Counter,
    stop_words: Counter,
    words_cut: Counter,
    batches: Counter,
    bytes: Counter,
    distinct_words: Gauge,
    connections: Gauge,
    last_batch_time_ms: Gauge,
    processing: Histogram,
    delay: Histogram,
    /// Newest last; `None` when nobody reads them.
    recent: Option<Mutex<VecDeque<Arc<BatchRecord>>>>,
}

/// One reported batch, as `/api/batches` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchRecord {
    /// The batch's name: its end in Unix ms, or its number with line batches.
    pub time: u64,
    /// Lines that ended in it (read by this process).
    pub lines: u64,
    /// Words counted in it.
    pub words: u64,
    /// Words in the report's table (the batch, the window or the totals).
    pub distinct: usize,
    /// From the batch's close to its report.
    pub processing_ms: f64,
    /// From the batch's end to its report.
    pub delay_ms: f64,
    /// The first rows of its report.
    pub top: Vec<TopRow>,
}

/// A row of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopRow {
    /// The word.
    pub word: String,
    /// Its count.
    pub count: i64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("batches", &self.batches.get())
            .field("words", &self.words.get())
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Fresh metrics; `keep_recent` keeps the last [`RECENT_BATCHES`] batches for a live view.
    pub fn new(keep_recent: bool) -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("netwc");
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        // 0.1 ms to about 1.6 s: a batch of netwc takes milliseconds.
        let histogram = |registry: &mut Registry, name: &str, help: &str| {
            let histogram = Histogram::new(exponential_buckets(0.000_1, 2.0, 15));
            registry.register(name, help, histogram.clone());
            histogram
        };
        let r = &mut registry;
        let metrics = Metrics {
            lines: counter(r, "lines", "Lines of the reported batches"),
            words: counter(r, "words", "Words counted in the reported batches"),
            stop_words: counter(r, "stop_words", "Words dropped as stop words"),
            words_cut: counter(r, "words_cut", "Words cut to the length limit"),
            batches: counter(r, "batches", "Batches reported"),
            bytes: counter(r, "bytes", "Bytes read from the source"),
            distinct_words: gauge(r, "distinct_words", "Words in the state now"),
            connections: gauge(r, "connections", "Open source connections"),
            last_batch_time_ms: gauge(r, "last_batch_time_ms", "Name of the last batch"),
            processing: histogram(
                r,
                "batch_processing_seconds",
                "From a batch's close to its report",
            ),
            delay: histogram(r, "batch_delay_seconds", "From a batch's end to its report"),
            recent: keep_recent.then(|| Mutex::new(VecDeque::with_capacity(RECENT_BATCHES))),
            registry,
        };
        Arc::new(metrics)
    }

    /// The source read `bytes` more.
    pub fn read(&self, bytes: usize) {
        self.bytes.inc_by(bytes as u64);
    }

    /// A source connection opened (`+1`) or closed (`-1`).
    pub fn connection(&self, change: i64) {
        self.connections.inc_by(change);
    }

    /// A batch was reported; `top` gives its report's first rows (asked only when kept).
    pub fn batch_reported(&self, stats: &BatchStats, top: impl FnOnce() -> Vec<TopRow>) {
        self.lines.inc_by(stats.lines);
        self.words.inc_by(stats.tally.words);
        self.stop_words.inc_by(stats.tally.stopped);
        self.words_cut.inc_by(stats.cut_words);
        self.batches.inc();
        self.distinct_words.set(stats.distinct as i64);
        self.last_batch_time_ms.set(stats.time as i64);
        self.processing.observe(stats.processing_ms / 1e3);
        self.delay.observe(stats.delay_ms / 1e3);
        if let Some(recent) = &self.recent {
            let record = BatchRecord {
                time: stats.time,
                lines: stats.lines,
                words: stats.tally.words,
                distinct: stats.distinct,
                processing_ms: stats.processing_ms,
                delay_ms: stats.delay_ms,
                top: top(),
            };
            let mut recent = recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() == RECENT_BATCHES {
                recent.pop_front();
            }
            recent.push_back(Arc::new(record));
        }
    }

    /// Everything in Prometheus's text format.
    pub fn prometheus_text(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }

    /// The recent batches, newest first (shared: the reporter waits only for the copy of a
    /// list of pointers).
    pub fn recent(&self) -> Vec<Arc<BatchRecord>> {
        self.recent.as_ref().map_or_else(Vec::new, |recent| {
            let recent = recent.lock().unwrap_or_else(|e| e.into_inner());
            recent.iter().rev().cloned().collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::EpochTally;

    fn stats(time: u64, words: u64) -> BatchStats {
        BatchStats {
            time,
            lines: 1,
            tally: EpochTally { words, stopped: 0 },
            cut_words: 0,
            distinct: 2,
            processing_ms: 0.5,
            delay_ms: 1.5,
            lines_per_sec: 0.0,
        }
    }

    #[test]
    fn prometheus_names_and_types() {
        let metrics = Metrics::new(true);
        metrics.read(100);
        metrics.connection(1);
        metrics.batch_reported(&stats(1000, 3), Vec::new);
        let text = metrics.prometheus_text();
        for line in [
            "# TYPE netwc_lines counter",
            "netwc_lines_total 1",
            "netwc_words_total 3",
            "netwc_bytes_total 100",
            "netwc_batches_total 1",
            "# TYPE netwc_distinct_words gauge",
            "netwc_distinct_words 2",
            "netwc_connections 1",
            "netwc_last_batch_time_ms 1000",
            "# TYPE netwc_batch_processing_seconds histogram",
            "netwc_batch_delay_seconds_count 1",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn recent_batches_are_bounded_and_newest_first() {
        let metrics = Metrics::new(true);
        for time in 0..(RECENT_BATCHES as u64 + 5) {
            metrics.batch_reported(&stats(time, 1), Vec::new);
        }
        let recent = metrics.recent();
        assert_eq!(recent.len(), RECENT_BATCHES);
        assert_eq!(recent[0].time, RECENT_BATCHES as u64 + 4);
        assert!(Metrics::new(false).recent().is_empty());
    }
}
