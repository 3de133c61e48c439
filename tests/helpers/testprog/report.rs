//! The `report` mode's JSON: how the process was started (ids, umask, cwd, argv,
//! environment, open descriptors, signal mask and dispositions, terminals), as
//! exec left it.

use nix::libc;
use nix::sys::stat::{umask, Mode};
use nix::unistd;
use std::fs;
use std::io::{self, IsTerminal};

/// One line of /proc/self/status, e.g. `status_field("SigIgn")` -> `"0000000000001000"`.
pub fn status_field(name: &str) -> Option<String> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then(|| value.trim().to_string())
    })
}

pub fn open_fds() -> Vec<i32> {
    let mut fds: Vec<i32> = match fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    // The directory's own fd is closed now: keep only the fds that are still open.
    // SAFETY: F_GETFD only queries the descriptor flags.
    fds.retain(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1);
    fds.sort_unstable();
    fds
}

pub fn report() -> serde_json::Value {
    let old = umask(Mode::empty());
    umask(old);
    let env: serde_json::Map<String, serde_json::Value> = std::env::vars_os()
        .map(|(k, v)| {
            let value = v.to_string_lossy().into_owned();
            (k.to_string_lossy().into_owned(), value.into())
        })
        .collect();
    let groups: Vec<u32> = unistd::getgroups()
        .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default();
    serde_json::json!({
        "pid": unistd::getpid().as_raw(),
        "ppid": unistd::getppid().as_raw(),
        "pgid": unistd::getpgrp().as_raw(),
        "sid": unistd::getsid(None).map(|p| p.as_raw()).ok(),
        "uid": unistd::getuid().as_raw(),
        "gid": unistd::getgid().as_raw(),
        "groups": groups,
        "umask": format!("{:03o}", old.bits()),
        "cwd": std::env::current_dir().ok().map(|p| p.to_string_lossy().into_owned()),
        "argv": std::env::args().collect::<Vec<_>>(),
        "env": env,
        "fds": open_fds(),
        "sigmask": status_field("SigBlk"),
        "sigign": status_field("SigIgn"),
        "tty": [io::stdin().is_terminal(), io::stdout().is_terminal(), io::stderr().is_terminal()],
    })
}
