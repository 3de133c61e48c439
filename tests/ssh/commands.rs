//! Commands over ssh: one host, several gathered, an unreachable one, the relay
//! alone, and URLs refused before anything runs.

use std::process::{Command, Stdio};

use super::{free_port, run, run_fed, sshd_or_skip, CTL};
use crate::common::*;

const WEB: &str = "programs:
  web:
    cmd: TESTPROG sleep
    starttime: 0
  idle:
    cmd: TESTPROG sleep
    starttime: 0
    autostart: false
";

#[test]
fn status_over_ssh_is_the_remote_daemons() {
    let sshd = sshd_or_skip!("status_over_ssh_is_the_remote_daemons");
    let mut d = Daemon::start("ssh-status", WEB);
    d.wait_state("web", "RUNNING", secs(10.0));
    let pid = d.pid_of("web");
    let url = sshd.url(&d.socket());

    let ran = run(sshd.ctl(&["-H", &url, "status", "web"]));
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.starts_with("web "), "{ran:?}");
    assert!(
        ran.stdout.contains(&format!("RUNNING   pid {pid},")),
        "{ran:?}"
    );

    // The same through TASKMASTER_HOST, and as JSON.
    let mut cmd = sshd.ctl(&["status", "--json"]);
    cmd.env("TASKMASTER_HOST", &url);
    let ran = run(cmd);
    assert_eq!(ran.code, 3, "idle is STOPPED: {ran:?}");
    let items: serde_json::Value = serde_json::from_str(ran.stdout.trim()).expect("JSON");
    let web = items
        .as_array()
        .and_then(|list| list.iter().find(|i| i["name"] == "web"))
        .unwrap_or_else(|| panic!("no web in {items}"));
    assert_eq!(web["pid"], pid, "{items}");

    // The shell, with commands piped in, over the same road.
    let ran = run_fed(sshd.ctl(&["-H", &url]), Some(b"pid web\nversion\n"));
    let text = &ran.stdout;
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(text.contains(&format!("{pid}\n")), "{text}");
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    d.finish(secs(20.0));
}

#[test]
fn start_and_stop_over_ssh_change_the_remote_daemon() {
    let sshd = sshd_or_skip!("start_and_stop_over_ssh_change_the_remote_daemon");
    let mut d = Daemon::start("ssh-startstop", WEB);
    d.wait_state("web", "RUNNING", secs(10.0));
    let url = sshd.url(&d.socket());

    let ran = run(sshd.ctl(&["-H", &url, "start", "idle"]));
    assert_eq!(
        (ran.code, ran.stdout.as_str()),
        (0, "idle: started\n"),
        "{ran:?}"
    );
    d.wait_state("idle", "RUNNING", secs(10.0));

    let ran = run(sshd.ctl(&["-H", &url, "stop", "idle"]));
    assert_eq!(
        (ran.code, ran.stdout.as_str()),
        (0, "idle: stopped\n"),
        "{ran:?}"
    );
    d.wait_state("idle", "STOPPED", secs(10.0));
    let ran = run(sshd.ctl(&["-H", &url, "stop", "nosuch"]));
    assert_eq!(
        (ran.code, ran.stdout.as_str()),
        (1, "nosuch: ERROR (no such process)\n"),
        "{ran:?}"
    );
    d.finish(secs(20.0));
}

#[test]
fn two_hosts_gather_a_host_column_and_one_exit_code() {
    let sshd = sshd_or_skip!("two_hosts_gather_a_host_column_and_one_exit_code");
    let mut a = Daemon::start("ssh-two-a", WEB);
    let mut b = Daemon::start(
        "ssh-two-b",
        "programs:\n  db:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    a.wait_state("web", "RUNNING", secs(10.0));
    b.wait_state("db", "RUNNING", secs(10.0));
    let (url_a, url_b) = (sshd.url(&a.socket()), sshd.url(&b.socket()));
    let (label_a, label_b) = (sshd.label(&a.socket()), sshd.label(&b.socket()));
    let width = label_a.len().max(label_b.len());

    let ran = run(sshd.ctl(&["-H", &url_a, "-H", &url_b, "status", "web", "db"]));
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{ran:?}");
    assert!(
        lines[0].starts_with(&format!("{label_a:<width$}  web ")),
        "{ran:?}"
    );
    assert!(lines[0].contains("RUNNING"), "{ran:?}");
    assert_eq!(
        lines[1],
        format!("{label_a:<width$}  db: ERROR (no such process)")
    );
    assert_eq!(
        lines[2],
        format!("{label_b:<width$}  web: ERROR (no such process)")
    );
    assert!(
        lines[3].starts_with(&format!("{label_b:<width$}  db ")),
        "{ran:?}"
    );
    assert_eq!(ran.code, 4, "an unknown name on each host: {ran:?}");

    // A command that fails on one host only: the other still does it, the exit
    // code says not all succeeded. The hosts come from a file.
    let hosts = a.path("hosts");
    std::fs::write(&hosts, format!("# two\n{url_a}\n\n{url_b}\n")).expect("hosts file");
    let hosts = hosts.to_str().expect("utf-8");
    let ran = run(sshd.ctl(&["--hosts", hosts, "start", "idle"]));
    assert_eq!(
        ran.stdout,
        format!(
            "{label_a:<width$}  idle: started\n{label_b:<width$}  idle: ERROR (no such process)\n"
        ),
        "{ran:?}"
    );
    assert_eq!(ran.code, 1, "{ran:?}");
    a.wait_state("idle", "RUNNING", secs(10.0));

    let ran = run(sshd.ctl(&["--hosts", hosts, "status", "--json"]));
    let items: serde_json::Value = serde_json::from_str(ran.stdout.trim()).expect("JSON");
    let hosts_of = |name: &str| -> Vec<String> {
        let list = items.as_array().expect("an array");
        list.iter()
            .filter(|i| i["name"] == name)
            .map(|i| i["host"].as_str().unwrap_or("?").to_string())
            .collect()
    };
    assert_eq!(hosts_of("web"), [label_a], "{items}");
    assert_eq!(hosts_of("db"), [label_b], "{items}");
    assert_eq!(ran.code, 0, "{ran:?}");
    a.finish(secs(20.0));
    b.finish(secs(20.0));
}

#[test]
fn an_unreachable_host_is_an_error_line_not_a_hang() {
    let sshd = sshd_or_skip!("an_unreachable_host_is_an_error_line_not_a_hang");
    let mut d = Daemon::start("ssh-unreachable", WEB);
    d.wait_state("web", "RUNNING", secs(10.0));
    let url = sshd.url(&d.socket());
    let closed_port = free_port();
    let closed = format!("ssh://127.0.0.1:{closed_port}");

    let ran = run(sshd.ctl(&["-H", &url, "-H", &closed, "status", "web"]));
    assert_eq!(ran.code, 4, "{ran:?}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{ran:?}");
    assert!(lines[0].contains("RUNNING"), "{ran:?}");
    assert!(
        lines[1].starts_with(&format!("127.0.0.1:{closed_port} ")),
        "{ran:?}"
    );
    assert!(
        lines[1].contains("  ERROR: cannot reach taskmaster at ssh://127.0.0.1:"),
        "{ran:?}"
    );
    assert!(lines[1].contains("Connection refused"), "{ran:?}");

    // One host alone: taskmasterctl's own code for a daemon it cannot reach.
    let ran = run(sshd.ctl(&["-H", &closed, "stop", "web"]));
    assert_eq!(ran.code, 3, "{ran:?}");
    assert!(ran.stderr.contains("Connection refused"), "{ran:?}");
    // A socket nobody listens on, on a host that answers: the relay says so.
    let missing = sshd.url(&d.path("missing.sock"));
    let ran = run(sshd.ctl(&["-H", &missing, "status"]));
    assert_eq!(ran.code, 4, "{ran:?}");
    assert!(ran.stderr.contains("missing.sock: No such file"), "{ran:?}");
    d.wait_state("web", "RUNNING", secs(10.0));
    d.finish(secs(20.0));
}

#[test]
fn stdio_relays_requests_to_the_socket_without_ssh() {
    let mut d = Daemon::start("ssh-stdio", WEB);
    d.wait_state("web", "RUNNING", secs(10.0));
    let pid = d.pid_of("web");
    let socket = d.socket();
    // Two requests, then the end of input: both answered, then the relay ends.
    let mut relay = Command::new(CTL);
    relay.arg("--stdio").arg("-s").arg(&socket);
    let requests =
        b"{\"command\":\"pid\",\"args\":[\"web\"]}\n{\"command\":\"start\",\"args\":[\"idle\"]}\n";
    let ran = run_fed(relay, Some(requests));
    assert_eq!(ran.code, 0, "{ran:?}");
    let text = &ran.stdout;
    let replies: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON reply"))
        .collect();
    assert_eq!(replies.len(), 2, "{text}");
    assert_eq!(replies[0]["output"], pid.to_string(), "{text}");
    assert_eq!(replies[1]["output"], "idle: started", "{text}");
    d.wait_state("idle", "RUNNING", secs(10.0));

    let ran = run({
        let mut c = Command::new(CTL);
        c.args(["--stdio", "-s"]).arg(d.path("missing.sock"));
        c.stdin(Stdio::null());
        c
    });
    assert_eq!(ran.code, 3, "{ran:?}");
    assert!(ran.stderr.contains("cannot reach taskmaster at"), "{ran:?}");
    let ran = run({
        let mut c = Command::new(CTL);
        c.args(["--stdio", "status"]).stdin(Stdio::null());
        c
    });
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("--stdio takes no command"), "{ran:?}");
    d.finish(secs(20.0));
}

#[test]
fn bad_urls_are_refused_before_anything_runs() {
    let dir = TempDir::new("ssh-bad-urls");
    let ran_marker = dir.path("ssh-ran");
    // An "ssh" that leaves a mark if it is ever run.
    let fake_ssh = format!("sh -c 'touch {}' fake-ssh", ran_marker.display());
    let ctl = |args: &[&str]| {
        let mut c = Command::new(CTL);
        c.args(args)
            .stdin(Stdio::null())
            .env("TASKMASTER_SSH_COMMAND", &fake_ssh)
            .env_remove("TASKMASTER_HOST");
        run(c)
    };
    let cases: &[(&[&str], &str)] = &[
        (&["-H", "http://web1", "status"], "unknown scheme 'http://'"),
        (&["-H", "web1", "status"], "not a URL"),
        (&["-H", "ssh://", "status"], "empty host"),
        (&["-H", "ssh://web1:0", "status"], "bad port '0'"),
        (&["-H", "ssh://web1:22x", "status"], "bad port '22x'"),
        (
            &["-H", "ssh://-oProxyCommand=sh", "status"],
            "bad host '-oProxyCommand=sh'",
        ),
        (&["-H", "ssh://-oX=y@web1", "status"], "bad user '-oX=y'"),
        (
            &["-H", "ssh://a", "-H", "ssh://b", "attach", "web"],
            "needs one host",
        ),
        (
            &["-H", "ssh://a", "-H", "ssh://b", "tail", "-f", "web"],
            "needs one host",
        ),
        (
            &["-H", "ssh://a", "-H", "ssh://b"],
            "the interactive shell drives one host",
        ),
    ];
    for (args, said) in cases {
        let ran = ctl(args);
        assert_eq!(ran.code, 2, "{args:?}: {ran:?}");
        assert!(ran.stderr.contains(said), "{args:?}: {ran:?}");
    }
    let hosts = dir.path("hosts");
    std::fs::write(&hosts, "ssh://web1\nssh://web2:x\n").expect("hosts file");
    let ran = ctl(&["--hosts", hosts.to_str().expect("utf-8"), "status"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("hosts:2: ssh://web2:x: bad port 'x'"),
        "{ran:?}"
    );
    let mut env_host = Command::new(CTL);
    env_host
        .arg("status")
        .stdin(Stdio::null())
        .env("TASKMASTER_SSH_COMMAND", &fake_ssh)
        .env("TASKMASTER_HOST", "ssh://web1:99999");
    let ran = run(env_host);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr
            .contains("TASKMASTER_HOST=ssh://web1:99999: bad port"),
        "{ran:?}"
    );
    assert!(!ran_marker.exists(), "ssh was run for a refused URL");

    // The same fake ssh does run for a good URL: the marks above are meaningful.
    let ran = ctl(&["-H", "ssh://web1", "status"]);
    assert_eq!(ran.code, 4, "{ran:?}");
    assert!(ran_marker.exists(), "the fake ssh was not run: {ran:?}");
}
