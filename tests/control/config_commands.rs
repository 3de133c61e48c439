//! supervisorctl's configuration commands through taskmasterctl, against a real
//! daemon whose file is edited under it: `reread` (shows, changes nothing),
//! `update` (applies, in supervisorctl's words; with names, only those), `avail`,
//! `add` (starts only the new program) and `remove` (refuses a running one).

use super::support::*;
use crate::common::*;

const BEFORE: &str = "programs:
  web:
    cmd: TESTPROG sleep
    starttime: 0
  db:
    cmd: TESTPROG sleep
    starttime: 0
  gone:
    cmd: TESTPROG sleep
    starttime: 0
";

/// `web`'s command changed, `db`'s stoptime, `gone` removed, `api` added.
const AFTER: &str = "programs:
  web:
    cmd: TESTPROG print changed
    starttime: 0
  db:
    cmd: TESTPROG sleep
    starttime: 0
    stoptime: 7
  api:
    cmd: TESTPROG sleep
    starttime: 0
";

fn start(tag: &str) -> (Daemon, std::path::PathBuf) {
    let d = Daemon::start(tag, BEFORE);
    let sock = d.socket();
    wait_running(&sock, &["web", "db", "gone"], secs(10.0));
    (d, sock)
}

fn edit(d: &Daemon, yaml: &str) {
    std::fs::write(&d.config, expand(yaml, &d.dir.0)).expect("rewrite the config");
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn reread_lists_what_would_change_and_changes_nothing() {
    let (mut d, sock) = start("ctl-reread");
    assert_eq!(
        ctl_ok(&sock, &["reread"], 0).trim(),
        "No config updates to processes"
    );
    edit(&d, AFTER);
    let before = snapshot(&sock);
    let out = ctl_ok(&sock, &["reread"], 0);
    assert_eq!(
        lines(&out),
        [
            "api: available",
            "db: changed (stoptime: applied in place)",
            "gone: disappeared",
            "web: changed (cmd: running instances restart)",
        ],
        "{out:?}"
    );
    // Twice, and nothing changed: same instances, same pids, no `api`.
    assert_eq!(ctl_ok(&sock, &["reread"], 0), out);
    assert_eq!(snapshot(&sock), before);
    assert_eq!(ctl(&sock, &["status", "api"]).code, 4);

    // Bad input: a clear message, nothing changed.
    let out = ctl(&sock, &["reread", "web"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stdout.contains("reread accepts no arguments"),
        "{out:?}"
    );
    std::fs::write(&d.config, "programs:\n  web: [\n").expect("break the config");
    let out = ctl(&sock, &["reread"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .contains("ERROR (the configuration file is invalid; nothing changed)"),
        "{out:?}"
    );
    assert_eq!(snapshot(&sock), before);
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn update_applies_the_file_in_supervisorctls_words() {
    let (mut d, sock) = start("ctl-update");
    let db = instance(&sock, "db")["pid"].clone();
    edit(&d, AFTER);
    let out = ctl_ok(&sock, &["update"], 0);
    assert_eq!(
        lines(&out),
        [
            "api: added process group",
            "db: updated process group: updated in place (stoptime changed)",
            "gone: stopped",
            "gone: removed process group",
            "web: updated process group: restarted (cmd changed)",
        ],
        "{out:?}"
    );
    wait_running(&sock, &["api", "web"], secs(10.0));
    assert_eq!(instance(&sock, "db")["pid"], db, "db kept its process");
    assert_eq!(ctl(&sock, &["status", "gone"]).code, 4);
    assert_eq!(
        ctl_ok(&sock, &["update"], 0).trim(),
        "No config updates to processes"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn update_with_names_applies_only_those_programs() {
    let (mut d, sock) = start("ctl-update-names");
    let pids = wait_running(&sock, &["web", "db", "gone"], secs(10.0));
    edit(&d, AFTER);

    // Bad input first: nothing changed.
    let out = ctl(&sock, &["update", "nosuch"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout.trim(), "ERROR: no such group: nosuch");
    let out = ctl(&sock, &["update", "-x"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(ctl(&sock, &["status", "api"]).code, 4, "nothing was added");

    // `gone:` addresses the program `gone`, as supervisorctl's group syntax.
    let out = ctl_ok(&sock, &["update", "api", "gone:"], 0);
    assert_eq!(
        lines(&out),
        [
            "api: added process group",
            "gone: stopped",
            "gone: removed process group"
        ],
        "{out:?}"
    );
    wait_running(&sock, &["api"], secs(10.0));
    // web and db are as they ran: same pids, and still to be applied.
    for name in ["web", "db"] {
        assert_eq!(instance(&sock, name)["pid"], pids[name], "{name}");
    }
    let out = ctl_ok(&sock, &["reread"], 0);
    assert_eq!(
        lines(&out),
        [
            "db: changed (stoptime: applied in place)",
            "web: changed (cmd: running instances restart)",
        ],
        "{out:?}"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn add_starts_only_the_new_program() {
    let (mut d, sock) = start("ctl-add");
    let pids = wait_running(&sock, &["web", "db", "gone"], secs(10.0));
    edit(&d, AFTER);
    let out = ctl_ok(&sock, &["add", "api"], 0);
    assert_eq!(out.trim(), "api: added process group");
    wait_running(&sock, &["api"], secs(10.0));
    // Nothing else moved: web keeps its old command's process, gone still runs.
    let now = wait_running(&sock, &["web", "db", "gone"], secs(10.0));
    assert_eq!(now, pids);
    assert!(
        ctl_ok(&sock, &["reread"], 0).contains("web: changed"),
        "web's change is still to apply"
    );

    // Already in use: said, not a failure (as supervisorctl). Unknown: an error.
    let out = ctl_ok(&sock, &["add", "api"], 0);
    assert_eq!(out.trim(), "ERROR: process group already active: api");
    let out = ctl(&sock, &["add", "nosuch"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout.trim(), "ERROR: no such process/group: nosuch");
    let out = ctl(&sock, &["add"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stdout.contains("add requires a program name"),
        "{out:?}"
    );
    assert_eq!(
        wait_running(&sock, &["web", "db", "gone"], secs(10.0)),
        pids
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn remove_refuses_a_running_program_and_removes_a_stopped_one() {
    let (mut d, sock) = start("ctl-remove");
    let pid = wait_running(&sock, &["gone"], secs(10.0))["gone"];
    edit(&d, AFTER);

    let out = ctl(&sock, &["remove", "gone"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stdout.trim(),
        "ERROR: process/group still running: gone (gone; stop it first)"
    );
    assert_eq!(instance(&sock, "gone")["pid"], pid, "still running");
    let out = ctl(&sock, &["remove", "nosuch"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout.trim(), "ERROR: no such process/group: nosuch");

    ctl_ok(&sock, &["stop", "gone"], 0);
    let out = ctl_ok(&sock, &["remove", "gone"], 0);
    assert_eq!(out.trim(), "gone: removed process group");
    assert_eq!(ctl(&sock, &["status", "gone"]).code, 4);
    assert!(!alive(pid));
    // A program still in the file may be removed too: it is then available.
    ctl_ok(&sock, &["stop", "db"], 0);
    ctl_ok(&sock, &["remove", "db"], 0);
    let avail = ctl_ok(&sock, &["avail"], 0);
    assert!(
        avail
            .lines()
            .any(|l| l.starts_with("db ") && l.contains(" avail ")),
        "{avail:?}"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn avail_lists_every_instance_of_the_file() {
    let mut d = Daemon::start(
        "ctl-avail",
        "programs:
  web:
    cmd: TESTPROG sleep
    starttime: 0
    priority: 5
  pool:
    cmd: TESTPROG sleep
    numprocs: 2
    autostart: false
",
    );
    let sock = d.socket();
    wait_running(&sock, &["web"], secs(10.0));
    std::fs::write(
        &d.config,
        expand(
            "programs:\n  web:\n    cmd: TESTPROG sleep\n    starttime: 0\n    priority: 5\n  \
             pool:\n    cmd: TESTPROG sleep\n    numprocs: 2\n    autostart: false\n  \
             api:\n    cmd: TESTPROG sleep\n",
            &d.dir.0,
        ),
    )
    .expect("rewrite the config");
    let out = ctl_ok(&sock, &["avail"], 0);
    let row = |name: &str, used: &str, auto: &str, prio: i32| {
        format!("{name:<32} {used:<9} {auto:<9} {prio}")
    };
    assert_eq!(
        lines(&out),
        [
            row("api", "avail", "auto", 999),
            row("pool:0", "in use", "manual", 999),
            row("pool:1", "in use", "manual", 999),
            row("web", "in use", "auto", 5),
        ],
        "{out:?}"
    );
    let out = ctl(&sock, &["avail", "web"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn a_dependency_left_out_of_use_is_refused_with_nothing_changed() {
    let mut d = Daemon::start(
        "ctl-add-deps",
        "programs:\n  db:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    let sock = d.socket();
    wait_running(&sock, &["db"], secs(10.0));
    edit(
        &d,
        "programs:\n  db:\n    cmd: TESTPROG sleep\n    starttime: 0\n  \
         cache:\n    cmd: TESTPROG sleep\n    starttime: 0\n  \
         api:\n    cmd: TESTPROG sleep\n    starttime: 0\n    depends_on: [db, cache]\n",
    );
    // api needs cache, which is not in use: refused, nothing added.
    let out = ctl(&sock, &["add", "api"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stdout.trim(),
        "ERROR (api depends on cache, which would not be in use); nothing changed"
    );
    assert_eq!(ctl(&sock, &["status", "api"]).code, 4);
    // Both together are fine; then db cannot go while api uses it.
    let out = ctl_ok(&sock, &["add", "api", "cache"], 0);
    assert_eq!(
        lines(&out),
        ["api: added process group", "cache: added process group"]
    );
    wait_running(&sock, &["api", "cache"], secs(10.0));
    ctl_ok(&sock, &["stop", "db"], 0);
    let out = ctl(&sock, &["remove", "db"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stdout.trim(),
        "ERROR (api depends on db, which would not be in use); nothing changed"
    );
    assert_eq!(instance(&sock, "db")["state"], "STOPPED");
    assert_eq!(d.finish(secs(20.0)), 0);
}
