//! Where lines end: at `\n`, at `\r\n`, or at a lone `\r`, as Java's `BufferedReader.readLine`
//! (Spark's socket receiver) ends them. The framer, the line-batch cutter and the tokenizer
//! all ask here, so that they agree on every byte.
//!
//! A `\r` at the very end of what has arrived so far ends its line at once, as `readLine` does
//! (it returns at the `\r` and skips a `\n` that follows): the framer then drops a `\n` that
//! begins the next read, so that `\r\n` split across two reads is still one line end.

/// The number of line ends in `text`, a chunk that ends on a line end or at the end of the
/// input (so a `\r` at its very end is a line end).
pub fn count_line_ends(text: &[u8]) -> u64 {
    // Without a CR (the usual case) every line ends at a `\n`: counted by a loop the compiler
    // vectorizes, after a `memchr`-fast search for CRs.
    if !text.contains(&b'\r') {
        return text.iter().filter(|&&byte| byte == b'\n').count() as u64;
    }
    let mut ends = 0;
    for (at, &byte) in text.iter().enumerate() {
        ends += u64::from(is_line_end(text, at, byte));
    }
    ends
}

/// The length of the first `lines` lines of `text` (through their line ends), or `None` when
/// `text` has fewer line ends. `text` is a chunk, as for [`count_line_ends`].
pub fn end_of_lines(text: &[u8], lines: u64) -> Option<usize> {
    if lines == 0 {
        return Some(0);
    }
    let mut seen = 0;
    text.iter()
        .enumerate()
        .position(|(at, &byte)| {
            seen += u64::from(is_line_end(text, at, byte));
            seen == lines
        })
        .map(|at| at + 1)
}

/// Where the last line end in `bytes` is (the length through it), looking only at
/// `bytes[from..]`. A `\r` at the very end is a line end.
pub fn last_line_end(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len())
        .rev()
        // A `\n` right after a `\r` would have been found first.
        .find(|&at| matches!(bytes[at], b'\n' | b'\r'))
        .map(|at| at + 1)
}

/// The lines of `text` (a chunk, as for [`count_line_ends`]), without their line ends; no
/// empty line after the last line end.
pub fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split_terminator('\n').flat_map(|line| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        // Lone CRs inside end lines too. `split` of an empty line gives the one empty line.
        line.split('\r')
    })
}

fn is_line_end(text: &[u8], at: usize, byte: u8) -> bool {
    match byte {
        b'\n' => true,
        b'\r' => text.get(at + 1) != Some(&b'\n'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_cr_ends_a_line_as_in_java() {
        assert_eq!(count_line_ends(b"a\rb\n"), 2);
        assert_eq!(count_line_ends(b"a\r\nb\n"), 2);
        assert_eq!(count_line_ends(b"a\r\r\n"), 2);
        assert_eq!(count_line_ends(b"a\r"), 1);
        assert_eq!(split_lines("a\rb\n").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(split_lines("a\r\r\nb").collect::<Vec<_>>(), ["a", "", "b"]);
        assert_eq!(split_lines("\r").collect::<Vec<_>>(), [""]);
        assert_eq!(split_lines("x\r\n\n").collect::<Vec<_>>(), ["x", ""]);
    }

    #[test]
    fn line_ends_are_found_where_they_are_certain() {
        assert_eq!(end_of_lines(b"a\nb\nc\n", 2), Some(4));
        assert_eq!(end_of_lines(b"a\rb\rc", 2), Some(4));
        assert_eq!(end_of_lines(b"a\r\nb", 1), Some(3));
        assert_eq!(end_of_lines(b"a\nb", 2), None);
        assert_eq!(last_line_end(b"a\nb\r", 0), Some(4));
        assert_eq!(last_line_end(b"a\nb\rc", 0), Some(4));
        assert_eq!(last_line_end(b"ab\r\n", 0), Some(4));
        assert_eq!(last_line_end(b"ab\rc", 3), None);
        assert_eq!(last_line_end(b"abc", 0), None);
    }
}
