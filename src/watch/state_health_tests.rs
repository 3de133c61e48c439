//! Health checks in the machine, transition by transition: `starting` until the
//! first pass, `retries` failures in a row → `unhealthy` and `on_failure`,
//! failures in the `start_period` not counted, health (and so the checks) set
//! exactly while RUNNING under a healthcheck, cleared by a stop or an exit.

use super::*;
use crate::config::{HealthCheck, OnFailure, Probe};

const INTERVAL: f64 = 2.0;

fn checked(on_failure: OnFailure, start_period: f64) -> Policy {
    Policy {
        healthcheck: Some(HealthCheck {
            probe: Probe::Tcp {
                host: "127.0.0.1".into(),
                port: 1,
            },
            interval: secs(INTERVAL),
            timeout: secs(1.0),
            retries: 3,
            start_period: secs(start_period),
            on_failure,
        }),
        ..policy()
    }
}

/// RUNNING since t = 1 (its starttime): checks are due from then.
fn running_checked(p: Policy) -> Rig {
    let r = Rig::running(p);
    assert_eq!(r.m.health.state, Some(HealthState::Starting));
    r
}

/// The result of a check of pid 100 at `t`.
fn check_at(r: &mut Rig, t: f64, result: Result<(), &str>) -> Vec<Action> {
    r.at(t).ev(Event::HealthChecked {
        pid: 100,
        result: result.map_err(str::to_string),
    })
}

#[test]
fn without_a_healthcheck_nothing_is_scheduled() {
    let mut r = Rig::running(policy());
    assert_eq!(r.m.health, Health::default());
    assert_eq!(r.at(5.0).ev(Event::Timer), vec![]);
    // A result that arrives anyway changes nothing.
    let a = r.ev(Event::HealthChecked {
        pid: 100,
        result: Ok(()),
    });
    assert_eq!((a, r.m.health.state), (vec![], None));
}

#[test]
fn no_check_before_running() {
    let r = Rig::started(checked(OnFailure::Alert, 0.0));
    assert_eq!(r.m.state, State::Starting);
    assert_eq!(r.m.health, Health::default());
}

#[test]
fn the_first_pass_makes_it_healthy_and_a_second_pass_changes_nothing() {
    let mut r = running_checked(checked(OnFailure::Alert, 0.0));
    let a = check_at(&mut r, 1.0, Ok(()));
    assert_eq!(reports(&a), vec![Report::Healthy]);
    assert_eq!(r.m.health.state, Some(HealthState::Healthy));
    // What the checker thread relies on to send no repeated pass: nothing changes.
    let before = r.m.clone();
    assert_eq!(check_at(&mut r, 3.0, Ok(())), vec![]);
    assert_eq!(r.m, before);
    // The machine's own deadline is untouched by checks.
    assert_eq!(r.m.deadline, None);
}

#[test]
fn retries_failures_in_a_row_make_it_unhealthy_once() {
    let mut r = running_checked(checked(OnFailure::Alert, 0.0));
    check_at(&mut r, 1.0, Ok(()));
    assert_eq!(check_at(&mut r, 3.0, Err("refused")), vec![]);
    assert_eq!(check_at(&mut r, 5.0, Err("refused")), vec![]);
    assert_eq!(r.m.health.state, Some(HealthState::Healthy));
    assert_eq!(r.m.health.reason.as_deref(), Some("refused"));
    let a = check_at(&mut r, 7.0, Err("timed out"));
    assert_eq!(
        reports(&a),
        vec![Report::Unhealthy {
            failures: 3,
            reason: "timed out".into(),
            on_failure: OnFailure::Alert
        }]
    );
    assert_eq!(r.m.health.state, Some(HealthState::Unhealthy));
    // `alert` touches no process.
    assert_eq!((r.m.state, r.m.pid), (State::Running, Some(100)));
    // More failures say nothing more; a pass makes it healthy again.
    assert_eq!(check_at(&mut r, 9.0, Err("timed out")), vec![]);
    assert_eq!(
        reports(&check_at(&mut r, 11.0, Ok(()))),
        vec![Report::Healthy]
    );
    assert_eq!(r.m.health.reason, None);
    assert_eq!(r.m.health.failures, 0);
}

#[test]
fn a_pass_between_failures_starts_the_count_again() {
    let mut r = running_checked(checked(OnFailure::Nothing, 0.0));
    check_at(&mut r, 1.0, Err("x"));
    check_at(&mut r, 3.0, Err("x"));
    check_at(&mut r, 5.0, Ok(()));
    check_at(&mut r, 7.0, Err("x"));
    check_at(&mut r, 9.0, Err("x"));
    assert_eq!(r.m.health.state, Some(HealthState::Healthy));
    let a = check_at(&mut r, 11.0, Err("x"));
    assert!(matches!(
        reports(&a)[..],
        [Report::Unhealthy {
            on_failure: OnFailure::Nothing,
            ..
        }]
    ));
    assert_eq!(r.m.state, State::Running);
}

#[test]
fn failures_in_the_start_period_do_not_count_but_a_pass_does() {
    // Spawned at 0, start_period 6: checks at 1, 3, 5 fail without counting.
    let mut r = running_checked(checked(OnFailure::Restart, 6.0));
    for t in [1.0, 3.0, 5.0] {
        assert_eq!(check_at(&mut r, t, Err("not yet")), vec![]);
        assert_eq!(r.m.health.failures, 0);
        assert_eq!(r.m.health.state, Some(HealthState::Starting));
        assert_eq!(r.m.health.reason.as_deref(), Some("not yet"));
    }
    // After it, they count.
    check_at(&mut r, 7.0, Err("x"));
    assert_eq!(r.m.health.failures, 1);
    // A pass inside the period makes it healthy, and failures count from then on.
    let mut r = running_checked(checked(OnFailure::Alert, 6.0));
    assert_eq!(
        reports(&check_at(&mut r, 1.0, Ok(()))),
        vec![Report::Healthy]
    );
    check_at(&mut r, 3.0, Err("x"));
    assert_eq!(r.m.health.failures, 1);
}

#[test]
fn on_failure_restart_stops_by_the_stop_rules_then_spawns_again() {
    let p = Policy {
        stopsignal: Signal::SIGUSR2,
        ..checked(OnFailure::Restart, 0.0)
    };
    let mut r = running_checked(p);
    check_at(&mut r, 1.0, Err("x"));
    check_at(&mut r, 3.0, Err("x"));
    let a = check_at(&mut r, 5.0, Err("x"));
    assert!(matches!(
        reports(&a)[..],
        [
            Report::Unhealthy { .. },
            Report::StopRequested {
                signal: Signal::SIGUSR2
            }
        ]
    ));
    assert!(a.contains(&Action::SignalGroup(Signal::SIGUSR2)));
    assert_eq!(r.m.state, State::Stopping);
    // Leaving RUNNING clears the health.
    assert_eq!(r.m.health, Health::default());
    let a = r
        .at(5.5)
        .ev(Event::Exited(ExitStatus::Signal(Signal::SIGUSR2)));
    assert!(a.contains(&Action::Spawn), "{a:?}");
    assert_eq!(r.m.restarts, 1);
    r.ev(Event::Spawned { pid: 101 });
    r.at(6.5).ev(Event::Timer);
    assert_eq!(r.m.state, State::Running);
    assert_eq!(r.m.health.state, Some(HealthState::Starting));
}

#[test]
fn a_stop_or_an_exit_clears_health_and_a_late_result_is_ignored() {
    let mut r = running_checked(checked(OnFailure::Alert, 0.0));
    check_at(&mut r, 1.0, Ok(()));
    r.at(3.0).ev(Event::Stop);
    assert_eq!(r.m.health, Health::default());
    // The check asked before the stop comes back: nothing.
    let a = r.ev(Event::HealthChecked {
        pid: 100,
        result: Err("x".into()),
    });
    assert_eq!(a, vec![]);
    assert_eq!(r.m.health, Health::default());

    let mut r = running_checked(checked(OnFailure::Alert, 0.0));
    check_at(&mut r, 1.0, Ok(()));
    r.at(2.0).ev(Event::Exited(ExitStatus::Code(1)));
    assert_eq!(r.m.health, Health::default());
}

#[test]
fn a_result_for_another_child_is_ignored() {
    let mut r = running_checked(checked(OnFailure::Alert, 0.0));
    let a = r.at(1.0).ev(Event::HealthChecked {
        pid: 99,
        result: Ok(()),
    });
    assert_eq!((a, r.m.health.state), (vec![], Some(HealthState::Starting)));
}

#[test]
fn a_reload_adding_or_dropping_the_check_applies_at_once() {
    let mut r = Rig::running(policy());
    r.p = checked(OnFailure::Alert, 0.0);
    r.at(2.0).ev(Event::Timer);
    assert_eq!(r.m.health.state, Some(HealthState::Starting));
    r.p = policy();
    r.at(2.5).ev(Event::Timer);
    assert_eq!(r.m.health, Health::default());
}

#[test]
fn status_words() {
    assert_eq!(describe_health(None, None), "");
    assert_eq!(
        describe_health(Some(HealthState::Healthy), None),
        ", healthy"
    );
    assert_eq!(
        describe_health(Some(HealthState::Starting), None),
        ", health: starting"
    );
    assert_eq!(
        describe_health(Some(HealthState::Unhealthy), Some("refused")),
        ", unhealthy: refused"
    );
    assert_eq!(
        describe_health(Some(HealthState::Starting), Some("refused")),
        ", health: starting (last check failed: refused)"
    );
}
