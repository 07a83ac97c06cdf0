//! SIGINT and SIGTERM. While a process waits for its input to open (a FIFO without a writer, a
//! server that does not answer) or for the rest of its cluster, a signal ends it at once (130
//! for SIGINT, 143 for SIGTERM): there is nothing to report yet. So it does while a lone
//! process restores a big checkpoint (a second for about a million words): a graceful stop
//! would wait for the restore, and what the run read meanwhile is in the checkpoint's log. Once the job runs,
//! the first signal asks for a graceful stop (close the current batch, report it, exit 0), and
//! in a cluster that stop reaches every process through the dataflow; a second signal exits at
//! once with 130, for when the graceful stop takes too long.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::error::Error;

/// Exit code of a run ended by a second signal (128 + SIGINT, as shells report it).
pub const INTERRUPTED_EXIT_CODE: i32 = 130;

#[derive(Debug, Default)]
struct State {
    requested: AtomicBool,
    /// [`STARTING`], [`RESTORING`] or [`RUNNING`].
    phase: AtomicU8,
}

/// Opening the input, reading the checkpoint, waiting for the cluster.
const STARTING: u8 = 0;
/// The job runs, and the counts a checkpoint restores are not reported yet.
const RESTORING: u8 = 1;
/// The job runs: a first signal asks for a graceful stop.
const RUNNING: u8 = 2;

/// Whether a stop was asked for.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    state: Arc<State>,
}

impl Shutdown {
    /// Starts handling SIGINT and SIGTERM on a thread of its own. A signal exits at once until
    /// [`Shutdown::running`] is called.
    pub fn install() -> Result<Shutdown, Error> {
        let shutdown = Shutdown::default();
        shutdown.state.phase.store(STARTING, Ordering::SeqCst);
        let mut signals = Signals::new([SIGINT, SIGTERM])
            .map_err(|e| Error::runtime(format!("cannot install signal handlers: {e}")))?;
        let state = shutdown.state.clone();
        std::thread::Builder::new()
            .name("netwc:signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
                    match state.phase.load(Ordering::SeqCst) {
                        STARTING => {
                            log!(
                                "{name} while starting (reading the checkpoint, opening the input or waiting for the rest of the cluster): stopping; this run counted nothing, and a checkpoint restores as before"
                            );
                            std::process::exit(128 + signal);
                        }
                        RESTORING => {
                            log!(
                                "{name} while restoring the checkpoint: stopping at once; this run reported nothing, and the checkpoint restores as before, with what this run read meanwhile (it is in the checkpoint's log)"
                            );
                            std::process::exit(128 + signal);
                        }
                        _ => {}
                    }
                    if state.requested.swap(true, Ordering::SeqCst) {
                        // No message: stderr may be the very pipe that blocks the stop.
                        std::process::exit(INTERRUPTED_EXIT_CODE);
                    }
                }
            })
            .map_err(|e| Error::runtime(format!("cannot start the signal thread: {e}")))?;
        Ok(shutdown)
    }

    /// The cluster is connected and the job runs: a signal now asks for a graceful stop.
    pub fn running(&self) {
        self.state.phase.store(RUNNING, Ordering::SeqCst);
    }

    /// The job will restore a checkpoint: a signal still ends the process at once, until
    /// [`Shutdown::running`] (called once the restored counts are reported). Called before
    /// the workers start, so that it never comes after their `running`.
    pub fn restoring(&self) {
        self.state.phase.store(RESTORING, Ordering::SeqCst);
    }

    /// Whether a signal asked to stop.
    pub fn requested(&self) -> bool {
        self.state.requested.load(Ordering::Relaxed)
    }
}
