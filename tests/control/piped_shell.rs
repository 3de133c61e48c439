//! taskmasterctl with commands piped into its shell (`printf 'status\n' |
//! taskmasterctl`): the replies on stdout, and exit 3 when the daemon cannot be
//! reached, naming the socket, without running the commands.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::support::*;
use super::{CTL, VERSION};
use crate::common::*;

/// `printf INPUT | taskmasterctl -s SOCKET`.
fn piped(socket: &Path, input: &str) -> Out {
    let mut child = Command::new(CTL)
        .arg("-s")
        .arg(socket)
        .env("HOME", socket.parent().expect("socket dir"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start taskmasterctl");
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    let out = child.wait_with_output().expect("taskmasterctl output");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn piped_commands_exit_3_when_the_daemon_cannot_be_reached() {
    let mut d = Daemon::start("ctl-piped", SLEEPER_YAML);
    let sock = d.socket();
    wait_running(&sock, &["sleeper"], secs(10.0));

    let out = piped(&sock, "version\nstatus\n");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains(VERSION), "{out:?}");
    assert!(status_line(&out.stdout, "sleeper").contains("RUNNING"));

    let absent = d.path("absent.sock");
    let out = piped(&absent, "version\nstatus\n");
    assert_eq!(out.code, 3, "no daemon: exit 3; {out:?}");
    assert!(
        out.stderr.contains("cannot reach taskmaster")
            && out.stderr.contains(absent.to_str().expect("utf-8")),
        "the message names the socket: {out:?}"
    );
    assert_eq!(
        out.stderr.matches("cannot reach").count(),
        1,
        "said once, not once per command: {out:?}"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}
