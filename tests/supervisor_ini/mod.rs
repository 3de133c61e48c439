//! supervisor's INI configuration run by the real daemon: instance names from
//! `numprocs`/`process_name`, the child's environment, directory and umask (read
//! in /proc), `AUTO`/`NONE`/path log files, group addressing, `[include]` globs,
//! SIGHUP after an edit, bad files, and `--print-config yaml`.

mod compare;
mod errors;
mod reload;

use std::path::{Path, PathBuf};

use crate::common::*;

/// Starts the daemon on `ini` (TESTPROG and DIR replaced) written as
/// `supervisord.conf`, with `files` (name, contents) written beside it first.
pub fn start_ini(tag: &str, ini: &str, files: &[(&str, &str)]) -> Daemon {
    let dir = TempDir::new(tag);
    for (name, contents) in files {
        let path = dir.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, expand(contents, &dir.0)).expect("write included file");
    }
    let config = dir.path("supervisord.conf");
    std::fs::write(&config, expand(ini, &dir.0)).expect("write ini");
    Daemon::start_in(dir, config)
}

/// The daemon's own settings every test file starts with: the event log where
/// [`Daemon::log`] reads it, `AUTO` log files in the test's directory.
pub const SUPERVISORD: &str = "[supervisord]
logfile=%(here)s/taskmaster.log
childlogdir=%(here)s
environment=GLOBAL=\"yes\"
";

/// The environment of process `pid`, from /proc.
pub fn environ(pid: i32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).expect("read environ");
    raw.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// The working directory of process `pid`, from /proc.
pub fn cwd(pid: i32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/cwd")).expect("read cwd")
}

/// The umask of process `pid`, from /proc (`0027`).
pub fn umask(pid: i32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|u| u.trim().to_string())
        .expect("Umask line")
}

/// Waits until every one of `names` is listed and RUNNING.
pub fn wait_all(d: &mut Daemon, names: &[&str]) {
    for name in names {
        wait_for(&format!("{name} RUNNING"), secs(10.0), || {
            d.status()
                .iter()
                .any(|i| i["name"] == *name && i["state"] == "RUNNING")
                .then_some(())
        });
    }
}

const EVERY_OPTION: &str = "
[program:web]
command=TESTPROG print hello-%(process_num)d
process_name=%(program_name)s_%(process_num)02d
numprocs=2
numprocs_start=0
priority=10
autostart=true
autorestart=unexpected
startsecs=0
startretries=2
exitcodes=0,2
stopsignal=TERM
stopwaitsecs=5
stopasgroup=true
killasgroup=true
environment=A=\"x,y\",NUM=%(process_num)d,GROUP=%(group_name)s
directory=%(here)s/work
umask=027
stdout_logfile=%(here)s/%(program_name)s-%(process_num)d.out
stdout_logfile_maxbytes=1MB
stdout_logfile_backups=2
stderr_logfile=NONE

[program:quiet]
command=TESTPROG print out-line err-line
stdout_logfile=NONE
stderr_logfile=AUTO

[program:merged]
command=TESTPROG print merged-out merged-err
redirect_stderr=true
stdout_logfile=%(here)s/merged.log

[group:grp]
programs=quiet,merged

[include]
files=conf.d/*.conf
";

#[test]
fn every_option_shapes_the_child_and_its_files() {
    let ini = format!("{SUPERVISORD}{EVERY_OPTION}");
    let included =
        "[program:inc]\ncommand=TESTPROG sleep\nstdout_logfile=NONE\nstderr_logfile=NONE\n";
    let mut d = start_ini(
        "ini-options",
        &ini,
        &[("work/.keep", ""), ("conf.d/a.conf", included)],
    );
    wait_all(&mut d, &["web_00", "web_01", "quiet", "merged", "inc"]);
    let dir = d.dir.0.clone();

    let web1 = d.pid_of("web_01");
    let env = environ(web1);
    for expected in ["A=x,y", "NUM=1", "GROUP=web", "GLOBAL=yes"] {
        assert!(env.iter().any(|e| e == expected), "{expected} in {env:?}");
    }
    assert_eq!(cwd(web1), dir.join("work"));
    assert_eq!(umask(web1), "0027");
    // No umask of its own: [supervisord]'s default, 022.
    assert_eq!(umask(d.pid_of("quiet")), "0022");
    // No directory: the daemon's own.
    let here = std::env::current_dir().expect("cwd");
    assert_eq!(cwd(d.pid_of("inc")), here);

    wait_file(&dir.join("web-1.out"), secs(10.0), |t| {
        t.contains("hello-1")
    });
    wait_file(&dir.join("web-0.out"), secs(10.0), |t| {
        t.contains("hello-0")
    });
    wait_file(
        &dir.join("quiet-stderr---supervisor.log"),
        secs(10.0),
        |t| t.contains("err-line"),
    );
    assert!(
        !dir.join("quiet-stdout---supervisor.log").exists(),
        "NONE makes no file"
    );
    wait_file(&dir.join("merged.log"), secs(10.0), |t| {
        t.contains("merged-out") && t.contains("merged-err")
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn groups_are_addressed_as_supervisorctl_does() {
    let ini = format!("{SUPERVISORD}{EVERY_OPTION}");
    let mut d = start_ini(
        "ini-groups",
        &ini,
        &[("work/.keep", ""), ("conf.d/.keep", "")],
    );
    wait_all(&mut d, &["web_00", "web_01", "quiet", "merged"]);
    let web1 = d.pid_of("web_01");

    d.send("stop grp:*");
    d.wait_state("quiet", "STOPPED", secs(10.0));
    d.wait_state("merged", "STOPPED", secs(10.0));
    d.send("start grp:quiet");
    d.wait_state("quiet", "RUNNING", secs(10.0));
    assert_eq!(d.instance("merged")["state"], "STOPPED");

    d.send("stop web:web_00");
    d.wait_state("web_00", "STOPPED", secs(10.0));
    d.send("start web:");
    d.wait_state("web_00", "RUNNING", secs(10.0));
    // A lone program is also GROUP:NAME.
    d.send("stop quiet:quiet");
    d.wait_state("quiet", "STOPPED", secs(10.0));
    assert_eq!(d.pid_of("web_01"), web1, "web_01 untouched throughout");

    let mark = d.mark();
    d.send("stop grp:nosuch");
    d.wait_line(mark, "an unknown member refused", secs(5.0), |l| {
        l.contains("grp:nosuch") && l.contains("no such process")
    });
    assert_eq!(d.finish(secs(20.0)), 0);
}

/// Runs `taskmaster ARGS…` to the end: (exit code, stdout, stderr).
pub fn run_taskmaster(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_taskmaster"))
        .args(args)
        .output()
        .expect("run taskmaster");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, expand(text, dir)).expect("write");
    path
}

#[test]
fn print_config_yaml_loads_as_the_same_configuration() {
    let dir = TempDir::new("ini-print");
    std::fs::create_dir_all(dir.path("work")).expect("mkdir");
    std::fs::create_dir_all(dir.path("conf.d")).expect("mkdir");
    let ini = write(
        &dir.0,
        "supervisord.conf",
        &format!("{SUPERVISORD}{EVERY_OPTION}"),
    );
    let (code, yaml, stderr) = run_taskmaster(&[
        "--check".as_ref(),
        "--print-config".as_ref(),
        "yaml".as_ref(),
        "-c".as_ref(),
        ini.as_os_str(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        yaml.contains("web_01:") && yaml.contains("groups:"),
        "{yaml}"
    );
    let printed = write(&dir.0, "printed.yaml", &yaml);
    let (code, out, stderr) =
        run_taskmaster(&["--check".as_ref(), "-c".as_ref(), printed.as_os_str()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("OK (4 programs)"), "{out}");
    // The YAML printed from the YAML is the same again.
    let (_, again, _) = run_taskmaster(&[
        "--check".as_ref(),
        "--print-config".as_ref(),
        "yaml".as_ref(),
        "-c".as_ref(),
        printed.as_os_str(),
    ]);
    assert_eq!(again, yaml);
}

#[test]
fn the_format_is_recognised_or_forced() {
    let dir = TempDir::new("ini-format");
    let body = "; comment first\n[program:one]\ncommand=/bin/true\n";
    let sniffed = write(&dir.0, "config", body);
    let (code, out, stderr) =
        run_taskmaster(&["--check".as_ref(), "-c".as_ref(), sniffed.as_os_str()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("OK (1 programs)"), "{out}");
    let named = write(&dir.0, "odd.txt", body);
    let (code, _, stderr) = run_taskmaster(&["--check".as_ref(), "-c".as_ref(), named.as_os_str()]);
    assert_eq!(code, 0, "first line a [section]: {stderr}");
    let (code, _, stderr) = run_taskmaster(&[
        "--check".as_ref(),
        "--format".as_ref(),
        "yaml".as_ref(),
        "-c".as_ref(),
        named.as_os_str(),
    ]);
    assert_eq!(code, 2, "forced YAML refuses INI: {stderr}");
    let yaml_named_conf = write(&dir.0, "t.conf", "programs:\n  one:\n    cmd: /bin/true\n");
    let (code, _, stderr) = run_taskmaster(&[
        "--check".as_ref(),
        "--format".as_ref(),
        "yaml".as_ref(),
        "-c".as_ref(),
        yaml_named_conf.as_os_str(),
    ]);
    assert_eq!(code, 0, "forced YAML on a .conf: {stderr}");
}
