//! Bounded control connections (issue 14, point 7): a cap on open connections, a
//! reserve of descriptors the clients never take from the programs, an idle
//! timeout, a failing `accept()` logged once, and a connection served on the
//! accept thread when no thread can be started for it.

use crate::common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

use serde_json::Value;

use crate::control::support::connect;

/// Reads one line; `None` at the end of the connection.
fn read_line(reader: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => None,
        Ok(_) => Some(line),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
        Err(e) => panic!("reading a reply: {e}"),
    }
}

/// Sends `request` (a JSON line) and parses the reply line.
fn ask(conn: &mut (UnixStream, BufReader<UnixStream>), request: &str) -> Value {
    conn.0
        .write_all(format!("{request}\n").as_bytes())
        .expect("send a request");
    let line = read_line(&mut conn.1).expect("a reply line");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
}

const VERSION: &str = r#"{"command": "version"}"#;

/// `status -l --json` through the daemon's stdin: the `daemon` object.
fn daemon_status(d: &mut Daemon) -> Value {
    let mark = d.mark();
    d.send("status -l --json");
    let line = d.wait_line(mark, "status -l --json", secs(10.0), |l| {
        l.starts_with("{\"daemon\"")
    });
    let reply: Value = serde_json::from_str(&line).expect("status -l --json is JSON");
    reply["daemon"].clone()
}

fn count(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

#[test]
fn clients_over_the_cap_are_refused_and_the_daemon_still_answers() {
    let mut d = Daemon::start(
        "conn-cap",
        "taskmaster:\n  max_connections: 3\nprograms:\n  sleeper:\n    cmd: TESTPROG sleep\n",
    );
    d.wait_state("sleeper", "RUNNING", secs(10.0));
    let socket = d.socket();
    let mut held: Vec<_> = (0..3).map(|_| connect(&socket)).collect();
    for conn in &mut held {
        assert_eq!(ask(conn, VERSION)["ok"], true);
    }
    for _ in 0..2 {
        let (_s, mut reader) = connect(&socket);
        let line = read_line(&mut reader).expect("a refusal line");
        let reply: Value = serde_json::from_str(&line).expect("the refusal is JSON");
        assert_eq!(reply["ok"], false, "{reply}");
        assert_eq!(reply["exit"], 1, "{reply}");
        let why = reply["output"].as_str().unwrap_or_default();
        assert!(why.contains("too many connections"), "{why}");
        assert!(why.contains("max_connections is 3"), "{why}");
        assert_eq!(read_line(&mut reader), None, "closed after the refusal");
    }
    let status = daemon_status(&mut d);
    assert_eq!(status["connections"]["open"], 3, "{status}");
    assert_eq!(status["connections"]["max"], 3, "{status}");
    assert_eq!(status["connections"]["refused"], 2, "{status}");

    // The held clients leave: a normal client is served again.
    held.clear();
    let reply = wait_for("a client served again", secs(10.0), || {
        let (mut stream, mut reader) = connect(&socket);
        // Until the daemon has counted the held ones out, a client is refused and
        // its connection closed at once: the request's write itself may fail.
        stream.write_all(format!("{VERSION}\n").as_bytes()).ok()?;
        let reply: Value = serde_json::from_str(&read_line(&mut reader)?).ok()?;
        (reply["ok"] == true).then_some(reply)
    });
    assert_eq!(reply["exit"], 0);
    let log = d.log();
    assert_eq!(
        count(&log, "refusing new connections"),
        1,
        "logged once:\n{log}"
    );
    assert_eq!(count(&log, "accepting connections again"), 1, "{log}");
    // The plain status --json is still one array.
    assert_eq!(d.status().len(), 1);
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn an_idle_client_is_closed_but_a_tail_f_is_not() {
    let mut d = Daemon::start(
        "conn-idle",
        "taskmaster:\n  connection_idle_timeout: 0.5\nprograms:\n  talker:\n    cmd: TESTPROG lines 100000 0.05\n",
    );
    d.wait_state("talker", "RUNNING", secs(10.0));
    let socket = d.socket();
    let mut follow = connect(&socket);
    let reply = ask(
        &mut follow,
        r#"{"command": "tail", "args": ["-f", "talker"]}"#,
    );
    assert_eq!(reply["stream"], true, "{reply}");

    // Sends nothing: closed without a word once its time is up.
    let (_idle, mut idle_reader) = connect(&socket);
    assert_eq!(
        read_line(&mut idle_reader),
        None,
        "the idle client is closed"
    );
    // A client that sends a request in time is served, then gets the same deadline.
    let mut quick = connect(&socket);
    assert_eq!(ask(&mut quick, VERSION)["ok"], true);
    assert_eq!(read_line(&mut quick.1), None, "idle again after its reply");

    // The follow outlived the idle clients: it streams lines written since.
    let mut last = connect(&socket);
    let tail = ask(
        &mut last,
        r#"{"command": "tail", "args": ["-n", "1", "talker"]}"#,
    );
    let newest: u64 = tail["output"]
        .as_str()
        .and_then(|o| o.trim().strip_prefix("line ")?.parse().ok())
        .unwrap_or_else(|| panic!("a line number in {tail}"));
    wait_for("the follow to stream a newer line", secs(10.0), || {
        let line = read_line(&mut follow.1).expect("the follow is still open");
        let n: u64 = line.trim().strip_prefix("line ")?.parse().ok()?;
        (n > newest).then_some(())
    });
    let status = daemon_status(&mut d);
    assert!(
        status["connections"]["idle_closed"].as_u64() >= Some(2),
        "{status}"
    );
    drop(follow);
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn idle_clients_never_take_the_descriptors_a_spawn_needs() {
    // No cap to speak of: only the reserve of descriptors protects the spawn.
    let mut d = Daemon::start_with(
        "conn-fds",
        "taskmaster:\n  max_connections: 1000\nprograms:\n  late:\n    cmd: TESTPROG sleep\n    autostart: false\n    starttime: 0\n",
        nofile_limit(128),
    );
    d.status();
    let socket = d.socket();
    // Fewer than the kernel's backlog, so every connect returns at once.
    let clients: Vec<_> = (0..100).map(|_| connect(&socket)).collect();
    // Each is admitted or refused (or, were descriptors exhausted, waits on a
    // failing accept()).
    let status = wait_for("every client handled", secs(20.0), || {
        let status = daemon_status(&mut d);
        let c = &status["connections"];
        let seen = c["open"].as_u64()? + c["refused"].as_u64()?;
        (seen >= 100 || !c["accept_failing"].is_null()).then_some(status)
    });
    d.command_expect("start late", "late: started", secs(20.0));
    assert!(
        status["connections"]["refused"].as_u64() > Some(0),
        "{status}"
    );
    let log = d.log();
    assert!(log.contains("kept for the programs"), "{log}");
    assert!(!log.contains("Too many open files"), "{log}");
    drop(clients);
    assert_eq!(d.finish(secs(20.0)), 0);
}

/// The open descriptors of `pid`, by number.
fn fds_of(pid: i32) -> Vec<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// `prlimit(2)` on the daemon: its soft `RLIMIT_NOFILE`.
fn set_soft_nofile(pid: i32, soft: u64) {
    let mut old = nix::libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reads the current limits into `old`, a valid struct we own.
    let got =
        unsafe { nix::libc::prlimit(pid, nix::libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    assert_eq!(got, 0, "prlimit: {}", std::io::Error::last_os_error());
    let new = nix::libc::rlimit {
        rlim_cur: soft,
        rlim_max: old.rlim_max,
    };
    // SAFETY: sets the limits from `new`, a valid struct we own.
    let set =
        unsafe { nix::libc::prlimit(pid, nix::libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    assert_eq!(set, 0, "prlimit: {}", std::io::Error::last_os_error());
}

#[test]
fn a_failing_accept_is_logged_once_and_its_end_too() {
    let mut d = Daemon::start("conn-accept", "programs: {}\n");
    d.status();
    let pid = d.pid();
    let fds = fds_of(pid);
    // The lowest free descriptor number: below it every one is taken, so with the
    // limit there no new descriptor can be opened.
    let lowest_free = (0..).find(|n| !fds.contains(n)).expect("a free number");
    set_soft_nofile(pid, lowest_free);
    // The accept() already waiting holds its descriptor number from before: the
    // first client gets it (and is refused, nothing being left for programs).
    let (_first, mut first) = connect(&d.socket());
    let mut sink = String::new();
    while matches!(first.read_line(&mut sink), Ok(n) if n > 0) {}
    // Waits in the backlog while accept() fails.
    let mut waiting = connect(&d.socket());
    waiting
        .0
        .write_all(format!("{VERSION}\n").as_bytes())
        .expect("send a request");
    wait_for("accept() to fail several times", secs(20.0), || {
        let status = daemon_status(&mut d);
        let attempts = status["connections"]["accept_failing"]["attempts"].as_u64()?;
        (attempts >= 5).then_some(())
    });
    set_soft_nofile(pid, 1024);
    let line = read_line(&mut waiting.1).expect("served once accept works");
    assert!(line.contains("\"ok\":true"), "{line}");
    d.wait_log("the recovery line", secs(10.0), |log| {
        log.contains("accept works again")
    });
    let log = d.log();
    assert_eq!(count(&log, "accept failed"), 1, "logged once:\n{log}");
    assert_eq!(count(&log, "accept works again"), 1, "{log}");
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn without_connection_threads_each_connection_is_served_inline() {
    let mut d = Daemon::start_with(
        "conn-inline",
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n",
        |cmd| {
            cmd.env("TASKMASTER_TEST_NO_CONNECTION_THREAD", "1");
        },
    );
    d.wait_state("sleeper", "RUNNING", secs(10.0));
    let socket = d.socket();
    // A silent client first: it must not keep the next one from being served.
    let (_silent, mut silent_reader) = connect(&socket);
    let mut client = connect(&socket);
    let reply = ask(&mut client, r#"{"command": "stop", "args": ["sleeper"]}"#);
    assert_eq!(reply["output"], "sleeper: stopped", "{reply}");
    assert_eq!(
        read_line(&mut silent_reader),
        None,
        "the silent one was closed"
    );
    // One request per connection: then it is closed.
    assert_eq!(read_line(&mut client.1), None);
    // No stream without a thread, and a clear reason.
    let mut follow = connect(&socket);
    let reply = ask(
        &mut follow,
        r#"{"command": "tail", "args": ["-f", "sleeper"]}"#,
    );
    assert_eq!(reply["ok"], false, "{reply}");
    assert!(
        reply["output"]
            .as_str()
            .unwrap_or_default()
            .contains("thread limit"),
        "{reply}"
    );
    let mut again = connect(&socket);
    let reply = ask(&mut again, r#"{"command": "start", "args": ["sleeper"]}"#);
    assert_eq!(reply["output"], "sleeper: started", "{reply}");
    let log = d.log();
    assert_eq!(
        count(&log, "cannot start a connection thread"),
        1,
        "logged once:\n{log}"
    );
    let mut rest = Vec::new();
    let _ = again.1.read_to_end(&mut rest);
    assert_eq!(d.finish(secs(20.0)), 0);
}
