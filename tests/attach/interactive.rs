//! Attached sessions at work: keys in, output back, the window size, the terminal's
//! modes, and a pipe program.

use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, SpecialCharacterIndices};
use std::os::fd::AsFd;

use super::term::{assert_modes, Term};
use super::{assert_detached_ok, config, program, sh_cmd, wait_tail, ECHO_SH, IDLE_SH};
use crate::common::*;

/// 1. pty program: typed keys reach it, its output comes back; Ctrl-\ detaches, the
///    client exits 0 and the program keeps running with the same pid.
#[test]
fn pty_attach_types_and_reads_then_detaches() {
    let mut d = Daemon::start(
        "attach-pty",
        &config(&[program("echo", &sh_cmd(ECHO_SH), true, "")]),
    );
    d.wait_state("echo", "RUNNING", secs(10.0));
    let pid = d.pid_of("echo");

    let mut t = Term::new();
    let before = t.modes();
    t.spawn_attach(&d.socket(), "echo");
    let mark = t.mark();
    t.keys(b"hello\r");
    t.wait_text(mark, "got: hello", secs(10.0));
    assert_detached_ok(&mut t, "echo");
    assert_modes("after detaching", &before, &t.modes());

    let i = d.instance("echo");
    assert_eq!(i["state"], "RUNNING", "after detach: {i}");
    assert_eq!(i["pid"], pid, "after detach the pid changed: {i}");
    d.finish(secs(20.0));
}

/// 2. The window size is set on attach and follows SIGWINCH.
#[test]
fn pty_window_size_set_on_attach_and_follows_sigwinch() {
    let script = format!(r#"trap "stty size" WINCH; stty size; {IDLE_SH}"#);
    let mut d = Daemon::start(
        "attach-winch",
        &config(&[program("sz", &sh_cmd(&script), true, "")]),
    );
    d.wait_state("sz", "RUNNING", secs(10.0));
    // Its own start-up line is in the ring before we attach (the daemon's default
    // size), so that the sizes seen after attaching can only come from us.
    wait_tail(&d.socket(), "sz", " ");

    let mut t = Term::new();
    t.spawn_attach(&d.socket(), "sz");
    let attached = t.wait_text(0, "attached to sz", secs(1.0));
    let after = t.wait_text(attached, "30 100", secs(10.0));
    t.resize(40, 120);
    t.wait_text(after, "40 120", secs(10.0));
    assert_detached_ok(&mut t, "sz");
    d.finish(secs(20.0));
}

/// 3. The terminal's modes — every flag and control character — are those from
///    before the attach, after a detach and after the program's exit. The terminal
///    starts with non-default modes, so that restoring "some sane modes" would not do.
#[test]
fn terminal_modes_restored_after_detach_and_after_child_exit() {
    let mut d = Daemon::start(
        "attach-modes",
        &config(&[
            program("idle", &sh_cmd(IDLE_SH), true, ""),
            program(
                "once",
                &sh_cmd("read l; echo done-$l; exit 0"),
                true,
                "    autorestart: never\n",
            ),
        ]),
    );
    d.wait_state("idle", "RUNNING", secs(10.0));
    d.wait_state("once", "RUNNING", secs(10.0));

    let mut t = Term::new();
    {
        let mut m = tcgetattr(t.slave.as_fd()).expect("tcgetattr");
        m.control_chars[SpecialCharacterIndices::VERASE as usize] = 0x08;
        m.control_chars[SpecialCharacterIndices::VKILL as usize] = 0x0b;
        m.local_flags.remove(LocalFlags::ECHOCTL);
        tcsetattr(t.slave.as_fd(), SetArg::TCSANOW, &m).expect("tcsetattr");
    }
    let before = t.modes();

    // Detach.
    t.spawn_attach(&d.socket(), "idle");
    assert_ne!(t.modes(), before, "attached: the terminal should be raw");
    assert_detached_ok(&mut t, "idle");
    assert_modes("after detaching", &before, &t.modes());

    // The program exits while attached.
    t.spawn_attach(&d.socket(), "once");
    let mark = t.mark();
    t.keys(b"x\r");
    // (Whether `done-x` itself is shown is test 4's business.)
    t.wait_text(mark, "exited", secs(10.0));
    t.wait_exit(secs(10.0));
    assert_modes("after the program exited", &before, &t.modes());
    d.finish(secs(20.0));
}

/// 7. A pipe program: typed lines go to its stdin, its output comes back; Ctrl-\
///    detaches; it keeps running.
#[test]
fn pipe_attach_sends_lines_and_detaches() {
    let mut d = Daemon::start(
        "attach-pipe",
        &config(&[program("cat", "TESTPROG echo", false, "")]),
    );
    d.wait_state("cat", "RUNNING", secs(10.0));
    let pid = d.pid_of("cat");
    let mut t = Term::new();
    let before = t.modes();
    t.spawn_attach(&d.socket(), "cat");
    let mark = t.mark();
    t.keys(b"abc\r");
    // Once as the client's local echo of the line being typed, once from the program.
    let first = t.wait_text(mark, "abc", secs(10.0));
    t.wait_text(first, "abc", secs(10.0));
    wait_tail(&d.socket(), "cat", "abc");
    assert_detached_ok(&mut t, "cat");
    assert_modes("after detaching", &before, &t.modes());
    let i = d.instance("cat");
    assert_eq!(i["state"], "RUNNING", "{i}");
    assert_eq!(i["pid"], pid, "{i}");
    d.finish(secs(20.0));
}
