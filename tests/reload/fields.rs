//! Launch fields restart only their own program; policy fields are applied in place
//! and are in force at once.

use std::time::Instant;

use serde_json::Value;

use super::{
    config, pid, pids_of, prog, reload, stamps, state, wait_report, wait_running, write_config,
};
use crate::common::*;

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
