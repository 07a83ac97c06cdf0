//! Whether this machine can start `-w` worker threads, checked before any is started.
//!
//! Timely connects every pair of a process's workers with channels, so a process's memory
//! grows with the square of `-w` (measured on a one-line file: `-w 256` peaks at 254 MB
//! resident, `-w 1024` at 2.4 GB after 38 s), and every thread reserves address space for its
//! stack. Past what the process may use, the threads or their channels fail to allocate half
//! way through start-up and the process aborts. So `-w` is checked against the memory the
//! system has available, the process's address-space limit (`ulimit -v`) and its cgroup's
//! memory limit, and refused early, as a usage error that names the largest `-w` that fits.

use crate::error::Error;

/// Resident memory per pair of workers (rounded up from the measurements above).
const RESIDENT_PER_PAIR: u64 = 4 << 10;
/// Resident memory of a process before its workers' channels.
const RESIDENT_BASE: u64 = 64 << 20;
/// Address space per worker thread: its stack, guard page and allocator caches (measured:
/// about 6 MiB a thread at `-w 256`).
const ADDRESS_SPACE_PER_WORKER: u64 = 6 << 20;
/// Address space of a process before its workers (the binary, the allocator's arenas, the
/// source, output and network threads; measured 0.33 GB, with room).
const ADDRESS_SPACE_BASE: u64 = 1280 << 20;

/// What a process may use, as far as it can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory the system can give without swapping (`MemAvailable`), or the cgroup's limit
    /// if lower.
    pub resident: Option<u64>,
    /// The address-space limit (`ulimit -v`).
    pub address_space: Option<u64>,
}

impl Limits {
    /// The limits of this process on this machine (none where they cannot be read).
    pub fn of_this_process() -> Limits {
        let available = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|info| meminfo_field(&info, "MemAvailable:"));
        let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
            .ok()
            .and_then(|max| max.trim().parse::<u64>().ok());
        let resident = match (available, cgroup) {
            (Some(a), Some(c)) => Some(a.min(c)),
            (a, c) => a.or(c),
        };
        let address_space = rustix::process::getrlimit(rustix::process::Resource::As).current;
        Limits {
            resident,
            address_space,
        }
    }
}

/// A `/proc/meminfo` field in bytes (the file gives kB).
fn meminfo_field(info: &str, field: &str) -> Option<u64> {
    let line = info.lines().find(|line| line.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Resident memory `workers` threads take, about.
fn resident(workers: u64) -> u64 {
    RESIDENT_BASE + workers * workers * RESIDENT_PER_PAIR
}

/// Address space `workers` threads take, about.
fn address_space(workers: u64) -> u64 {
    ADDRESS_SPACE_BASE + workers * ADDRESS_SPACE_PER_WORKER + workers * workers * RESIDENT_PER_PAIR
}

/// Refuses `-w workers` where `limits` cannot hold them, naming what they would take and the
/// largest `-w` that fits.
pub fn check(workers: usize, limits: Limits) -> Result<(), Error> {
    let fits = |w: u64| {
        limits.resident.is_none_or(|limit| resident(w) <= limit)
            && limits
                .address_space
                .is_none_or(|limit| address_space(w) <= limit)
    };
    let workers = workers as u64;
    if fits(workers) {
        return Ok(());
    }
    let largest = (1..workers).rev().find(|&w| fits(w)).unwrap_or(0);
    let (needed, limit, what) = match limits.resident {
        Some(limit) if resident(workers) > limit => {
            (resident(workers), limit, "the memory available")
        }
        _ => (
            address_space(workers),
            limits.address_space.unwrap_or(0),
            "the address-space limit (ulimit -v)",
        ),
    };
    let accepted = if largest == 0 {
        "no -w fits: raise the limit".to_owned()
    } else {
        format!("here -w accepts 1 to {largest}")
    };
    Err(Error::Usage(format!(
        "-w {workers}: {workers} worker threads would take about {} (timely connects every pair of workers), more than {what}, {}; {accepted}",
        gib(needed),
        gib(limit)
    )))
}

/// Bytes in GiB, for messages.
fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn a_few_workers_fit_anywhere_a_process_runs() {
        let tight = Limits {
            resident: Some(GIB / 2),
            address_space: Some(2 * GIB),
        };
        assert!(check(16, tight).is_ok());
        let unknown = Limits {
            resident: None,
            address_space: None,
        };
        assert!(check(1024, unknown).is_ok());
    }

    #[test]
    fn too_many_workers_for_the_address_space_are_refused_naming_what_fits() {
        let limits = Limits {
            resident: Some(24 * GIB),
            address_space: Some(4 * GIB),
        };
        let Err(Error::Usage(message)) = check(1024, limits) else {
            panic!("-w 1024 under a 4 GiB address space must be refused");
        };
        assert!(message.contains("-w 1024"), "{message}");
        assert!(message.contains("ulimit -v"), "{message}");
        let largest: u64 = message
            .rsplit("1 to ")
            .next()
            .and_then(|n| n.parse().ok())
            .expect(&message);
        assert!(check(largest as usize, limits).is_ok());
        assert!(check(largest as usize + 1, limits).is_err());
        assert!(largest >= 256, "{message}");
    }

    #[test]
    fn too_many_workers_for_the_memory_available_are_refused() {
        let limits = Limits {
            resident: Some(GIB),
            address_space: None,
        };
        let Err(Error::Usage(message)) = check(1024, limits) else {
            panic!("-w 1024 in 1 GiB must be refused");
        };
        assert!(message.contains("memory available"), "{message}");
    }

    #[test]
    fn meminfo_is_read_in_bytes() {
        let info = "MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(
            meminfo_field(info, "MemAvailable:"),
            Some(20_000_000 * 1024)
        );
        assert_eq!(meminfo_field(info, "SwapTotal:"), None);
    }
}
