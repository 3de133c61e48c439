//! The control plane (README: Command line, Commands, Security): a real daemon, its real control socket, and
//! real `taskmasterctl` one-shots — every command with its reply and exit code, the
//! socket's placement and ownership rules, the wire protocol's error handling,
//! concurrency, `tail -f` streaming, and `shutdown`.
//!
//! Nothing here sleeps blindly: every wait is a condition polled until a deadline.

mod addressing;
mod closed_pipe;
mod commands;
mod config_commands;
mod events;
mod file_tail;
mod help;
mod log_commands;
mod long_names;
mod never_hangs;
mod piped_shell;
mod protocol;
mod resources;
mod shutdown_wait;
mod socket_file;
mod stalled_output;
pub(crate) mod support;
mod tail;
mod tail_groups;
mod who_asked;

use crate::common::*;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use support::{run_timeout, snapshot, wait_running, SLEEPER_YAML};

const CTL: &str = env!("CARGO_BIN_EXE_taskmasterctl");
const VERSION: &str = env!("CARGO_PKG_VERSION");

// ---- 4. another uid ----------------------------------------------------------------------
//
// Here, not in a submodule: the client half re-executes this test binary with
// `--exact control::peer_client_helper` (see `peer_helper_name`).

const PEER_ENV: &str = "TM_CONTROL_PEER_SOCKET";

/// Not a test by itself: the client half of `a_client_of_another_uid_is_refused`,
/// run by re-executing this test binary as `nobody`. Prints one `PEER:` line.
#[test]
fn peer_client_helper() {
    let Some(path) = std::env::var_os(PEER_ENV) else {
        return;
    };
    let result = (|| -> Result<String, String> {
        let stream = UnixStream::connect(&path).map_err(|e| format!("CONNECT-ERROR {e}"))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        // The daemon may answer and close before reading: a failed write is fine.
        let _ = (&stream).write_all(b"{\"command\": \"status\", \"args\": [\"--json\"]}\n");
        let mut line = String::new();
        match BufReader::new(&stream).read_line(&mut line) {
            Ok(0) => Ok("EOF".to_string()),
            Ok(_) => Ok(format!("REPLY {}", line.trim_end())),
            Err(e) => Err(format!("READ-ERROR {e}")),
        }
    })();
    println!("PEER: {}", result.unwrap_or_else(|e| e));
}

/// `peer_client_helper`'s test name: its path in the test binary, e.g.
/// `control::peer_client_helper` (this module's path without the crate's name).
fn peer_helper_name() -> String {
    match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::peer_client_helper"),
        None => "peer_client_helper".to_string(),
    }
}

fn run_peer_as_nobody(socket: &Path) -> String {
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.args([
        "--exact",
        &peer_helper_name(),
        "--nocapture",
        "--test-threads=1",
    ])
    .env(PEER_ENV, socket)
    .current_dir("/")
    .uid(65534)
    .gid(65534);
    let out = run_timeout(cmd, secs(30.0));
    out.stdout
        .lines()
        .find_map(|l| l.find("PEER: ").map(|i| l[i + 6..].to_string()))
        .unwrap_or_else(|| panic!("the peer client printed no result: {out:?}"))
}

#[test]
fn a_client_of_another_uid_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to act as another uid");
        return;
    }
    let mut d = Daemon::start("ctl-peer", SLEEPER_YAML);
    let sock = d.socket();
    wait_running(&sock, &["sleeper"], secs(10.0));
    let before = snapshot(&sock);
    // The test directory must be searchable by nobody.
    std::fs::set_permissions(&d.dir.0, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    // Mode 0600: nobody cannot even connect.
    let seen = run_peer_as_nobody(&sock);
    assert!(
        seen.starts_with("CONNECT-ERROR"),
        "a 0600 socket refuses nobody at connect: {seen}"
    );

    // Opened up on purpose: SO_PEERCRED still refuses the foreign uid.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let seen = run_peer_as_nobody(&sock);
    eprintln!("nobody on a 0666 socket saw: {seen}");
    match seen.strip_prefix("REPLY ") {
        Some(json) => {
            let reply: Value = serde_json::from_str(json).expect("reply is JSON");
            assert_eq!(reply["ok"], false, "{reply}");
            assert_ne!(reply["exit"], 0, "{reply}");
            assert!(reply.get("data").is_none(), "no status for nobody: {reply}");
            assert!(!json.contains("sleeper"), "no status for nobody: {reply}");
        }
        None => assert!(
            seen == "EOF" || seen.starts_with("READ-ERROR"),
            "refused without a status: {seen}"
        ),
    }
    // Root is still served, and nothing changed.
    assert_eq!(snapshot(&sock), before);
    assert!(
        d.log().contains("65534"),
        "the refusal is logged with the uid: {}",
        d.log()
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}
