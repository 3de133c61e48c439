//! Leak check (issue 7): thousands of restarts of a quick exiter with
//! `autorestart: always` and `starttime: 0` leave the daemon's descriptors,
//! threads and memory flat. A short variant runs in CI; set `TASKMASTER_SOAK_RESTARTS`
//! for a longer one (e.g. 10000).

mod common;
use common::*;

fn proc_status(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

#[test]
fn restarts_leave_fds_threads_and_memory_flat() {
    let target: u64 = std::env::var("TASKMASTER_SOAK_RESTARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let mut d = Daemon::start(
        "leaks",
        "programs:\n  quick:\n    cmd: TESTPROG exit 0\n    autorestart: always\n    starttime: 0\n    restart_throttle: false\n    stdout: quick.out\n  steady:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    let pid = d.pid();
    let restarts = |d: &mut Daemon| d.instance("quick")["restarts"].as_u64().unwrap_or(0);
    // Warm up: allocator caches and thread stacks reach their working size.
    wait_for("warm-up restarts", secs(60.0), || {
        (restarts(&mut d) >= 200).then_some(())
    });
    let (fds0, threads0, rss0) = (
        fd_count(pid),
        proc_status(pid, "Threads:"),
        proc_status(pid, "VmRSS:"),
    );
    wait_for("restarts", secs(300.0), || {
        (restarts(&mut d) >= 200 + target).then_some(())
    });
    d.send("stop quick");
    d.wait_state("quick", "STOPPED", secs(10.0));
    // The last child's pump may still be finishing: allow it to end.
    wait_for("threads back to the baseline", secs(10.0), || {
        (proc_status(pid, "Threads:") <= threads0).then_some(())
    });
    let (fds1, rss1) = (fd_count(pid), proc_status(pid, "VmRSS:"));
    eprintln!("after {target} restarts: fds {fds0} -> {fds1}, RSS {rss0} -> {rss1} kB");
    assert!(fds1 <= fds0, "descriptors leaked: {fds0} -> {fds1}");
    assert!(rss1 <= rss0 + 2048, "memory grew: {rss0} -> {rss1} kB");
    // Nothing left behind: no zombie among the daemon's children.
    assert!(
        children_of(pid).iter().all(|&c| !zombie(c)),
        "a zombie was left"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}
