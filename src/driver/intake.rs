//! Taking what the source read: chunks from the channel, at most a bounded number in flight,
//! and at a stop, every reader's partial line too.

use std::sync::mpsc::TryRecvError;
use std::sync::TryLockError;

use super::Driver;
use crate::batching::unix_micros;
use crate::source::{Event, Framed};

impl Driver {
    /// Takes available events while fewer than `limit` chunks are in flight. Returns true at
    /// the end of the input (or a failure, recorded in `self.failure`).
    pub(super) fn take_events(&mut self, limit: u64) -> bool {
        let mut ended = false;
        while self.feed.in_flight.count() < limit && self.batcher.end().is_none() {
            match self.intake.events.try_recv() {
                Ok(Event::Text(framed)) => {
                    // A line belongs to the batch its end arrived in: close what has passed.
                    self.tick(unix_micros());
                    if self.batcher.batches_done() {
                        // The last batch is due: it takes this chunk, as a stop takes what
                        // was read.
                        self.batcher.stop();
                    }
                    self.ingest(framed);
                }
                Ok(Event::Ended) | Err(TryRecvError::Disconnected) => {
                    ended = true;
                    break;
                }
                Ok(Event::Failed(why)) => {
                    self.failure = Some(why);
                    ended = true;
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        if let Some(input) = &mut self.feed.input {
            input.flush();
        }
        ended
    }

    /// The run stops before its input ended: every byte already read is counted, the lines
    /// in the channel first, then each reader's partial line. The readers read no more from
    /// here on, so this ends even when a producer never pauses.
    pub(super) fn take_tails(&mut self) {
        self.batcher.stop();
        self.intake.tails.stop();
        loop {
            self.drain_at_stop();
            let mut waiting = false;
            for tail in self.intake.tails.current() {
                // A reader holds its tail while it sends; the channel was just drained, so it
                // gets on, sees the stop, and hands its partial line over itself.
                let mut tail = match tail.try_lock() {
                    Ok(tail) => tail,
                    Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                    Err(TryLockError::WouldBlock) => {
                        waiting = true;
                        continue;
                    }
                };
                // What it sent before its partial line goes first.
                self.drain_at_stop();
                if let Some(last) = tail.take() {
                    self.ingest(last);
                }
            }
            if !waiting {
                break;
            }
            std::thread::yield_now();
        }
        self.drain_at_stop();
        if let Some(input) = &mut self.feed.input {
            input.flush();
        }
    }

    /// Takes what is in the channel now (dropped once the run has ended: `--batches` ended it
    /// and the rest belongs to later batches).
    fn drain_at_stop(&mut self) {
        while let Ok(event) = self.intake.events.try_recv() {
            match event {
                Event::Text(framed) if self.batcher.end().is_none() => self.ingest(framed),
                Event::Failed(why) => self.failure = Some(why),
                _ => {}
            }
        }
    }

    /// Feeds a chunk into the open epoch (the batcher cuts line batches).
    pub(super) fn ingest(&mut self, framed: Framed) {
        self.open.cut_words += framed.cut_words;
        self.batcher.ingest(framed, &mut self.steps);
        self.apply_steps();
    }
}
