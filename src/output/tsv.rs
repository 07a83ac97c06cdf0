//! `--format tsv`: a `time word count` header, then one row per word per batch. Tabs, carriage
//! returns and backslashes in words are escaped as `\t`, `\r`, `\\` (PostgreSQL's text format),
//! so every row has exactly three fields.

use std::io::{self, Write};

use super::{Printer, Report};

/// Tab-separated rows under one header.
pub struct Tsv;

impl Printer for Tsv {
    fn begin(&mut self, out: &mut dyn Write, appending: bool) -> io::Result<()> {
        if appending {
            return Ok(());
        }
        out.write_all(b"time\tword\tcount\n")
    }

    fn report(&mut self, out: &mut dyn Write, report: &Report<'_>) -> io::Result<()> {
        for (word, count) in &report.rows.rows {
            write!(out, "{}\t", report.time)?;
            write_escaped(out, word)?;
            writeln!(out, "\t{count}")?;
        }
        Ok(())
    }
}

fn write_escaped(out: &mut dyn Write, word: &str) -> io::Result<()> {
    let mut rest = word.as_bytes();
    while let Some(at) = rest
        .iter()
        .position(|b| matches!(b, b'\t' | b'\r' | b'\\' | b'\n'))
    {
        out.write_all(&rest[..at])?;
        out.write_all(match rest[at] {
            b'\t' => b"\\t",
            b'\r' => b"\\r",
            b'\n' => b"\\n",
            _ => b"\\\\",
        })?;
        rest = &rest[at + 1..];
    }
    out.write_all(rest)
}

#[cfg(test)]
mod tests {
    use crate::config::Format;
    use crate::output::tests::{render, rows};

    #[test]
    fn header_then_rows_with_escapes() {
        let text = render(
            Format::Tsv,
            &[
                (3, rows(&[("a\tb", 2), ("c\\d\r", 1)], 2)),
                (4, rows(&[], 0)),
                (5, rows(&[("", 1)], 1)),
            ],
        );
        assert_eq!(
            text,
            "time\tword\tcount\n3\ta\\tb\t2\n3\tc\\\\d\\r\t1\n5\t\t1\n"
        );
    }
}
