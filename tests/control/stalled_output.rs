//! The daemon's own output read by nobody — `logfile: /dev/stdout` into a pipe
//! whose reader stopped (a stalled `docker logs`, a pager left on its first page):
//! supervision goes on, lines are lost and counted, the shutdown finishes.

use std::fs::File;
use std::io::Read;
use std::process::Stdio;

use nix::fcntl::OFlag;

use super::support::*;
use crate::common::*;

const YAML: &str = "taskmaster:
  logfile: /dev/stdout
programs:
  many:
    cmd: TESTPROG sleep
    numprocs: 100
    starttime: 0
";

#[test]
fn a_reader_that_stops_reading_the_daemons_output_stops_nothing() {
    let dir = TempDir::new("stalled-stdout");
    let config = dir.path("taskmaster.yaml");
    let socket = dir.path("taskmaster.sock");
    std::fs::write(&config, expand(YAML, &dir.0)).expect("write config");
    // Close-on-exec: no other test's child may hold the write end open.
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
    let mut daemon = Bare::with_stdout(&config, Some(&socket), Stdio::from(write));
    let names: Vec<String> = (0..100).map(|k| format!("many:{k}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    wait_running(&socket, &names, secs(30.0));

    // Nobody reads: the restarts log more than the pipe and the daemon's queue hold
    // (1 MiB: some 20 000 lines against ~15 000 that fit).
    // Each one is answered, and every instance is running again after it.
    for _ in 0..50 {
        ctl_ok(&socket, &["restart", "all"], 0);
    }
    wait_running(&socket, &names, secs(30.0));

    // The reader comes back: the lines after the gap arrive, with the count of
    // those lost; the shutdown's own lines too.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = File::from(read).read_to_string(&mut text);
        text
    });
    ctl_ok(&socket, &["restart", "many:0"], 0);
    assert_eq!(daemon.terminate(secs(30.0)), 0);
    let text = reader.join().expect("reader");
    assert!(
        text.lines().any(|l| l.contains(" WARN  event log: ")
            && l.ends_with(" lines lost (the output was not read in time)")),
        "no line counts the lost ones:\n{}",
        text.get(text.len().saturating_sub(2000)..).unwrap_or(&text)
    );
    assert!(
        text.contains("INFO  shutdown finished") && text.contains("taskmaster: shutdown finished"),
        "{}",
        text.get(text.len().saturating_sub(2000)..).unwrap_or(&text)
    );
}

/// The pipe is full before the daemon writes its first line: commands are
/// answered and the shutdown ends, none of it waiting for a reader.
#[test]
fn a_pipe_full_from_the_start_holds_neither_commands_nor_the_shutdown() {
    let dir = TempDir::new("full-stdout");
    let config = dir.path("taskmaster.yaml");
    let socket = dir.path("taskmaster.sock");
    let yaml = "taskmaster:\n  logfile: /dev/stdout\nprograms:\n  one:\n    cmd: TESTPROG sleep\n    starttime: 0\n";
    std::fs::write(&config, expand(yaml, &dir.0)).expect("write config");
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
    fill(&write);
    let mut daemon = Bare::with_stdout(&config, Some(&socket), Stdio::from(write));
    wait_running(&socket, &["one"], secs(30.0));
    for _ in 0..3 {
        ctl_ok(&socket, &["restart", "one"], 0);
    }
    assert_eq!(daemon.terminate(secs(30.0)), 0);
    drop(read);
}

/// Writes into the pipe until it holds no more, and leaves it blocking again (the
/// flag belongs to the pipe's description, which the daemon shares).
fn fill(write: &std::os::fd::OwnedFd) {
    use nix::fcntl::{fcntl, FcntlArg};
    let flags = OFlag::from_bits_truncate(fcntl(write, FcntlArg::F_GETFL).expect("F_GETFL"));
    fcntl(write, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).expect("F_SETFL");
    let chunk = [b'.'; 4096];
    while nix::unistd::write(write, &chunk).is_ok() {}
    fcntl(write, FcntlArg::F_SETFL(flags)).expect("F_SETFL");
}

/// A `notices` client that stops reading (its own output is never read): the
/// daemon keeps a bounded queue of its notices, drops the rest, and the client is
/// told how many once it reads again.
#[test]
fn a_notices_client_that_stops_reading_is_told_what_it_missed() {
    let yaml = "programs:\n  fails:\n    cmd: TESTPROG exit 1\n    numprocs: 500\n    autostart: false\n    startretries: 0\n    starttime: 1\n";
    let mut d = Daemon::start("stalled-notices", yaml);
    wait_for("the control socket", secs(20.0), || {
        std::os::unix::net::UnixStream::connect(d.socket()).ok()
    });
    let mut client = std::process::Command::new(super::CTL)
        .arg("-s")
        .arg(d.socket())
        .arg("notices")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start taskmasterctl notices");
    let mut unread = client.stdout.take().expect("stdout");
    // Each round, 500 FATALs: more than the client's pipe, its socket and the
    // daemon's queue for it hold.
    for _ in 0..8 {
        ctl(&d.socket(), &["start", "all"]);
    }
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0; 4096];
        while let Ok(n @ 1..) = unread.read(&mut buf) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    // Read again: the next notice comes after the count of those skipped.
    let said = wait_for("the count of skipped notices", secs(60.0), || {
        ctl(&d.socket(), &["start", "fails:0"]);
        let text = seen.lock().unwrap().clone();
        text.lines()
            .find(|l| l.ends_with(" notices skipped (not read in time)"))
            .map(str::to_string)
    });
    assert!(said.contains(" taskmaster: "), "{said}");
    let _ = client.kill();
    let _ = client.wait();
    d.finish(secs(30.0));
}
