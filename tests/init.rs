//! taskmaster as a container's init (README: Running in production), in a real
//! PID namespace (`unshare --pid --fork --mount-proc`, util-linux, which every
//! Debian system has; the tests run as root, as CI does): PID 1 detected, every
//! orphan reaped, SIGTERM/SIGINT shut down and SIGHUP reloads, and the exit
//! status says how the shutdown went. `--init` outside a namespace too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::*;
use crate::control::support::ctl;

/// A taskmaster started as `taskmaster ARGS`, or as PID 1 of a new namespace.
struct Init {
    dir: TempDir,
    launcher: Option<Child>,
    /// The daemon's pid as seen from here.
    pid: i32,
}

impl Init {
    fn start(tag: &str, yaml: &str, namespace: bool, args: &[&str]) -> Init {
        let dir = TempDir::new(tag);
        let config = write_config_file(&dir.0, yaml);
        let socket = dir.path("taskmaster.sock");
        let mut command = match namespace {
            true => {
                let mut c = Command::new("unshare");
                c.args(["--pid", "--fork", "--mount-proc", TASKMASTER]);
                c
            }
            false => Command::new(TASKMASTER),
        };
        command
            .arg("-c")
            .arg(&config)
            .arg("--socket")
            .arg(&socket)
            .args(args)
            // A container's: no terminal, nothing to read.
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let launcher = command.spawn().expect("start taskmaster");
        let pid = match namespace {
            true => wait_for("unshare's child", secs(10.0), || {
                children_of(launcher.id() as i32).first().copied()
            }),
            false => launcher.id() as i32,
        };
        let init = Init {
            dir,
            launcher: Some(launcher),
            pid,
        };
        wait_for("the control socket", secs(10.0), || {
            (ctl(&socket, &["status"]).code != 4).then_some(())
        });
        init
    }

    fn socket(&self) -> PathBuf {
        self.dir.path("taskmaster.sock")
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), sig).expect("kill");
    }

    /// Waits for the exit (of `unshare`, which exits as its child did).
    fn wait_exit(&mut self) -> i32 {
        let mut launcher = self.launcher.take().expect("running");
        let status = wait_for("taskmaster to exit", secs(30.0), || {
            launcher.try_wait().expect("try_wait")
        });
        status.code().unwrap_or(-1)
    }

    /// Whether `pid` of the namespace still exists there (a zombie does).
    fn exists_inside(&self, pid: i32) -> bool {
        Path::new(&format!("/proc/{}/root/proc/{pid}", self.pid)).exists()
    }

    /// The namespace's zombies, from its own `/proc`.
    fn zombies_inside(&self) -> Vec<String> {
        let proc = format!("/proc/{}/root/proc", self.pid);
        std::fs::read_dir(&proc)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                name.parse::<i32>().ok()?;
                let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
                let state = stat[stat.rfind(')')? + 1..].split_whitespace().next()?;
                (state == "Z").then_some(stat)
            })
            .collect()
    }

    fn log(&self) -> String {
        read(&self.dir.path("taskmaster.log"))
    }
}

impl Drop for Init {
    fn drop(&mut self) {
        if let Some(mut launcher) = self.launcher.take() {
            // A failed test: PID 1 killed takes its whole namespace down.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = launcher.kill();
            let _ = launcher.wait();
        }
    }
}

fn running(init: &Init, name: &str) {
    wait_for(&format!("{name} RUNNING"), secs(10.0), || {
        let out = ctl(&init.socket(), &["status", name]);
        out.stdout.contains("RUNNING").then_some(())
    });
}

#[test]
fn as_pid_one_it_reaps_every_orphan_and_a_sigterm_ends_it_cleanly() {
    let yaml = "programs:
  scatter:
    cmd: TESTPROG scatter 20 DIR/adopted.txt
    starttime: 0.2
  anon:
    cmd: TESTPROG double-fork DIR/g.pid stay anon
    starttime: 0.2
";
    // No --init: being PID 1 is enough.
    let mut init = Init::start("init-reap", yaml, true, &[]);
    let text = wait_file(&init.dir.path("adopted.txt"), secs(20.0), |t| {
        t.lines().count() >= 20
    });
    for line in text.lines() {
        let (pid, parent) = line.split_once(' ').expect("PID PPID");
        assert_eq!(parent, "1", "adopted by taskmaster as PID 1: {line}");
        let pid: i32 = pid.parse().unwrap();
        wait_for(&format!("pid {pid} reaped"), secs(10.0), || {
            (!init.exists_inside(pid)).then_some(())
        });
    }
    let mut zombies = Vec::new();
    let none = poll_until(secs(5.0), secs(0.01), || {
        zombies = init.zombies_inside();
        zombies.is_empty().then_some(())
    });
    assert!(none.is_some(), "zombies in the namespace: {zombies:?}");
    assert!(
        init.log().contains("running as init (pid 1)"),
        "{}",
        init.log()
    );
    running(&init, "anon");
    init.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(init.wait_exit(), 0, "every process ended on SIGTERM");
    let log = init.log();
    assert!(log.contains("signal received: SIGTERM"), "{log}");
    assert!(
        log.contains("shutdown: 1 adopted process left"),
        "the orphan of no instance stopped: {log}"
    );
}

#[test]
fn as_pid_one_sighup_reloads_and_sigint_shuts_down() {
    let first = "programs:\n  first:\n    cmd: TESTPROG sleep\n    starttime: 0.2\n";
    let mut init = Init::start("init-signals", first, true, &[]);
    running(&init, "first");
    let second = format!("{first}  second:\n    cmd: TESTPROG sleep\n    starttime: 0.2\n");
    write_config_file(&init.dir.0, &second);
    init.signal(nix::sys::signal::Signal::SIGHUP);
    running(&init, "second");
    init.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(init.wait_exit(), 0);
}

#[test]
fn with_init_no_shell_reads_stdin_and_a_shutdown_that_must_sigkill_exits_3() {
    let yaml = "programs:
  stubborn:
    cmd: TESTPROG ignore-term
    starttime: 0.2
    stoptime: 0.3
";
    // Outside a namespace: the flag alone. Its stdin is /dev/null, read at once
    // to its end, which would shut an ordinary daemon down.
    let mut init = Init::start("init-flag", yaml, false, &["--init"]);
    running(&init, "stubborn");
    init.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(init.wait_exit(), 3, "it had to SIGKILL: {}", init.log());
}
