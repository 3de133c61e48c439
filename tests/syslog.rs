//! `taskmaster.syslog` (issue 8): the event log is copied to a syslog socket; here
//! the test listens on a datagram socket of its own and reads the lines.

use crate::common::*;
use std::os::unix::net::UnixDatagram;

#[test]
fn event_log_lines_arrive_on_the_syslog_socket() {
    let dir = TempDir::new("syslog-listener");
    let path = dir.path("log.sock");
    let listener = UnixDatagram::bind(&path).expect("bind the test's syslog socket");
    listener
        .set_read_timeout(Some(secs(10.0)))
        .expect("timeout");
    let mut d = Daemon::start(
        "syslog",
        &format!("taskmaster:\n  syslog: {}\nprograms:\n  web:\n    cmd: TESTPROG sleep\n    starttime: 0\n", path.display()),
    );
    d.wait_state("web", "RUNNING", secs(10.0));
    let mut seen = Vec::new();
    let mut buf = [0u8; 2048];
    while !seen.iter().any(|l: &String| l.contains("spawned: 'web'")) {
        let n = listener
            .recv(&mut buf)
            .expect("a syslog datagram within 10 s");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let daemon_pid = d.pid();
    let line = seen
        .iter()
        .find(|l| l.contains("spawned: 'web'"))
        .expect("spawned line");
    // Facility daemon, severity info: <30>; tagged with taskmaster's pid.
    assert!(line.starts_with("<30>"), "{line}");
    assert!(
        line.contains(&format!("taskmaster[{daemon_pid}]: ")),
        "{line}"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}
