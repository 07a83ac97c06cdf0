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
    /// How the text stands to its reader's lines: whole lines, or pieces of an over-long one.
    pub line: LineState,
    /// The reader that read it (unique in the cluster; 0 for none): the pieces of a line are
    /// kept together per reader.
    #[serde(default)]
    pub reader: u64,
    /// For a replayable source (Kafka): where the source resumes once this chunk is counted,
    /// kept in `--checkpoint`'s log with the chunk, so that a restart reads on from there.
    #[serde(default)]
    pub resume: Option<SourceOffset>,
}

/// How a chunk's text stands to its reader's lines. An over-long line is handed out in pieces
/// cut just after a word separator; its words count in the batch where the line ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineState {
    /// Whole lines (the last may lack its newline at the end of the input).
    #[default]
    Whole,
    /// Whole lines, the first of which is the rest of the reader's open line (it is then no
    /// blank line of its own).
    EndsOpenLine,
    /// Its last line does not end here: the first piece of an over-long line (whole lines may
    /// come before it).
    OpensLine,
    /// The rest of the reader's open line so far, which does not end here either.
    ContinuesLine,
    /// An empty marker for `--checkpoint`: the counts of the reader's open line so far go into
    /// this batch (as past the waiting bound), so that a snapshot covers them and the log may
    /// let them go; the line goes on in later pieces.
    CutsOpenLine,
}

impl LineState {
    /// The state of a chunk that `continues` the reader's open line and does or does not
    /// `end_mid_line`.
    pub fn of(continues: bool, ends_mid_line: bool) -> LineState {
        match (continues, ends_mid_line) {
            (false, false) => LineState::Whole,
            (true, false) => LineState::EndsOpenLine,
            (false, true) => LineState::OpensLine,
            (true, true) => LineState::ContinuesLine,
        }
    }

    /// Whether the first line is the rest of a line whose start went in an earlier chunk.
    pub fn continues_line(self) -> bool {
        matches!(
            self,
            LineState::EndsOpenLine | LineState::ContinuesLine | LineState::CutsOpenLine
        )
    }

    /// Whether the last line does not end here (a piece of an over-long line).
    pub fn ends_mid_line(self) -> bool {
        matches!(
            self,
            LineState::OpensLine | LineState::ContinuesLine | LineState::CutsOpenLine
        )
    }

    /// The three bits the checkpoint's log has kept since format 3 (continues, ends mid-line,
    /// cuts): the log's format does not change with this type.
    pub fn flags(self) -> u8 {
        match self {
            LineState::CutsOpenLine => 7,
            state => u8::from(state.continues_line()) | u8::from(state.ends_mid_line()) << 1,
        }
    }

    /// The state the log's three bits say, if they are one.
    pub fn from_flags(flags: u8) -> Option<LineState> {
        match flags & 7 {
            7 => Some(LineState::CutsOpenLine),
            bits if bits & 4 == 0 => Some(LineState::of(bits & 1 != 0, bits & 2 != 0)),
            _ => None,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_state_is_its_flags_and_back() {
        let states = [
            LineState::Whole,
            LineState::EndsOpenLine,
            LineState::OpensLine,
            LineState::ContinuesLine,
            LineState::CutsOpenLine,
        ];
        for state in states {
            assert_eq!(LineState::from_flags(state.flags()), Some(state));
            if state != LineState::CutsOpenLine {
                let of = LineState::of(state.continues_line(), state.ends_mid_line());
                assert_eq!(of, state);
            }
        }
        // The cut marker continues and does not end its line, as before.
        assert_eq!(LineState::CutsOpenLine.flags(), 7);
        for invalid in [4, 5, 6] {
            assert_eq!(LineState::from_flags(invalid), None);
        }
    }
}
