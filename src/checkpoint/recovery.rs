//! What a restart finds in a checkpoint directory, and which of it to replay.

use super::State;
#[cfg(test)]
use crate::vocab::Chunk;
use crate::vocab::{Epoch, LineState, LoggedChunk, Word};

/// What a restart does, decided from what it found: the driver carries it out.
#[derive(Debug, Default)]
pub struct RestorePlan {
    /// Counts that go back into the dataflow, at the batches they arrived in (the mode
    /// retracts them as any other arrival).
    pub restore: Vec<(Epoch, Vec<(Word, isize)>)>,
    /// Chunks logged after the snapshot, replayed into their epochs.
    pub replay: Vec<LoggedChunk>,
    /// Readers whose last logged chunk was a piece of a line: the crash cut that line, which
    /// ends in the first batch printed.
    pub cut_lines: Vec<u64>,
    /// The first batch the reporter processes.
    pub first_report: Epoch,
    /// The last batch printed before: the reporter recomputes it and those before it
    /// silently.
    pub silent_through: Option<Epoch>,
    /// What the log line says: distinct words in the state, log records replayed.
    pub words: usize,
}

/// What a restart finds.
#[derive(Debug, Default)]
pub struct Recovery {
    /// The state the snapshots give, if one was written.
    pub snapshot: Option<State>,
    /// The last batch a snapshot covers: this process's own, or process 0's in a cluster.
    pub covered: Option<Epoch>,
    /// Chunks logged after the snapshot, in order.
    pub replay: Vec<LoggedChunk>,
    /// The last batch whose report was printed.
    pub last_reported: Option<Epoch>,
    /// Where each partition of a replayable source (Kafka) resumes.
    pub source_offsets: std::collections::BTreeMap<u64, u64>,
    /// The `-o` file's length after the last report, when the checkpoint noted it.
    pub output_length: Option<u64>,
    /// Where each partition of the `-o kafka://` topic ended after the last report the
    /// checkpoint noted (or at the first start).
    pub topic_ends: Option<Vec<(u32, u64)>>,
}

impl Recovery {
    /// Drops the logged chunks that process 0's snapshot already covers (in a cluster whose
    /// processes all read, the others' logs are compacted only when process 0 says so).
    pub fn covered_by(self, snapshot: Option<Epoch>) -> Recovery {
        match snapshot.filter(|&c| Some(c) > self.covered) {
            Some(covered) => self.covered_by_epoch(Some(covered)),
            None => self,
        }
    }

    /// Keeps the logged chunks after batch `covered`, and the pieces of the lines that were
    /// still open then (per reader): a snapshot holds no counts of a line before its end.
    pub(super) fn covered_by_epoch(mut self, covered: Option<Epoch>) -> Recovery {
        let Some(covered) = covered else {
            return self;
        };
        let after = self
            .replay
            .iter()
            .position(|logged| logged.epoch > covered)
            .unwrap_or(self.replay.len());
        // Each reader's pieces since its last whole chunk, before `after`.
        let mut open: std::collections::BTreeMap<u64, Vec<usize>> = Default::default();
        for (at, LoggedChunk { chunk, .. }) in self.replay[..after].iter().enumerate() {
            let pieces = open.entry(chunk.reader).or_default();
            if chunk.line.ends_mid_line() && chunk.line != LineState::CutsOpenLine {
                pieces.push(at);
            } else {
                pieces.clear();
            }
        }
        let mut keep: Vec<usize> = open.into_values().flatten().collect();
        keep.sort_unstable();
        let mut replay: Vec<_> = self.replay.drain(..).enumerate().collect();
        replay.retain(|(at, _)| *at >= after || keep.binary_search(at).is_ok());
        self.replay = replay.into_iter().map(|(_, record)| record).collect();
        self.covered = Some(covered);
        self
    }

    /// The epoch a restarted run resumes in: after the snapshot, or the first epoch the log
    /// holds or that was not reported yet; `None` when there is nothing to resume.
    pub fn resume_epoch(&self) -> Option<u64> {
        if let Some(covered) = self.covered {
            return Some(covered + 1);
        }
        let logged = self.replay.first().map(|logged| logged.epoch);
        let unreported = self.last_reported.map(|e| e + 1);
        match (logged, unreported) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What a restart whose inputs start at `open` does.
    pub fn plan(self, open: Epoch) -> RestorePlan {
        let words = self.words_in_state();
        let restore: Vec<(Epoch, Vec<(Word, isize)>)> =
            self.snapshot.as_ref().map_or_else(Vec::new, |state| {
                state
                    .counts()
                    .into_iter()
                    .map(|(epoch, counts)| {
                        (
                            epoch,
                            counts.into_iter().map(|(w, c)| (w.clone(), c)).collect(),
                        )
                    })
                    .collect()
            });
        let first_report = restore
            .iter()
            .map(|(epoch, _)| *epoch)
            .fold(open, Epoch::min);
        let mut open_lines = std::collections::BTreeMap::new();
        for LoggedChunk { chunk, .. } in &self.replay {
            open_lines.insert(chunk.reader, chunk.line.ends_mid_line());
        }
        let cut_lines = open_lines
            .into_iter()
            .filter_map(|(reader, open)| open.then_some(reader))
            .collect();
        RestorePlan {
            restore,
            replay: self.replay,
            cut_lines,
            first_report,
            silent_through: self.last_reported,
            words,
        }
    }

    /// The number of distinct words in the snapshot's state.
    pub fn words_in_state(&self) -> usize {
        self.snapshot.as_ref().map_or(0, State::words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(epoch: Epoch, lines: u64, chunk: Chunk) -> LoggedChunk {
        LoggedChunk {
            epoch,
            lines,
            chunk,
        }
    }

    fn chunk(reader: u64, ends_mid_line: bool) -> Chunk {
        Chunk {
            text: b"a b ".to_vec(),
            line: LineState::of(false, ends_mid_line),
            reader,
            ..Chunk::default()
        }
    }

    #[test]
    fn a_plan_restores_at_the_batches_and_ends_the_lines_a_crash_cut() {
        let mut state = State {
            reported: Some(9),
            ..State::default()
        };
        state
            .batches
            .push_back((8, [(Word::from("a"), 2)].into_iter().collect()));
        let recovery = Recovery {
            snapshot: Some(state),
            covered: Some(9),
            replay: vec![
                logged(10, 0, chunk(1, true)),
                logged(10, 1, chunk(2, true)),
                logged(11, 1, chunk(2, false)),
            ],
            last_reported: Some(10),
            ..Recovery::default()
        };
        let plan = recovery.plan(10);
        assert_eq!(plan.restore, vec![(8, vec![(Word::from("a"), 2)])]);
        assert_eq!(plan.first_report, 8);
        assert_eq!(plan.silent_through, Some(10));
        assert_eq!(plan.cut_lines, vec![1]);
        assert_eq!(plan.replay.len(), 3);
        assert_eq!(plan.words, 1);
    }
}
