//! `taskmasterctl top` on a pseudo-terminal, one-shot and from its interactive shell.

use super::*;
use crate::attach::term::{assert_modes, Term};

#[test]
fn ctl_top_sorts_follows_a_stop_resizes_and_restores_the_terminal() {
    let mut d = Daemon::start("top-ctl", THREE_YAML);
    wait_running(&mut d, &["big", "spin", "idle"]);
    let socket = d.socket();
    let mut t = Term::new();
    let before = t.modes();
    let mut e = Emulator::new(30, 100);
    t.spawn(&["-s", socket.to_str().expect("utf-8 path"), "top"]);

    // Sorted by CPU at first: the spinning one leads.
    let lines = e.wait(&t, "the three instances, spin first, idle's line", |l| {
        let names = table_names(l);
        names.len() == 3
            && names[0] == "spin"
            && row_of(l, "idle").is_some_and(|r| r.trim_end().ends_with("redhello"))
    });
    t.wait_uncooked();
    assert!(
        lines[0].starts_with(&format!("taskmaster pid {}, up ", d.pid())),
        "{lines:#?}"
    );
    assert!(
        lines[1].starts_with("3 instances: 3 running, 0 stopped, 0 fatal"),
        "{lines:#?}"
    );
    let idle = row_of(&lines, "idle").expect("idle's row");
    assert!(
        idle.contains("RUNNING") && idle.trim_end().ends_with("redhello"),
        "{idle:?}"
    );
    // The child's colour codes never reach the terminal.
    let red = b"\x1b[31m";
    assert!(
        !t.raw().windows(red.len()).any(|w| w == red),
        "a child's escape code was drawn"
    );

    t.keys("m");
    let lines = e.wait(&t, "big first by memory", |l| {
        table_names(l).first().map(String::as_str) == Some("big")
    });
    assert!(
        row_of(&lines, "big").is_some_and(|r| r.contains("MiB")),
        "{lines:#?}"
    );
    t.keys("n");
    e.wait(&t, "the rows by name", |l| {
        table_names(l) == ["big", "idle", "spin"]
    });
    t.keys("c");
    e.wait(&t, "spin first by CPU again", |l| {
        table_names(l).first().map(String::as_str) == Some("spin")
    });

    // Another client stops one: the next refresh shows it.
    let stop = ctl(&socket, &["stop", "idle"]);
    assert_eq!(stop.status.code(), Some(0), "{stop:?}");
    e.wait(&t, "idle STOPPED and counted", |l| {
        row_of(l, "idle").is_some_and(|r| r.contains("STOPPED"))
            && l[1].starts_with("3 instances: 2 running, 1 stopped")
    });

    // A smaller window: drawn again to its size, the footer on its last row.
    e.resize(&t, 20, 60);
    t.resize(20, 60);
    e.wait(&t, "the view redrawn at 20x60", |l| {
        l.len() == 20 && l[19].contains("q quit") && table_names(l) == ["spin", "big", "idle"]
    });

    t.keys("q");
    let status = t.wait_exit(secs(10.0));
    assert!(status.success(), "taskmasterctl top exited {status:?}");
    assert_modes("after top", &before, &t.modes());
    e.catch_up(&t);
    assert!(
        e.restored(),
        "the alternate screen is left and the cursor shown"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn top_in_the_ctl_shell_scrolls_and_gives_the_prompt_back() {
    let mut d = Daemon::start(
        "top-ctl-shell",
        "programs:\n  many:\n    cmd: TESTPROG sleep\n    numprocs: 40\n    starttime: 0\n",
    );
    wait_running(&mut d, &["many:0", "many:39"]);
    let socket = d.socket();
    // 20 rows: header 2, title 1, footer 1, so 16 instances at a time.
    let mut t = Term::new();
    set_size(&t, 20, 80);
    let mut e = Emulator::new(20, 80);
    t.spawn(&["-s", socket.to_str().expect("utf-8 path")]);
    let ready = t.wait_text(0, "taskmaster> ", secs(10.0));
    t.keys("top\r");
    t.wait_uncooked();
    e.wait(&t, "the first page", |l| table_names(l).len() == 16);
    t.keys("n");
    let first: Vec<String> = (0..16).map(|i| format!("many:{i}")).collect();
    let lines = e.wait(&t, "the first page by name", |l| table_names(l) == first);
    assert!(lines[19].contains("1-16 of 40"), "{lines:#?}");
    t.keys("\x1b[B"); // Down
    e.wait(&t, "one row further", |l| {
        table_names(l).first().map(String::as_str) == Some("many:1")
    });
    t.keys("\x1b[6~"); // PgDn
    e.wait(&t, "a page further", |l| {
        table_names(l).first().map(String::as_str) == Some("many:17")
    });
    t.keys("\x1b[6~");
    let lines = e.wait(&t, "the last page, full", |l| {
        table_names(l).last().map(String::as_str) == Some("many:39")
    });
    assert_eq!(table_names(&lines).len(), 16, "{lines:#?}");
    assert!(lines[19].contains("25-40 of 40"), "{lines:#?}");
    t.keys("\x1b[5~"); // PgUp
    e.wait(&t, "a page back", |l| {
        table_names(l).first().map(String::as_str) == Some("many:8")
    });
    t.keys("\x1b[A"); // Up
    e.wait(&t, "a row back", |l| {
        table_names(l).first().map(String::as_str) == Some("many:7")
    });

    // q: the shell's prompt again, and it works.
    let mark = t.mark();
    t.keys("q");
    t.wait_text(mark.max(ready), "taskmaster> ", secs(10.0));
    e.catch_up(&t);
    assert!(
        e.restored(),
        "the alternate screen is left and the cursor shown"
    );
    let mark = t.mark();
    t.keys("version\r");
    t.wait_text(mark, env!("CARGO_PKG_VERSION"), secs(10.0));
    t.keys("quit\r");
    assert!(t.wait_exit(secs(10.0)).success());
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn ctl_top_ends_with_the_terminal_restored_when_the_daemon_goes_away() {
    let mut d = Daemon::start(
        "top-ctl-gone",
        "programs:\n  idle:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    wait_running(&mut d, &["idle"]);
    let socket = d.socket();
    let mut t = Term::new();
    let before = t.modes();
    let mut e = Emulator::new(30, 100);
    t.spawn(&["-s", socket.to_str().expect("utf-8 path"), "top"]);
    e.wait(&t, "the view", |l| table_names(l) == ["idle"]);
    t.wait_uncooked();
    assert_eq!(d.finish(secs(20.0)), 0);
    // The next refresh finds no daemon: the view ends, says why, exits 1.
    let status = t.wait_exit(secs(10.0));
    assert_eq!(status.code(), Some(1), "{:?}", t.text());
    assert_modes("after the daemon went away", &before, &t.modes());
    // Said once the terminal was given back: what came before it is all in.
    t.wait_text(0, "taskmasterctl: top: ", secs(10.0));
    e.catch_up(&t);
    assert!(
        e.restored(),
        "the alternate screen is left and the cursor shown"
    );
}
