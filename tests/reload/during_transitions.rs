//! Reloads while an instance is in BACKOFF or STOPPING.

use super::{config, ctl, ctl_status, pid, prog, reload, state, wait_running, write_config};
use crate::common::*;

// ---- 8. reload during BACKOFF and STOPPING --------------------------------------------

#[test]
fn reload_during_backoff_takes_the_new_cmd() {
    let flaky = |cmd: &str| {
        config(&[prog(
            "flaky",
            &[&format!("cmd: {cmd}"), "starttime: 1", "startretries: 5"],
        )])
    };
    let mut d = Daemon::start("reload-backoff", &flaky("TESTPROG exit 1"));
    d.wait_state("flaky", "BACKOFF", secs(10.0));

    write_config(&d, &flaky("TESTPROG sleep"));
    let reply = reload(&mut d);
    // BACKOFF has no process: the new spec is just taken (a retry caught in STARTING
    // would be restarted instead; both are right).
    assert!(
        reply == ["flaky: updated (cmd changed; nothing was running)"]
            || reply == ["flaky: restarted (cmd changed)"],
        "{reply:?}"
    );
    let i = d.wait_state("flaky", "RUNNING", secs(20.0));
    let p = pid(&i).unwrap();
    let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert_eq!(argv.get(1).map(String::as_str), Some("sleep"), "{argv:?}");
    assert_stays("flaky RUNNING with the new cmd", secs(1.2), || {
        let i = d.instance("flaky");
        state(&i) == "RUNNING" && pid(&i) == Some(p)
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn reload_during_stopping_lets_the_stop_complete() {
    let stubborn = |extra: &[&str]| {
        let mut lines = vec!["cmd: TESTPROG ignore-term"];
        lines.extend_from_slice(extra);
        config(&[
            prog("stubborn", &lines),
            prog("keep", &["cmd: TESTPROG sleep"]),
        ])
    };
    let mut d = Daemon::start("reload-stopping", &stubborn(&["stoptime: 2"]));
    let pids = wait_running(&mut d, &["keep", "stubborn"], secs(10.0));

    // `stop` on stdin blocks stdin until done: watch and reload over the socket.
    let mark = d.mark();
    d.send("stop stubborn");
    wait_for("stubborn STOPPING", secs(5.0), || {
        ctl_status(&d)
            .iter()
            .any(|i| i["name"] == "stubborn" && state(i) == "STOPPING")
            .then_some(())
    });
    write_config(&d, &stubborn(&["stoptime: 3", "autorestart: always"]));
    let reply = ctl(&d, "reload", &[]);
    assert_eq!(
        reply["output"], "stubborn: updated in place (autorestart, stoptime changed)",
        "{reply}"
    );
    assert_eq!(reply["exit"], 0, "{reply}");

    d.wait_line(mark, "stubborn: stopped", secs(10.0), |l| {
        l == "stubborn: stopped"
    });
    assert!(!alive(pids["stubborn"]));
    assert_stays("stubborn stays STOPPED", secs(1.0), || {
        state(&d.instance("stubborn")) == "STOPPED"
    });
    assert_eq!(d.pid_of("keep"), pids["keep"]);
    assert!(alive(d.pid()));
    assert_eq!(d.finish(secs(20.0)), 0);
}
