//! supervisor's INI reader under fuzzing: arbitrary text, and documents made of
//! real and misspelt sections, options and expansions. It must never panic nor
//! hang, and every error must name the file and, when it has one, a line of it.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};

use proptest::prelude::*;
use proptest::sample::select;
use taskmaster::config::{parse_as, Format};

use super::setup::{proptest_config, PARSE_BOUND};

const SECTIONS: &[&str] = &[
    "supervisord",
    "program:a",
    "program:b",
    "group:g",
    "include",
    "unix_http_server",
    "supervisorctl",
    "inet_http_server",
    "eventlistener:e",
    "rpcinterface:supervisor",
    "ctlplugin:c",
    "programme:x",
    "program:",
    "group:",
    "",
];

const OPTIONS: &[&str] = &[
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "autorestart",
    "startsecs",
    "startretries",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stderr_logfile",
    "environment",
    "directory",
    "umask",
    "programs",
    "files",
    "file",
    "serverurl",
    "logfile",
    "logfile_maxbytes",
    "minfds",
    "childlogdir",
    "nodaemon",
    "comand",
    "",
];

const VALUES: &[&str] = &[
    "/bin/true",
    "true",
    "no",
    "unexpected",
    "3",
    "-1",
    "0,2",
    "TERM",
    "15",
    "50MB",
    "5é5",
    "022",
    "999",
    "AUTO",
    "NONE",
    "%(here)s/x.log",
    "%(program_name)s_%(process_num)02d",
    "%(nope)s",
    "%(",
    "100%",
    "%%",
    "A=\"x,y\",B=2",
    "A=\"open",
    "a,b",
    "*.conf",
    "unix:///tmp/s",
    "http://h:9001",
    "%(ENV_HOME)s",
    "%(process_num)-3d",
    "%(numprocs)x",
];

fn document() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        4 => (select(OPTIONS), select(VALUES), select(&[" = ", "=", ": "][..]))
            .prop_map(|(k, v, sep)| format!("{k}{sep}{v}")),
        1 => select(SECTIONS).prop_map(|s| format!("[{s}]")),
        1 => select(VALUES).prop_map(|v| format!("  {v}")),
        1 => Just("; comment".to_string()),
        1 => "\\PC{0,20}",
    ];
    (select(SECTIONS), prop::collection::vec(line, 0..30))
        .prop_map(|(first, lines)| format!("[{first}]\n{}\n", lines.join("\n")))
}

/// Parses `text` as INI on its own thread: a hang or a panic is a failure.
fn check(text: &str) -> Result<(), TestCaseError> {
    let (tx, rx) = mpsc::channel();
    let owned = text.to_string();
    std::thread::spawn(move || {
        let file = Path::new("/nonexistent-fuzz-dir/supervisord.conf");
        let _ = tx.send(parse_as(&owned, file, Some(Format::Supervisor)).err());
    });
    let errors = match rx.recv_timeout(PARSE_BOUND) {
        Ok(errors) => errors,
        Err(RecvTimeoutError::Timeout) => {
            return Err(TestCaseError::fail(format!("hang on {text:?}")))
        }
        Err(RecvTimeoutError::Disconnected) => {
            return Err(TestCaseError::fail(format!("panic on {text:?}")))
        }
    };
    let lines = text.lines().count();
    for error in errors.iter().flat_map(|e| e.iter()) {
        let ours = error.file == Path::new("/nonexistent-fuzz-dir/supervisord.conf");
        if ours && error.line.is_some_and(|l| l == 0 || l > lines) {
            return Err(TestCaseError::fail(format!(
                "line out of the file: {error} in {text:?}"
            )));
        }
        if error.message.is_empty() {
            return Err(TestCaseError::fail(format!(
                "an error without a message in {text:?}"
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config(256))]

    #[test]
    fn ini_arbitrary_text(text in "\\PC{0,200}") {
        check(&text)?;
    }

    #[test]
    fn ini_documents(text in document()) {
        check(&text)?;
    }
}
