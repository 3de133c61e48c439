//! Running under systemd (issue 19, point 4; README: Under systemd): the daemon
//! tells the service manager what it does through the datagram socket named by
//! `NOTIFY_SOCKET`, pings its watchdog, writes its event log to the journal's
//! stream with severity prefixes, and keeps all of that from its programs. Here
//! the test is the service manager: it binds a real datagram socket and reads
//! what arrives. The journal's stream is in `journal.rs`, the unit file's
//! check in `unit.rs`.

mod journal;
mod unit;

use crate::common::*;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::process::Command;
use std::time::Duration;

/// The test's end of `NOTIFY_SOCKET`: every datagram received, in order.
struct Manager {
    socket: UnixDatagram,
    seen: Vec<String>,
    /// What `NOTIFY_SOCKET` says to reach it.
    address: String,
    /// Where its socket file is, when it has one; removed with the manager.
    _dir: Option<TempDir>,
}

impl Manager {
    /// Binds `notify.sock` in a new directory of its own.
    fn bind(tag: &str) -> Manager {
        let dir = TempDir::new(tag);
        let path = dir.path("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        Self::new(socket, path.display().to_string(), Some(dir))
    }

    fn new(socket: UnixDatagram, address: String, dir: Option<TempDir>) -> Manager {
        socket
            .set_read_timeout(Some(secs(0.05)))
            .expect("read timeout");
        Manager {
            socket,
            seen: Vec::new(),
            address,
            _dir: dir,
        }
    }

    /// Reads datagrams until one satisfies `pred` (returned), or fails after 20 s
    /// with what came.
    fn wait(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let mut buf = [0u8; 4096];
        let found = poll_until(secs(20.0), Duration::ZERO, || {
            let n = self.socket.recv(&mut buf).ok()?;
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            self.seen.push(message.clone());
            pred(&message).then_some(message)
        });
        found.unwrap_or_else(|| panic!("no {what} within 20 s; received: {:?}", self.seen))
    }

    /// Waits for `message` itself (`READY=1`, `STOPPING=1`…).
    fn said(&mut self, message: &str) {
        self.wait(message, |m| m == message);
    }

    /// Reads what is queued still (once the daemon has exited: all it sent).
    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            self.seen
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }

    /// The messages received so far but for `STATUS=` ones (sent whenever the
    /// counts change, in between the others).
    fn lifecycle(&self) -> Vec<&str> {
        (self.seen.iter())
            .filter(|m| !m.starts_with("STATUS="))
            .map(|m| m.split('\n').next().unwrap_or_default())
            .collect()
    }
}

/// Starts a daemon on `yaml` with `env` added to its environment and the service
/// manager's variables the test does not set removed (the test may run under one).
fn start(tag: &str, yaml: &str, env: &[(&str, String)]) -> Daemon {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Daemon::start_with(tag, yaml, move |cmd: &mut Command| {
        for name in [
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "JOURNAL_STREAM",
        ] {
            cmd.env_remove(name);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
    })
}

/// A service manager, and a daemon started on `yaml` that is told of it, with
/// `env` besides.
fn start_managed(tag: &str, yaml: &str, env: &[(&str, String)]) -> (Manager, Daemon) {
    let manager = Manager::bind(tag);
    let mut env = env.to_vec();
    env.push(("NOTIFY_SOCKET", manager.address.clone()));
    let d = start(tag, yaml, &env);
    (manager, d)
}

fn monotonic_usec() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("clock");
    t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1_000
}

#[test]
fn ready_after_the_autostart_reloading_around_a_reload_stopping_at_shutdown() {
    let (mut manager, mut d) = start_managed(
        "systemd-life",
        "programs:\n  web:\n    cmd: TESTPROG sleep\n    numprocs: 20\n    starttime: 5\n  idle:\n    cmd: TESTPROG sleep\n    autostart: false\n",
        &[],
    );
    manager.said("READY=1");
    // Ready means spawned: every autostart instance has its process (RUNNING
    // comes only after its starttime), and nothing else was started.
    let log = d.log();
    for i in 0..20 {
        assert!(
            log.contains(&format!("spawned: 'web:{i}'")),
            "READY=1 before web:{i} was spawned:\n{log}"
        );
    }
    assert!(!log.contains("spawned: 'idle'"), "{log}");

    // A reload: RELOADING=1 stamped with the monotonic clock, then READY=1 once
    // it has been applied.
    let yaml = std::fs::read_to_string(&d.config).expect("config");
    std::fs::write(&d.config, yaml.replace("numprocs: 20", "numprocs: 21")).expect("write");
    let before = monotonic_usec();
    d.signal(1);
    let reloading = manager.wait("RELOADING=1", |m| m.starts_with("RELOADING=1"));
    let after = monotonic_usec();
    let stamp: u64 = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {reloading:?}"));
    assert!(
        before <= stamp && stamp <= after,
        "{before} {stamp} {after}"
    );
    manager.wait("READY=1 after the reload", |m| m == "READY=1");
    assert!(d
        .log()
        .contains("reload applied: 0 added, 0 removed, 1 changed"));

    d.send("shutdown");
    manager.said("STOPPING=1");
    assert_eq!(d.finish(secs(30.0)), 0);
    // Each said once, in this order; no keep-alive, since none was asked for.
    assert_eq!(
        manager.lifecycle(),
        ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"],
        "{:?}",
        manager.seen
    );
}

#[test]
fn a_reload_that_ends_during_the_shutdown_says_no_ready() {
    let (mut manager, mut d) = start_managed(
        "systemd-reload-stop",
        "programs:\n  stubborn:\n    cmd: TESTPROG ignore-term\n    starttime: 0\n    stoptime: 2\n",
        &[],
    );
    manager.said("READY=1");
    d.wait_state("stubborn", "RUNNING", secs(10.0));
    // The reload restarts it, and waits for its stop (stoptime, as it ignores
    // SIGTERM): the shutdown begins meanwhile.
    let yaml = std::fs::read_to_string(&d.config).expect("config");
    std::fs::write(&d.config, format!("{yaml}    env: {{CHANGED: 1}}\n")).expect("write");
    d.signal(1);
    manager.wait("RELOADING=1", |m| m.starts_with("RELOADING=1"));
    d.wait_log("the reload's stop", secs(10.0), |l| {
        l.contains("stopping: stubborn")
    });
    d.signal(15);
    manager.said("STOPPING=1");
    assert_eq!(d.wait_exit(secs(30.0)), 0);
    manager.drain();
    // No READY=1 after STOPPING=1: the service is not running again.
    assert_eq!(
        manager.lifecycle(),
        ["READY=1", "RELOADING=1", "STOPPING=1"],
        "{:?}",
        manager.seen
    );
}

#[test]
fn status_tells_the_counts_and_a_burst_of_changes_makes_few_messages() {
    let (mut manager, mut d) = start_managed(
        "systemd-status",
        "programs:\n  up:\n    cmd: TESTPROG sleep\n    starttime: 0\n  doomed:\n    cmd: TESTPROG exit 1\n    numprocs: 200\n    starttime: 1\n    startretries: 0\n",
        &[],
    );
    manager.wait("the counts with every instance FATAL", |m| {
        m == "STATUS=1 running, 200 fatal (201 instances)"
    });
    // 201 changes of the counts, told in a few messages (one per quarter second
    // at most, the last always).
    let told = manager
        .seen
        .iter()
        .filter(|m| m.starts_with("STATUS="))
        .count();
    assert!(told < 60, "{told} STATUS messages: {:?}", manager.seen);
    d.send("stop up");
    manager.wait("the counts after a stop", |m| {
        m == "STATUS=0 running, 200 fatal (201 instances)"
    });
    assert_eq!(d.finish(secs(30.0)), 0);
}

#[test]
fn the_watchdog_is_pinged_only_when_asked_for_us() {
    let yaml = "programs:\n  web:\n    cmd: TESTPROG sleep\n    starttime: 0\n";
    // Asked for another process (whose environment we inherited): no keep-alive.
    let (mut manager, mut d) = start_managed(
        "systemd-no-watchdog",
        yaml,
        &[
            ("WATCHDOG_USEC", "100000".into()),
            ("WATCHDOG_PID", "1".into()),
        ],
    );
    manager.said("READY=1");
    d.wait_state("web", "RUNNING", secs(10.0));
    d.send("shutdown");
    manager.said("STOPPING=1");
    assert_eq!(d.finish(secs(30.0)), 0);
    assert!(
        !manager.seen.iter().any(|m| m == "WATCHDOG=1"),
        "{:?}",
        manager.seen
    );

    // Asked for us: a keep-alive every half period, from start to the end.
    manager.seen.clear();
    let notify = manager.address.clone();
    let mut d = start(
        "systemd-watchdog",
        yaml,
        &[
            ("NOTIFY_SOCKET", notify),
            ("WATCHDOG_USEC", "200000".into()),
        ],
    );
    manager.said("READY=1");
    for n in 1..=3 {
        manager.wait(&format!("keep-alive {n} after READY=1"), |m| {
            m == "WATCHDOG=1"
        });
    }
    assert_eq!(d.finish(secs(30.0)), 0);
}

#[test]
fn a_daemon_deadlocked_on_its_registry_stops_the_keep_alives() {
    // `chatty` writes a line every 0.2 s: the test's clock while the daemon hangs.
    let (mut manager, mut d) = start_managed(
        "systemd-deadlock",
        "programs:\n  clock:\n    cmd: TESTPROG chatty\n    starttime: 0\n    stdout: DIR/clock.out\n",
        &[
            ("WATCHDOG_USEC", "200000".into()),
            ("TASKMASTER_TEST_DEADLOCK_ON", "wedge".into()),
        ],
    );
    manager.said("READY=1");
    // The counts settled first: no recount, which takes the lock too, is due.
    manager.wait("the clock RUNNING", |m| {
        m == "STATUS=1 running, 0 fatal (1 instances)"
    });
    manager.wait("a keep-alive", |m| m == "WATCHDOG=1");
    d.send("status wedge");
    d.wait_log("the deadlock", secs(10.0), |l| {
        l.contains("keeps the registry's lock")
    });
    let seen_before = manager.seen.len();
    // Ten lines of the clock: five watchdog periods.
    let clock = d.path("clock.out");
    let lines_then = read(&clock).lines().count();
    wait_for("ten more lines of the clock", secs(20.0), || {
        (read(&clock).lines().count() >= lines_then + 10).then_some(())
    });
    manager.drain();
    let after: Vec<&String> = manager.seen[seen_before..].iter().collect();
    // At most the one that had taken the lock just before the deadlock.
    let pings = after.iter().filter(|m| m.as_str() == "WATCHDOG=1").count();
    assert!(pings <= 1, "keep-alives went on: {after:?}");
}

#[test]
fn an_abstract_notify_socket_is_reached() {
    let name = format!(
        "taskmaster-test-{}-{}",
        std::process::id(),
        monotonic_usec()
    );
    let address = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract address");
    let socket = UnixDatagram::bind_addr(&address).expect("bind");
    let mut manager = Manager::new(socket, format!("@{name}"), None);
    let notify = manager.address.clone();
    let mut d = start(
        "systemd-abstract",
        "programs:\n  web:\n    cmd: TESTPROG sleep\n",
        &[("NOTIFY_SOCKET", notify)],
    );
    manager.wait("READY=1 on the abstract socket", |m| m == "READY=1");
    assert_eq!(d.finish(secs(30.0)), 0);
}

#[test]
fn programs_and_alerts_never_see_the_service_managers_variables() {
    let (_manager, mut d) = start_managed(
        "systemd-env",
        "taskmaster:\n  notify:\n    cmd: \"sh -c 'env > DIR/alert.env'\"\n    events: [fatal]\nprograms:\n  spy:\n    cmd: TESTPROG report DIR/spy.json\n  doomed:\n    cmd: TESTPROG exit 1\n    starttime: 1\n    startretries: 0\n",
        &[
            ("WATCHDOG_USEC", "30000000".into()),
            ("JOURNAL_STREAM", "1:1".into()),
            ("TM_PASSED_ON", "yes".into()),
        ],
    );
    let report = wait_file(&d.path("spy.json"), secs(10.0), |t| t.ends_with('\n'));
    let alert = wait_file(&d.path("alert.env"), secs(10.0), |t| {
        t.contains("TASKMASTER_EVENT")
    });
    for (who, env) in [("the program", &report), ("the alert command", &alert)] {
        assert!(env.contains("TM_PASSED_ON"), "{who}: {env}");
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM"] {
            assert!(!env.contains(name), "{who} got {name}: {env}");
        }
    }
    assert_eq!(d.finish(secs(30.0)), 0);
}

#[test]
fn an_unreachable_notify_socket_changes_nothing_but_one_warning() {
    let dir = TempDir::new("systemd-nobody");
    let nobody = dir.path("nobody.sock").display().to_string();
    let mut d = start(
        "systemd-nobody",
        "programs:\n  web:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
        // Keep-alives every 50 ms: many sends, all failing.
        &[
            ("NOTIFY_SOCKET", nobody),
            ("WATCHDOG_USEC", "100000".into()),
        ],
    );
    d.wait_state("web", "RUNNING", secs(10.0));
    d.send("reload");
    d.wait_log("the reload", secs(10.0), |l| l.contains("reload applied"));
    let warned = |log: &str| log.matches("service manager: cannot notify it").count();
    d.wait_log("the warning", secs(10.0), |l| warned(l) == 1);
    d.wait_state("web", "RUNNING", secs(10.0));
    assert_eq!(d.finish(secs(30.0)), 0);
    assert_eq!(warned(&d.log()), 1, "{}", d.log());
}
