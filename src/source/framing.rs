//! Cutting a byte stream into chunks of whole lines, with bounded memory.
//!
//! A reader pours bytes into a [`LineFramer`]; it hands out [`Chunk`]s that end on a line
//! boundary, so that each chunk can be split into words on any worker. The partial line at the
//! end stays behind until its newline arrives, or until [`LineFramer::finish`] at end of input,
//! where it counts as a line (as Java's `readLine` does).
//!
//! A line longer than [`MAX_PENDING`] bytes is not held whole: it is handed out in pieces cut
//! just after a word separator, so that splitting each piece gives exactly the words of the
//! whole line. Only a single word longer than the limit is cut: its first `MAX_PENDING` bytes
//! are counted as the word and the rest of it is skipped, and [`LineFramer::cut_words`] says
//! how often that happened.
//!
//! One case is not exact: with Spark's rule, a run of more than `MAX_PENDING` spaces inside a
//! line is handed on in pieces before it is known whether a word follows it, so if the line
//! ends right after such a run, its spaces count as empty words although Java would drop them
//! as trailing. Runs of spaces shorter than the limit, and every other input, are exact.

use crate::config::SplitRule;
use crate::lines::{count_line_ends, last_line_end};
use crate::vocab::{Chunk, LineState};

/// The most bytes of one line that are held before a piece of it is handed out; also the
/// longest word that is counted whole.
pub const MAX_PENDING: usize = 256 * 1024;

/// How much is read from the source at a time.
pub const READ_SIZE: usize = 64 * 1024;

/// A chunk and how many lines end in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Framed {
    /// The text.
    pub chunk: Chunk,
    /// Lines that end in this chunk (a piece of a cut line ends none).
    pub lines: u64,
    /// Words that were cut to the length limit in this chunk.
    pub cut_words: u64,
}

/// Turns reads into chunks of whole lines.
#[derive(Debug)]
pub struct LineFramer {
    /// Bytes read but not yet handed out: always a partial line.
    pending: Vec<u8>,
    /// Whether `pending` continues a line that was partly handed out.
    pending_continues: bool,
    /// The last chunk handed out ended with a `\r`: a `\n` that comes next belongs to it.
    after_cr: bool,
    /// Inside an over-long word, dropping bytes until the next separator.
    skipping_word: bool,
    /// Which bytes separate words, so that a long line is cut between words.
    split: SplitRule,
    /// Longest piece held; [`MAX_PENDING`] except in tests.
    limit: usize,
    /// Words cut because they were longer than the limit.
    cut_words: u64,
}

impl LineFramer {
    /// A framer that cuts over-long lines between the words of `split`.
    pub fn new(split: SplitRule) -> LineFramer {
        LineFramer::with_limit(split, MAX_PENDING)
    }

    /// A framer with a smaller limit, to test long lines with short inputs.
    pub fn with_limit(split: SplitRule, limit: usize) -> LineFramer {
        LineFramer {
            pending: Vec::with_capacity(READ_SIZE),
            pending_continues: false,
            after_cr: false,
            skipping_word: false,
            split,
            limit: limit.max(8),
            cut_words: 0,
        }
    }

    /// Words cut so far because they exceeded the limit.
    pub fn cut_words(&self) -> u64 {
        self.cut_words
    }

    /// Bytes pushed but not yet handed out (a partial line): a reader that resumes at a byte
    /// offset resumes this far before what it has read.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Adds bytes; returns the chunk of whole lines they completed, if any.
    pub fn push(&mut self, mut bytes: &[u8]) -> Option<Framed> {
        if let Some(&first) = bytes.first() {
            if std::mem::take(&mut self.after_cr) && first == b'\n' {
                bytes = &bytes[1..];
            }
        }
        let start = self.pending.len();
        self.pending.extend_from_slice(bytes);
        self.take_from(start)
    }

    /// End of input: the partial last line, if any, as a chunk that counts it as a line. A line
    /// whose last piece was already handed out is counted by an empty chunk.
    pub fn finish(&mut self) -> Option<Framed> {
        self.skipping_word = false;
        let continues_line = std::mem::take(&mut self.pending_continues);
        if self.pending.is_empty() && !continues_line {
            return None;
        }
        Some(Framed {
            chunk: Chunk {
                text: std::mem::take(&mut self.pending),
                line: LineState::of(continues_line, false),
                reader: 0,
                resume: None,
            },
            lines: 1,
            cut_words: 0,
        })
    }

    /// Hands out what `pending` holds of whole lines, given that bytes from `new_from` on are new.
    fn take_from(&mut self, new_from: usize) -> Option<Framed> {
        if self.skipping_word {
            self.skip_rest_of_word(new_from);
        }
        match last_line_end(&self.pending, new_from.min(self.pending.len())) {
            Some(end) => {
                let lines = count_line_ends(&self.pending[..end]);
                let rest = self.pending[end..].to_vec();
                let mut text = std::mem::replace(&mut self.pending, rest);
                text.truncate(end);
                let continues_line = std::mem::take(&mut self.pending_continues);
                self.after_cr = self.pending.is_empty() && text.last() == Some(&b'\r');
                // The rest may itself be over-long; it is cut on the next read.
                Some(Framed {
                    chunk: Chunk {
                        text,
                        line: LineState::of(continues_line, false),
                        reader: 0,
                        resume: None,
                    },
                    lines,
                    cut_words: 0,
                })
            }
            None if self.pending.len() >= self.limit => self.cut_long_line(),
            None => None,
        }
    }

    /// `pending` holds no newline and has reached the limit: hands out a piece of it that
    /// ends between words, or cuts a word that alone is longer than the limit.
    ///
    /// Every piece ends in a separator, so the word after the cut starts the next piece. In
    /// Spark's rule the empty words between spaces count, so the cut is made just before a
    /// non-space that follows a space: the empty word after the piece's last space is then
    /// the start of the next piece's first word, and the tokenizer leaves it out
    /// ([`LineState::OpensLine`]).
    fn cut_long_line(&mut self) -> Option<Framed> {
        let continues_line = std::mem::replace(&mut self.pending_continues, true);
        let bytes = &self.pending;
        let cut = match self.split {
            // Not after a CR at the very end: a `\n` may follow, and the two are one line end.
            SplitRule::Whitespace => (0..bytes.len())
                .rev()
                .find(|&at| {
                    bytes[at].is_ascii_whitespace() && (bytes[at], at + 1) != (b'\r', bytes.len())
                })
                .map(|at| at + 1),
            SplitRule::Spark => (1..bytes.len())
                .rev()
                // Not before a CR: it may be the end of the line, stripped, and then the spaces
                // before it were trailing.
                .find(|&at| bytes[at - 1] == b' ' && !matches!(bytes[at], b' ' | b'\r'))
                .or_else(|| bytes.iter().rposition(|&b| b == b' ').map(|at| at + 1)),
        };
        let mut cut_words = 0;
        let text = match cut {
            Some(cut) => {
                let rest = self.pending[cut..].to_vec();
                let mut text = std::mem::replace(&mut self.pending, rest);
                text.truncate(cut);
                text
            }
            None => {
                // One word longer than the limit: its first `limit` bytes (cut on a character
                // boundary) are the word, and the rest of it is skipped.
                let mut end = self.limit.min(self.pending.len());
                while end > 0 && end < self.pending.len() && (self.pending[end] & 0xC0) == 0x80 {
                    end -= 1;
                }
                self.cut_words += 1;
                cut_words = 1;
                self.skipping_word = true;
                let mut text = std::mem::take(&mut self.pending);
                text.truncate(end);
                text.push(b' ');
                text
            }
        };
        Some(Framed {
            chunk: Chunk {
                text,
                line: LineState::of(continues_line, true),
                reader: 0,
                resume: None,
            },
            lines: 0,
            cut_words,
        })
    }

    /// Drops the bytes of an over-long word up to its end (a separator or newline).
    fn skip_rest_of_word(&mut self, from: usize) {
        let is_end = |b: &u8| match self.split {
            SplitRule::Whitespace => b.is_ascii_whitespace(),
            SplitRule::Spark => matches!(*b, b' ' | b'\n' | b'\r'),
        };
        match self.pending[from..].iter().position(is_end) {
            Some(at) => {
                // Spark's rule: the space that ends the word goes with it, or the next piece
                // would start with an empty word that the line does not have.
                let through = from
                    + at
                    + usize::from(
                        self.pending[from + at] == b' ' && self.split == SplitRule::Spark,
                    );
                self.pending.drain(from..through);
                self.skipping_word = false;
            }
            None => self.pending.truncate(from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::{split_like_java, StopWords, Tokenizer};

    /// Feeds `input` in pieces of `piece` bytes; returns every chunk and the total line count.
    fn frame(split: SplitRule, limit: usize, input: &[u8], piece: usize) -> (Vec<Chunk>, u64) {
        let mut framer = LineFramer::with_limit(split, limit);
        let mut chunks = Vec::new();
        let mut lines = 0;
        for part in input.chunks(piece) {
            if let Some(framed) = framer.push(part) {
                lines += framed.lines;
                chunks.push(framed.chunk);
            }
        }
        if let Some(framed) = framer.finish() {
            lines += framed.lines;
            chunks.push(framed.chunk);
        }
        (chunks, lines)
    }

    fn words_of_chunks(split: SplitRule, chunks: &[Chunk]) -> Vec<String> {
        let tokenizer = Tokenizer::new(split, false, StopWords::default());
        let mut words = Vec::new();
        for chunk in chunks {
            tokenizer.for_each_word(chunk, |w| words.push(w.to_string()));
        }
        words
    }

    /// The reference: split the whole input into lines, then each line by the rule.
    fn words_of_lines(split: SplitRule, input: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut lines: Vec<&str> = input.split('\n').collect();
        if lines.last() == Some(&"") {
            lines.pop();
        }
        for line in lines {
            let line = line.strip_suffix('\r').unwrap_or(line);
            match split {
                SplitRule::Whitespace => words.extend(line.split_whitespace().map(String::from)),
                SplitRule::Spark => {
                    split_like_java(line, false, false, &mut |w| words.push(w.to_string()))
                }
            }
        }
        words
    }

    /// Seeded text with long lines, runs of spaces, blank lines and CRLF; no word is longer
    /// than 12 bytes.
    fn text(seed: u64, lines: usize) -> String {
        let mut rng = crate::test_rng::TestRng::new(seed);
        let mut next = move |n: u64| rng.below(n);
        let mut out = String::new();
        for _ in 0..lines {
            let words = next(40);
            for i in 0..words {
                for _ in 0..u64::from(i > 0) + next(3) {
                    out.push(' ');
                }
                for _ in 0..1 + next(12) {
                    out.push((b'a' + next(3) as u8) as char);
                }
            }
            for _ in 0..next(3) {
                out.push(' ');
            }
            out.push_str(if next(5) == 0 { "\r\n" } else { "\n" });
        }
        out
    }

    #[test]
    fn lines_are_whole_and_counted_whatever_the_read_boundaries() {
        let input = "a b\nc\n\nlast";
        for piece in 1..=input.len() {
            let (chunks, lines) =
                frame(SplitRule::Whitespace, MAX_PENDING, input.as_bytes(), piece);
            assert_eq!(lines, 4, "piece {piece}");
            for chunk in &chunks[..chunks.len() - 1] {
                assert_eq!(chunk.text.last(), Some(&b'\n'), "piece {piece}");
            }
            let all: Vec<u8> = chunks.iter().flat_map(|c| c.text.clone()).collect();
            assert_eq!(all, input.as_bytes());
        }
    }

    #[test]
    fn a_lone_cr_at_the_end_of_a_read_ends_its_line_at_once() {
        let mut framer = LineFramer::new(SplitRule::Whitespace);
        // Nothing follows yet: the line is handed out now, not when the next byte comes.
        let first = framer.push(b"a b\r").expect("the line ended");
        assert_eq!(
            (first.chunk.text.as_slice(), first.lines),
            (&b"a b\r"[..], 1)
        );
        // The LF of a CRLF cut between two reads is no second line end.
        let second = framer.push(b"\nc\r").expect("the line ended");
        assert_eq!(
            (second.chunk.text.as_slice(), second.lines),
            (&b"c\r"[..], 1)
        );
        // A lone CR then another byte: that byte starts the next line.
        assert!(framer.push(b"d").is_none());
        let last = framer.finish().expect("the last line");
        assert_eq!((last.chunk.text.as_slice(), last.lines), (&b"d"[..], 1));
    }

    #[test]
    fn long_lines_cut_between_words_give_the_same_words() {
        for split in [SplitRule::Whitespace, SplitRule::Spark] {
            for seed in 0..20 {
                let input = text(seed, 30);
                for (limit, piece) in [(16, 5), (40, 7), (64, 64), (100, 3)] {
                    let (chunks, lines) = frame(split, limit, input.as_bytes(), piece);
                    assert_eq!(lines, 30);
                    assert_eq!(
                        words_of_chunks(split, &chunks),
                        words_of_lines(split, &input),
                        "{split:?} seed {seed} limit {limit} piece {piece}"
                    );
                    let longest = chunks.iter().map(|c| c.text.len()).max().unwrap_or(0);
                    assert!(
                        longest <= limit + piece + 12,
                        "memory stays bounded: {longest}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_word_longer_than_the_limit_is_cut_and_counted() {
        for split in [SplitRule::Whitespace, SplitRule::Spark] {
            let long = "x".repeat(100);
            let input = format!("a {long} b\nc\n");
            let mut framer = LineFramer::with_limit(split, 16);
            let mut chunks = Vec::new();
            for part in input.as_bytes().chunks(10) {
                chunks.extend(framer.push(part).map(|f| f.chunk));
            }
            chunks.extend(framer.finish().map(|f| f.chunk));
            assert_eq!(framer.cut_words(), 1);
            assert_eq!(
                words_of_chunks(split, &chunks),
                ["a", &"x".repeat(16), "b", "c"],
                "{split:?}"
            );
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::tokenize::{split_like_java, StopWords, Tokenizer};

    /// Frames `input` read in pieces of the given sizes, then splits every chunk into words.
    fn framed_words(
        split: SplitRule,
        limit: usize,
        input: &[u8],
        pieces: &[usize],
    ) -> (Vec<String>, u64) {
        let mut framer = LineFramer::with_limit(split, limit);
        let tokenizer = Tokenizer::new(split, false, StopWords::default());
        let mut words = Vec::new();
        let mut lines = 0;
        let mut rest = input;
        let mut sizes = pieces.iter().cycle();
        let mut take = |framed: Option<Framed>, words: &mut Vec<String>| {
            if let Some(framed) = framed {
                lines += framed.lines;
                tokenizer.for_each_word(&framed.chunk, |w| words.push(w.to_string()));
            }
        };
        while !rest.is_empty() {
            let size = (*sizes.next().unwrap()).clamp(1, rest.len());
            take(framer.push(&rest[..size]), &mut words);
            rest = &rest[size..];
        }
        take(framer.finish(), &mut words);
        (words, lines)
    }

    /// Lines as Java's `BufferedReader.readLine` reads them: each ends at `\n`, `\r\n` or a
    /// lone `\r`; a last line without an end is a line.
    fn java_lines(input: &[u8]) -> Vec<&[u8]> {
        let mut lines = Vec::new();
        let (mut start, mut at) = (0, 0);
        while at < input.len() {
            match input[at] {
                b'\n' | b'\r' => {
                    lines.push(&input[start..at]);
                    at += if input[at..].starts_with(b"\r\n") {
                        2
                    } else {
                        1
                    };
                    start = at;
                }
                _ => at += 1,
            }
        }
        if start < input.len() {
            lines.push(&input[start..]);
        }
        lines
    }

    /// The reference: Java's lines, decoded lossily one by one, split.
    fn reference_words(split: SplitRule, input: &[u8]) -> (Vec<String>, u64) {
        let lines = java_lines(input);
        let mut words = Vec::new();
        for line in &lines {
            let text = String::from_utf8_lossy(line);
            match split {
                SplitRule::Whitespace => words.extend(text.split_whitespace().map(String::from)),
                SplitRule::Spark => {
                    split_like_java(&text, false, false, &mut |w| words.push(w.to_string()))
                }
            }
        }
        (words, lines.len() as u64)
    }

    fn splits() -> impl Strategy<Value = SplitRule> {
        prop_oneof![Just(SplitRule::Whitespace), Just(SplitRule::Spark)]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Any bytes, read in any pieces: the same lines and words as the reference.
        #[test]
        fn any_bytes_any_read_boundaries(
            split in splits(),
            input in proptest::collection::vec(
                prop_oneof![
                    4 => prop::sample::select(b"ab \n\r\t".to_vec()),
                    1 => any::<u8>(),
                ],
                0..600,
            ),
            pieces in proptest::collection::vec(1usize..80, 1..8),
        ) {
            prop_assert_eq!(framed_words(split, 1 << 16, &input, &pieces), reference_words(split, &input));
        }

        /// Lines far longer than the limit, made of short words: cutting them changes nothing.
        #[test]
        fn long_lines_of_short_words(
            split in splits(),
            tokens in proptest::collection::vec(
                (
                    prop::sample::select(vec!["a", "bb", "ccc", "é"]),
                    prop::sample::select(vec![" ", "  ", "   ", "\r\n", "\n", " \n", "\r", " \r"]),
                ),
                0..200,
            ),
            pieces in proptest::collection::vec(1usize..50, 1..8),
        ) {
            let input: String = tokens.iter().map(|(word, gap)| format!("{word}{gap}")).collect();
            // Words here are at most 4 bytes and runs of spaces at most 3 (see the module docs
            // for longer runs); the limit is far below most lines.
            prop_assert_eq!(
                framed_words(split, 12, input.as_bytes(), &pieces),
                reference_words(split, input.as_bytes())
            );
        }
    }
}
