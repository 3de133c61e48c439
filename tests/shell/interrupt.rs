//! Ctrl-C during a command that waits for processes (a `stop` of a program that
//! ignores SIGTERM, for up to its `stoptime`) gives the prompt back at once, in the
//! daemon's shell and in taskmasterctl's; taskmaster goes on with the stop. Keys
//! typed while such a command waits are not lost.

use std::process::Command;

use super::*;
use crate::common::pty::{spawn_on, Screen};

/// `slow` ignores SIGTERM: a stop waits for its stoptime, then SIGKILLs it.
const SLOW_YAML: &str =
    "programs:\n  slow:\n    cmd: TESTPROG ignore-term\n    starttime: 0\n    stoptime: 8\n";

fn state_of(socket: &Path, name: &str) -> Option<String> {
    ctl_status(socket)?
        .into_iter()
        .find(|i| i["name"] == name)
        .and_then(|i| i["state"].as_str().map(str::to_string))
}

fn wait_state(socket: &Path, name: &str, state: &str) {
    wait_for(&format!("{name} {state}"), secs(30.0), || {
        (state_of(socket, name).as_deref() == Some(state)).then_some(())
    });
}

#[test]
fn ctrl_c_during_a_long_stop_gives_the_prompt_back_in_the_daemon_shell() {
    let mut d = PtyDaemon::start("shell-stop-ctrlc", SLOW_YAML);
    wait_all_running(&d.socket(), 1);
    d.wait_prompt(0);
    d.type_text("stop slow");
    let mark = d.mark();
    d.keys("\r");
    wait_state(&d.socket(), "slow", "STOPPING");
    d.keys(CTRL_C);
    let said = d.wait_text(mark, "Interrupted", secs(10.0));
    d.wait_prompt(said);
    // The prompt is back while the stop goes on; then taskmaster finishes it.
    assert_eq!(state_of(&d.socket(), "slow").as_deref(), Some("STOPPING"));
    d.run("version", env!("CARGO_PKG_VERSION"));
    wait_state(&d.socket(), "slow", "STOPPED");
    assert!(alive(d.pid()), "Ctrl-C never stops the daemon");
    quit(&mut d);
}

#[test]
fn keys_typed_during_a_long_stop_are_not_lost() {
    let mut d = PtyDaemon::start(
        "shell-stop-typeahead",
        &SLOW_YAML.replace("stoptime: 8", "stoptime: 1"),
    );
    wait_all_running(&d.socket(), 1);
    d.wait_prompt(0);
    d.type_text("stop slow");
    let mark = d.mark();
    d.keys("\r");
    wait_state(&d.socket(), "slow", "STOPPING");
    d.keys("version\rsta");
    let stopped = d.wait_text(mark, "slow: stopped", secs(20.0));
    let version = d.wait_text(stopped, env!("CARGO_PKG_VERSION"), secs(10.0));
    // The unfinished line is waiting at the prompt: finishing it runs `status`.
    d.wait_text(version, &format!("{PROMPT}sta"), secs(10.0));
    let mark = d.mark();
    d.keys("tus\r");
    d.wait_line(mark, "status after the typed-ahead start", |l| {
        status_line_of(l, "slow", "STOPPED")
    });
    quit(&mut d);
}

#[test]
fn ctrl_c_during_a_long_stop_gives_the_prompt_back_in_taskmasterctl() {
    let mut d = Daemon::start("ctl-stop-ctrlc", SLOW_YAML);
    let socket = d.socket();
    wait_all_running(&socket, 1);
    let (mut screen, slave) = Screen::open(24, 80);
    let mut cmd = Command::new(CTL);
    cmd.arg("-s").arg(&socket).env("HOME", &d.dir.0);
    let mut ctl = spawn_on(cmd, &slave).expect("start taskmasterctl");
    drop(slave);
    let at = screen.wait_text(0, PROMPT, secs(10.0));
    screen.keys("stop slow\r");
    wait_state(&socket, "slow", "STOPPING");
    screen.keys(CTRL_C);
    let said = screen.wait_text(at, "Interrupted", secs(10.0));
    let at = screen.wait_text(said, PROMPT, secs(10.0));
    assert_eq!(state_of(&socket, "slow").as_deref(), Some("STOPPING"));
    // The shell works on, on a new connection; the stop was not sent again.
    screen.keys("version\r");
    let at = screen.wait_text(at, env!("CARGO_PKG_VERSION"), secs(10.0));
    wait_state(&socket, "slow", "STOPPED");
    screen.keys("quit\r");
    assert!(screen
        .wait_exit(&mut ctl, "taskmasterctl", secs(10.0))
        .success());
    assert!(!screen.text()[at..].contains("ERROR"));
    assert_eq!(d.finish(secs(20.0)), 0);
}
