//! Child-log rotation (issue 8): `stdout_maxbytes` / `stdout_backups` rotate the
//! output file by renaming it `.1`, `.2`… before it would pass its size, and no
//! byte of the program's output is lost.

use crate::common::*;

#[test]
fn stdout_rotates_and_every_line_survives() {
    let mut d = Daemon::start(
        "rotation",
        "programs:\n  chat:\n    cmd: TESTPROG lines 400 0.001\n    starttime: 0\n    autorestart: never\n    stdout: out.log\n    stdout_maxbytes: 1KB\n    stdout_backups: 50\n",
    );
    let expected: String = (1..=400).map(|n| format!("line {n}\n")).collect();
    let out = d.path("out.log");
    let collected = |d: &Daemon| {
        let mut all = String::new();
        for n in (1..=50).rev() {
            all.push_str(&read(&d.path(&format!("out.log.{n}"))));
        }
        all + &read(&out)
    };
    wait_for("all 400 lines across the rotated files", secs(20.0), || {
        (collected(&d) == expected).then_some(())
    });
    assert!(d.path("out.log.2").exists(), "rotated more than once");
    assert_eq!(d.finish(secs(20.0)), 0);
}
