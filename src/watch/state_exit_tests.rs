//! Exits: one handled while still STARTING is judged by how long the child lived,
//! not by whether the starttime deadline has been handled yet; and the reports name
//! the process that exited (alerts carry its pid).

use super::*;

fn lived(p: Policy, lifetime: f64, status: ExitStatus) -> (Rig, Vec<Action>) {
    let mut r = Rig::started(p);
    let a = r.at(lifetime).ev(Event::Exited(status));
    (r, a)
}

#[test]
fn exit_exactly_at_starttime_is_a_successful_start_then_an_expected_exit() {
    let p = Policy {
        autorestart: AutoRestart::Unexpected,
        ..policy()
    };
    let (r, a) = lived(p, 1.0, ExitStatus::Code(0));
    assert_eq!(
        reports(&a),
        vec![
            Report::Running {
                starttime: secs(1.0)
            },
            Report::Exited {
                pid: 100,
                status: ExitStatus::Code(0),
                expected: true
            }
        ]
    );
    assert_eq!(r.m.state, State::Exited);
    assert_eq!((r.m.backoff, r.m.restarts), (0, 0));
    assert_eq!(r.m.spawnerr, None);
    assert!(!a.contains(&Action::Spawn));
}

#[test]
fn exit_long_after_an_unhandled_starttime_deadline_follows_autorestart() {
    let p = Policy {
        autorestart: AutoRestart::Unexpected,
        ..policy()
    };
    let (r, a) = lived(p, 7.5, ExitStatus::Code(3));
    assert_eq!(
        reports(&a)[..2],
        [
            Report::Running {
                starttime: secs(1.0)
            },
            Report::Exited {
                pid: 100,
                status: ExitStatus::Code(3),
                expected: false
            }
        ]
    );
    assert_eq!(a.last(), Some(&Action::Spawn));
    assert_eq!(r.m.state, State::Starting);
    assert_eq!((r.m.backoff, r.m.restarts), (0, 1));
}

#[test]
fn exit_after_starttime_resets_the_failed_start_count() {
    let mut r = Rig::started(policy());
    r.at(0.5).ev(Event::Exited(ExitStatus::Code(1)));
    assert_eq!(r.m.backoff, 1);
    r.at(1.5).ev(Event::Timer);
    r.ev(Event::Spawned { pid: 101 });
    r.at(2.5).ev(Event::Exited(ExitStatus::Code(0)));
    assert_eq!(r.m.state, State::Exited);
    assert_eq!(r.m.backoff, 0);
}

#[test]
fn exit_just_before_starttime_exited_too_quickly() {
    let p = Policy {
        autorestart: AutoRestart::Never,
        ..policy()
    };
    let (r, a) = lived(p, 0.999, ExitStatus::Code(0));
    assert_eq!(
        reports(&a)[0],
        Report::Exited {
            pid: 100,
            status: ExitStatus::Code(0),
            expected: false
        }
    );
    assert!(!reports(&a)
        .iter()
        .any(|r| matches!(r, Report::Running { .. })));
    assert_eq!(r.m.state, State::Backoff);
    assert_eq!(r.m.spawnerr.as_deref(), Some(EXITED_TOO_QUICKLY));
}

#[test]
fn fatal_after_spawn_errors_names_no_process() {
    let mut r = Rig::new(Policy {
        startretries: 0,
        ..policy()
    });
    r.ev(Event::Start);
    let a = r.ev(Event::SpawnFailed {
        reason: "can't find command 'x'".into(),
    });
    assert_eq!(reports(&a)[1], Report::GaveUp { pid: None });
}

#[test]
fn backoff_after_a_spawn_error_names_no_process_and_fatal_the_last_exited() {
    let mut r = Rig::started(Policy {
        startretries: 1,
        ..policy()
    });
    let a = r.at(0.5).ev(Event::Exited(ExitStatus::Code(1)));
    assert!(reports(&a).contains(&Report::Backoff {
        attempt: 1,
        delay: secs(1.0),
        pid: Some(100)
    }));
    r.at(1.5).ev(Event::Timer);
    let a = r.ev(Event::SpawnFailed {
        reason: "no".into(),
    });
    assert!(reports(&a).contains(&Report::GaveUp { pid: Some(100) }));
    // A manual start forgets the processes of the previous run.
    r.ev(Event::Start);
    let a = r.ev(Event::SpawnFailed {
        reason: "no".into(),
    });
    assert!(reports(&a).contains(&Report::Backoff {
        attempt: 1,
        delay: secs(1.0),
        pid: None
    }));
}
