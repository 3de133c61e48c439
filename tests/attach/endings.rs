//! How sessions end (the program exits, taskmaster shuts down, the client is killed)
//! and attaches that are refused; each leaves the terminal as it was.

use nix::sys::signal::{kill, Signal};

use super::term::{assert_modes, Term};
use super::{config, ctl, ctl_tail, program, sh_cmd, IDLE_SH};
use crate::common::*;

/// 4. The program exits while attached: its last output and the exit are shown, the
///    client exits by itself and the terminal is restored.
#[test]
fn child_exit_while_attached_ends_the_session() {
    let mut d = Daemon::start(
        "attach-exit",
        &config(&[program(
            "quit",
            &sh_cmd("read l; echo bye; exit 3"),
            true,
            "    autorestart: never\n",
        )]),
    );
    d.wait_state("quit", "RUNNING", secs(10.0));
    let mut t = Term::new();
    let before = t.modes();
    t.spawn_attach(&d.socket(), "quit");
    let mark = t.mark();
    t.keys(b"line\r");
    let exited = t.wait_text(mark, "exited", secs(10.0));
    let end = t.wait_text(exited, "]", secs(10.0));
    let status = t.wait_exit(secs(10.0));
    assert_modes("after the program exited", &before, &t.modes());
    assert!(
        status.code().is_some(),
        "taskmasterctl should exit, not die: {status:?}"
    );
    let shown = t.text()[mark..end].to_string();
    let report = shown.lines().last().unwrap_or_default();
    assert!(
        report.contains("quit") && report.contains('3'),
        "the exit report should name the program and its exit code 3: {report:?}"
    );
    let i = d.wait_state("quit", "EXITED", secs(10.0));
    assert_eq!(i["exitcode"], 3, "{i}");
    // The program's last words, written just before it exited, come before the report.
    let before_report = &shown[..shown.len() - report.len()];
    assert!(
        before_report.contains("bye"),
        "the output written just before the exit (`bye`) was not shown; the terminal \
         shows {shown:?}; `tail quit` shows {:?}",
        ctl_tail(&d.socket(), "quit")
    );
    d.finish(secs(20.0));
}

/// 5. taskmaster shuts down while a client is attached: the client exits and the
///    terminal is restored.
#[test]
fn daemon_shutdown_while_attached_ends_the_session() {
    let mut d = Daemon::start(
        "attach-shutdown",
        &config(&[program("idle", &sh_cmd(IDLE_SH), true, "")]),
    );
    d.wait_state("idle", "RUNNING", secs(10.0));
    let mut t = Term::new();
    let before = t.modes();
    t.spawn_attach(&d.socket(), "idle");
    let mark = t.mark();
    d.send("shutdown");
    let status = t.wait_exit(secs(20.0));
    assert_modes("after taskmaster shut down", &before, &t.modes());
    // Saying why (`[taskmaster is shutting down]`) is nice but not required (README:
    // Attach promises the restored terminal): the daemon may be gone before it can say it.
    eprintln!(
        "the client showed at shutdown: {:?}",
        t.text().get(mark..).unwrap_or("")
    );
    assert!(
        status.code().is_some(),
        "taskmasterctl should exit, not die: {status:?}"
    );
    assert_eq!(d.wait_exit(secs(20.0)), 0, "taskmaster's exit code");
}

/// 6. The client is killed by SIGTERM while attached: it restores the terminal
///    before exiting; the program keeps running.
#[test]
fn client_sigterm_while_attached_restores_the_terminal() {
    let mut d = Daemon::start(
        "attach-sigterm",
        &config(&[program("idle", &sh_cmd(IDLE_SH), true, "")]),
    );
    d.wait_state("idle", "RUNNING", secs(10.0));
    let pid = d.pid_of("idle");
    let mut t = Term::new();
    let before = t.modes();
    t.spawn_attach(&d.socket(), "idle");
    assert_ne!(t.modes(), before, "attached: the terminal should be raw");
    kill(t.client_pid(), Signal::SIGTERM).expect("SIGTERM to the client");
    let status = t.wait_exit(secs(10.0));
    assert_modes("after SIGTERM to the client", &before, &t.modes());
    assert_ne!(status.code(), Some(0), "killed by SIGTERM: {status:?}");
    let i = d.instance("idle");
    assert_eq!(i["state"], "RUNNING", "{i}");
    assert_eq!(i["pid"], pid, "{i}");
    d.finish(secs(20.0));
}

/// 9. Refusals: a stopped instance, an unknown name, a program of several instances.
#[test]
fn attach_refusals() {
    let mut d = Daemon::start(
        "attach-refuse",
        &config(&[
            program("off", "TESTPROG sleep", true, "    autostart: false\n"),
            program("w", "TESTPROG sleep", false, "    numprocs: 2\n"),
        ]),
    );
    d.wait_state("w:0", "RUNNING", secs(10.0));
    d.wait_state("w:1", "RUNNING", secs(10.0));
    d.wait_state("off", "STOPPED", secs(10.0));

    let (code, said) = ctl(&d.socket(), &["attach", "off"]);
    assert!(said.contains("ERROR (not running)"), "attach off: {said:?}");
    assert_eq!(code, 1, "attach off: {said:?}");

    let (code, said) = ctl(&d.socket(), &["attach", "nosuch"]);
    assert!(said.contains("nosuch"), "attach nosuch: {said:?}");
    assert_eq!(code, 1, "attach nosuch: {said:?}");

    let (code, said) = ctl(&d.socket(), &["attach", "w"]);
    assert!(
        said.contains("w:0"),
        "attach w should name its instances: {said:?}"
    );
    assert_eq!(code, 1, "attach w: {said:?}");

    // On a terminal too: the refusal leaves the terminal as it was.
    let mut t = Term::new();
    let before = t.modes();
    t.spawn(&["-s", d.socket().to_str().unwrap(), "attach", "off"]);
    let status = t.wait_exit(secs(10.0));
    t.wait_text(0, "ERROR (not running)", secs(10.0));
    assert_eq!(status.code(), Some(1), "{:?}", t.text());
    assert_modes("after a refused attach", &before, &t.modes());
    d.finish(secs(20.0));
}
