//! taskmasterctl's interactive shell is the daemon's shell over the socket,
//! notices included: a FATAL shows above its prompt without losing the line typed.

use std::process::Command;

use crate::common::pty::{spawn_on, Screen};
use crate::common::*;

#[test]
fn taskmasterctl_shell_shows_notices_above_its_prompt() {
    let mut d = Daemon::start(
        "ctl-notices",
        "programs:\n  flaky:\n    cmd: TESTPROG exit 1\n    autostart: false\n    startretries: 0\n    starttime: 0.5\n",
    );
    // A user runs taskmasterctl against a daemon that is up.
    let socket = d.socket();
    wait_for("the daemon's socket", secs(10.0), || {
        socket.exists().then_some(())
    });
    let (mut screen, slave) = Screen::open(24, 80);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskmasterctl"));
    cmd.arg("-s").arg(d.socket()).env("HOME", &d.dir.0);
    let mut ctl = spawn_on(cmd, &slave).expect("start taskmasterctl");
    drop(slave);
    let at = screen.wait_text(0, "taskmaster> ", secs(10.0));
    // Half a command typed, then something goes FATAL elsewhere.
    for key in ["s", "t", "a", "t"] {
        let mark = screen.mark();
        screen.keys(key);
        screen.wait_text(mark, key, secs(5.0));
    }
    d.send("start flaky");
    d.wait_log("FATAL logged", secs(10.0), |l| l.contains("gave up"));
    let at = screen.wait_text(at, "flaky: FATAL", secs(10.0));
    // The line being typed is still there: finishing it runs `status`.
    screen.keys("us flaky\r");
    screen.wait_text(at, "Exited too quickly", secs(10.0));
    screen.keys("quit\r");
    assert!(screen
        .wait_exit(&mut ctl, "taskmasterctl", secs(10.0))
        .success());
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn taskmasterctl_shell_says_at_once_when_the_daemon_is_unreachable() {
    let dir = TempDir::new("ctl-unreachable");
    let absent = dir.path("absent.sock");
    let (mut screen, slave) = Screen::open(24, 80);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskmasterctl"));
    cmd.arg("-s").arg(&absent).env("HOME", &dir.0);
    let mut ctl = spawn_on(cmd, &slave).expect("start taskmasterctl");
    drop(slave);
    // Before anything is typed: the message names the socket, then the prompt.
    let said = screen.wait_text(
        0,
        &format!("cannot reach taskmaster at {}", absent.display()),
        secs(10.0),
    );
    screen.wait_text(said, "taskmaster> ", secs(10.0));
    screen.keys("quit\r");
    assert!(screen
        .wait_exit(&mut ctl, "taskmasterctl", secs(10.0))
        .success());
}
