//! Start order and dependencies (issue 8): `depends_on` starts a program only once
//! its dependencies are RUNNING and stops it before them; `priority` orders stops
//! (higher first); a FATAL dependency leaves dependants waiting, saying why.

use crate::common::*;

fn first_stamp(d: &Daemon, file: &str) -> f64 {
    let path = d.path(file);
    wait_for(file, secs(20.0), || {
        read(&path)
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
    })
}

/// Position of the first log line containing `needle`.
fn log_position(d: &Daemon, needle: &str) -> usize {
    let log = d.log();
    log.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the log:\n{log}"))
}

#[test]
fn a_dependant_starts_once_its_dependency_is_running_and_stops_first() {
    let mut d = Daemon::start(
        "deps",
        "programs:\n  db:\n    cmd: TESTPROG stamp DIR/db.stamp then sleep\n    starttime: 0.6\n  web:\n    cmd: TESTPROG stamp DIR/web.stamp then sleep\n    starttime: 0\n    depends_on: [db]\n",
    );
    // While db is STARTING, web waits and says so.
    let web = wait_for("web waiting", secs(10.0), || {
        let w = d.instance("web");
        w["description"]
            .as_str()
            .is_some_and(|s| s.contains("Waiting for db"))
            .then_some(w)
    });
    assert_eq!(web["state"], "STOPPED");
    let (db_t, web_t) = (first_stamp(&d, "db.stamp"), first_stamp(&d, "web.stamp"));
    assert!(
        web_t - db_t >= 0.55,
        "web spawned {:.3}s after db; db needed 0.6s to be RUNNING",
        web_t - db_t
    );
    d.wait_state("web", "RUNNING", secs(10.0));
    // Shutdown: the dependant is stopped before its dependency is asked to stop.
    assert_eq!(d.finish(secs(20.0)), 0);
    assert!(
        log_position(&d, "stopped: web") < log_position(&d, "stopping: db"),
        "{}",
        d.log()
    );
}

#[test]
fn a_fatal_dependency_leaves_dependants_waiting_with_the_reason() {
    let mut d = Daemon::start(
        "deps-fatal",
        "programs:\n  db:\n    cmd: TESTPROG exit 1\n    starttime: 0.5\n    startretries: 0\n  web:\n    cmd: TESTPROG sleep\n    depends_on: db\n",
    );
    d.wait_state("db", "FATAL", secs(10.0));
    wait_for("web's reason", secs(10.0), || {
        let w = d.instance("web");
        (w["state"] == "STOPPED"
            && w["description"]
                .as_str()
                .is_some_and(|s| s.contains("db, which is FATAL")))
        .then_some(())
    });
    // Once db runs, web follows.
    let config = std::fs::read_to_string(&d.config).expect("config");
    std::fs::write(&d.config, config.replace(" exit 1", " sleep")).expect("fix db");
    d.send("reload");
    d.send("start db");
    d.wait_state("web", "RUNNING", secs(10.0));
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn higher_priority_stops_first() {
    let mut d = Daemon::start(
        "priority",
        "programs:\n  base:\n    cmd: TESTPROG sleep\n    starttime: 0\n    priority: 1\n  top:\n    cmd: TESTPROG sleep\n    starttime: 0\n    priority: 2\n",
    );
    d.wait_state("base", "RUNNING", secs(10.0));
    d.wait_state("top", "RUNNING", secs(10.0));
    assert_eq!(d.finish(secs(20.0)), 0);
    assert!(
        log_position(&d, "stopped: top") < log_position(&d, "stopping: base"),
        "{}",
        d.log()
    );
}

#[test]
fn a_dense_dependency_graph_stops_at_once_and_in_order() {
    // Each program depends on every one before it: 2^40 paths through the graph,
    // which a shutdown that walked them all would never finish.
    let mut yaml = String::from("programs:\n");
    for i in 0..40 {
        yaml.push_str(&format!(
            "  p{i}:\n    cmd: TESTPROG sleep\n    starttime: 0\n"
        ));
        if i > 0 {
            let deps: Vec<String> = (0..i).map(|j| format!("p{j}")).collect();
            yaml.push_str(&format!("    depends_on: [{}]\n", deps.join(", ")));
        }
    }
    let mut d = Daemon::start("dense-deps", &yaml);
    d.wait_state("p39", "RUNNING", secs(20.0));
    assert_eq!(d.finish(secs(20.0)), 0);
    assert!(
        log_position(&d, "stopped: p39") < log_position(&d, "stopping: p38"),
        "{}",
        d.log()
    );
    assert!(
        log_position(&d, "stopped: p1 ") < log_position(&d, "stopping: p0 "),
        "{}",
        d.log()
    );
}
