//! The counts of lines whose pieces arrived before their end, on the worker that gets all of a
//! line's pieces: a line counts in the batch its end arrived in, so its words wait here.
//!
//! What waits is bounded twice: one line's counts by [`MAX_CARRIED_BYTES`], and all lines' on
//! a worker together by [`MAX_WAITING_BYTES`], whatever the number of producers holding lines
//! open. Past a bound, the counts so far of the line (of the largest line) go into the batch
//! where they arrived, and the rest of that line waits afresh.

use std::collections::{BTreeMap, HashMap};

use foldhash::fast::RandomState;

use super::Word;
use crate::stats::EpochTally;
use crate::tokenize::Tokenizer;
use crate::vocab::Chunk;

/// The most memory (bytes of distinct words, with [`WAITING_WORD_OVERHEAD`] each) that the
/// counts of one unfinished line may take while they wait for its end (64 pieces' worth).
pub const MAX_CARRIED_BYTES: usize = 64 * crate::source::MAX_PENDING;

/// The most memory that the waiting counts of all unfinished lines may take on one worker.
pub const MAX_WAITING_BYTES: usize = 32 << 20;

/// What a waiting distinct word costs beside its text: its entry in the line's table and its
/// shared text's header.
const WAITING_WORD_OVERHEAD: usize = 64;

/// The counts of one line's pieces so far.
#[derive(Default)]
pub struct OpenLine {
    /// Each distinct word's count.
    pub counts: HashMap<Word, isize, RandomState>,
    /// The memory `counts` takes: its words' bytes, with [`WAITING_WORD_OVERHEAD`] each.
    bytes: usize,
    /// What the pieces held.
    pub tally: EpochTally,
}

/// The open lines of one worker, by reader.
#[derive(Default)]
pub struct OpenLines {
    lines: BTreeMap<u64, OpenLine>,
    /// The memory all of `lines` take.
    bytes: usize,
}

impl OpenLines {
    /// Adds the words of `chunk`, a piece of its reader's open line. Returns counts that may
    /// wait no longer (the line's, or the largest line's), to go into the current batch.
    pub fn add_piece(&mut self, chunk: &Chunk, tokenizer: &Tokenizer) -> Option<OpenLine> {
        let line = self.lines.entry(chunk.reader).or_default();
        let before = line.bytes;
        let seen = tokenizer.for_each_word(chunk, |word| match line.counts.get_mut(word) {
            Some(count) => *count += 1,
            None => {
                line.bytes += word.len() + WAITING_WORD_OVERHEAD;
                line.counts.insert(Word::from(word), 1);
            }
        });
        line.tally += seen;
        self.bytes += line.bytes - before;
        let flush = if line.bytes > MAX_CARRIED_BYTES {
            Some(chunk.reader)
        } else if self.bytes > MAX_WAITING_BYTES {
            let largest = self.lines.iter().max_by_key(|(_, line)| line.bytes);
            largest.map(|(&reader, _)| reader)
        } else {
            None
        };
        flush.and_then(|reader| self.end(reader))
    }

    /// The counts of `reader`'s line, which ended.
    pub fn end(&mut self, reader: u64) -> Option<OpenLine> {
        let line = self.lines.remove(&reader)?;
        self.bytes -= line.bytes;
        Some(line)
    }

    /// The memory the waiting counts take.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SplitRule;
    use crate::tokenize::StopWords;

    #[test]
    fn many_open_lines_together_stay_within_the_budget_and_lose_no_word() {
        let tokenizer = Tokenizer::new(SplitRule::Whitespace, false, StopWords::default());
        let mut open = OpenLines::default();
        let (mut fed, mut flushed) = (0isize, 0isize);
        // 200 readers, each a line of fresh words in pieces of 2,000 words.
        for piece in 0..40 {
            for reader in 0..200u64 {
                let words: Vec<String> = (0..2000)
                    .map(|j| format!("r{reader}p{piece}w{j}"))
                    .collect();
                let chunk = Chunk {
                    text: words.join(" ").into_bytes(),
                    line: crate::vocab::LineState::OpensLine,
                    reader,
                    ..Chunk::default()
                };
                fed += 2000;
                if let Some(line) = open.add_piece(&chunk, &tokenizer) {
                    flushed += line.counts.values().sum::<isize>();
                }
                assert!(open.bytes() <= MAX_WAITING_BYTES + MAX_CARRIED_BYTES);
            }
        }
        assert!(flushed > 0, "the budget was reached");
        let waiting: isize = (0..200)
            .filter_map(|reader| open.end(reader))
            .map(|line| line.counts.values().sum::<isize>())
            .sum();
        assert_eq!(flushed + waiting, fed);
        assert_eq!(open.bytes(), 0);
    }
}
