//! Upgrade in place (README: Upgrading in place): `taskmasterctl upgrade [PATH]`
//! and SIGUSR2 re-execute taskmaster in the same process. Every process keeps
//! its pid and stays the daemon's child, no byte of its output is lost, states,
//! restart counts and uptimes stay, the socket keeps its path, attached clients
//! are told to attach again, and a failed upgrade leaves the daemon as it was.

mod failures;
mod features;
mod waiting;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::attach::term::Term;
use crate::common::*;
use crate::control::support::{connect, ctl, read_reply, Out};

/// `taskmasterctl upgrade [PATH]`.
pub fn upgrade(socket: &Path, binary: Option<&Path>) -> Out {
    let mut args = vec!["upgrade"];
    let path;
    if let Some(b) = binary {
        path = b.to_str().expect("utf-8 path").to_string();
        args.push(&path);
    }
    ctl(socket, &args)
}

/// What must not change across an upgrade, per instance: everything `status`
/// says except what moves by itself (uptime, CPU, memory, and the description,
/// which shows the uptime of a running one).
pub fn lasting(status: &[Value]) -> BTreeMap<String, Value> {
    status
        .iter()
        .map(|i| {
            let mut kept = i.clone();
            for moving in ["uptime_s", "cpu_percent", "memory_bytes"] {
                kept[moving] = Value::Null;
            }
            if matches!(i["state"].as_str(), Some("RUNNING" | "STARTING")) {
                kept["description"] = Value::Null;
            }
            (i["name"].as_str().unwrap_or_default().to_string(), kept)
        })
        .collect()
}

/// The daemon's children running programs, sorted.
fn program_children(daemon: i32) -> Vec<i32> {
    let mut pids = program_children_of(daemon);
    pids.sort_unstable();
    pids
}

/// The running instances' pids in `status`, sorted.
fn status_pids(status: &[Value]) -> Vec<i32> {
    let mut pids: Vec<i32> = status
        .iter()
        .filter_map(|i| i["pid"].as_i64().map(|p| p as i32))
        .collect();
    pids.sort_unstable();
    pids
}

/// Waits until the daemon has exactly one spawn helper child and no zombie:
/// the old helper ended and was reaped.
fn wait_one_helper(daemon: i32) {
    wait_for("the old spawn helper reaped", secs(10.0), || {
        let children = children_of(daemon);
        let helpers = children.iter().filter(|&&p| is_spawn_helper(p)).count();
        let zombies = children.iter().filter(|&&p| zombie(p)).count();
        (helpers == 1 && zombies == 0).then_some(())
    });
}

const FIFTY: &str = "
programs:
  sleeper:
    cmd: TESTPROG sleep
    numprocs: 42
    starttime: 0
  talker:
    cmd: TESTPROG chatty
    starttime: 0
    stdout: DIR/talker.out
  tty:
    cmd: TESTPROG echo
    pty: true
    starttime: 0
  pour:
    cmd: TESTPROG pour DIR/pour.count
    starttime: 0
    stdout: DIR/pour.out
  pour-tty:
    cmd: TESTPROG pour DIR/pour-tty.count
    pty: true
    starttime: 0
    stdout: DIR/pour-tty.out
  greeter:
    cmd: TESTPROG print hello-before
    starttime: 0
  filed:
    cmd: TESTPROG print filed-before
    starttime: 0
    stdout: DIR/filed.out
  idle:
    cmd: TESTPROG sleep
    autostart: false
  broken:
    cmd: DIR/no-such-program
    startretries: 0
";

/// The issue's test: 50 instances (pipes, a pty, two flooding ones — one spliced
/// to its file, one through a pty and the pump's memory —, a stopped and a FATAL
/// one), upgraded twice: the same pids, still the daemon's children, every
/// byte the flooding one wrote in its file exactly once, `status` the same, and
/// an attached client told to attach again; what `tail` showed before (a ring
/// buffer, a file) it shows after.
#[test]
fn upgrade_twice_keeps_every_process_its_output_and_its_state() {
    let mut d = Daemon::start("upgrade-fifty", FIFTY);
    for name in [
        "talker",
        "tty",
        "pour",
        "pour-tty",
        "sleeper:41",
        "greeter",
        "filed",
    ] {
        d.wait_state(name, "RUNNING", secs(20.0));
    }
    d.wait_state("broken", "FATAL", secs(20.0));
    let poured = |d: &Daemon| std::fs::metadata(d.path("pour.out")).map_or(0, |m| m.len());
    wait_for("pour's first bytes", secs(10.0), || {
        (poured(&d) > 0).then_some(())
    });
    for (name, line) in [("greeter", "hello-before"), ("filed", "filed-before")] {
        wait_for("the first output", secs(10.0), || {
            ctl(&d.socket(), &["tail", name])
                .stdout
                .contains(line)
                .then_some(())
        });
    }
    let before = d.status();
    assert_eq!(before.len(), 50, "{before:?}");
    assert_eq!(status_pids(&before), program_children(d.pid()));
    let mut attached = Term::attach(&d.socket(), "tty");
    let mark = attached.mark();

    for round in 1..=2 {
        let out = upgrade(&d.socket(), None);
        assert_eq!(out.code, 0, "upgrade {round}: {out:?}");
        assert!(
            out.stdout.contains("Upgraded") && out.stdout.contains("48 processes kept"),
            "upgrade {round}: {out:?}"
        );
        assert!(
            out.stdout.contains(&format!("pid {}", d.pid())),
            "upgrade {round}: {out:?}"
        );
        if round == 1 {
            attached.wait_text(mark, "upgrading in place: attach again", secs(10.0));
            let status = attached.wait_exit(secs(10.0));
            assert!(
                status.code().is_some(),
                "the client should exit: {status:?}"
            );
        }
        let after = d.status();
        assert_eq!(lasting(&after), lasting(&before), "upgrade {round}");
        assert_eq!(
            status_pids(&after),
            program_children(d.pid()),
            "upgrade {round}"
        );
        for (b, a) in before.iter().zip(&after) {
            if let (Some(b), Some(a)) = (b["uptime_s"].as_f64(), a["uptime_s"].as_f64()) {
                assert!(
                    a >= b,
                    "upgrade {round}: an uptime went back from {b} to {a}"
                );
            }
        }
        wait_one_helper(d.pid());
    }

    for (name, line) in [("greeter", "hello-before"), ("filed", "filed-before")] {
        let tail = ctl(&d.socket(), &["tail", name]);
        assert!(
            tail.stdout.contains(line),
            "tail {name} after the upgrades: {tail:?}"
        );
    }
    // The programs still work: output still flows, the pty still answers, a
    // stop still stops.
    let talker = std::fs::metadata(d.path("talker.out")).map_or(0, |m| m.len());
    wait_for("the talker's output to grow", secs(10.0), || {
        (std::fs::metadata(d.path("talker.out")).map_or(0, |m| m.len()) > talker).then_some(())
    });
    let mut again = Term::attach(&d.socket(), "tty");
    let mark = again.mark();
    again.keys(b"still here\r");
    again.wait_text(mark, "still here", secs(10.0));
    drop(again);
    for name in ["pour", "pour-tty"] {
        d.command_expect(
            &format!("stop {name}"),
            &format!("{name}: stopped"),
            secs(20.0),
        );
        let count = d.path(&format!("{name}.count"));
        let count: u64 = wait_file(&count, secs(10.0), |t| !t.is_empty())
            .trim()
            .parse()
            .expect("pour's count");
        let poured = std::fs::read(d.path(&format!("{name}.out"))).expect("pour's file");
        assert_eq!(
            poured.len() as u64,
            count,
            "{name}: bytes in the file vs written"
        );
        if let Some(i) = (0..poured.len()).find(|&i| poured[i] != (i % 251) as u8) {
            panic!("{name}: byte {i} is {}, expected {}", poured[i], i % 251);
        }
    }
    d.finish(secs(30.0));
}

/// `upgrade PATH` runs another binary (here a copy of this build) in the same
/// process: /proc/PID/exe names the copy, the pids stay.
#[test]
fn upgrade_to_another_binary() {
    let mut d = Daemon::start(
        "upgrade-path",
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    numprocs: 3\n    starttime: 0\n",
    );
    d.wait_state("sleeper:2", "RUNNING", secs(10.0));
    let before = d.status();
    let copy = d.path("taskmaster-next");
    std::fs::copy(env!("CARGO_BIN_EXE_taskmaster"), &copy).expect("copy the binary");
    let out = upgrade(&d.socket(), Some(&copy));
    assert_eq!(out.code, 0, "{out:?}");
    let exe = std::fs::read_link(format!("/proc/{}/exe", d.pid())).expect("exe");
    assert_eq!(exe, copy);
    assert_eq!(lasting(&d.status()), lasting(&before));
    assert_eq!(status_pids(&before), program_children(d.pid()));
    d.finish(secs(20.0));
}

/// `upgrade` typed on the daemon's own input: the new daemon says it on its
/// output, and reads its commands from the same input.
#[test]
fn upgrade_from_the_daemons_own_input() {
    let mut d = Daemon::start(
        "upgrade-stdin",
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    let pid = d.wait_state("sleeper", "RUNNING", secs(10.0))["pid"].clone();
    let mark = d.mark();
    d.send("upgrade");
    d.wait_line(mark, "the new daemon's word", secs(20.0), |l| {
        l.contains("Upgraded: taskmaster") && l.contains("1 processes kept")
    });
    assert_eq!(d.instance("sleeper")["pid"], pid);
    d.finish(secs(20.0));
}

/// SIGUSR2 upgrades as `upgrade` does.
#[test]
fn sigusr2_upgrades_in_place() {
    let mut d = Daemon::start(
        "upgrade-usr2",
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    numprocs: 2\n    starttime: 0\n",
    );
    d.wait_state("sleeper:1", "RUNNING", secs(10.0));
    let before = d.status();
    d.signal(nix::libc::SIGUSR2);
    d.wait_log("the upgrade's end", secs(20.0), |log| {
        log.contains("Upgraded:") && log.contains("requested by SIGUSR2")
    });
    assert_eq!(lasting(&d.status()), lasting(&before));
    assert_eq!(status_pids(&before), program_children(d.pid()));
    wait_one_helper(d.pid());
    d.finish(secs(20.0));
}

/// A child that exits while no watcher looks (the upgrade holds, after every
/// watcher stopped) is reaped by the new process and restarted by its policy;
/// a client that connects meanwhile waits and is answered by the new daemon (the
/// old one, its instances stopped, could not have answered a `stop`).
#[test]
fn a_child_that_exits_during_the_upgrade_is_reaped_and_restarted() {
    let holds = TempDir::new("upgrade-exit-hold");
    let hold = holds.path("hold");
    std::fs::write(&hold, "").expect("hold file");
    let mut d = Daemon::start_with(
        "upgrade-exit",
        "programs:\n  dies:\n    cmd: TESTPROG sleep\n    starttime: 0\n    autorestart: always\n  other:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
        |c| {
            c.env("TASKMASTER_TEST_UPGRADE_HOLD", &hold);
        },
    );
    let old = d.wait_state("dies", "RUNNING", secs(10.0))["pid"]
        .as_i64()
        .expect("pid") as i32;
    let socket = d.socket();
    let upgrading = std::thread::spawn(move || upgrade(&socket, None));
    let held = holds.path("hold.held");
    wait_for("the upgrade to hold", secs(20.0), || {
        held.exists().then_some(())
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the child");
    wait_for("the child to be a zombie", secs(10.0), || {
        zombie(old).then_some(())
    });
    // Connected and sent before the upgrade goes on.
    let (mut asking, mut answer) = connect(&d.socket());
    asking
        .write_all(b"{\"command\": \"stop\", \"args\": [\"other\"]}\n")
        .expect("send stop");
    std::fs::remove_file(&hold).expect("release the upgrade");
    let out = upgrading.join().expect("upgrade thread");
    assert_eq!(out.code, 0, "{out:?}");
    let reply = read_reply(&mut answer);
    assert_eq!(reply["output"], "other: stopped", "{reply}");
    let i = poll_until(secs(20.0), Duration::from_millis(20), || {
        let i = d.instance("dies");
        (i["state"] == "RUNNING" && i["pid"].as_i64() != Some(old as i64)).then_some(i)
    })
    .expect("restarted with a new pid");
    assert_eq!(i["restarts"], 1, "{i}");
    assert!(!alive(old), "the old child was not reaped");
    let log = d.log();
    assert!(
        log.lines()
            .any(|l| l.contains("exited: dies (") && l.contains("SIGKILL")),
        "{log}"
    );
    d.finish(secs(20.0));
}

/// Used by `failures`: the daemon's descriptors that are not close-on-exec,
/// beyond 0-2 (after a failed upgrade: none).
pub fn inherited_fds(pid: i32) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let fd = e.file_name().to_string_lossy().to_string();
        if ["0", "1", "2"].contains(&fd.as_str()) {
            continue;
        }
        let info = std::fs::read_to_string(e.path()).unwrap_or_default();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok());
        if flags.is_some_and(|f| f & 0o2000000 == 0) {
            out.push(fd);
        }
    }
    out
}

/// The daemon's interactive shell on a terminal, upgraded by SIGUSR2 while it
/// waits at its prompt: the new daemon says so and gives a new prompt, takes
/// commands, and quits normally.
#[test]
fn the_interactive_shell_goes_on_after_an_upgrade() {
    use crate::shell::pty_daemon::PtyDaemon;
    let mut d = PtyDaemon::start(
        "upgrade-shell",
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    d.wait_prompt(0);
    d.run("status sleeper", "RUNNING");
    let mark = d.mark();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.pid()),
        nix::sys::signal::Signal::SIGUSR2,
    )
    .expect("SIGUSR2");
    let said = d.wait_text(mark, "Upgraded: taskmaster", secs(20.0));
    d.wait_prompt(said);
    let shown = d.run("status sleeper", "RUNNING");
    assert!(shown.contains("sleeper"), "{shown:?}");
    d.type_text("quit -y");
    d.keys("\r");
    assert_eq!(d.wait_exit(secs(20.0)), 0);
}
