//! SIGINT and SIGTERM: the first asks for a graceful stop (close the current batch, report it,
//! exit 0); a second one exits at once with 130, for when the graceful stop takes too long.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

use crate::error::Error;

/// Exit code of a run ended by a second signal (128 + SIGINT, as shells report it).
pub const INTERRUPTED_EXIT_CODE: i32 = 130;

/// Whether a stop was asked for.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    requested: Arc<AtomicBool>,
}

impl Shutdown {
    /// A handle that signals set; a second signal exits the process with 130.
    pub fn install() -> Result<Shutdown, Error> {
        let shutdown = Shutdown::default();
        for signal in [SIGINT, SIGTERM] {
            // The conditional exit must be registered first: on the first signal it sees the
            // flag still unset, and only then is the flag set.
            flag::register_conditional_shutdown(
                signal,
                INTERRUPTED_EXIT_CODE,
                shutdown.requested.clone(),
            )
            .and_then(|_| flag::register(signal, shutdown.requested.clone()))
            .map_err(|e| Error::runtime(format!("cannot install signal handlers: {e}")))?;
        }
        Ok(shutdown)
    }

    /// Whether a signal asked to stop.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }
}
