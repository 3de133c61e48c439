//! Deadlines on time, whatever their length.
//!
//! The kernel lets a poll's timeout expire late by up to 0.1 % of its length (0.5 %
//! for a niced thread), at most 100 ms: 30 ms late for a 30 s `stoptime`. Raising the
//! thread's timer slack cannot lower that. So a watcher never asks for the whole time
//! left: it asks for a timeout that, even with the largest slack, ends no later than
//! the deadline, and when that wakes it early it polls again for what is left. What
//! is left shrinks at least 200-fold per poll; below a millisecond the slack is the
//! thread's minimum (50 µs) and the remainder is asked for whole. A 30 s deadline
//! costs two or three wake-ups instead of one, and no descriptor.

use std::time::Duration;

/// Below this, the kernel's slack is its fixed minimum: ask for the time left.
const ASK_WHOLE_BELOW: Duration = Duration::from_millis(1);

/// The slack the kernel may add is at most 1/200 of the timeout; so `t·200/201`,
/// plus `t/201`, ends by `t`.
const SLACK_DIVISOR: u32 = 201;

/// The slack a thread has at least (its default timer slack).
const MIN_SLACK: Duration = Duration::from_micros(50);

/// The poll timeout to use when `remaining` is left before the deadline.
pub fn poll_timeout(remaining: Duration) -> Duration {
    if remaining < ASK_WHOLE_BELOW {
        remaining
    } else {
        remaining - (remaining / SLACK_DIVISOR).max(MIN_SLACK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The latest the kernel may end a poll of `t`: 0.5 % late (a niced thread's
    /// slack, the largest), at most 100 ms, at least 50 µs.
    fn latest_expiry(t: Duration) -> Duration {
        let slack = (t / 200).min(Duration::from_millis(100)).max(MIN_SLACK);
        t + slack
    }

    #[test]
    fn a_timeout_plus_its_largest_slack_never_passes_the_deadline() {
        for ms in [
            1u64,
            2,
            10,
            999,
            1000,
            10_000,
            30_000,
            3_600_000,
            864_000_000,
        ] {
            let remaining = Duration::from_millis(ms);
            assert!(
                latest_expiry(poll_timeout(remaining)) <= remaining,
                "{ms} ms"
            );
        }
    }

    #[test]
    fn waking_early_leaves_little_and_converges_in_a_few_polls() {
        // Worst case for the number of polls: every poll ends at its earliest, exactly
        // at its timeout (no slack used).
        let mut remaining = Duration::from_secs(30);
        let mut polls = 0;
        while remaining >= ASK_WHOLE_BELOW {
            remaining -= poll_timeout(remaining);
            polls += 1;
        }
        assert!(polls <= 3, "{polls} polls");
    }

    #[test]
    fn under_a_millisecond_the_remainder_is_asked_for_whole() {
        let t = Duration::from_micros(700);
        assert_eq!(poll_timeout(t), t);
    }
}
