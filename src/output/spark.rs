//! `--format spark`: byte for byte what Scala's `DStream.print()` writes.

use std::io::{self, Write};

use super::{Printer, Report};

const DASHES: &str = "-------------------------------------------";

/// Spark's `print()`: a header of 43 dashes, the time, the rows as `(word,count)`, `...` when
/// rows were left out, and a blank line.
pub struct Spark;

impl Printer for Spark {
    fn report(&mut self, out: &mut dyn Write, report: &Report<'_>) -> io::Result<()> {
        write!(out, "{DASHES}\nTime: {} ms\n{DASHES}\n", report.time)?;
        for (word, count) in report.rows.iter() {
            writeln!(out, "({word},{count})")?;
        }
        if report.rows.more() {
            out.write_all(b"...\n")?;
        }
        out.write_all(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Format;
    use crate::output::tests::{render, rows};

    #[test]
    fn prints_like_dstream_print() {
        let text = render(
            Format::Spark,
            &[
                (1357008430000, rows(&[("hello", 2), ("world", 1)], 2)),
                (1357008431000, rows(&[], 0)),
                (1357008432000, rows(&[("a", 3)], 5)),
            ],
        );
        let expected = "\
-------------------------------------------
Time: 1357008430000 ms
-------------------------------------------
(hello,2)
(world,1)

-------------------------------------------
Time: 1357008431000 ms
-------------------------------------------

-------------------------------------------
Time: 1357008432000 ms
-------------------------------------------
(a,3)
...

";
        assert_eq!(text, expected);
    }
}
