//! Batches and epochs: which batch a line falls in, and what each batch is called.
//!
//! With time batches, epoch e covers Unix time [e·I, (e+1)·I) for interval I, and is named by
//! its end, (e+1)·I ms, as Spark names batches. With line batches, epoch k holds lines
//! kN..(k+1)N and is named k+1.
//!
//! After a restart from a checkpoint, epochs keep counting up from where the last run stopped,
//! but names follow the clock: when the last run already reported the interval the restart is
//! in (a quick restart after a clean stop), the epochs run ahead of the clock by a fixed
//! [`BatchClock::resumed_at`] shift, so that the first batch is still named by the interval
//! the clock is in, never by one in the future.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::Batching;
use crate::vocab::Epoch;

/// How far the wall clock may step back before it is said in the log.
const STEP_BACK_SAID: u64 = 100_000;

/// Microseconds since the Unix epoch, as batches see them: the wall clock, except that it
/// never goes back. When the wall clock steps back (a clock set by hand, a virtual machine
/// resumed), time goes on at its own pace from where it was, so that batches keep closing,
/// and the log says so once; when the wall clock has caught up, it is followed again. (A wall
/// clock that stood still would otherwise hold every batch back for the length of the step.)
pub fn unix_micros() -> u64 {
    static STEADY: Mutex<Option<Steady>> = Mutex::new(None);
    let mut steady = STEADY.lock().unwrap_or_else(|e| e.into_inner());
    let (micros, said) = Steady::next(steady.take(), wall_micros(), Instant::now());
    *steady = Some(micros);
    // Said outside the lock: a stderr that blocks holds up no other thread's clock.
    drop(steady);
    if let Some(said) = said {
        log!("{said}");
    }
    micros.returned
}

/// The wall clock, in microseconds since the Unix epoch.
fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// What [`unix_micros`] last said, and when.
#[derive(Debug, Clone, Copy)]
struct Steady {
    returned: u64,
    at: Instant,
    /// The wall clock is behind: by how much it was when it stepped back.
    behind: Option<u64>,
}

impl Steady {
    /// The time after `last`, given the wall clock `wall` at `now`; and what to log.
    fn next(last: Option<Steady>, wall: u64, now: Instant) -> (Steady, Option<String>) {
        let Some(last) = last else {
            let first = Steady {
                returned: wall,
                at: now,
                behind: None,
            };
            return (first, None);
        };
        let steady = last.returned + now.saturating_duration_since(last.at).as_micros() as u64;
        let (returned, behind, said) = if wall + STEP_BACK_SAID < steady {
            let said = last.behind.is_none().then(|| {
                format!(
                    "warning: the wall clock went back by {:.1} s; batches go on at their pace, named from where the clock was",
                    (steady - wall) as f64 / 1e6
                )
            });
            (steady, Some(last.behind.unwrap_or(steady - wall)), said)
        } else {
            let said = last
                .behind
                .map(|_| "the wall clock has caught up; batches follow it again".to_string());
            (wall.max(last.returned), None, said)
        };
        let next = Steady {
            returned,
            at: now,
            behind,
        };
        (next, said)
    }
}

/// Maps between epochs, wall-clock time and batch names.
#[derive(Debug, Clone, Copy)]
pub struct BatchClock {
    batching: Batching,
    /// How far epochs run ahead of the clock's intervals (time batches after a restart).
    shift: u64,
}

impl BatchClock {
    /// A clock for `batching`.
    pub fn new(batching: Batching) -> BatchClock {
        BatchClock { batching, shift: 0 }
    }

    /// A clock whose epochs run `shift` ahead of the intervals (as [`BatchClock::resumed_at`]
    /// decided, in process 0 of a cluster for all).
    pub fn shifted(batching: Batching, shift: u64) -> BatchClock {
        let clock = BatchClock::new(batching);
        if !clock.is_timed() {
            return clock;
        }
        BatchClock { batching, shift }
    }

    /// How far epochs run ahead of the intervals.
    pub fn shift(&self) -> u64 {
        self.shift
    }

    /// The clock of a restart that goes on at epoch `resume` (the epochs before it were used
    /// by the last run; those between it and now are passed silently). When the clock has not
    /// passed `resume`, epochs are shifted so that `resume` is named as the current interval.
    pub fn resumed_at(batching: Batching, resume: Epoch) -> BatchClock {
        let clock = BatchClock::new(batching);
        if !clock.is_timed() {
            return clock;
        }
        let now = clock.epoch_at(unix_micros());
        BatchClock {
            batching,
            shift: resume.saturating_sub(now),
        }
    }

    /// The epoch the job starts in: the current interval, or line batch 0.
    pub fn first_epoch(&self) -> Epoch {
        match self.batching {
            Batching::Time { .. } => self.epoch_at(unix_micros()),
            Batching::Lines { .. } => 0,
        }
    }

    /// With time batches, the epoch that contains `micros`; with line batches, always 0
    /// (they are cut by counting, not by the clock).
    pub fn epoch_at(&self, micros: u64) -> Epoch {
        match self.batching {
            Batching::Time { interval_ms } => micros / (interval_ms * 1_000) + self.shift,
            Batching::Lines { .. } => 0,
        }
    }

    /// Whether batches are cut by the clock.
    pub fn is_timed(&self) -> bool {
        matches!(self.batching, Batching::Time { .. })
    }

    /// The name of `epoch`'s batch: its end time in ms, or k+1 for line batch k.
    pub fn batch_name(&self, epoch: Epoch) -> u64 {
        match self.batching {
            Batching::Time { interval_ms } => (epoch.saturating_sub(self.shift) + 1) * interval_ms,
            Batching::Lines { .. } => epoch + 1,
        }
    }

    /// With time batches, the wall-clock end of `epoch` in µs since the Unix epoch.
    pub fn end_micros(&self, epoch: Epoch) -> Option<u64> {
        match self.batching {
            Batching::Time { interval_ms } => {
                Some((epoch.saturating_sub(self.shift) + 1) * interval_ms * 1_000)
            }
            Batching::Lines { .. } => None,
        }
    }

    /// How long from `now_micros` until `epoch` ends (zero if it has), for time batches.
    pub fn until_end(&self, epoch: Epoch, now_micros: u64) -> Option<Duration> {
        self.end_micros(epoch)
            .map(|end| Duration::from_micros(end.saturating_sub(now_micros)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_clock_that_steps_back_is_followed_at_its_pace_until_it_catches_up() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let (first, said) = Steady::next(None, 10_000_000, at(0));
        assert_eq!((first.returned, said), (10_000_000, None));
        // Stepped back 5 s: time goes on from where it was.
        let (back, said) = Steady::next(Some(first), 5_000_000, at(10));
        assert_eq!(back.returned, 10_010_000);
        assert!(said.unwrap().contains("went back by 5.0 s"));
        let (later, said) = Steady::next(Some(back), 5_100_000, at(110));
        assert_eq!((later.returned, said), (10_110_000, None));
        // Caught up: the wall clock again.
        let (caught, said) = Steady::next(Some(later), 10_200_000, at(200));
        assert_eq!(caught.returned, 10_200_000);
        assert!(said.unwrap().contains("caught up"));
        // A small step back is no step: time stands still, said nowhere.
        let (small, said) = Steady::next(Some(caught), 10_150_000, at(201));
        assert_eq!((small.returned, said), (10_200_000, None));
    }

    #[test]
    fn time_batches_are_named_by_their_aligned_end() {
        let clock = BatchClock::new(Batching::Time { interval_ms: 1_000 });
        let epoch = clock.epoch_at(1_357_008_429_500_000);
        assert_eq!(clock.batch_name(epoch), 1_357_008_430_000);
        assert_eq!(
            clock.until_end(epoch, 1_357_008_429_500_000),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn a_restart_is_named_by_the_clock_never_ahead_of_it() {
        let batching = Batching::Time {
            interval_ms: 10_000,
        };
        let now = BatchClock::new(batching).first_epoch();
        // The last run reported the current interval and the two after it.
        let clock = BatchClock::resumed_at(batching, now + 3);
        assert_eq!(clock.batch_name(now + 3), (now + 1) * 10_000);
        assert_eq!(clock.epoch_at(unix_micros()), now + 3);
        // The last run ended long ago: epochs and intervals agree again.
        let clock = BatchClock::resumed_at(batching, now - 100);
        assert_eq!(clock.epoch_at(unix_micros()), now);
        assert_eq!(clock.batch_name(now), (now + 1) * 10_000);
    }

    #[test]
    fn line_batches_are_numbered_from_one() {
        let clock = BatchClock::new(Batching::Lines { per_batch: 10 });
        assert_eq!(clock.first_epoch(), 0);
        assert_eq!(clock.batch_name(0), 1);
        assert_eq!(clock.until_end(0, 5), None);
    }
}
