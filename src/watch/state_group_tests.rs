//! The rest of a process group when its leader is gone: signalled and given its
//! `stoptime` whatever the state the leader exited in; and a stop signal is
//! followed by SIGCONT so that a stopped process can act on it.

use super::*;

fn clean_ups(actions: &[Action]) -> Vec<Action> {
    actions
        .iter()
        .filter(|a| matches!(a, Action::CleanUpGroup { .. }))
        .cloned()
        .collect()
}

#[test]
fn exit_while_running_sends_the_stop_signal_to_the_group_before_the_restart() {
    let p = Policy {
        autorestart: AutoRestart::Always,
        stopsignal: Signal::SIGUSR1,
        ..policy()
    };
    let mut r = Rig::running(p);
    let a = r.at(5.0).ev(Event::Exited(ExitStatus::Code(1)));
    let clean_up = Action::CleanUpGroup {
        pgid: 100,
        signal: Some(Signal::SIGUSR1),
        kill_at: r.t0 + secs(15.0),
    };
    assert_eq!(clean_ups(&a), vec![clean_up.clone()]);
    let at = |x: &Action| a.iter().position(|y| y == x);
    assert!(at(&clean_up) < at(&Action::Spawn), "{a:?}");
    assert_eq!(r.m.state, State::Starting);
}

#[test]
fn exit_while_running_without_restart_still_cleans_up_the_group() {
    let p = Policy {
        autorestart: AutoRestart::Never,
        ..policy()
    };
    let mut r = Rig::running(p);
    let a = r.at(2.0).ev(Event::Exited(ExitStatus::Code(0)));
    assert_eq!(
        clean_ups(&a),
        vec![Action::CleanUpGroup {
            pgid: 100,
            signal: Some(Signal::SIGTERM),
            kill_at: r.t0 + secs(12.0),
        }]
    );
    assert_eq!(r.m.state, State::Exited);
}

#[test]
fn early_death_while_starting_cleans_up_the_group_and_backs_off() {
    let mut r = Rig::started(policy());
    let a = r.at(0.2).ev(Event::Exited(ExitStatus::Code(1)));
    assert_eq!(
        clean_ups(&a),
        vec![Action::CleanUpGroup {
            pgid: 100,
            signal: Some(Signal::SIGTERM),
            kill_at: r.t0 + secs(10.2),
        }]
    );
    assert_eq!(r.m.state, State::Backoff);
}

#[test]
fn exit_while_stopping_keeps_the_stop_deadline_and_signals_nothing_more() {
    let mut r = Rig::running(policy());
    r.at(2.0).ev(Event::Stop);
    let a = r.at(3.0).ev(Event::Exited(ExitStatus::Code(0)));
    assert_eq!(
        clean_ups(&a),
        vec![Action::CleanUpGroup {
            pgid: 100,
            signal: None,
            kill_at: r.t0 + secs(12.0),
        }]
    );
    assert_eq!(r.m.state, State::Stopped);
}

#[test]
fn exit_after_kill_now_kills_what_is_left_at_once() {
    let mut r = Rig::running(policy());
    r.at(2.0).ev(Event::KillNow);
    let a = r
        .at(2.1)
        .ev(Event::Exited(ExitStatus::Signal(Signal::SIGKILL)));
    assert_eq!(
        clean_ups(&a),
        vec![Action::CleanUpGroup {
            pgid: 100,
            signal: None,
            kill_at: r.t0 + secs(2.1),
        }]
    );
}

#[test]
fn a_spawn_error_has_no_group_to_clean_up() {
    let mut r = Rig::new(policy());
    r.ev(Event::Start);
    let a = r.ev(Event::SpawnFailed {
        reason: "nope".into(),
    });
    assert_eq!(clean_ups(&a), vec![]);
}

#[test]
fn stop_follows_the_stop_signal_with_sigcont() {
    let mut r = Rig::running(policy());
    let a = r.at(2.0).ev(Event::Stop);
    assert_eq!(
        a[..2],
        [
            Action::SignalGroup(Signal::SIGTERM),
            Action::SignalGroup(Signal::SIGCONT)
        ]
    );
}

#[test]
fn sigkill_or_sigcont_as_stop_signal_is_sent_alone() {
    for sig in [Signal::SIGKILL, Signal::SIGCONT] {
        let mut r = Rig::running(Policy {
            stopsignal: sig,
            ..policy()
        });
        let a = r.at(2.0).ev(Event::Stop);
        let signals: Vec<_> = a
            .iter()
            .filter(|a| matches!(a, Action::SignalGroup(_)))
            .collect();
        assert_eq!(signals, vec![&Action::SignalGroup(sig)]);
        assert!(!continue_after(sig));
    }
    assert!(continue_after(Signal::SIGINT));
}
