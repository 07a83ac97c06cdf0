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
/// panics. Crate-private (the binary calls [`line()`]), so it never clashes with the `log`
/// crate's macro of the same name.
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}

/// Logs lines, each at most a few times in a row and then once every [`Repeats::EVERY`] with
/// how often it came meanwhile: a retry loop with a short delay must not flood stderr, while
/// events minutes apart are each logged.
#[derive(Debug, Default)]
pub struct Repeats {
    /// Each line logged lately: how many more may be logged now, when that was reckoned, and
    /// how often the line came without being logged.
    recent: HashMap<String, Allowance>,
}

#[derive(Debug)]
struct Allowance {
    left: f64,
    reckoned: Instant,
    unlogged: u64,
}

impl Repeats {
    /// One more of a line may be logged per this much time.
    pub const EVERY: Duration = Duration::from_secs(10);

    /// How many of a line are logged in a burst before [`Repeats::EVERY`] applies.
    const BURST: f64 = 5.0;

    /// The most distinct lines remembered; a loop repeats only a few.
    const REMEMBERED: usize = 64;

    /// Logs `text`, unless it came too often lately.
    pub fn line(&mut self, text: String) {
        if self.recent.len() >= Self::REMEMBERED && !self.recent.contains_key(&text) {
            self.recent.clear();
        }
        let now = Instant::now();
        let allowance = self.recent.entry(text.clone()).or_insert(Allowance {
            left: Self::BURST,
            reckoned: now,
            unlogged: 0,
        });
        let earned =
            now.duration_since(allowance.reckoned).as_secs_f64() / Self::EVERY.as_secs_f64();
        allowance.left = (allowance.left + earned).min(Self::BURST);
        allowance.reckoned = now;
        if allowance.left < 1.0 {
            allowance.unlogged += 1;
            return;
        }
        allowance.left -= 1.0;
        match std::mem::take(&mut allowance.unlogged) {
            0 => line(format_args!("{text}")),
            n => line(format_args!(
                "{text} (and {n} times more since it was last logged)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_floods_is_counted_not_logged() {
        let mut repeats = Repeats::default();
        for _ in 0..20 {
            repeats.line("connected".into());
            repeats.line("closed".into());
        }
        // A burst of five each is logged; the rest is counted for the next line logged.
        assert_eq!(repeats.recent["connected"].unlogged, 15);
        assert_eq!(repeats.recent["closed"].unlogged, 15);
    }
}
