//! `tail` of a group: each line prefixed with its instance (`web:0 | line`), and
//! `tail -f` merging whole lines of every instance followed.

use super::support::*;
use crate::common::*;

const LINES_YAML: &str = "programs:
  pool:
    cmd: TESTPROG lines 3
    numprocs: 2
    starttime: 0
  solo:
    cmd: TESTPROG print solo-text
    starttime: 0
";

#[test]
fn tail_of_a_group_prefixes_each_line_with_its_instance() {
    let mut d = Daemon::start("ctl-tail-group", LINES_YAML);
    let sock = d.socket();
    wait_running(&sock, &["pool:0", "pool:1", "solo"], secs(10.0));
    for name in ["pool:0", "pool:1"] {
        wait_for(&format!("{name}'s lines"), secs(10.0), || {
            ctl_ok(&sock, &["tail", name], 0)
                .contains("line 3")
                .then_some(())
        });
    }
    wait_for("solo's line", secs(10.0), || {
        (ctl_ok(&sock, &["tail", "solo"], 0) == "solo-text\n").then_some(())
    });

    let both = "pool:0 | line 1\npool:0 | line 2\npool:0 | line 3\n\
                pool:1 | line 1\npool:1 | line 2\npool:1 | line 3\n";
    for name in ["pool:*", "pool:", "pool"] {
        assert_eq!(ctl_ok(&sock, &["tail", name], 0), both, "tail {name}");
    }
    assert_eq!(
        ctl_ok(&sock, &["tail", "-n", "1", "pool"], 0),
        "pool:0 | line 3\npool:1 | line 3\n"
    );
    // One instance named on its own: its output as it is.
    assert_eq!(
        ctl_ok(&sock, &["tail", "pool:1"], 0),
        "line 1\nline 2\nline 3\n"
    );
    assert_eq!(ctl_ok(&sock, &["tail", "solo"], 0), "solo-text\n");
    // A one-instance program as a group, and every program.
    assert_eq!(ctl_ok(&sock, &["tail", "solo:*"], 0), "solo | solo-text\n");
    assert_eq!(
        ctl_ok(&sock, &["tail", "-n", "1"], 0),
        "pool:0 | line 3\npool:1 | line 3\nsolo | solo-text\n"
    );
    assert_eq!(
        ctl_ok(&sock, &["tail", "-n", "1", "all", "stderr"], 0),
        "",
        "nothing on stderr"
    );
    let out = ctl(&sock, &["tail", "nosuch:*"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "nosuch: ERROR (no such group)\n");
    assert_eq!(d.finish(secs(20.0)), 0);
}

/// Each instance writes 30 lines, each in two pieces with a pause between them (a
/// reader sees the halves apart), then a line without its end.
const TORN_YAML: &str = "programs:
  torn:
    cmd: sh -c 'i=0; while [ $i -lt 30 ]; do printf start-$i-; sleep 0.01; echo end; i=$((i+1)); done; printf last-partial; exec sleep 1000'
    numprocs: NUMPROCS
    starttime: 0
";

#[test]
fn tail_f_of_a_group_merges_whole_lines() {
    let mut d = Daemon::start("ctl-tailf-group", &TORN_YAML.replace("NUMPROCS", "2"));
    let sock = d.socket();
    wait_running(&sock, &["torn:0", "torn:1"], secs(10.0));
    let tail = CtlStream::start(&sock, &["tail", "-f", "-n", "100", "torn:*"]);

    // Every line whole, prefixed, nothing lost or repeated between the reply's
    // lines and the followed ones; the partial last line held back.
    let done = |lines: &[String]| {
        ["torn:0", "torn:1"]
            .iter()
            .all(|n| lines.contains(&format!("{n} | start-29-end")))
    };
    let lines = tail.wait("30 lines of each instance", secs(20.0), done);
    for name in ["torn:0", "torn:1"] {
        let prefix = format!("{name} | ");
        let mine: Vec<&String> = lines.iter().filter(|l| l.starts_with(&prefix)).collect();
        let expected: Vec<String> = (0..30).map(|i| format!("{prefix}start-{i}-end")).collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>(), "{lines:#?}");
    }
    assert_eq!(lines.len(), 60, "only whole lines: {lines:#?}");

    // An instance that goes away ends its part of the follow: its partial line
    // comes out then, whole; the other one goes on.
    std::fs::write(
        &d.config,
        expand(&TORN_YAML.replace("NUMPROCS", "1"), &d.dir.0),
    )
    .expect("rewrite config");
    ctl_ok(&sock, &["reload"], 0);
    let lines = tail.wait("torn:1's partial line", secs(20.0), |l| {
        l.iter().any(|l| l == "torn:1 | last-partial")
    });
    assert!(
        !lines.iter().any(|l| l.starts_with("torn:0 | last")),
        "{lines:#?}"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn tail_f_without_a_name_follows_every_program() {
    let mut d = Daemon::start(
        "ctl-tailf-all",
        "programs:
  alpha:
    cmd: TESTPROG quiet-until USR1
    starttime: 0
  beta:
    cmd: TESTPROG quiet-until USR1
    numprocs: 2
    starttime: 0
",
    );
    let sock = d.socket();
    wait_running(&sock, &["alpha", "beta:0", "beta:1"], secs(10.0));
    let tail = CtlStream::start(&sock, &["tail", "-f"]);
    // The follow is running once its connection thread waits on the instances.
    wait_for("the follow threads", secs(10.0), || {
        (threads_named(d.pid(), "control-follow") == 3).then_some(())
    });
    ctl_ok(&sock, &["signal", "USR1", "all"], 0);
    let lines = tail.wait("a line from each", secs(10.0), |l| l.len() >= 3);
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(sorted, ["alpha | woke", "beta:0 | woke", "beta:1 | woke"]);
    drop(tail);
    wait_for("the follow to end", secs(10.0), || {
        (threads_named(d.pid(), "control-follow") == 0).then_some(())
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}
