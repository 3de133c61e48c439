//! `priority` is a promise (issue 13): at autostart and on `start all`, no instance
//! of a higher priority is spawned before every instance of the lower ones has
//! been; `stop all` and the shutdown stop a whole batch (gone) before the next
//! lower one gets its stop signal, dependants before their dependencies. Read from
//! the event log's `spawned:`, `stopping:` and `stopped:` lines.

use crate::common::*;

/// Four unrelated programs of three instances each. The lowest priorities have the
/// slowest spawns (a pty and a umask go through the exec helper), so a starter
/// that did not wait for each batch would let the later ones overtake them.
/// Beside them, `web` (priority 1) depends on `db` (priority 999).
fn config() -> String {
    let mut yaml = String::from("programs:\n");
    for (name, priority, slow) in [
        ("p1", 1, true),
        ("p100", 100, false),
        ("p500", 500, true),
        ("p900", 900, false),
    ] {
        yaml.push_str(&format!(
            "  {name}:\n    cmd: TESTPROG sleep\n    numprocs: 3\n    priority: {priority}\n    \
             starttime: 3\n    stoptime: 5\n"
        ));
        if slow {
            yaml.push_str("    pty: true\n    umask: 022\n");
        }
    }
    yaml.push_str(
        "  db:\n    cmd: TESTPROG sleep\n    starttime: 0.5\n    stoptime: 5\n  web:\n    \
         cmd: TESTPROG sleep\n    priority: 1\n    starttime: 0\n    stoptime: 5\n    depends_on: db\n",
    );
    yaml
}

const ORDERED: [(&str, i32); 4] = [("p1", 1), ("p100", 100), ("p500", 500), ("p900", 900)];

/// The program of an instance name (`p1:2` → `p1`).
fn program(instance: &str) -> &str {
    instance.split(':').next().unwrap_or(instance)
}

/// (line number, instance) of each log line after `from` that starts, after the
/// timestamp and level, with `prefix` followed by the instance name.
fn events<'a>(log: &'a str, from: usize, prefix: &str) -> Vec<(usize, &'a str)> {
    log.lines()
        .enumerate()
        .skip(from)
        .filter_map(|(n, line)| {
            let rest = &line[line.find(prefix)? + prefix.len()..];
            let name = rest.trim_start_matches('\'').split(['\'', ' ']).next()?;
            Some((n, name))
        })
        .collect()
}

/// First and last line of `program`'s events.
fn span(events: &[(usize, &str)], name: &str) -> (usize, usize) {
    let lines: Vec<usize> = events
        .iter()
        .filter(|(_, i)| program(i) == name)
        .map(|(n, _)| *n)
        .collect();
    match (lines.iter().min(), lines.iter().max()) {
        (Some(&first), Some(&last)) => (first, last),
        _ => panic!("no event of {name}"),
    }
}

/// Every instance of the four programs was spawned after `from`, strictly by
/// priority, and none waited for the one before to be RUNNING.
fn assert_spawn_order(log: &str, from: usize) {
    let spawned = events(log, from, "spawned: ");
    for (name, _) in ORDERED {
        let count = spawned.iter().filter(|(_, i)| program(i) == name).count();
        assert_eq!(count, 3, "{name} spawned {count} times:\n{log}");
    }
    for pair in ORDERED.windows(2) {
        let (lower, higher) = (pair[0].0, pair[1].0);
        assert!(
            span(&spawned, lower).1 < span(&spawned, higher).0,
            "{higher} spawned before every {lower} was:\n{log}"
        );
    }
    // Spawned is not RUNNING: the last batch went before the first was RUNNING.
    let running = events(log, from, "success: ");
    assert!(
        span(&spawned, "p900").1 < span(&running, "p1").0,
        "the batches waited for RUNNING:\n{log}"
    );
}

/// After `from`: each batch stopped before the next lower one was asked to stop,
/// and the dependant `web` stopped before its dependency `db` was asked.
fn assert_stop_order(log: &str, from: usize) {
    let asked = events(log, from, "stopping: ");
    let stopped = events(log, from, "stopped: ");
    for pair in ORDERED.windows(2) {
        let (lower, higher) = (pair[0].0, pair[1].0);
        assert!(
            span(&stopped, higher).1 < span(&asked, lower).0,
            "{lower} asked to stop before every {higher} had stopped:\n{log}"
        );
    }
    assert!(
        span(&stopped, "web").1 < span(&asked, "db").0,
        "db asked to stop before web had stopped:\n{log}"
    );
    // db (999) waits for web (1), the last to stop by priority: nobody waits for db.
    assert!(
        span(&stopped, "p100").1 < span(&asked, "web").0,
        "web (priority 1) asked to stop before p100 had stopped:\n{log}"
    );
}

#[test]
fn priority_orders_spawns_and_stops_strictly() {
    let mut d = Daemon::start("ordering", &config());
    for (name, _) in ORDERED {
        for k in 0..3 {
            d.wait_state(&format!("{name}:{k}"), "RUNNING", secs(30.0));
        }
    }
    d.wait_state("web", "RUNNING", secs(30.0));
    let log = d.log();
    assert_spawn_order(&log, 0);
    // web waits for db to be RUNNING, and holds back nobody of a higher priority.
    let (spawned, running) = (events(&log, 0, "spawned: "), events(&log, 0, "success: "));
    assert!(span(&running, "db").0 < span(&spawned, "web").0, "{log}");

    // `stop all`: batch by batch, dependants first.
    let from = log.lines().count();
    d.command_expect("stop all", "web: stopped", secs(60.0));
    d.wait_state("db", "STOPPED", secs(30.0));
    assert_stop_order(&d.log(), from);

    // `start all`: the same order as the autostart.
    let from = d.log().lines().count();
    d.command_expect("start all", "web: started", secs(60.0));
    assert_spawn_order(&d.log(), from);
    let log = d.log();
    let spawned = events(&log, from, "spawned: ");
    assert!(span(&spawned, "db").1 < span(&spawned, "web").0, "{log}");

    // The shutdown: the same order as `stop all`.
    d.wait_state("p1:0", "RUNNING", secs(30.0));
    let from = d.log().lines().count();
    assert_eq!(d.finish(secs(60.0)), 0);
    assert_stop_order(&d.log(), from);
}

#[test]
fn shutdown_stops_a_low_priority_dependant_after_the_others() {
    // As in configs/demo.yaml: `chatty` (priority 500) depends on `worker` (999).
    // The unrelated `other` (999) stops first, then chatty, then worker, which
    // waited for its dependant.
    let mut d = Daemon::start(
        "ordering-demo",
        "programs:\n  worker:\n    cmd: TESTPROG sleep\n    numprocs: 2\n    starttime: 0\n  \
         other:\n    cmd: TESTPROG sleep\n    numprocs: 2\n    starttime: 0\n  chatty:\n    \
         cmd: TESTPROG sleep\n    starttime: 0\n    priority: 500\n    depends_on: worker\n",
    );
    d.wait_state("chatty", "RUNNING", secs(30.0));
    d.wait_state("other:1", "RUNNING", secs(30.0));
    let from = d.log().lines().count();
    assert_eq!(d.finish(secs(60.0)), 0);
    let log = d.log();
    let (asked, stopped) = (
        events(&log, from, "stopping: "),
        events(&log, from, "stopped: "),
    );
    assert!(
        span(&stopped, "other").1 < span(&asked, "chatty").0,
        "chatty (500) asked to stop before `other` (999) had stopped:\n{log}"
    );
    assert!(
        span(&stopped, "chatty").1 < span(&asked, "worker").0,
        "worker asked to stop before its dependant chatty had stopped:\n{log}"
    );
}
