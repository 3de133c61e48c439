//! `max_memory`: the check's own deadline, only while RUNNING under a limit, and a
//! sample over the limit restarting the instance by its stop rules — a restart
//! that never counts as a failed start.

use super::*;
use crate::config::MEMORY_CHECK_INTERVAL;

const LIMIT: u64 = 100 << 20;

fn limited() -> Policy {
    Policy {
        max_memory: Some(LIMIT),
        ..policy()
    }
}

/// Running since t = 1 (its starttime), so its first check is due at t = 2.
fn running_limited(p: Policy) -> Rig {
    let r = Rig::running(p);
    assert_eq!(
        r.m.memory_check_at,
        Some(r.t0 + secs(1.0) + MEMORY_CHECK_INTERVAL)
    );
    r
}

fn over(r: &mut Rig) -> Vec<Action> {
    r.ev(Event::MemorySampled {
        rss_bytes: LIMIT + 1,
    })
}

#[test]
fn without_a_limit_no_check_is_ever_scheduled() {
    let mut r = Rig::running(policy());
    assert_eq!(r.m.memory_check_at, None);
    for t in [2.0, 3.0, 60.0] {
        assert!(!r.at(t).ev(Event::Timer).contains(&Action::CheckMemory));
        assert_eq!(r.m.memory_check_at, None);
    }
}

#[test]
fn no_check_before_running() {
    let mut r = Rig::started(limited());
    assert_eq!(r.m.state, State::Starting);
    assert_eq!(r.m.memory_check_at, None);
    // A sample that arrives anyway changes nothing.
    assert_eq!(over(&mut r), vec![]);
    assert_eq!(r.m.state, State::Starting);
}

#[test]
fn a_running_instance_under_a_limit_is_checked_every_interval() {
    let mut r = running_limited(limited());
    let first = r.t0 + secs(1.0) + MEMORY_CHECK_INTERVAL;
    // Not due yet: nothing.
    assert_eq!(r.at(1.5).ev(Event::Timer), vec![]);
    assert_eq!(r.m.memory_check_at, Some(first));
    let due = (first - r.t0).as_secs_f64();
    assert_eq!(r.at(due).ev(Event::Timer), vec![Action::CheckMemory]);
    assert_eq!(r.m.memory_check_at, Some(first + MEMORY_CHECK_INTERVAL));
    // The machine's own deadline is untouched by the check.
    assert_eq!(r.m.deadline, None);
}

#[test]
fn a_sample_at_or_under_the_limit_changes_nothing() {
    let mut r = running_limited(limited());
    for rss_bytes in [0, LIMIT / 2, LIMIT] {
        assert_eq!(r.at(2.0).ev(Event::MemorySampled { rss_bytes }), vec![]);
        assert_eq!(r.m.state, State::Running);
    }
}

#[test]
fn a_sample_over_the_limit_stops_by_the_stop_rules() {
    let p = Policy {
        stopsignal: Signal::SIGUSR2,
        ..limited()
    };
    let mut r = running_limited(p);
    let a = r.at(2.0).ev(Event::MemorySampled {
        rss_bytes: LIMIT + 5,
    });
    assert_eq!(
        a,
        vec![
            Action::Report(Report::MemoryOver {
                used: LIMIT + 5,
                limit: LIMIT
            }),
            Action::SignalGroup(Signal::SIGUSR2),
            Action::SignalGroup(Signal::SIGCONT),
            Action::Report(Report::StopRequested {
                signal: Signal::SIGUSR2
            }),
        ]
    );
    assert_eq!(r.m.state, State::Stopping);
    assert_eq!(r.m.deadline, Some(r.t0 + secs(12.0)), "stoptime 10 s");
    assert_eq!(r.m.memory_check_at, None, "no check while stopping");
    // stoptime passes: SIGKILL, as for any stop.
    let a = r.at(12.0).ev(Event::Timer);
    assert_eq!(
        a,
        vec![
            Action::SignalGroup(Signal::SIGKILL),
            Action::Report(Report::Killed)
        ]
    );
}

#[test]
fn once_the_child_is_gone_it_is_spawned_again_as_a_restart() {
    // No autorestart and no retries: the memory restart needs neither.
    let p = Policy {
        autorestart: AutoRestart::Never,
        startretries: 0,
        ..limited()
    };
    let mut r = running_limited(p);
    for round in 1..=3u32 {
        over(&mut r);
        let a = r.ev(Event::Exited(ExitStatus::Signal(Signal::SIGTERM)));
        assert_eq!(
            reports(&a),
            vec![Report::Stopped {
                status: ExitStatus::Signal(Signal::SIGTERM)
            }]
        );
        assert_eq!(a.last(), Some(&Action::Spawn), "{a:?}");
        assert_eq!(r.m.state, State::Starting);
        assert_eq!(r.m.restarts, round);
        assert_eq!(r.m.backoff, 0, "a memory restart is no failed start");
        assert!(!r.m.restart_after_stop);
        let pid = 100 + i32::try_from(round).unwrap();
        r.ev(Event::Spawned { pid });
        let now = (r.now - r.t0).as_secs_f64();
        r.at(now + 1.0).ev(Event::Timer);
        assert_eq!(r.m.state, State::Running, "round {round}");
        assert!(r.m.memory_check_at.is_some());
    }
}

#[test]
fn a_failed_start_after_a_memory_restart_follows_the_usual_retries() {
    let p = Policy {
        startretries: 1,
        ..limited()
    };
    let mut r = running_limited(p);
    over(&mut r);
    r.ev(Event::Exited(ExitStatus::Signal(Signal::SIGTERM)));
    let a = r.ev(Event::SpawnFailed {
        reason: "gone".into(),
    });
    assert!(reports(&a).contains(&Report::Backoff {
        attempt: 1,
        delay: secs(1.0),
        pid: None
    }));
    assert_eq!(r.m.state, State::Backoff);
}

#[test]
fn a_stop_or_shutdown_during_the_memory_stop_cancels_the_restart() {
    for event in [Event::Stop, Event::Shutdown, Event::KillNow] {
        let mut r = running_limited(limited());
        over(&mut r);
        r.ev(event.clone());
        let a = r.ev(Event::Exited(ExitStatus::Signal(Signal::SIGTERM)));
        assert!(!a.contains(&Action::Spawn), "{event:?}: {a:?}");
        assert_eq!(r.m.state, State::Stopped, "{event:?}");
        assert_eq!(r.m.restarts, 0);
    }
}

#[test]
fn a_manual_start_during_the_memory_stop_is_a_manual_start() {
    let mut r = running_limited(limited());
    over(&mut r);
    r.ev(Event::Start);
    let a = r.ev(Event::Exited(ExitStatus::Signal(Signal::SIGTERM)));
    assert_eq!(a.last(), Some(&Action::Spawn));
    assert_eq!(r.m.restarts, 0, "a manual start resets the count");
    assert!(!r.m.restart_after_stop);
}

#[test]
fn an_exit_on_its_own_after_the_sample_is_no_memory_restart() {
    // The child died of its own before the sample was taken: nothing to stop.
    let mut r = running_limited(Policy {
        autorestart: AutoRestart::Never,
        ..limited()
    });
    r.at(2.0).ev(Event::Exited(ExitStatus::Code(0)));
    assert_eq!(r.m.state, State::Exited);
    assert_eq!(over(&mut r), vec![]);
    assert_eq!(r.m.state, State::Exited);
    assert_eq!(r.m.memory_check_at, None);
}

#[test]
fn a_limit_set_or_dropped_in_place_starts_or_ends_the_checks() {
    let mut r = Rig::running(policy());
    assert_eq!(r.m.memory_check_at, None);
    // A reload sets max_memory: the watcher's next Timer schedules the check.
    r.p = limited();
    r.at(5.0).ev(Event::Timer);
    assert_eq!(
        r.m.memory_check_at,
        Some(r.t0 + secs(5.0) + MEMORY_CHECK_INTERVAL)
    );
    assert_eq!(r.m.state, State::Running);
    assert_eq!(r.m.pid, Some(100), "no restart");
    // …and drops it: no check any more.
    r.p = policy();
    r.at(5.5).ev(Event::Timer);
    assert_eq!(r.m.memory_check_at, None);
    assert_eq!(r.at(6.0).ev(Event::Timer), vec![]);
    // A sample taken under the old limit is judged by the new policy: none.
    assert_eq!(over(&mut r), vec![]);
    assert_eq!(r.m.state, State::Running);
}
