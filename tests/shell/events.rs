//! `events` in the daemon's own shell: it streams, as through taskmasterctl, until
//! Ctrl-C gives the prompt back (and the daemon goes on).

use super::*;

const YAML: &str =
    "programs:\n  web:\n    cmd: TESTPROG sleep\n    starttime: 0\n    autostart: false\n";

#[test]
fn events_stream_in_the_daemon_shell_until_ctrl_c() {
    let mut d = PtyDaemon::start("shell-events", YAML);
    d.wait_prompt(0);
    d.type_text("events");
    let mark = d.mark();
    d.keys("\r");
    // The stream begins just after Enter: a restart made before it is not shown,
    // so restart until one is.
    let socket = d.socket();
    wait_for("a spawn shown by events", secs(20.0), || {
        let out = ctl(&socket, &["restart", "web"]);
        assert!(out.status.success(), "{out:?}");
        d.text()[mark..]
            .contains("spawned: 'web' with pid")
            .then_some(())
    });
    d.wait_text(mark, "web: STOPPED -> RUNNING", secs(10.0));
    let end = d.mark();
    d.keys(CTRL_C);
    d.wait_prompt(end);
    d.run("version", env!("CARGO_PKG_VERSION"));
    assert!(alive(d.pid()), "Ctrl-C ends the stream, never the daemon");
    quit(&mut d);
}
