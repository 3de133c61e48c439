//! Leaving the daemon's shell while processes run is confirmed first (Ctrl-D and
//! `quit` stop everything there); the daemon's shell and taskmasterctl keep separate
//! history files, so a `quit` typed in one is never recalled in the other.

use std::process::Command;

use super::*;
use crate::common::pty::{spawn_on, Screen};

#[test]
fn quit_and_ctrl_d_ask_first_while_processes_run() {
    let mut d = PtyDaemon::start("shell-quit-ask", POOL_YAML);
    let pids = wait_all_running(&d.socket(), 3);
    let ready = d.wait_prompt(0);

    // `quit`, answered no: nothing stops.
    d.type_text("quit");
    let mark = d.mark();
    d.keys("\r");
    let asked = d.wait_text(mark, "3 processes are running", secs(10.0));
    d.answer_quit(asked, "n");
    let back = d.wait_prompt(asked);
    // Ctrl-D, then Ctrl-C at the question: nothing stops either.
    d.keys(CTRL_D);
    d.wait_text(back, "[y/N] ", secs(10.0));
    d.keys(CTRL_C);
    d.wait_prompt(back);
    assert!(alive(d.pid()), "the daemon runs on");
    assert_eq!(
        wait_all_running(&d.socket(), 3),
        pids,
        "nothing was stopped"
    );
    assert!(ready < back);

    // Ctrl-D, answered yes: everything stops.
    let mark = d.mark();
    d.keys(CTRL_D);
    d.answer_quit(mark, "y");
    assert_eq!(d.wait_exit(secs(20.0)), 0);
    for pid in pids {
        assert!(!alive(pid), "child {pid} is gone");
    }
}

#[test]
fn quit_with_nothing_running_asks_nothing() {
    let mut d = PtyDaemon::start(
        "shell-quit-idle",
        "programs:\n  idle:\n    cmd: TESTPROG sleep\n    autostart: false\n",
    );
    d.wait_prompt(0);
    d.type_text("quit");
    d.keys("\r");
    assert_eq!(d.wait_exit(secs(20.0)), 0);
}

#[test]
fn end_of_piped_input_still_shuts_down_without_a_question() {
    let mut d = Daemon::start("shell-quit-piped", WEB_YAML);
    d.wait_state("webserver", "RUNNING", secs(10.0));
    d.send("quit");
    assert_eq!(d.wait_exit(secs(20.0)), 0);
}

#[test]
fn the_daemon_and_taskmasterctl_keep_separate_histories() {
    let dir = TempDir::new("shell-two-histories");
    write_config_file(&dir.0, WEB_YAML);
    let mut d = PtyDaemon::start_in(&dir.0);
    wait_all_running(&d.socket(), 1);
    d.wait_prompt(0);
    d.run("version", env!("CARGO_PKG_VERSION"));

    // taskmasterctl, same HOME: `pid`, then `quit`, which only leaves the client.
    let (mut screen, slave) = Screen::open(24, 80);
    let mut cmd = Command::new(CTL);
    cmd.arg("-s").arg(d.socket()).env("HOME", &dir.0);
    let mut ctl = spawn_on(cmd, &slave).expect("start taskmasterctl");
    drop(slave);
    let at = screen.wait_text(0, PROMPT, secs(10.0));
    screen.keys("pid\r");
    screen.wait_text(at, &d.pid().to_string(), secs(10.0));
    screen.keys("quit\r");
    assert!(screen
        .wait_exit(&mut ctl, "taskmasterctl", secs(10.0))
        .success());

    // Up in the daemon's shell recalls its own last line, not taskmasterctl's quit.
    let ready = d.mark();
    d.keys(UP);
    d.wait_text(ready, "version", secs(10.0));
    let mark = d.mark();
    d.keys("\r");
    d.wait_text(mark, env!("CARGO_PKG_VERSION"), secs(10.0));
    assert!(alive(d.pid()), "the daemon runs on");

    let daemon_history = read(&dir.path(".taskmaster_history"));
    let ctl_history = read(&dir.path(".taskmasterctl_history"));
    assert!(
        daemon_history.contains("version") && !daemon_history.contains("quit"),
        "{daemon_history:?}"
    );
    assert!(
        ctl_history.contains("pid") && ctl_history.contains("quit"),
        "{ctl_history:?}"
    );
    quit(&mut d);
}
