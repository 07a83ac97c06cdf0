//! Lines to words: the split rule, case folding and stop words.
//!
//! Runs on every worker, over the [`Chunk`]s that worker was given. Bytes are decoded lossily
//! (invalid UTF-8 becomes U+FFFD, as Spark's decoder does), lines end at `\n`, `\r\n` or a
//! lone `\r` (as Java's `readLine` ends them), and NUL is an ordinary character.

use std::borrow::Cow;
use std::collections::HashSet;

use foldhash::fast::RandomState;

use crate::config::SplitRule;
use crate::lines::split_lines;
use crate::vocab::Chunk;

/// Words to drop, compared after case folding.
pub type StopWords = HashSet<String, RandomState>;

/// What one chunk held, besides its counted words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenTally {
    /// Words counted.
    pub words: u64,
    /// Words dropped as stop words.
    pub stopped: u64,
}

impl std::ops::AddAssign<TokenTally> for crate::stats::EpochTally {
    fn add_assign(&mut self, seen: TokenTally) {
        self.words += seen.words;
        self.stopped += seen.stopped;
    }
}

/// Cuts lines into the words that are counted.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    split: SplitRule,
    lowercase: bool,
    stop_words: StopWords,
}

impl Tokenizer {
    /// A tokenizer for `split`, folding case if `lowercase`, dropping `stop_words` (which are
    /// folded too when `lowercase` is set, so that `The` in the list drops `the`).
    pub fn new(split: SplitRule, lowercase: bool, stop_words: StopWords) -> Tokenizer {
        let stop_words = if lowercase {
            stop_words.into_iter().map(|w| w.to_lowercase()).collect()
        } else {
            stop_words
        };
        Tokenizer {
            split,
            lowercase,
            stop_words,
        }
    }

    /// Calls `word` for each word of `chunk` that is counted, and tallies them.
    pub fn for_each_word(&self, chunk: &Chunk, mut word: impl FnMut(&str)) -> TokenTally {
        let text = Tokenizer::text(chunk);
        self.for_each_word_in(&text, chunk, |counted| word(&counted))
    }

    /// `chunk`'s text: valid UTF-8 (the usual case) borrowed, checked by the standard library's
    /// fast validator; invalid bytes replaced (U+FFFD, as Java's decoder does).
    pub fn text(chunk: &Chunk) -> Cow<'_, str> {
        match std::str::from_utf8(&chunk.text) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(&chunk.text),
        }
    }

    /// Calls `word` for each word of `text` (`chunk`'s, from [`Tokenizer::text`]) that is
    /// counted, borrowed from `text` unless lowercasing changed it, and tallies them: a caller
    /// may keep the words as long as `text`.
    pub fn for_each_word_in<'t>(
        &self,
        text: &'t str,
        chunk: &Chunk,
        mut word: impl FnMut(Cow<'t, str>),
    ) -> TokenTally {
        let mut tally = TokenTally::default();
        let mut emit = |raw: &'t str| {
            let folded = self.fold(raw);
            if !self.stop_words.is_empty() && self.stop_words.contains(folded.as_ref()) {
                tally.stopped += 1;
            } else {
                tally.words += 1;
                word(folded);
            }
        };
        match self.split {
            // Newlines and CRs are white space too, so the whole chunk splits at once. ASCII
            // text takes the faster ASCII splitter, unless it holds a vertical tab: Unicode
            // counts that as white space, the ASCII splitter does not.
            SplitRule::Whitespace => {
                if text.is_ascii() && !text.as_bytes().contains(&0x0B) {
                    for_each_ascii_word(text, &mut emit)
                } else {
                    text.split_whitespace().for_each(&mut emit)
                }
            }
            SplitRule::Spark => {
                let mut lines = split_lines(text).peekable();
                let mut first = true;
                while let Some(line) = lines.next() {
                    let continues = first && chunk.line.continues_line();
                    let ends_mid_line = chunk.line.ends_mid_line() && lines.peek().is_none();
                    first = false;
                    split_like_java(line, continues, ends_mid_line, &mut emit);
                }
            }
        }
        tally
    }

    #[inline(always)]
    fn fold<'a>(&self, word: &'a str) -> Cow<'a, str> {
        if self.lowercase {
            Self::lowercased(word)
        } else {
            Cow::Borrowed(word)
        }
    }

    /// `word` in lower case (borrowed if it is already).
    #[inline(never)]
    fn lowercased(word: &str) -> Cow<'_, str> {
        if word.is_ascii() {
            if word.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(word.to_ascii_lowercase())
            } else {
                Cow::Borrowed(word)
            }
        } else {
            Cow::Owned(word.to_lowercase())
        }
    }
}

/// What `str::split_ascii_whitespace` gives, faster: the maximal runs of bytes of `text` that
/// are not ASCII white space (space, `\t`, `\n`, `\x0C`, `\r`). A word's end is looked for 8
/// bytes at a time: one test says whether any of them is below `!` (white space is; so are
/// other control characters, which a byte-wise check then steps over), where the standard
/// splitter tests byte by byte. Splitting at ASCII bytes keeps every piece valid UTF-8.
#[inline(always)]
fn for_each_ascii_word<'t>(text: &'t str, mut each: impl FnMut(&'t str)) {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut i = 0;
    loop {
        while i < n && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == n {
            return;
        }
        let start = i;
        i += 1;
        'word: {
            while i + 8 <= n {
                let block = u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
                // The lowest flagged byte is the first below 0x21 (bytes are ASCII; borrows
                // only flag bytes above a true one).
                let below = block.wrapping_sub(ONES * 0x21) & !block & HIGHS;
                if below == 0 {
                    i += 8;
                    continue;
                }
                i += (below.trailing_zeros() / 8) as usize;
                if bytes[i].is_ascii_whitespace() {
                    break 'word;
                }
                i += 1;
            }
            while i < n && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
        }
        // `start` and `i` are at ASCII bytes (or the end): char boundaries, which the slice
        // checks in two byte compares.
        each(&text[start..i]);
    }
}

/// Java's `line.split(" ")`: single spaces separate words, so two spaces make an empty word;
/// trailing empty words are dropped, and a line with no space at all (the empty line too) is
/// one word.
///
/// `continues` and `ends_mid_line` say that `line` is a piece of a longer line cut just after a
/// space (see the framer): a continued empty piece is no blank line, and a piece that ends mid
/// line neither drops its trailing empty words (the line goes on) nor counts the empty word
/// after its last space (it is the start of the next piece's first word).
///
/// ```
/// let mut words = Vec::new();
/// netwc::parts::split_like_java("a  b ", false, false, &mut |w| words.push(w.to_string()));
/// assert_eq!(words, ["a", "", "b"]); // as Java's "a  b ".split(" ")
/// ```
pub fn split_like_java<'t>(
    line: &'t str,
    continues: bool,
    ends_mid_line: bool,
    emit: &mut impl FnMut(&'t str),
) {
    if line.is_empty() {
        if !continues {
            emit("");
        }
        return;
    }
    let mut pending_empty = 0usize;
    for word in line.split(' ') {
        if word.is_empty() {
            pending_empty += 1;
        } else {
            for _ in 0..pending_empty {
                emit("");
            }
            pending_empty = 0;
            emit(word);
        }
    }
    if ends_mid_line {
        for _ in 1..pending_empty {
            emit("");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(split: SplitRule, text: &str) -> Vec<String> {
        let tokenizer = Tokenizer::new(split, false, StopWords::default());
        let chunk = Chunk {
            text: text.as_bytes().to_vec(),
            ..Chunk::default()
        };
        let mut out = Vec::new();
        tokenizer.for_each_word(&chunk, |w| out.push(w.to_string()));
        out
    }

    #[test]
    fn the_ascii_splitter_splits_as_the_standard_library_does() {
        // Every ASCII control character and white space, between words of every length up
        // to past two 8-byte blocks.
        let mut rng = crate::test_rng::TestRng::new(11u64);
        let mut next = move |below: u64| rng.below(below);
        let alphabet: Vec<u8> = (0u8..0x21).chain(b"abcXYZ~".iter().copied()).collect();
        for _ in 0..2000 {
            let len = next(40) as usize;
            let text: String = (0..len)
                .map(|_| {
                    if next(3) == 0 {
                        alphabet[next(alphabet.len() as u64) as usize] as char
                    } else {
                        'w'
                    }
                })
                .filter(|&c| c != '\x0B')
                .collect();
            let mut got = Vec::new();
            for_each_ascii_word(&text, |w| got.push(w));
            let want: Vec<&str> = text.split_ascii_whitespace().collect();
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn a_vertical_tab_separates_words_as_in_unicode() {
        assert_eq!(words(SplitRule::Whitespace, "a\x0Bb c\n"), ["a", "b", "c"]);
        assert_eq!(words(SplitRule::Whitespace, "a\x0Bb é\n"), ["a", "b", "é"]);
    }

    #[test]
    fn whitespace_rule_skips_runs_of_unicode_space() {
        assert_eq!(
            words(SplitRule::Whitespace, "a  b\tc\u{3000}d\r\n\n e \n"),
            ["a", "b", "c", "d", "e"]
        );
    }

    #[test]
    fn spark_rule_matches_java_split() {
        // Each case is Java's `line.split(" ")`, one line at a time.
        let java = [
            ("a b", vec!["a", "b"]),
            ("a  b", vec!["a", "", "b"]),
            (" a", vec!["", "a"]),
            ("a ", vec!["a"]),
            ("a   ", vec!["a"]),
            ("", vec![""]),
            (" ", vec![]),
            ("   ", vec![]),
            ("a\tb", vec!["a\tb"]),
        ];
        for (line, expected) in java {
            assert_eq!(
                words(SplitRule::Spark, &format!("{line}\r\n")),
                expected,
                "line {line:?}"
            );
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_and_nul_is_a_character() {
        let tokenizer = Tokenizer::new(SplitRule::Whitespace, false, StopWords::default());
        let chunk = Chunk {
            text: b"caf\xff a\0b\n".to_vec(),
            ..Chunk::default()
        };
        let mut out = Vec::new();
        tokenizer.for_each_word(&chunk, |w| out.push(w.to_string()));
        assert_eq!(out, ["caf\u{FFFD}", "a\0b"]);
    }

    #[test]
    fn lowercase_folds_words_and_stop_words() {
        let stop: StopWords = ["The".to_string()].into_iter().collect();
        let tokenizer = Tokenizer::new(SplitRule::Whitespace, true, stop);
        let chunk = Chunk {
            text: "The THE Cat ÉTÉ the\n".as_bytes().to_vec(),
            ..Chunk::default()
        };
        let mut out = Vec::new();
        let tally = tokenizer.for_each_word(&chunk, |w| out.push(w.to_string()));
        assert_eq!(out, ["cat", "été"]);
        assert_eq!(
            tally,
            TokenTally {
                words: 2,
                stopped: 3
            }
        );
    }
}
