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
            "{NOTIFY}    events: [unexpected_exit]\n    max_per_minute: 2\nprograms:\n  loop:\n    cmd: TESTPROG exit 1 0.02\n    starttime: 0\n    autorestart: always\n"
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
