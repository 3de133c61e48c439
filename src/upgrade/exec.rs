//! The exec of an upgrade in place: asking the new binary first, keeping exactly
//! the hand-over's descriptors open across `execve`, and taking it all back when
//! `execve` fails.

use std::ffi::{CString, OsString};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, FdFlag};

use super::record::{DaemonRecord, RECORD_ENV, SCHEMA};
use crate::config::{Config, Format};

/// The hidden option that asks a binary whether it can take over (it prints the
/// record schemas it reads, and checks the configuration file).
pub const CHECK_FLAG: &str = "--upgrade-check";
/// How long the new binary may take to answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `binary --upgrade-check -c FILE --format F`: it must read our record's
/// schema and load the configuration. Says why not.
pub fn check_binary(binary: &Path, config: &Config) -> Result<(), String> {
    let format = match config.format {
        Format::Yaml => "yaml",
        Format::Supervisor => "supervisor",
    };
    let mut child = Command::new(binary)
        .arg(CHECK_FLAG)
        .arg("-c")
        .arg(&config.file)
        .arg("--format")
        .arg(format)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    // Its own pid, waited for with a deadline through a pidfd: a binary that
    // hangs must not hang the daemon.
    let pidfd = crate::sys::pidfd::pidfd_open(child.id() as i32).ok();
    if let Some(pidfd) = &pidfd {
        let mut poll = [nix::poll::PollFd::new(
            pidfd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = nix::poll::PollTimeout::from(CHECK_TIMEOUT.as_millis() as u16);
        if matches!(nix::poll::poll(&mut poll, ms), Ok(0)) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} did not answer {CHECK_FLAG} within {} s",
                binary.display(),
                CHECK_TIMEOUT.as_secs()
            ));
        }
    }
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.by_ref().take(64 * 1024).read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.by_ref().take(64 * 1024).read_to_string(&mut err);
    }
    let status = child
        .wait()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let schemas: Vec<u32> = out
        .lines()
        .find_map(|l| l.strip_prefix("upgrade-record-schemas:"))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if !status.success() {
        let why = err.trim();
        return Err(match (why.is_empty(), schemas.is_empty()) {
            (_, true) => format!(
                "{} cannot take over (it does not know {CHECK_FLAG}: not a taskmaster that can upgrade in place)",
                binary.display()
            ),
            (false, _) => format!("{} cannot take over: {why}", binary.display()),
            (true, _) => format!("{} cannot take over ({status})", binary.display()),
        });
    }
    if !schemas.contains(&SCHEMA) {
        return Err(format!(
            "{} cannot read this daemon's hand-over (schema {SCHEMA}; it reads {:?})",
            binary.display(),
            schemas
        ));
    }
    Ok(())
}

/// Marks `fds` inherited across exec (`keep`) or close-on-exec again.
fn set_inherited(fds: &[RawFd], keep: bool) -> Result<(), String> {
    for &fd in fds {
        let flags = match keep {
            true => FdFlag::empty(),
            false => FdFlag::FD_CLOEXEC,
        };
        // SAFETY: every number is a descriptor the daemon holds open while its
        // threads are stopped for the upgrade (its watchers and pumps parked).
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        fcntl(borrowed, FcntlArg::F_SETFD(flags))
            .map_err(|e| format!("descriptor {fd}: {}", e.desc()))?;
    }
    Ok(())
}

fn c_string(bytes: &[u8]) -> Result<CString, String> {
    CString::new(bytes).map_err(|_| "an argument holds a NUL byte".to_string())
}

/// Writes the record and execs `binary` with this process's arguments and
/// environment (plus the record's descriptor). Returns only on failure, with
/// every descriptor close-on-exec again, saying why.
pub fn exec(binary: &Path, record: &DaemonRecord) -> String {
    let memfd: OwnedFd = match record.to_memfd() {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    let mut fds = record.fds();
    fds.push(memfd.as_raw_fd());
    let args: Result<Vec<CString>, String> = std::env::args_os()
        .map(|a| c_string(a.as_bytes()))
        .collect();
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| k != RECORD_ENV)
        .collect();
    env.push((RECORD_ENV.into(), memfd.as_raw_fd().to_string().into()));
    let env: Result<Vec<CString>, String> = env
        .iter()
        .map(|(k, v)| c_string(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect();
    let (args, env, path) = match (args, env, c_string(binary.as_os_str().as_bytes())) {
        (Ok(a), Ok(e), Ok(p)) => (a, e, p),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e,
    };
    if let Err(e) = set_inherited(&fds, true) {
        let _ = set_inherited(&fds, false);
        return e;
    }
    // Debug builds only: lets tests/upgrade.rs see a failed execve taken back
    // (no binary that passes the check fails to execute otherwise).
    #[cfg(debug_assertions)]
    if std::env::var_os("TASKMASTER_TEST_UPGRADE_EXEC_FAILS").is_some() {
        let _ = set_inherited(&fds, false);
        return format!(
            "cannot execute {}: {} (test failpoint)",
            binary.display(),
            nix::errno::Errno::ENOEXEC.desc()
        );
    }
    // Lines still queued for a pipe (`logfile: /dev/stdout`) would be lost.
    crate::stream_out::flush_before_exit();
    let Err(errno) = nix::unistd::execve(&path, &args, &env);
    let _ = set_inherited(&fds, false);
    format!("cannot execute {}: {}", binary.display(), errno.desc())
}
