//! What the job has done, in one place: the readers count bytes and connections, the reporter
//! counts lines, words and batches and times each batch, and whoever watches (the live view's
//! `/metrics` and `/api/batches`) reads from here. The counters are Prometheus's own types
//! (`prometheus-client`): atomics, cheap to update from any thread.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
#[cfg(feature = "kafka")]
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::stats::BatchStats;

/// A partition's labels: its topic and number.
#[cfg(feature = "kafka")]
type Partition = Vec<(&'static str, String)>;

/// What `--kafka` counts per partition.
#[cfg(feature = "kafka")]
struct PartitionMetrics {
    records: Family<Partition, Counter>,
    bytes: Family<Partition, Counter>,
    lag: Family<Partition, Gauge>,
    /// The lags again, to be summed for `--stats` (a `Family` cannot be walked).
    lags: Mutex<std::collections::BTreeMap<(String, i32), i64>>,
}

#[cfg(feature = "kafka")]
impl PartitionMetrics {
    fn register(registry: &mut Registry) -> PartitionMetrics {
        let metrics = PartitionMetrics {
            records: Family::default(),
            bytes: Family::default(),
            lag: Family::default(),
            lags: Mutex::default(),
        };
        let help = "Records read, per Kafka partition";
        registry.register("kafka_records", help, metrics.records.clone());
        let help = "Bytes read, per Kafka partition";
        registry.register("kafka_bytes", help, metrics.bytes.clone());
        let help = "Records of a Kafka partition not read yet (its end minus the next offset)";
        registry.register("kafka_lag_records", help, metrics.lag.clone());
        metrics
    }
}

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
    /// `--kafka`: records, bytes and lag (records behind the partition's end) per partition.
    #[cfg(feature = "kafka")]
    partitions: PartitionMetrics,
    /// Newest last; `None` when nobody reads them.
    recent: Option<Mutex<VecDeque<Arc<str>>>>,
}

/// The most bytes of a word shown in `/api/batches`; a longer word is cut at a character
/// boundary and ends with `…`.
pub const SHOWN_WORD_BYTES: usize = 64;

/// Cuts `word` to [`SHOWN_WORD_BYTES`] (and `…`), so that the history stays small whatever the
/// words (it holds 1,000 batches of 10 rows).
fn cut_word(word: &mut String) {
    if word.len() > SHOWN_WORD_BYTES {
        let mut end = SHOWN_WORD_BYTES;
        while !word.is_char_boundary(end) {
            end -= 1;
        }
        word.truncate(end);
        word.push('…');
    }
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
            #[cfg(feature = "kafka")]
            partitions: PartitionMetrics::register(r),
            recent: keep_recent.then(|| Mutex::new(VecDeque::with_capacity(RECENT_BATCHES))),
            registry,
        };
        Arc::new(metrics)
    }

    /// The source read `bytes` more.
    pub fn read(&self, bytes: usize) {
        self.bytes.inc_by(bytes as u64);
    }

    /// A fetch from partition `partition` of `topic` returned `records` records of `bytes`
    /// bytes, leaving `lag` records behind its end.
    #[cfg(feature = "kafka")]
    pub fn partition_read(&self, topic: &str, partition: i32, records: u64, bytes: u64, lag: i64) {
        let labels = vec![
            ("topic", topic.to_string()),
            ("partition", partition.to_string()),
        ];
        let metrics = &self.partitions;
        metrics.records.get_or_create(&labels).inc_by(records);
        metrics.bytes.get_or_create(&labels).inc_by(bytes);
        metrics.lag.get_or_create(&labels).set(lag);
        let mut lags = metrics.lags.lock().unwrap_or_else(|e| e.into_inner());
        lags.insert((topic.to_string(), partition), lag);
    }

    /// Records behind the ends of all partitions read (`--kafka`), as of their last fetches;
    /// `None` when no partition was read.
    pub fn kafka_lag(&self) -> Option<i64> {
        #[cfg(feature = "kafka")]
        {
            let lags = self
                .partitions
                .lags
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            (!lags.is_empty()).then(|| lags.values().sum())
        }
        #[cfg(not(feature = "kafka"))]
        None
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
            let mut top = top();
            for row in &mut top {
                cut_word(&mut row.word);
            }
            let record = BatchRecord {
                time: stats.time,
                lines: stats.lines,
                words: stats.tally.words,
                distinct: stats.distinct,
                processing_ms: stats.processing_ms,
                delay_ms: stats.delay_ms,
                top,
            };
            // Serialized once, here: an answer joins what is kept, however often it is asked.
            let json: Arc<str> = serde_json::to_string(&record)
                .expect("a batch record serializes")
                .into();
            let mut recent = recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() == RECENT_BATCHES {
                recent.pop_front();
            }
            recent.push_back(json);
        }
    }

    /// Everything in Prometheus's text format.
    pub fn prometheus_text(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }

    /// The recent batches, newest first, at most `limit` of them, as a JSON array (the
    /// reporter waits only for the copy of a list of pointers).
    pub fn recent_json(&self, limit: Option<usize>) -> String {
        let newest: Vec<Arc<str>> = self.recent.as_ref().map_or_else(Vec::new, |recent| {
            let recent = recent.lock().unwrap_or_else(|e| e.into_inner());
            let limit = limit.unwrap_or(RECENT_BATCHES);
            recent.iter().rev().take(limit).cloned().collect()
        });
        let mut json = String::with_capacity(2 + newest.iter().map(|r| r.len() + 1).sum::<usize>());
        json.push('[');
        for (i, record) in newest.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str(record);
        }
        json.push(']');
        json
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
            kafka_lag: None,
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
        let times = |limit| -> Vec<u64> {
            let json: serde_json::Value =
                serde_json::from_str(&metrics.recent_json(limit)).unwrap();
            let batches = json.as_array().unwrap();
            batches
                .iter()
                .map(|b| b["time"].as_u64().unwrap())
                .collect()
        };
        let all = times(None);
        assert_eq!(all.len(), RECENT_BATCHES);
        assert_eq!(all[0], RECENT_BATCHES as u64 + 4);
        assert_eq!(
            times(Some(2)),
            [RECENT_BATCHES as u64 + 4, RECENT_BATCHES as u64 + 3]
        );
        assert_eq!(Metrics::new(false).recent_json(None), "[]");
    }

    #[test]
    fn long_words_are_cut_in_the_history() {
        let metrics = Metrics::new(true);
        let long = "é".repeat(100);
        metrics.batch_reported(&stats(1, 1), || {
            vec![TopRow {
                word: long.clone(),
                count: 1,
            }]
        });
        let json: serde_json::Value = serde_json::from_str(&metrics.recent_json(None)).unwrap();
        let shown = json[0]["top"][0]["word"].as_str().unwrap();
        assert_eq!(shown, format!("{}…", "é".repeat(SHOWN_WORD_BYTES / 2)));
    }
}
