//! Names are bounded (issue 14, point 10): a program name past 255 bytes is a config
//! error, and one at the limit shows in `status` — plain text, over the socket and on
//! the daemon's stdin — without upsetting the reply's formatting.

use super::support::{ctl_ok, status_line, wait_running, Bare};
use crate::common::*;

#[test]
fn a_name_over_the_limit_is_a_config_error() {
    let dir = TempDir::new("long-name");
    // An explicit key: YAML limits a plain one to 1024 characters.
    let long = "n".repeat(65_533);
    let config = write_config_file(
        &dir.0,
        &format!("programs:\n  ? {long}\n  : {{cmd: TESTPROG sleep, starttime: 0}}\n"),
    );
    let socket = dir.path("tm.sock");
    let (code, err) = Bare::on(&config, Some(&socket)).wait_exit(secs(20.0));
    assert_eq!(code, 2, "{}", &err[..err.len().min(300)]);
    assert!(
        err.contains("is 65533 bytes long: at most 255"),
        "{err:.300}"
    );
    assert!(!socket.exists());
}

#[test]
fn a_name_at_the_limit_shows_in_status_over_the_socket_and_on_stdin() {
    let name = "n".repeat(255);
    let yaml = format!(
        "programs:\n  {name}:\n    cmd: TESTPROG sleep\n    starttime: 0\n    numprocs: 2\n  web:\n    cmd: TESTPROG sleep\n    starttime: 0\n"
    );
    let mut d = Daemon::start("long-name-status", &yaml);
    let first = format!("{name}:0");
    let second = format!("{name}:1");
    wait_running(&d.socket(), &[&first, &second, "web"], secs(20.0));

    // Over the socket: every row, the columns aligned on the longest name.
    let out = ctl_ok(&d.socket(), &["status"], 0);
    for instance in [&first, &second, "web"] {
        let row = status_line(&out, instance);
        assert_eq!(&row[first.len() + 3..][..7], "RUNNING", "{row:.300}");
    }

    // On stdin: the same reply, and the shell still answers afterwards.
    let mark = d.mark();
    d.send("status");
    let row = d.wait_line(mark, "the long name's row", secs(10.0), |l| {
        l.starts_with(&format!("{second} "))
    });
    assert!(row.contains("RUNNING"), "{row:.300}");
    d.command_expect("pid", &d.pid().to_string(), secs(10.0));
    d.finish(secs(20.0));
}
