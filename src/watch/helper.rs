//! The exec helper: what `posix_spawn` cannot do, done in a fresh process.
//!
//! `taskmaster --exec-helper UMASK USER CTTY PROGRAM ARGV...` is started by
//! [`crate::watch::spawn`] through posix_spawn (already in its own session, with its
//! pipes on 0–2 and its working directory set). Being a freshly exec'd,
//! single-threaded process, it may allocate and call anything before it sets the
//! umask, takes its pty as controlling terminal, drops privileges (supplementary groups, gid, then uid) and execs the
//! target. If any step fails it writes the reason to fd 3 and exits 127; on success
//! fd 3, close-on-exec, closes at exec and the daemon reads EOF.

use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{execv, setgid, setgroups, setuid, Gid, Uid};

use super::spawn::HELPER_STATUS_FD;

/// Runs the helper with the arguments after `--exec-helper`. Never returns.
pub fn run(args: &[OsString]) -> ! {
    // SAFETY: fd 3 was installed by the daemon's posix_spawn for this report, and
    // nothing else in this process owns it.
    let mut status = unsafe { std::fs::File::from_raw_fd(HELPER_STATUS_FD) };
    // Closed at exec, so that a success reads as EOF in the daemon.
    let _ = fcntl(&status, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    let err = match apply_and_exec(args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = status.write_all(err.as_bytes());
    std::process::exit(127);
}

enum Never {}

fn apply_and_exec(args: &[OsString]) -> Result<Never, String> {
    let [mask, user, ctty, program, argv @ ..] = args else {
        return Err("exec helper: bad arguments".to_string());
    };
    if mask != "-" {
        let bits = u32::from_str_radix(&mask.to_string_lossy(), 8)
            .map_err(|_| "exec helper: bad umask".to_string())?;
        umask(Mode::from_bits_truncate(bits));
    }
    if ctty == "ctty" {
        crate::pty::make_controlling_terminal()
            .map_err(|e| format!("cannot make the pty the controlling terminal: {}", e.desc()))?;
    }
    if user != "-" {
        drop_privileges(&user.to_string_lossy())?;
    }
    let program =
        CString::new(program.as_bytes()).map_err(|_| "NUL in program path".to_string())?;
    let argv: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| "NUL in an argument".to_string())?;
    // Rust's runtime set SIGPIPE to ignored before `main`, and an ignored signal
    // stays ignored across exec: every signal back to its default, none blocked.
    super::child_signals::reset_before_exec();
    match execv(&program, &argv) {
        Ok(never) => match never {},
        Err(e) => Err(e.desc().to_string()),
    }
}

/// `UID:GID:NAME` → initgroups, setgid, setuid, in that order (README: Security).
fn drop_privileges(spec: &str) -> Result<(), String> {
    let mut parts = spec.splitn(3, ':');
    let (Some(uid), Some(gid), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("exec helper: bad user".to_string());
    };
    let uid: u32 = uid
        .parse()
        .map_err(|_| "exec helper: bad uid".to_string())?;
    let gid: u32 = gid
        .parse()
        .map_err(|_| "exec helper: bad gid".to_string())?;
    let cname = CString::new(name).map_err(|_| "NUL in user name".to_string())?;
    let gid = Gid::from_raw(gid);
    nix::unistd::initgroups(&cname, gid)
        .or_else(|_| setgroups(&[gid]))
        .map_err(|e| format!("cannot set the groups of {name}: {}", e.desc()))?;
    setgid(gid).map_err(|e| format!("setgid: {}", e.desc()))?;
    setuid(Uid::from_raw(uid)).map_err(|e| format!("setuid: {}", e.desc()))?;
    Ok(())
}
