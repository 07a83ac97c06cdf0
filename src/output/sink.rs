//! Where reports go: stdout, a copy of it (in a cluster), the `-o` file, or nowhere (a
//! process other than 0). Writing to `-o`, the file's length after each report is known, so
//! that `--checkpoint` can note it and a restart can cut what a failed write left (a full
//! disk leaves part of a row; the next run would glue its first row to it).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Stdout, Write};
use std::path::Path;

/// How far the output reached after a report: what `--checkpoint` notes, so that a restart
/// neither leaves part of a report nor sends one twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputMark {
    /// Nothing to note (standard output).
    None,
    /// The `-o` file's length.
    FileLength(u64),
    /// Where each partition of the `-o kafka://` topic ended (partition, next offset).
    // Made only by the Kafka sink, which the default build leaves out.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    TopicEnds(Vec<(u32, u64)>),
}

/// The output of reports.
pub enum Sink {
    /// Standard output.
    Stdout(BufWriter<Stdout>),
    /// A copy of the real standard output (descriptor 1 writes to stderr).
    StdoutCopy(BufWriter<File>),
    /// The `-o` file, appended to.
    File(BufWriter<Counted>),
    /// Nowhere: only process 0 reports.
    Nowhere,
    /// A Kafka topic: a record per row.
    #[cfg(feature = "kafka")]
    Kafka(Box<super::kafka::KafkaSink>),
}

impl Sink {
    /// Opens `path` for appending, first cut to `cut_to` bytes when it is longer (what a run
    /// that failed mid-report left after its last whole report). Returns the sink and the
    /// bytes cut.
    pub fn append_to(path: &Path, cut_to: Option<u64>) -> io::Result<(Sink, u64)> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let mut length = file.metadata()?.len();
        let mut cut = 0;
        if let Some(keep) = cut_to.filter(|&keep| keep < length) {
            file.set_len(keep)?;
            file.sync_data()?;
            cut = length - keep;
            length = keep;
        }
        let counted = Counted { file, length };
        Ok((Sink::File(BufWriter::new(counted)), cut))
    }

    /// The `-o` file's length, all that was written having been flushed (`None` for other
    /// outputs).
    pub fn length(&self) -> Option<u64> {
        match self {
            Sink::File(writer) => Some(writer.get_ref().length + writer.buffer().len() as u64),
            _ => None,
        }
    }

    /// How far the output reached, all that was written having been flushed.
    pub fn mark(&self) -> OutputMark {
        match self {
            #[cfg(feature = "kafka")]
            Sink::Kafka(kafka) => OutputMark::TopicEnds(kafka.ends()),
            _ => self
                .length()
                .map_or(OutputMark::None, OutputMark::FileLength),
        }
    }

    /// Writes one report with `printer` and flushes it; into a topic, holds its rows back
    /// until [`Sink::deliver_held`] (see [`Sink::holds_back`]).
    pub fn report(
        &mut self,
        printer: &mut dyn super::Printer,
        report: &super::Report<'_>,
    ) -> io::Result<()> {
        #[cfg(feature = "kafka")]
        if let Sink::Kafka(kafka) = self {
            kafka.hold(report);
            return Ok(());
        }
        printer.report(self, report)?;
        self.flush()
    }

    /// Whether reports are held back until [`Sink::deliver_held`] (a topic: the reports ready
    /// at once go out together), so that they are noted as delivered only after it.
    pub fn holds_back(&self) -> bool {
        #[cfg(feature = "kafka")]
        if let Sink::Kafka(_) = self {
            return true;
        }
        false
    }

    /// Starts delivering the reports held back, if there are any and no delivery is under
    /// way; whether it started.
    pub fn deliver_held(&mut self) -> io::Result<bool> {
        #[cfg(feature = "kafka")]
        if let Sink::Kafka(kafka) = self {
            return kafka.deliver_held();
        }
        Ok(false)
    }

    /// Whether a delivery is under way.
    pub fn delivering(&self) -> bool {
        #[cfg(feature = "kafka")]
        if let Sink::Kafka(kafka) = self {
            return kafka.delivering();
        }
        false
    }

    /// Whether the delivery under way has just ended.
    pub fn delivered(&mut self) -> io::Result<bool> {
        #[cfg(feature = "kafka")]
        if let Sink::Kafka(kafka) = self {
            return kafka.delivered();
        }
        Ok(false)
    }

    /// Whether the output is a file that already holds reports (TSV then writes no header).
    pub fn holds_reports(&self) -> bool {
        self.length().is_some_and(|length| length > 0)
    }

    /// The writer under the sink (`None`: nowhere).
    fn writer(&mut self) -> Option<&mut dyn Write> {
        match self {
            Sink::Stdout(writer) => Some(writer),
            Sink::StdoutCopy(writer) => Some(writer),
            Sink::File(writer) => Some(writer),
            Sink::Nowhere => None,
            // Rows go out as records ([`Sink::report`]), nothing as bytes.
            #[cfg(feature = "kafka")]
            Sink::Kafka(_) => None,
        }
    }
}

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.writer().map_or(Ok(bytes.len()), |w| w.write(bytes))
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer().map_or(Ok(()), |w| w.write_all(bytes))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer().map_or(Ok(()), |w| w.flush())
    }
}

/// A file that counts the bytes written to it: its length, as nobody else writes to it.
pub struct Counted {
    file: File,
    length: u64,
}

impl Write for Counted {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.file.write(bytes)?;
        self.length += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_cut_back_to_its_last_whole_report_and_its_length_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.tsv");
        std::fs::write(&path, "time\tword\tcount\n1\ta\t1\n2\tb").unwrap();
        let (mut sink, cut) = Sink::append_to(&path, Some(22)).unwrap();
        assert_eq!((cut, sink.length()), (3, Some(22)));
        assert!(sink.holds_reports());
        sink.write_all(b"2\tb\t1\n").unwrap();
        sink.flush().unwrap();
        assert_eq!(sink.length(), Some(28));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "time\tword\tcount\n1\ta\t1\n2\tb\t1\n"
        );
        // A file shorter than the noted length (edited since) is left as it is.
        let (sink, cut) = Sink::append_to(&path, Some(1000)).unwrap();
        assert_eq!((cut, sink.length()), (0, Some(28)));
    }
}
