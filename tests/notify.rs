//! Alerts (issue 8): `taskmaster.notify` runs a command for chosen events with the
//! facts in its environment, rate-limited so a crash loop cannot fork-bomb the host.

mod common;
use common::*;

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
