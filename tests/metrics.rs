//! `/metrics` (README: Metrics): scraped over real HTTP, checked by Prometheus's
//! own `promtool check metrics` (Debian's, found or unpacked by
//! `scripts/promtool`), the values followed through kills, exits and reloads,
//! hostile clients, and the setting's errors.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::common::*;

/// promtool's path, or why there is none.
fn promtool() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/promtool");
    let out = Command::new(script).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// `promtool check metrics` on `body`: its exit code and what it said.
fn check_metrics(body: &str) -> Option<(i32, String)> {
    let tool = match promtool() {
        Ok(tool) => tool,
        Err(why) => {
            eprintln!("SKIPPED promtool check: {why}");
            return None;
        }
    };
    let mut child = Command::new(tool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool output");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Some((out.status.code().unwrap_or(-1), said))
}

/// Where the daemon serves `/metrics`, from the event log (`metrics: 0` takes a
/// free port and names it there).
fn served_at(d: &Daemon) -> SocketAddr {
    wait_for("metrics served on … in the event log", secs(20.0), || {
        let log = d.log();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("metrics served on http://"))?;
        let rest = line.split("http://").nth(1)?;
        rest.split("/metrics").next()?.parse().ok()
    })
}

/// Sends `request` as is and reads the whole answer (the server closes).
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to /metrics");
    stream.set_read_timeout(Some(secs(30.0))).expect("timeout");
    stream.write_all(request).expect("send request");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// `GET /metrics`: the status line and the body.
fn scrape(addr: SocketAddr) -> (String, String) {
    let answer = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4") || !head.contains(" 200 "),
        "{head}"
    );
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The value of one series (`name{labels}` exactly as written), if present.
fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// Scrapes until `series` has a value for which `pred` holds; returns the body.
fn wait_value(addr: SocketAddr, series: &str, pred: impl Fn(f64) -> bool) -> String {
    let mut last = String::new();
    poll_until(secs(20.0), secs(0.05), || {
        let (_, body) = scrape(addr);
        let found = value(&body, series)
            .filter(|v| pred(*v))
            .map(|_| body.clone());
        last = body;
        found
    })
    .unwrap_or_else(|| panic!("{series} never as expected; last page:\n{last}"))
}

/// How many of the daemon's threads are named `name`.
fn threads_named(pid: i32, name: &str) -> usize {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == name)
        .count()
}

const PROGRAMS: &str = "programs:
  steady:
    cmd: TESTPROG sleep
    starttime: 0.2
  quits:
    cmd: TESTPROG exit 3
    starttime: 0
    autorestart: never
";

#[test]
fn a_scrape_passes_promtool_and_follows_states_exits_and_restarts() {
    let mut d = Daemon::start(
        "metrics-values",
        &format!("taskmaster:\n  metrics: 0\n{PROGRAMS}"),
    );
    d.wait_state("steady", "RUNNING", secs(20.0));
    d.wait_state("quits", "EXITED", secs(20.0));
    let addr = served_at(&d);
    assert!(addr.ip().is_loopback(), "{addr}");
    let (status, body) = scrape(addr);
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    if let Some((code, said)) = check_metrics(&body) {
        assert_eq!(code, 0, "promtool check metrics: {said}\n{body}");
    }
    let steady = r#"{program="steady",name="steady"}"#;
    let quits = r#"{program="quits",name="quits"}"#;
    let of = |family: &str, labels: &str| value(&body, &format!("{family}{labels}"));
    assert_eq!(
        value(
            &body,
            r#"taskmaster_instance_state{program="steady",name="steady",state="RUNNING"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &body,
            r#"taskmaster_instance_state{program="quits",name="quits",state="EXITED"}"#
        ),
        Some(1.0)
    );
    assert_eq!(of("taskmaster_instance_up", steady), Some(1.0));
    assert_eq!(of("taskmaster_instance_up", quits), Some(0.0));
    assert_eq!(of("taskmaster_instance_last_exit_code", quits), Some(3.0));
    assert_eq!(of("taskmaster_instance_restarts_total", steady), Some(0.0));
    assert!(
        of("taskmaster_instance_resident_memory_bytes", steady) > Some(0.0),
        "{body}"
    );
    assert!(
        of("taskmaster_instance_cpu_seconds_total", steady).is_some(),
        "{body}"
    );
    assert!(
        of("taskmaster_instance_uptime_seconds", steady) > Some(0.0),
        "{body}"
    );
    // No process, no usage.
    assert_eq!(of("taskmaster_instance_resident_memory_bytes", quits), None);
    assert!(value(&body, r#"taskmaster_events_total{kind="exited"}"#) >= Some(1.0));

    // Killed: restarted by autorestart, counted, and the signal shown.
    let pid = d.pid_of("steady");
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill steady");
    let series = format!("taskmaster_instance_restarts_total{steady}");
    let body = wait_value(addr, &series, |v| v == 1.0);
    assert_eq!(
        of_body(&body, "taskmaster_instance_last_exit_signal", steady),
        Some(9.0)
    );
    d.wait_state("steady", "RUNNING", secs(20.0));
    d.finish(secs(20.0));
}

fn of_body(body: &str, family: &str, labels: &str) -> Option<f64> {
    value(body, &format!("{family}{labels}"))
}

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn reloads_are_counted_and_move_start_and_stop_the_listener() {
    let yaml = |metrics: &str| format!("taskmaster:\n  metrics: {metrics}\n{PROGRAMS}");
    let mut d = Daemon::start("metrics-reload", &yaml("0"));
    let first = served_at(&d);
    let counts = |addr| {
        let (_, body) = scrape(addr);
        let reloads = value(&body, "taskmaster_reloads_total");
        (reloads, value(&body, "taskmaster_reload_failures_total"))
    };
    assert_eq!(counts(first), (Some(0.0), Some(0.0)));

    // A broken file: refused, counted, the listener where it was.
    std::fs::write(&d.config, "programs: [\n").expect("write");
    let reply = crate::reload::reload(&mut d).join("\n");
    assert!(reply.contains("ERROR"), "{reply}");
    assert_eq!(counts(first), (Some(0.0), Some(1.0)));

    // Another address that is not loopback, without `public`: the same.
    std::fs::write(&d.config, expand(&yaml("\"0.0.0.0:1\""), &d.dir.0)).expect("write");
    let reply = crate::reload::reload(&mut d).join("\n");
    assert!(reply.contains("not a loopback address"), "{reply}");
    assert_eq!(counts(first), (Some(0.0), Some(2.0)));

    // Moved: served at the new port, gone from the old.
    let port = free_port();
    std::fs::write(&d.config, expand(&yaml(&port.to_string()), &d.dir.0)).expect("write");
    let reply = crate::reload::reload(&mut d).join("\n");
    let moved: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(
        reply.contains(&format!("metrics served on http://{moved}/metrics")),
        "{reply}"
    );
    assert_eq!(counts(moved), (Some(1.0), Some(2.0)));
    assert!(
        TcpStream::connect(first).is_err(),
        "still served at {first}"
    );

    // Off: no listener, no thread.
    std::fs::write(&d.config, expand(&yaml("null"), &d.dir.0)).expect("write");
    let reply = crate::reload::reload(&mut d).join("\n");
    assert!(reply.contains("metrics no longer served"), "{reply}");
    assert!(
        TcpStream::connect(moved).is_err(),
        "still served at {moved}"
    );
    assert_eq!(threads_named(d.pid(), "metrics"), 0);
    d.finish(secs(20.0));
}

#[test]
fn off_by_default_and_an_address_taken_stops_the_start() {
    let mut d = Daemon::start("metrics-off", PROGRAMS);
    d.wait_state("steady", "RUNNING", secs(20.0));
    assert_eq!(threads_named(d.pid(), "metrics"), 0);
    d.finish(secs(20.0));

    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let yaml = format!("taskmaster:\n  metrics: {port}\n{PROGRAMS}");
    let mut d = Daemon::start("metrics-taken", &yaml);
    assert_eq!(d.wait_exit(secs(20.0)), 1);
    assert!(
        d.log()
            .contains(&format!("metrics: cannot listen on 127.0.0.1:{port}")),
        "{}",
        d.log()
    );
}

#[test]
fn bad_requests_are_answered_and_hostile_clients_hold_nothing() {
    let mut d = Daemon::start(
        "metrics-hostile",
        &format!("taskmaster:\n  metrics: 0\n{PROGRAMS}"),
    );
    let addr = served_at(&d);
    let status = |answer: String| answer.lines().next().unwrap_or("").to_string();
    let post = exchange(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(status(post), "HTTP/1.1 405 Method Not Allowed");
    let other = exchange(addr, b"GET /admin HTTP/1.1\r\n\r\n");
    assert_eq!(status(other), "HTTP/1.1 404 Not Found");
    let garbage = exchange(addr, b"\x00\x01 what\r\n\r\n");
    assert_eq!(status(garbage), "HTTP/1.1 400 Bad Request");
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 20_000));
    assert_eq!(
        status(exchange(addr, &huge)),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );

    // Each connection above gives its place back when its thread has seen the
    // client close, which a loaded machine may run late: wait for that, so the
    // places counted below are the slow client's and the scrape's alone.
    poll_until(secs(20.0), secs(0.01), || {
        (threads_named(d.pid(), "metrics-conn") == 0).then_some(())
    })
    .expect("the connections answered above are closed");

    // A client that sends half a request and waits: answered 408 in time,
    // and scrapes are served meanwhile.
    let mut slow = TcpStream::connect(addr).expect("connect");
    slow.write_all(b"GET /metr").expect("send");
    assert_eq!(scrape(addr).0, "HTTP/1.1 200 OK");

    // Many connections at once that send nothing: beyond the few served, each is
    // answered 503 at once; the daemon answers its commands meanwhile.
    let mut many: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    let mut refused = 0;
    for conn in many.iter_mut().skip(8) {
        conn.set_read_timeout(Some(secs(30.0))).expect("timeout");
        let mut answer = String::new();
        let _ = conn.read_to_string(&mut answer);
        refused += usize::from(answer.starts_with("HTTP/1.1 503 "));
    }
    assert!(refused >= 28, "{refused} of 32 refused");
    d.wait_state("steady", "RUNNING", secs(20.0));
    drop(many);
    let mut answer = String::new();
    slow.set_read_timeout(Some(secs(30.0))).expect("timeout");
    let _ = slow.read_to_string(&mut answer);
    assert_eq!(status(answer), "HTTP/1.1 408 Request Timeout");
    // Once they are gone, scrapes are served again.
    poll_until(secs(20.0), secs(0.05), || {
        (scrape(addr).0 == "HTTP/1.1 200 OK").then_some(())
    })
    .expect("a scrape served after the hostile clients left");
    d.finish(secs(20.0));
}

#[test]
fn setting_errors_are_check_errors() {
    let dir = TempDir::new("metrics-check");
    let check = |metrics: &str| {
        let config = write_config_file(
            &dir.0,
            &format!("taskmaster:\n  metrics: {metrics}\n{PROGRAMS}"),
        );
        crate::daemon::run_taskmaster(
            &["--check".as_ref(), "-c".as_ref(), config.as_os_str()],
            secs(20.0),
        )
    };
    let (code, _, err) = check("\"0.0.0.0:9100\"");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("taskmaster.metrics: 0.0.0.0:9100 is not a loopback address"),
        "{err}"
    );
    assert!(err.contains("public: true"), "{err}");
    let (code, _, err) = check("somewhere");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("taskmaster.metrics: found \"somewhere\", expected a port"),
        "{err}"
    );
    let (code, _, err) = check("{listen: \"0.0.0.0:9100\", public: true}");
    assert_eq!(code, 0, "{err}");
}

/// A health check's verdict is a gauge: 1 once a check passed, 0 while failing,
/// none for an instance without a check.
#[test]
fn health_is_a_gauge_of_instances_with_a_check() {
    let d = Daemon::start(
        "metrics-health",
        "taskmaster:
  metrics: 0
programs:
  passes:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck: {cmd: \"true\", interval: 0.2, retries: 1}
  fails:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck: {cmd: \"false\", interval: 0.2, retries: 1, on_failure: none}
  unchecked:
    cmd: TESTPROG sleep
    starttime: 0
",
    );
    let addr = served_at(&d);
    let series =
        |name: &str| format!("taskmaster_instance_healthy{{program=\"{name}\",name=\"{name}\"}}");
    wait_value(addr, &series("passes"), |v| v == 1.0);
    let body = wait_value(addr, &series("fails"), |v| v == 0.0);
    assert_eq!(value(&body, &series("unchecked")), None, "{body}");
    if let Some((code, said)) = check_metrics(&body) {
        assert_eq!(code, 0, "promtool check metrics: {said}\n{body}");
    }
}
