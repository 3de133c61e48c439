//! Output around sessions: written while detached, replayed on attach, shared by two
//! clients, and not slowed by a client that never reads.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use super::term::Term;
use super::{assert_detached_ok, config, ctl, program, sh_cmd, wait_tail, ECHO_SH, IDLE_SH};
use crate::common::*;

/// 8. Output produced while nobody is attached is in `tail` and in the stdout log
///    file, which has plain `\n` line ends (the pty's `\r\n` stripped).
#[test]
fn output_while_detached_in_tail_and_log_file_without_cr() {
    let script = format!(r#"trap "echo while-detached" USR1; echo started; {IDLE_SH}"#);
    let mut d = Daemon::start(
        "attach-log",
        &config(&[program(
            "log",
            &sh_cmd(&script),
            true,
            "    stdout: DIR/out.log\n",
        )]),
    );
    d.wait_state("log", "RUNNING", secs(10.0));
    let mut t = Term::new();
    t.spawn_attach(&d.socket(), "log");
    t.wait_text(0, "started", secs(10.0));
    assert_detached_ok(&mut t, "log");

    let (code, said) = ctl(&d.socket(), &["signal", "USR1", "log"]);
    assert_eq!(code, 0, "signal USR1 log: {said}");
    wait_tail(&d.socket(), "log", "while-detached");
    let path = d.path("out.log");
    let log = wait_for("while-detached in out.log", secs(10.0), || {
        let s = read(&path);
        s.contains("while-detached\n").then_some(s)
    });
    assert!(log.contains("started\n"), "out.log: {log:?}");
    assert!(!log.contains('\r'), "out.log has carriage returns: {log:?}");
    d.finish(secs(20.0));
}

/// 10. The recent output is replayed on attach.
#[test]
fn recent_output_replayed_on_attach() {
    let script = format!("echo marker-123; {IDLE_SH}");
    let mut d = Daemon::start(
        "attach-replay",
        &config(&[program("m", &sh_cmd(&script), true, "")]),
    );
    d.wait_state("m", "RUNNING", secs(10.0));
    wait_tail(&d.socket(), "m", "marker-123");
    let mut t = Term::attach(&d.socket(), "m");
    let attached = t.wait_text(0, "attached to m", secs(1.0));
    t.wait_text(attached, "marker-123", secs(10.0));
    assert_detached_ok(&mut t, "m");
    d.finish(secs(20.0));
}

/// 11. Two clients attached at once share the view: input from either, output in both.
#[test]
fn two_clients_share_the_view() {
    let mut d = Daemon::start(
        "attach-two",
        &config(&[program("echo", &sh_cmd(ECHO_SH), true, "")]),
    );
    d.wait_state("echo", "RUNNING", secs(10.0));
    let mut a = Term::attach(&d.socket(), "echo");
    let mut b = Term::attach(&d.socket(), "echo");
    let (ma, mb) = (a.mark(), b.mark());
    a.keys(b"from-a\r");
    a.wait_text(ma, "got: from-a", secs(10.0));
    b.wait_text(mb, "got: from-a", secs(10.0));
    let (ma, mb) = (a.mark(), b.mark());
    b.keys(b"from-b\r");
    a.wait_text(ma, "got: from-b", secs(10.0));
    b.wait_text(mb, "got: from-b", secs(10.0));
    assert_detached_ok(&mut a, "echo");
    // B is still attached after A left.
    let mb = b.mark();
    b.keys(b"alone\r");
    b.wait_text(mb, "got: alone", secs(10.0));
    assert_detached_ok(&mut b, "echo");
    d.finish(secs(20.0));
}

/// 12. A client that attaches and never reads does not slow the program: 200 MiB
///     through a pipe land whole in the file while it stays connected.
#[test]
fn stalled_attach_client_does_not_slow_the_program() {
    let cmd = sh_cmd("read go; exec TESTPROG flood 200M");
    let mut d = Daemon::start(
        "attach-stall",
        &config(&[program(
            "f",
            &cmd,
            false,
            "    autorestart: never\n    stdout: DIR/f.out\n",
        )]),
    );
    d.wait_state("f", "RUNNING", secs(10.0));
    let mut stalled = UnixStream::connect(d.socket()).expect("connect");
    stalled
        .write_all(b"{\"command\": \"attach\", \"args\": [\"f\"]}\n")
        .expect("attach request");
    d.wait_log("the stalled client attached", secs(10.0), |log| {
        log.contains("attached to f")
    });
    // Start the flood with an input frame: `go\n`.
    stalled.write_all(b"\x00\x00\x03go\n").expect("input frame");
    let started = Instant::now();
    let i = d.wait_state("f", "EXITED", secs(120.0));
    let took = started.elapsed();
    assert_eq!(i["exitcode"], 0, "{i}");
    // The pump may still be writing the pipe's last bytes when the exit is
    // reported: wait for them, then check nothing more came.
    let size = || std::fs::metadata(d.path("f.out")).map_or(0, |m| m.len());
    wait_for("f.out complete", secs(30.0), || {
        (size() >= 200 << 20).then_some(())
    });
    assert_eq!(size(), 200 << 20, "f.out size");
    // The stalled client was connected all along: the daemon still has data for it.
    stalled
        .set_read_timeout(Some(secs(10.0)))
        .expect("read timeout");
    let mut buf = [0u8; 1024];
    let n = stalled
        .read(&mut buf)
        .expect("read from the stalled connection");
    assert!(n > 0, "the stalled connection was closed");
    eprintln!("200 MiB flood with a stalled attach client took {took:?}");
    drop(stalled);
    d.finish(secs(20.0));
}
