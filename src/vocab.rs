//! The job's vocabulary: the few types that every layer names — a batch's number, a word's
//! id and text, a chunk of lines and where it came from, a chunk as the checkpoint logged it.
//!
//! They live here, in a leaf that imports nothing of the crate, so that the sources, the
//! dataflow, the tables and the checkpoint can all speak of them without importing each other
//! (the sources know nothing of timely; the dataflow nothing of sockets).

use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

/// A batch's number in the dataflow (a timely timestamp).
pub type Epoch = u64;

/// A word's text, shared between a worker's dictionary and worker 0's table.
pub type Word = std::sync::Arc<str>;

/// A word's id: differential's key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WordId(u64);

impl WordId {
    /// The id whose bits are `bits` (the job's word key hashes words to them).
    pub(crate) const fn from_bits(bits: u64) -> WordId {
        WordId(bits)
    }

    /// The id's bits: ids order by them, and they are uniform (a table takes them as its
    /// hash, and a sort buckets by their top bits).
    pub fn high(&self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for WordId {
    /// The id as 16 hexadecimal digits.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Hash for WordId {
    /// The id: a keyed hash, so a sender cannot aim words at one worker. (The exchange mixes
    /// it again, so that which worker counts a word does not follow its top bits, by which
    /// each worker's tables place it.)
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// Whole lines of text (each ended by `\n`, except possibly the last), the unit of work that
/// is spread over the workers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The bytes, as read: not yet decoded, CR not yet stripped.
    pub text: Vec<u8>,
    /// True when the first line of `text` is the rest of a line whose start was handed out in
    /// an earlier chunk (a cut over-long line); it is then no blank line of its own.
    pub continues_line: bool,
    /// True when the last line of `text` does not end there: the chunk is a piece of an
    /// over-long line, cut just after a word separator.
    pub ends_mid_line: bool,
    /// The reader that read it (unique in the cluster; 0 for none): the pieces of a line are
    /// kept together per reader.
    #[serde(default)]
    pub reader: u64,
    /// True for an empty chunk that cuts the reader's open line for `--checkpoint`: the counts
    /// of its pieces so far go into this batch (as past the waiting bound), so that a snapshot
    /// covers them and the log may let them go; the line goes on in later pieces.
    #[serde(default)]
    pub cuts_line: bool,
    /// For a replayable source (Kafka): where the source resumes once this chunk is counted,
    /// kept in `--checkpoint`'s log with the chunk, so that a restart reads on from there.
    #[serde(default)]
    pub resume: Option<SourceOffset>,
}

impl Chunk {
    /// How the chunk stands to its reader's lines (its three flags, read as one).
    pub fn line_part(&self) -> LinePart {
        if self.cuts_line {
            LinePart::CutsOpenLine
        } else if self.ends_mid_line {
            LinePart::Piece
        } else {
            LinePart::Lines {
                ends_open_line: self.continues_line,
            }
        }
    }
}

/// How a chunk stands to its reader's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinePart {
    /// An empty marker: the counts of the reader's open line so far go into this batch (for
    /// `--checkpoint`, so that a snapshot covers them); the line goes on in later pieces.
    CutsOpenLine,
    /// A piece of an over-long line that has not ended: its words count where the line ends.
    Piece,
    /// Lines that end here; with `ends_open_line`, the first of them finishes a line whose
    /// pieces went before.
    Lines {
        /// The first line is the end of the reader's open line.
        ends_open_line: bool,
    },
}

/// Where a chunk of a replayable source's partition came from, and where the partition resumes
/// after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceOffset {
    /// The partition, as a key stable across runs (topic index << 32 | partition).
    pub partition: u64,
    /// The offset the chunk's records start at, when it holds every record of offsets
    /// `from..next` (gaps allowed), so that it can be read again from the source; `None` for
    /// the last piece of a chunk cut where a line batch ended, which holds only some of them.
    pub from: Option<u64>,
    /// The offset of the next record to read.
    pub next: u64,
}

/// A chunk as the checkpoint's log holds it: the batch it went into and how many lines end in
/// it, so that a restart replays it into the same batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoggedChunk {
    /// The batch the chunk was fed into.
    pub epoch: Epoch,
    /// Lines that end in the chunk.
    pub lines: u64,
    /// The chunk (for a replayable source's whole records, text filled in on restore).
    pub chunk: Chunk,
}
