//! `status` shows each running instance's CPU and memory (its whole process
//! group's), read from /proc when asked; `-l` adds processes, threads, fds and
//! CPU time.

use std::time::Duration;

use crate::common::{poll_until, Daemon};

const CONFIG: &str = r#"
programs:
  busy:
    cmd: "/bin/sh -c 'while :; do :; done'"
    autostart: true
    starttime: 0
  family:
    cmd: "TESTPROG fork 2 DIR/family.pids"
    autostart: true
    starttime: 0
  idle:
    cmd: "TESTPROG sleep"
    autostart: false
"#;

#[test]
fn status_shows_cpu_memory_and_restarts_of_each_running_group() {
    let mut d = Daemon::start("resources", CONFIG);
    d.wait_state("busy", "RUNNING", Duration::from_secs(10));
    d.wait_state("family", "RUNNING", Duration::from_secs(10));
    // The spinning shell shows CPU once it has run a tick.
    let busy = poll_until(Duration::from_secs(20), Duration::from_millis(100), || {
        let i = d.instance("busy");
        (i["cpu_percent"].as_f64()? > 0.0).then_some(i)
    })
    .expect("busy never showed CPU");
    assert!(
        busy["memory_bytes"].as_u64().is_some_and(|m| m > 0),
        "{busy}"
    );
    assert_eq!(busy["restarts"], 0);
    // Not running: no usage.
    let idle = d.instance("idle");
    assert!(
        idle["cpu_percent"].is_null() && idle["memory_bytes"].is_null(),
        "{idle}"
    );

    // The text line: pid and uptime first, as supervisorctl's, then the usage.
    let mark = d.mark();
    d.send("status busy");
    let line = d.wait_line(mark, "status busy", Duration::from_secs(10), |l| {
        l.starts_with("busy")
    });
    assert!(line.contains(", uptime "), "{line:?}");
    assert!(
        line.contains(", cpu ") && line.contains("%, mem "),
        "{line:?}"
    );
    assert!(line.ends_with(", restarts 0"), "{line:?}");
}

#[test]
fn status_long_counts_the_whole_group() {
    let mut d = Daemon::start("resources-long", CONFIG);
    d.wait_state("family", "RUNNING", Duration::from_secs(10));
    crate::common::wait_file(&d.path("family.pids"), Duration::from_secs(10), |t| {
        t.lines().count() >= 2
    });
    // The leader and its two forked children, in one group.
    let family = poll_until(Duration::from_secs(10), Duration::from_millis(100), || {
        let mark = d.mark();
        d.send("status -l --json family");
        let line = d.wait_line(mark, "status -l --json", Duration::from_secs(10), |l| {
            l.starts_with('{')
        });
        let reply: serde_json::Value = serde_json::from_str(&line).ok()?;
        let i = reply["instances"][0].clone();
        (i["processes"] == 3).then_some(i)
    })
    .expect("the group's three processes never counted");
    assert!(
        family["threads"].as_u64().is_some_and(|t| t >= 3),
        "{family}"
    );
    assert!(family["fds"].as_u64().is_some_and(|f| f >= 3), "{family}");
    assert!(family["cpu_seconds"].as_f64().is_some(), "{family}");
    let mark = d.mark();
    d.send("status -l family");
    let line = d.wait_line(mark, "status -l family", Duration::from_secs(10), |l| {
        l.starts_with("family")
    });
    assert!(line.contains(", processes 3, threads "), "{line:?}");
    assert!(
        line.contains(", fds ") && line.contains(", cpu time "),
        "{line:?}"
    );
}
