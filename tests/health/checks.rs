//! The three probes against what the test controls, and the reasons `status`
//! gives when they fail: a command that fails or is missing, a server answering
//! 503 or not listening, a closed port; a check that hangs is killed.

use std::net::TcpListener;

use super::*;

#[test]
fn a_cmd_check_runs_like_the_program_and_follows_its_result() {
    // The check sees the program's env and working directory: `ok` is relative.
    let mut d = Daemon::start(
        "health-cmd",
        "programs:
  web:
    cmd: TESTPROG sleep
    starttime: 0
    workingdir: DIR
    env: {PROBE: yes}
    healthcheck:
      cmd: \"sh -c 'test \\\"$PROBE\\\" = yes && test -e ok || { echo not ready; exit 3; }'\"
      interval: 0.1
      retries: 2
      on_failure: none
",
    );
    let web = wait_health(&mut d, "web", "unhealthy", secs(20.0));
    let text = web["description"].as_str().unwrap_or_default();
    assert!(
        text.contains("unhealthy: check command exited with status 3: not ready"),
        "{web}"
    );
    assert_eq!(
        web["health_reason"],
        "check command exited with status 3: not ready"
    );
    std::fs::write(d.path("ok"), "").expect("write ok");
    let web = wait_health(&mut d, "web", "healthy", secs(20.0));
    assert!(
        web["description"]
            .as_str()
            .unwrap_or_default()
            .ends_with(", healthy")
            || web["description"]
                .as_str()
                .unwrap_or_default()
                .contains(", healthy,"),
        "{web}"
    );
    std::fs::remove_file(d.path("ok")).expect("remove ok");
    wait_health(&mut d, "web", "unhealthy", secs(20.0));
    // The log says when it changed, and why.
    d.wait_log("the health lines", secs(10.0), |log| {
        log.contains("web: healthy")
            && log.contains("web: unhealthy after 2 failed health checks in a row (check command exited with status 3: not ready)")
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn an_http_check_follows_the_server() {
    let server = HttpServer::start();
    let mut d = Daemon::start(
        "health-http",
        &format!(
            "programs:
  api:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck:
      http: http://127.0.0.1:{}/health
      interval: 0.1
      retries: 2
      on_failure: none
",
            server.port
        ),
    );
    wait_health(&mut d, "api", "healthy", secs(20.0));
    assert!(server.hits() >= 1);
    server.set_status(503);
    let api = wait_health(&mut d, "api", "unhealthy", secs(20.0));
    let reason = format!("GET http://127.0.0.1:{}/health: HTTP 503 Test", server.port);
    assert_eq!(api["health_reason"], reason.as_str(), "{api}");
    server.set_status(200);
    wait_health(&mut d, "api", "healthy", secs(20.0));
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn an_http_check_reads_the_whole_answer_before_closing() {
    // Closing with the body unread would reset the connection: the server's
    // write of its body would fail, once per check.
    let server = HttpServer::slow_body();
    let mut d = Daemon::start(
        "health-http-body",
        &format!(
            "programs:
  api:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck: {{http: \"http://127.0.0.1:{}/\", interval: 0.1, timeout: 2}}
",
            server.port
        ),
    );
    wait_health(&mut d, "api", "healthy", secs(20.0));
    wait_for("three checks answered", secs(20.0), || {
        (server.hits() >= 3).then_some(())
    });
    assert_eq!(server.cut_short(), 0, "the check closed before the body");
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn a_tcp_check_follows_the_listener() {
    // Connections wait in the listener's backlog: no accept needed.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let mut d = Daemon::start(
        "health-tcp",
        &format!(
            "programs:
  db:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck: {{tcp: \"127.0.0.1:{port}\", interval: 0.1, retries: 1, on_failure: none}}
"
        ),
    );
    wait_health(&mut d, "db", "healthy", secs(20.0));
    drop(listener);
    let db = wait_health(&mut d, "db", "unhealthy", secs(20.0));
    let reason = format!("connect to 127.0.0.1:{port}: connection refused");
    assert_eq!(db["health_reason"], reason.as_str(), "{db}");
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn an_unreachable_url_and_a_missing_command_are_unhealthy_with_the_reason() {
    let port = closed_port();
    let mut d = Daemon::start(
        "health-unreachable",
        &format!(
            "programs:
  web:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck: {{http: \"http://127.0.0.1:{port}/\", interval: 0.1, retries: 2, on_failure: none}}
  job:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck: {{cmd: no-such-check-command --now, interval: 0.1, retries: 1}}
"
        ),
    );
    let web = wait_health(&mut d, "web", "unhealthy", secs(20.0));
    let expected = format!("unhealthy: GET http://127.0.0.1:{port}/: connection refused");
    assert!(
        web["description"]
            .as_str()
            .unwrap_or_default()
            .contains(&expected),
        "{web}"
    );
    let job = wait_health(&mut d, "job", "unhealthy", secs(20.0));
    assert!(
        (job["description"].as_str().unwrap_or_default())
            .contains("unhealthy: check command: can't find command 'no-such-check-command'"),
        "{job}"
    );
    // Still RUNNING (`none` and the default `alert` restart nothing), same daemon.
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn a_check_that_hangs_is_killed_at_its_timeout_with_what_it_started() {
    let mut d = Daemon::start(
        "health-hang",
        "programs:
  web:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck:
      cmd: \"sh -c 'echo $$ >> DIR/check.pids; sleep 1000 & echo $! >> DIR/check.pids; wait'\"
      timeout: 0.3
      interval: 0.2
      retries: 1
      on_failure: none
",
    );
    let web = wait_health(&mut d, "web", "unhealthy", secs(20.0));
    assert_eq!(
        web["health_reason"],
        "check command timed out after 0.3 s (killed)"
    );
    let pids: Vec<i32> = read(&d.path("check.pids"))
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(pids.len() >= 2, "{pids:?}");
    // Each check's shell and its background sleep are gone once it timed out
    // (the last check may still run: stop the program, which ends it too).
    d.command_expect("stop web", "web: stopped", secs(20.0));
    let pids: Vec<i32> = read(&d.path("check.pids"))
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    wait_for("every check process gone", secs(10.0), || {
        pids.iter().all(|&p| !alive(p) || zombie(p)).then_some(())
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}
