//! The event log on the journal's stream (README: Under systemd): a socket pair
//! given as the daemon's stderr, with `JOURNAL_STREAM` naming it, or not.

use crate::common::*;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::Duration;

/// `(st_dev, st_ino)` of a descriptor, as `JOURNAL_STREAM` writes it.
fn dev_ino(fd: impl AsFd) -> String {
    let st = nix::sys::stat::fstat(fd).expect("fstat");
    format!("{}:{}", st.st_dev, st.st_ino)
}

/// Starts a daemon whose stderr is a stream socket (as the journal gives), with
/// `JOURNAL_STREAM` naming it or not; returns it and the lines read from it.
fn start_on_stream(
    tag: &str,
    yaml: &str,
    names_it: bool,
) -> (Daemon, std::sync::mpsc::Receiver<String>) {
    let (ours, theirs) = UnixStream::pair().expect("socket pair");
    let stream = if names_it {
        dev_ino(&theirs)
    } else {
        dev_ino(&ours)
    };
    let theirs = OwnedFd::from(theirs);
    let d = Daemon::start_with(tag, yaml, move |cmd| {
        cmd.env("JOURNAL_STREAM", stream)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stderr(Stdio::from(theirs));
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(ours).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (d, rx)
}

const JOURNAL_YAML: &str = "programs:\n  web:\n    cmd: TESTPROG sleep\n    starttime: 0\n  doomed:\n    cmd: TESTPROG exit 1\n    starttime: 1\n    startretries: 0\n";

#[test]
fn on_the_journal_stream_event_lines_carry_their_severity() {
    let (mut d, lines) = start_on_stream("systemd-journal", JOURNAL_YAML, true);
    // Info, warning (an unexpected exit), err (FATAL): syslog's severities. The
    // two programs' lines come in either order.
    let expected = [
        "<6>spawned: 'web' with pid ",
        "<4>exited: doomed (exit status 1; not expected)",
        "<3>gave up: doomed entered FATAL",
    ];
    let mut seen: Vec<String> = Vec::new();
    let all_seen = poll_until(secs(20.0), Duration::ZERO, || {
        if let Ok(line) = lines.recv_timeout(secs(0.05)) {
            seen.push(line);
        }
        let has = |e: &str| seen.iter().any(|l| l.starts_with(e));
        expected.iter().all(|e| has(e)).then_some(())
    });
    assert!(
        all_seen.is_some(),
        "not all of {expected:?} on stderr: {seen:?}"
    );
    // The file keeps every line as before.
    let log = d.log();
    assert!(
        log.contains("INFO  spawned: 'web'") && log.contains("gave up: doomed"),
        "{log}"
    );
    assert_eq!(d.finish(secs(30.0)), 0);
}

#[test]
fn a_stderr_that_is_not_the_journal_stream_gets_no_event_lines() {
    let (mut d, lines) = start_on_stream("systemd-not-journal", JOURNAL_YAML, false);
    d.wait_state("doomed", "FATAL", secs(20.0));
    assert_eq!(d.finish(secs(30.0)), 0);
    // The daemon has exited: its stderr is closed, every line it wrote is here.
    let all: Vec<String> = lines.iter().collect();
    assert!(!all.iter().any(|l| l.contains("spawned:")), "{all:?}");
}
