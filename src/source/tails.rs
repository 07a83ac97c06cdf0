//! The readers' partial last lines, so that a stop (a signal, `--duration`, `--batches`)
//! counts every byte already read, as the end of the input does.
//!
//! Each reader frames its bytes, and sends what it framed, while holding its own [`Tail`]'s
//! lock; it never holds it while it waits for bytes. So whoever holds the lock knows that
//! everything before the partial line is in the channel. A stop first tells the readers to read
//! no more ([`Tails::stop`]); each then hands over its partial line itself, or (if it is waiting
//! for bytes) the stop takes it. The bytes of a read that returns after its tail was taken came
//! after the stop, and are not counted.
//!
//! Every reader has an id, unique in the cluster, that its chunks carry: the pieces of an
//! over-long line are kept together per reader, whatever other readers send between them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{Framed, LineFramer};

/// The tails of the readers now reading.
#[derive(Debug, Clone)]
pub struct Tails(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    readers: Mutex<Vec<Arc<Mutex<Tail>>>>,
    stopping: AtomicBool,
    next_reader: AtomicU64,
}

/// One reader's framer, and whether a stop has taken its partial line.
#[derive(Debug)]
pub struct Tail {
    framer: LineFramer,
    reader: u64,
    taken: bool,
}

impl Tail {
    /// Takes the partial line (as the end of the input would), and makes the reader drop
    /// whatever it reads later.
    pub fn take(&mut self) -> Option<Framed> {
        if std::mem::replace(&mut self.taken, true) {
            return None;
        }
        self.framer.finish().map(|framed| self.mark(framed))
    }

    /// Whether the partial line was taken.
    pub fn taken(&self) -> bool {
        self.taken
    }

    /// Frames `bytes`: the chunk of whole lines they completed, if any.
    pub fn push(&mut self, bytes: &[u8]) -> Option<Framed> {
        self.framer.push(bytes).map(|framed| self.mark(framed))
    }

    /// Words cut to the length limit so far.
    pub fn cut_words(&self) -> u64 {
        self.framer.cut_words()
    }

    fn mark(&self, mut framed: Framed) -> Framed {
        framed.chunk.reader = self.reader;
        framed
    }
}

impl Tails {
    /// The tails of process `process`'s readers; their ids start at `process · 2^32 + 1`.
    pub fn new(process: usize) -> Tails {
        Tails(Arc::new(Shared {
            readers: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            next_reader: AtomicU64::new(((process as u64) << 32) + 1),
        }))
    }

    /// A new reader's tail.
    pub(crate) fn register(&self, framer: LineFramer) -> Arc<Mutex<Tail>> {
        let tail = Arc::new(Mutex::new(Tail {
            framer,
            reader: self.new_reader(),
            taken: false,
        }));
        lock(&self.0.readers).push(tail.clone());
        tail
    }

    /// A new reader's id, for a reader that keeps its partial line to itself (a stop does not
    /// count it: `--watch` reads it again from the file after a restart).
    pub(crate) fn new_reader(&self) -> u64 {
        self.0.next_reader.fetch_add(1, Ordering::Relaxed)
    }

    /// A reader is done.
    pub(crate) fn unregister(&self, tail: &Arc<Mutex<Tail>>) {
        lock(&self.0.readers).retain(|t| !Arc::ptr_eq(t, tail));
    }

    /// The run stops: readers read no more, and hand over their partial lines.
    pub fn stop(&self) {
        self.0.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether the run stops.
    pub(crate) fn stopping(&self) -> bool {
        self.0.stopping.load(Ordering::SeqCst)
    }

    /// The tails of the readers now reading.
    pub fn current(&self) -> Vec<Arc<Mutex<Tail>>> {
        lock(&self.0.readers).clone()
    }
}

/// Locks a mutex whose holder may have panicked: the data is still consistent here (every
/// holder only appends or flips a flag).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
