//! What `retries` failed checks in a row do: `restart` restarts the instance by
//! its stop rules (a new pid), `alert` runs the `unhealthy` alert, `none` only
//! marks it; failures in the `start_period` do not count; the event stream
//! carries `healthy` and `unhealthy` with the reason.

use super::*;
use crate::control::support::{threads_named, CtlStream};

const NOTIFY: &str = "taskmaster:\n  notify:\n    cmd: \"sh -c 'echo $TASKMASTER_EVENT $TASKMASTER_INSTANCE >> DIR/alerts'\"\n    events: [unhealthy]\n";

#[test]
fn on_failure_restart_restarts_the_instance_by_its_stop_rules() {
    let server = HttpServer::start();
    let mut d = Daemon::start(
        "health-restart",
        &format!(
            "programs:
  web:
    cmd: TESTPROG sleep
    starttime: 0
    stopsignal: USR1
    healthcheck: {{http: \"http://127.0.0.1:{}/\", interval: 0.1, retries: 2, on_failure: restart}}
",
            server.port
        ),
    );
    let first = wait_health(&mut d, "web", "healthy", secs(20.0))["pid"]
        .as_i64()
        .expect("pid");
    server.set_status(500);
    d.wait_log("the restart", secs(20.0), |log| {
        log.contains("web: unhealthy after 2 failed health checks in a row")
            && log.contains(&format!("stopping: web (pid {first}) with SIGUSR1"))
    });
    server.set_status(200);
    let web = wait_for("a new healthy web", secs(20.0), || {
        let web = d.instance("web");
        (web["health"] == "healthy" && web["pid"].as_i64() != Some(first)).then_some(web)
    });
    assert!(web["restarts"].as_u64() >= Some(1), "{web}");
    assert!(
        !alive(first as i32),
        "the unhealthy web (pid {first}) lives on"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn on_failure_alert_sends_the_alert_and_none_does_not() {
    let port = closed_port();
    let mut d = Daemon::start(
        "health-alert",
        &format!(
            "{NOTIFY}programs:
  loud:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck: {{tcp: \"127.0.0.1:{port}\", interval: 0.1, retries: 2, on_failure: alert}}
  quiet:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck: {{tcp: \"127.0.0.1:{port}\", interval: 0.1, retries: 2, on_failure: none}}
"
        ),
    );
    let loud = wait_health(&mut d, "loud", "unhealthy", secs(20.0));
    wait_health(&mut d, "quiet", "unhealthy", secs(20.0));
    let alerts = d.path("alerts");
    wait_for("the alert", secs(10.0), || {
        read(&alerts).contains("unhealthy loud").then_some(())
    });
    assert_stays("no alert for quiet", secs(1.0), || {
        !read(&alerts).contains("quiet")
    });
    // Neither is restarted: same pid, still RUNNING.
    assert_eq!(d.instance("loud")["pid"], loud["pid"]);
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn failures_in_the_start_period_do_not_count() {
    // A check that always fails: with a long start_period the instance stays
    // `starting` (the reason shown), without one it is unhealthy at once.
    let port = closed_port();
    let check = |period: &str| {
        format!("{{tcp: \"127.0.0.1:{port}\", interval: 0.1, retries: 1, start_period: {period}, on_failure: none}}")
    };
    let mut d = Daemon::start(
        "health-start-period",
        &format!(
            "programs:
  patient:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck: {}
  eager:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck: {}
",
            check("3600"),
            check("0")
        ),
    );
    wait_health(&mut d, "eager", "unhealthy", secs(20.0));
    let patient = wait_for("a failed check of patient", secs(20.0), || {
        let p = d.instance("patient");
        p["health_reason"].is_string().then_some(p)
    });
    assert_eq!(patient["health"], "starting", "{patient}");
    assert!(
        (patient["description"].as_str().unwrap_or_default())
            .contains("health: starting (last check failed: connect to 127.0.0.1:"),
        "{patient}"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn the_event_stream_says_healthy_and_unhealthy_with_the_reason() {
    let server = HttpServer::start();
    let d = Daemon::start(
        "health-events",
        &format!(
            "programs:
  api:
    cmd: TESTPROG sleep
    starttime: 0
    autostart: false
    healthcheck: {{http: \"http://127.0.0.1:{}/\", interval: 0.1, retries: 1, on_failure: none}}
",
            server.port
        ),
    );
    let socket = d.socket();
    wait_for("the control socket", secs(10.0), || {
        (crate::control::support::ctl(&socket, &["status"]).code == 3).then_some(())
    });
    let before = threads_named(d.pid(), "control-eof");
    let stream = CtlStream::start(&socket, &["events", "--json"]);
    wait_for("the events stream to begin", secs(10.0), || {
        (threads_named(d.pid(), "control-eof") > before).then_some(())
    });
    crate::control::support::ctl(&socket, &["start", "api"]);
    let kind_of = |l: &String| -> Option<serde_json::Value> {
        serde_json::from_str::<serde_json::Value>(l).ok()
    };
    stream.wait("healthy", secs(20.0), |lines| {
        lines
            .iter()
            .filter_map(kind_of)
            .any(|e| e["kind"] == "healthy" && e["instance"] == "api" && e["health"] == "healthy")
    });
    server.set_status(503);
    let lines = stream.wait("unhealthy", secs(20.0), |lines| {
        lines
            .iter()
            .filter_map(kind_of)
            .any(|e| e["kind"] == "unhealthy")
    });
    let event = lines
        .iter()
        .filter_map(kind_of)
        .find(|e| e["kind"] == "unhealthy");
    let event = event.expect("an unhealthy event");
    let reason = format!("GET http://127.0.0.1:{}/: HTTP 503 Test", server.port);
    assert_eq!(event["reason"], reason.as_str(), "{event}");
    assert_eq!(event["health"], "unhealthy", "{event}");
    assert!(
        event["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&reason),
        "{event}"
    );
    assert!(event["pid"].is_i64(), "{event}");
    drop(stream);
    let mut d = d;
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn a_reload_adds_and_removes_a_check_in_place() {
    let server = HttpServer::start();
    let plain = "programs:\n  web:\n    cmd: TESTPROG sleep\n    starttime: 0\n";
    let mut d = Daemon::start("health-reload", plain);
    let pid = d.wait_state("web", "RUNNING", secs(20.0))["pid"].clone();
    assert_eq!(health(&mut d, "web"), serde_json::Value::Null);
    let checked = format!(
        "{plain}    healthcheck: {{http: \"http://127.0.0.1:{}/\", interval: 0.1}}\n",
        server.port
    );
    crate::reload::write_config(&d, &checked);
    let reply = crate::reload::reload(&mut d).join("\n");
    assert!(reply.contains("healthcheck"), "{reply}");
    let web = wait_health(&mut d, "web", "healthy", secs(20.0));
    assert_eq!(web["pid"], pid, "the reload restarted web");
    crate::reload::write_config(&d, plain);
    crate::reload::reload(&mut d);
    wait_for("no health any more", secs(20.0), || {
        health(&mut d, "web").is_null().then_some(())
    });
    assert_eq!(d.instance("web")["pid"], pid);
    assert_eq!(d.finish(secs(20.0)), 0);
}
