//! If taskmaster itself is killed with SIGKILL its children keep running,
//! unsupervised. The next taskmaster on the same socket finds them in its children
//! journal, says so, and does not start duplicates (issue 7).

use crate::common::*;

#[test]
fn next_run_reports_survivors_and_starts_no_duplicate() {
    let yaml = "programs:\n  web:\n    cmd: TESTPROG sleep\n    starttime: 0\n  db:\n    cmd: TESTPROG sleep\n    starttime: 0\n";
    let mut first = Daemon::start("crash", yaml);
    let web = first.wait_state("web", "RUNNING", secs(10.0))["pid"]
        .as_i64()
        .expect("pid") as i32;
    let db = first.pid_of("db");
    // Whatever happens below, the deliberate survivors die with the test.
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

/// Kills every pid in the list when dropped: the deliberate survivors die with the
/// test, whatever happens.
struct Reap(Vec<i32>);

impl Drop for Reap {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: kill(2) on processes this test started.
            unsafe { nix::libc::kill(pid, 9) };
        }
    }
}

/// Starts a daemon on `yaml`, waits for `web` to run, then kills the daemon with
/// SIGKILL: its directory and config for the next run, and web's orphaned pid.
fn crash_with_web_running(tag: &str, yaml: &str) -> (TempDir, std::path::PathBuf, i32) {
    let mut first = Daemon::start(tag, yaml);
    let web = first.wait_state("web", "RUNNING", secs(10.0))["pid"]
        .as_i64()
        .expect("pid") as i32;
    first.signal(9);
    first.wait_exit(secs(10.0));
    let (dir, config) = first.into_dir();
    (dir, config, web)
}

/// Waits until `web` is held back for the previous run's `pid`.
fn wait_held(d: &mut Daemon, pid: i32) {
    wait_for("web held back", secs(10.0), || {
        d.instance("web")["description"]
            .as_str()
            .is_some_and(|text| text.contains(&format!("pid {pid} ")))
            .then_some(())
    });
}

/// Two crashes in a row: the first run's orphan is still known to the third run,
/// and so is the second run's, started by hand beside it.
#[test]
fn an_orphan_stays_known_across_several_crashes_and_clean_shutdowns() {
    let yaml = "programs:\n  web:\n    cmd: TESTPROG sleep\n    starttime: 0\n";
    let (dir, config, web1) = crash_with_web_running("crash-twice", yaml);
    let mut reap = Reap(vec![web1]);

    // Second run: web is held back; a manual start makes a second process.
    let mut second = Daemon::start_in(dir, config);
    wait_held(&mut second, web1);
    let mark = second.mark();
    second.send("start web");
    second.wait_line(mark, "the start, with its warning", secs(10.0), |l| {
        l.starts_with("web: started (warning: ")
    });
    let web2 = second.pid_of("web");
    reap.0.push(web2);
    second.signal(9);
    second.wait_exit(secs(10.0));
    let (dir, config) = second.into_dir();

    // Third run: both are known; nothing is autostarted.
    let mut third = Daemon::start_in(dir, config);
    let w = wait_for("web held back for both", secs(10.0), || {
        let w = third.instance("web");
        let d = w["description"].as_str().unwrap_or_default().to_string();
        (d.contains(&web1.to_string()) && d.contains(&web2.to_string())).then_some(w)
    });
    assert_eq!(w["state"], "STOPPED", "{w}");
    // A clean shutdown of the third run keeps them in the journal...
    assert_eq!(third.finish(secs(20.0)), 0);
    let (dir, config) = third.into_dir();
    let mut fourth = Daemon::start_in(dir, config);
    wait_for("still held back after a clean shutdown", secs(10.0), || {
        let d = fourth.instance("web")["description"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (d.contains(&web1.to_string()) && d.contains(&web2.to_string())).then_some(())
    });
    assert!(alive(web1) && alive(web2));
    // ...and once they are gone, the next run starts web as usual.
    drop(reap);
    wait_for("the orphans gone", secs(10.0), || {
        (!alive(web1) && !alive(web2)).then_some(())
    });
    assert_eq!(fourth.finish(secs(20.0)), 0);
    let (dir, config) = fourth.into_dir();
    let mut fifth = Daemon::start_in(dir, config);
    fifth.wait_state("web", "RUNNING", secs(10.0));
    assert_eq!(fifth.finish(secs(20.0)), 0);
}

/// A held-back instance: `start` warns that the old process still runs, and `stop`
/// stops that old process too, by its journal identity (its whole group).
#[test]
fn stop_of_a_held_instance_stops_the_previous_runs_process() {
    let yaml = "programs:\n  web:\n    cmd: TESTPROG sleep\n    starttime: 0\n    stoptime: 2\n";
    let (dir, config, old) = crash_with_web_running("crash-stop-orphan", yaml);
    let mut reap = Reap(vec![old]);

    let mut second = Daemon::start_in(dir, config);
    wait_held(&mut second, old);
    // A manual start goes ahead, and says there are now two.
    second.command_expect(
        "start web",
        &format!(
            "web: started (warning: pid {old} of a previous run is still running; `stop web` stops it)"
        ),
        secs(10.0),
    );
    let new = second.pid_of("web");
    reap.0.push(new);
    // `stop web` stops both: ours, and the old one by its identity.
    let mark = second.mark();
    second.send("stop web");
    second.wait_line(mark, "the old process stopped", secs(10.0), |l| {
        l == format!("web: stopped (pid {old} of a previous run)")
    });
    second.wait_line(mark, "ours stopped", secs(10.0), |l| l == "web: stopped");
    wait_for("both gone", secs(10.0), || {
        (!alive(old) && !alive(new)).then_some(())
    });
    // Nothing held any more: a start is a plain start.
    second.command_expect("start web", "web: started", secs(10.0));
    assert_eq!(second.finish(secs(20.0)), 0);
}
