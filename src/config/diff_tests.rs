//! The reload diff, field by field.

use super::*;
use crate::config::parse;
use std::path::Path;

fn config(yaml: &str) -> Config {
    match parse(yaml, Path::new("/tmp/taskmaster-diff-test.yaml")) {
        Ok(c) => c,
        Err(e) => panic!("test config does not load: {e}"),
    }
}

const BASE: &str = "programs:\n  web:\n    cmd: sleep 100\n";

/// `web` with one extra field line.
fn with(field: &str) -> Config {
    config(&format!("{BASE}    {field}\n"))
}

fn changed(plan: &ReloadPlan) -> (Vec<&'static str>, Vec<&'static str>, Option<(u32, u32)>) {
    match plan.programs.as_slice() {
        [ProgramChange::Changed {
            launch,
            policy,
            scale,
            ..
        }] => (launch.clone(), policy.clone(), *scale),
        other => panic!("expected one changed program, got {other:?}"),
    }
}

#[test]
fn identical_configs_make_an_empty_plan() {
    let plan = diff(&config(BASE), &config(BASE));
    assert!(plan.is_empty());
    assert_eq!(plan.unchanged, 1);
}

#[test]
fn launch_fields_restart() {
    let base = config(BASE);
    for (field, name) in [
        ("env: {A: 1}", "env"),
        ("workingdir: /", "workingdir"),
        ("umask: 077", "umask"),
        ("stdout: /tmp/x.out", "stdout"),
        ("stderr: /tmp/x.err", "stderr"),
        ("pty: true", "pty"),
    ] {
        let (launch, policy, scale) = changed(&diff(&base, &with(field)));
        assert_eq!(launch, vec![name], "{field}");
        assert!(policy.is_empty() && scale.is_none(), "{field}");
    }
    let other_cmd = config("programs:\n  web:\n    cmd: sleep 200\n");
    assert_eq!(changed(&diff(&base, &other_cmd)).0, vec!["cmd"]);
}

#[test]
fn user_is_a_launch_field() {
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten();
    let Some(me) = me else { return };
    let (launch, _, _) = changed(&diff(&config(BASE), &with(&format!("user: {}", me.name))));
    assert_eq!(launch, vec!["user"]);
}

#[test]
fn policy_fields_apply_in_place() {
    let base = config(BASE);
    for (field, name) in [
        ("autostart: false", "autostart"),
        ("autorestart: always", "autorestart"),
        ("exitcodes: [0, 2]", "exitcodes"),
        ("startretries: 9", "startretries"),
        ("starttime: 0.5", "starttime"),
        ("stopsignal: USR1", "stopsignal"),
        ("stoptime: 3", "stoptime"),
        ("restart_throttle: false", "restart_throttle"),
        ("restart_throttle: {max: 30}", "restart_throttle"),
        ("max_memory: 512MB", "max_memory"),
    ] {
        let (launch, policy, scale) = changed(&diff(&base, &with(field)));
        assert!(launch.is_empty(), "{field}");
        assert_eq!(policy, vec![name], "{field}");
        assert!(scale.is_none(), "{field}");
    }
}

#[test]
fn writing_a_default_explicitly_changes_nothing() {
    let plan = diff(&config(BASE), &with("autorestart: unexpected"));
    assert!(plan.is_empty(), "{plan:?}");
    let plan = diff(&config(BASE), &with("restart_throttle: {after: 3}"));
    assert!(plan.is_empty(), "{plan:?}");
}

#[test]
fn a_changed_or_dropped_max_memory_applies_in_place() {
    let limited = with("max_memory: 512MB");
    for (from, to) in [
        (&limited, &with("max_memory: 1GB")),
        (&limited, &config(BASE)),
    ] {
        let (launch, policy, _) = changed(&diff(from, to));
        assert!(launch.is_empty());
        assert_eq!(policy, vec!["max_memory"]);
    }
    // The same size written another way is no change.
    assert!(diff(&limited, &with("max_memory: 536870912")).is_empty());
}

#[test]
fn numprocs_scales_both_ways() {
    assert_eq!(
        changed(&diff(&config(BASE), &with("numprocs: 4"))).2,
        Some((1, 4))
    );
    assert_eq!(
        changed(&diff(&with("numprocs: 4"), &config(BASE))).2,
        Some((4, 1))
    );
}

#[test]
fn added_removed_and_renamed_programs() {
    let old = config("programs:\n  a:\n    cmd: sleep 1\n  b:\n    cmd: sleep 1\n");
    let new = config("programs:\n  a:\n    cmd: sleep 1\n  c:\n    cmd: sleep 1\n");
    let plan = diff(&old, &new);
    assert_eq!(plan.unchanged, 1);
    assert!(matches!(&plan.programs[0], ProgramChange::Removed(n) if n == "b"));
    assert!(matches!(&plan.programs[1], ProgramChange::Added(c) if c.name == "c"));
}

#[test]
fn daemon_settings() {
    let old = config(BASE);
    let new = config(&format!(
        "taskmaster:\n  logfile: /tmp/other.log\n  socket: /tmp/other.sock\n  tail_buffer: 10\n{BASE}"
    ));
    let plan = diff(&old, &new);
    assert_eq!(
        plan.logfile,
        Some(std::path::PathBuf::from("/tmp/other.log"))
    );
    assert_eq!(
        plan.socket,
        Some(Some(std::path::PathBuf::from("/tmp/other.sock")))
    );
    assert_eq!(plan.settings, vec!["tail_buffer"]);
    assert!(plan.programs.is_empty());
}
