//! `--format jsonl`: one JSON object per batch, on one line, empty batches included.

use std::io::{self, Write};

use serde::Serialize;

use super::{Printer, Report};

/// `{"time":…,"counts":[{"word":…,"count":…},…]}` per batch.
pub struct Jsonl;

#[derive(Serialize)]
struct Batch<'a> {
    time: u64,
    counts: Vec<WordCount<'a>>,
}

#[derive(Serialize)]
struct WordCount<'a> {
    word: &'a str,
    count: isize,
}

impl Printer for Jsonl {
    fn report(&mut self, out: &mut dyn Write, report: &Report<'_>) -> io::Result<()> {
        let batch = Batch {
            time: report.time,
            counts: report
                .rows
                .iter()
                .map(|(word, count)| WordCount { word, count })
                .collect(),
        };
        serde_json::to_writer(&mut *out, &batch)?;
        out.write_all(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Format;
    use crate::output::tests::{render, rows};

    #[test]
    fn one_object_per_batch() {
        let text = render(
            Format::Jsonl,
            &[
                (1357008430000, rows(&[("hello", 2), ("w\"q\n", 1)], 2)),
                (1357008431000, rows(&[], 0)),
            ],
        );
        let expected = concat!(
            r#"{"time":1357008430000,"counts":[{"word":"hello","count":2},{"word":"w\"q\n","count":1}]}"#,
            "\n",
            r#"{"time":1357008431000,"counts":[]}"#,
            "\n"
        );
        assert_eq!(text, expected);
    }
}
