//! Human-friendly durations for `--batch`, `--window`, `--slide` and `--duration`.
//!
//! Spark users write `Seconds(1)` or `Milliseconds(500)`; on the command line netwc takes the
//! same as `1s` or `500ms`. Only whole numbers with a unit are accepted, so that a bare `5`
//! (seconds? milliseconds?) is never guessed.

use std::time::Duration;

/// The units accepted, with their length in milliseconds, for messages and parsing.
const UNITS: [(&str, u64); 4] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)];

/// The longest duration any flag takes: a year. Batches, windows and deadlines stay far from
/// where their arithmetic in milliseconds or microseconds could overflow.
pub const MAX_MILLIS: u64 = 365 * 24 * 3_600_000;

/// What a duration argument looks like, for error messages.
pub const ACCEPTED: &str = "a whole number followed by ms, s, m or h (e.g. 500ms, 1s, 2m, 1h)";

/// Parses `500ms`, `1s`, `2m` or `1h` into a whole number of milliseconds (at least 1).
/// (`5` has no unit, `1.5s` an unknown one; both are refused with what is accepted.)
pub fn parse_millis(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    if trimmed.starts_with('-') {
        return Err(format!("'{text}' is negative: expected {ACCEPTED}"));
    }
    if number.is_empty() {
        return Err(format!("'{text}' is not a duration: expected {ACCEPTED}"));
    }
    let Some(&(_, unit_ms)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(if unit.is_empty() {
            format!("'{text}' has no unit: expected {ACCEPTED}")
        } else {
            format!("'{text}' has an unknown unit '{unit}': expected {ACCEPTED}")
        });
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is too large: expected {ACCEPTED}"))?;
    let millis = value
        .checked_mul(unit_ms)
        .ok_or_else(|| format!("'{text}' is too large: expected {ACCEPTED}"))?;
    if millis > MAX_MILLIS {
        return Err(format!(
            "'{text}' is too long: the longest accepted duration is 8760h (a year)"
        ));
    }
    if millis == 0 {
        return Err(format!("'{text}' is zero: the shortest duration is 1ms"));
    }
    Ok(millis)
}

/// Parses a duration for clap (`value_parser = parse_duration`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_millis(text).map(Duration::from_millis)
}

/// Writes a whole number of milliseconds back in the largest unit that divides it.
pub fn format_millis(millis: u64) -> String {
    UNITS
        .iter()
        .rev()
        .find(|(_, unit_ms)| millis.is_multiple_of(*unit_ms))
        .map(|(name, unit_ms)| format!("{}{}", millis / unit_ms, name))
        .unwrap_or_else(|| format!("{millis}ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_unit() {
        assert_eq!(parse_millis("1ms"), Ok(1));
        assert_eq!(parse_millis("500ms"), Ok(500));
        assert_eq!(parse_millis("1s"), Ok(1_000));
        assert_eq!(parse_millis("2m"), Ok(120_000));
        assert_eq!(parse_millis("3h"), Ok(10_800_000));
    }

    #[test]
    fn rejects_what_it_cannot_read_with_a_reason() {
        assert!(parse_millis("5").unwrap_err().contains("no unit"));
        assert!(parse_millis("5x").unwrap_err().contains("unknown unit 'x'"));
        assert!(parse_millis("s").unwrap_err().contains("not a duration"));
        assert!(parse_millis("-1s").unwrap_err().contains("negative"));
        assert!(parse_millis("5124095577h")
            .unwrap_err()
            .contains("too long"));
        assert_eq!(parse_millis("8760h"), Ok(MAX_MILLIS));
        assert!(parse_millis("1.5s").unwrap_err().contains("unknown unit"));
        assert!(parse_millis("0s").unwrap_err().contains("zero"));
        assert!(parse_millis("99999999999999999999h")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn formats_in_the_largest_exact_unit() {
        assert_eq!(format_millis(1), "1ms");
        assert_eq!(format_millis(1_500), "1500ms");
        assert_eq!(format_millis(2_000), "2s");
        assert_eq!(format_millis(120_000), "2m");
        assert_eq!(format_millis(7_200_000), "2h");
    }
}
