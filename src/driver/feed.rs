//! Feeding the dataflow: carrying out the batcher's steps, in order. A chunk is logged and
//! handed to a worker, a closed epoch goes to the reporter and the inputs advance, and the end
//! of the run closes the inputs.

use std::time::Instant;

use super::{Driver, Step};
use crate::batching::unix_micros;
use crate::reporter::EpochMeta;
use crate::vocab::Chunk;
use crate::vocab::Epoch;

impl Driver {
    /// Carries out the batcher's steps, in order.
    pub(super) fn apply_steps(&mut self) {
        let mut steps = std::mem::take(&mut self.steps);
        for step in steps.drain(..) {
            match step {
                Step::Send { chunk, lines } => self.send(chunk, lines),
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
                    // Dropping the inputs closes every epoch from the open one on.
                    self.feed.input = None;
                    if let Some(durability) = &mut self.durability {
                        durability.close_announcements();
                    }
                }
            }
        }
        self.steps = steps;
    }

    /// Logs `chunk` and hands it to the dataflow (an empty one only when it ends a line whose
    /// pieces went before: their counts wait for it).
    pub(super) fn send(&mut self, chunk: Chunk, lines: u64) {
        self.open.lines += lines;
        if let Some(durability) = &mut self.durability {
            durability.log_chunk(self.feed.epoch, lines, &chunk);
        }
        if chunk.text.is_empty() && !chunk.continues_line {
            return;
        }
        self.feed.in_flight.routed(&chunk);
        if let Some(input) = &mut self.feed.input {
            input.send(chunk);
        }
    }

    /// Moves the closed epoch's record to those waiting for their report.
    fn retire(&mut self, epoch: Epoch) {
        if self.feed.marks_epochs && self.feed.input.is_some() {
            // An empty chunk: the reporter then sees a tally for this epoch.
            let marker = Chunk::default();
            self.feed.in_flight.routed(&marker);
            if let Some(input) = &mut self.feed.input {
                input.send(marker);
            }
        }
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

    pub(super) fn advance_to(&mut self, epoch: Epoch) {
        self.feed.epoch = epoch;
        if let Some(input) = &mut self.feed.input {
            input.advance_to(epoch);
            input.flush();
        }
        if let Some(durability) = &mut self.durability {
            durability.advance_to(epoch);
        }
    }
}
