//! Data retention: when a conversation is erased. A site keeps conversations `retention_days`
//! (`baton.toml`, default 90; 0 = keep) after their last event, whatever their state — a thread
//! nobody touched for that long is over. The `Conversation` object runs a `retention` job on its
//! alarm (`worker/src/jobs.rs`) that asks [`step`] what to do; it is scheduled once, at creation,
//! and moves itself forward while the conversation stays active, so new events cost nothing.

/// One day, in milliseconds. (Tests shorten the day with the worker variable
/// `BATON_RETENTION_DAY_MS`, so a "2 days" retention passes in 2 seconds.)
pub const DAY_MS: i64 = 86_400_000;

/// What the retention job does when it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Retention is off for the site (0 days): nothing to do (a later wake schedules the job
    /// again if the site turns it on).
    Keep,
    /// Not yet: the conversation was active since the job was scheduled. Look again then (ms).
    CheckAt(i64),
    /// Past retention: erase the conversation's storage and its inbox row.
    Erase,
}

/// When a conversation last active at `last_event` (ms) may be erased; `None` when kept.
pub fn erase_at(last_event: i64, retention_days: u32, day_ms: i64) -> Option<i64> {
    (retention_days > 0).then(|| last_event.saturating_add((retention_days as i64).saturating_mul(day_ms.max(1))))
}

/// The decision at `now` for a conversation whose last event was at `last_event`.
pub fn step(last_event: i64, retention_days: u32, day_ms: i64, now: i64) -> Step {
    match erase_at(last_event, retention_days, day_ms) {
        None => Step::Keep,
        Some(at) if at <= now => Step::Erase,
        Some(at) => Step::CheckAt(at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erased_retention_days_after_the_last_event_and_never_when_zero() {
        assert_eq!(erase_at(1_000, 90, DAY_MS), Some(1_000 + 90 * DAY_MS));
        assert_eq!(erase_at(1_000, 0, DAY_MS), None);
        assert_eq!(step(0, 0, DAY_MS, i64::MAX), Step::Keep);
        // Activity moves the date: the job scheduled at creation looks again later.
        let last = 10 * DAY_MS;
        assert_eq!(step(last, 90, DAY_MS, 90 * DAY_MS), Step::CheckAt(100 * DAY_MS));
        assert_eq!(step(last, 90, DAY_MS, 100 * DAY_MS), Step::Erase);
        assert_eq!(step(last, 2, 1_000, last + 2_000), Step::Erase);
        // No overflow with absurd values.
        assert_eq!(step(i64::MAX - 5, 36_500, DAY_MS, 0), Step::CheckAt(i64::MAX));
    }
}
