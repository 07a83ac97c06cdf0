//! Cutting the input into epochs: framed chunks and the clock in, "send this chunk", "close
//! this epoch" and "finish" out. A pure state machine, without timely, so that every rule of
//! batching is unit-tested here: time batches close when the clock passes their end, line
//! batches when their N-th line arrives (cutting a chunk between lines), `--batches` ends the
//! run, and a final line batch without lines is not a batch.

use crate::batching::BatchClock;
use crate::config::Batching;
use crate::lines::end_of_lines;
use crate::source::Framed;
use crate::vocab::{Chunk, LineState, SourceOffset};
use crate::vocab::{Epoch, LoggedChunk};

/// What the driver does next, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Hand `chunk`, in which `lines` lines end, to the dataflow in `epoch` (the open one).
    Send {
        /// The epoch it goes into.
        epoch: Epoch,
        /// The text.
        chunk: Chunk,
        /// Lines that end in it.
        lines: u64,
    },
    /// Close `epoch`; the next one opens.
    Close {
        /// The epoch that closes.
        epoch: Epoch,
    },
    /// The epochs `from..to` passed while netwc was down, without input: they close at once,
    /// and `to` opens.
    Skip {
        /// The first epoch passed.
        from: Epoch,
        /// The epoch that opens.
        to: Epoch,
    },
    /// The run ends at `epoch`: it is closed and reported as the last if `close`, or (an empty
    /// line batch) not a batch at all, the one before it being the last.
    Finish {
        /// The open epoch.
        epoch: Epoch,
        /// Whether it is a batch to close and report.
        close: bool,
    },
}

/// Batches that the clock may pass at once before they are jumped in one step, not closed
/// one by one (reported empty, each costs some microseconds).
const JUMP_ABOVE: u64 = 10_000;

/// The open epoch and what decides when it closes.
#[derive(Debug)]
pub struct Batcher {
    clock: BatchClock,
    /// With line batches: lines per batch.
    per_batch: Option<u64>,
    /// `--batches`: the run ends with this many batches closed.
    stop_after: Option<u64>,
    open: Epoch,
    /// With line batches: lines the open batch still takes.
    lines_left: u64,
    /// Whether any text or line went into the open epoch.
    has_text: bool,
    closed: u64,
    finished: bool,
    /// Set when the run ends: one past the last of its epochs to report.
    end: Option<Epoch>,
    /// Stopping before the end of the input: the clock closes no more batches.
    stopping: bool,
    /// `--batches` is reached with time batches: the run stops as at a deadline.
    batches_done: bool,
}

impl Batcher {
    /// A batcher that starts in `first` and names epochs by `clock`.
    pub fn new(
        clock: BatchClock,
        batching: Batching,
        stop_after: Option<u64>,
        first: Epoch,
    ) -> Self {
        let per_batch = match batching {
            Batching::Lines { per_batch } => Some(per_batch),
            Batching::Time { .. } => None,
        };
        Batcher {
            clock,
            per_batch,
            stop_after,
            open: first,
            lines_left: per_batch.unwrap_or(0),
            has_text: false,
            closed: 0,
            finished: false,
            end: None,
            stopping: false,
            batches_done: false,
        }
    }

    /// Whether the run has ended.
    #[cfg(test)]
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// One past the last epoch of the run to report, once it has ended.
    pub fn end(&self) -> Option<Epoch> {
        self.end
    }

    /// The run stops before the end of its input: the clock closes no more batches.
    pub fn stop(&mut self) {
        self.stopping = true;
    }

    /// Whether `--batches` was reached with time batches (see [`Batcher::tick`]).
    pub fn batches_done(&self) -> bool {
        self.batches_done
    }

    /// The open epoch: the one steps up to now leave open (the driver's only copy of it).
    pub fn open(&self) -> Epoch {
        self.open
    }

    /// The clock that names epochs.
    pub fn clock(&self) -> BatchClock {
        self.clock
    }

    /// With time batches: closes the epochs that the clock (`now_micros`) has passed. Returns
    /// true when the next close would end the run (`--batches`): the driver then stops as at a
    /// deadline, taking in what was read, and calls [`Batcher::finish`].
    pub fn tick(&mut self, now_micros: u64, steps: &mut Vec<Step>) -> bool {
        if !self.clock.is_timed() || self.finished || self.stopping {
            return false;
        }
        let now = self.clock.epoch_at(now_micros);
        let passed = now.saturating_sub(self.open);
        if passed > JUMP_ABOVE && self.stop_after.is_none() {
            // Walking them one by one would take seconds to minutes (a wall clock stepped an
            // hour forward at 1 ms batches): they are passed in one step, as a restart does.
            log!(
                "warning: the clock moved {passed} batches ahead at once (the wall clock stepped forward, or netwc did not run): the open batch is reported, the empty batches between are passed in one step"
            );
            self.jump_to(now, steps);
            return false;
        }
        while self.open < now {
            if self.stop_after == Some(self.closed + 1) {
                self.batches_done = true;
                return true;
            }
            self.close(steps);
        }
        false
    }

    /// A chunk from the source: sent into the open epoch; with line batches, cut where
    /// batches end, each full batch closed (and the run ended after `--batches`).
    pub fn ingest(&mut self, framed: Framed, steps: &mut Vec<Step>) {
        if self.finished {
            return;
        }
        let Some(per_batch) = self.per_batch else {
            self.send(framed.chunk, framed.lines, steps);
            return;
        };
        let mut lines = framed.lines;
        if lines < self.lines_left {
            self.lines_left -= lines;
            self.send(framed.chunk, lines, steps);
            return;
        }
        let Chunk {
            text,
            line,
            reader,
            resume,
        } = framed.chunk;
        let (continues_line, ends_mid_line) = (line.continues_line(), line.ends_mid_line());
        let mut start = 0;
        while lines >= self.lines_left && !self.finished {
            let take = self.lines_left;
            let end = end_of_lines(&text[start..], take).map_or(text.len(), |len| start + len);
            let piece = Chunk {
                text: text[start..end].to_vec(),
                line: LineState::of(
                    continues_line && start == 0,
                    ends_mid_line && end == text.len(),
                ),
                reader,
                // The source resumes after the last piece only, which holds all the records
                // that end there only if it is the whole chunk.
                resume: resume.filter(|_| end == text.len()).map(|at| SourceOffset {
                    from: at.from.filter(|_| start == 0),
                    ..at
                }),
            };
            self.send(piece, take, steps);
            self.lines_left = per_batch;
            self.close_line_batch(steps);
            lines -= take;
            start = end;
        }
        if start < text.len() && !self.finished {
            self.lines_left -= lines;
            let rest = Chunk {
                text: text[start..].to_vec(),
                line: LineState::of(false, ends_mid_line),
                reader,
                // It holds only the last of the records that end at `next`.
                resume: resume.map(|at| SourceOffset { from: None, ..at }),
            };
            self.send(rest, lines, steps);
        }
    }

    /// A chunk from a checkpoint's log, back into the epoch it was logged in (closing the
    /// epochs before it), as it was cut then.
    pub fn replay(&mut self, logged: LoggedChunk, steps: &mut Vec<Step>) {
        let LoggedChunk {
            epoch,
            lines,
            chunk,
        } = logged;
        while self.open < epoch {
            self.close(steps);
        }
        self.lines_left = self.lines_left.saturating_sub(lines);
        self.send(chunk, lines, steps);
    }

    /// Closes epochs until `epoch` is the open one (after a replay: to reach the first batch
    /// that will be printed).
    pub fn advance_to(&mut self, epoch: Epoch, steps: &mut Vec<Step>) {
        while self.open < epoch && !self.finished {
            self.close(steps);
        }
    }

    /// After a restart: the batches between the open one and `epoch` passed while netwc was
    /// down. The open one closes (it may hold replayed lines), the rest are skipped in one
    /// step, whatever their number, and `epoch` opens.
    pub fn jump_to(&mut self, epoch: Epoch, steps: &mut Vec<Step>) {
        if self.finished || self.open >= epoch {
            return;
        }
        self.close(steps);
        if self.open < epoch {
            steps.push(Step::Skip {
                from: self.open,
                to: epoch,
            });
            self.open = epoch;
        }
    }

    /// After a replay: a line batch that the log filled is closed.
    pub fn replayed(&mut self, steps: &mut Vec<Step>) {
        if let Some(per_batch) = self.per_batch {
            if self.lines_left == 0 {
                self.lines_left = per_batch;
                self.close_line_batch(steps);
            }
        }
    }

    /// Ends the run: the open epoch is the last batch, unless it is a line batch without lines.
    pub fn finish(&mut self, steps: &mut Vec<Step>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let close = self.per_batch.is_none() || self.has_text;
        self.end = Some(self.open + u64::from(close));
        if close {
            self.closed += 1;
        }
        steps.push(Step::Finish {
            epoch: self.open,
            close,
        });
    }

    fn send(&mut self, chunk: Chunk, lines: u64, steps: &mut Vec<Step>) {
        self.has_text |= lines > 0 || !chunk.text.is_empty();
        steps.push(Step::Send {
            epoch: self.open,
            chunk,
            lines,
        });
    }

    fn close_line_batch(&mut self, steps: &mut Vec<Step>) {
        if self.stop_after == Some(self.closed + 1) {
            self.finish(steps);
        } else {
            self.close(steps);
        }
    }

    fn close(&mut self, steps: &mut Vec<Step>) {
        steps.push(Step::Close { epoch: self.open });
        self.open += 1;
        self.closed += 1;
        self.has_text = false;
        self.lines_left = self.per_batch.unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(text: &str) -> Framed {
        Framed {
            chunk: Chunk {
                text: text.as_bytes().to_vec(),
                ..Chunk::default()
            },
            lines: crate::lines::count_line_ends(text.as_bytes()),
            cut_words: 0,
        }
    }

    fn send(epoch: Epoch, text: &str, lines: u64) -> Step {
        Step::Send {
            epoch,
            chunk: framed(text).chunk,
            lines,
        }
    }

    fn lines(per_batch: u64, stop_after: Option<u64>) -> Batcher {
        let batching = Batching::Lines { per_batch };
        Batcher::new(BatchClock::new(batching), batching, stop_after, 0)
    }

    #[test]
    fn a_jump_closes_the_open_batch_and_skips_the_rest_at_once() {
        let batching = Batching::Time { interval_ms: 1 };
        let mut batcher = Batcher::new(BatchClock::new(batching), batching, None, 10);
        let mut steps = Vec::new();
        batcher.jump_to(3_600_010, &mut steps);
        assert_eq!(
            steps,
            [
                Step::Close { epoch: 10 },
                Step::Skip {
                    from: 11,
                    to: 3_600_010
                }
            ]
        );
        steps.clear();
        batcher.jump_to(3_600_011, &mut steps);
        assert_eq!(steps, [Step::Close { epoch: 3_600_010 }]);
        steps.clear();
        batcher.jump_to(3_600_011, &mut steps);
        assert!(steps.is_empty());
    }

    #[test]
    fn a_clock_far_ahead_is_jumped_but_a_few_batches_are_closed_one_by_one() {
        let batching = Batching::Time { interval_ms: 1 };
        let mut batcher = Batcher::new(BatchClock::new(batching), batching, None, 10);
        let mut steps = Vec::new();
        // Three batches passed (a slow step): each is closed, to be reported.
        batcher.tick(13_000, &mut steps);
        assert_eq!(
            steps,
            (10..13)
                .map(|epoch| Step::Close { epoch })
                .collect::<Vec<_>>()
        );
        steps.clear();
        // An hour at once (the wall clock stepped forward): one step.
        batcher.tick(3_600_013_000, &mut steps);
        assert_eq!(
            steps,
            [
                Step::Close { epoch: 13 },
                Step::Skip {
                    from: 14,
                    to: 3_600_013
                }
            ]
        );
    }

    #[test]
    fn line_batches_cut_chunks_between_lines() {
        let mut batcher = lines(2, None);
        let mut steps = Vec::new();
        batcher.ingest(framed("a\nb\nc\rd\ne"), &mut steps);
        batcher.finish(&mut steps);
        assert_eq!(
            steps,
            [
                send(0, "a\nb\n", 2),
                Step::Close { epoch: 0 },
                send(1, "c\rd\n", 2),
                Step::Close { epoch: 1 },
                send(2, "e", 0),
                Step::Finish {
                    epoch: 2,
                    close: true
                },
            ]
        );
    }

    #[test]
    fn a_final_line_batch_without_lines_is_no_batch() {
        let mut batcher = lines(1, None);
        let mut steps = Vec::new();
        batcher.ingest(framed("a\n"), &mut steps);
        batcher.finish(&mut steps);
        assert_eq!(
            steps.last(),
            Some(&Step::Finish {
                epoch: 1,
                close: false
            })
        );
    }

    #[test]
    fn batches_ends_the_run_inside_a_chunk() {
        let mut batcher = lines(1, Some(2));
        let mut steps = Vec::new();
        batcher.ingest(framed("a\nb\nc\n"), &mut steps);
        assert!(batcher.finished());
        assert_eq!(
            steps,
            [
                send(0, "a\n", 1),
                Step::Close { epoch: 0 },
                send(1, "b\n", 1),
                Step::Finish {
                    epoch: 1,
                    close: true
                },
            ]
        );
    }

    #[test]
    fn time_batches_close_by_the_clock_and_stop_before_the_last() {
        let batching = Batching::Time { interval_ms: 10 };
        let mut batcher = Batcher::new(BatchClock::new(batching), batching, Some(3), 100);
        let mut steps = Vec::new();
        assert!(!batcher.tick(100 * 10_000 + 5, &mut steps));
        assert!(steps.is_empty());
        batcher.ingest(framed("x\n"), &mut steps);
        // Two intervals later: two batches close; the third would be the last.
        assert!(!batcher.tick(102 * 10_000, &mut steps));
        assert!(batcher.tick(110 * 10_000, &mut steps));
        batcher.finish(&mut steps);
        assert_eq!(
            steps,
            [
                send(100, "x\n", 1),
                Step::Close { epoch: 100 },
                Step::Close { epoch: 101 },
                Step::Finish {
                    epoch: 102,
                    close: true
                },
            ]
        );
    }

    #[test]
    fn replay_goes_back_into_logged_epochs_and_fills_line_batches() {
        let mut batcher = lines(2, None);
        let mut steps = Vec::new();
        batcher.replay(
            LoggedChunk {
                epoch: 0,
                lines: 2,
                chunk: framed("a\nb\n").chunk,
            },
            &mut steps,
        );
        batcher.replayed(&mut steps);
        assert_eq!(steps, [send(0, "a\nb\n", 2), Step::Close { epoch: 0 }]);
    }
}
