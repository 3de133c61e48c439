use super::*;
use crate::remote::url::parse;

fn settings(command: Option<&str>, remote: Option<&str>) -> SshSettings {
    SshSettings::from_values(command.map(str::to_string), remote.map(str::to_string)).unwrap()
}

#[test]
fn the_host_comes_after_the_options_and_a_double_dash() {
    let target = parse("ssh://ops@web1:2222/run/tm.sock").unwrap();
    assert_eq!(
        settings(None, None).argv(&target),
        [
            "ssh",
            "-T",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "ServerAliveInterval=15",
            "-o",
            "ServerAliveCountMax=3",
            "-l",
            "ops",
            "-p",
            "2222",
            "--",
            "web1",
            "taskmasterctl --stdio -s /run/tm.sock",
        ]
    );
    let bare = parse("ssh://web1").unwrap();
    assert_eq!(
        settings(None, None).argv(&bare)[9..],
        [
            "ServerAliveCountMax=3",
            "--",
            "web1",
            "taskmasterctl --stdio"
        ]
    );
}

#[test]
fn the_users_command_comes_first_so_its_options_win() {
    let target = parse("ssh://web1").unwrap();
    let argv = settings(
        Some("ssh -F '/etc/my ssh/config' -o ConnectTimeout=3"),
        Some("/opt/tm/bin/taskmasterctl"),
    )
    .argv(&target);
    assert_eq!(
        argv[..5],
        ["ssh", "-F", "/etc/my ssh/config", "-o", "ConnectTimeout=3"]
    );
    assert_eq!(
        argv.last().map(String::as_str),
        Some("/opt/tm/bin/taskmasterctl --stdio")
    );
}

#[test]
fn the_socket_is_quoted_for_the_remote_shell() {
    let target = parse("ssh://web1/tmp/a b;rm -rf x.sock").unwrap();
    assert_eq!(
        settings(None, None).remote_command(&target),
        "taskmasterctl --stdio -s '/tmp/a b;rm -rf x.sock'"
    );
}

#[test]
fn an_ssh_command_with_unbalanced_quotes_is_refused() {
    let err = SshSettings::from_values(Some("ssh -F 'x".into()), None).unwrap_err();
    assert!(
        err.starts_with("TASKMASTER_SSH_COMMAND: unbalanced quotes"),
        "{err}"
    );
}

#[test]
fn a_failure_is_told_in_ssh_s_words_or_by_its_exit() {
    let refused = "ssh: connect to host 127.0.0.1 port 1: Connection refused";
    assert_eq!(explain(Some(Ended::Code(255)), refused), refused);
    assert_eq!(
        explain(Some(Ended::Code(255)), ""),
        "ssh failed (exit status 255)"
    );
    assert!(explain(
        Some(Ended::Code(127)),
        "bash: taskmasterctl: command not found"
    )
    .contains("TASKMASTER_REMOTE_CTL names it"));
    assert_eq!(
        explain(Some(Ended::Code(3)), ""),
        "the remote taskmasterctl --stdio ended with status 3"
    );
    assert_eq!(
        explain(Some(Ended::Signal(9)), ""),
        "ssh was killed by signal 9"
    );
}

#[test]
fn the_last_three_lines_are_kept_on_one_line() {
    assert_eq!(last_words(b"a\n\n b \nc\nd\n"), "b; c; d");
    assert_eq!(last_words(b""), "");
}
