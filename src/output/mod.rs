//! Writing reports: one formatter per `--format`, each a pure function of a report onto any
//! `io::Write`, so tests write into a `Vec<u8>`.

mod jsonl;
#[cfg(feature = "kafka")]
mod kafka;
mod sink;
mod spark;
mod tsv;

#[cfg(feature = "kafka")]
pub use kafka::{partition_of as kafka_partition, KafkaSink, Value as RecordValue};
pub use sink::{OutputMark, Sink};

use std::io::{self, Write};

use crate::config::Format;
use crate::report::Rows;

/// One report: the batch it closes and its rows.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// The batch's name: its end time in Unix epoch milliseconds, or k+1 with --batch-lines.
    pub time: u64,
    /// The rows, already sorted and cut to `--top`.
    pub rows: &'a Rows<'a>,
}

/// Writes reports in one format.
pub trait Printer {
    /// Writes what comes before the first report; `appending` is true when the output is a file
    /// that already holds earlier output.
    fn begin(&mut self, _out: &mut dyn Write, _appending: bool) -> io::Result<()> {
        Ok(())
    }

    /// Writes one report.
    fn report(&mut self, out: &mut dyn Write, report: &Report<'_>) -> io::Result<()>;
}

/// The printer for `format`.
pub fn printer(format: Format) -> Box<dyn Printer + Send> {
    match format {
        Format::Spark => Box::new(spark::Spark),
        Format::Jsonl => Box::new(jsonl::Jsonl),
        Format::Tsv => Box::new(tsv::Tsv::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything a printer writes for these reports, as text.
    pub(crate) fn render(format: Format, reports: &[(u64, Rows)]) -> String {
        let mut printer = printer(format);
        let mut out = Vec::new();
        printer.begin(&mut out, false).unwrap();
        for (time, rows) in reports {
            printer
                .report(&mut out, &Report { time: *time, rows })
                .unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    pub(crate) fn rows<'a>(pairs: &[(&'a str, isize)], total: usize) -> Rows<'a> {
        Rows {
            rows: pairs.to_vec(),
            total,
        }
    }
}
