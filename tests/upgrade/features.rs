//! What features beside the core state keep across an upgrade in place: a
//! health check goes on judging its instance, and a child taken over is reaped
//! by its own watcher (its exit status read), never by the orphan reaper.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::upgrade;
use crate::common::*;

#[test]
fn health_checks_go_on_after_an_upgrade() {
    let mut d = Daemon::start(
        "upgrade-health",
        "programs:
  checked:
    cmd: TESTPROG sleep
    starttime: 0
    healthcheck: {cmd: \"test -e DIR/ok\", interval: 0.2, retries: 1, on_failure: none}
",
    );
    std::fs::write(d.path("ok"), "").expect("write ok");
    let health = |d: &mut Daemon| d.instance("checked")["health"].clone();
    wait_for("checked healthy", secs(20.0), || {
        (health(&mut d) == "healthy").then_some(())
    });
    let out = upgrade(&d.socket(), None);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(health(&mut d), "healthy", "the verdict is handed over");
    // Checks go on in the new process: a failure is seen.
    std::fs::remove_file(d.path("ok")).expect("remove ok");
    wait_for("checked unhealthy after the upgrade", secs(20.0), || {
        (health(&mut d) == "unhealthy").then_some(())
    });
    d.finish(secs(20.0));
}

#[test]
fn a_child_taken_over_is_reaped_by_its_watcher_with_its_status() {
    let mut d = Daemon::start(
        "upgrade-reaped",
        "programs:
  plain:
    cmd: TESTPROG sleep
    numprocs: 40
    starttime: 0
    autorestart: never
",
    );
    let names: Vec<String> = (0..40).map(|i| format!("plain:{i}")).collect();
    for name in &names {
        d.wait_state(name, "RUNNING", secs(20.0));
    }
    let out = upgrade(&d.socket(), None);
    assert_eq!(out.code, 0, "{out:?}");
    let pids: Vec<i32> = names.iter().map(|n| d.pid_of(n)).collect();
    for &pid in &pids {
        kill(Pid::from_raw(pid), Signal::SIGTERM).expect("SIGTERM");
    }
    for name in &names {
        d.wait_state(name, "EXITED", secs(20.0));
        let status = d.instance(name);
        // An exit reaped by anyone else reads as lost (SIGKILL).
        assert_eq!(status["signal"], "SIGTERM", "{name}: {status}");
    }
    d.finish(secs(20.0));
}
