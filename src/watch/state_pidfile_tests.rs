//! `pidfile:` transition by transition: launcher, pid file, followed process.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::super::tests::{self, reports, Rig};
use super::super::{Action, Event, ExitStatus, Machine, Report, State};
use super::{Phase, PidFileRead, PIDFILE_RETRY, PIDFILE_WAIT};
use crate::config::Policy;

fn policy() -> Policy {
    Policy {
        pidfile: Some(PathBuf::from("/run/p.pid")),
        ..tests::policy()
    }
}

/// Started: the launcher is pid 100, spawned at t0.
fn launched() -> Rig {
    Rig::started(policy())
}

/// The launcher exited 0 at 0.5 s.
fn reading() -> Rig {
    let mut r = launched();
    r.at(0.5).ev(Event::Exited(ExitStatus::Code(0)));
    r
}

/// Following pid 200 since 0.6 s.
fn following() -> Rig {
    let mut r = reading();
    r.at(0.6).ev(followed(200));
    r
}

fn followed(pid: i32) -> Event {
    Event::PidFile(PidFileRead::Followed { pid })
}

fn not_yet(reason: &str) -> Event {
    Event::PidFile(PidFileRead::NotYet {
        reason: reason.to_string(),
    })
}

fn cleans_up(actions: &[Action], pgid: i32) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::CleanUpGroup { pgid: p, .. } if *p == pgid))
}

#[test]
fn the_launcher_is_not_running_at_starttime() {
    let mut r = launched();
    assert_eq!(r.m.pidfile, Phase::Launching);
    assert_eq!(r.m.deadline, None, "no starttime deadline for a launcher");
    assert!(r.at(5.0).ev(Event::Timer).is_empty());
    assert_eq!(r.m.state, State::Starting);
    assert_eq!(r.m.pid, Some(100));
}

#[test]
fn the_launchers_exit_0_reads_the_pid_file_and_leaves_its_group_alone() {
    let mut r = launched();
    let a = r.at(0.5).ev(Event::Exited(ExitStatus::Code(0)));
    assert_eq!(a, vec![Action::ReadPidFile], "no clean-up, no report");
    assert_eq!(r.m.state, State::Starting);
    assert_eq!(r.m.pid, None);
    assert_eq!(
        r.m.pidfile,
        Phase::Reading {
            launcher: 100,
            until: r.t0 + Duration::from_secs_f64(0.5) + PIDFILE_WAIT
        }
    );
}

#[test]
fn a_launcher_that_fails_is_a_failed_start() {
    let mut r = launched();
    let a = r.at(0.5).ev(Event::Exited(ExitStatus::Code(1)));
    assert!(cleans_up(&a, 100), "what it left is stopped: {a:?}");
    assert_eq!(r.m.state, State::Backoff);
    assert_eq!(r.m.pidfile, Phase::Off);
    assert!(r.m.spawnerr.as_deref().unwrap().contains("launcher failed"));
}

#[test]
fn a_pid_file_not_ready_is_read_again_until_the_wait_is_over() {
    let mut r = reading();
    let a = r.at(0.5).ev(not_yet("cannot read /run/p.pid"));
    assert!(a.is_empty());
    let retry = r.t0 + Duration::from_secs_f64(0.5) + PIDFILE_RETRY;
    assert_eq!(r.m.deadline, Some(retry));
    r.now = retry;
    assert_eq!(r.ev(Event::Timer), vec![Action::ReadPidFile]);
    assert_eq!(r.m.deadline, None);
    // Past the wait: a failed start, and the launcher's leftovers stopped.
    r.at(0.5 + PIDFILE_WAIT.as_secs_f64());
    let a = r.ev(not_yet("pid 7 is not web's"));
    assert!(cleans_up(&a, 100));
    assert!(
        matches!(&reports(&a)[0], Report::SpawnError { reason } if reason.contains("pid 7 is not web's"))
    );
    assert_eq!(r.m.state, State::Backoff);
}

#[test]
fn the_followed_pid_is_the_instance_and_runs_after_starttime() {
    let mut r = reading();
    let a = r.at(0.6).ev(followed(200));
    assert_eq!(
        reports(&a),
        vec![Report::Following {
            pid: 200,
            launcher: 100
        }]
    );
    assert_eq!((r.m.pid, r.m.pidfile), (Some(200), Phase::Following));
    assert_eq!(r.m.deadline, Some(r.t0 + Duration::from_secs_f64(1.6)));
    r.at(1.6).ev(Event::Timer);
    assert_eq!(r.m.state, State::Running);
}

#[test]
fn the_followed_process_is_stopped_and_its_exit_restarts_it() {
    let mut r = following();
    r.at(1.6).ev(Event::Timer);
    let a = r
        .at(2.0)
        .ev(Event::Exited(ExitStatus::Signal(Signal::SIGSEGV)));
    assert!(cleans_up(&a, 200), "its own group and leftovers: {a:?}");
    assert!(
        a.contains(&Action::Spawn),
        "autorestart spawns the launcher again"
    );
    r.ev(Event::Spawned { pid: 300 });
    assert_eq!(r.m.pidfile, Phase::Launching);

    let mut r = following();
    r.at(1.6).ev(Event::Timer);
    let a = r.at(3.0).ev(Event::Stop);
    assert_eq!(a[0], Action::SignalGroup(Signal::SIGTERM));
    assert_eq!(r.m.state, State::Stopping);
    r.ev(Event::Exited(ExitStatus::Code(0)));
    assert_eq!(r.m.state, State::Stopped);
}

#[test]
fn a_stop_while_reading_stops_what_the_launcher_left() {
    let mut r = reading();
    let a = r.at(0.7).ev(Event::Stop);
    assert!(cleans_up(&a, 100));
    assert_eq!(r.m.state, State::Stopped);
    assert_eq!(r.m.pidfile, Phase::Off);
    // A late reading changes nothing.
    assert!(r.ev(followed(200)).is_empty());
    assert_eq!(r.m.pid, None);
}

#[test]
fn without_a_pidfile_nothing_changes() {
    let t0 = Instant::now();
    let p = Policy {
        pidfile: None,
        ..policy()
    };
    let mut m = Machine::new();
    m.step(Event::Start, &p, t0);
    m.step(Event::Spawned { pid: 100 }, &p, t0);
    assert_eq!(m.pidfile, Phase::Off);
    assert_eq!(m.deadline, Some(t0 + Duration::from_secs(1)));
    let a = m.step(Event::Exited(ExitStatus::Code(0)), &p, t0);
    assert!(cleans_up(&a, 100));
    assert!(m.step(followed(200), &p, t0).is_empty());
}
