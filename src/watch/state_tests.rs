//! Transition-by-transition tests of the pure state machine.

use super::*;
use crate::config::AutoRestart;
use std::collections::BTreeSet;
use std::time::Duration;

/// The defaults with a 1 s `starttime` and a 10 s `stoptime`.
pub(super) fn policy() -> Policy {
    Policy {
        starttime: Duration::from_secs(1),
        stoptime: Duration::from_secs(10),
        ..Policy::default()
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A machine driven through its events, with a clock the test moves; the
/// `pidfile:` tests (`state_pidfile_tests.rs`) drive theirs with it too.
pub(super) struct Rig {
    pub(super) m: Machine,
    pub(super) p: Policy,
    pub(super) t0: Instant,
    pub(super) now: Instant,
}

impl Rig {
    fn new(p: Policy) -> Self {
        let t0 = Instant::now();
        Rig {
            m: Machine::new(),
            p,
            t0,
            now: t0,
        }
    }
    pub(super) fn at(&mut self, s: f64) -> &mut Self {
        self.now = self.t0 + secs(s);
        self
    }
    pub(super) fn ev(&mut self, e: Event) -> Vec<Action> {
        self.m.step(e, &self.p, self.now)
    }
    /// Starts and spawns as pid 100 at t0.
    pub(super) fn started(p: Policy) -> Self {
        let mut r = Rig::new(p);
        assert_eq!(r.ev(Event::Start), vec![Action::Spawn]);
        r.ev(Event::Spawned { pid: 100 });
        r
    }
    fn running(p: Policy) -> Self {
        let mut r = Rig::started(p);
        let st = r.p.starttime.as_secs_f64();
        r.at(st).ev(Event::Timer);
        assert_eq!(r.m.state, State::Running);
        r
    }
}

pub(super) fn reports(actions: &[Action]) -> Vec<Report> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Report(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn start_from_stopped_spawns_and_enters_starting() {
    let mut r = Rig::new(policy());
    assert_eq!(r.ev(Event::Start), vec![Action::Spawn]);
    assert_eq!(r.m.state, State::Starting);
    let a = r.ev(Event::Spawned { pid: 7 });
    assert_eq!(reports(&a), vec![Report::Spawned { pid: 7 }]);
    assert_eq!(r.m.deadline, Some(r.t0 + secs(1.0)));
}

#[test]
fn starting_becomes_running_exactly_at_starttime() {
    let mut r = Rig::started(policy());
    assert!(r.at(0.999).ev(Event::Timer).is_empty());
    assert_eq!(r.m.state, State::Starting);
    let a = r.at(1.0).ev(Event::Timer);
    assert_eq!(r.m.state, State::Running);
    assert!(matches!(reports(&a)[..], [Report::Running { .. }]));
    assert_eq!(r.m.deadline, None);
}

#[test]
fn starttime_zero_is_running_once_spawned() {
    let mut r = Rig::new(Policy {
        starttime: Duration::ZERO,
        ..policy()
    });
    r.ev(Event::Start);
    assert_eq!(r.m.state, State::Starting);
    r.ev(Event::Spawned { pid: 9 });
    assert_eq!(r.m.state, State::Running);
}

#[test]
fn exit_while_starting_backs_off_one_two_three_seconds_then_fatal() {
    let mut r = Rig::started(policy()); // startretries 3
    let mut t = 0.5;
    for attempt in 1..=3u32 {
        let a = r.at(t).ev(Event::Exited(ExitStatus::Code(1)));
        assert_eq!(r.m.state, State::Backoff, "attempt {attempt}");
        assert!(reports(&a).contains(&Report::Backoff {
            attempt,
            delay: secs(attempt as f64),
            pid: Some(99 + attempt as i32)
        }));
        assert_eq!(r.m.spawnerr.as_deref(), Some(EXITED_TOO_QUICKLY));
        // Not due a hair before the delay; due exactly at it.
        assert!(r.at(t + attempt as f64 - 0.001).ev(Event::Timer).is_empty());
        t += attempt as f64;
        assert_eq!(r.at(t).ev(Event::Timer), vec![Action::Spawn]);
        assert_eq!(r.m.restarts, attempt);
        r.ev(Event::Spawned {
            pid: 100 + attempt as i32,
        });
        t += 0.1;
    }
    let a = r.at(t).ev(Event::Exited(ExitStatus::Code(1)));
    assert_eq!(r.m.state, State::Fatal);
    // The alert names the last process that exited.
    assert!(reports(&a).contains(&Report::GaveUp { pid: Some(103) }));
    assert_eq!(r.m.deadline, None);
}

#[test]
fn startretries_zero_goes_fatal_at_first_failure() {
    let mut r = Rig::started(Policy {
        startretries: 0,
        ..policy()
    });
    r.at(0.1).ev(Event::Exited(ExitStatus::Code(0)));
    assert_eq!(r.m.state, State::Fatal);
}

#[test]
fn spawn_error_counts_as_failed_start() {
    let mut r = Rig::new(policy());
    r.ev(Event::Start);
    let a = r.ev(Event::SpawnFailed {
        reason: "can't find command 'x'".into(),
    });
    assert_eq!(r.m.state, State::Backoff);
    assert_eq!(r.m.spawnerr.as_deref(), Some("can't find command 'x'"));
    assert!(matches!(reports(&a)[0], Report::SpawnError { .. }));
}

#[test]
fn running_resets_retry_counter() {
    let mut r = Rig::started(policy());
    r.at(0.2).ev(Event::Exited(ExitStatus::Code(1)));
    assert_eq!(r.m.backoff, 1);
    r.at(1.2).ev(Event::Timer);
    r.ev(Event::Spawned { pid: 5 });
    r.at(2.2).ev(Event::Timer);
    assert_eq!(r.m.state, State::Running);
    assert_eq!(r.m.backoff, 0);
}

#[test]
fn manual_start_resets_counters() {
    let mut r = Rig::started(Policy {
        startretries: 0,
        ..policy()
    });
    r.at(0.1).ev(Event::Exited(ExitStatus::Code(1)));
    assert_eq!(r.m.state, State::Fatal);
    r.m.restarts = 4;
    assert_eq!(r.ev(Event::Start), vec![Action::Spawn]);
    assert_eq!((r.m.backoff, r.m.restarts), (0, 0));
}

fn exit_running(p: Policy, status: ExitStatus) -> (Rig, Vec<Action>) {
    let mut r = Rig::running(p);
    let a = r.at(5.0).ev(Event::Exited(status));
    (r, a)
}

#[test]
fn unexpected_restarts_on_code_not_in_exitcodes() {
    let (r, a) = exit_running(policy(), ExitStatus::Code(3));
    assert_eq!(r.m.state, State::Starting);
    assert!(a.contains(&Action::Spawn));
    assert!(reports(&a).contains(&Report::Exited {
        pid: 100,
        status: ExitStatus::Code(3),
        expected: false
    }));
    assert_eq!(r.m.restarts, 1);
}

#[test]
fn unexpected_keeps_expected_exit_exited() {
    let p = Policy {
        exitcodes: BTreeSet::from([0, 2]),
        ..policy()
    };
    let (r, a) = exit_running(p, ExitStatus::Code(2));
    assert_eq!(r.m.state, State::Exited);
    assert!(!a.contains(&Action::Spawn));
    assert_eq!(r.m.last_exit, Some(ExitStatus::Code(2)));
}

#[test]
fn death_by_signal_is_unexpected() {
    let (r, a) = exit_running(policy(), ExitStatus::Signal(Signal::SIGKILL));
    assert!(a.contains(&Action::Spawn));
    assert_eq!(r.m.state, State::Starting);
}

#[test]
fn never_stays_exited_even_when_unexpected() {
    let p = Policy {
        autorestart: AutoRestart::Never,
        ..policy()
    };
    let (r, a) = exit_running(p, ExitStatus::Code(9));
    assert_eq!(r.m.state, State::Exited);
    assert!(!a.contains(&Action::Spawn));
}

#[test]
fn always_restarts_even_when_expected() {
    let p = Policy {
        autorestart: AutoRestart::Always,
        ..policy()
    };
    let (r, a) = exit_running(p, ExitStatus::Code(0));
    assert!(a.contains(&Action::Spawn));
    assert_eq!(r.m.state, State::Starting);
}

#[test]
fn backoff_retries_happen_whatever_autorestart_says() {
    let mut r = Rig::started(Policy {
        autorestart: AutoRestart::Never,
        ..policy()
    });
    r.at(0.5).ev(Event::Exited(ExitStatus::Code(0)));
    assert_eq!(r.m.state, State::Backoff);
    assert_eq!(r.at(1.5).ev(Event::Timer), vec![Action::Spawn]);
}

#[test]
fn stale_events_are_ignored() {
    let mut r = Rig::new(policy());
    assert!(r.ev(Event::Exited(ExitStatus::Code(0))).is_empty());
    assert!(r.ev(Event::Spawned { pid: 3 }).is_empty());
    assert!(r.ev(Event::Timer).is_empty());
    assert_eq!(r.m, Machine::new());
}

#[test]
fn exponential_backoff_grows_by_its_factor_up_to_its_max() {
    let mut r = Rig::started(Policy {
        startretries: 5,
        backoff: crate::config::Backoff::Exponential {
            initial: secs(0.5),
            max: secs(3.0),
            factor: 2.0,
        },
        ..policy()
    });
    let mut t = 0.1;
    for (attempt, delay) in [(1u32, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (5, 3.0)] {
        let a = r.at(t).ev(Event::Exited(ExitStatus::Code(1)));
        assert!(
            reports(&a).contains(&Report::Backoff {
                attempt,
                delay: secs(delay),
                pid: Some(if attempt == 1 {
                    100
                } else {
                    199 + attempt as i32
                })
            }),
            "attempt {attempt}: {a:?}"
        );
        assert!(r.at(t + delay - 0.001).ev(Event::Timer).is_empty());
        t += delay;
        assert_eq!(r.at(t).ev(Event::Timer), vec![Action::Spawn]);
        r.ev(Event::Spawned {
            pid: 200 + attempt as i32,
        });
        t += 0.1;
    }
}

#[test]
fn infinite_retries_never_give_up() {
    let mut r = Rig::started(Policy {
        startretries: INFINITE_RETRIES,
        ..policy()
    });
    let mut t = 0.1;
    for attempt in 1..=50u32 {
        r.at(t).ev(Event::Exited(ExitStatus::Code(1)));
        assert_eq!(r.m.state, State::Backoff, "attempt {attempt}");
        t += attempt as f64;
        r.at(t).ev(Event::Timer);
        r.ev(Event::Spawned { pid: 300 });
        t += 0.1;
    }
}

#[path = "state_exit_tests.rs"]
mod exits;
#[path = "state_group_tests.rs"]
mod groups;
#[path = "state_health_tests.rs"]
mod health;
#[path = "state_memory_tests.rs"]
mod memory;
#[path = "state_stop_tests.rs"]
mod stops;
#[path = "state_throttle_tests.rs"]
mod throttle;
