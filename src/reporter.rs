//! Worker 0's reports: each closed epoch, exactly once and in order, as soon as the probe says
//! every worker is done with it, whether or not it held data (the reporter walks epoch numbers,
//! not the data). It owns the output; what else listens to reports (the checkpoint) does so
//! through [`ReportHooks`].

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use timely::dataflow::ProbeHandle;

use crate::batching::{unix_micros, BatchClock};
use crate::config::{Config, Mode};
use crate::dataflow::Gathered;
use crate::metrics::{Metrics, TopRow, TOP_ROWS};
use crate::output::{printer, OutputMark, Printer, Report, Sink};
use crate::report::{ResultTable, Rows, TableError};
use crate::stats::{BatchStats, EpochTally, Summary};
use crate::vocab::{Epoch, Word, WordId};

/// What the reading worker saw of an epoch, kept for its `--stats` line.
#[derive(Debug, Clone, Copy)]
pub struct EpochMeta {
    /// Lines that ended in the epoch.
    pub lines: u64,
    /// Words cut to the length limit.
    pub cut_words: u64,
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
            opened_at: now,
            closed_at: now,
            closed_micros: 0,
        }
    }
}

/// Where a reporter's results come from.
pub struct Results {
    /// Says when every worker is done with an epoch.
    pub probe: ProbeHandle<Epoch>,
    /// What worker 0 gathered of each epoch.
    pub gathered: Rc<RefCell<Gathered>>,
    /// Other processes feed too: the last epoch is known from the gathered tallies.
    pub others_feed: bool,
}

/// What a reporter is made of, besides the configuration.
pub struct ReporterParts {
    /// Where its results come from.
    pub results: Results,
    /// The output: stdout or the `-o` file.
    pub out: Sink,
    /// What the job has done, for whoever watches.
    pub metrics: Arc<Metrics>,
    /// Names batches.
    pub clock: BatchClock,
    /// The first epoch to report.
    pub first_epoch: Epoch,
}

/// Where reports go.
struct Output {
    printer: Box<dyn Printer + Send>,
    out: Sink,
    metrics: Arc<Metrics>,
    /// `--stats`: a line on stderr per batch.
    print_stats: bool,
    /// Reports written but held back by the sink (a topic), to be told to the hooks once it
    /// has delivered them: (epoch, due).
    held: Vec<(Epoch, bool)>,
    /// Those of them in the delivery under way.
    delivering: Vec<(Epoch, bool)>,
}

/// Epochs this process closed, waiting for their report.
#[derive(Default)]
struct Waiting {
    closed: BTreeMap<Epoch, EpochMeta>,
    /// How many of `closed` carried lines.
    backlog: usize,
}

/// Where the reports are.
struct Position {
    /// The next epoch to report.
    next: Epoch,
    /// The latest epoch reported without printing its window (the slide had not elapsed): if
    /// the input turns out to have ended with it, its window is printed then (SPEC 3).
    owed: Option<Epoch>,
    /// After a restart: epochs up to this one were reported before; they are recomputed
    /// without printing.
    silent_through: Option<Epoch>,
    /// Batches that passed while netwc was down (after a restart) or that the clock jumped
    /// over, in order: each range is taken in one step without printing (window mode
    /// retracts what left the window at once).
    skipped: std::collections::VecDeque<std::ops::Range<Epoch>>,
}

/// Turns gathered changes into reports.
pub struct Reporter {
    results: Results,
    output: Output,
    clock: BatchClock,
    slide: u64,
    table: ResultTable,
    waiting: Waiting,
    position: Position,
    summary: Summary,
}

/// Why reports stopped.
#[derive(Debug)]
pub enum ReportFailure {
    /// Writing the output failed (a reader that went away is a quiet end).
    Output(io::Error),
    /// The table refused a batch.
    Table(TableError),
}

impl From<io::Error> for ReportFailure {
    fn from(error: io::Error) -> ReportFailure {
        ReportFailure::Output(error)
    }
}

/// What the reporter tells about each batch it processes (the checkpoint listens; a run
/// without one passes `()`).
pub trait ReportHooks {
    /// Whether [`ReportHooks::batch`] needs each batch's changes by word.
    fn wants_changes(&self) -> bool;
    /// The changes of `epoch` by word (empty unless wanted), reported or recomputed silently.
    fn batch(&mut self, epoch: Epoch, changes: Vec<(Word, isize)>);
    /// `epoch` was reported (its report, if `due`, printed and flushed; the output then
    /// reached `mark`).
    fn printed(&mut self, epoch: Epoch, due: bool, mark: OutputMark);
    /// The batches up to `last` since the last one told were skipped (empty while netwc was
    /// down); `changes` are their changes together (what left a window).
    fn skipped(&mut self, last: Epoch, changes: Vec<(Word, isize)>);
}

impl ReportHooks for () {
    fn wants_changes(&self) -> bool {
        false
    }
    fn batch(&mut self, _: Epoch, _: Vec<(Word, isize)>) {}
    fn printed(&mut self, _: Epoch, _: bool, _: OutputMark) {}
    fn skipped(&mut self, _: Epoch, _: Vec<(Word, isize)>) {}
}

impl Reporter {
    /// A reporter for `config`, made of `parts`.
    pub fn new(config: &Config, parts: ReporterParts) -> Reporter {
        Reporter {
            results: parts.results,
            output: Output {
                printer: printer(config.format),
                out: parts.out,
                held: Vec::new(),
                delivering: Vec::new(),
                metrics: parts.metrics,
                print_stats: config.stats,
            },
            clock: parts.clock,
            slide: config.mode.slide(),
            table: match config.mode {
                // A batch's table is what the batch changed: nothing to gain from ranking.
                Mode::Batch => ResultTable::new(config.emit, config.top),
                Mode::Incremental | Mode::Window { .. } => {
                    ResultTable::new(config.emit, config.top).ranked()
                }
            },
            waiting: Waiting::default(),
            position: Position {
                next: parts.first_epoch,
                owed: None,
                silent_through: None,
                skipped: Default::default(),
            },
            summary: Summary::default(),
        }
    }

    /// After a restart: start at `first`, and recompute epochs up to `silent_through` without
    /// printing them again.
    pub fn resume(&mut self, first: Epoch, silent_through: Option<Epoch>) {
        self.position.next = first;
        self.position.silent_through = silent_through;
    }

    /// The batches `epochs` passed while netwc was down, without input: they are taken in one
    /// step, silently, once the probe has passed them all.
    pub fn skip(&mut self, epochs: std::ops::Range<Epoch>) {
        self.position.skipped.push_back(epochs);
    }

    /// The last epoch processed (reported, or recomputed after a restart).
    pub fn last_processed(&self) -> Epoch {
        self.position.next.saturating_sub(1)
    }

    /// The name of a word whose counts a checkpoint restores.
    pub fn learn(&mut self, id: WordId, name: Word) {
        self.table.learn(id, name);
    }

    /// Writes what comes before the first report (nothing when the output is a file that
    /// already holds reports: TSV then writes no second header).
    pub fn begin(&mut self) -> io::Result<()> {
        let appending = self.output.out.holds_reports();
        self.output.printer.begin(&mut self.output.out, appending)
    }

    /// Records that this process closed `epoch`.
    pub fn closed(&mut self, epoch: Epoch, meta: EpochMeta) {
        self.waiting.backlog += usize::from(meta.lines > 0);
        self.waiting.closed.insert(epoch, meta);
    }

    /// Closed epochs that carried lines and wait for their report: what the workers still have
    /// to count. The driver reads no more input while it is high (see `driver::MAX_BACKLOG`).
    pub fn backlog(&self) -> usize {
        self.waiting.backlog
    }

    /// One past the last epoch that may be reported: the open one while the driver runs
    /// (`end` is `None`); at the end, its last, or the last any feeding process closed.
    fn bound(&self, open_epoch: Epoch, end: Option<Epoch>) -> Epoch {
        match end {
            None => open_epoch,
            Some(end) if self.results.others_feed => {
                let elsewhere = self
                    .results
                    .gathered
                    .borrow()
                    .last_epoch()
                    .map_or(end, |e| e + 1);
                end.max(elsewhere)
            }
            Some(end) => end,
        }
    }

    /// Whether every epoch up to the last has been reported (after the driver's end). When
    /// other processes feed, the last is known once every input has closed.
    pub fn finished(&self, open_epoch: Epoch, end: Option<Epoch>) -> bool {
        end.is_some()
            && (!self.results.others_feed || self.results.probe.done())
            && self.position.next >= self.bound(open_epoch, end)
            && !self.output.out.delivering()
            && self.output.held.is_empty()
    }

    /// Reports every closed epoch that the probe has passed, in order, telling `hooks` of each
    /// once it is out (a sink that holds reports back delivers them together at the end).
    pub fn report_ready(
        &mut self,
        open_epoch: Epoch,
        end: Option<Epoch>,
        hooks: &mut dyn ReportHooks,
    ) -> Result<(), ReportFailure> {
        if self.output.out.holds_back() {
            self.deliver_held(hooks)?;
            if self.output.out.delivering() {
                // Later reports wait for it (and then go together): a snapshot holds what the
                // last report noted showed, so none is made while one is out unnoted.
                return Ok(());
            }
        }
        let reported = self.report_each(open_epoch, end, hooks);
        let delivered = self.deliver_held(hooks);
        reported.and(delivered)
    }

    /// With a sink that holds reports back (a topic, which a thread of its own delivers, so
    /// that this worker never waits on the broker): tells `hooks` of the reports of a
    /// delivery that ended, and hands over those held since, if any. Reports are noted only
    /// once delivered, in order.
    fn deliver_held(&mut self, hooks: &mut dyn ReportHooks) -> Result<(), ReportFailure> {
        if !self.output.out.holds_back() {
            return Ok(());
        }
        if self.output.out.delivered()? {
            let delivered = std::mem::take(&mut self.output.delivering);
            self.note(delivered, hooks);
        }
        if self.output.out.delivering() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.output.held);
        if self.output.out.deliver_held()? {
            self.output.delivering = held;
        } else {
            // Reports without a record to send: out as soon as those before them are.
            self.note(held, hooks);
        }
        Ok(())
    }

    /// Tells `hooks` that `reports` are out. Only the last carries how far the output
    /// reached: were the process to stop between two notes, the others' would claim records
    /// of reports not yet noted.
    fn note(&self, reports: Vec<(Epoch, bool)>, hooks: &mut dyn ReportHooks) {
        let last = reports.len().saturating_sub(1);
        for (i, (epoch, due)) in reports.into_iter().enumerate() {
            let mark = match i == last {
                true => self.output.out.mark(),
                false => OutputMark::None,
            };
            hooks.printed(epoch, due, mark);
        }
    }

    fn report_each(
        &mut self,
        open_epoch: Epoch,
        end: Option<Epoch>,
        hooks: &mut dyn ReportHooks,
    ) -> Result<(), ReportFailure> {
        loop {
            let epoch = self.position.next;
            let bound = self.bound(open_epoch, end);
            if epoch >= bound || self.results.probe.less_equal(&epoch) {
                let all_in = !self.results.others_feed || self.results.probe.done();
                if end.is_some() && epoch >= bound && all_in {
                    self.print_owed(bound)?;
                }
                return Ok(());
            }
            let skipped = self.position.skipped.front().filter(|s| s.start == epoch);
            if let Some(last) = skipped.map(|s| s.end - 1) {
                if self.results.probe.less_equal(&last) {
                    return Ok(());
                }
                self.take_skipped(last, hooks)?;
                self.position.skipped.pop_front();
                continue;
            }
            // Epochs that only other processes closed have no record here.
            let meta = match self.waiting.closed.remove(&epoch) {
                Some(meta) => {
                    self.waiting.backlog -= usize::from(meta.lines > 0);
                    meta
                }
                None => EpochMeta::opened(Instant::now()),
            };
            let (by_word, tally) = self.take_into_table(epoch, hooks.wants_changes())?;
            hooks.batch(epoch, by_word);
            let is_last = end.is_some() && epoch + 1 == bound;
            let due = is_last || (epoch + 1).is_multiple_of(self.slide);
            let silent = self
                .position
                .silent_through
                .is_some_and(|through| epoch <= through);
            self.position.next = epoch + 1;
            if due {
                self.table.settle_report();
            }
            if silent {
                continue;
            }
            self.position.owed = (!due).then_some(epoch);
            let time = self.clock.batch_name(epoch);
            let rows = due.then(|| self.table.rows());
            if let Some(rows) = &rows {
                print(&mut self.output, time, rows)?;
            }
            if self.output.out.holds_back() {
                self.output.held.push((epoch, due));
            } else {
                hooks.printed(epoch, due, self.output.out.mark());
            }
            self.summary.batches += 1;
            self.summary.lines += meta.lines;
            self.summary.tally += tally;
            self.summary.cut_words += meta.cut_words;
            let stats = self.batch_stats(epoch, time, &meta, tally);
            if self.output.print_stats {
                log!("{stats}");
            }
            self.output.metrics.batch_reported(&stats, || {
                let rows = rows.map(|r| r.rows).unwrap_or_default();
                let top = rows.into_iter().take(TOP_ROWS);
                top.map(|(word, count)| TopRow {
                    word: word.to_string(),
                    count: count as i64,
                })
                .collect()
            });
        }
    }

    /// Takes every result up to `last` (the end of a skip) into the table, silently.
    fn take_skipped(
        &mut self,
        last: Epoch,
        hooks: &mut dyn ReportHooks,
    ) -> Result<(), ReportFailure> {
        let (by_word, _) = self.take_into_table(last, hooks.wants_changes())?;
        hooks.skipped(last, by_word);
        self.position.next = last + 1;
        Ok(())
    }

    /// Takes the results of every epoch up to `epoch` into the table; returns the changes by
    /// word (if `by_word`) and what the epochs held.
    fn take_into_table(
        &mut self,
        epoch: Epoch,
        by_word: bool,
    ) -> Result<(Vec<(Word, isize)>, EpochTally), ReportFailure> {
        let result = self.results.gathered.borrow_mut().take(epoch);
        let mut changes = Vec::new();
        let mut note = |word: &Word, change: isize| changes.push((word.clone(), change));
        let each = by_word.then_some(&mut note as &mut dyn FnMut(&Word, isize));
        self.table
            .apply(result.names, result.changes, each)
            .map_err(ReportFailure::Table)?;
        Ok((changes, result.tally))
    }

    /// The input ended after the last epoch before `bound` was reported, and that report did
    /// not print its window because the slide had not elapsed: prints it now, as the end of
    /// input does when it is known in time.
    fn print_owed(&mut self, bound: Epoch) -> Result<(), ReportFailure> {
        let Some(epoch) = self.position.owed.take().filter(|&owed| owed + 1 == bound) else {
            return Ok(());
        };
        self.table.settle_report();
        print(
            &mut self.output,
            self.clock.batch_name(epoch),
            &self.table.rows(),
        )
    }

    /// Adds what was reported (batches, their lines and words) to a run's summary.
    pub fn add_to(&self, summary: &mut Summary) {
        summary.batches += self.summary.batches;
        summary.lines += self.summary.lines;
        summary.others_read |= self.results.others_feed;
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
            kafka_lag: self.output.metrics.kafka_lag(),
        }
    }
}

/// Prints the report of the batch named `time` to `output`, and flushes it out at once.
fn print(output: &mut Output, time: u64, rows: &Rows<'_>) -> Result<(), ReportFailure> {
    output
        .out
        .report(output.printer.as_mut(), &Report { time, rows })?;
    Ok(())
}
