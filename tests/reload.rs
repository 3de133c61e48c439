//! Reload (SPEC §7) on a real daemon: programs added and removed, launch fields that
//! restart only their own program, policy fields applied in place, numprocs scaled with
//! survivors keeping their pids, invalid files that change nothing, reloads during
//! BACKOFF and STOPPING, and SIGHUP (once, and in a burst of 50).
//!
//! No test sleeps blindly: each waits for a condition with a deadline, or asserts that a
//! condition holds for a stretch of time (`assert_stays`). The only fixed pause is the
//! ~20 ms gap between the signals of the SIGHUP burst, which is the stimulus itself.

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

// ---- helpers --------------------------------------------------------------------------

/// One program's block: `lines` are its fields (`key: value`); `starttime: 0.2` and
/// `stoptime: 0.5` unless `lines` set them.
fn prog(name: &str, lines: &[&str]) -> String {
    let mut out = format!("  {name}:\n");
    for l in lines {
        out.push_str(&format!("    {l}\n"));
    }
    for (key, default) in [("starttime", "0.2"), ("stoptime", "0.5")] {
        if !lines.iter().any(|l| l.starts_with(&format!("{key}:"))) {
            out.push_str(&format!("    {key}: {default}\n"));
        }
    }
    out
}

/// A whole config file made of program blocks.
fn config(programs: &[String]) -> String {
    format!("programs:\n{}", programs.concat())
}

/// Rewrites the daemon's config file (with the harness's TESTPROG/DIR substitution),
/// atomically, so a reload never reads a half-written file.
fn write_config(d: &Daemon, yaml: &str) {
    let text = yaml
        .replace("TESTPROG", TESTPROG)
        .replace("DIR", d.dir.0.to_str().expect("utf-8 temp dir"));
    let tmp = d.path("taskmaster.yaml.tmp");
    std::fs::write(&tmp, text).expect("write new config");
    std::fs::rename(&tmp, &d.config).expect("replace config");
}

/// Sends `reload` on stdin and returns its reply lines. A `pid` command sent right
/// after marks the end of the reply (stdin commands run one after the other).
fn reload(d: &mut Daemon) -> Vec<String> {
    let mark = d.mark();
    d.send("reload");
    d.send("pid");
    let me = d.pid().to_string();
    d.wait_line(mark, "the reply to reload", secs(30.0), |l| l == me);
    let lines = d.lines.lock().unwrap();
    let end = mark
        + lines[mark..]
            .iter()
            .position(|l| *l == me)
            .expect("pid line");
    lines[mark..end].to_vec()
}

/// Sends one request over the control socket and returns the parsed reply.
fn ctl(d: &Daemon, command: &str, args: &[&str]) -> Value {
    let mut stream = UnixStream::connect(d.socket()).expect("connect to the control socket");
    stream
        .set_read_timeout(Some(secs(30.0)))
        .expect("socket timeout");
    let request = serde_json::json!({ "command": command, "args": args });
    writeln!(stream, "{request}").expect("send request");
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .expect("read reply");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply {line:?} is not JSON: {e}"))
}

/// `status --json` over the socket (usable while a stdin command is still running).
fn ctl_status(d: &Daemon) -> Vec<Value> {
    match &ctl(d, "status", &["--json"])["data"] {
        Value::Array(items) => items.clone(),
        other => panic!("status --json over the socket has no data array: {other}"),
    }
}

fn state(i: &Value) -> &str {
    i["state"].as_str().unwrap_or("?")
}

fn pid(i: &Value) -> Option<i32> {
    i["pid"].as_i64().map(|p| p as i32)
}

/// Every instance: name -> (state, pid).
fn snapshot(d: &mut Daemon) -> BTreeMap<String, (String, Option<i32>)> {
    d.status()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().expect("name").to_string(),
                (state(i).to_string(), pid(i)),
            )
        })
        .collect()
}

/// The pids of the instances of `program` (`NAME` or `NAME:K`), by instance name.
fn pids_of(d: &mut Daemon, program: &str) -> BTreeMap<String, i32> {
    d.status()
        .iter()
        .filter(|i| i["program"] == program)
        .map(|i| {
            let name = i["name"].as_str().expect("name").to_string();
            let p = pid(i).unwrap_or_else(|| panic!("{name} has no pid: {i}"));
            (name, p)
        })
        .collect()
}

/// Waits until the instances are exactly `names`, all RUNNING; returns their pids.
fn wait_running(d: &mut Daemon, names: &[&str], timeout: Duration) -> BTreeMap<String, i32> {
    let want: BTreeSet<String> = names.iter().map(|s| s.to_string()).collect();
    let deadline = Instant::now() + timeout;
    loop {
        let status = d.status();
        let have: BTreeSet<String> = status
            .iter()
            .map(|i| i["name"].as_str().unwrap_or("?").to_string())
            .collect();
        if have == want && status.iter().all(|i| state(i) == "RUNNING") {
            return status
                .iter()
                .map(|i| (i["name"].as_str().unwrap().to_string(), pid(i).unwrap()))
                .collect();
        }
        if Instant::now() > deadline {
            let seen: Vec<String> = status
                .iter()
                .map(|i| format!("{} {} {}", i["name"], state(i), i["pid"]))
                .collect();
            panic!("timed out waiting for exactly {want:?} RUNNING; last status: {seen:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that `f` stays true for `how_long` (checked every 20 ms).
fn assert_stays(what: &str, how_long: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + how_long;
    loop {
        assert!(f(), "{what} did not hold for {how_long:?}");
        if Instant::now() >= end {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a `report FILE` written by process `pid`; returns the report.
fn wait_report(path: &Path, pid: i32) -> Value {
    wait_for(
        &format!("a report by pid {pid} in {}", path.display()),
        secs(10.0),
        || {
            let r: Value = serde_json::from_str(&read(path)).ok()?;
            (r["pid"].as_i64() == Some(i64::from(pid))).then_some(r)
        },
    )
}

/// Number of spawns a `stamp FILE` program recorded.
fn stamps(path: &Path) -> usize {
    read(path).lines().count()
}

/// A reply holds a config error naming the config file and a line number.
fn names_file_and_line(reply: &[String], config: &Path) -> bool {
    let prefix = format!("{}:", config.display());
    reply.iter().any(|l| {
        l.find(&prefix).is_some_and(|at| {
            l[at + prefix.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
    })
}

// ---- 1. added programs ----------------------------------------------------------------

#[test]
fn added_program_starts_per_autostart() {
    let keep = prog("keep", &["cmd: TESTPROG sleep"]);
    let mut d = Daemon::start("reload-add", &config(std::slice::from_ref(&keep)));
    let before = wait_running(&mut d, &["keep"], secs(10.0));

    write_config(
        &d,
        &config(&[
            keep,
            prog("web", &["cmd: TESTPROG sleep"]),
            prog("lazy", &["cmd: TESTPROG sleep", "autostart: false"]),
        ]),
    );
    assert_eq!(reload(&mut d), ["lazy: added", "web: added"]);

    let web = d.wait_state("web", "RUNNING", secs(10.0));
    assert!(alive(pid(&web).expect("web pid")));
    let lazy = d.instance("lazy");
    assert_eq!(state(&lazy), "STOPPED", "autostart: false: {lazy}");
    assert_eq!(lazy["pid"], Value::Null);
    assert_eq!(pids_of(&mut d, "keep"), before, "keep was touched");
    d.wait_log("the reload lines in the event log", secs(5.0), |log| {
        log.contains("reload: lazy: added")
            && log.contains("reload: web: added")
            && log.contains("reload applied: 2 added, 0 removed, 0 changed, 1 unchanged")
    });

    // The added program is a full citizen: it starts on demand.
    d.command_expect("start lazy", "lazy: started", secs(10.0));
    assert_eq!(state(&d.instance("lazy")), "RUNNING");
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 2. removed programs --------------------------------------------------------------

#[test]
fn removed_program_is_stopped_gracefully_and_forgotten() {
    let keep = prog("keep", &["cmd: TESTPROG sleep"]);
    let gone = prog(
        "gone",
        &[
            "cmd: TESTPROG trap TERM",
            "numprocs: 2",
            "stdout: DIR/gone.out",
            "stoptime: 5",
        ],
    );
    let mut d = Daemon::start("reload-remove", &config(&[keep.clone(), gone]));
    let all = wait_running(&mut d, &["keep", "gone:0", "gone:1"], secs(10.0));
    let out = d.path("gone.out");
    wait_for("both gone instances ready", secs(5.0), || {
        (read(&out).matches("ready").count() == 2).then_some(())
    });

    write_config(&d, &config(&[keep]));
    assert_eq!(reload(&mut d), ["gone: removed"]);

    // The reply comes once the removed instances are stopped.
    for name in ["gone:0", "gone:1"] {
        assert!(!alive(all[name]), "{name} (pid {}) still alive", all[name]);
    }
    // Gracefully: each got its stopsignal and exited on it.
    assert_eq!(
        read(&out).matches("got SIGTERM").count(),
        2,
        "{}",
        read(&out)
    );
    let names: Vec<String> = snapshot(&mut d).into_keys().collect();
    assert_eq!(names, ["keep"]);
    assert_eq!(d.pid_of("keep"), all["keep"], "keep was touched");
    d.wait_log("the reload lines in the event log", secs(5.0), |log| {
        log.contains("reload: gone: removed")
            && log.contains("reload applied: 0 added, 1 removed, 0 changed, 1 unchanged")
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 3. unchanged programs keep their pids --------------------------------------------

#[test]
fn unchanged_programs_keep_their_pids_across_reloads() {
    let keep = prog("keep", &["cmd: TESTPROG sleep", "numprocs: 2"]);
    let other = |v: &str| {
        prog(
            "other",
            &["cmd: TESTPROG sleep", &format!("env: {{V: {v}}}")],
        )
    };
    let a = config(&[keep.clone(), other("a")]);
    let b = config(&[keep, other("b")]);
    let mut d = Daemon::start("reload-keep", &a);
    let first = wait_running(&mut d, &["keep:0", "keep:1", "other"], secs(10.0));
    let keep_pids = pids_of(&mut d, "keep");

    let mut other_pids = BTreeSet::from([first["other"]]);
    for round in 0..10 {
        write_config(&d, if round % 2 == 0 { &b } else { &a });
        assert_eq!(
            reload(&mut d),
            ["other: restarted (env changed)"],
            "round {round}"
        );
        assert_eq!(pids_of(&mut d, "keep"), keep_pids, "round {round}");
        let p = d.pid_of("other");
        assert!(other_pids.insert(p), "round {round}: other kept pid {p}");
    }

    let now = wait_running(&mut d, &["keep:0", "keep:1", "other"], secs(10.0));
    for round in 0..10 {
        assert_eq!(
            reload(&mut d),
            ["No config updates to processes"],
            "identical file, round {round}"
        );
        assert_eq!(snapshot(&mut d).len(), 3);
        for (name, p) in &now {
            assert_eq!(d.pid_of(name), *p, "{name} after identical reload {round}");
        }
    }
    for p in keep_pids.values() {
        assert!(alive(*p));
    }
    d.wait_log("a no-op reload summary", secs(5.0), |log| {
        log.contains("reload applied: 0 added, 0 removed, 0 changed, 2 unchanged")
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 4. launch fields -----------------------------------------------------------------

/// The `subj` program of the launch-field test.
struct Subj<'a> {
    cmd: &'a str,
    v: &'a str,
    wd: &'a str,
    umask: &'a str,
    out: &'a str,
}

impl Subj<'_> {
    fn block(&self) -> String {
        prog(
            "subj",
            &[
                &format!("cmd: {}", self.cmd),
                &format!("env: {{V: {}}}", self.v),
                &format!("workingdir: {}", self.wd),
                &format!("umask: \"{}\"", self.umask),
                &format!("stdout: {}", self.out),
            ],
        )
    }
}

#[test]
fn launch_field_change_restarts_only_that_program() {
    let other = prog("other", &["cmd: TESTPROG sleep", "numprocs: 2"]);
    let idle = |file: &str| {
        prog(
            "idle",
            &[
                &format!("cmd: TESTPROG report DIR/{file}"),
                "autostart: false",
            ],
        )
    };
    let mut s = Subj {
        cmd: "TESTPROG report DIR/r1.json",
        v: "one",
        wd: "DIR",
        umask: "022",
        out: "DIR/out1.log",
    };
    let yaml = |s: &Subj, idle_file: &str| config(&[other.clone(), s.block(), idle(idle_file)]);
    let mut d = Daemon::start("reload-launch", &yaml(&s, "idle1.json"));
    for name in ["other:0", "other:1", "subj"] {
        d.wait_state(name, "RUNNING", secs(10.0));
    }
    assert_eq!(state(&d.instance("idle")), "STOPPED");
    let other_pids = pids_of(&mut d, "other");
    let first = d.pid_of("subj");
    let r = wait_report(&d.path("r1.json"), first);
    assert_eq!(r["env"]["V"], "one");
    assert!(d.path("out1.log").exists());

    // One reload: the reply, new pid for subj only, the old one gone; returns the
    // report of the new process.
    let mut current = first;
    let mut step = |d: &mut Daemon, s: &Subj, field: &str, report: &str| -> Value {
        write_config(d, &yaml(s, "idle1.json"));
        assert_eq!(reload(d), [format!("subj: restarted ({field} changed)")]);
        let new = pid(&d.wait_state("subj", "RUNNING", secs(10.0))).expect("subj pid");
        assert_ne!(new, current, "{field} changed but subj kept its pid");
        assert!(!alive(current), "old subj (pid {current}) still alive");
        assert_eq!(
            pids_of(d, "other"),
            other_pids,
            "{field}: other was touched"
        );
        assert_eq!(state(&d.instance("idle")), "STOPPED");
        current = new;
        wait_report(&d.path(report), new)
    };

    s.cmd = "TESTPROG report DIR/r2.json";
    let r = step(&mut d, &s, "cmd", "r2.json");
    assert_eq!(r["argv"][2], d.path("r2.json").to_str().unwrap());

    s.v = "two";
    let r = step(&mut d, &s, "env", "r2.json");
    assert_eq!(r["env"]["V"], "two");

    std::fs::create_dir(d.path("w2")).expect("mkdir w2");
    s.wd = "DIR/w2";
    let r = step(&mut d, &s, "workingdir", "r2.json");
    let w2 = d.path("w2").canonicalize().unwrap();
    assert_eq!(r["cwd"], w2.to_str().unwrap());

    s.umask = "077";
    let r = step(&mut d, &s, "umask", "r2.json");
    assert_eq!(r["umask"], "077");

    assert!(!d.path("out2.log").exists());
    s.out = "DIR/out2.log";
    let r = step(&mut d, &s, "stdout", "r2.json");
    assert!(
        d.path("out2.log").exists(),
        "no file at the new stdout path"
    );
    // Everything set before is still in force.
    assert_eq!(r["env"]["V"], "two");
    assert_eq!(r["cwd"], w2.to_str().unwrap());
    assert_eq!(r["umask"], "077");

    // Two launch fields at once, and a stopped program that only takes the new spec.
    s.cmd = "TESTPROG report DIR/r3.json";
    s.v = "three";
    write_config(&d, &yaml(&s, "idle2.json"));
    assert_eq!(
        reload(&mut d),
        [
            "idle: updated (cmd changed; nothing was running)",
            "subj: restarted (cmd, env changed)"
        ]
    );
    let new = pid(&d.wait_state("subj", "RUNNING", secs(10.0))).unwrap();
    assert_ne!(new, current);
    assert_eq!(wait_report(&d.path("r3.json"), new)["env"]["V"], "three");
    assert_eq!(state(&d.instance("idle")), "STOPPED");
    assert!(!d.path("idle1.json").exists() && !d.path("idle2.json").exists());
    d.command_expect("start idle", "idle: started", secs(10.0));
    wait_report(&d.path("idle2.json"), d.pid_of("idle"));
    assert!(!d.path("idle1.json").exists());
    assert_eq!(pids_of(&mut d, "other"), other_pids);
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 5. policy fields -----------------------------------------------------------------

#[test]
fn policy_field_changes_are_applied_in_place() {
    const BASE: [(&str, &str); 6] = [
        ("autorestart", "unexpected"),
        ("exitcodes", "[0]"),
        ("startretries", "3"),
        ("starttime", "0.2"),
        ("stopsignal", "TERM"),
        ("stoptime", "0.5"),
    ];
    const NEW: [&str; 6] = ["always", "[0, 2]", "7", "0.3", "INT", "0.7"];
    let pol = |values: &[&str], autostart: bool| {
        let mut lines = vec![
            "cmd: TESTPROG sleep".to_string(),
            "numprocs: 2".to_string(),
            format!("autostart: {autostart}"),
        ];
        for ((key, _), v) in BASE.iter().zip(values) {
            lines.push(format!("{key}: {v}"));
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        config(&[prog("pol", &refs), prog("keep", &["cmd: TESTPROG sleep"])])
    };
    let base: Vec<&str> = BASE.iter().map(|(_, v)| *v).collect();
    let mut d = Daemon::start("reload-policy", &pol(&base, true));
    let pids = wait_running(&mut d, &["pol:0", "pol:1", "keep"], secs(10.0));

    // Each policy field alone, cumulatively.
    let mut values = base.clone();
    for (k, (key, _)) in BASE.iter().enumerate() {
        values[k] = NEW[k];
        write_config(&d, &pol(&values, true));
        assert_eq!(
            reload(&mut d),
            [format!("pol: updated in place ({key} changed)")]
        );
        for (name, p) in &pids {
            let i = d.instance(name);
            assert_eq!(pid(&i), Some(*p), "{key} changed: {name} was touched");
            assert_eq!(state(&i), "RUNNING");
        }
    }
    // All of them back at once, then autostart.
    write_config(&d, &pol(&base, true));
    assert_eq!(
        reload(&mut d),
        ["pol: updated in place (autorestart, exitcodes, startretries, starttime, stopsignal, stoptime changed)"]
    );
    write_config(&d, &pol(&base, false));
    assert_eq!(
        reload(&mut d),
        ["pol: updated in place (autostart changed)"]
    );
    assert_eq!(
        wait_running(&mut d, &["pol:0", "pol:1", "keep"], secs(1.0)),
        pids
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn new_exitcodes_stopsignal_and_stoptime_are_in_force() {
    let ex = |codes: &str| {
        prog(
            "ex",
            &[
                "cmd: TESTPROG stamp DIR/ex.stamps then exit 3 1.0",
                "autorestart: unexpected",
                &format!("exitcodes: {codes}"),
            ],
        )
    };
    let sig = |signal: &str| {
        prog(
            "sig",
            &[
                "cmd: TESTPROG trap USR1",
                "stdout: DIR/sig.out",
                &format!("stopsignal: {signal}"),
                "stoptime: 5",
            ],
        )
    };
    let stubborn = |stoptime: &str| {
        prog(
            "stubborn",
            &[
                "cmd: TESTPROG ignore-term",
                &format!("stoptime: {stoptime}"),
            ],
        )
    };
    let mut d = Daemon::start(
        "reload-policy-force",
        &config(&[ex("[0]"), sig("TERM"), stubborn("30")]),
    );
    let stamp_file = d.path("ex.stamps");

    // exitcodes [0]: exit 3 is unexpected, so ex is restarted...
    wait_for("ex restarted after an unexpected exit", secs(10.0), || {
        (stamps(&stamp_file) >= 2).then_some(())
    });
    // ...then, right after a fresh spawn (a second before its exit 3), exit 3
    // becomes expected.
    let n = stamps(&stamp_file);
    let n = wait_for("a fresh ex spawn", secs(5.0), || {
        let now = stamps(&stamp_file);
        (now > n).then_some(now)
    });
    write_config(&d, &config(&[ex("[3]"), sig("TERM"), stubborn("30")]));
    assert_eq!(reload(&mut d), ["ex: updated in place (exitcodes changed)"]);
    let i = d.wait_state("ex", "EXITED", secs(5.0));
    assert_eq!(i["exitcode"], 3, "{i}");
    assert_stays("ex EXITED, not restarted", secs(1.5), || {
        stamps(&stamp_file) == n && state(&d.instance("ex")) == "EXITED"
    });

    // stopsignal TERM -> USR1: `stop` now sends USR1, which the trap reports.
    let sig_pid = pid(&d.wait_state("sig", "RUNNING", secs(10.0))).unwrap();
    let out = d.path("sig.out");
    wait_for("sig ready", secs(5.0), || {
        read(&out).contains("ready").then_some(())
    });
    write_config(&d, &config(&[ex("[3]"), sig("USR1"), stubborn("30")]));
    assert_eq!(
        reload(&mut d),
        ["sig: updated in place (stopsignal changed)"]
    );
    assert_eq!(d.pid_of("sig"), sig_pid);
    d.command_expect("stop sig", "sig: stopped", secs(10.0));
    assert!(
        read(&out).contains("got SIGUSR1"),
        "sig.out: {}",
        read(&out)
    );
    let i = d.instance("sig");
    assert_eq!(
        (state(&i), &i["exitcode"]),
        ("STOPPED", &Value::from(0)),
        "{i}"
    );

    // stoptime 30 -> 0.3: a program ignoring SIGTERM is killed after 0.3 s.
    let stubborn_pid = pid(&d.wait_state("stubborn", "RUNNING", secs(10.0))).unwrap();
    write_config(&d, &config(&[ex("[3]"), sig("USR1"), stubborn("0.3")]));
    assert_eq!(
        reload(&mut d),
        ["stubborn: updated in place (stoptime changed)"]
    );
    assert_eq!(d.pid_of("stubborn"), stubborn_pid);
    let t0 = Instant::now();
    d.command_expect("stop stubborn", "stubborn: stopped", secs(10.0));
    let took = t0.elapsed();
    assert!(
        took < secs(5.0),
        "stop took {took:?}: the old stoptime 30 rules"
    );
    assert!(!alive(stubborn_pid));
    assert_eq!(d.instance("stubborn")["signal"], "SIGKILL");
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 6. numprocs ----------------------------------------------------------------------

#[test]
fn numprocs_scaling_keeps_survivors() {
    let yaml = |n: u32, stoptime: &str| {
        config(&[
            prog(
                "pool",
                &[
                    "cmd: TESTPROG sleep",
                    &format!("numprocs: {n}"),
                    &format!("stoptime: {stoptime}"),
                ],
            ),
            prog("keep", &["cmd: TESTPROG sleep"]),
        ])
    };
    let mut d = Daemon::start("reload-scale", &yaml(2, "0.5"));
    let p2 = wait_running(&mut d, &["keep", "pool:0", "pool:1"], secs(10.0));

    // 2 -> 4: pool:0 and pool:1 keep their pids, pool:2 and pool:3 are new.
    write_config(&d, &yaml(4, "0.5"));
    assert_eq!(reload(&mut d), ["pool: scaled 2 -> 4"]);
    let p4 = wait_running(
        &mut d,
        &["keep", "pool:0", "pool:1", "pool:2", "pool:3"],
        secs(10.0),
    );
    for name in ["keep", "pool:0", "pool:1"] {
        assert_eq!(p4[name], p2[name], "{name} changed pid");
    }
    let all: BTreeSet<i32> = p4.values().copied().collect();
    assert_eq!(all.len(), 5, "pids not distinct: {p4:?}");

    // 4 -> 1: `pool` is the old pool:0; the three others are stopped and gone.
    write_config(&d, &yaml(1, "0.5"));
    assert_eq!(reload(&mut d), ["pool: scaled 4 -> 1"]);
    for name in ["pool:1", "pool:2", "pool:3"] {
        assert!(!alive(p4[name]), "{name} (pid {}) still alive", p4[name]);
    }
    let p1 = wait_running(&mut d, &["keep", "pool"], secs(10.0));
    assert_eq!(p1["pool"], p4["pool:0"]);
    assert_eq!(p1["keep"], p2["keep"]);

    // 1 -> 2: `pool` becomes pool:0 with the same pid.
    write_config(&d, &yaml(2, "0.5"));
    assert_eq!(reload(&mut d), ["pool: scaled 1 -> 2"]);
    let p = wait_running(&mut d, &["keep", "pool:0", "pool:1"], secs(10.0));
    assert_eq!(p["pool:0"], p4["pool:0"]);
    assert_eq!(p["keep"], p2["keep"]);
    assert!(!all.contains(&p["pool:1"]));

    // Scaling and a policy change together: one line, parts joined by ", ".
    write_config(&d, &yaml(3, "0.7"));
    assert_eq!(
        reload(&mut d),
        ["pool: scaled 2 -> 3, updated in place (stoptime changed)"]
    );
    let p3 = wait_running(&mut d, &["keep", "pool:0", "pool:1", "pool:2"], secs(10.0));
    for name in ["keep", "pool:0", "pool:1"] {
        assert_eq!(p3[name], p[name], "{name} changed pid");
    }
    d.wait_log("the scale lines in the event log", secs(5.0), |log| {
        log.contains("reload: pool: scaled 2 -> 4") && log.contains("reload: pool: scaled 4 -> 1")
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 7. invalid configs ---------------------------------------------------------------

#[test]
fn invalid_config_changes_nothing() {
    let keep = prog("keep", &["cmd: TESTPROG sleep"]);
    let pool = prog("pool", &["cmd: TESTPROG sleep", "numprocs: 2"]);
    let good = config(&[keep.clone(), pool.clone()]);
    let mut d = Daemon::start("reload-invalid", &good);
    wait_running(&mut d, &["keep", "pool:0", "pool:1"], secs(10.0));
    let before = snapshot(&mut d);
    const FAILED: &str = "ERROR (reload failed; nothing changed)";

    // An unknown field (with valid changes beside it: none may be applied).
    let typo = config(&[
        prog("keep", &["cmd: TESTPROG sleep", "numprocs: 3"]),
        prog("extra", &["cmdd: TESTPROG sleep"]),
    ]);
    write_config(&d, &typo);
    let reply = reload(&mut d);
    assert_eq!(reply.first().map(String::as_str), Some(FAILED), "{reply:?}");
    assert!(names_file_and_line(&reply, &d.config), "{reply:?}");
    assert!(reply.iter().any(|l| l.contains("cmdd")), "{reply:?}");
    assert_eq!(snapshot(&mut d), before);

    // A YAML syntax error.
    write_config(
        &d,
        "programs:\n  keep:\n    cmd: [TESTPROG sleep\n    numprocs: 2\n",
    );
    let reply = reload(&mut d);
    assert_eq!(reply.first().map(String::as_str), Some(FAILED), "{reply:?}");
    assert!(names_file_and_line(&reply, &d.config), "{reply:?}");
    assert_eq!(snapshot(&mut d), before);

    // The file deleted; the socket transport reports exit 1.
    std::fs::remove_file(&d.config).expect("delete config");
    let reply = reload(&mut d);
    assert_eq!(reply.first().map(String::as_str), Some(FAILED), "{reply:?}");
    let config_path = d.config.display().to_string();
    assert!(reply.iter().any(|l| l.contains(&config_path)), "{reply:?}");
    let over_socket = ctl(&d, "reload", &[]);
    assert_eq!(over_socket["exit"], 1, "{over_socket}");
    assert_eq!(over_socket["ok"], false, "{over_socket}");
    assert!(
        over_socket["output"]
            .as_str()
            .unwrap_or("")
            .starts_with(FAILED),
        "{over_socket}"
    );
    assert_eq!(snapshot(&mut d), before);

    // Unreadable (a directory at its path: even root cannot read that as a file).
    std::fs::create_dir(&d.config).expect("directory at the config path");
    let reply = reload(&mut d);
    assert_eq!(reply.first().map(String::as_str), Some(FAILED), "{reply:?}");
    assert!(reply.iter().any(|l| l.contains(&config_path)), "{reply:?}");
    assert_eq!(snapshot(&mut d), before);
    std::fs::remove_dir(&d.config).expect("remove the directory");

    // SIGHUP with an invalid file: logged, nothing changed.
    write_config(&d, &typo);
    d.signal(1);
    d.wait_log(
        "a failed SIGHUP reload in the event log",
        secs(10.0),
        |log| log.contains("reload after SIGHUP failed") && log.contains("reload failed"),
    );
    assert_eq!(snapshot(&mut d), before);
    assert!(alive(d.pid()));

    // And the daemon still reloads a good file afterwards.
    write_config(
        &d,
        &config(&[keep, pool, prog("web", &["cmd: TESTPROG sleep"])]),
    );
    assert_eq!(reload(&mut d), ["web: added"]);
    let after = wait_running(&mut d, &["keep", "pool:0", "pool:1", "web"], secs(10.0));
    for (name, (_, p)) in &before {
        assert_eq!(Some(after[name]), *p, "{name} changed pid");
    }
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 8. reload during BACKOFF and STOPPING --------------------------------------------

#[test]
fn reload_during_backoff_takes_the_new_cmd() {
    let flaky = |cmd: &str| {
        config(&[prog(
            "flaky",
            &[&format!("cmd: {cmd}"), "starttime: 1", "startretries: 5"],
        )])
    };
    let mut d = Daemon::start("reload-backoff", &flaky("TESTPROG exit 1"));
    d.wait_state("flaky", "BACKOFF", secs(10.0));

    write_config(&d, &flaky("TESTPROG sleep"));
    let reply = reload(&mut d);
    // BACKOFF has no process: the new spec is just taken (a retry caught in STARTING
    // would be restarted instead; both are right).
    assert!(
        reply == ["flaky: updated (cmd changed; nothing was running)"]
            || reply == ["flaky: restarted (cmd changed)"],
        "{reply:?}"
    );
    let i = d.wait_state("flaky", "RUNNING", secs(20.0));
    let p = pid(&i).unwrap();
    let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert_eq!(argv.get(1).map(String::as_str), Some("sleep"), "{argv:?}");
    assert_stays("flaky RUNNING with the new cmd", secs(1.2), || {
        let i = d.instance("flaky");
        state(&i) == "RUNNING" && pid(&i) == Some(p)
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn reload_during_stopping_lets_the_stop_complete() {
    let stubborn = |extra: &[&str]| {
        let mut lines = vec!["cmd: TESTPROG ignore-term"];
        lines.extend_from_slice(extra);
        config(&[
            prog("stubborn", &lines),
            prog("keep", &["cmd: TESTPROG sleep"]),
        ])
    };
    let mut d = Daemon::start("reload-stopping", &stubborn(&["stoptime: 2"]));
    let pids = wait_running(&mut d, &["keep", "stubborn"], secs(10.0));

    // `stop` on stdin blocks stdin until done: watch and reload over the socket.
    let mark = d.mark();
    d.send("stop stubborn");
    wait_for("stubborn STOPPING", secs(5.0), || {
        ctl_status(&d)
            .iter()
            .any(|i| i["name"] == "stubborn" && state(i) == "STOPPING")
            .then_some(())
    });
    write_config(&d, &stubborn(&["stoptime: 3", "autorestart: always"]));
    let reply = ctl(&d, "reload", &[]);
    assert_eq!(
        reply["output"], "stubborn: updated in place (autorestart, stoptime changed)",
        "{reply}"
    );
    assert_eq!(reply["exit"], 0, "{reply}");

    d.wait_line(mark, "stubborn: stopped", secs(10.0), |l| {
        l == "stubborn: stopped"
    });
    assert!(!alive(pids["stubborn"]));
    assert_stays("stubborn stays STOPPED", secs(1.0), || {
        state(&d.instance("stubborn")) == "STOPPED"
    });
    assert_eq!(d.pid_of("keep"), pids["keep"]);
    assert!(alive(d.pid()));
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 9. SIGHUP ------------------------------------------------------------------------

#[test]
fn sighup_reloads() {
    let keep = prog("keep", &["cmd: TESTPROG sleep"]);
    let mut d = Daemon::start("reload-sighup", &config(std::slice::from_ref(&keep)));
    let before = wait_running(&mut d, &["keep"], secs(10.0));

    write_config(&d, &config(&[keep, prog("web", &["cmd: TESTPROG sleep"])]));
    d.signal(1);
    let after = wait_running(&mut d, &["keep", "web"], secs(10.0));
    assert_eq!(after["keep"], before["keep"]);
    d.wait_log("the SIGHUP reload in the event log", secs(5.0), |log| {
        log.contains("SIGHUP") && log.contains("reload: web: added")
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn sighup_burst_ends_consistent() {
    let variant = |k: usize| {
        let mut programs = vec![
            prog("steady", &["cmd: TESTPROG sleep", "numprocs: 2"]),
            prog(
                "flex",
                &[
                    "cmd: TESTPROG sleep",
                    if k.is_multiple_of(2) {
                        "numprocs: 1"
                    } else {
                        "numprocs: 3"
                    },
                ],
            ),
        ];
        if k.is_multiple_of(2) {
            programs.push(prog("extra", &["cmd: TESTPROG sleep"]));
        }
        config(&programs)
    };
    let mut d = Daemon::start("reload-burst", &variant(0));
    let steady = {
        let all = wait_running(
            &mut d,
            &["steady:0", "steady:1", "flex", "extra"],
            secs(10.0),
        );
        [all["steady:0"], all["steady:1"]]
    };

    let mut written = 0;
    for i in 0..50 {
        if i % 3 == 0 || i == 49 {
            written += 1;
            write_config(&d, &variant(written));
        }
        d.signal(1);
        std::thread::sleep(Duration::from_millis(20));
    }
    let want: &[&str] = if written % 2 == 0 {
        &["steady:0", "steady:1", "flex", "extra"]
    } else {
        &["steady:0", "steady:1", "flex:0", "flex:1", "flex:2"]
    };
    let last = wait_running(&mut d, want, secs(30.0));
    assert!(alive(d.pid()), "the daemon died");
    assert_eq!(
        [last["steady:0"], last["steady:1"]],
        steady,
        "steady was touched"
    );
    // Nothing else lives: the daemon's children are exactly the instances shown.
    let shown: BTreeSet<i32> = last.values().copied().collect();
    wait_for("the daemon's children to match status", secs(10.0), || {
        (children_of(d.pid()).into_iter().collect::<BTreeSet<i32>>() == shown).then_some(())
    });
    assert_stays("the final state holds", secs(0.5), || {
        let now = snapshot(&mut d);
        now.len() == want.len()
            && now
                .iter()
                .all(|(name, (st, p))| st == "RUNNING" && *p == Some(last[name]))
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}
