//! SIGHUP: once, and a burst of fifty.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{config, prog, snapshot, wait_running, write_config};
use crate::common::*;

// ---- 9. SIGHUP ------------------------------------------------------------------------

#[test]
fn sighup_reloads() {
    let keep = prog("keep", &["cmd: TESTPROG sleep"]);
    let mut d = Daemon::start("reload-sighup", &config(std::slice::from_ref(&keep)));
    let before = wait_running(&mut d, &["keep"], secs(10.0));

    write_config(&d, &config(&[keep, prog("web", &["cmd: TESTPROG sleep"])]));
    d.signal(1);
    let after = wait_running(&mut d, &["keep", "web"], secs(10.0));
    assert_eq!(after["keep"], before["keep"]);
    d.wait_log("the SIGHUP reload in the event log", secs(5.0), |log| {
        log.contains("SIGHUP") && log.contains("reload: web: added")
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn sighup_burst_ends_consistent() {
    let variant = |k: usize| {
        let mut programs = vec![
            prog("steady", &["cmd: TESTPROG sleep", "numprocs: 2"]),
            prog(
                "flex",
                &[
                    "cmd: TESTPROG sleep",
                    if k.is_multiple_of(2) {
                        "numprocs: 1"
                    } else {
                        "numprocs: 3"
                    },
                ],
            ),
        ];
        if k.is_multiple_of(2) {
            programs.push(prog("extra", &["cmd: TESTPROG sleep"]));
        }
        config(&programs)
    };
    let mut d = Daemon::start("reload-burst", &variant(0));
    let steady = {
        let all = wait_running(
            &mut d,
            &["steady:0", "steady:1", "flex", "extra"],
            secs(10.0),
        );
        [all["steady:0"], all["steady:1"]]
    };

    let mut written = 0;
    for i in 0..50 {
        if i % 3 == 0 || i == 49 {
            written += 1;
            write_config(&d, &variant(written));
        }
        d.signal(1);
        std::thread::sleep(Duration::from_millis(20));
    }
    let want: &[&str] = if written % 2 == 0 {
        &["steady:0", "steady:1", "flex", "extra"]
    } else {
        &["steady:0", "steady:1", "flex:0", "flex:1", "flex:2"]
    };
    let last = wait_running(&mut d, want, secs(30.0));
    assert!(alive(d.pid()), "the daemon died");
    assert_eq!(
        [last["steady:0"], last["steady:1"]],
        steady,
        "steady was touched"
    );
    // Nothing else lives: the daemon's children are exactly the instances shown.
    let shown: BTreeSet<i32> = last.values().copied().collect();
    wait_for("the daemon's children to match status", secs(10.0), || {
        (program_children_of(d.pid())
            .into_iter()
            .collect::<BTreeSet<i32>>()
            == shown)
            .then_some(())
    });
    assert_stays("the final state holds", secs(0.5), || {
        let now = snapshot(&mut d);
        now.len() == want.len()
            && now
                .iter()
                .all(|(name, (st, p))| st == "RUNNING" && *p == Some(last[name]))
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}
