//! The engine in-process: a `Supervisor` built from a config written here, with a
//! recording subscriber on its hub, driven through the instance verbs, with real
//! child processes (`/bin/sleep`, `/bin/sh`). No daemon, no socket.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use parking_lot::{Condvar, Mutex};

use super::Supervisor;
use crate::hub::{Event, Hub, Subscriber};
use crate::watch::state::Report;
use crate::watch::{Instance, SignalOutcome, StartOutcome, State, StopOutcome};

/// An owned copy of what the hub delivered that the tests look at.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Report(String, Report),
    Spawned(String, i32),
    Reaped(String, i32),
    StateChanged(String, State, State),
}

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
    changed: Condvar,
}

impl Subscriber for Recorder {
    fn event(&self, event: &Event<'_>) {
        let seen = match *event {
            Event::Report { name, report, .. } => Seen::Report(name.into(), report.clone()),
            Event::Spawned { name, pid, .. } => Seen::Spawned(name.into(), pid),
            Event::Reaped { name, pid } => Seen::Reaped(name.into(), pid),
            Event::StateChanged { name, from, to, .. } => Seen::StateChanged(name.into(), from, to),
            _ => return,
        };
        self.seen.lock().push(seen);
        self.changed.notify_all();
    }
}

impl Recorder {
    /// Waits (at most 20 s: the machine is shared) until `pred` holds of what was
    /// seen, and returns a copy of it.
    fn wait_until(&self, what: &str, pred: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = self.seen.lock();
        while !pred(&seen) {
            if self.changed.wait_until(&mut seen, deadline).timed_out() {
                panic!("timed out waiting for {what}; seen: {:?}", *seen);
            }
        }
        seen.clone()
    }

    fn position(seen: &[Seen], pred: impl Fn(&Seen) -> bool) -> Option<usize> {
        seen.iter().position(pred)
    }
}

/// A supervisor of one program `p` (`program` is its YAML body), with a recorder.
fn engine(program: &str) -> (Arc<Supervisor>, Arc<Recorder>, Arc<Instance>) {
    let text = format!("programs:\n  p:\n{program}");
    let config = crate::config::parse(&text, Path::new("/tmp/engine-test.yaml"))
        .unwrap_or_else(|e| panic!("config: {e}"));
    let recorder = Arc::new(Recorder::default());
    let hub = Hub::new(vec![recorder.clone() as Arc<dyn Subscriber>]);
    let sup = Supervisor::new(config, hub).expect("supervisor");
    let instance = sup.instances().into_iter().next().expect("instance p");
    (sup, recorder, instance)
}

fn report_of(seen: &Seen) -> Option<&Report> {
    match seen {
        Seen::Report(_, report) => Some(report),
        _ => None,
    }
}

#[test]
fn a_start_spawns_journals_before_publishing_and_runs() {
    let (sup, rec, p) =
        engine("    cmd: /bin/sleep 30\n    autostart: false\n    starttime: 0.1\n");
    assert_eq!(p.start().wait(), StartOutcome::Running);
    assert_eq!(p.status().state, State::Running);
    let seen = rec.wait_until("RUNNING published", |s| {
        s.iter()
            .any(|e| matches!(e, Seen::StateChanged(_, _, State::Running)))
    });
    let pid = p.status().pid.expect("pid");
    let spawned = Recorder::position(&seen, |e| *e == Seen::Spawned("p".into(), pid));
    let reported = Recorder::position(&seen, |e| {
        *e == Seen::Report("p".into(), Report::Spawned { pid })
    });
    let starting = Recorder::position(&seen, |e| {
        *e == Seen::StateChanged("p".into(), State::Stopped, State::Starting)
    });
    let running = Recorder::position(&seen, |e| {
        *e == Seen::StateChanged("p".into(), State::Starting, State::Running)
    });
    // The journal hears of the child before its spawn is published.
    assert!(spawned.is_some(), "{seen:?}");
    assert!(
        spawned < reported && reported < starting && starting < running,
        "{seen:?}"
    );
    assert_eq!(p.stop().wait(), StopOutcome::Stopped);
    sup.shutdown();
}

#[test]
fn a_stop_signals_reaps_and_reports_stopped() {
    let (sup, rec, p) = engine("    cmd: /bin/sleep 30\n    autostart: false\n    starttime: 0\n");
    assert_eq!(p.start().wait(), StartOutcome::Running);
    let pid = p.status().pid.expect("pid");
    assert_eq!(p.stop().wait(), StopOutcome::Stopped);
    assert_eq!(p.status().state, State::Stopped);
    let seen = rec.wait_until("the stop", |s| {
        s.iter()
            .any(|e| matches!(report_of(e), Some(Report::Stopped { .. })))
    });
    let requested = Recorder::position(&seen, |e| {
        matches!(
            report_of(e),
            Some(Report::StopRequested {
                signal: Signal::SIGTERM
            })
        )
    });
    let reaped = Recorder::position(&seen, |e| *e == Seen::Reaped("p".into(), pid));
    assert!(requested.is_some() && requested < reaped, "{seen:?}");
    // Nothing left to signal.
    assert_eq!(p.signal(Signal::SIGUSR1).wait(), SignalOutcome::NotRunning);
    sup.shutdown();
}

#[test]
fn a_quick_exit_backs_off_then_goes_fatal() {
    let (sup, rec, p) = engine(
        "    cmd: /bin/sh -c 'exit 3'\n    autostart: false\n    starttime: 5\n    startretries: 1\n",
    );
    assert_eq!(p.start().wait(), StartOutcome::ExitedTooQuickly);
    let seen = rec.wait_until("FATAL", |s| {
        s.iter()
            .any(|e| matches!(e, Seen::StateChanged(_, _, State::Fatal)))
    });
    let reports: Vec<&Report> = seen.iter().filter_map(report_of).collect();
    assert!(
        reports
            .iter()
            .any(|r| matches!(r, Report::Backoff { attempt: 1, .. })),
        "{reports:?}"
    );
    assert!(
        reports
            .iter()
            .any(|r| matches!(r, Report::GaveUp { pid: Some(_) })),
        "{reports:?}"
    );
    assert_eq!(p.status().state, State::Fatal);
    sup.shutdown();
}

#[test]
fn a_program_that_cannot_be_executed_is_a_spawn_error() {
    let (sup, _rec, p) =
        engine("    cmd: /nonexistent/prog\n    autostart: false\n    startretries: 0\n");
    match p.start().wait() {
        StartOutcome::SpawnError(why) => assert!(why.contains("can't find command"), "{why}"),
        other => panic!("expected a spawn error, got {other:?}"),
    }
    sup.shutdown();
}

#[test]
fn a_later_stop_and_start_supersede_a_start_and_a_stop() {
    // starttime far off: each start stays STARTING until something else happens.
    let (sup, _rec, p) =
        engine("    cmd: /bin/sleep 30\n    autostart: false\n    starttime: 60\n");
    let first = p.start();
    first.spawned();
    assert_eq!(p.status().state, State::Starting);
    // Another client stops it and starts it again before the first start's wait.
    let stop = p.stop();
    let second = p.start();
    second.spawned();
    assert_eq!(p.status().state, State::Starting);
    // The first start never sees RUNNING: the later requests took over.
    assert_eq!(first.wait(), StartOutcome::Cancelled);
    // The stop is done once STOPPING is over, though a new process runs now.
    assert_eq!(stop.wait(), StopOutcome::Stopped);
    let last = p.stop();
    assert_eq!(second.wait(), StartOutcome::Stopped);
    assert_eq!(last.wait(), StopOutcome::Stopped);
    assert_eq!(p.status().state, State::Stopped);
    sup.shutdown();
}

#[test]
fn a_signal_reaches_the_live_child_and_a_removal_ends_the_watcher() {
    let (sup, rec, p) = engine(
        "    cmd: /bin/sleep 30\n    autostart: false\n    starttime: 0\n    autorestart: false\n",
    );
    assert_eq!(p.start().wait(), StartOutcome::Running);
    let pid = p.status().pid.expect("pid");
    assert_eq!(p.signal(Signal::SIGKILL).wait(), SignalOutcome::Sent);
    rec.wait_until("the killed child reaped", |s| {
        s.contains(&Seen::Reaped("p".into(), pid))
    });
    p.remove().wait();
    assert!(p.status().finished);
    assert_eq!(p.signal(Signal::SIGUSR1).wait(), SignalOutcome::Removed);
    sup.shutdown();
}

/// The delays the machine decided for each retry of a failed start, from its
/// `Backoff` reports, as seen so far.
fn backoff_delays(seen: &[Seen]) -> Vec<(u32, Duration)> {
    seen.iter()
        .filter_map(|e| match report_of(e) {
            Some(Report::Backoff { attempt, delay, .. }) => Some((*attempt, *delay)),
            _ => None,
        })
        .collect()
}

#[test]
fn exponential_backoff_spaces_the_retries_then_gives_up() {
    let (sup, rec, p) = engine(
        "    cmd: /bin/sh -c 'exit 1'\n    autostart: false\n    starttime: 0.5\n    \
         startretries: 4\n    backoff: {initial: 0.05, factor: 2, max: 0.15}\n",
    );
    assert_eq!(p.start().wait(), StartOutcome::ExitedTooQuickly);
    // The state change is published after the status (the give-up report before
    // it), so once it is seen `status()` says FATAL.
    let seen = rec.wait_until("FATAL", |s| {
        s.iter()
            .any(|e| matches!(e, Seen::StateChanged(_, _, State::Fatal)))
    });
    // Retry n waits min(initial × factor^(n-1), max): 50, 100, 150, 150 ms.
    let ms = Duration::from_millis;
    assert_eq!(
        backoff_delays(&seen),
        [(1, ms(50)), (2, ms(100)), (3, ms(150)), (4, ms(150))],
        "{seen:?}"
    );
    let spawns = seen
        .iter()
        .filter(|e| matches!(e, Seen::Spawned(..)))
        .count();
    assert_eq!(spawns, 5, "1 start + 4 retries: {seen:?}");
    assert_eq!(p.status().state, State::Fatal);
    sup.shutdown();
}

#[test]
fn infinite_retries_keep_trying_and_never_give_up() {
    let (sup, rec, p) = engine(
        "    cmd: /bin/sh -c 'exit 1'\n    autostart: false\n    starttime: 0.5\n    \
         startretries: infinite\n    backoff: {initial: 0.01, factor: 1, max: 0.01}\n",
    );
    p.start();
    // Far beyond the default 3 retries.
    let seen = rec.wait_until("20 retries", |s| backoff_delays(s).len() >= 20);
    let attempts: Vec<u32> = backoff_delays(&seen).iter().map(|(a, _)| *a).collect();
    assert_eq!(attempts, (1..=attempts.len() as u32).collect::<Vec<_>>());
    assert!(
        !seen
            .iter()
            .any(|e| matches!(report_of(e), Some(Report::GaveUp { .. }))),
        "{seen:?}"
    );
    assert_eq!(p.stop().wait(), StopOutcome::Stopped);
    sup.shutdown();
}
