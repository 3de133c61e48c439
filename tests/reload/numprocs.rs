//! numprocs scaled up and down, survivors keeping their pids.

use std::collections::BTreeSet;

use super::{config, prog, reload, wait_running, write_config};
use crate::common::*;

// ---- 6. numprocs ----------------------------------------------------------------------

#[test]
fn numprocs_scaling_keeps_survivors() {
    let yaml = |n: u32, stoptime: &str| {
        config(&[
            prog(
                "pool",
                &[
                    "cmd: TESTPROG sleep",
                    &format!("numprocs: {n}"),
                    &format!("stoptime: {stoptime}"),
                ],
            ),
            prog("keep", &["cmd: TESTPROG sleep"]),
        ])
    };
    let mut d = Daemon::start("reload-scale", &yaml(2, "0.5"));
    let p2 = wait_running(&mut d, &["keep", "pool:0", "pool:1"], secs(10.0));

    // 2 -> 4: pool:0 and pool:1 keep their pids, pool:2 and pool:3 are new.
    write_config(&d, &yaml(4, "0.5"));
    assert_eq!(reload(&mut d), ["pool: scaled 2 -> 4"]);
    let p4 = wait_running(
        &mut d,
        &["keep", "pool:0", "pool:1", "pool:2", "pool:3"],
        secs(10.0),
    );
    for name in ["keep", "pool:0", "pool:1"] {
        assert_eq!(p4[name], p2[name], "{name} changed pid");
    }
    let all: BTreeSet<i32> = p4.values().copied().collect();
    assert_eq!(all.len(), 5, "pids not distinct: {p4:?}");

    // 4 -> 1: `pool` is the old pool:0; the three others are stopped and gone.
    write_config(&d, &yaml(1, "0.5"));
    assert_eq!(reload(&mut d), ["pool: scaled 4 -> 1"]);
    for name in ["pool:1", "pool:2", "pool:3"] {
        assert!(!alive(p4[name]), "{name} (pid {}) still alive", p4[name]);
    }
    let p1 = wait_running(&mut d, &["keep", "pool"], secs(10.0));
    assert_eq!(p1["pool"], p4["pool:0"]);
    assert_eq!(p1["keep"], p2["keep"]);

    // 1 -> 2: `pool` becomes pool:0 with the same pid.
    write_config(&d, &yaml(2, "0.5"));
    assert_eq!(reload(&mut d), ["pool: scaled 1 -> 2"]);
    let p = wait_running(&mut d, &["keep", "pool:0", "pool:1"], secs(10.0));
    assert_eq!(p["pool:0"], p4["pool:0"]);
    assert_eq!(p["keep"], p2["keep"]);
    assert!(!all.contains(&p["pool:1"]));

    // Scaling and a policy change together: one line, parts joined by ", ".
    write_config(&d, &yaml(3, "0.7"));
    assert_eq!(
        reload(&mut d),
        ["pool: scaled 2 -> 3, updated in place (stoptime changed)"]
    );
    let p3 = wait_running(&mut d, &["keep", "pool:0", "pool:1", "pool:2"], secs(10.0));
    for name in ["keep", "pool:0", "pool:1"] {
        assert_eq!(p3[name], p[name], "{name} changed pid");
    }
    d.wait_log("the scale lines in the event log", secs(5.0), |log| {
        log.contains("reload: pool: scaled 2 -> 4") && log.contains("reload: pool: scaled 4 -> 1")
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}
