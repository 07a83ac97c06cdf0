//! The meeting of the processes: every process says who it is and how it was started, all of
//! them check that they agree and that nobody is missing, and the connections they met on are
//! the ones timely then runs on.
//!
//! Process i listens on its own hostfile address and connects to every process j < i, as timely
//! would. Each side sends a [`Hello`] line (JSON), reads the other's, and compares settings. Then
//! each process closes its listener and says `ready`; once every peer has said `ready`, the
//! connections go to timely as they are (timely's own connecting sleeps a second whenever a
//! peer is not there yet, which made every cluster start a second late).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::dataflow::WordKey;
use crate::error::Error;
use crate::settings::Settings;

/// Identifies the handshake, so that something else on the port is told apart.
const MAGIC: &str = "netwc-cluster/1";

/// The line each process sends first.
#[derive(Debug, Serialize, Deserialize)]
struct Hello {
    magic: String,
    process: usize,
    settings: Settings,
    /// From process 0 with `--checkpoint`: how the job resumes.
    #[serde(default, flatten)]
    resume: Resume,
}

/// How a job resumes from its checkpoint, as process 0 says for all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The batch process 0's last snapshot covers, so that the other processes replay only
    /// what their logs hold after it.
    #[serde(default)]
    pub snapshot: Option<u64>,
    /// How far epochs run ahead of the clock after a quick restart (see `BatchClock`), the
    /// same in every process, or their batches would not line up.
    #[serde(default)]
    pub shift: u64,
    /// The job's key for word ids, drawn by process 0 (see `dataflow::WordKey`): every worker
    /// of every process must hash words alike.
    #[serde(default)]
    pub word_key: WordKey,
}

/// One peer's connection and what it said.
struct Peer {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

/// Meets every other process or fails by `deadline`. Returns how process 0 resumes, and a
/// connection to every other process, in process order (`None` at `me`), ready for timely.
pub fn meet(
    me: usize,
    addresses: &[String],
    settings: &Settings,
    resume: Resume,
    deadline: Instant,
) -> Result<(Resume, Vec<Option<TcpStream>>), Error> {
    let waited = deadline.saturating_duration_since(Instant::now());
    let listener = TcpListener::bind(&addresses[me]).map_err(|e| {
        Error::runtime(format!(
            "cannot listen on {} (process {me}'s address in the hostfile): {e}",
            addresses[me]
        ))
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::runtime(format!("cannot listen on {}: {e}", addresses[me])))?;
    let hello = serde_json::to_string(&Hello {
        magic: MAGIC.into(),
        process: me,
        settings: settings.clone(),
        resume,
    })
    .expect("settings serialize");

    let mut peers: BTreeMap<usize, Peer> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut first = if me == 0 { resume } else { Resume::default() };
    while peers.len() + 1 < addresses.len() && Instant::now() < deadline {
        let mut progressed = false;
        // Connect to every lower process not met yet.
        for (j, address) in addresses.iter().enumerate().take(me) {
            if peers.contains_key(&j) {
                continue;
            }
            if let Some(stream) = try_connect(address) {
                let (process, peer, theirs) =
                    exchange(stream, &hello, settings, deadline, &mut problems)?;
                if process == 0 {
                    first = theirs;
                }
                if process != j {
                    return Err(Error::Usage(format!(
                        "{address} is process {j} in this hostfile, but the process there says it is process {process}: every process needs the same hostfile"
                    )));
                }
                peers.insert(j, peer);
                progressed = true;
            }
        }
        // Accept higher processes.
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let (process, peer, _) =
                    exchange(stream, &hello, settings, deadline, &mut problems)?;
                if process <= me || process >= addresses.len() || peers.contains_key(&process) {
                    return Err(Error::Usage(format!(
                        "a process that says it is process {process} connected to process {me}: every process needs the same hostfile and its own --process index"
                    )));
                }
                peers.insert(process, peer);
                progressed = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => {
                return Err(Error::runtime(format!(
                    "accepting a cluster peer failed: {e}"
                )))
            }
        }
        if !problems.is_empty() {
            break;
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Usage(format!(
            "the processes of the cluster were started with different settings: {}; start every process with the same --workers, --mode, --window, --slide, batching and counting flags",
            problems.join("; ")
        )));
    }
    let missing: Vec<String> = (0..addresses.len())
        .filter(|j| *j != me && !peers.contains_key(j))
        .map(|j| format!("process {j} ({})", addresses[j]))
        .collect();
    if !missing.is_empty() {
        return Err(Error::runtime(format!(
            "{} never joined the cluster (waited {}): start every process with the same --hostfile and its own --process index, or wait longer with --connect-timeout",
            missing.join(", "),
            crate::duration::format_millis(waited.as_millis() as u64)
        )));
    }
    // No one else may connect now; every peer says it has met everyone.
    drop(listener);
    for peer in peers.values_mut() {
        let _ = peer.writer.write_all(READY);
    }
    let mut connections: Vec<Option<TcpStream>> = (0..addresses.len()).map(|_| None).collect();
    for (j, peer) in peers {
        let stream = read_ready(peer.reader).ok_or_else(|| {
            Error::runtime(format!(
                "process {j} ({}) left the cluster during start",
                addresses[j]
            ))
        })?;
        // As timely's own connections are: blocking, no timeout, no delay for small messages.
        stream
            .set_read_timeout(None)
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| Error::runtime(format!("cluster connection to process {j}: {e}")))?;
        connections[j] = Some(stream);
    }
    Ok((first, connections))
}

/// What each process says once it has met every other.
const READY: &[u8] = b"ready\n";

/// Reads a peer's `ready` and nothing after it (timely's first bytes may follow at once on the
/// same connection), and returns the connection; `None` if the peer said something else or
/// left.
fn read_ready(mut reader: BufReader<TcpStream>) -> Option<TcpStream> {
    let mut said = [0u8; READY.len()];
    // The hello line's read may have taken the peer's `ready` along (nothing can follow it
    // yet: the peer sends more only after it has read ours).
    let buffered = reader.buffer().len().min(said.len());
    said[..buffered].copy_from_slice(&reader.buffer()[..buffered]);
    reader.consume(buffered);
    if !reader.buffer().is_empty() {
        return None;
    }
    let mut stream = reader.into_inner();
    stream.read_exact(&mut said[buffered..]).ok()?;
    (said == READY).then_some(stream)
}

fn try_connect(address: &str) -> Option<TcpStream> {
    let target = address.to_socket_addrs().ok()?.next()?;
    TcpStream::connect_timeout(&target, Duration::from_millis(200)).ok()
}

/// Sends our hello and reads the peer's; a settings difference is added to `problems`.
/// Returns the peer's index, the connection and how it resumes.
fn exchange(
    stream: TcpStream,
    hello: &str,
    settings: &Settings,
    deadline: Instant,
    problems: &mut Vec<String>,
) -> Result<(usize, Peer, Resume), Error> {
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100));
    let _ = stream.set_read_timeout(Some(wait));
    let mut writer = stream
        .try_clone()
        .map_err(|e| Error::runtime(format!("cluster handshake failed: {e}")))?;
    writer
        .write_all(format!("{hello}\n").as_bytes())
        .map_err(|e| Error::runtime(format!("cluster handshake failed: {e}")))?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| Error::runtime(format!("cluster handshake failed: {e}")))?;
    let theirs: Hello = serde_json::from_str(&line)
        .ok()
        .filter(|h: &Hello| h.magic == MAGIC)
        .ok_or_else(|| {
            Error::runtime(
                "something that is not a netwc process answered at a cluster address; check the hostfile"
                    .to_string(),
            )
        })?;
    for difference in settings.differences(&theirs.settings) {
        problems.push(format!("process {}: {difference}", theirs.process));
    }
    Ok((theirs.process, Peer { reader, writer }, theirs.resume))
}
