//! What a run does to its whole process, installed once by the program that runs it (`main`)
//! and handed to `run()`: SIGINT/SIGTERM handling, and in a cluster, file
//! descriptor 1 moved to stderr. The library itself changes no process-global state, and the
//! exit code is the caller's to choose ([`Error::exit_code`]).

use std::fs::File;

use crate::config::Config;
use crate::error::Error;
use crate::shutdown::Shutdown;

/// The process-global effects of a run, installed.
pub struct ProcessEffects {
    /// Signals, as the run hears them (a signal exits at once until the workers run).
    pub(crate) shutdown: Shutdown,
    /// Where results go instead of descriptor 1, when that was moved to stderr.
    pub(crate) results: Option<File>,
}

impl ProcessEffects {
    /// Installs them for a run of `config`: signal handling on a thread of its own; in a
    /// cluster, a copy of the real stdout for results, after which descriptor 1 writes to
    /// stderr (timely's network threads print with `println!` when a connection breaks
    /// mid-message, and stdout carries results only).
    pub fn install(config: &Config) -> Result<ProcessEffects, Error> {
        let results = (config.cluster.processes > 1)
            .then(stdout_for_results)
            .transpose()?;
        // Until the workers run, a signal ends the process at once: opening the input (a FIFO
        // waits for its writer) or meeting the cluster may wait, and nothing is counted yet.
        let shutdown = Shutdown::install()?;
        Ok(ProcessEffects { shutdown, results })
    }
}

/// A handle on the real stdout for results, after which file descriptor 1 writes to stderr.
fn stdout_for_results() -> Result<File, Error> {
    let failed = |e: rustix::io::Errno| Error::runtime(format!("cannot set up stdout: {e}"));
    let copy = rustix::io::dup(std::io::stdout()).map_err(failed)?;
    rustix::stdio::dup2_stdout(std::io::stderr()).map_err(failed)?;
    Ok(File::from(copy))
}
