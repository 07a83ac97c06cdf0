//! Running one job over several processes: timely's own cluster, made safe and quick to start.
//!
//! The processes meet in a handshake on the hostfile addresses: each checks that the others
//! run with the same settings (workers, mode, batching, counting rules) and that all of them
//! arrive within `--connect-timeout`. Timely then runs on the connections they met on. A
//! process that dies later ends the others through timely's closed sockets (see `main.rs` for
//! the message they print).

mod handshake;

pub use handshake::Resume;

use std::any::Any;
use std::net::TcpStream;
use std::path::Path;
use std::time::Instant;

use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::ProcessBuilder;
use timely::communication::{AllocatorBuilder, Hooks};
use timely::CommunicationConfig;

use crate::config::{ClusterConfig, Config, DEFAULT_BASE_PORT};
use crate::error::Error;
use crate::settings::Settings;
use crate::tokenize::StopWords;

/// The address of each process, from the hostfile or timely's defaults.
pub fn addresses(cluster: &ClusterConfig) -> Result<Vec<String>, Error> {
    match &cluster.hostfile {
        None => Ok((0..cluster.processes)
            .map(|i| format!("127.0.0.1:{}", DEFAULT_BASE_PORT as usize + i))
            .collect()),
        Some(path) => read_hostfile(path, cluster.processes),
    }
}

/// Reads `host:port` lines; blank lines and `#` comments are skipped.
pub fn read_hostfile(path: &Path, processes: usize) -> Result<Vec<String>, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read --hostfile '{}': {e}", path.display())))?;
    let mut addresses = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let valid = line.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !valid {
            return Err(Error::Usage(format!(
                "--hostfile '{}' line {}: '{line}' is not host:port (e.g. 10.0.0.1:2101 or localhost:2101)",
                path.display(),
                number + 1
            )));
        }
        addresses.push(line.to_string());
    }
    for (i, address) in addresses.iter().enumerate() {
        if let Some(j) = addresses[..i].iter().position(|a| a == address) {
            return Err(Error::Usage(format!(
                "--hostfile '{}' lists {address} twice (for processes {j} and {i}): every process needs an address of its own",
                path.display()
            )));
        }
    }
    if addresses.len() < processes {
        return Err(Error::Usage(format!(
            "--hostfile '{}' lists {} address(es), but --processes is {processes}: it needs one host:port line per process",
            path.display(),
            addresses.len()
        )));
    }
    addresses.truncate(processes);
    Ok(addresses)
}

/// The addresses for a log line: all of a small cluster, the first few of a large one.
fn address_list(addresses: &[String]) -> String {
    const SHOWN: usize = 4;
    if addresses.len() <= SHOWN {
        return addresses.join(", ");
    }
    format!(
        "{}, … and {} more",
        addresses[..SHOWN].join(", "),
        addresses.len() - SHOWN
    )
}

/// How the workers of this process will talk to each other and to the other processes: within
/// the process, or over the connections the handshake made.
pub enum Links {
    Local(CommunicationConfig),
    Cluster {
        /// A connection to every other process, in process order (`None` at `process`).
        connections: Vec<Option<TcpStream>>,
        process: usize,
        workers: usize,
    },
}

/// Timely's allocators for this process's workers, and what must live as long as they do (the
/// network threads' guard).
pub type Started = (Vec<AllocatorBuilder>, Box<dyn Any + Send>);

impl Links {
    /// Starts timely's network threads (in a cluster) and returns the workers' allocators. Call
    /// it just before the workers start: network threads whose workers never come panic, and
    /// would hide the error that kept the workers from starting behind a lost connection.
    pub fn start(self) -> Result<Started, Error> {
        let failed = |e: String| Error::runtime(format!("could not start the workers: {e}"));
        match self {
            Links::Local(communication) => communication.try_build().map_err(failed),
            Links::Cluster {
                connections,
                process,
                workers,
            } => {
                let hooks = Hooks::default();
                let local = ProcessBuilder::new_typed_vector(
                    workers,
                    hooks.refill.clone(),
                    hooks.spill.clone(),
                );
                let (builders, guard) =
                    initialize_networking_from_sockets(local, connections, process, workers, hooks)
                        .map_err(|e| failed(e.to_string()))?;
                let builders = builders.into_iter().map(AllocatorBuilder::Tcp).collect();
                Ok((builders, Box::new(guard)))
            }
        }
    }
}

/// Meets the other processes, checks that they agree, and returns how the workers will talk and
/// how process 0 resumes from its checkpoint (`resume` is this process's own).
pub fn join(
    config: &Config,
    stop_words: &StopWords,
    resume: Resume,
) -> Result<(Links, Resume), Error> {
    let cluster = &config.cluster;
    if cluster.processes == 1 {
        let communication = if config.workers > 1 {
            CommunicationConfig::Process(config.workers)
        } else {
            CommunicationConfig::Thread
        };
        return Ok((Links::Local(communication), resume));
    }
    let addresses = addresses(cluster)?;
    let deadline = Instant::now() + cluster.connect_timeout;
    log!(
        "process {} of {}: waiting for the cluster ({}) for up to {}",
        cluster.process,
        cluster.processes,
        address_list(&addresses),
        crate::duration::format_millis(cluster.connect_timeout.as_millis() as u64)
    );
    let (first, connections) = handshake::meet(
        cluster.process,
        &addresses,
        &Settings::of(config, stop_words),
        resume,
        deadline,
    )?;
    let links = Links::Cluster {
        connections,
        process: cluster.process,
        workers: config.workers,
    };
    Ok((links, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostfiles_are_checked_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "# cluster\nlocalhost:2101\n\n10.0.0.2:2102\n").unwrap();
        assert_eq!(
            read_hostfile(&path, 2).unwrap(),
            ["localhost:2101", "10.0.0.2:2102"]
        );
        let short = read_hostfile(&path, 3).unwrap_err().to_string();
        assert!(
            short.contains("lists 2 address(es), but --processes is 3"),
            "{short}"
        );
        std::fs::write(&path, "localhost:2101\nlocalhost:2101\n").unwrap();
        let twice = read_hostfile(&path, 2).unwrap_err().to_string();
        assert!(twice.contains("lists localhost:2101 twice"), "{twice}");
        std::fs::write(&path, "localhost:2101\nlocalhost\n").unwrap();
        let bad = read_hostfile(&path, 2).unwrap_err().to_string();
        assert!(
            bad.contains("line 2: 'localhost' is not host:port"),
            "{bad}"
        );
    }
}
