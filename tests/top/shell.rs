//! `top` in the daemon's own interactive shell, on its pseudo-terminal.

use super::*;
use crate::shell::pty_daemon::{PtyDaemon, PROMPT};

const TWO_YAML: &str = "programs:
  spin:
    cmd: 'sh -c ''while :; do :; done'''
    starttime: 0
  idle:
    cmd: TESTPROG print hello-idle
    starttime: 0
";

#[test]
fn top_in_the_daemons_shell_sorts_follows_resizes_and_ctrl_c_gives_the_prompt_back() {
    let mut d = PtyDaemon::start("top-shell", TWO_YAML);
    let socket = d.socket();
    wait_for("both RUNNING", secs(10.0), || {
        let out = ctl(&socket, &["status"]);
        (out.status.code() == Some(0)).then_some(())
    });
    d.wait_prompt(0);
    let mut e = Emulator::new(24, 80);
    d.type_text("top");
    d.keys("\r");
    let lines = e.wait(&d, "both instances, spin first, idle's line", |l| {
        table_names(l) == ["spin", "idle"]
            && row_of(l, "idle").is_some_and(|r| r.trim_end().ends_with("hello-idle"))
    });
    assert!(
        lines[0].starts_with(&format!("taskmaster pid {}, up ", d.pid())),
        "{lines:#?}"
    );
    let idle = row_of(&lines, "idle").expect("idle's row");
    assert!(idle.trim_end().ends_with("hello-idle"), "{idle:?}");
    d.keys("n");
    e.wait(&d, "the rows by name", |l| {
        table_names(l) == ["idle", "spin"]
    });

    let stop = ctl(&socket, &["stop", "idle"]);
    assert_eq!(stop.status.code(), Some(0), "{stop:?}");
    e.wait(&d, "idle STOPPED", |l| {
        row_of(l, "idle").is_some_and(|r| r.contains("STOPPED"))
    });

    e.resize(&d, 16, 70);
    set_size(&d, 16, 70);
    e.wait(&d, "the view redrawn at 16x70", |l| {
        l.len() == 16 && l[15].contains("q quit") && table_names(l).len() == 2
    });

    // Ctrl-C leaves top, and only top: the daemon and its programs go on.
    let mark = d.mark();
    d.keys("\x03");
    d.wait_text(mark, PROMPT, secs(10.0));
    e.catch_up(&d);
    assert!(
        e.restored(),
        "the alternate screen is left and the cursor shown"
    );
    assert!(alive(d.pid()), "Ctrl-C in top must not stop the daemon");
    d.run("status spin", "RUNNING");
    d.type_text("quit -y");
    d.keys("\r");
    assert_eq!(d.wait_exit(secs(20.0)), 0);
}

#[test]
fn a_shutdown_while_top_is_open_gives_the_terminal_back() {
    let mut d = PtyDaemon::start(
        "top-shutdown",
        "programs:\n  idle:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    let socket = d.socket();
    d.wait_prompt(0);
    let mut e = Emulator::new(24, 80);
    d.type_text("top");
    d.keys("\r");
    e.wait(&d, "the view", |l| table_names(l) == ["idle"]);
    // From another client: the daemon stops everything and exits, which may take
    // less than the view's refresh.
    let out = ctl(&socket, &["shutdown"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(d.wait_exit(secs(20.0)), 0);
    // Once what the daemon wrote is read: the main screen back, the cursor shown.
    let restored = poll_until(secs(10.0), std::time::Duration::from_millis(20), || {
        e.catch_up(&d);
        e.restored().then_some(())
    });
    assert!(
        restored.is_some(),
        "the daemon exited with its terminal still taken:\n{}",
        e.lines().join("\n")
    );
}
