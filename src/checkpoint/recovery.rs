//! What a restart finds in a checkpoint directory, and which of it to replay.

use super::State;
use crate::dataflow::Epoch;
use crate::source::Chunk;

/// What a restart finds.
#[derive(Debug, Default)]
pub struct Recovery {
    /// The state the snapshots give, if one was written.
    pub snapshot: Option<State>,
    /// The last batch a snapshot covers: this process's own, or process 0's in a cluster.
    pub covered: Option<Epoch>,
    /// Chunks logged after the snapshot: (epoch, lines, chunk), in order.
    pub replay: Vec<(Epoch, u64, Chunk)>,
    /// The last batch whose report was printed.
    pub last_reported: Option<Epoch>,
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
            .position(|(epoch, _, _)| *epoch > covered)
            .unwrap_or(self.replay.len());
        // Each reader's pieces since its last whole chunk, before `after`.
        let mut open: std::collections::BTreeMap<u64, Vec<usize>> = Default::default();
        for (at, (_, _, chunk)) in self.replay[..after].iter().enumerate() {
            let pieces = open.entry(chunk.reader).or_default();
            if chunk.ends_mid_line && !chunk.cuts_line {
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
        let logged = self.replay.first().map(|(epoch, _, _)| *epoch);
        let unreported = self.last_reported.map(|e| e + 1);
        match (logged, unreported) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The number of distinct words in the snapshot's state.
    pub fn words_in_state(&self) -> usize {
        self.snapshot.as_ref().map_or(0, State::words)
    }
}
