//! `restart_throttle`: autorestarts after a run of quick deaths (children that
//! lived less than `QUICK_DEATH`) wait in BACKOFF, the wait doubling up to its
//! cap; a child that lives `QUICK_DEATH` makes them immediate again.

use super::*;
use crate::config::RestartThrottle;

fn looping() -> Policy {
    Policy {
        starttime: Duration::ZERO,
        autorestart: AutoRestart::Always,
        ..policy()
    }
}

/// A machine RUNNING pid 100 since t = 0 (starttime 0).
fn rig(p: Policy) -> Rig {
    let r = Rig::started(p);
    assert_eq!(r.m.state, State::Running);
    r
}

/// The child dies at `t`; when that restarts it at once, it is spawned as `pid`.
fn die_at(r: &mut Rig, t: f64, pid: i32) -> Vec<Action> {
    let a = r.at(t).ev(Event::Exited(ExitStatus::Code(1)));
    if a.contains(&Action::Spawn) {
        r.ev(Event::Spawned { pid });
    }
    a
}

#[test]
fn the_delay_is_none_for_the_first_quick_deaths_then_doubles_up_to_its_cap() {
    let t = RestartThrottle::default();
    assert_eq!((t.delay(0), t.delay(3)), (None, None));
    assert_eq!(t.delay(4), Some(secs(0.1)));
    assert_eq!(t.delay(5), Some(secs(0.2)));
    assert_eq!(t.delay(10), Some(secs(6.4)));
    assert_eq!(t.delay(11), Some(secs(10.0)));
    assert_eq!(t.delay(u32::MAX), Some(secs(10.0)));
    let at_once = RestartThrottle { after: 0, ..t };
    assert_eq!(
        (at_once.delay(0), at_once.delay(1)),
        (None, Some(secs(0.1)))
    );
}

#[test]
fn three_quick_deaths_restart_at_once_the_fourth_waits_in_backoff() {
    let mut r = rig(looping());
    for (i, t) in [0.1, 0.2, 0.3].into_iter().enumerate() {
        let a = die_at(&mut r, t, 101 + i as i32);
        assert!(a.contains(&Action::Spawn), "death {}: {a:?}", i + 1);
        assert!(!reports(&a).contains(&Report::Unthrottled));
    }
    assert_eq!((r.m.restarts, r.m.quick_deaths), (3, 3));
    let a = die_at(&mut r, 0.4, 0);
    assert!(!a.contains(&Action::Spawn));
    assert!(reports(&a).contains(&Report::Throttled {
        quick_deaths: 4,
        delay: secs(0.1)
    }));
    assert_eq!(r.m.state, State::Backoff);
    assert_eq!(r.m.deadline, Some(r.t0 + secs(0.5)));
    assert_eq!(r.m.restarts, 3, "counted when the restart happens");
    assert_eq!(r.m.backoff, 0, "not a failed start");
    let why = r.m.spawnerr.clone().unwrap_or_default();
    assert!(
        why.starts_with("restarting too often: next restart in 0.1 s"),
        "{why}"
    );
    // Not a hair early; at the deadline, the restart.
    assert!(r.at(0.499).ev(Event::Timer).is_empty());
    assert_eq!(r.at(0.5).ev(Event::Timer), vec![Action::Spawn]);
    assert_eq!(r.m.restarts, 4);
    r.ev(Event::Spawned { pid: 200 });
    assert_eq!(r.m.spawnerr, None);
}

#[test]
fn the_wait_doubles_with_each_quick_death_and_is_reported_once() {
    let mut r = rig(looping());
    let mut t = 0.0;
    let mut delays = Vec::new();
    let mut throttled_lines = 0;
    for pid in 101..115 {
        t += 0.01;
        let a = die_at(&mut r, t, pid);
        throttled_lines += reports(&a)
            .iter()
            .filter(|r| matches!(r, Report::Throttled { .. }))
            .count();
        if r.m.state == State::Backoff {
            let deadline = r.m.deadline.expect("a restart deadline");
            let delay = deadline.duration_since(r.now).as_secs_f64();
            delays.push((delay * 1000.0).round() / 1000.0);
            t = deadline.duration_since(r.t0).as_secs_f64();
            assert_eq!(r.at(t).ev(Event::Timer), vec![Action::Spawn]);
            r.ev(Event::Spawned { pid: pid + 1000 });
        }
    }
    assert_eq!(
        delays,
        [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0, 10.0]
    );
    assert_eq!(throttled_lines, 1);
    assert_eq!(r.m.restarts, 14);
}

/// After a throttled restart, the child that stays up `QUICK_DEATH` ends the
/// throttling at that deadline (a line says so), and its exit restarts at once.
#[test]
fn a_child_that_stays_up_a_second_ends_the_throttling() {
    let mut r = rig(looping());
    for (i, t) in [0.1, 0.2, 0.3, 0.4].into_iter().enumerate() {
        die_at(&mut r, t, 101 + i as i32);
    }
    r.at(0.5).ev(Event::Timer);
    r.ev(Event::Spawned { pid: 200 });
    assert_eq!(r.m.state, State::Running);
    assert_eq!(r.m.deadline, Some(r.t0 + secs(1.5)));
    assert!(r.at(1.499).ev(Event::Timer).is_empty());
    assert_eq!(
        reports(&r.at(1.5).ev(Event::Timer)),
        vec![Report::Unthrottled]
    );
    assert_eq!(
        (r.m.quick_deaths, r.m.throttled, r.m.deadline),
        (0, false, None)
    );
    let a = die_at(&mut r, 30.0, 201);
    assert!(a.contains(&Action::Spawn), "at once: {a:?}");
    assert!(!reports(&a).contains(&Report::Unthrottled));
}

/// The exit of a child that lived `QUICK_DEATH` is handled before the deadline
/// that would have ended the throttling: it ends it, and restarts at once.
#[test]
fn an_exit_after_a_second_up_restarts_at_once_even_while_throttled() {
    let mut r = rig(looping());
    for (i, t) in [0.1, 0.2, 0.3, 0.4].into_iter().enumerate() {
        die_at(&mut r, t, 101 + i as i32);
    }
    r.at(0.5).ev(Event::Timer);
    r.ev(Event::Spawned { pid: 200 });
    let a = die_at(&mut r, 1.5, 201);
    assert!(reports(&a).contains(&Report::Unthrottled));
    assert_eq!(a.last(), Some(&Action::Spawn));
    assert_eq!(r.m.state, State::Running);
}

#[test]
fn a_child_that_lived_a_second_is_no_quick_death() {
    let mut r = rig(looping());
    let mut t = 0.0;
    for pid in 101..120 {
        t += 1.0;
        let a = die_at(&mut r, t, pid);
        assert!(a.contains(&Action::Spawn), "restart {pid}: {a:?}");
    }
    assert_eq!(r.m.quick_deaths, 0);
}

#[test]
fn stop_or_shutdown_during_the_wait_is_stopped_at_once() {
    for event in [Event::Stop, Event::Shutdown, Event::KillNow] {
        let mut r = rig(looping());
        for (i, t) in [0.1, 0.2, 0.3, 0.4].into_iter().enumerate() {
            die_at(&mut r, t, 101 + i as i32);
        }
        assert_eq!(r.m.state, State::Backoff);
        assert!(r.at(0.45).ev(event.clone()).is_empty(), "{event:?}");
        assert_eq!(r.m.state, State::Stopped, "{event:?}");
        assert!(r.at(0.5).ev(Event::Timer).is_empty(), "{event:?}");
        assert_eq!(r.m.restarts, 3);
    }
}

#[test]
fn a_manual_start_resets_the_throttle() {
    let mut r = rig(looping());
    for (i, t) in [0.1, 0.2, 0.3, 0.4].into_iter().enumerate() {
        die_at(&mut r, t, 101 + i as i32);
    }
    r.at(0.45).ev(Event::Stop);
    assert_eq!(r.at(0.6).ev(Event::Start), vec![Action::Spawn]);
    assert_eq!((r.m.quick_deaths, r.m.throttled), (0, false));
    r.ev(Event::Spawned { pid: 300 });
    assert_eq!(r.m.deadline, None, "no throttling to end");
}

#[test]
fn without_a_throttle_every_quick_death_restarts_at_once() {
    let mut r = rig(Policy {
        restart_throttle: None,
        ..looping()
    });
    for pid in 101..150 {
        let a = die_at(&mut r, 0.001 * f64::from(pid - 100), pid);
        assert!(a.contains(&Action::Spawn));
    }
    assert_eq!(r.m.restarts, 49);
}

#[test]
fn no_autorestart_means_no_throttling_either() {
    let mut r = rig(Policy {
        autorestart: AutoRestart::Never,
        ..looping()
    });
    let a = die_at(&mut r, 0.1, 0);
    assert_eq!(r.m.state, State::Exited);
    assert!(!a.contains(&Action::Spawn));
    assert!(!r.m.throttled);
}
