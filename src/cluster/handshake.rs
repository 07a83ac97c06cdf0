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

/// The most a hello line may take: a stranger that sends more is dropped.
const MAX_HELLO: usize = 64 * 1024;

/// How long a connection that reached us may take to say its hello.
const HELLO_WITHIN: Duration = Duration::from_secs(3);

/// A connection from a higher process, accepted but not heard yet: it must say a netwc hello
/// before it hears ours (which carries the job's word key), within [`HELLO_WITHIN`] and
/// [`MAX_HELLO`] bytes. Anything else on the port is a stranger, dropped with a log line while
/// the start goes on.
struct Arriving {
    stream: TcpStream,
    said: Vec<u8>,
    by: Instant,
}

/// What an arriving connection turned out to be.
enum Heard {
    /// Still saying its hello.
    Waiting,
    /// A netwc hello, whole.
    Hello(Hello, TcpStream),
    /// Not a netwc process (or too slow, or too long): why, for the log.
    Stranger(String),
}

impl Arriving {
    fn new(stream: TcpStream) -> Arriving {
        Arriving {
            stream,
            said: Vec::new(),
            by: Instant::now() + HELLO_WITHIN,
        }
    }

    /// Reads what has arrived, without waiting.
    fn listen(&mut self) -> Heard {
        let mut buffer = [0u8; 4096];
        loop {
            match self.stream.read(&mut buffer) {
                Ok(0) => return Heard::Stranger("it closed before saying who it is".into()),
                Ok(n) => self.said.extend_from_slice(&buffer[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Heard::Stranger(format!("reading its hello failed: {e}")),
            }
            if let Some(end) = self.said.iter().position(|&b| b == b'\n') {
                // A netwc peer sends nothing after its hello until it has heard ours.
                if end + 1 != self.said.len() {
                    return Heard::Stranger("it said more than a hello".into());
                }
                return match serde_json::from_slice::<Hello>(&self.said[..end]) {
                    Ok(hello) if hello.magic == MAGIC => match self.stream.try_clone() {
                        Ok(stream) => Heard::Hello(hello, stream),
                        Err(e) => Heard::Stranger(format!("cannot keep its connection: {e}")),
                    },
                    _ => Heard::Stranger("what it said is not a netwc hello".into()),
                };
            }
            if self.said.len() > MAX_HELLO {
                return Heard::Stranger(format!("it sent over {MAX_HELLO} bytes without a hello"));
            }
        }
        if Instant::now() >= self.by {
            return Heard::Stranger(format!(
                "it said no hello within {} s",
                HELLO_WITHIN.as_secs()
            ));
        }
        Heard::Waiting
    }
}

/// One process's side of the meeting: whom it has met, and what it found wrong.
struct Meeting<'a> {
    me: usize,
    addresses: &'a [String],
    settings: &'a Settings,
    /// Our hello line, newline included.
    hello: String,
    deadline: Instant,
    listener: TcpListener,
    peers: BTreeMap<usize, Peer>,
    arriving: Vec<Arriving>,
    /// Settings that differ, by peer.
    problems: Vec<String>,
    /// How process 0 resumes (ours, if we are process 0).
    first: Resume,
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
    let mut meeting = Meeting::open(me, addresses, settings, resume, deadline)?;
    while !meeting.everyone_met() && meeting.problems.is_empty() && Instant::now() < deadline {
        let connected = meeting.connect_lower()?;
        let accepted = meeting.accept_higher()?;
        let heard = meeting.hear_arriving()?;
        if !(connected || accepted || heard) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    meeting.check(waited)?;
    let first = meeting.first;
    Ok((first, meeting.ready()?))
}

impl<'a> Meeting<'a> {
    /// Listens on our own address.
    fn open(
        me: usize,
        addresses: &'a [String],
        settings: &'a Settings,
        resume: Resume,
        deadline: Instant,
    ) -> Result<Meeting<'a>, Error> {
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
        Ok(Meeting {
            me,
            addresses,
            settings,
            hello: format!("{hello}\n"),
            deadline,
            listener,
            peers: BTreeMap::new(),
            arriving: Vec::new(),
            problems: Vec::new(),
            first: if me == 0 { resume } else { Resume::default() },
        })
    }

    fn everyone_met(&self) -> bool {
        self.peers.len() + 1 >= self.addresses.len()
    }

    /// Connects to every lower process not met yet: we say our hello first, then read theirs.
    /// True if one was met.
    fn connect_lower(&mut self) -> Result<bool, Error> {
        let mut met = false;
        for (j, address) in self.addresses.iter().enumerate().take(self.me) {
            if self.peers.contains_key(&j) {
                continue;
            }
            let Some(stream) = try_connect(address) else {
                continue;
            };
            let writer = clone_of(&stream)?;
            send(&writer, &self.hello)?;
            let (theirs, reader) = read_hello(stream, self.deadline)?;
            if theirs.process == 0 {
                self.first = theirs.resume;
            }
            if theirs.process != j {
                return Err(Error::Usage(format!(
                    "{address} is process {j} in this hostfile, but the process there says it is process {}: every process needs the same hostfile",
                    theirs.process
                )));
            }
            self.compare(&theirs);
            self.peers.insert(j, Peer { reader, writer });
            met = true;
        }
        Ok(met)
    }

    /// Takes every connection waiting at our address, to be heard before it hears us. True
    /// if one arrived.
    fn accept_higher(&mut self) -> Result<bool, Error> {
        let mut arrived = false;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    // Read without waiting: a silent stranger holds up nobody.
                    if stream.set_nonblocking(true).is_ok() {
                        self.arriving.push(Arriving::new(stream));
                        arrived = true;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(arrived),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was taken: the
                    // start goes on, and a real peer tries again.
                    log!("cluster: accepting a connection failed: {e}");
                    return Ok(arrived);
                }
            }
        }
    }

    /// Hears what arriving connections said: a peer's hello is answered with ours, a stranger
    /// is logged and closed. True if one was heard out.
    fn hear_arriving(&mut self) -> Result<bool, Error> {
        let mut heard_out = false;
        let mut still = Vec::with_capacity(self.arriving.len());
        for mut arriving in std::mem::take(&mut self.arriving) {
            let peer = arriving.stream.peer_addr().map(|a| a.to_string());
            match arriving.listen() {
                Heard::Waiting => still.push(arriving),
                Heard::Stranger(why) => {
                    heard_out = true;
                    log!(
                        "cluster: closed a connection from {} that is not a netwc process of this cluster: {why}",
                        peer.unwrap_or_else(|_| "an unknown address".into())
                    );
                }
                Heard::Hello(theirs, stream) => {
                    heard_out = true;
                    self.welcome(theirs, stream)?;
                }
            }
        }
        self.arriving = still;
        Ok(heard_out)
    }

    /// A higher process said its hello: check who it is, then answer with ours.
    fn welcome(&mut self, theirs: Hello, stream: TcpStream) -> Result<(), Error> {
        let process = theirs.process;
        let (me, processes) = (self.me, self.addresses.len());
        if process <= me || process >= processes || self.peers.contains_key(&process) {
            return Err(Error::Usage(format!(
                "a process that says it is process {process} connected to process {me}: every process needs the same hostfile and its own --process index"
            )));
        }
        stream
            .set_nonblocking(false)
            .map_err(|e| Error::runtime(format!("cluster handshake failed: {e}")))?;
        self.compare(&theirs);
        // Settings that differ are an error on both sides: the peer hears ours either way.
        let writer = clone_of(&stream)?;
        send(&writer, &self.hello)?;
        let reader = BufReader::new(stream);
        self.peers.insert(process, Peer { reader, writer });
        Ok(())
    }

    /// Notes how a peer's settings differ from ours.
    fn compare(&mut self, theirs: &Hello) {
        for difference in self.settings.differences(&theirs.settings) {
            self.problems
                .push(format!("process {}: {difference}", theirs.process));
        }
    }

    /// Fails if settings differ or a process never came (after waiting `waited`).
    fn check(&self, waited: Duration) -> Result<(), Error> {
        if !self.problems.is_empty() {
            return Err(Error::Usage(format!(
                "the processes of the cluster were started with different settings: {}; start every process with the same --workers, --mode, --window, --slide, batching and counting flags",
                self.problems.join("; ")
            )));
        }
        let missing: Vec<String> = (0..self.addresses.len())
            .filter(|j| *j != self.me && !self.peers.contains_key(j))
            .map(|j| format!("process {j} ({})", self.addresses[j]))
            .collect();
        if !missing.is_empty() {
            return Err(Error::runtime(format!(
                "{} never joined the cluster (waited {}): start every process with the same --hostfile and its own --process index, or wait longer with --connect-timeout",
                missing.join(", "),
                crate::duration::format_millis(waited.as_millis() as u64)
            )));
        }
        Ok(())
    }

    /// Closes the door (no one else may connect now), says `ready` to every peer and waits
    /// for theirs: the connections, in process order, as timely takes them.
    fn ready(self) -> Result<Vec<Option<TcpStream>>, Error> {
        let Meeting {
            addresses,
            listener,
            mut peers,
            ..
        } = self;
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
            // As timely's own connections are: blocking, no timeout, no delay for small
            // messages.
            stream
                .set_read_timeout(None)
                .and_then(|()| stream.set_nodelay(true))
                .map_err(|e| Error::runtime(format!("cluster connection to process {j}: {e}")))?;
            connections[j] = Some(stream);
        }
        Ok(connections)
    }
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

fn clone_of(stream: &TcpStream) -> Result<TcpStream, Error> {
    stream
        .try_clone()
        .map_err(|e| Error::runtime(format!("cluster handshake failed: {e}")))
}

fn send(mut writer: &TcpStream, hello: &str) -> Result<(), Error> {
    writer
        .write_all(hello.as_bytes())
        .map_err(|e| Error::runtime(format!("cluster handshake failed: {e}")))
}

/// Reads the hello of a lower process we connected to (at most [`MAX_HELLO`] bytes, by
/// `deadline`).
fn read_hello(
    stream: TcpStream,
    deadline: Instant,
) -> Result<(Hello, BufReader<TcpStream>), Error> {
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100));
    let _ = stream.set_read_timeout(Some(wait));
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    (&mut reader)
        .take(MAX_HELLO as u64)
        .read_until(b'\n', &mut line)
        .map_err(|e| Error::runtime(format!("cluster handshake failed: {e}")))?;
    let theirs = serde_json::from_slice::<Hello>(&line)
        .ok()
        .filter(|h: &Hello| h.magic == MAGIC)
        .ok_or_else(|| {
            Error::runtime(
                "something that is not a netwc process answered at a cluster address; check the hostfile",
            )
        })?;
    Ok((theirs, reader))
}
