//! A watcher thread that panics costs only its own instance: its child is killed
//! and reaped (nothing would supervise it any more), the instance shows FATAL with
//! the reason, commands on it answer instead of hanging, the other instances go on,
//! and shutdown still completes. There is no known way to make a watcher panic, so
//! debug builds (the ones the tests run) have a failpoint: the watcher of the
//! instance named in `TASKMASTER_TEST_PANIC_ON_STOP` panics when told to stop.

use crate::common::*;

const CONFIG: &str = "programs:
  doomed:
    cmd: TESTPROG sleep
    starttime: 0
  other:
    cmd: TESTPROG sleep
    starttime: 0
";

const CRASHED: &str = "doomed: ERROR (internal error, see the log)";

#[test]
fn a_panicking_watcher_kills_its_child_and_spares_the_rest() {
    // The panic message is expected: it goes to a file the test reads, so the test
    // run shows no alarming panic of its own.
    let stderr_dir = TempDir::new("watcher-panic-stderr");
    let stderr_path = stderr_dir.path("stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("create the stderr file");
    let mut d = Daemon::start_with("watcher-panic", CONFIG, |c| {
        c.env("TASKMASTER_TEST_PANIC_ON_STOP", "doomed");
        c.env("RUST_BACKTRACE", "0");
        c.stderr(stderr);
    });
    d.wait_state("doomed", "RUNNING", secs(10.0));
    d.wait_state("other", "RUNNING", secs(10.0));
    let doomed = d.pid_of("doomed");
    let other = d.pid_of("other");

    d.command_expect("stop doomed", CRASHED, secs(10.0));
    wait_for(
        "the crashed watcher's child killed and reaped",
        secs(10.0),
        || (!alive(doomed) && !zombie(doomed)).then_some(()),
    );
    let status = d.wait_state("doomed", "FATAL", secs(5.0));
    let description = status["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("internal error: test failpoint: panic on stop"),
        "description: {description}"
    );
    d.wait_log("the watcher's failure in the event log", secs(5.0), |log| {
        log.contains("doomed: internal error in its watcher")
            && log.contains(&format!("killing its process {doomed}"))
    });

    // Commands on it answer at once rather than waiting for a watcher that is gone.
    d.command_expect("start doomed", CRASHED, secs(10.0));
    d.command_expect("restart doomed", CRASHED, secs(10.0));
    // A reload keeps it listed, FATAL, so the failure stays visible.
    d.command_expect("reload", "No config updates to processes", secs(10.0));
    assert_eq!(d.instance("doomed")["state"], "FATAL");

    // The rest is untouched, and shutdown still completes.
    assert_eq!(d.pid_of("other"), other);
    assert!(alive(other));
    assert_eq!(d.finish(secs(20.0)), 0);
    assert!(!alive(other), "shutdown stopped the other instance");
    let printed = read(&stderr_path);
    assert!(
        printed.contains("test failpoint: panic on stop"),
        "the panic is still reported on the daemon's stderr: {printed:?}"
    );
}
