//! Where lines come from: a text server, producers that connect to us, stdin, a file, files
//! that appear in a directory, Kafka, or the built-in demo generator.
//!
//! Each source runs on threads of its own, off the timely workers, so that a blocking read never
//! stalls the dataflow. Sources frame bytes into [`Chunk`](crate::vocab::Chunk)s of whole lines and send them as
//! [`Event`]s through one bounded channel: when the workers fall behind, the channel fills, the
//! reader stops reading, and TCP flow control slows the producer. Nothing is dropped.
//!
//! [`open`] does the part that can fail at once (connect, open, bind) before any thread starts,
//! so that a refused connection or a missing file is reported before the job begins.

mod demo;
mod framing;
#[cfg(feature = "kafka")]
mod kafka;
mod listen;
mod reconnect;
mod tails;
mod watch;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::Thread;

pub use demo::{Zipf, VOCABULARY};
pub use framing::{Framed, LineFramer, MAX_PENDING, READ_SIZE};
use tails::lock;
pub use tails::Tails;

use crate::config::{Source, SourceOptions, SplitRule};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::vocab::LoggedChunk;

/// Chunks that may wait between the readers and the workers; the bound is the backpressure.
pub const CHANNEL_CHUNKS: usize = 16;

/// What a source tells the workers.
#[derive(Debug)]
pub enum Event {
    /// Lines that arrived.
    Text(Framed),
    /// The source reached its end (EOF of a file, stdin, or the connected server).
    Ended,
    /// The source failed; the message says how.
    Failed(String),
}

/// Wakes the worker that ingests, which parks while it waits for data or the next batch.
#[derive(Debug, Clone, Default)]
pub struct Waker(Arc<Mutex<Option<Thread>>>);

impl Waker {
    /// Registers the calling thread as the one to wake.
    pub fn register_current(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::thread::current());
    }

    /// Wakes the registered thread, if any.
    pub fn wake(&self) {
        if let Some(thread) = self.0.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            thread.unpark();
        }
    }
}

/// The sending side of the channel, shared by every reader thread of a source.
#[derive(Debug, Clone)]
pub(crate) struct Sender {
    sender: SyncSender<Event>,
    waker: Waker,
    tails: Tails,
    metrics: Arc<Metrics>,
}

impl Sender {
    /// Sends an event, waiting while the channel is full. False when nobody listens any more.
    pub(crate) fn send(&self, event: Event) -> bool {
        let sent = self.sender.send(event).is_ok();
        self.waker.wake();
        sent
    }
}

/// What a checkpoint hands a source when a run resumes (only sources that can be read again,
/// Kafka and `--watch`, use it; the others resume from the log alone).
pub struct Resumption<'a> {
    /// Whether a checkpoint is resumed (else a first start, or no checkpoint): `--from` then
    /// applies only to what the checkpoint does not know.
    pub resumed: bool,
    /// Where each partition of a replayable source resumes (partition key → next offset).
    pub offsets: &'a BTreeMap<u64, u64>,
    /// The logged chunks to replay, in order: those logged as offsets (a replayable source's
    /// whole records) get their text from the source before it reads on.
    // Read only by the Kafka source, which the default build leaves out.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub replay: &'a mut [LoggedChunk],
    /// Filled by a replayable source: where it starts each partition that `offsets` does not
    /// hold, for the checkpoint to note before any of their records (so that a restart reads
    /// them from there, not from wherever `--from` points then).
    pub started: &'a mut BTreeMap<u64, u64>,
}

/// Connects, opens or binds `source` and starts its reader threads. The events arrive on the
/// returned receiver; `waker` is woken after each. The readers' partial lines are in the
/// returned [`Tails`]. A replayable source resumes as `resume` says.
pub fn open(
    source: &Source,
    options: SourceOptions,
    (waker, metrics): (Waker, Arc<Metrics>),
    process: usize,
    resume: Resumption<'_>,
) -> Result<(Receiver<Event>, Tails), Error> {
    let (sender, receiver) = sync_channel(CHANNEL_CHUNKS);
    let tails = Tails::new(process);
    let sender = Sender {
        sender,
        waker,
        tails: tails.clone(),
        metrics,
    };
    let split = options.split;
    match source {
        Source::Connect { host, port } if options.reconnect.is_some() => {
            let retry = options.reconnect.unwrap_or_default();
            reconnect::start(host.clone(), *port, split, retry, sender)?;
        }
        Source::Connect { host, port } => {
            let stream = connect(host, *port)?;
            spawn_reader("netwc:socket", stream, split, sender)?;
        }
        Source::Demo => {
            let address = demo::start()?;
            let stream = TcpStream::connect(address).map_err(|e| {
                Error::runtime(format!(
                    "could not connect to the demo generator at {address}: {e}"
                ))
            })?;
            spawn_reader("netwc:demo-reader", stream, split, sender)?;
        }
        Source::Listen(address) => listen::start(address, split, options.max_connections, sender)?,
        #[cfg(feature = "kafka")]
        Source::Kafka(kafka) => kafka::start(kafka, split, resume, sender)?,
        #[cfg(not(feature = "kafka"))]
        Source::Kafka(_) => {
            let _ = resume;
            return Err(Error::Usage(
                "--kafka needs a netwc built with Kafka: `cargo build --release --features kafka`"
                    .into(),
            ));
        }
        Source::Watch(watch) => watch::start(watch, split, resume, sender)?,
        Source::Stdin => spawn_reader("netwc:stdin", std::io::stdin(), split, sender)?,
        Source::File(path) => {
            let file = File::open(path).map_err(|e| {
                Error::runtime(format!("cannot read --file '{}': {e}", path.display()))
            })?;
            if file.metadata().is_ok_and(|m| m.is_dir()) {
                return Err(Error::runtime(format!(
                    "cannot read --file '{}': it is a directory; give a file (or pipe several with cat into --stdin)",
                    path.display()
                )));
            }
            spawn_reader("netwc:file", file, split, sender)?;
        }
    }
    Ok((receiver, tails))
}

/// Connects to a text server, with a message that says how to start one when none is there.
fn connect(host: &str, port: u16) -> Result<TcpStream, Error> {
    TcpStream::connect((host, port)).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::ConnectionRefused {
            format!(
                "; is a text server running there? Start one first, e.g. `nc -lk {port}`, or let producers connect to netwc with --listen"
            )
        } else {
            String::new()
        };
        Error::runtime(format!("could not connect to {host}:{port}: {e}{hint}"))
    })
}

fn spawn_reader(
    name: &str,
    input: impl Read + Send + 'static,
    split: SplitRule,
    sender: Sender,
) -> Result<(), Error> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let end = pump(input, LineFramer::new(split), &sender);
            sender.send(end);
        })
        .map_err(|e| Error::runtime(format!("could not start the reader thread: {e}")))?;
    Ok(())
}

/// Reads `input` to its end, sending each chunk of whole lines, then the partial last line.
/// Returns the event that ends the stream. A connection reset by the peer ends the stream like
/// EOF: what had arrived is counted. At a stop ([`Tails`]) it reads no more.
pub(crate) fn pump(mut input: impl Read, framer: LineFramer, sender: &Sender) -> Event {
    // One warning per process, however many connections send long words.
    static WARNED_CUT: AtomicBool = AtomicBool::new(false);
    let tail = sender.tails.register(framer);
    sender.metrics.connection(1);
    let mut buffer = vec![0; READ_SIZE];
    let end = loop {
        if sender.tails.stopping() {
            break Event::Ended;
        }
        let read = match input.read(&mut buffer) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                log!("the connection was reset by the peer; counting what arrived");
                break Event::Ended;
            }
            Err(e) => break Event::Failed(format!("reading the input failed: {e}")),
        };
        if read == 0 {
            break Event::Ended;
        }
        let mut tail = lock(&tail);
        if tail.taken() {
            // The stop took the partial line while this read waited: these bytes came after.
            break Event::Ended;
        }
        sender.metrics.read(read);
        let cut_before = tail.cut_words();
        let framed = tail.push(&buffer[..read]);
        if tail.cut_words() > cut_before && !WARNED_CUT.swap(true, Ordering::Relaxed) {
            log!(
                "warning: a word longer than {} bytes was cut to its first {} bytes (cut words are counted in --stats)",
                MAX_PENDING, MAX_PENDING
            );
        }
        // Sent under the lock: see [`Tails`].
        if let Some(framed) = framed {
            if !sender.send(Event::Text(framed)) {
                tail.take();
                break Event::Ended;
            }
        }
    };
    {
        let mut tail = lock(&tail);
        if let Some(last) = tail.take() {
            sender.send(Event::Text(last));
        }
    }
    sender.tails.unregister(&tail);
    sender.metrics.connection(-1);
    end
}
