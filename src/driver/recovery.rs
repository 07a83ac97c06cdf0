//! The driver's side of `--checkpoint` at a restart: feeding a snapshot's counts back into the
//! dataflow and replaying the log into its epochs.

use super::Driver;
use crate::checkpoint::Recovery;
use crate::source::{Chunk, Framed};

impl Driver {
    /// Restores a checkpoint: the snapshot's counts go back in at the batches they arrived in
    /// (the mode retracts them as any other arrival), the log after it is replayed into its
    /// epochs, and the reporter recomputes what was printed before without printing it again.
    pub(super) fn restore_and_replay(&mut self, recovery: Recovery) {
        let words = recovery.words_in_state();
        let replayed = recovery.replay.len();
        let mut first_report = self.open_epoch;
        if let (Some(snapshot), Some(restore)) = (&recovery.snapshot, &mut self.restore) {
            for (epoch, counts) in snapshot.counts() {
                first_report = first_report.min(epoch);
                for (word, count) in counts {
                    let id = restore.send(word, epoch, count);
                    if let Some(reporter) = &mut self.reporter {
                        reporter.learn(id, word.clone());
                    }
                }
            }
        }
        // The readers whose last logged chunk is a piece of a line: the crash cut that line.
        let mut open_lines = std::collections::BTreeMap::new();
        for (_, _, chunk) in &recovery.replay {
            open_lines.insert(chunk.reader, chunk.ends_mid_line);
        }
        self.set_replaying(true);
        for (epoch, lines, chunk) in recovery.replay {
            self.batcher.replay(epoch, lines, chunk, &mut self.steps);
            self.apply_steps();
        }
        self.set_replaying(false);
        self.batcher.replayed(&mut self.steps);
        self.apply_steps();
        // Batches while netwc was down (time batches) held nothing: one step passes them all,
        // however long it was down.
        let clock = self.batcher.clock();
        let reported = recovery.last_reported;
        let now = clock
            .is_timed()
            .then(|| clock.epoch_at(crate::batching::unix_micros()));
        if let Some(now) = now {
            self.batcher.jump_to(now, &mut self.steps);
            self.apply_steps();
        }
        let cut_lines: Vec<u64> = open_lines
            .into_iter()
            .filter_map(|(reader, open)| open.then_some(reader))
            .collect();
        if !cut_lines.is_empty() {
            // The connections that sent those lines ended with the crash: each line ends
            // there, as at the end of the input, in the first batch that will be printed (and
            // the log says so from now on).
            let first_printed = self.open_epoch.max(reported.map_or(0, |r| r + 1));
            self.batcher.advance_to(first_printed, &mut self.steps);
            self.apply_steps();
            for reader in cut_lines {
                self.ingest(Framed {
                    chunk: Chunk {
                        continues_line: true,
                        reader,
                        ..Chunk::default()
                    },
                    lines: 1,
                    cut_words: 0,
                });
            }
        }
        if let Some(reporter) = &mut self.reporter {
            reporter.resume(first_report, reported);
        }
        let last = match reported {
            Some(epoch) => clock.batch_name(epoch).to_string(),
            None => "none".into(),
        };
        log!(
            "restored the checkpoint: last complete batch {last}, {words} words in state, {replayed} log records replayed"
        );
    }

    fn set_replaying(&mut self, replaying: bool) {
        if let Some(durability) = &mut self.durability {
            durability.set_replaying(replaying);
        }
    }
}
