//! The driver's side of `--checkpoint`: feeding a snapshot's counts back into the dataflow,
//! replaying the log, and taking snapshots.

use super::Driver;
use crate::checkpoint::Recovery;
use crate::dataflow::WordKey;
use crate::source::Chunk;

impl Driver {
    /// Restores a checkpoint: the snapshot's counts go back in at their own epochs (with their
    /// retractions), the log after it is replayed into its epochs, and the reporter recomputes
    /// what was printed before without printing it again.
    pub(super) fn restore_and_replay(&mut self, recovery: Recovery) {
        let words = recovery.words_in_state();
        let replayed = recovery.replay.len();
        let mut first_report = self.open_epoch;
        if let (Some(snapshot), Some(restore)) = (&recovery.snapshot, &mut self.restore) {
            for (epoch, counts) in &snapshot.state {
                first_report = first_report.min(*epoch);
                for (word, count) in counts {
                    let key = WordKey::new(word.clone());
                    if let Some(delay) = self.retraction_delay {
                        restore.send((key.clone(), epoch + delay, -count));
                    }
                    restore.send((key, *epoch, *count));
                }
            }
        }
        let last_logged = recovery.replay.last().map(|(epoch, _, _)| *epoch);
        let line_open = recovery
            .replay
            .last()
            .is_some_and(|(_, _, chunk)| chunk.ends_mid_line);
        self.replaying = true;
        for (epoch, lines, chunk) in recovery.replay {
            self.close_epochs_until(epoch);
            self.send(chunk, lines);
        }
        self.replaying = false;
        if line_open {
            // The connection that sent an over-long line ended with the crash: the line ends
            // there, as at the end of the input (and the log says so from now on).
            let end = Chunk {
                continues_line: true,
                ..Chunk::default()
            };
            self.send(end, 1);
        }
        if let Some(per_batch) = self.lines_per_batch {
            self.lines_left = per_batch.saturating_sub(self.open.lines);
            if self.lines_left == 0 {
                self.close_open_epoch();
                self.lines_left = per_batch;
            }
        }
        // Batches while netwc was down (time batches) held nothing: they are passed silently.
        let reported = recovery.last_reported;
        let down = match (self.clock.is_timed(), last_logged.max(reported)) {
            (true, Some(last)) => {
                let now = self.clock.epoch_at(crate::batching::unix_micros());
                (last + 1 < now).then(|| last + 1..=now - 1)
            }
            _ => None,
        };
        if let Some(reporter) = &mut self.reporter {
            reporter.resume(first_report, reported, down);
        }
        let last = match reported {
            Some(epoch) => self.clock.batch_name(epoch).to_string(),
            None => "none".into(),
        };
        crate::log!(
            "restored the checkpoint: last complete batch {last}, {words} words in state, {replayed} log records replayed"
        );
    }

    /// Takes a snapshot if the run checkpoints and the reporter has processed anything, and
    /// announces it to the other reading processes.
    pub(super) fn save_snapshot(&mut self) {
        let (Some(reporter), Some(checkpoint)) = (&mut self.reporter, &mut self.checkpoint) else {
            return;
        };
        let snapshot = reporter.snapshot();
        if let Err(e) = checkpoint.save(&snapshot) {
            self.checkpoint_error.get_or_insert(e);
            return;
        }
        if let Some(control) = &mut self.control {
            control.send(snapshot.reported);
        }
    }

    /// On a reading process other than 0: drops the part of the log that process 0's latest
    /// announced snapshot covers.
    pub(super) fn drop_announced(&mut self) {
        let Some(covered) = self.covered.get() else {
            return;
        };
        if self.reporter.is_some() || self.dropped_through >= Some(covered) {
            return;
        }
        if let Some(checkpoint) = &mut self.checkpoint {
            if let Err(e) = checkpoint.drop_covered(covered) {
                self.checkpoint_error.get_or_insert(e);
            }
        }
        self.dropped_through = Some(covered);
    }
}
