//! Alerts (issue 8): `taskmaster.notify` runs a command for chosen events with the
//! facts in its environment, rate-limited so a crash loop cannot fork-bomb the host.

use crate::common::*;

const NOTIFY: &str = "taskmaster:\n  notify:\n    cmd: \"sh -c 'echo $TASKMASTER_EVENT $TASKMASTER_INSTANCE $TASKMASTER_SUPPRESSED >> DIR/alerts'\"\n";

#[test]
fn fatal_runs_the_command_with_the_facts() {
    let mut d = Daemon::start(
        "notify-fatal",
        &format!("{NOTIFY}programs:\n  doomed:\n    cmd: TESTPROG exit 1\n    starttime: 0.5\n    startretries: 0\n"),
    );
    d.wait_state("doomed", "FATAL", secs(10.0));
    let alerts = d.path("alerts");
    wait_for("the alert", secs(10.0), || {
        read(&alerts).contains("fatal doomed 0").then_some(())
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn a_crash_loop_is_rate_limited() {
    let mut d = Daemon::start(
        "notify-rate",
        &format!(
            "{NOTIFY}    events: [unexpected_exit]\n    max_per_minute: 2\nprograms:\n  loop:\n    cmd: TESTPROG exit 1 0.02\n    starttime: 0\n    autorestart: always\n    restart_throttle: false\n"
        ),
    );
    wait_for("a crash loop", secs(20.0), || {
        (d.instance("loop")["restarts"].as_u64().unwrap_or(0) >= 15).then_some(())
    });
    let alerts = d.path("alerts");
    wait_for("two alerts", secs(10.0), || {
        (read(&alerts).lines().count() == 2).then_some(())
    });
    d.send("stop loop");
    d.wait_state("loop", "STOPPED", secs(10.0));
    // Fifteen unexpected exits in well under a minute: still only two commands.
    assert_eq!(read(&alerts).lines().count(), 2, "{}", read(&alerts));
    assert!(read(&alerts)
        .lines()
        .all(|l| l.starts_with("unexpected_exit loop")));
    assert_eq!(d.finish(secs(20.0)), 0);
}

/// The alert's command records every fact, one line per alert, fields split by `|`.
const NOTIFY_FACTS: &str = "taskmaster:\n  notify:\n    cmd: \"sh -c 'echo \\\"$TASKMASTER_EVENT|$TASKMASTER_PID|$TASKMASTER_MESSAGE\\\" >> DIR/facts'\"\n    events: [fatal, unexpected_exit, reload_failed]\n";

/// The pid a `stamp FILE` child wrote (`<unix time> <pid>`), once it has.
fn stamped_pid(d: &Daemon, file: &str) -> i32 {
    let path = d.path(file);
    wait_for(&format!("a pid in {file}"), secs(10.0), || {
        read(&path)
            .lines()
            .last()
            .and_then(|l| l.split_once(' ')?.1.trim().parse().ok())
    })
}

/// The pid and message of the `EVENT|PID|MESSAGE` alert line for `event` whose
/// message starts with `about`, once it is there.
fn alert(d: &Daemon, event: &str, about: &str) -> (String, String) {
    let facts = d.path("facts");
    wait_for(
        &format!("a {event} alert about {about:?}"),
        secs(10.0),
        || {
            read(&facts).lines().find_map(|l| {
                let mut f = l.splitn(3, '|');
                let (kind, pid, message) = (f.next()?, f.next()?, f.next()?);
                (kind == event && message.starts_with(about))
                    .then(|| (pid.to_string(), message.to_string()))
            })
        },
    )
}

#[test]
fn alerts_carry_the_pid_of_the_process_that_exited() {
    let mut d = Daemon::start(
        "notify-pid",
        &format!(
            "{NOTIFY_FACTS}programs:
  crashy:
    cmd: TESTPROG stamp DIR/crashy then exit 3 0.2
    starttime: 0
    autorestart: never
  doomed:
    cmd: TESTPROG stamp DIR/doomed then exit 1
    starttime: 5
    startretries: 0
"
        ),
    );
    let daemon = d.pid().to_string();

    let crashy = stamped_pid(&d, "crashy");
    let (pid, message) = alert(&d, "unexpected_exit", "crashy:");
    assert_eq!(pid, crashy.to_string(), "not taskmaster's pid ({daemon})");
    assert!(message.contains(&format!("pid {crashy}")), "{message}");

    d.wait_state("doomed", "FATAL", secs(10.0));
    let doomed = stamped_pid(&d, "doomed");
    let (pid, message) = alert(&d, "fatal", "doomed:");
    assert_eq!(pid, doomed.to_string(), "not taskmaster's pid ({daemon})");
    assert!(message.contains(&format!("pid {doomed}")), "{message}");

    // A failed reload is about taskmaster itself.
    std::fs::write(&d.config, "programs: [not, a, map]\n").expect("break the config");
    d.send("reload");
    let (pid, _) = alert(&d, "reload_failed", "reload failed");
    assert_eq!(pid, daemon);
    assert_eq!(d.finish(secs(20.0)), 0);
}

/// An alert command that hangs: it records its shell's pid and its `sleep`
/// grandchild's (`SHELL SLEEP` per line), then waits for ever.
const HANGING: &str = "taskmaster:\n  notify:\n    cmd: \"sh -c 'echo $TASKMASTER_SUPPRESSED >> DIR/alerts; sleep 1000 & echo $$ $! >> DIR/pids; wait'\"\n";

/// Every pid the hanging alerts recorded, shells and grandchildren.
fn alert_pids(d: &Daemon) -> Vec<i32> {
    read(&d.path("pids"))
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `status -l --json` through the daemon's stdin: its `daemon.alerts` object.
fn alert_counts(d: &mut Daemon) -> serde_json::Value {
    let mark = d.mark();
    d.send("status -l --json");
    let line = d.wait_line(mark, "status -l --json", secs(10.0), |l| {
        l.starts_with("{\"daemon\"")
    });
    let reply: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    reply["daemon"]["alerts"].clone()
}

fn gone(pid: i32) -> bool {
    !alive(pid)
}

#[test]
fn a_hanging_alert_is_killed_with_its_group_after_its_timeout() {
    let mut d = Daemon::start(
        "notify-timeout",
        &format!("{HANGING}    timeout: 0.5\n    events: [fatal]\nprograms:\n  doomed:\n    cmd: TESTPROG exit 1\n    starttime: 0.5\n    startretries: 0\n"),
    );
    d.wait_state("doomed", "FATAL", secs(10.0));
    let pids = wait_for("the alert's pids", secs(10.0), || {
        let pids = alert_pids(&d);
        (pids.len() == 2).then_some(pids)
    });
    wait_for("the shell and its grandchild killed", secs(10.0), || {
        pids.iter().all(|&p| gone(p)).then_some(())
    });
    d.wait_log("the kill logged", secs(10.0), |log| {
        log.contains("still running after its timeout (0.5 s): its process group was killed")
    });
    let counts = wait_for("the alert's place freed", secs(10.0), || {
        let counts = alert_counts(&mut d);
        (counts["running"] == 0).then_some(counts)
    });
    assert_eq!(counts["killed_after_timeout"], 1, "{counts}");
    assert_eq!(counts["run"], 1, "{counts}");
    let mark = d.mark();
    d.send("status -l");
    d.wait_line(mark, "the alerts line of status -l", secs(10.0), |l| {
        l.starts_with("alerts: 0 running (at most 4); since start: 1 run, 1 killed after timeout")
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn at_most_four_alerts_run_and_shutdown_stops_them() {
    let mut d = Daemon::start(
        "notify-cap",
        &format!("{HANGING}    timeout: 600\n    events: [unexpected_exit]\n    max_per_minute: 1000\nprograms:\n  loop:\n    cmd: TESTPROG exit 1 0.02\n    starttime: 0\n    autorestart: always\n    restart_throttle: false\n"),
    );
    // A burst of unexpected exits while four alerts hang.
    let counts = wait_for("a burst over the cap", secs(20.0), || {
        let counts = alert_counts(&mut d);
        (counts["not_run"].as_u64()? >= 10).then_some(counts)
    });
    assert_eq!(counts["running"], 4, "{counts}");
    assert_eq!(counts["run"], 4, "{counts}");
    assert_eq!(read(&d.path("alerts")).lines().count(), 4);
    let pids = wait_for("four alerts' pids", secs(10.0), || {
        let pids = alert_pids(&d);
        (pids.len() == 8).then_some(pids)
    });

    // One ends: the next alert runs, and says how many were not.
    // SAFETY: kill(2) on the process group of an alert's shell, which we recorded.
    assert_eq!(unsafe { nix::libc::kill(-pids[0], 9) }, 0);
    let alerts = d.path("alerts");
    let suppressed: u64 = wait_for("a fifth alert", secs(20.0), || {
        read(&alerts).lines().nth(4)?.trim().parse().ok()
    });
    assert!(suppressed >= 10, "TASKMASTER_SUPPRESSED={suppressed}");
    d.wait_log("the summary", secs(10.0), |log| {
        log.contains("events not alerted before this unexpected_exit")
    });
    d.command_expect("stop loop", "loop: stopped", secs(20.0));
    let pids = alert_pids(&d);
    assert_eq!(pids.len(), 10, "five alerts, two pids each");

    assert_eq!(d.finish(secs(20.0)), 0);
    wait_for("no alert process left", secs(10.0), || {
        pids.iter().all(|&p| gone(p)).then_some(())
    });
    let log = d.log();
    assert!(
        log.contains("4 alert commands still running at shutdown"),
        "{log}"
    );
}
