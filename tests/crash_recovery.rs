//! If taskmaster itself is killed with SIGKILL its children keep running,
//! unsupervised. The next taskmaster on the same socket finds them in its children
//! journal, says so, and does not start duplicates (issue 7).

mod common;
use common::*;

#[test]
fn next_run_reports_survivors_and_starts_no_duplicate() {
    let yaml = "programs:\n  web:\n    cmd: TESTPROG sleep\n    starttime: 0\n  db:\n    cmd: TESTPROG sleep\n    starttime: 0\n";
    let mut first = Daemon::start("crash", yaml);
    let web = first.wait_state("web", "RUNNING", secs(10.0))["pid"]
        .as_i64()
        .expect("pid") as i32;
    let db = first.pid_of("db");
    // Whatever happens below, the deliberate survivors die with the test.
    struct Reap(Vec<i32>);
    impl Drop for Reap {
        fn drop(&mut self) {
            for &pid in &self.0 {
                // SAFETY: kill(2) on processes this test started.
                unsafe { nix::libc::kill(pid, 9) };
            }
        }
    }
    let _reap = Reap(vec![web, db]);
    first.signal(9);
    first.wait_exit(secs(10.0));
    assert!(
        alive(web) && alive(db),
        "children outlive a SIGKILLed taskmaster"
    );
    let (dir, config) = first.into_dir();

    // The survivor of `db` ends meanwhile: only `web` is still a duplicate risk.
    // SAFETY: kill(2) on a process this test started.
    unsafe { nix::libc::kill(db, 9) };
    wait_for("db's old process to die", secs(10.0), || {
        (!alive(db)).then_some(())
    });

    let mut second = Daemon::start_in(dir, config);
    let note = format!("pid {web} of a previous run");
    let w = wait_for("status to say why web was not started", secs(10.0), || {
        let w = second.instance("web");
        w["description"]
            .as_str()
            .is_some_and(|d| d.contains(&note))
            .then_some(w)
    });
    assert_eq!(w["state"], "STOPPED");
    second.wait_state("db", "RUNNING", secs(10.0));
    second.wait_log("the survivor reported", secs(10.0), |log| {
        log.contains(&format!("previous taskmaster run (pid {web})"))
    });
    // No second `web` was started: the old one is the only one.
    assert!(alive(web));
    assert_eq!(second.finish(secs(20.0)), 0);
}
