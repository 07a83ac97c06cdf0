//! How many chunks this process's workers have been handed but not yet split: the bound that
//! keeps memory flat when the workers fall behind (the reading worker then stops taking input,
//! the source's channel fills, and TCP slows the producer).

use std::ops::Range;
use std::sync::Arc;

use crate::dataflow::{ChunkProgress, RoundRobin};
use crate::vocab::Chunk;

/// Chunks handed to this process's workers and not yet split, mirrored from the dataflow's
/// routing.
pub struct InFlight {
    /// The dataflow's routing of chunks to workers, mirrored.
    router: RoundRobin,
    /// Workers in the whole computation.
    peers: u64,
    /// The global indexes of this process's workers: only those report progress here.
    local_workers: Range<u64>,
    /// Chunks that went to this process's workers.
    local_sent: u64,
    progress: Arc<ChunkProgress>,
}

impl InFlight {
    /// For process `process` of `processes`, with `workers` workers each.
    pub fn new(
        workers: usize,
        process: usize,
        processes: usize,
        progress: Arc<ChunkProgress>,
    ) -> InFlight {
        InFlight {
            router: RoundRobin::default(),
            peers: (workers * processes) as u64,
            local_workers: (workers * process) as u64..(workers * (process + 1)) as u64,
            local_sent: 0,
            progress,
        }
    }

    /// Notes a chunk about to be handed out. Chunks for other processes are interleaved with
    /// local ones, so they are bounded alongside.
    pub fn routed(&mut self, chunk: &Chunk) {
        let worker = self.router.route(chunk) % self.peers;
        if self.local_workers.contains(&worker) {
            self.local_sent += 1;
        }
    }

    /// Chunks handed to this process's workers and not yet split.
    pub fn count(&self) -> u64 {
        self.local_sent.saturating_sub(self.progress.processed())
    }
}
