//! Stop, start and shutdown commands in every state: the stop signal then SIGKILL
//! at `stoptime`, no restart of a process being stopped, a start or stop that
//! changes nothing, a start during a stop, and shutdown forbidding restarts.

use super::*;

#[test]
fn stop_sends_stopsignal_then_sigkill_at_stoptime() {
    let p = Policy {
        stopsignal: Signal::SIGUSR1,
        stoptime: secs(2.5),
        ..policy()
    };
    let mut r = Rig::running(p);
    let a = r.at(3.0).ev(Event::Stop);
    assert_eq!(r.m.state, State::Stopping);
    assert_eq!(a[0], Action::SignalGroup(Signal::SIGUSR1));
    assert!(r.at(5.499).ev(Event::Timer).is_empty());
    let a = r.at(5.5).ev(Event::Timer);
    assert_eq!(a[0], Action::SignalGroup(Signal::SIGKILL));
    assert_eq!(r.m.state, State::Stopping);
    let a = r
        .at(5.51)
        .ev(Event::Exited(ExitStatus::Signal(Signal::SIGKILL)));
    assert_eq!(r.m.state, State::Stopped);
    assert!(reports(&a).contains(&Report::Stopped {
        status: ExitStatus::Signal(Signal::SIGKILL)
    }));
}

#[test]
fn exit_while_stopping_is_never_restarted() {
    let mut r = Rig::running(Policy {
        autorestart: AutoRestart::Always,
        ..policy()
    });
    r.at(2.0).ev(Event::Stop);
    let a = r.ev(Event::Exited(ExitStatus::Code(1)));
    assert_eq!(r.m.state, State::Stopped);
    assert!(!a.contains(&Action::Spawn));
}

#[test]
fn stop_while_starting_stops() {
    let mut r = Rig::started(policy());
    r.at(0.5).ev(Event::Stop);
    assert_eq!(r.m.state, State::Stopping);
    r.ev(Event::Exited(ExitStatus::Signal(Signal::SIGTERM)));
    assert_eq!(r.m.state, State::Stopped);
}

#[test]
fn stop_in_backoff_is_immediate_and_final() {
    let mut r = Rig::started(policy());
    r.at(0.5).ev(Event::Exited(ExitStatus::Code(1)));
    assert!(r.ev(Event::Stop).is_empty());
    assert_eq!(r.m.state, State::Stopped);
    assert!(r.at(100.0).ev(Event::Timer).is_empty());
}

#[test]
fn stop_of_stopped_exited_or_fatal_changes_nothing() {
    let mut r = Rig::new(policy());
    assert!(r.ev(Event::Stop).is_empty());
    assert_eq!(r.m.state, State::Stopped);
}

#[test]
fn start_of_started_changes_nothing() {
    let mut r = Rig::running(policy());
    let before = r.m.clone();
    assert!(r.ev(Event::Start).is_empty());
    assert_eq!(r.m, before);
}

#[test]
fn start_while_stopping_starts_after_the_stop() {
    let mut r = Rig::running(policy());
    r.at(2.0).ev(Event::Stop);
    assert!(r.ev(Event::Start).is_empty());
    let a = r.ev(Event::Exited(ExitStatus::Code(0)));
    assert!(a.contains(&Action::Spawn));
    assert_eq!(r.m.state, State::Starting);
}

#[test]
fn shutdown_stops_and_forbids_restarts() {
    let mut r = Rig::running(Policy {
        autorestart: AutoRestart::Always,
        ..policy()
    });
    r.at(2.0).ev(Event::Shutdown);
    assert_eq!(r.m.state, State::Stopping);
    let a = r.ev(Event::Exited(ExitStatus::Code(1)));
    assert_eq!(r.m.state, State::Stopped);
    assert!(!a.contains(&Action::Spawn));
    assert!(r.ev(Event::Start).is_empty());
}

#[test]
fn shutdown_during_backoff_stops_without_retry() {
    let mut r = Rig::started(policy());
    r.at(0.2).ev(Event::Exited(ExitStatus::Code(1)));
    r.ev(Event::Shutdown);
    assert_eq!(r.m.state, State::Stopped);
}

#[test]
fn kill_now_sigkills_a_stopping_group() {
    let mut r = Rig::running(policy());
    r.at(2.0).ev(Event::Shutdown);
    let a = r.ev(Event::KillNow);
    assert_eq!(a[0], Action::SignalGroup(Signal::SIGKILL));
}
