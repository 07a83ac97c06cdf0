//! File descriptors: what the job keeps for itself, and what connections from outside may take.
//!
//! Producers (`--listen`) and live-view clients (`--ui`) are strangers: however many connect,
//! they must not take the descriptors the job needs to read, print and checkpoint (a log
//! compaction that cannot open its file ends the job). So both are capped below the process's
//! limit (`ulimit -n`, the soft `RLIMIT_NOFILE`): the limit, minus what is open at start,
//! minus [`JOB_HEADROOM`] for what the job opens later, is shared between them.

/// Descriptors kept for what the job opens after start: checkpoint compaction and snapshots
/// (a few files at a time), the cluster's connections to its peers, runtimes' own descriptors.
pub const JOB_HEADROOM: usize = 48;

/// The share of the spare descriptors the live view takes, at most.
const UI_SHARE: usize = 4;

/// How many connections from outside this process may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionBudget {
    /// Producers at once (`--listen`).
    pub producers: usize,
    /// Live-view connections at once (`--ui`).
    pub ui: usize,
}

impl ConnectionBudget {
    /// The budget of this process: `requested` producers at most, `ui_wanted` live-view
    /// connections at most (0 without `--ui`), within the descriptor limit.
    pub fn of_this_process(requested: usize, ui_wanted: usize) -> ConnectionBudget {
        ConnectionBudget::within(limit(), open_now(), requested, ui_wanted)
    }

    /// The budget under a limit of `limit` descriptors with `open` open now.
    pub fn within(
        limit: usize,
        open: usize,
        requested: usize,
        ui_wanted: usize,
    ) -> ConnectionBudget {
        let spare = limit.saturating_sub(open + JOB_HEADROOM);
        let ui = ui_wanted.min((spare / UI_SHARE).max(ui_wanted.min(4)));
        let producers = requested.min(spare.saturating_sub(ui).max(1));
        ConnectionBudget { producers, ui }
    }
}

/// The soft limit on open descriptors (a large number where there is none).
fn limit() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    limit
        .current
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Descriptors open now (what `/proc/self/fd` lists; a guess of 16 where it cannot be read).
fn open_now() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(16, |entries| entries.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strangers_share_what_the_job_does_not_keep() {
        // The common `ulimit -n 1024`: a thousand producers do not fit beside the job.
        let budget = ConnectionBudget::within(1024, 20, 1000, 64);
        assert_eq!(
            budget,
            ConnectionBudget {
                producers: 892,
                ui: 64
            }
        );
        // A tight limit: the live view takes a quarter of what is spare.
        let budget = ConnectionBudget::within(128, 20, 1000, 64);
        assert_eq!(
            budget,
            ConnectionBudget {
                producers: 45,
                ui: 15
            }
        );
        // Under the job's own needs, one producer still may connect.
        let budget = ConnectionBudget::within(64, 30, 1000, 0);
        assert_eq!(
            budget,
            ConnectionBudget {
                producers: 1,
                ui: 0
            }
        );
        // Fewer asked for than fit: as asked.
        let budget = ConnectionBudget::within(1 << 20, 20, 1000, 64);
        assert_eq!(
            budget,
            ConnectionBudget {
                producers: 1000,
                ui: 64
            }
        );
    }
}
