//! Pipe-mode attach (`pty: false`) keys: Ctrl-C clears the line being typed and
//! interrupts the program (SIGINT to its process group); Ctrl-D on an empty line
//! closes its stdin, and the session stays attached until detach or exit.

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
fn pipe_ctrl_d_closes_stdin_and_the_session_stays() {
    let script = format!(r#"while read l; do echo "got: $l"; done; echo stdin-eof; {IDLE_SH}"#);
    let mut d = Daemon::start(
        "attach-pipe-ctrld",
        &config(&[program("reader", &sh_cmd(&script), false, "")]),
    );
    d.wait_state("reader", "RUNNING", secs(10.0));
    let pid = d.pid_of("reader");
    let mut t = Term::attach(&d.socket(), "reader");
    let mark = t.mark();
    t.keys(b"one\r");
    let got = t.wait_text(mark, "got: one", secs(10.0));
    t.keys(b"\x04");
    t.wait_text(got, "stdin-eof", secs(10.0));
    // Still attached: the detach key is what ends the session.
    assert!(t.child_running(), "the session stays after Ctrl-D");
    assert_detached_ok(&mut t, "reader");
    let i = d.instance("reader");
    assert_eq!(
        (i["state"].as_str(), i["pid"].as_i64()),
        (Some("RUNNING"), Some(pid as i64))
    );
    d.finish(secs(20.0));
}
