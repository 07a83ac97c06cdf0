//! Messages on stderr. Unlike `eprintln!`, a stderr that was closed (the reader went away) is
//! ignored rather than a panic: logs must never take the job down.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// Writes one line to stderr, after `netwc: `, ignoring failures.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(b"netwc: ");
    let _ = stderr.write_fmt(args);
    let _ = stderr.write_all(b"\n");
}

/// `log!("...", args)`: one line on stderr, after `netwc: `, like `eprintln!` but it never
/// panics.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}

/// Logs lines, but a line logged before is logged again only after [`Repeats::EVERY`], with
/// how often it came meanwhile: a retry loop with a short delay must not flood stderr.
#[derive(Debug, Default)]
pub struct Repeats {
    /// Each line logged lately: when, and how often it came since.
    recent: HashMap<String, (Instant, u64)>,
}

impl Repeats {
    /// How often one line is logged at most.
    pub const EVERY: Duration = Duration::from_secs(10);

    /// The most distinct lines remembered; a loop repeats only a few.
    const REMEMBERED: usize = 64;

    /// Logs `text` unless it was logged within [`Repeats::EVERY`].
    pub fn line(&mut self, text: String) {
        if let Some((at, unlogged)) = self.recent.get_mut(&text) {
            if at.elapsed() < Self::EVERY {
                *unlogged += 1;
                return;
            }
        }
        match self.recent.remove(&text).map_or(0, |(_, unlogged)| unlogged) {
            0 => line(format_args!("{text}")),
            n => line(format_args!(
                "{text} (and {n} times more since it was last logged)"
            )),
        }
        if self.recent.len() >= Self::REMEMBERED {
            self.recent.clear();
        }
        self.recent.insert(text, (Instant::now(), 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_line_is_counted_not_logged() {
        let mut repeats = Repeats::default();
        for _ in 0..6 {
            repeats.line("connected".into());
            repeats.line("closed".into());
        }
        assert_eq!(repeats.recent["connected"].1, 5);
        assert_eq!(repeats.recent["closed"].1, 5);
    }
}
