//! Whole-number flags, each read with its accepted range, so that a bad value is a usage error
//! that says what is accepted instead of a parser's "invalid digit" or a later overflow.

/// The most worker threads one process runs (SPEC §3): beyond it, timely's per-worker
/// structures cost more than the threads could add.
pub const MAX_WORKERS: u64 = 1024;

/// The most processes a cluster can have: one TCP port each.
pub const MAX_PROCESSES: u64 = 65_535;

/// Reads `text` as a whole number from `min` to `max`; `what` says what the number counts
/// (it completes "expected ...").
fn whole(text: &str, min: u64, max: u64, what: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let range = if max == u64::MAX {
        format!("a whole number of at least {min}")
    } else {
        format!("a whole number from {min} to {max}")
    };
    if trimmed.starts_with('-') && trimmed.len() > 1 {
        return Err(format!("'{text}' is negative: expected {range} ({what})"));
    }
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{text}' is not a whole number: expected {range} ({what})"
        ));
    }
    match trimmed.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) if n < min => Err(format!("'{text}' is too small: expected {range} ({what})")),
        _ => Err(format!("'{text}' is too large: expected {range} ({what})")),
    }
}

/// `-w, --workers`: 1 to [`MAX_WORKERS`].
pub fn parse_workers(text: &str) -> Result<usize, String> {
    whole(text, 1, MAX_WORKERS, "worker threads per process").map(|n| n as usize)
}

/// `-n, --processes`: 1 to [`MAX_PROCESSES`].
pub fn parse_processes(text: &str) -> Result<usize, String> {
    whole(text, 1, MAX_PROCESSES, "processes in the cluster").map(|n| n as usize)
}

/// `-p, --process`: an index; checked against `--processes` in [`crate::config`].
pub fn parse_process(text: &str) -> Result<usize, String> {
    whole(text, 0, MAX_PROCESSES - 1, "this process's index, 0 to N-1").map(|n| n as usize)
}

/// `--top`: 0 (every row) or more.
pub fn parse_top(text: &str) -> Result<usize, String> {
    whole(text, 0, usize::MAX as u64, "rows per report; 0 prints all").map(|n| n as usize)
}

/// `--batches`: at least 1.
pub fn parse_batches(text: &str) -> Result<u64, String> {
    whole(text, 1, u64::MAX, "batches to run")
}

/// `--batch-lines`: at least 1.
pub fn parse_batch_lines(text: &str) -> Result<u64, String> {
    whole(text, 1, u64::MAX, "lines per batch")
}

/// `--max-connections`: at least 1.
pub fn parse_max_connections(text: &str) -> Result<usize, String> {
    whole(text, 1, usize::MAX as u64, "producers at once").map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_value_says_what_is_accepted() {
        assert_eq!(parse_workers("4"), Ok(4));
        assert!(parse_workers("0").unwrap_err().contains("too small"));
        let large = parse_workers("18446744073709551615").unwrap_err();
        assert!(
            large.contains("too large: expected a whole number from 1 to 1024"),
            "{large}"
        );
        assert!(parse_workers("99999999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_top("-1").unwrap_err().contains("negative"));
        assert!(parse_top("ten").unwrap_err().contains("not a whole number"));
        assert_eq!(parse_top("0"), Ok(0));
        assert!(parse_processes("70000").unwrap_err().contains("1 to 65535"));
        assert!(parse_batches("0").unwrap_err().contains("at least 1"));
    }
}
