//! `--stats`: one line per batch on stderr, and the summary at exit.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What is known of one batch when it is reported.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchStats {
    /// The batch's name (its end time in ms, or k+1 with --batch-lines).
    pub time: u64,
    /// Lines that ended in the batch.
    pub lines: u64,
    /// Words counted and dropped.
    pub tally: EpochTally,
    /// Words cut to the length limit.
    pub cut_words: u64,
    /// Distinct words in the report's table (this batch, the totals or the window).
    pub distinct: usize,
    /// From the batch's close to its report.
    pub processing_ms: f64,
    /// From the batch's end (or its early close at end of input) to its report.
    pub delay_ms: f64,
    /// Lines per second while the batch was open.
    pub lines_per_sec: f64,
    /// `--kafka`: records behind the ends of the partitions this process reads, as of their
    /// last fetches when the batch was reported.
    pub kafka_lag: Option<i64>,
}

impl fmt::Display for BatchStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "batch time={} lines={} words={} distinct={} stopped={} cut={} processing_ms={:.3} delay_ms={:.3} rate={:.0} lines/s",
            self.time,
            self.lines,
            self.tally.words,
            self.distinct,
            self.tally.stopped,
            self.cut_words,
            self.processing_ms,
            self.delay_ms,
            self.lines_per_sec
        )?;
        match self.kafka_lag {
            Some(lag) => write!(f, " kafka_lag={lag} records"),
            None => Ok(()),
        }
    }
}

/// What a whole run did, printed on stderr at exit. Every number covers the batches this run
/// reported (after a restart, not those the checkpoint had reported before).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Batches reported.
    pub batches: u64,
    /// Lines of those batches that this process read.
    pub lines: u64,
    /// Other processes read too (`--every-process-reads`): their lines are not in `lines`,
    /// their words are in `tally`.
    pub others_read: bool,
    /// Words counted, and dropped as stop words.
    pub tally: EpochTally,
    /// Words cut to the length limit.
    pub cut_words: u64,
    /// Whether the run ended because the reader of the output went away.
    pub output_closed: bool,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lines, words) = if self.others_read {
            (" read by this process", " by all processes")
        } else {
            ("", "")
        };
        write!(
            f,
            "{} batches reported by this run: {} lines{lines}, {} words counted{words}, {} stop words dropped, {} words cut",
            self.batches, self.lines, self.tally.words, self.tally.stopped, self.cut_words
        )
    }
}

/// What the workers saw of one batch besides its words, summed over workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochTally {
    /// Words counted.
    pub words: u64,
    /// Words dropped as stop words.
    pub stopped: u64,
}

impl std::ops::AddAssign for EpochTally {
    fn add_assign(&mut self, other: EpochTally) {
        self.words += other.words;
        self.stopped += other.stopped;
    }
}
