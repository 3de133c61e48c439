//! The socket file: found through the config, mode 0600, one daemon per socket,
//! stale sockets replaced, other files refused, removed at shutdown.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use super::support::*;
use crate::common::*;

// ---- 2. the socket from the config -------------------------------------------------------

#[test]
fn ctl_finds_the_socket_through_the_config() {
    let dir = TempDir::new("ctl-config");
    let sock = dir.path("other.sock");
    let config = write_config_file(
        &dir.0,
        &format!("taskmaster:\n  socket: DIR/other.sock\n{SLEEPER_YAML}"),
    );
    let mut daemon = Bare::on(&config, None);
    wait_for("the configured socket to answer", secs(10.0), || {
        UnixStream::connect(&sock).ok()
    });
    let pids = wait_running(&sock, &["sleeper"], secs(10.0));

    let out = ctl_config(&config, &["status"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        status_line(&out.stdout, "sleeper").contains(&format!("pid {}", pids["sleeper"])),
        "{out:?}"
    );
    let out = ctl_config(&config, &["shutdown"]);
    assert_eq!(out.code, 0, "{out:?}");
    let (code, err) = daemon.wait_exit(secs(20.0));
    assert_eq!(code, 0, "daemon exit; stderr: {err}");
    assert!(!sock.exists(), "the socket is removed at exit");
}

// ---- 3. the socket file -------------------------------------------------------------------

#[test]
fn socket_is_mode_0600_and_a_second_daemon_is_refused() {
    let mut d = Daemon::start("ctl-sock", SLEEPER_YAML);
    let sock = d.socket();
    let pids = wait_running(&sock, &["sleeper"], secs(10.0));
    let meta = std::fs::symlink_metadata(&sock).expect("stat socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(
        meta.permissions().mode() & 0o7777,
        0o600,
        "socket mode: {:o}",
        meta.permissions().mode()
    );

    // A second daemon (its own config dir) on the same socket.
    let other = TempDir::new("ctl-sock-2");
    let config = write_config_file(
        &other.0,
        "programs:\n  second:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    let mut second = Bare::on(&config, Some(&sock));
    let (code, err) = second.wait_exit(secs(20.0));
    assert_eq!(code, 1, "second daemon: stderr {err:?}");
    assert!(
        err.contains(&d.pid().to_string()),
        "the refusal names the first daemon's pid {}: {err:?}",
        d.pid()
    );
    // The first daemon keeps its socket, its children, and nothing was added.
    assert!(sock.exists());
    assert_eq!(
        snapshot(&sock),
        BTreeMap::from([(
            "sleeper".to_string(),
            ("RUNNING".to_string(), Some(pids["sleeper"] as i64))
        )])
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn stale_socket_file_is_replaced() {
    let dir = TempDir::new("ctl-stale");
    let sock = dir.path("taskmaster.sock");
    drop(UnixListener::bind(&sock).expect("bind"));
    assert!(sock.exists(), "the stale socket file stays behind");
    let config = write_config_file(&dir.0, SLEEPER_YAML);
    let mut d = Daemon::start_in(dir, config);
    assert_eq!(d.socket(), sock);
    wait_running(&sock, &["sleeper"], secs(10.0));
    assert_eq!(ctl_ok(&sock, &["pid"], 0).trim(), d.pid().to_string());
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn non_socket_files_at_the_socket_path_are_refused() {
    let dir = TempDir::new("ctl-nonsock");
    let config = write_config_file(
        &dir.0,
        "programs:\n  p:\n    cmd: TESTPROG stamp DIR/started\n    starttime: 0\n",
    );
    let marker = dir.path("started");
    let regular = dir.path("regular.sock");
    std::fs::write(&regular, "precious\n").expect("write file");
    let link = dir.path("link.sock");
    std::os::unix::fs::symlink(dir.path("nowhere.sock"), &link).expect("symlink");
    for path in [&regular, &link] {
        let mut daemon = Bare::on(&config, Some(path));
        let (code, err) = daemon.wait_exit(secs(20.0));
        assert_eq!(code, 1, "{}: stderr {err:?}", path.display());
        assert!(
            err.contains(path.to_str().expect("utf-8")),
            "the refusal names the path: {err:?}"
        );
    }
    assert_eq!(read(&regular), "precious\n", "the file is left alone");
    assert!(std::fs::symlink_metadata(&link)
        .expect("link")
        .file_type()
        .is_symlink());
    assert!(!dir.path("nowhere.sock").exists());
    assert!(!marker.exists(), "nothing was started");
}

// ---- 8. shutdown --------------------------------------------------------------------------

#[test]
fn shutdown_over_the_socket() {
    let mut d = Daemon::start(
        "ctl-shutdown",
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    starttime: 0\n  pool:\n    cmd: TESTPROG sleep\n    numprocs: 2\n    starttime: 0\n",
    );
    let sock: PathBuf = d.socket();
    let pids = wait_running(&sock, &["sleeper", "pool:0", "pool:1"], secs(10.0));
    let out = ctl(&sock, &["shutdown"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.trim(), "Shut down");
    assert_eq!(d.wait_exit(secs(20.0)), 0, "the daemon exits 0");
    assert!(!sock.exists(), "the socket file is removed");
    for (name, pid) in &pids {
        assert!(!alive(*pid), "{name} (pid {pid}) is gone");
    }
    let out = ctl(&sock, &["status"]);
    assert_eq!(out.code, 4, "no daemon to ask: LSB's unknown: {out:?}");
}
