//! Streams with a file of their own (README: Output and the event log): their bytes
//! go pipe → file by `splice`, never through the daemon's memory, and `tail`,
//! `tail -f` and attach's replay read the file's end; discarded, timestamped and
//! pty streams still go through the ring; a file `splice` cannot take still gets
//! every byte.

use std::fs::OpenOptions;
use std::io::Write;

use super::support::*;
use crate::common::*;

/// Bytes the daemon has read through `read`-like calls so far (`/proc/PID/io`):
/// `splice` does not count there, a copy through the pump does.
fn bytes_read_by(pid: i32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("read /proc/PID/io");
    io.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("rchar in /proc/PID/io")
}

/// Checks `bytes`, starting at stream position `at`, against the flood pattern
/// (byte i is i % 251).
fn assert_flood(bytes: &[u8], at: u64) {
    for (k, &b) in bytes.iter().enumerate() {
        let i = at + k as u64;
        assert_eq!(b, (i % 251) as u8, "byte {i} of the flood is wrong");
    }
}

/// Appends `text` as a cooperating writer does: under a whole-file OFD write
/// lock, the one the daemon takes for each batch it writes at the file's end.
fn append(path: &std::path::Path, text: &str) {
    use nix::fcntl::{fcntl, FcntlArg};
    use nix::libc;
    let mut file = OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open to append");
    // SAFETY: a plain C struct of integers; all zeros is valid.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    fcntl(&file, FcntlArg::F_OFD_SETLKW(&lock)).expect("lock");
    file.write_all(text.as_bytes()).expect("append by hand");
    // Closing the file releases the lock.
}

/// The daemon's socket, once it answers.
fn socket_of(d: &Daemon) -> std::path::PathBuf {
    let sock = d.socket();
    wait_for("the control socket", secs(20.0), || {
        std::os::unix::net::UnixStream::connect(&sock)
            .ok()
            .map(drop)
    });
    sock
}

const FLOOD: u64 = 64 << 20;

#[test]
fn a_flood_is_spliced_into_its_file_whole_without_passing_through_the_daemon() {
    let mut d = Daemon::start(
        "splice-flood",
        &format!(
            "programs:\n  f:\n    cmd: TESTPROG flood {FLOOD}\n    autostart: false\n    autorestart: never\n    starttime: 0\n    stdout: out.log\n"
        ),
    );
    let sock = socket_of(&d);
    let read_before = bytes_read_by(d.pid());
    ctl_ok(&sock, &["start", "f"], 0);
    let out = d.path("out.log");
    wait_for("the whole flood in the file", secs(120.0), || {
        (std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0) >= FLOOD).then_some(())
    });
    d.wait_state("f", "EXITED", secs(60.0));
    let bytes = std::fs::read(&out).expect("read the file");
    assert_eq!(bytes.len() as u64, FLOOD, "exactly every byte");
    assert_flood(&bytes, 0);
    let read = bytes_read_by(d.pid()) - read_before;
    assert!(
        read < FLOOD / 4,
        "the daemon read {read} bytes itself: the flood was copied, not spliced"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn rotation_cuts_spliced_files_at_their_size_and_loses_no_byte() {
    const MAX: u64 = 1 << 20;
    let total = 5 * MAX / 2;
    let mut d = Daemon::start(
        "splice-rotate",
        &format!(
            "programs:\n  f:\n    cmd: TESTPROG flood {total}\n    autostart: false\n    autorestart: never\n    starttime: 0\n    stdout: out.log\n    stdout_maxbytes: {MAX}\n    stdout_backups: 3\n"
        ),
    );
    let sock = socket_of(&d);
    let read_before = bytes_read_by(d.pid());
    ctl_ok(&sock, &["start", "f"], 0);
    d.wait_state("f", "EXITED", secs(60.0));
    let (older, old, current) = (d.path("out.log.2"), d.path("out.log.1"), d.path("out.log"));
    wait_for("the last bytes in out.log", secs(30.0), || {
        (std::fs::metadata(&current).map(|m| m.len()).unwrap_or(0) == total - 2 * MAX).then_some(())
    });
    let mut all = std::fs::read(&older).expect("out.log.2");
    assert_eq!(all.len() as u64, MAX, "a backup is cut at the size exactly");
    let next = std::fs::read(&old).expect("out.log.1");
    assert_eq!(
        next.len() as u64,
        MAX,
        "a backup is cut at the size exactly"
    );
    all.extend(next);
    all.extend(std::fs::read(&current).expect("out.log"));
    assert_eq!(all.len() as u64, total);
    assert_flood(&all, 0);
    assert!(!d.path("out.log.3").exists());
    let read = bytes_read_by(d.pid()) - read_before;
    assert!(read < total / 4, "the daemon read {read} bytes itself");
    assert_eq!(d.finish(secs(20.0)), 0);
}

const LINES_YAML: &str = "programs:\n  p:\n    cmd: TESTPROG lines 30\n    starttime: 0\n    stdout: out.log\n    stdout_maxbytes: 100\n    stdout_backups: 2\n";

#[test]
fn tail_reads_the_files_end_and_the_backup_a_rotation_just_made() {
    let mut d = Daemon::start("file-tail", LINES_YAML);
    let sock = socket_of(&d);
    let current = d.path("out.log");
    // "line 1\n".."line 30\n" is 231 bytes, cut at 100 and 200: out.log holds the
    // last 31, from the middle of line 27 on; the rest of line 27 is in out.log.1.
    wait_for("the last lines", secs(20.0), || {
        (std::fs::read(&current).unwrap_or_default() == b"ine 27\nline 28\nline 29\nline 30\n")
            .then_some(())
    });
    let tail = ctl_ok(&sock, &["tail", "-n", "5", "p"], 0);
    assert_eq!(tail, "line 26\nline 27\nline 28\nline 29\nline 30\n");
    // What is in the file is what tail shows, whoever wrote it.
    append(&current, "written by hand\n");
    let tail = ctl_ok(&sock, &["tail", "-n", "2", "p"], 0);
    assert_eq!(tail, "line 30\nwritten by hand\n");
    // A file deleted underneath: said plainly, nothing else changes.
    std::fs::remove_file(&current).expect("rm");
    let out = ctl(&sock, &["tail", "p"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("deleted or moved away")
            || out.stderr.contains("deleted or moved away"),
        "{out:?}"
    );
    assert_eq!(instance(&sock, "p")["state"], "RUNNING");
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn tail_f_follows_a_spliced_file_across_rotations() {
    let mut d = Daemon::start(
        "file-tailf",
        "programs:\n  p:\n    cmd: TESTPROG lines 400 0.01\n    starttime: 0\n    stdout: out.log\n    stdout_maxbytes: 300\n    stdout_backups: 1\n",
    );
    let sock = socket_of(&d);
    wait_running(&sock, &["p"], secs(10.0));
    let follow = CtlStream::start(&sock, &["tail", "-f", "-n", "0", "p"]);
    let first = follow.wait("a followed line", secs(20.0), |l| {
        l.iter().any(|l| l.starts_with("line "))
    });
    let start: u64 = first
        .iter()
        .find_map(|l| l.strip_prefix("line ")?.parse().ok())
        .unwrap_or_else(|| panic!("no line: {first:?}"));
    // A line someone else appends shows up with the child's next batch.
    append(&d.path("out.log"), "written by hand\n");
    let lines = follow.wait("every line to 400", secs(60.0), |l| {
        l.iter().any(|l| l == "line 400")
    });
    let numbered: Vec<u64> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("line ")?.parse().ok())
        .collect();
    let expected: Vec<u64> = (start..=400).collect();
    assert_eq!(
        numbered, expected,
        "each line once, in order, across rotations"
    );
    assert!(
        lines.iter().any(|l| l == "written by hand"),
        "tail -f reads the file: {lines:?}"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn discarded_timestamped_and_pty_streams_still_tail_from_memory() {
    let mut d = Daemon::start(
        "ring-tail",
        "programs:\n  gone:\n    cmd: TESTPROG print to-nowhere\n    starttime: 0\n    stdout: discard\n  stamped:\n    cmd: TESTPROG print stamped-line\n    starttime: 0\n    stdout: stamped.log\n    timestamps: true\n  term:\n    cmd: TESTPROG print on-a-pty\n    starttime: 0\n    pty: true\n    stdout: term.log\n",
    );
    let sock = socket_of(&d);
    wait_running(&sock, &["gone", "stamped", "term"], secs(10.0));
    wait_for("the discarded line", secs(10.0), || {
        (ctl_ok(&sock, &["tail", "gone"], 0) == "to-nowhere\n").then_some(())
    });
    // Timestamps need the bytes: the file has them, tail shows the line as printed.
    let stamped = wait_file(&d.path("stamped.log"), secs(10.0), |t| t.contains('\n'));
    assert!(stamped.ends_with(" stamped-line\n") && stamped.len() > "stamped-line\n".len());
    append(&d.path("stamped.log"), "not from the ring\n");
    assert_eq!(ctl_ok(&sock, &["tail", "stamped"], 0), "stamped-line\n");
    wait_file(&d.path("term.log"), secs(10.0), |t| t == "on-a-pty\n");
    append(&d.path("term.log"), "not from the ring\n");
    let term = ctl_ok(&sock, &["tail", "term"], 0);
    assert!(
        term.starts_with("on-a-pty") && !term.contains("ring"),
        "{term:?}"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn a_file_splice_cannot_take_still_gets_every_byte() {
    // Debug builds: every splice fails as on a filesystem without splice support.
    let size = 8u64 << 20;
    let mut d = Daemon::start_with(
        "splice-fails",
        &format!(
            "programs:\n  f:\n    cmd: TESTPROG flood {size}\n    autostart: false\n    autorestart: never\n    starttime: 0\n    stdout: out.log\n"
        ),
        |cmd| {
            cmd.env("TASKMASTER_NO_SPLICE", "1");
        },
    );
    let sock = socket_of(&d);
    ctl_ok(&sock, &["start", "f"], 0);
    d.wait_state("f", "EXITED", secs(60.0));
    let out = d.path("out.log");
    wait_for("the whole flood in the file", secs(30.0), || {
        (std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0) >= size).then_some(())
    });
    let bytes = std::fs::read(&out).expect("read");
    assert_eq!(bytes.len() as u64, size);
    assert_flood(&bytes, 0);
    // Copied, so its tail comes from memory: equal to the file's last bytes.
    let tail = ctl(&sock, &["tail", "-n", "1", "f"]);
    assert_eq!(tail.code, 0, "{tail:?}");
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn a_terminal_as_the_log_file_gets_every_line_by_copy() {
    // A character device: no splice at an offset there, so the copy path.
    let (screen, slave) = crate::common::pty::Screen::open(24, 80);
    let tty = nix::unistd::ttyname(&slave).expect("ttyname");
    let mut d = Daemon::start(
        "tty-file",
        &format!(
            "programs:\n  p:\n    cmd: TESTPROG lines 50\n    starttime: 0\n    stdout: {}\n",
            tty.display()
        ),
    );
    let sock = socket_of(&d);
    screen.wait_text(0, "line 50\n", secs(20.0));
    let expected: String = (1..=50).map(|n| format!("line {n}\n")).collect();
    let text = screen.text();
    assert!(text.contains(&expected), "{text:?}");
    assert_eq!(ctl_ok(&sock, &["tail", "-n", "1", "p"], 0), "line 50\n");
    drop(slave);
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn a_stopped_terminal_as_the_log_file_never_holds_up_a_stop() {
    // Output suspended as by Ctrl-S: a write to this terminal waits until it is
    // resumed. The program's trickle of lines must wait in a pump thread, never
    // in the watcher that has to stop the program.
    let pty = nix::pty::openpty(None, None).expect("openpty");
    nix::sys::termios::tcflow(&pty.slave, nix::sys::termios::FlowArg::TCOOFF).expect("TCOOFF");
    let tty = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    let mut d = Daemon::start(
        "stopped-tty",
        &format!(
            "programs:\n  p:\n    cmd: sh -c 'echo first; touch DIR/wrote; while :; do sleep 0.02; echo tick; done'\n    starttime: 0\n    stoptime: 2\n    stdout: {}\n",
            tty.display()
        ),
    );
    let sock = socket_of(&d);
    wait_for("the first line written", secs(20.0), || {
        d.path("wrote").exists().then_some(())
    });
    let stop = ctl(&sock, &["stop", "p"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    assert!(stop.stdout.contains("p: stopped"), "{stop:?}");
    nix::sys::termios::tcflow(&pty.slave, nix::sys::termios::FlowArg::TCOON).expect("TCOON");
    drop(pty);
    assert_eq!(d.finish(secs(20.0)), 0);
}
