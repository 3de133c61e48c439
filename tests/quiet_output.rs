//! Children that print nothing or little get no pump thread (the watcher watches
//! their pipes and takes what trickles out); a child that fills a whole small
//! buffer at once gets one, and nothing is lost either way: not the first words of
//! a long-silent child, not what a grandchild writes after the child is gone, not a
//! descriptor.

use crate::common::*;

use std::collections::BTreeSet;

/// The names of the daemon's pump threads (`pump:NAME`).
fn pump_threads(pid: i32) -> BTreeSet<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return BTreeSet::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|c| c.trim_end().to_string())
        .filter(|c| c.starts_with("pump:"))
        .collect()
}

/// How many pipes the daemon holds open.
fn open_pipes(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("pipe:"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn quiet_children_get_a_pump_only_when_they_fill_a_buffer_at_once() {
    let big = "x".repeat(5000);
    let mut d = Daemon::start(
        "quiet-pumps",
        &format!(
            "programs:
  quiet:
    cmd: TESTPROG quiet-until USR1
    numprocs: 2
    starttime: 0
    stdout: DIR/quiet.out
    stderr: DIR/quiet.err
  talker:
    cmd: TESTPROG print hello
    starttime: 0
    stdout: DIR/talker.out
  big:
    cmd: TESTPROG print {big}
    starttime: 0
"
        ),
    );
    let daemon = d.pid();
    for name in ["quiet:0", "quiet:1", "talker", "big"] {
        d.wait_state(name, "RUNNING", secs(10.0));
    }
    wait_file(&d.path("talker.out"), secs(10.0), |t| t == "hello\n");
    // 5 000 bytes at once fill the watcher's small buffer: that child gets a pump,
    // and its line arrives whole.
    wait_for("big's pump thread", secs(10.0), || {
        pump_threads(daemon).contains("pump:big").then_some(())
    });
    let sock = d.socket();
    wait_for("big's line", secs(10.0), || {
        let out = crate::control::support::ctl_ok(&sock, &["tail", "big"], 0);
        (out == format!("{big}\n")).then_some(())
    });
    // The talker's line was taken by its watcher: no pump for it, nor the silent ones.
    let pumps = pump_threads(daemon);
    assert_eq!(pumps, BTreeSet::from(["pump:big".to_string()]));
    let pipes_running = open_pipes(daemon);

    // The first output of a long-silent child, on both streams, lands whole.
    d.command_expect("signal USR1 quiet:0", "quiet:0: signalled", secs(10.0));
    wait_file(&d.path("quiet.out"), secs(10.0), |t| t == "woke\n");
    wait_file(&d.path("quiet.err"), secs(10.0), |t| t == "woke-err\n");
    let pumps = pump_threads(daemon);
    assert_eq!(
        pumps,
        BTreeSet::from(["pump:big".to_string()]),
        "a line needs no pump"
    );

    // Stopping closes every pipe: the pumped ones at their end of stream, the
    // others by the watcher when the child is reaped. Each instance held 2 (its
    // stdout and stderr: the child holds its own stdin pipe).
    d.command_expect("stop all", "talker: stopped", secs(10.0));
    for name in ["quiet:0", "quiet:1", "talker", "big"] {
        d.wait_state(name, "STOPPED", secs(10.0));
    }
    wait_for("the children's pipes to be closed", secs(10.0), || {
        (open_pipes(daemon) + 8 == pipes_running).then_some(())
    });
    wait_for("the pump threads to end", secs(10.0), || {
        pump_threads(daemon).is_empty().then_some(())
    });

    // A silent instance restarts as often as asked without leaking anything.
    for _ in 0..5 {
        d.command_expect("start quiet:1", "quiet:1: started", secs(10.0));
        d.command_expect("stop quiet:1", "quiet:1: stopped", secs(10.0));
    }
    assert_eq!(
        open_pipes(daemon) + 8,
        pipes_running,
        "pipes after 5 restarts"
    );
    assert!(
        pump_threads(daemon).is_empty(),
        "no pump for a silent child"
    );
    d.finish(secs(20.0));
}

#[test]
fn output_of_a_grandchild_after_the_silent_child_exited_is_kept() {
    // The grandchild ignores SIGTERM: the rest of a group gets the stop signal when
    // its leader exits, and SIGKILL only at `stoptime` (10 s), long after it spoke.
    let mut d = Daemon::start(
        "quiet-grandchild",
        "programs:
  parent:
    cmd: /bin/sh -c 'trap \"\" TERM; (sleep 0.3; echo late; echo late-err >&2) & exit 0'
    starttime: 0
    autorestart: never
    stdout: DIR/parent.out
    stderr: DIR/parent.err
",
    );
    d.wait_state("parent", "EXITED", secs(10.0));
    // The watcher handed the still-open pipes to a pump when it reaped `sh`.
    wait_file(&d.path("parent.out"), secs(10.0), |t| t == "late\n");
    wait_file(&d.path("parent.err"), secs(10.0), |t| t == "late-err\n");
    d.finish(secs(20.0));
}
