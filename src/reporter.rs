//! Worker 0's reports: each closed epoch, exactly once and in order, as soon as the probe says
//! every worker is done with it, whether or not it held data (the reporter walks epoch numbers,
//! not the data).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, Write};
use std::rc::Rc;
use std::time::Instant;

use timely::dataflow::ProbeHandle;

use crate::batching::{unix_micros, BatchClock};
use crate::checkpoint::{Snapshot, FORMAT, SNAPSHOT_EVERY};
use crate::config::{Config, Mode};
use crate::dataflow::{Epoch, EpochTally, Gathered, Word};
use crate::output::{printer, Printer, Report};
use crate::report::ResultTable;
use crate::stats::{BatchStats, Summary};

/// What the reading worker saw of an epoch, kept for its `--stats` line.
#[derive(Debug, Clone, Copy)]
pub struct EpochMeta {
    /// Lines that ended in the epoch.
    pub lines: u64,
    /// Words cut to the length limit.
    pub cut_words: u64,
    /// Whether any text or line went into the epoch.
    pub has_text: bool,
    /// When the epoch opened.
    pub opened_at: Instant,
    /// When it closed.
    pub closed_at: Instant,
    /// When it closed, in µs since the Unix epoch (for the delay).
    pub closed_micros: u64,
}

impl EpochMeta {
    /// An epoch opened at `now`, with nothing in it yet.
    pub fn opened(now: Instant) -> EpochMeta {
        EpochMeta {
            lines: 0,
            cut_words: 0,
            has_text: false,
            opened_at: now,
            closed_at: now,
            closed_micros: 0,
        }
    }
}

/// Turns gathered changes into reports.
pub struct Reporter {
    probe: ProbeHandle<Epoch>,
    gathered: Rc<RefCell<Gathered>>,
    clock: BatchClock,
    slide: u64,
    print_stats: bool,
    printer: Box<dyn Printer + Send>,
    table: ResultTable,
    /// Epochs this process closed, waiting for their report.
    closed: BTreeMap<Epoch, EpochMeta>,
    next: Epoch,
    /// Other processes feed too: the last epoch is known from the gathered tallies.
    others_feed: bool,
    summary: Summary,
    /// With `--checkpoint`: what a snapshot needs.
    history: Option<History>,
    /// After a restart: epochs up to this one were reported before; they are recomputed
    /// without printing.
    silent_through: Option<Epoch>,
    /// After a restart: batches while netwc was down, passed without printing.
    down: Option<std::ops::RangeInclusive<Epoch>>,
    /// Epochs processed since the last snapshot.
    since_snapshot: u64,
    /// A snapshot is due: the last epoch processed was printed and enough have passed.
    snapshot_due: bool,
}

/// The input counts of each batch still in the window, kept for snapshots. Batch `t`'s counts
/// follow from the changes at `t` and the counts of batch `t − W`, which `t` retracts:
/// `c(t) = changes(t) + c(t − W)`.
struct History {
    /// The retraction delay W; `None` (running totals) keeps no history: the table is the state.
    delay: Option<u64>,
    epochs: VecDeque<(Epoch, HashMap<Word, isize>)>,
}

impl History {
    fn record(&mut self, epoch: Epoch, changes: &[(Word, isize)]) {
        let Some(delay) = self.delay else { return };
        let mut counts = if self.epochs.len() as u64 >= delay {
            self.epochs
                .pop_front()
                .map(|(_, counts)| counts)
                .unwrap_or_default()
        } else {
            HashMap::new()
        };
        for (word, change) in changes {
            let count = counts.entry(word.clone()).or_insert(0);
            *count += change;
            if *count == 0 {
                counts.remove(word);
            }
        }
        self.epochs.push_back((epoch, counts));
    }
}

impl Reporter {
    /// A reporter for `config` that names batches by `clock`, starting at `first_epoch`.
    pub fn new(
        config: &Config,
        clock: BatchClock,
        probe: ProbeHandle<Epoch>,
        gathered: Rc<RefCell<Gathered>>,
        first_epoch: Epoch,
        others_feed: bool,
    ) -> Reporter {
        Reporter {
            probe,
            gathered,
            clock,
            slide: config.mode.slide(),
            print_stats: config.stats,
            printer: printer(config.format),
            table: match config.mode {
                // A batch's table is what the batch changed: nothing to gain from ranking.
                Mode::Batch => ResultTable::new(config.emit, config.top),
                Mode::Incremental | Mode::Window { .. } => {
                    ResultTable::new(config.emit, config.top).ranked()
                }
            },
            closed: BTreeMap::new(),
            next: first_epoch,
            others_feed,
            summary: Summary::default(),
            history: config.checkpoint.as_ref().map(|_| History {
                delay: config.mode.retraction_delay(),
                epochs: VecDeque::new(),
            }),
            silent_through: None,
            down: None,
            since_snapshot: 0,
            snapshot_due: false,
        }
    }

    /// After a restart: start at `first`, recompute epochs up to `silent_through` without
    /// printing them again, and pass the batches in `down` (while netwc was down) silently.
    pub fn resume(
        &mut self,
        first: Epoch,
        silent_through: Option<Epoch>,
        down: Option<std::ops::RangeInclusive<Epoch>>,
    ) {
        self.next = first;
        self.silent_through = silent_through;
        self.down = down;
    }

    /// Whether a snapshot should be taken now (see [`Reporter::snapshot`]).
    pub fn snapshot_due(&self) -> bool {
        self.snapshot_due
    }

    /// What the counts depend on after the last processed epoch (taken after a printed
    /// report, so that a restart's first report compares with the right one).
    pub fn snapshot(&mut self) -> Snapshot {
        self.snapshot_due = false;
        self.since_snapshot = 0;
        let reported = self.next.saturating_sub(1);
        let state = match &self.history {
            Some(History {
                delay: Some(_),
                epochs,
            }) => epochs
                .iter()
                .map(|(epoch, counts)| {
                    let counts = counts.iter().map(|(w, &c)| (w.clone(), c)).collect();
                    (*epoch, counts)
                })
                .collect(),
            _ => vec![(
                reported,
                self.table.counts().map(|(w, c)| (w.clone(), c)).collect(),
            )],
        };
        Snapshot {
            format: FORMAT,
            reported,
            state,
        }
    }

    /// Writes what comes before the first report.
    pub fn begin(&mut self, out: &mut dyn Write, appending: bool) -> io::Result<()> {
        self.printer.begin(out, appending)
    }

    /// Records that this process closed `epoch`.
    pub fn closed(&mut self, epoch: Epoch, meta: EpochMeta) {
        self.closed.insert(epoch, meta);
    }

    /// One past the last epoch that may be reported: the open one while the driver runs
    /// (`end` is `None`); at the end, its last, or the last any feeding process closed.
    fn bound(&self, open_epoch: Epoch, end: Option<Epoch>) -> Epoch {
        match end {
            None => open_epoch,
            Some(end) if self.others_feed => {
                let elsewhere = self.gathered.borrow().last_epoch().map_or(end, |e| e + 1);
                end.max(elsewhere)
            }
            Some(end) => end,
        }
    }

    /// Whether every epoch up to the last has been reported (after the driver's end). When
    /// other processes feed, the last is known once every input has closed.
    pub fn finished(&self, open_epoch: Epoch, end: Option<Epoch>) -> bool {
        end.is_some()
            && (!self.others_feed || self.probe.done())
            && self.next >= self.bound(open_epoch, end)
    }

    /// Reports every closed epoch that the probe has passed, in order; calls `processed` with
    /// each epoch that is newly reported (not those recomputed after a restart).
    pub fn report_ready(
        &mut self,
        out: &mut dyn Write,
        open_epoch: Epoch,
        end: Option<Epoch>,
        mut processed: impl FnMut(Epoch),
    ) -> io::Result<()> {
        loop {
            let epoch = self.next;
            let bound = self.bound(open_epoch, end);
            if epoch >= bound || self.probe.less_equal(&epoch) {
                return Ok(());
            }
            // Epochs that only other processes closed have no record here.
            let meta = self
                .closed
                .remove(&epoch)
                .unwrap_or_else(|| EpochMeta::opened(Instant::now()));
            let result = self.gathered.borrow_mut().take(epoch);
            if let Some(history) = &mut self.history {
                history.record(epoch, &result.changes);
            }
            self.table.apply(result.changes);
            let is_last = end.is_some() && epoch + 1 == bound;
            let due = is_last || (epoch + 1).is_multiple_of(self.slide);
            let silent = self.silent_through.is_some_and(|through| epoch <= through)
                || self.down.as_ref().is_some_and(|down| down.contains(&epoch));
            self.next = epoch + 1;
            if due {
                let rows = self.table.report();
                if !silent {
                    let time = self.clock.batch_name(epoch);
                    self.printer.report(out, &Report { time, rows: &rows })?;
                    out.flush()?;
                }
            }
            if silent {
                continue;
            }
            processed(epoch);
            self.summary.batches += 1;
            self.summary.lines += meta.lines;
            self.summary.tally += result.tally;
            self.summary.cut_words += meta.cut_words;
            if self.print_stats {
                let time = self.clock.batch_name(epoch);
                crate::log!("{}", self.batch_stats(epoch, time, &meta, result.tally));
            }
            if self.history.is_some() {
                self.since_snapshot += 1;
                self.snapshot_due |= due && self.since_snapshot >= SNAPSHOT_EVERY;
            }
        }
    }

    /// Adds what was reported (batches, their lines and words) to a run's summary.
    pub fn add_to(&self, summary: &mut Summary) {
        summary.batches += self.summary.batches;
        summary.lines += self.summary.lines;
        summary.others_read |= self.others_feed;
        summary.tally += self.summary.tally;
        summary.cut_words += self.summary.cut_words;
    }

    fn batch_stats(
        &self,
        epoch: Epoch,
        time: u64,
        meta: &EpochMeta,
        tally: EpochTally,
    ) -> BatchStats {
        let ended = self
            .clock
            .end_micros(epoch)
            .map_or(meta.closed_micros, |end| end.min(meta.closed_micros));
        let open_secs = meta.closed_at.duration_since(meta.opened_at).as_secs_f64();
        BatchStats {
            time,
            lines: meta.lines,
            tally,
            cut_words: meta.cut_words,
            distinct: self.table.distinct(),
            processing_ms: meta.closed_at.elapsed().as_secs_f64() * 1e3,
            delay_ms: unix_micros().saturating_sub(ended) as f64 / 1e3,
            lines_per_sec: if open_secs > 0.0 {
                meta.lines as f64 / open_secs
            } else {
                0.0
            },
        }
    }
}
