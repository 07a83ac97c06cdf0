//! Messages on stderr. Unlike `eprintln!`, a stderr that was closed (the reader went away) is
//! ignored rather than a panic: logs must never take the job down.

use std::io::Write;

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
