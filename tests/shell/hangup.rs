//! Losing the terminal loses nothing: the daemon runs on a pty, the test closes the
//! master as sshd or tmux does when it goes away, and the kernel hangs the terminal
//! up (SIGHUP to the daemon, its session leader; end of input for its shell). The
//! processes keep running, no reload happens, the log says the daemon is headless,
//! and `taskmasterctl` still controls it — a later `kill -HUP` still reloads.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::*;

#[test]
fn losing_the_terminal_loses_nothing() {
    let dir = TempDir::new("shell-hangup");
    let config = write_config_file(&dir.0, POOL_YAML);
    let mut d = PtyDaemon::start_in(&dir.0);
    let pids = wait_all_running(&d.socket(), 3);
    d.wait_prompt(0);

    d.hang_up();
    wait_for("the log to say headless", secs(20.0), || {
        d.log().contains("headless").then_some(())
    });
    // The kernel's SIGHUP to the daemon (its session leader) is seen as the hang-up.
    wait_for("the SIGHUP seen as the hang-up", secs(20.0), || {
        d.log()
            .contains("SIGHUP, from the terminal hanging up")
            .then_some(())
    });
    let log = d.log();
    let line = log
        .lines()
        .find(|l| l.contains("headless"))
        .unwrap_or_default();
    assert!(
        line.contains("terminal was lost")
            && line.contains(&format!("taskmasterctl -s {}", d.socket().display())),
        "{line:?}"
    );
    assert!(alive(d.pid()), "the daemon runs on");
    assert_eq!(
        wait_all_running(&d.socket(), 3),
        pids,
        "every process keeps running, none restarted"
    );
    assert!(
        !log.contains("reload:") && !log.contains("reload applied") && !log.contains("shutdown"),
        "the hang-up is neither a reload nor a shutdown:\n{log}"
    );

    // A real SIGHUP still reloads: the new program appears.
    std::fs::write(
        &config,
        expand(
            &format!("{POOL_YAML}  extra:\n    cmd: TESTPROG sleep\n    starttime: 0\n"),
            &dir.0,
        ),
    )
    .expect("rewrite config");
    kill(Pid::from_raw(d.pid()), Signal::SIGHUP).expect("SIGHUP");
    let all = wait_all_running(&d.socket(), 4);
    for pid in &pids {
        assert!(all.contains(pid), "the reload kept {pid}");
    }
    // The summary line comes after the new program runs: wait for it.
    wait_for("the reload applied", secs(10.0), || {
        d.log().contains("reload applied").then_some(())
    });

    // And taskmasterctl stops it as usual.
    let out = ctl(&d.socket(), &["shutdown"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(d.wait_exit(secs(20.0)), 0);
    for pid in all {
        assert!(!alive(pid), "{pid} stopped by the shutdown");
    }
}
