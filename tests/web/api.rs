//! `POST /api/command` is the socket protocol over HTTP: the same request line,
//! the same reply line, the same commands.

use std::os::unix::fs::PermissionsExt;

use super::*;

#[test]
fn commands_run_over_http_with_the_token_from_web_url() {
    let (mut d, web) = start("web-api", SLEEPER);
    d.wait_state("sleeper", "RUNNING", short());
    let pid = d.pid_of("sleeper");

    // The token is in a file only the daemon's user reads, next to the socket.
    let file = d.path("taskmaster.sock.web-token");
    assert_eq!(read(&file).trim(), web.token);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    assert_eq!(web.token.len(), 64, "32 random bytes in hex");

    let status = web.command("status", &["--json"]);
    assert_eq!(status["ok"], true, "{status}");
    assert_eq!(status["data"][0]["name"], "sleeper");
    assert_eq!(status["data"][0]["state"], "RUNNING");

    let stopped = web.command("stop", &["sleeper"]);
    assert_eq!(stopped["output"], "sleeper: stopped", "{stopped}");
    assert_eq!(stopped["exit"], 0);
    assert!(gone(pid), "the process is gone");
    d.wait_state("sleeper", "STOPPED", short());
    // Who asked is in the event log, as for the socket.
    d.wait_log("the stop request", short(), |log| {
        log.contains("stop requested by the web dashboard (127.0.0.1:")
    });

    // Errors are the socket's replies too.
    let unknown = web.command("stop", &["nosuch"]);
    assert_eq!(unknown["exit"], 1);
    assert_eq!(unknown["output"], "nosuch: ERROR (no such process)");
    let usage = web.command("frobnicate", &[]);
    assert_eq!(usage["exit"], 2);
    // Streams are the WebSockets'.
    let follow = web.command("tail", &["-f", "sleeper"]);
    assert_eq!(follow["exit"], 2, "{follow}");
    assert!(
        follow["output"].as_str().unwrap().contains("/ws"),
        "{follow}"
    );
    d.finish(secs(20.0));
    assert!(!file.exists(), "the token file goes with the daemon");
}

#[test]
fn web_url_says_when_the_dashboard_is_off() {
    let mut d = Daemon::start("web-off", &format!("programs:\n{SLEEPER}"));
    wait_for("the control socket", short(), || {
        d.socket().exists().then_some(())
    });
    let out = std::process::Command::new(CTL)
        .arg("-s")
        .arg(d.socket())
        .arg("web-url")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("the web dashboard is off"), "{said}");
    d.finish(secs(20.0));
}

#[test]
fn a_reload_says_the_http_settings_apply_at_the_next_start() {
    let (mut d, web) = start("web-reload", SLEEPER);
    d.wait_state("sleeper", "RUNNING", short());
    let yaml = read(&d.config).replace("127.0.0.1:0", "127.0.0.1:1");
    std::fs::write(&d.config, yaml).unwrap();
    let reload = web.command("reload", &[]);
    let said = reload["output"].as_str().unwrap();
    assert!(
        said.contains("keeps its settings until taskmaster starts again"),
        "{said}"
    );
    // The same server, the same token.
    let again = Web::of(&d);
    assert_eq!(
        (again.addr, again.token),
        (web.addr.clone(), web.token.clone())
    );
    assert_eq!(web.command("status", &[])["ok"], true);
    d.finish(secs(20.0));
}

/// An upgrade in place keeps the dashboard's token: a page open in a browser
/// reconnects to the new process with the cookie it has.
#[test]
fn the_token_stays_across_an_upgrade_in_place() {
    // A fixed port: the new process binds it again.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let yaml = format!("taskmaster:\n  http:\n    listen: 127.0.0.1:{port}\nprograms:\n{SLEEPER}");
    let mut d = Daemon::start("web-upgrade", &yaml);
    d.wait_state("sleeper", "RUNNING", short());
    let before = Web::of(&d);
    let out = crate::upgrade::upgrade(&d.socket(), None);
    assert_eq!(out.code, 0, "{out:?}");
    let after = Web::of(&d);
    assert_eq!(after.addr, before.addr);
    assert_eq!(after.token, before.token, "the token is handed over");
    let status = wait_for("the dashboard answering the old token", short(), || {
        let reply = std::panic::catch_unwind(|| before.command("status", &["--json"])).ok()?;
        (reply["ok"] == true).then_some(reply)
    });
    assert_eq!(status["data"][0]["state"], "RUNNING", "{status}");
    d.finish(secs(20.0));
}
