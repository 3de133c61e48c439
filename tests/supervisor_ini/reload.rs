//! SIGHUP and `reload` on an edited INI file: the smallest change, as for YAML.

use super::{start_ini, SUPERVISORD};
use crate::common::*;

fn ini(web_env: &str, extra: &str) -> String {
    format!(
        "{SUPERVISORD}
[program:keep]
command=TESTPROG sleep
stdout_logfile=NONE
stderr_logfile=NONE

[program:web]
command=TESTPROG sleep
process_name=web_%(process_num)d
numprocs=2
environment=COLOR={web_env}
stdout_logfile=NONE
stderr_logfile=NONE
{extra}
[include]
files=conf.d/*.conf
"
    )
}

#[test]
fn sighup_applies_an_edited_ini_with_the_smallest_change() {
    let included =
        "[program:inc]\ncommand=TESTPROG sleep\nstdout_logfile=NONE\nstderr_logfile=NONE\n";
    let mut d = start_ini(
        "ini-reload",
        &ini("blue", ""),
        &[("conf.d/inc.conf", included)],
    );
    for name in ["keep", "web_0", "web_1", "inc"] {
        d.wait_state(name, "RUNNING", secs(10.0));
    }
    let (keep, web0, inc) = (d.pid_of("keep"), d.pid_of("web_0"), d.pid_of("inc"));

    // One more process, a new included program, the same everything else.
    let grown = ini("blue", "numprocs_start=0\n").replace("numprocs=2", "numprocs=3");
    std::fs::write(&d.config, expand(&grown, &d.dir.0)).expect("edit ini");
    let added =
        "[program:added]\ncommand=TESTPROG sleep\nstdout_logfile=NONE\nstderr_logfile=NONE\n";
    std::fs::write(d.path("conf.d/added.conf"), expand(added, &d.dir.0)).expect("add include");
    d.signal(1);
    super::wait_all(&mut d, &["web_2", "added"]);
    assert_eq!(d.pid_of("keep"), keep);
    assert_eq!(d.pid_of("web_0"), web0);
    assert_eq!(d.pid_of("inc"), inc);

    // An environment change restarts the web processes, and only them.
    std::fs::write(
        &d.config,
        expand(
            &ini("red", "").replace("numprocs=2", "numprocs=3"),
            &d.dir.0,
        ),
    )
    .expect("edit ini");
    d.signal(1);
    let restarted = wait_for(
        "web_0 restarted with its new environment",
        secs(10.0),
        || {
            let i = d.instance("web_0");
            let pid = i["pid"].as_i64()? as i32;
            (i["state"] == "RUNNING" && pid != web0).then_some(pid)
        },
    );
    assert!(super::environ(restarted).iter().any(|e| e == "COLOR=red"));
    assert_eq!(d.pid_of("keep"), keep);
    assert_eq!(d.pid_of("inc"), inc);

    // A broken edit changes nothing.
    std::fs::write(&d.config, "[program:web]\ncommand=%(nope)s\n").expect("break ini");
    let mark = d.mark();
    d.send("reload");
    d.wait_line(mark, "the refused reload", secs(10.0), |l| {
        l.contains("nothing changed")
    });
    assert_eq!(d.pid_of("keep"), keep);
    assert_eq!(d.finish(secs(20.0)), 0);
}
