use crate::common::*;

#[test]
fn all_autostart_instances_reach_running() {
    let mut d = Daemon::start(
        "smoke",
        "programs:\n  a:\n    cmd: TESTPROG sleep\n    numprocs: 3\n    starttime: 0.1\n  b:\n    cmd: TESTPROG sleep\n    starttime: 0\n  c:\n    cmd: TESTPROG sleep\n    autostart: false\n",
    );
    for name in ["a:0", "a:1", "a:2", "b"] {
        d.wait_state(name, "RUNNING", secs(10.0));
    }
    assert_eq!(d.instance("c")["state"], "STOPPED");
    assert_eq!(d.finish(secs(20.0)), 0);
}
