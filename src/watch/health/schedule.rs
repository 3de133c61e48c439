//! When the `health-net` thread wakes, and which checks it starts then: a pure
//! function of the checks' due times, unit-tested.
//!
//! Each instance keeps its own schedule (its first check at once, each next one
//! `interval` after the last ended). So that a hundred instances started
//! together cost a handful of wake-ups a second and not a hundred, a check may
//! start up to its *slack* early: when the thread wakes for the earliest due
//! check, it starts every check due within its own slack too. The slack is a
//! twentieth of the interval, at most 50 ms — a 1 s check runs between 0.95 s
//! and 1 s after the last — so it is small beside what the user asked for,
//! and checks whose due times drew together stay together. A check is never
//! started late on purpose.
//!
//! The same slack bounds how late an answer is picked up: after the thread
//! looked at its sockets it does not look again for [`gather`] (a timeout ends
//! that wait, and a check's deadline is always kept: its socket is looked at
//! once more then, before it fails), so answers that come in a burst are read
//! in one wake-up, not one each.

use std::time::{Duration, Instant};

/// The most a check may start early.
const SLACK_MAX: Duration = Duration::from_millis(50);

/// How early a check of this `interval` may start: a twentieth of it, at most
/// [`SLACK_MAX`].
pub(super) fn slack(interval: Duration) -> Duration {
    (interval / 20).min(SLACK_MAX)
}

/// How long after a look at the sockets the next one may wait, for a check in
/// flight: its slack, and at most a tenth of its `timeout`.
pub(super) fn gather(interval: Duration, timeout: Duration) -> Duration {
    slack(interval).min(timeout / 10)
}

/// A check waiting for its next run.
#[derive(Debug, Clone, Copy)]
pub(super) struct Waiting {
    pub(super) due: Instant,
    pub(super) interval: Duration,
}

/// Which of the `waiting` checks start `now` (by index), and when the earliest
/// of the others is due (the thread's next timeout for them).
pub(super) fn plan(waiting: &[Waiting], now: Instant) -> (Vec<usize>, Option<Instant>) {
    let mut start = Vec::new();
    let mut next: Option<Instant> = None;
    for (i, check) in waiting.iter().enumerate() {
        if check.due <= now + slack(check.interval) {
            start.push(i);
        } else {
            next = Some(next.map_or(check.due, |n| n.min(check.due)));
        }
    }
    (start, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_slack_is_a_twentieth_of_the_interval_at_most_50_ms() {
        assert_eq!(slack(ms(100)), ms(5));
        assert_eq!(slack(ms(1000)), ms(50));
        assert_eq!(slack(Duration::from_secs(60)), ms(50));
        assert_eq!(gather(ms(1000), ms(2000)), ms(50));
        assert_eq!(gather(ms(1000), ms(100)), ms(10));
    }

    #[test]
    fn checks_due_within_their_slack_start_in_the_same_wake_up() {
        let now = Instant::now();
        // A hundred 1 s checks spread over 40 ms: all start at the first's time.
        let waiting: Vec<Waiting> = (0..100)
            .map(|i| Waiting {
                due: now + Duration::from_micros(400 * i),
                interval: ms(1000),
            })
            .collect();
        let (start, next) = plan(&waiting, now);
        assert_eq!(start.len(), 100);
        assert_eq!(next, None);
    }

    #[test]
    fn a_check_beyond_its_slack_waits_and_sets_the_timeout() {
        let now = Instant::now();
        let waiting = [
            Waiting {
                due: now - ms(3),
                interval: ms(1000),
            },
            // Due in 60 ms: beyond a 1 s check's 50 ms.
            Waiting {
                due: now + ms(60),
                interval: ms(1000),
            },
            // Due in 10 ms, but a 100 ms check may start only 5 ms early.
            Waiting {
                due: now + ms(10),
                interval: ms(100),
            },
            Waiting {
                due: now + ms(4),
                interval: ms(100),
            },
        ];
        let (start, next) = plan(&waiting, now);
        assert_eq!(start, vec![0, 3]);
        assert_eq!(next, Some(now + ms(10)));
    }

    #[test]
    fn nothing_due_means_no_start_and_the_earliest_due_as_timeout() {
        let now = Instant::now();
        let waiting = [
            Waiting {
                due: now + ms(900),
                interval: ms(1000),
            },
            Waiting {
                due: now + ms(700),
                interval: Duration::from_secs(10),
            },
        ];
        assert_eq!(plan(&waiting, now), (vec![], Some(now + ms(700))));
        assert_eq!(plan(&[], now), (vec![], None));
    }
}
