//! `events [--json]` (README: Event stream): a real daemon streaming its events to
//! `taskmasterctl events` while programs are started, stopped and killed; a client
//! that stops reading loses events (and is told how many) without holding up the
//! daemon; closing the client ends the daemon's side; bad arguments are refused.

use std::io::{BufRead, Write};

use serde_json::Value;

use super::support::*;
use crate::common::*;

const YAML: &str = "programs:
  web:
    cmd: TESTPROG sleep
    starttime: 0.3
    autostart: false
    autorestart: false
  loop:
    cmd: TESTPROG exit 1
    starttime: 0
    autostart: false
    autorestart: always
    restart_throttle: false
";

/// The daemon, once its control socket answers.
fn start(tag: &str) -> Daemon {
    let d = Daemon::start(tag, YAML);
    let sock = d.socket();
    wait_for("the control socket", secs(10.0), || {
        (ctl(&sock, &["status"]).code == 3).then_some(())
    });
    d
}

/// `taskmasterctl events ARGS`, once the daemon streams to it: the stream's
/// `control-eof` thread starts after the follower has subscribed.
fn follow(d: &Daemon, args: &[&str]) -> CtlStream {
    let before = threads_named(d.pid(), "control-eof");
    let stream = CtlStream::start(&d.socket(), args);
    wait_for("the events stream to begin", secs(10.0), || {
        (threads_named(d.pid(), "control-eof") > before).then_some(())
    });
    stream
}

/// The JSON lines streamed so far.
fn json_lines(stream: &CtlStream) -> Vec<Value> {
    (stream.lines().iter())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

/// Waits for an event of `instance` matching `pred`, after the first `from` lines.
fn wait_event(
    stream: &CtlStream,
    from: usize,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> (usize, Value) {
    wait_for(what, secs(10.0), || {
        let lines = json_lines(stream);
        (lines.iter().enumerate().skip(from))
            .find(|(_, e)| pred(e))
            .map(|(i, e)| (i + 1, e.clone()))
    })
}

fn is(kind: &'static str, instance: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["kind"] == kind && e["instance"] == instance
}

fn changed(
    instance: &'static str,
    from: &'static str,
    to: &'static str,
) -> impl Fn(&Value) -> bool {
    move |e| {
        e["kind"] == "state_changed"
            && e["instance"] == instance
            && e["from"] == from
            && e["to"] == to
    }
}

#[test]
fn events_json_follows_start_stop_and_kill() {
    let mut d = start("ctl-events-json");
    let sock = d.socket();
    let events = follow(&d, &["events", "--json"]);

    ctl_ok(&sock, &["start", "web"], 0);
    let pid = instance(&sock, "web")["pid"].as_i64().expect("web's pid");
    let (at, requested) = wait_event(&events, 0, "start_requested", is("start_requested", "web"));
    assert_eq!(requested["pid"], Value::Null, "{requested}");
    let (_, spawned) = wait_event(&events, at, "spawned", is("spawned", "web"));
    assert_eq!(
        spawned["pid"], pid,
        "the pid status --json shows: {spawned}"
    );
    assert_eq!(spawned["message"], format!("spawned: 'web' with pid {pid}"));
    let time = spawned["time"].as_str().expect("time");
    assert!(
        time.len() == 24 && &time[10..11] == "T" && time.ends_with('Z'),
        "RFC 3339, UTC, milliseconds: {time}"
    );
    let (at, _) = wait_event(
        &events,
        at,
        "STOPPED -> STARTING",
        changed("web", "STOPPED", "STARTING"),
    );
    let (at, running) = wait_event(
        &events,
        at,
        "STARTING -> RUNNING",
        changed("web", "STARTING", "RUNNING"),
    );
    assert_eq!(running["pid"], pid, "{running}");

    ctl_ok(&sock, &["stop", "web"], 0);
    let (_, stopping) = wait_event(&events, at, "stop_requested", is("stop_requested", "web"));
    assert_eq!(
        (stopping["pid"].as_i64(), &stopping["sent_signal"]),
        (Some(pid), &Value::from("SIGTERM"))
    );
    let (_, reaped) = wait_event(&events, at, "reaped", is("reaped", "web"));
    assert_eq!(reaped["pid"], pid, "{reaped}");
    let (_, stopped) = wait_event(&events, at, "stopped", is("stopped", "web"));
    assert_eq!(stopped["signal"], "SIGTERM", "{stopped}");
    let (at, _) = wait_event(
        &events,
        at,
        "STOPPING -> STOPPED",
        changed("web", "STOPPING", "STOPPED"),
    );

    // kill -9 from outside: an unexpected exit by SIGKILL.
    ctl_ok(&sock, &["start", "web"], 0);
    let pid = instance(&sock, "web")["pid"]
        .as_i64()
        .expect("web's new pid");
    let (at, _) = wait_event(&events, at, "the new spawn", |e| {
        is("spawned", "web")(e) && e["pid"] == pid
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 web");
    let (_, exited) = wait_event(&events, at, "exited", is("exited", "web"));
    assert_eq!(exited["pid"], pid, "{exited}");
    assert_eq!(exited["signal"], "SIGKILL", "{exited}");
    assert_eq!(exited["expected"], false, "{exited}");
    assert!(exited.get("exitcode").is_none(), "{exited}");
    assert_eq!(
        exited["message"],
        "exited: web (terminated by SIGKILL; not expected)"
    );
    assert!(d
        .log()
        .contains("exited: web (terminated by SIGKILL; not expected)"));
    wait_event(
        &events,
        at,
        "RUNNING -> EXITED",
        changed("web", "RUNNING", "EXITED"),
    );

    // The daemon's own events: a reload applied, one refused.
    ctl_ok(&sock, &["reload"], 0);
    let (at, reload) = wait_event(&events, at, "reload", |e| e["kind"] == "reload");
    assert_eq!(reload["instance"], Value::Null, "{reload}");
    assert!(
        (reload["message"].as_str()).is_some_and(|m| m.starts_with("reload applied: ")),
        "{reload}"
    );
    std::fs::write(&d.config, "programs: [not, a, map]\n").expect("break the config");
    assert_eq!(ctl(&sock, &["reload"]).code, 1);
    let (_, failed) = wait_event(&events, at, "reload_failed", |e| {
        e["kind"] == "reload_failed"
    });
    assert!(
        (failed["message"].as_str())
            .is_some_and(|m| m.starts_with("reload failed, nothing changed")),
        "{failed}"
    );

    // Every line is one object with at least these keys; nothing was lost.
    for event in json_lines(&events) {
        for key in ["time", "kind", "instance", "pid", "message"] {
            assert!(event.get(key).is_some(), "{key} in {event}");
        }
        assert_ne!(event["kind"], "lost", "{event}");
    }
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn events_without_json_are_lines_for_a_person() {
    let mut d = start("ctl-events-human");
    let sock = d.socket();
    let events = follow(&d, &["events"]);
    ctl_ok(&sock, &["start", "web"], 0);
    let pid = instance(&sock, "web")["pid"].as_i64().expect("web's pid");
    ctl_ok(&sock, &["stop", "web"], 0);
    let lines = events.wait("the stop", secs(10.0), |lines| {
        lines
            .iter()
            .any(|l| l.ends_with("web: STOPPING -> STOPPED"))
    });
    let spawned = (lines.iter())
        .find(|l| l.ends_with(&format!("spawned: 'web' with pid {pid}")))
        .unwrap_or_else(|| panic!("no spawn line: {lines:?}"));
    // `YYYY-MM-DD HH:MM:SS.mmm `, local time as in the event log, then the words.
    assert_eq!(
        (&spawned[4..5], &spawned[10..11], &spawned[19..20]),
        ("-", " ", "."),
        "{spawned}"
    );
    assert!(lines.iter().all(|l| !l.starts_with('{')), "{lines:?}");
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn a_follower_that_never_reads_does_not_hold_up_the_daemon_and_hears_what_it_lost() {
    let mut d = start("ctl-events-slow");
    let sock = d.socket();
    // A raw client: asks, reads the reply, then reads nothing while a crash loop
    // publishes far more than its queue and its socket hold.
    let (mut stream, mut reader) = connect(&sock);
    stream
        .write_all(b"{\"command\": \"events\", \"args\": [\"--json\"]}\n")
        .expect("ask for events");
    let reply = read_reply(&mut reader);
    assert_eq!(
        (reply["ok"].as_bool(), reply["stream"].as_bool()),
        (Some(true), Some(true)),
        "{reply}"
    );

    ctl_ok(&sock, &["start", "loop"], 0);
    // Each restart is 5 or more events: 400 of them fill the follower's queue and
    // the connection's socket many times over. The daemon answers all along.
    wait_for("the crash loop to go round", secs(60.0), || {
        let restarts = instance(&sock, "loop")["restarts"].as_i64().unwrap_or(0);
        (restarts >= 400).then_some(())
    });
    ctl_ok(&sock, &["stop", "loop"], 0);
    ctl_ok(&sock, &["start", "web"], 0);
    ctl_ok(&sock, &["stop", "web"], 0);

    // Reading again: what was queued, then how much was lost.
    let lost = wait_for("the lost count", secs(20.0), || {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read the stream");
        assert!(n > 0, "the stream ended");
        let event: Value = serde_json::from_str(&line).expect("a JSON line");
        (event["kind"] == "lost").then_some(event)
    });
    let count = lost["count"].as_u64().expect("a count");
    eprintln!("the stalled client lost {count} events");
    assert!(count > 0, "{lost}");
    assert!(
        lost["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("{count} events lost"))),
        "{lost}"
    );
    drop((stream, reader));
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn closing_the_client_ends_the_daemons_side() {
    let mut d = start("ctl-events-close");
    let sock = d.socket();
    // The connection threads of the `status` calls have come and gone.
    wait_for("no connection left", secs(10.0), || {
        (threads_named(d.pid(), "control") == 0).then_some(())
    });
    let before = thread_count(d.pid());
    let events = follow(&d, &["events", "--json"]);
    assert_eq!(threads_named(d.pid(), "control"), 1);
    drop(events);
    wait_for("the stream's threads to end", secs(10.0), || {
        (threads_named(d.pid(), "control") == 0 && threads_named(d.pid(), "control-eof") == 0)
            .then_some(())
    });
    wait_for("the thread count back", secs(10.0), || {
        (thread_count(d.pid()) == before).then_some(())
    });
    // And it does not follow any more: the daemon still starts programs.
    ctl_ok(&sock, &["start", "web"], 0);
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn bad_arguments_are_refused_and_change_nothing() {
    let mut d = start("ctl-events-bad");
    let sock = d.socket();
    let before = snapshot(&sock);
    for (args, what) in [
        (&["events", "--bogus"][..], "bad argument --bogus"),
        (&["events", "extra-arg"], "bad argument extra-arg"),
        (&["events", "--json", "--json"], "--json given twice"),
    ] {
        let out = ctl(&sock, args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stdout.contains(what), "{args:?}: {out:?}");
        assert!(out.stdout.contains("events [--json]"), "{args:?}: {out:?}");
    }
    assert_eq!(snapshot(&sock), before);
    assert_eq!(threads_named(d.pid(), "control-eof"), 0, "no stream began");

    // The daemon's stdin without a terminal cannot be stopped with Ctrl-C: no
    // stream there, as for `tail -f`.
    d.command_expect(
        "events",
        "events: following needs a terminal or taskmasterctl; nothing shown",
        secs(10.0),
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}
