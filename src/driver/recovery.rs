//! The driver's side of `--checkpoint` at a restart: feeding a snapshot's counts back into the
//! dataflow and replaying the log into its epochs.

use super::Driver;
use crate::checkpoint::Recovery;
use crate::source::Framed;
use crate::vocab::{Chunk, LineState};

impl Driver {
    /// Restores a checkpoint: the snapshot's counts go back in at the batches they arrived in,
    /// the log after it is replayed into its epochs, the batches missed while down are passed
    /// in one step, and the reporter recomputes what was printed before without printing it
    /// again.
    pub(super) fn restore_and_replay(&mut self, recovery: Recovery) {
        let plan = recovery.plan(self.batcher.open());
        let replayed = plan.replay.len();
        if let Some(restore) = &mut self.feed.restore {
            for (epoch, counts) in plan.restore {
                for (id, word) in restore.send_batch(epoch, counts) {
                    if let Some(reporter) = &mut self.reporter {
                        reporter.learn(id, word);
                    }
                }
            }
        }
        self.set_replaying(true);
        for logged in plan.replay {
            self.batcher.replay(logged, &mut self.steps);
            self.apply_steps();
        }
        self.set_replaying(false);
        self.batcher.replayed(&mut self.steps);
        self.apply_steps();
        // Batches while netwc was down (time batches) held nothing: one step passes them all,
        // however long it was down.
        let clock = self.batcher.clock();
        if clock.is_timed() {
            let now = clock.epoch_at(crate::batching::unix_micros());
            self.batcher.jump_to(now, &mut self.steps);
            self.apply_steps();
        }
        if !plan.cut_lines.is_empty() {
            // The connections that sent those lines ended with the crash: each line ends
            // there, as at the end of the input, in the first batch that will be printed (and
            // the log says so from now on).
            let first_printed = self
                .batcher
                .open()
                .max(plan.silent_through.map_or(0, |r| r + 1));
            self.batcher.advance_to(first_printed, &mut self.steps);
            self.apply_steps();
            for reader in plan.cut_lines {
                self.ingest(Framed {
                    chunk: Chunk {
                        line: LineState::EndsOpenLine,
                        reader,
                        ..Chunk::default()
                    },
                    lines: 1,
                    cut_words: 0,
                });
            }
        }
        if let Some(reporter) = &mut self.reporter {
            reporter.resume(plan.first_report, plan.silent_through);
        }
        let last = match plan.silent_through {
            Some(epoch) => clock.batch_name(epoch).to_string(),
            None => "none".into(),
        };
        log!(
            "restored the checkpoint: last complete batch {last}, {} words in state, {replayed} log records replayed",
            plan.words
        );
    }

    fn set_replaying(&mut self, replaying: bool) {
        if let Some(durability) = &mut self.durability {
            durability.set_replaying(replaying);
        }
    }
}
