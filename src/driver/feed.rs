//! Feeding the dataflow: carrying out the batcher's steps, in order. A chunk is logged and
//! handed to a worker, a closed epoch goes to the reporter and the inputs advance, and the end
//! of the run closes the inputs.

use std::time::Instant;

use super::{Driver, Feed, Step};
use crate::batching::unix_micros;
use crate::dataflow::InputEnd;
use crate::reporter::EpochMeta;
use crate::vocab::{Chunk, Epoch};

impl Feed {
    /// Hands `chunk` to the worker the routing picks (an empty one only when it ends a line
    /// whose pieces went before: their counts wait for it).
    fn hand_over(&mut self, chunk: Chunk) {
        if chunk.text.is_empty() && !chunk.line.continues_line() {
            return;
        }
        self.in_flight.routed(&chunk);
        if let Some(input) = &mut self.input {
            input.send(chunk);
        }
    }

    /// Several processes feed: a closed epoch is marked in the dataflow (an empty chunk), so
    /// that the reporter sees a tally for it from this process.
    fn mark_closed(&mut self) {
        if self.marks_epochs && self.input.is_some() {
            let marker = Chunk::default();
            self.in_flight.routed(&marker);
            if let Some(input) = &mut self.input {
                input.send(marker);
            }
        }
    }

    /// Moves the inputs to `epoch`, which opens.
    fn advance_to(&mut self, epoch: Epoch) {
        if let Some(input) = &mut self.input {
            input.advance_to(epoch);
            input.flush();
        }
    }
}

impl Driver {
    /// Carries out the batcher's steps, in order.
    pub(super) fn apply_steps(&mut self) {
        let mut steps = std::mem::take(&mut self.steps);
        for step in steps.drain(..) {
            match step {
                Step::Send {
                    epoch,
                    chunk,
                    lines,
                } => self.send(epoch, chunk, lines),
                Step::Close { epoch } => {
                    self.retire(epoch);
                    self.advance_to(epoch + 1);
                }
                Step::Skip { from, to } => {
                    if let Some(reporter) = &mut self.reporter {
                        reporter.skip(from..to);
                    }
                    self.advance_to(to);
                }
                Step::Finish { epoch, close } => {
                    if close {
                        self.retire(epoch);
                    }
                    match self.feed.input_end {
                        // Every input must close before the reporter knows the last epoch.
                        InputEnd::Whenever => self.close_inputs(),
                        // Held at the end until every batch is reported (see
                        // [`Driver::close_inputs`]).
                        InputEnd::AfterReports => self.feed.advance_to(epoch + u64::from(close)),
                    }
                }
            }
        }
        self.steps = steps;
    }

    /// Closes the inputs: every epoch from the one they are at on is complete. A lone feeder
    /// closes them once every batch is reported, so the workers know that nothing after the
    /// end will be reported: what the mode would retract then is never computed (a run that
    /// ends with one batch of millions of words retracted them all at exit).
    pub(super) fn close_inputs(&mut self) {
        self.feed.input = None;
        if let Some(durability) = &mut self.durability {
            durability.close_announcements();
        }
    }

    /// Logs `chunk`, which goes into `epoch`, and hands it to the dataflow.
    pub(super) fn send(&mut self, epoch: Epoch, chunk: Chunk, lines: u64) {
        self.open.lines += lines;
        if let Some(durability) = &mut self.durability {
            durability.log_chunk(epoch, lines, &chunk);
        }
        self.feed.hand_over(chunk);
    }

    /// Moves the closed epoch's record to those waiting for their report.
    fn retire(&mut self, epoch: Epoch) {
        self.feed.mark_closed();
        if let Some(durability) = &mut self.durability {
            durability.epoch_closed();
        }
        let now = Instant::now();
        self.open.closed_at = now;
        self.open.closed_micros = unix_micros();
        if let Some(reporter) = &mut self.reporter {
            reporter.closed(epoch, self.open);
        }
        self.open = EpochMeta::opened(now);
    }

    /// `epoch` opens: the inputs and the log move to it.
    pub(super) fn advance_to(&mut self, epoch: Epoch) {
        self.feed.advance_to(epoch);
        if let Some(durability) = &mut self.durability {
            durability.advance_to(epoch);
        }
    }
}
