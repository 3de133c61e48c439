//! `max_memory` (README: Memory limits) on real processes: a program whose process
//! group holds more than its limit is restarted by its stop rules and says so in
//! the event log; one under its limit is left alone; a grandchild's memory counts;
//! bad values are config errors; a reload changes the limit in place.

use crate::common::*;
use crate::daemon::{check, run_taskmaster};
use crate::reload::{reload, write_config};

/// `restarts` of `name` in `status --json`.
fn restarts(d: &mut Daemon, name: &str) -> u64 {
    d.instance(name)["restarts"].as_u64().unwrap_or(0)
}

/// The event-log lines saying `name` went over its limit.
fn over_lines(log: &str, name: &str) -> Vec<String> {
    let prefix = format!("{name}: memory ");
    log.lines()
        .filter_map(|l| {
            l.split_once(&prefix)
                .map(|(_, rest)| format!("{prefix}{rest}"))
        })
        .collect()
}

/// The MiB a line `NAME: memory 65.2 MiB over max_memory 32 MiB: restarting` says
/// were used, after checking the rest of its words.
fn used_mib(line: &str, limit: &str) -> f64 {
    let rest = line.split_once(": memory ").map_or("", |(_, r)| r);
    let (used, tail) = rest.split_once(" MiB").unwrap_or_else(|| panic!("{line}"));
    assert_eq!(
        tail,
        format!(" over max_memory {limit}: restarting"),
        "{line}"
    );
    used.parse().unwrap_or_else(|_| panic!("{line}"))
}

fn pid(i: &serde_json::Value) -> Option<i32> {
    i["pid"].as_i64().map(|p| p as i32)
}

#[test]
fn over_its_limit_an_instance_is_restarted_and_one_under_it_is_not() {
    // `autorestart: never` and no retries: the memory restart needs neither.
    let yaml = "programs:
  hog:
    cmd: TESTPROG alloc 64
    max_memory: 32MB
    autorestart: never
    startretries: 0
    starttime: 0.2
    stoptime: 2
  light:
    cmd: TESTPROG alloc 8
    max_memory: 512MB
    starttime: 0.2
";
    let mut d = Daemon::start("memlimit-restart", yaml);
    let light = pid(&d.wait_state("light", "RUNNING", secs(10.0))).expect("light pid");
    let first = pid(&d.wait_state("hog", "RUNNING", secs(10.0))).expect("hog pid");
    wait_for("hog restarted twice for its memory", secs(30.0), || {
        (restarts(&mut d, "hog") >= 2).then_some(())
    });
    let now = pid(&d.wait_state("hog", "RUNNING", secs(10.0))).expect("hog pid");
    assert_ne!(now, first, "hog kept its pid");
    assert!(!alive(first), "the first hog (pid {first}) lives on");
    let log = d.log();
    let lines = over_lines(&log, "hog");
    assert!(lines.len() >= 2, "{log}");
    for line in &lines {
        let used = used_mib(line, "32 MiB");
        assert!(used >= 64.0, "{line}: 64 MiB are held");
    }
    // It was stopped by its stop rules, then spawned again.
    assert!(
        log.contains(&format!("stopping: hog (pid {first}) with SIGTERM")),
        "{log}"
    );
    assert_ne!(d.instance("hog")["state"], "FATAL");
    // Meanwhile the program under its limit was checked as often, and left alone.
    let i = d.instance("light");
    assert_eq!((pid(&i), &i["state"]), (Some(light), &"RUNNING".into()));
    assert_eq!(restarts(&mut d, "light"), 0);
    assert!(over_lines(&log, "light").is_empty(), "{log}");
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn the_memory_of_a_grandchild_in_the_group_counts() {
    // The child and its child only sleep: the grandchild holds the memory.
    let yaml = "programs:
  nested:
    cmd: TESTPROG alloc 64 2
    max_memory: 32MB
    starttime: 0.2
    stoptime: 2
";
    let mut d = Daemon::start("memlimit-group", yaml);
    let first = pid(&d.wait_state("nested", "RUNNING", secs(10.0))).expect("pid");
    wait_for("nested restarted for its memory", secs(20.0), || {
        (restarts(&mut d, "nested") >= 1).then_some(())
    });
    let log = d.log();
    let lines = over_lines(&log, "nested");
    assert!(!lines.is_empty(), "{log}");
    assert!(used_mib(&lines[0], "32 MiB") >= 64.0, "{}", lines[0]);
    // The whole group went with the leader.
    wait_for("the first group gone", secs(10.0), || {
        live_in_groups(&[first]).is_empty().then_some(())
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn a_bad_max_memory_is_a_config_error() {
    let dir = TempDir::new("memlimit-check");
    let file = |name: &str, value: &str| {
        let path = dir.path(name);
        let text = format!(
            "programs:\n  web:\n    cmd: {} sleep\n    max_memory: {value}\n",
            testprog()
        );
        std::fs::write(&path, text).expect("write config");
        path
    };
    for (name, value) in [
        ("lots.yaml", "lots"),
        ("zero.yaml", "0"),
        ("neg.yaml", "-1"),
    ] {
        let path = file(name, value);
        let (code, _, err) = check(&path);
        assert_eq!(code, 2, "max_memory: {value}; stderr: {err}");
        assert!(
            err.contains(&format!("{}:4", path.display())),
            "names file:line: {err}"
        );
        assert!(
            err.contains("programs.web.max_memory")
                && err.contains("expected a memory size above 0"),
            "names the field and what it takes: {err}"
        );
    }
    for value in ["512MB", "1073741824", "\"2gb\""] {
        let (code, _, err) = check(&file("good.yaml", value));
        assert_eq!(code, 0, "max_memory: {value}; stderr: {err}");
    }
}

#[test]
fn print_config_yaml_keeps_max_memory() {
    let dir = TempDir::new("memlimit-print");
    let path = dir.path("taskmaster.yaml");
    let text = format!(
        "programs:\n  web:\n    cmd: {} sleep\n    max_memory: 512MB\n",
        testprog()
    );
    std::fs::write(&path, text).expect("write config");
    let print = |path: &std::path::Path| {
        run_taskmaster(
            &[
                "--check".as_ref(),
                "--print-config".as_ref(),
                "yaml".as_ref(),
                "-c".as_ref(),
                path.as_os_str(),
            ],
            secs(20.0),
        )
    };
    let (code, yaml, err) = print(&path);
    assert_eq!(code, 0, "{err}");
    assert!(yaml.contains("max_memory: 512MB"), "{yaml}");
    let printed = dir.path("printed.yaml");
    std::fs::write(&printed, &yaml).expect("write printed");
    let (code, again, err) = print(&printed);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, yaml);
}

#[test]
fn a_reload_changes_max_memory_in_place() {
    let with = |limit: Option<&str>| {
        let limit = limit.map_or(String::new(), |l| format!("    max_memory: {l}\n"));
        format!(
            "programs:\n  grow:\n    cmd: TESTPROG alloc 64\n    starttime: 0.2\n    stoptime: 2\n{limit}"
        )
    };
    let mut d = Daemon::start("memlimit-reload", &with(Some("1GB")));
    let first = pid(&d.wait_state("grow", "RUNNING", secs(10.0))).expect("pid");
    let in_place = ["grow: updated in place (max_memory changed)"];

    write_config(&d, &with(Some("2GB")));
    assert_eq!(reload(&mut d), in_place);
    assert_eq!(d.pid_of("grow"), first);
    // A bad value changes nothing.
    write_config(&d, &with(Some("lots")));
    let reply = reload(&mut d);
    assert_eq!(
        reply.first().map(String::as_str),
        Some("ERROR (reload failed; nothing changed)"),
        "{reply:?}"
    );
    assert!(reply.iter().any(|l| l.contains("max_memory")), "{reply:?}");
    write_config(&d, &with(None));
    assert_eq!(reload(&mut d), in_place);
    assert_eq!(d.pid_of("grow"), first);
    assert_eq!(restarts(&mut d, "grow"), 0);

    // The limit set in place is in force: 64 MiB held, 32 allowed.
    write_config(&d, &with(Some("32MB")));
    assert_eq!(reload(&mut d), in_place);
    wait_for("grow restarted for its memory", secs(20.0), || {
        (restarts(&mut d, "grow") >= 1).then_some(())
    });
    let log = d.log();
    let lines = over_lines(&log, "grow");
    assert!(!lines.is_empty(), "{log}");
    for line in &lines {
        assert!(used_mib(line, "32 MiB") >= 64.0, "{line}");
    }
    assert!(!alive(first));
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn a_memory_restart_is_an_alert_by_default() {
    // No `events:`: the default set, which has memory_restart.
    let yaml = "taskmaster:
  notify:
    cmd: \"sh -c 'echo \\\"$TASKMASTER_EVENT|$TASKMASTER_PID|$TASKMASTER_MESSAGE\\\" >> DIR/facts'\"
programs:
  hog:
    cmd: TESTPROG alloc 64
    max_memory: 32MB
    starttime: 0.2
    stoptime: 2
";
    let mut d = Daemon::start("memlimit-alert", yaml);
    let first = pid(&d.wait_state("hog", "RUNNING", secs(10.0))).expect("pid");
    let facts = d.path("facts");
    let line = wait_for("a memory_restart alert", secs(20.0), || {
        read(&facts)
            .lines()
            .find(|l| l.starts_with("memory_restart|"))
            .map(str::to_string)
    });
    let mut fields = line.splitn(3, '|').skip(1);
    assert_eq!(fields.next(), Some(first.to_string().as_str()), "{line}");
    let message = fields.next().unwrap_or_default();
    assert!(message.starts_with("hog: memory "), "{line}");
    used_mib(message, "32 MiB");
    assert_eq!(d.finish(secs(20.0)), 0);
}
