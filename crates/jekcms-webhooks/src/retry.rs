//! When a failed attempt is tried again (API.md §10): 5 s ± 50 %, then 5 min, 30 min, 2 h,
//! 5 h, 10 h and 10 h — about a day in all — each with jitter, so that the deliveries of a
//! receiver that was down do not all come back at the same second; after the last, the
//! delivery is `failed`.

use std::time::Duration;

/// The wait after failed attempt `n` (1-based), before jitter.
pub const SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// Attempts in all: the first and one per entry of [`SCHEDULE`].
pub const MAX_ATTEMPTS: i32 = SCHEDULE.len() as i32 + 1;

/// How long to wait after `attempts` attempts have failed, with ±50 % jitter drawn from
/// `unit` (uniform in `[0, 1)`); `None` when no attempt is left.
pub fn next_delay(attempts: i32, unit: f64) -> Option<Duration> {
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    let base = SCHEDULE.get(index)?;
    Some(base.mul_f64(0.5 + unit.clamp(0.0, 1.0)))
}

/// [`next_delay`] with fresh randomness.
pub fn next_delay_jittered(attempts: i32) -> Option<Duration> {
    next_delay(attempts, fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_a_day_of_growing_waits_then_failure() {
        assert_eq!(next_delay(1, 0.5), Some(Duration::from_secs(5)));
        assert_eq!(next_delay(1, 0.0), Some(Duration::from_millis(2500)));
        assert!(next_delay(1, 0.999).unwrap() < Duration::from_millis(7500));
        assert_eq!(next_delay(2, 0.5), Some(Duration::from_secs(300)));
        assert_eq!(next_delay(7, 0.5), Some(Duration::from_secs(36_000)));
        assert_eq!(next_delay(MAX_ATTEMPTS, 0.5), None);
        assert_eq!(next_delay(0, 0.5), None);
        let total: Duration = SCHEDULE.iter().sum();
        assert!(total > Duration::from_secs(20 * 3600) && total < Duration::from_secs(30 * 3600));
        for _ in 0..100 {
            let d = next_delay_jittered(3).unwrap();
            assert!(d >= Duration::from_secs(900) && d <= Duration::from_secs(2700));
        }
    }
}
