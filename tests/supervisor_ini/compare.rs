//! The same supervisord.conf run by supervisord (installed from PyPI by
//! `scripts/supervisor-venv`) and by taskmaster: the same process names, states,
//! command lines, environments, working directories, umasks and log files.
//! Skipped, saying why, only when supervisor cannot be installed (no PyPI).
//! Here: the configs, the steps and the comparison; the daemons themselves and how
//! each is read are in `compare/daemons.rs`.

mod daemons;

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;
use daemons::{
    changed, ctl, log_files, process_facts, settled, start, supervisor_bin, supervisord_status,
    taskmaster_status, Seen,
};

/// What both daemons read besides the programs: everything in the directory.
const HEAD: &str = "[unix_http_server]
file=%(here)s/s.sock

[supervisord]
logfile=%(here)s/daemon.log
pidfile=%(here)s/daemon.pid
childlogdir=%(here)s
nodaemon=true
environment=GLOBAL=\"g, with comma\"

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%(here)s/s.sock
";

/// Something done to both daemons after the start: the INI edited (`from` →
/// `to`, if any), then a command given to supervisorctl and to taskmasterctl;
/// `restarted` are the processes whose pid changes under taskmaster, which must
/// be among those that change under supervisord (reload is the smallest change:
/// supervisorctl's `update` restarts a whole group when its `numprocs` changes).
struct Step {
    edit: Option<(&'static str, &'static str)>,
    restarted: &'static [&'static str],
    supervisorctl: &'static [&'static str],
    taskmasterctl: &'static [&'static str],
}

/// Runs `ini` under both daemons and compares what they run, then after each step.
fn compare(tag: &str, ini: &str, bin: &Path, steps: &[Step]) {
    let root = TempDir::new(tag);
    let dirs = [root.path("supervisord"), root.path("taskmaster")];
    for dir in &dirs {
        std::fs::create_dir_all(dir.join("work")).expect("mkdir");
        std::fs::create_dir_all(dir.join("conf.d")).expect("mkdir");
        std::fs::write(
            dir.join("supervisord.conf"),
            expand(&format!("{HEAD}{ini}"), dir),
        )
        .expect("write");
        let included = expand(
            "[program:included]\ncommand=TESTPROG print from-include\n",
            dir,
        );
        std::fs::write(dir.join("conf.d/inc.conf"), included).expect("write");
    }
    let sv = start(
        &bin.join("supervisord"),
        &["-n", "-c", "supervisord.conf"],
        &dirs[0],
    );
    let tm = start(
        Path::new(env!("CARGO_BIN_EXE_taskmaster")),
        &["--no-shell", "-c", "supervisord.conf"],
        &dirs[1],
    );
    let sv_seen = settled("supervisord settled", || supervisord_status(bin, &sv.dir));
    let tm_seen = settled("taskmaster settled", || taskmaster_status(&tm.dir));
    let states = |s: &BTreeMap<String, Seen>| -> BTreeMap<String, String> {
        s.iter()
            .map(|(k, v)| (k.clone(), v.state.clone()))
            .collect()
    };
    assert_eq!(states(&tm_seen), states(&sv_seen), "names and states");
    for (name, seen) in &sv_seen {
        let (Some(sv_pid), Some(tm_pid)) = (seen.pid, tm_seen[name].pid) else {
            continue;
        };
        assert_eq!(
            process_facts(tm_pid, &tm.dir),
            process_facts(sv_pid, &sv.dir),
            "process {name}"
        );
    }
    // Both print at once and then sleep: the files settle.
    let mut last = (BTreeMap::new(), BTreeMap::new());
    let same = poll_until(secs(10.0), std::time::Duration::from_millis(50), || {
        last = (log_files(&tm.dir), log_files(&sv.dir));
        (last.0 == last.1).then_some(())
    });
    assert!(
        same.is_some(),
        "log files differ:\ntaskmaster: {:?}\nsupervisord: {:?}",
        last.0,
        last.1
    );

    let (mut sv_seen, mut tm_seen) = (sv_seen, tm_seen);
    for step in steps {
        if let Some((from, to)) = step.edit {
            for dir in &dirs {
                let path = dir.join("supervisord.conf");
                let text = read(&path);
                assert!(text.contains(from), "{from:?} in the config");
                std::fs::write(&path, text.replace(from, to)).expect("edit");
            }
        }
        ctl(&bin.join("supervisorctl"), step.supervisorctl, &sv.dir);
        ctl(
            Path::new(env!("CARGO_BIN_EXE_taskmasterctl")),
            step.taskmasterctl,
            &tm.dir,
        );
        let sv_after = settled("supervisord settled", || supervisord_status(bin, &sv.dir));
        let tm_after = settled("taskmaster settled", || taskmaster_status(&tm.dir));
        let what = format!("after {:?}", step.taskmasterctl);
        assert_eq!(
            states(&tm_after),
            states(&sv_after),
            "names and states {what}"
        );
        let (tm_changed, sv_changed) = (changed(&tm_seen, &tm_after), changed(&sv_seen, &sv_after));
        assert_eq!(tm_changed, step.restarted, "restarted by taskmaster {what}");
        assert!(
            tm_changed.iter().all(|name| sv_changed.contains(name)),
            "restarted by taskmaster {what}: {tm_changed:?}, by supervisord: {sv_changed:?}"
        );
        (sv_seen, tm_seen) = (sv_after, tm_after);
    }
}

/// supervisor's documented shapes: a bare program, a program with every
/// option at its default, numprocs with a process_name, and a group.
const DOCUMENTED: &str = "
[program:cat]
command=/bin/cat

[program:foo]
command=TESTPROG print foo-out foo-err
process_name=%(program_name)s
numprocs=1
directory=/tmp
umask=022
priority=999
autostart=true
autorestart=unexpected
startsecs=1
startretries=3
exitcodes=0
stopsignal=TERM
stopwaitsecs=10
stopasgroup=false
killasgroup=false
redirect_stderr=false
stdout_logfile=AUTO
stdout_logfile_maxbytes=1MB
stdout_logfile_backups=10
stderr_logfile=AUTO
stderr_logfile_maxbytes=1MB
stderr_logfile_backups=10
environment=A=\"1\",B=\"2\"
serverurl=AUTO

[program:worker]
command=TESTPROG print worker-%(process_num)02d
process_name=%(program_name)s_%(process_num)02d
numprocs=3
stdout_logfile=%(here)s/%(program_name)s-%(process_num)d.log

[program:bar]
command=TESTPROG sleep

[program:baz]
command=TESTPROG sleep

[group:foobar]
programs=bar,baz
priority=999
";

/// Every option taskmaster maps, in the shapes of real configs.
const COVERING: &str = "
[program:env]
command=TESTPROG print %(ENV_HOME)s %(host_node_name)s
environment=QUOTED=\"a, b\",PLAIN=x,NUM=%(process_num)d,GROUP=%(group_name)s,HERE=%(here)s
directory=%(here)s/work
umask=027
stdout_logfile=NONE
stderr_logfile=%(here)s/env-err.log

[program:merged]
command=TESTPROG print merged-out merged-err
redirect_stderr=true
stdout_logfile=%(here)s/merged.log

[program:idle]
command=TESTPROG sleep
autostart=false

[program:broken]
command=TESTPROG exit 3
startsecs=1
startretries=0
stdout_logfile=NONE
stderr_logfile=NONE

[program:numbered]
command=TESTPROG sleep
process_name=n%(process_num)d
numprocs=2
numprocs_start=5
stopsignal=INT
stopwaitsecs=2
exitcodes=0,2
autorestart=true
priority=5
stdout_logfile=NONE
stderr_logfile=NONE

[group:pair]
programs=idle,broken

[include]
files=conf.d/*.conf
";

#[test]
fn same_as_supervisord() {
    let bin = match supervisor_bin() {
        Ok(bin) => bin,
        Err(why) => {
            eprintln!("SKIPPED same_as_supervisord: supervisor could not be installed: {why}");
            return;
        }
    };
    let documented = [
        Step {
            edit: None,
            restarted: &["bar", "baz"],
            supervisorctl: &["stop", "foobar:*"],
            taskmasterctl: &["stop", "foobar:*"],
        },
        Step {
            edit: None,
            restarted: &["baz"],
            supervisorctl: &["start", "foobar:baz"],
            taskmasterctl: &["start", "foobar:baz"],
        },
        Step {
            edit: None,
            restarted: &["worker_00", "worker_01", "worker_02"],
            supervisorctl: &["restart", "worker:*"],
            taskmasterctl: &["restart", "worker:*"],
        },
    ];
    compare("sv-documented", DOCUMENTED, &bin, &documented);
    // taskmaster's reload is supervisorctl's update: the same programs restart.
    let covering = [
        Step {
            edit: Some(("numprocs=2\n", "numprocs=3\n")),
            restarted: &["n7"],
            supervisorctl: &["update"],
            taskmasterctl: &["reload"],
        },
        Step {
            edit: Some(("PLAIN=x", "PLAIN=y")),
            restarted: &["env"],
            supervisorctl: &["update"],
            taskmasterctl: &["reload"],
        },
        Step {
            edit: Some(("[program:merged]", "[program:merged2]")),
            restarted: &["merged2"],
            supervisorctl: &["update"],
            taskmasterctl: &["reload"],
        },
    ];
    compare("sv-covering", COVERING, &bin, &covering);
}
