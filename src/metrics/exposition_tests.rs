use nix::sys::signal::Signal;

use super::*;

fn sample(name: &str, state: State, last_exit: Option<ExitStatus>) -> Sample {
    Sample {
        program: name.split(':').next().unwrap_or(name).to_string(),
        name: name.to_string(),
        state,
        restarts: 2,
        last_exit,
        uptime: 1.5,
        usage: None,
        health: None,
    }
}

#[test]
fn every_family_in_prometheus_text() {
    let mut running = sample("web:0", State::Running, Some(ExitStatus::Code(3)));
    running.usage = Some(Usage {
        cpu_percent: 1.0,
        cpu_seconds: 0.25,
        memory_bytes: 4096,
        threads: 1,
        processes: 1,
    });
    running.health = Some(crate::watch::state::HealthState::Healthy);
    let killed = sample(
        "db",
        State::Exited,
        Some(ExitStatus::Signal(Signal::SIGKILL)),
    );
    let text = encode(Scrape {
        instances: vec![running, killed],
        counts: Counts {
            reloads: 4,
            failed_reloads: 1,
            events: vec![("exited", 7)],
        },
    })
    .unwrap();
    let has = |line: &str| assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    has("# TYPE taskmaster_instance_state gauge");
    has(r#"taskmaster_instance_state{program="web",name="web:0",state="RUNNING"} 1"#);
    has(r#"taskmaster_instance_state{program="web",name="web:0",state="FATAL"} 0"#);
    has(r#"taskmaster_instance_up{program="web",name="web:0"} 1"#);
    has(r#"taskmaster_instance_up{program="db",name="db"} 0"#);
    has("# TYPE taskmaster_instance_restarts_total counter");
    has(r#"taskmaster_instance_restarts_total{program="db",name="db"} 2"#);
    has(r#"taskmaster_instance_last_exit_code{program="web",name="web:0"} 3"#);
    has(r#"taskmaster_instance_last_exit_signal{program="db",name="db"} 9"#);
    has(r#"taskmaster_instance_uptime_seconds{program="web",name="web:0"} 1.5"#);
    has(r#"taskmaster_instance_cpu_seconds_total{program="web",name="web:0"} 0.25"#);
    has(r#"taskmaster_instance_resident_memory_bytes{program="web",name="web:0"} 4096"#);
    has(r#"taskmaster_instance_healthy{program="web",name="web:0"} 1"#);
    has("taskmaster_reloads_total 4");
    has("taskmaster_reload_failures_total 1");
    has(r#"taskmaster_events_total{kind="exited"} 7"#);
    // Only where there is a value: no exit code for a killed process, no usage
    // without a live group.
    assert!(!text.contains(r#"taskmaster_instance_last_exit_code{program="db""#));
    // No health without a check.
    assert!(!text.contains(r#"taskmaster_instance_healthy{program="db""#));
    assert!(!text.contains(r#"taskmaster_instance_cpu_seconds_total{program="db""#));
}

#[test]
fn odd_names_are_escaped() {
    let text = encode(Scrape {
        instances: vec![sample("a\"b\\c", State::Stopped, None)],
        ..Scrape::default()
    })
    .unwrap();
    assert!(
        text.contains(r#"taskmaster_instance_up{program="a\"b\\c",name="a\"b\\c"} 0"#),
        "{text}"
    );
}
