//! What holds the connection open, over ssh: `tail -f` of a remote instance, and
//! `attach` to a remote pty program and the live `top`, from a real terminal.

use std::io::Read;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use super::sshd_or_skip;
use crate::attach::term::Term;
use crate::common::*;
use crate::top::{table_names, Emulator};

#[test]
fn tail_f_over_ssh_receives_a_line_written_after_it_started() {
    let sshd = sshd_or_skip!("tail_f_over_ssh_receives_a_line_written_after_it_started");
    // Prints one line, then another once the test creates DIR/go.
    let mut d = Daemon::start(
        "ssh-tail",
        "programs:
  talker:
    cmd: sh -c 'echo first-line; while [ ! -e DIR/go ]; do sleep 0.05; done; echo after-go; exec sleep 1000'
    starttime: 0
",
    );
    d.wait_state("talker", "RUNNING", secs(10.0));
    let url = sshd.url(&d.socket());
    let mut client = sshd.ctl(&["-H", &url, "tail", "-f", "talker"]);
    let mut client = client
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("taskmasterctl tail -f");
    let seen = Arc::new(Mutex::new(String::new()));
    let sink = seen.clone();
    let mut out = client.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = out.read(&mut buf) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let has = |what: &str| seen.lock().unwrap().contains(what);
    wait_for("the last lines through ssh", secs(20.0), || {
        has("first-line").then_some(())
    });
    assert!(!has("after-go"));
    std::fs::write(d.path("go"), "").expect("create go");
    wait_for("a new line through ssh", secs(20.0), || {
        has("after-go").then_some(())
    });
    assert_eq!(
        client.try_wait().expect("try_wait"),
        None,
        "tail -f still follows"
    );
    // The client gone, its ssh sees the end of its socket and the chain unwinds:
    // the remote relay ends, and with it the daemon's side of the follow.
    let socket = d.socket().display().to_string();
    assert_eq!(relays_on(&socket).len(), 1, "one relay serves the follow");
    let _ = client.kill();
    let _ = client.wait();
    wait_for(
        "the remote taskmasterctl --stdio to end",
        secs(20.0),
        || relays_on(&socket).is_empty().then_some(()),
    );
    d.finish(secs(20.0));
}

/// The pids of `taskmasterctl --stdio` processes relaying to `socket`.
fn relays_on(socket: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let words: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            words.contains(&&b"--stdio"[..]) && words.contains(&socket.as_bytes())
        })
        .filter(|&pid| alive(pid))
        .collect()
}

#[test]
fn attach_over_ssh_types_reads_and_detaches() {
    let sshd = sshd_or_skip!("attach_over_ssh_types_reads_and_detaches");
    let mut d = Daemon::start(
        "ssh-attach",
        "programs:
  echo:
    cmd: 'sh -c ''while read l; do echo \"got: $l\"; stty size; done'''
    pty: true
    starttime: 0
",
    );
    d.wait_state("echo", "RUNNING", secs(10.0));
    let pid = d.pid_of("echo");
    let url = sshd.url(&d.socket());

    let mut t = Term::new();
    let before = t.modes();
    t.spawn_with(&["-H", &url, "attach", "echo"], |cmd| sshd.client_env(cmd));
    t.wait_text(0, "attached to echo", secs(20.0));
    t.wait_uncooked();
    let mark = t.mark();
    t.keys(b"hello over ssh\r");
    let echoed = t.wait_text(mark, "got: hello over ssh", secs(20.0));
    // The window size frame went through too: the program's terminal is ours.
    t.wait_text(echoed, "30 100", secs(20.0));
    let mark = t.mark();
    t.keys(b"\x1c");
    t.wait_text(mark, "detached from echo", secs(20.0));
    let status = t.wait_exit(secs(20.0));
    assert_eq!(status.code(), Some(0), "{:?}", t.text());
    assert_eq!(before, t.modes(), "the terminal's modes came back");
    let i = d.instance("echo");
    assert_eq!(
        (i["state"].as_str(), i["pid"].as_i64()),
        (Some("RUNNING"), Some(pid as i64))
    );
    d.finish(secs(20.0));
}

#[test]
fn top_over_ssh_shows_the_remote_daemon_and_gives_the_terminal_back() {
    let sshd = sshd_or_skip!("top_over_ssh_shows_the_remote_daemon_and_gives_the_terminal_back");
    let mut d = Daemon::start(
        "ssh-top",
        "programs:\n  web:\n    cmd: sleep 1000\n    starttime: 0\n",
    );
    d.wait_state("web", "RUNNING", secs(10.0));
    let url = sshd.url(&d.socket());

    let mut t = Term::new();
    let before = t.modes();
    let mut e = Emulator::new(30, 100);
    t.spawn_with(&["-H", &url, "top"], |cmd| sshd.client_env(cmd));
    let daemon_line = format!("taskmaster pid {}, up ", d.pid());
    e.wait(&t, "the remote daemon's view", |l| {
        table_names(l) == ["web"] && l[0].starts_with(&daemon_line)
    });
    t.wait_uncooked();
    t.keys("q");
    let status = t.wait_exit(secs(20.0));
    assert_eq!(status.code(), Some(0), "{:?}", t.text());
    e.catch_up(&t);
    assert!(e.restored(), "the alternate screen was left");
    assert_eq!(before, t.modes(), "the terminal's modes came back");
    d.finish(secs(20.0));
}
