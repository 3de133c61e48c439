//! No file planted at a path taskmaster writes to can freeze it (issue 14): a FIFO
//! as a program's output file is a spawn error, not a watcher stuck in `open()`;
//! a FIFO as the event log is a refused reload, not a hung one; the daemon keeps
//! answering and shuts down.

use crate::common::*;

fn mkfifo(path: &std::path::Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
}

#[test]
fn a_fifo_as_output_file_is_a_spawn_error_and_hangs_nothing() {
    let yaml = "programs:
  trapped:
    cmd: TESTPROG sleep
    starttime: 0
    startretries: 0
    autostart: false
    stdout: DIR/trap.out
  fine:
    cmd: TESTPROG sleep
    starttime: 0
";
    let mut d = Daemon::start("fifo-output", yaml);
    // Planted once the daemon runs (a config naming a FIFO is refused at load).
    d.wait_state("fine", "RUNNING", secs(10.0));
    mkfifo(&d.path("trap.out"));
    d.command_expect("start trapped", "trapped: ERROR (spawn error)", secs(10.0));
    let t = d.wait_state("trapped", "FATAL", secs(10.0));
    let why = t["description"].as_str().unwrap_or_default();
    assert!(why.contains("a FIFO"), "{why}");
    // The daemon still answers, and its shutdown completes.
    d.wait_state("fine", "RUNNING", secs(5.0));
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn a_fifo_as_event_log_is_a_refused_reload() {
    let yaml = "programs:
  s:
    cmd: TESTPROG sleep
    starttime: 0
";
    let mut d = Daemon::start("fifo-logfile", yaml);
    let pid = d.wait_state("s", "RUNNING", secs(10.0))["pid"].clone();
    mkfifo(&d.path("trap.log"));
    for rotating in ["", "  logfile_maxbytes: 1MB\n"] {
        let config = format!(
            "taskmaster:\n  logfile: {}\n{rotating}{yaml}",
            d.path("trap.log").display()
        );
        std::fs::write(&d.config, expand(&config, &d.dir.0)).expect("rewrite config");
        let mark = d.mark();
        d.send("reload");
        let reply = d.wait_line(mark, "the reload's answer", secs(10.0), |l| {
            l.contains("trap.log")
        });
        assert!(reply.contains("a FIFO"), "{reply}");
        // Nothing changed: the same process, the old log still written.
        assert_eq!(d.instance("s")["pid"], pid);
    }
    assert_eq!(d.finish(secs(20.0)), 0);
}
