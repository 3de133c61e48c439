//! Pipe-mode attach (`pty: false`) keys: Ctrl-C clears the line being typed and
//! interrupts the program (SIGINT to its process group); Ctrl-D on an empty line
//! cannot close its stdin (the program holds its own end of the pipe, so that it
//! never reads end of input and the daemon needs no descriptor for it): the session
//! says so and stays attached. Input goes into the program's stdin pipe only while
//! its fd 0 still is that pipe.

use super::term::Term;
use super::{assert_detached_ok, config, program, sh_cmd, IDLE_SH};
use crate::common::*;

#[test]
fn pipe_ctrl_c_interrupts_the_program_and_clears_the_line() {
    // Reads lines; SIGINT is reported (and interrupts a read, which is retried).
    let script = r#"trap "echo got-int" INT; while :; do read l && echo "got: $l"; done"#;
    let mut d = Daemon::start(
        "attach-pipe-ctrlc",
        &config(&[program("reader", &sh_cmd(script), false, "")]),
    );
    d.wait_state("reader", "RUNNING", secs(10.0));
    let pid = d.pid_of("reader");
    let mut t = Term::attach(&d.socket(), "reader");
    let mark = t.mark();
    t.keys(b"abc");
    t.wait_text(mark, "abc", secs(10.0));
    t.keys(b"\x03");
    let interrupted = t.wait_text(mark, "got-int", secs(10.0));
    t.keys(b"xyz\r");
    let got = t.wait_text(interrupted, "got: ", secs(10.0));
    let rest = t.text()[got..].to_string();
    assert!(
        rest.starts_with("xyz"),
        "the line typed before Ctrl-C was dropped: got {rest:?}"
    );
    assert_detached_ok(&mut t, "reader");
    let i = d.instance("reader");
    assert_eq!(
        (i["state"].as_str(), i["pid"].as_i64()),
        (Some("RUNNING"), Some(pid as i64))
    );
    d.finish(secs(20.0));
}

#[test]
fn pipe_ctrl_d_says_stdin_stays_open_and_the_session_stays() {
    let mut d = Daemon::start(
        "attach-pipe-ctrld",
        &config(&[program("reader", &sh_cmd(super::ECHO_SH), false, "")]),
    );
    d.wait_state("reader", "RUNNING", secs(10.0));
    let pid = d.pid_of("reader");
    let mut t = Term::attach(&d.socket(), "reader");
    let mark = t.mark();
    t.keys(b"one\r");
    let got = t.wait_text(mark, "got: one", secs(10.0));
    t.keys(b"\x04");
    let said = t.wait_text(got, "the stdin of reader stays open", secs(10.0));
    // Still attached, and its input still goes in.
    assert!(t.child_running(), "the session stays after Ctrl-D");
    t.keys(b"two\r");
    t.wait_text(said, "got: two", secs(10.0));
    assert_detached_ok(&mut t, "reader");
    let i = d.instance("reader");
    assert_eq!(
        (i["state"].as_str(), i["pid"].as_i64()),
        (Some("RUNNING"), Some(pid as i64))
    );
    d.finish(secs(20.0));
}

#[test]
fn input_is_never_written_into_a_file_the_program_put_on_its_fd_0() {
    // Reads one line from the pipe, then opens a file read-write on fd 0 and says so.
    let script =
        format!(r#"read l; echo "got: $l"; exec 0<>DIR/replacement; echo replaced; {IDLE_SH}"#);
    let mut d = Daemon::start(
        "attach-pipe-replaced",
        &config(&[program("swapper", &sh_cmd(&script), false, "")]),
    );
    d.wait_state("swapper", "RUNNING", secs(10.0));
    let mut t = Term::attach(&d.socket(), "swapper");
    let mark = t.mark();
    t.keys(b"one\r");
    let replaced = t.wait_text(mark, "replaced", secs(10.0));
    t.keys(b"secret\r");
    t.wait_text(
        replaced,
        "input not sent to swapper: its stdin is no longer the pipe taskmaster gave it",
        secs(10.0),
    );
    assert_eq!(
        read(&d.path("replacement")),
        "",
        "nothing written into the file"
    );
    assert_detached_ok(&mut t, "swapper");
    d.finish(secs(20.0));
}

#[test]
fn input_for_a_program_that_closed_its_stdin_is_refused_with_a_reason() {
    let script = format!(r#"exec 0<&-; echo closed; {IDLE_SH}"#);
    let mut d = Daemon::start(
        "attach-pipe-closed",
        &config(&[program("closer", &sh_cmd(&script), false, "")]),
    );
    d.wait_state("closer", "RUNNING", secs(10.0));
    let mut t = Term::attach(&d.socket(), "closer");
    // From the start of the screen: "closed" may come in the replay, before the
    // session's first live byte (`Term::attach` returns once attached).
    let closed = t.wait_text(0, "closed", secs(10.0));
    t.keys(b"hello\r");
    t.wait_text(
        closed,
        "input not sent to closer: it closed its stdin",
        secs(10.0),
    );
    assert_detached_ok(&mut t, "closer");
    d.finish(secs(20.0));
}
