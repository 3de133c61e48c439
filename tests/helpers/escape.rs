//! Modes whose descendants leave the program's process group and session, and
//! are orphaned: what a daemonising program does (README: Running in production).

use std::io::Write;
use std::time::Duration;

use nix::sys::signal::{self, SigHandler, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{self, ForkResult};

use super::{say, sleep_forever, write_atomically};

/// `double-fork PIDFILE stay|exit [ignore|anon]`: a grandchild in a session of
/// its own writes its pid to PIDFILE and sleeps (ignoring SIGTERM with `ignore`;
/// with `anon`, re-exec'd with an empty environment, so nothing names its
/// instance); its parent exits at once. Then `ready`, and this process sleeps
/// (`stay`) or exits 0 (`exit`).
pub fn double_fork(pidfile: &str, then: &str, how: Option<&str>) -> Result<i32, String> {
    if !matches!(then, "stay" | "exit") || !matches!(how, None | Some("ignore" | "anon")) {
        return Err(format!("double-fork: bad arguments {then:?} {how:?}"));
    }
    if how == Some("ignore") {
        // SAFETY: SIG_IGN installs no handler code; inherited through both forks.
        unsafe { signal::signal(Signal::SIGTERM, SigHandler::SigIgn) }
            .map_err(|e| format!("signal: {e}"))?;
    }
    // SAFETY: single-threaded; the child only forks, writes a file, and sleeps or execs.
    match unsafe { unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            let _ = unistd::setsid();
            // SAFETY: as above.
            match unsafe { unistd::fork() } {
                Ok(ForkResult::Child) => grandchild(pidfile, how == Some("anon")),
                _ => std::process::exit(0),
            }
        }
        ForkResult::Parent { child } => {
            let _ = waitpid(child, None);
        }
    }
    if how == Some("ignore") {
        // SAFETY: as above.
        let _ = unsafe { signal::signal(Signal::SIGTERM, SigHandler::SigDfl) };
    }
    // The grandchild's pid is in the file before this process says ready.
    while std::fs::metadata(pidfile).is_err() {
        std::thread::sleep(Duration::from_millis(5));
    }
    say("ready");
    match then {
        "stay" => sleep_forever(),
        _ => Ok(0),
    }
}

fn grandchild(pidfile: &str, anon: bool) -> ! {
    let pid = unistd::getpid();
    if write_atomically(pidfile, &format!("{pid}\n")).is_err() {
        std::process::exit(1);
    }
    if anon {
        let exe = c"/proc/self/exe";
        let argv = [c"taskmaster-testprog", c"sleep"];
        let env: [&std::ffi::CStr; 0] = [];
        let _ = unistd::execve(exe, &argv, &env);
        std::process::exit(1);
    }
    sleep_forever()
}

/// `scatter N FILE`: N grandchildren, each in a session of its own and orphaned
/// at once, append `PID PPID` to FILE once their parent has changed (they were
/// adopted), then exit. Then `ready`, and this process sleeps.
pub fn scatter(n: usize, file: &str) -> Result<i32, String> {
    for _ in 0..n {
        // SAFETY: single-threaded; the child forks and exits, the grandchild
        // writes one line and exits.
        match unsafe { unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
            ForkResult::Child => {
                let _ = unistd::setsid();
                let parent = unistd::getpid();
                // SAFETY: as above.
                if let Ok(ForkResult::Child) = unsafe { unistd::fork() } {
                    adopted_then_exit(parent, file);
                }
                std::process::exit(0);
            }
            ForkResult::Parent { child } => {
                let _ = waitpid(child, None);
            }
        }
    }
    say("ready");
    sleep_forever()
}

fn adopted_then_exit(parent: unistd::Pid, file: &str) -> ! {
    while unistd::getppid() == parent {
        std::thread::sleep(Duration::from_millis(2));
    }
    let line = format!("{} {}\n", unistd::getpid(), unistd::getppid());
    let appended = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    std::process::exit(i32::from(appended.is_err()))
}

/// `daemonize PIDFILE [late|wrong]`: the classic daemon: fork, `setsid`, fork
/// again; the grandchild writes its pid to PIDFILE (`late`: 300 ms after the
/// launcher exited; `wrong`: writes `1`, no process of this program), prints
/// `daemon PID up` and sleeps; the launcher exits 0 once its child has.
pub fn daemonize(pidfile: &str, how: Option<&str>) -> Result<i32, String> {
    if !matches!(how, None | Some("late" | "wrong")) {
        return Err(format!("daemonize: bad argument {how:?}"));
    }
    // SAFETY: single-threaded; the children only fork, write, sleep.
    match unsafe { unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            let _ = unistd::setsid();
            // SAFETY: as above.
            if let Ok(ForkResult::Child) = unsafe { unistd::fork() } {
                daemon(pidfile, how);
            }
            std::process::exit(0);
        }
        ForkResult::Parent { child } => {
            let _ = waitpid(child, None);
        }
    }
    Ok(0)
}

fn daemon(pidfile: &str, how: Option<&str>) -> ! {
    let pid = unistd::getpid();
    if how == Some("late") {
        std::thread::sleep(Duration::from_millis(300));
    }
    let written = match how {
        Some("wrong") => "1\n".to_string(),
        _ => format!("{pid}\n"),
    };
    if write_atomically(pidfile, &written).is_err() {
        std::process::exit(1);
    }
    say(&format!("daemon {pid} up"));
    sleep_forever()
}
