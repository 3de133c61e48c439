//! `help`, `help attach` and `taskmasterctl --help`: every command, `attach`/`fg`
//! included, listed in both from the one command table.

use super::support::*;
use crate::common::*;

/// Every command a user can type.
const ALL: &[&str] = &[
    "status", "start", "stop", "restart", "signal", "pid", "tail", "attach", "fg", "reload",
    "shutdown", "quit", "exit", "notices", "version", "help", "maintail", "clear", "reread",
    "update", "avail", "add", "remove", "reopen",
];

#[test]
fn help_lists_every_command_and_explains_attach() {
    let mut d = Daemon::start("ctl-help-all", SLEEPER_YAML);
    let sock = d.socket();
    wait_running(&sock, &["sleeper"], secs(10.0));

    let help = ctl_ok(&sock, &["help"], 0);
    let listed: Vec<&str> = help
        .lines()
        .skip(1)
        .flat_map(str::split_whitespace)
        .collect();
    for cmd in ALL {
        assert!(listed.contains(cmd), "help lists {cmd}: {help:?}");
    }
    for cmd in ["attach", "fg"] {
        let text = ctl_ok(&sock, &["help", cmd], 0);
        assert!(text.contains(&format!("{cmd} NAME")), "{text:?}");
    }
    let attach = ctl_ok(&sock, &["help", "attach"], 0);
    for words in [
        "detach key",
        "Ctrl-\\",
        "pty: true",
        "pty: false",
        "keeps running",
        "Ctrl-C",
        "Ctrl-D",
    ] {
        assert!(
            attach.contains(words),
            "help attach says {words:?}: {attach:?}"
        );
    }
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn taskmasterctl_help_lists_the_commands() {
    let out = ctl_raw(&["--help"]);
    assert_eq!(out.code, 0, "{out:?}");
    let commands = out
        .stdout
        .split_once("Commands")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no command list in --help: {out:?}"));
    for cmd in ALL {
        assert!(
            commands
                .lines()
                .any(|l| l.split_whitespace().next() == Some(cmd)),
            "--help lists {cmd}: {commands}"
        );
    }
}

#[test]
fn help_says_how_reload_and_status_differ_from_or_follow_supervisorctl() {
    let mut d = Daemon::start("ctl-help-reload", SLEEPER_YAML);
    let sock = d.socket();
    wait_running(&sock, &["sleeper"], secs(10.0));
    let reload = ctl_ok(&sock, &["help", "reload"], 0);
    for words in [
        "supervisorctl's reload",
        "restarts",
        "only what must change",
    ] {
        assert!(
            reload.contains(words),
            "help reload says {words:?}: {reload:?}"
        );
    }
    let status = ctl_ok(&sock, &["help", "status"], 0);
    for words in ["0 every one running", "3 some", "4 an unknown name"] {
        assert!(
            status.contains(words),
            "help status says {words:?}: {status:?}"
        );
    }
    for cmd in [
        "update", "reread", "avail", "add", "remove", "clear", "maintail",
    ] {
        let text = ctl_ok(&sock, &["help", cmd], 0);
        assert!(text.starts_with(cmd), "help {cmd}: {text:?}");
    }
    assert_eq!(d.finish(secs(20.0)), 0);
}
