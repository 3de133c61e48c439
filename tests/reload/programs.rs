//! Programs added and removed, and unchanged programs keeping their pids.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{config, pid, pids_of, prog, reload, snapshot, state, wait_running, write_config};
use crate::common::*;

// ---- 1. added programs ----------------------------------------------------------------

#[test]
fn added_program_starts_per_autostart() {
    let keep = prog("keep", &["cmd: TESTPROG sleep"]);
    let mut d = Daemon::start("reload-add", &config(std::slice::from_ref(&keep)));
    let before = wait_running(&mut d, &["keep"], secs(10.0));

    write_config(
        &d,
        &config(&[
            keep,
            prog("web", &["cmd: TESTPROG sleep"]),
            prog("lazy", &["cmd: TESTPROG sleep", "autostart: false"]),
        ]),
    );
    assert_eq!(reload(&mut d), ["lazy: added", "web: added"]);

    let web = d.wait_state("web", "RUNNING", secs(10.0));
    assert!(alive(pid(&web).expect("web pid")));
    let lazy = d.instance("lazy");
    assert_eq!(state(&lazy), "STOPPED", "autostart: false: {lazy}");
    assert_eq!(lazy["pid"], Value::Null);
    assert_eq!(pids_of(&mut d, "keep"), before, "keep was touched");
    d.wait_log("the reload lines in the event log", secs(5.0), |log| {
        log.contains("reload: lazy: added")
            && log.contains("reload: web: added")
            && log.contains("reload applied: 2 added, 0 removed, 0 changed, 1 unchanged")
    });

    // The added program is a full citizen: it starts on demand.
    d.command_expect("start lazy", "lazy: started", secs(10.0));
    assert_eq!(state(&d.instance("lazy")), "RUNNING");
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 2. removed programs --------------------------------------------------------------

#[test]
fn removed_program_is_stopped_gracefully_and_forgotten() {
    let keep = prog("keep", &["cmd: TESTPROG sleep"]);
    let gone = prog(
        "gone",
        &[
            "cmd: TESTPROG trap TERM",
            "numprocs: 2",
            "stdout: DIR/gone.out",
            "stoptime: 5",
        ],
    );
    let mut d = Daemon::start("reload-remove", &config(&[keep.clone(), gone]));
    let all = wait_running(&mut d, &["keep", "gone:0", "gone:1"], secs(10.0));
    let out = d.path("gone.out");
    wait_for("both gone instances ready", secs(5.0), || {
        (read(&out).matches("ready").count() == 2).then_some(())
    });

    write_config(&d, &config(&[keep]));
    assert_eq!(reload(&mut d), ["gone: removed"]);

    // The reply comes once the removed instances are stopped.
    for name in ["gone:0", "gone:1"] {
        assert!(!alive(all[name]), "{name} (pid {}) still alive", all[name]);
    }
    // Gracefully: each got its stopsignal and exited on it.
    assert_eq!(
        read(&out).matches("got SIGTERM").count(),
        2,
        "{}",
        read(&out)
    );
    let names: Vec<String> = snapshot(&mut d).into_keys().collect();
    assert_eq!(names, ["keep"]);
    assert_eq!(d.pid_of("keep"), all["keep"], "keep was touched");
    d.wait_log("the reload lines in the event log", secs(5.0), |log| {
        log.contains("reload: gone: removed")
            && log.contains("reload applied: 0 added, 1 removed, 0 changed, 1 unchanged")
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 3. unchanged programs keep their pids --------------------------------------------

#[test]
fn unchanged_programs_keep_their_pids_across_reloads() {
    let keep = prog("keep", &["cmd: TESTPROG sleep", "numprocs: 2"]);
    let other = |v: &str| {
        prog(
            "other",
            &["cmd: TESTPROG sleep", &format!("env: {{V: {v}}}")],
        )
    };
    let a = config(&[keep.clone(), other("a")]);
    let b = config(&[keep, other("b")]);
    let mut d = Daemon::start("reload-keep", &a);
    let first = wait_running(&mut d, &["keep:0", "keep:1", "other"], secs(10.0));
    let keep_pids = pids_of(&mut d, "keep");

    let mut other_pids = BTreeSet::from([first["other"]]);
    for round in 0..10 {
        write_config(&d, if round % 2 == 0 { &b } else { &a });
        assert_eq!(
            reload(&mut d),
            ["other: restarted (env changed)"],
            "round {round}"
        );
        assert_eq!(pids_of(&mut d, "keep"), keep_pids, "round {round}");
        let p = d.pid_of("other");
        assert!(other_pids.insert(p), "round {round}: other kept pid {p}");
    }

    let now = wait_running(&mut d, &["keep:0", "keep:1", "other"], secs(10.0));
    for round in 0..10 {
        assert_eq!(
            reload(&mut d),
            ["No config updates to processes"],
            "identical file, round {round}"
        );
        assert_eq!(snapshot(&mut d).len(), 3);
        for (name, p) in &now {
            assert_eq!(d.pid_of(name), *p, "{name} after identical reload {round}");
        }
    }
    for p in keep_pids.values() {
        assert!(alive(*p));
    }
    d.wait_log("a no-op reload summary", secs(5.0), |log| {
        log.contains("reload applied: 0 added, 0 removed, 0 changed, 2 unchanged")
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}
