//! Child output (README: Output and the event log): files per stream, a shared file, discarded streams, and a
//! 1 GiB flood that lands whole without making the daemon lag.

use crate::common::*;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("stat output file")
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn stdout_and_stderr_to_two_files_with_mode_0640() {
    let mut d = Daemon::start(
        "out-two",
        "programs:\n  p:\n    cmd: TESTPROG print out-line err-line\n    starttime: 0\n    stdout: out.log\n    stderr: err.log\n",
    );
    // Relative paths resolve against the config's directory.
    let out = wait_file(&d.path("out.log"), secs(10.0), |t| t.contains('\n'));
    let err = wait_file(&d.path("err.log"), secs(10.0), |t| t.contains('\n'));
    assert_eq!(out, "out-line\n");
    assert_eq!(err, "err-line\n");
    let expected = 0o640 & !current_umask();
    assert_eq!(
        mode_of(&d.path("out.log")),
        expected,
        "stdout file mode: expected {expected:o}"
    );
    assert_eq!(
        mode_of(&d.path("err.log")),
        expected,
        "stderr file mode: expected {expected:o}"
    );
    assert_eq!(d.instance("p")["state"], "RUNNING");
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn stdout_and_stderr_to_the_same_file() {
    let mut d = Daemon::start(
        "out-same",
        "programs:\n  p:\n    cmd: TESTPROG print out-line err-line\n    starttime: 0\n    stdout: both.log\n    stderr: both.log\n",
    );
    let text = wait_file(&d.path("both.log"), secs(10.0), |t| {
        t.contains("out-line\n") && t.contains("err-line\n")
    });
    assert_eq!(
        text.len(),
        "out-line\nerr-line\n".len(),
        "nothing else in the file: {text:?}"
    );
    assert_eq!(d.instance("p")["state"], "RUNNING");
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn discarded_streams_create_no_file() {
    let mut d = Daemon::start(
        "out-discard",
        "programs:\n  p:\n    cmd: TESTPROG print out-line err-line\n    starttime: 0.3\n    stdout: discard\n",
    );
    // RUNNING after 0.3 s: it has printed both lines long before. (The harness puts
    // the daemon's control socket in the dir too.)
    d.wait_state("p", "RUNNING", secs(10.0));
    let names: BTreeSet<String> = std::fs::read_dir(&d.dir.0)
        .expect("list temp dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    // The socket's `.children` journal is the daemon's own (see README, "If
    // taskmaster itself is killed"): no output file.
    let expected: BTreeSet<String> = [
        "taskmaster.yaml",
        "taskmaster.log",
        "taskmaster.sock",
        "taskmaster.sock.children",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        names, expected,
        "no output file may be created for discarded streams"
    );
    assert_eq!(d.instance("p")["state"], "RUNNING");
    assert_eq!(d.finish(secs(20.0)), 0);
}

/// Checks `buf`, read from stream offset `at`, against the pattern byte i = i % 251.
fn check_pattern(buf: &[u8], at: u64) {
    for (k, &b) in buf.iter().enumerate() {
        let i = at + k as u64;
        assert_eq!(b, (i % 251) as u8, "byte {i} of the flood file is wrong");
    }
}

fn read_at(f: &mut File, at: u64, len: usize) -> Vec<u8> {
    f.seek(SeekFrom::Start(at)).expect("seek flood file");
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf).expect("read flood file");
    buf
}

#[test]
fn one_gib_flood_lands_whole_and_status_stays_responsive() {
    const TOTAL: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    let mut d = Daemon::start(
        "out-flood",
        "programs:\n  flood:\n    cmd: TESTPROG flood 1G\n    autorestart: never\n    starttime: 0\n    stdout: flood.out\n",
    );
    let begun = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut replies = 0u32;
    let last = loop {
        let t = Instant::now();
        let i = d.instance("flood");
        let took = t.elapsed();
        replies += 1;
        slowest = slowest.max(took);
        // A flood never blocks the control path: generous, so a loaded machine
        // cannot fail it, yet far below a blocked daemon's forever.
        assert!(
            took < secs(10.0),
            "status took {took:?} while flooding (reply {replies})"
        );
        if i["state"] == "EXITED" {
            break i;
        }
        assert!(
            begun.elapsed() < secs(180.0),
            "flood not finished after 180 s; last status: {i}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!(
        "flood: program exited after {:?}; {replies} status replies, slowest {slowest:?}",
        begun.elapsed()
    );
    assert_eq!(last["exitcode"], 0, "flood must exit 0: {last}");

    // The pump may still be draining the pipe when the child's exit is seen.
    let path = d.path("flood.out");
    let size = wait_for("flood file to reach 1 GiB", secs(120.0), || {
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        (len >= TOTAL).then_some(len)
    });
    assert_eq!(size, TOTAL, "flood file size");
    eprintln!("flood: file complete after {:?}", begun.elapsed());

    let mut f = File::open(&path).expect("open flood file");
    for at in [
        0,
        1,
        250,
        251,
        MIB - 7,
        64 * MIB + 3,
        512 * MIB + 13,
        777 * MIB + 101,
        TOTAL - 4 * MIB - 1,
    ] {
        check_pattern(&read_at(&mut f, at, 64 * 1024), at);
    }
    // The last MiB, in 64 KiB chunks.
    let mut at = TOTAL - MIB;
    while at < TOTAL {
        check_pattern(&read_at(&mut f, at, 64 * 1024), at);
        at += 64 * 1024;
    }
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).expect("read past end");
    assert!(tail.is_empty(), "nothing after 1 GiB");
    drop(f);

    assert_eq!(d.instance("flood")["state"], "EXITED");
    assert_eq!(d.finish(secs(20.0)), 0);
}

/// In a container the daemon's own output is a pipe (`docker logs`): a program's
/// `stdout: /dev/stdout` and the event log's `logfile: /dev/stdout` write into that
/// pipe (here, the test's), as supervisord's do. Anything else that is a FIFO is
/// still refused (`hostile_files`).
#[test]
fn dev_stdout_is_the_daemons_own_pipe() {
    let mut d = Daemon::start(
        "dev-stdout",
        "taskmaster:\n  logfile: /dev/stdout\nprograms:\n  hi:\n    cmd: TESTPROG print hello-from-child\n    starttime: 0\n    stdout: /dev/stdout\n",
    );
    d.wait_line(0, "the child's line", secs(10.0), |l| {
        l.ends_with("hello-from-child")
    });
    d.wait_line(0, "the event log's line", secs(10.0), |l| {
        l.contains("INFO  spawned: 'hi' with pid")
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}
