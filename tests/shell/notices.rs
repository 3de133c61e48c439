//! Notices in the daemon's shell: each with its time, muted by `notices off` and
//! back with `notices on`; a reload after SIGHUP that fails is one of them.

use super::*;

const FLAKY_YAML: &str = "programs:\n  flaky:\n    cmd: TESTPROG exit 1\n    autostart: false\n    startretries: 0\n    starttime: 1\n  webserver:\n    cmd: TESTPROG sleep\n    starttime: 0\n";

/// Is `line` `YYYY-MM-DD HH:MM:SS ` followed by `rest`?
fn stamped(line: &str, rest: &str) -> bool {
    let b = line.as_bytes();
    let shape = "dddd-dd-dd dd:dd:dd ";
    line.len() > shape.len()
        && shape.bytes().zip(b).all(|(s, c)| match s {
            b'd' => c.is_ascii_digit(),
            s => s == *c,
        })
        && line[shape.len()..].starts_with(rest)
}

#[test]
fn notices_are_stamped_and_can_be_muted() {
    let mut d = PtyDaemon::start("shell-notices-mute", FLAKY_YAML);
    wait_for("webserver RUNNING", secs(10.0), || {
        let items = ctl_status(&d.socket())?;
        let up = items
            .iter()
            .any(|i| i["name"] == "webserver" && i["state"] == "RUNNING");
        up.then_some(())
    });
    d.wait_prompt(0);

    let mark = d.mark();
    d.run("start flaky", "flaky: ERROR");
    let (line, _) = d.wait_line(mark, "the FATAL notice", |l| l.contains("flaky: FATAL"));
    let notice = line.trim_start_matches(PROMPT);
    assert!(stamped(notice, "flaky: FATAL"), "{line:?}");

    d.run("notices off", "Notices off");
    let muted = d.mark();
    d.run("start flaky", "flaky: ERROR");
    wait_for("flaky FATAL again", secs(20.0), || {
        (d.log().matches("gave up: flaky").count() == 2).then_some(())
    });
    d.run("version", env!("CARGO_PKG_VERSION"));
    d.run("notices on", "Notices on");
    assert!(
        !d.text()[muted..].contains("flaky: FATAL"),
        "muted: {:?}",
        &d.text()[muted..]
    );
    let on = d.mark();
    d.run("start flaky", "flaky: ERROR");
    d.wait_text(on, "flaky: FATAL", secs(20.0));
    quit(&mut d);
}

#[test]
fn a_failed_sighup_reload_is_a_notice() {
    let dir = TempDir::new("shell-notice-reload");
    let config = write_config_file(&dir.0, WEB_YAML);
    let mut d = PtyDaemon::start_in(&dir.0);
    wait_all_running(&d.socket(), 1);
    let ready = d.wait_prompt(0);
    std::fs::write(&config, "programs:\n  webserver:\n    cmd: [unclosed\n").expect("write");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.pid()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .expect("SIGHUP");
    let (line, _) = d.wait_line(ready, "the failed reload notice", |l| {
        l.contains("reload after SIGHUP failed")
    });
    assert!(
        stamped(
            line.trim_start_matches(PROMPT),
            "reload after SIGHUP failed"
        ),
        "{line:?}"
    );
    assert!(line.contains("taskmaster.yaml"), "it says where: {line:?}");
    quit(&mut d);
}

/// `notices off` mutes the programs' notices, not the daemon's answer to a
/// shutdown asked for elsewhere: who asked, and that it finished.
#[test]
fn muted_notices_still_show_who_shut_the_daemon_down() {
    let mut d = PtyDaemon::start("shell-notices-shutdown", WEB_YAML);
    wait_all_running(&d.socket(), 1);
    d.wait_prompt(0);
    d.run("notices off", "Notices off");
    let mark = d.mark();
    let out = ctl(&d.socket(), &["shutdown"]);
    assert!(out.status.success(), "{out:?}");
    d.wait_text(
        mark,
        "shutdown begun, requested by taskmasterctl",
        secs(10.0),
    );
    assert_eq!(d.wait_exit(secs(20.0)), 0);
}
