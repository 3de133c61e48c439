//! The sections that are not programs: `[supervisord]`, `[unix_http_server]`,
//! `[supervisorctl]`, `[group:g]`, the ones taskmaster does not support, and the
//! assembly of the whole tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::expand::{expand, Context};
use super::reader::Section;
use super::{values, Findings, NOT_SUPPORTED};
use crate::config::tree::Node;

/// What every program takes from the daemon's sections.
pub(crate) struct Globals {
    /// `[supervisord] environment`: under each program's own.
    pub env: Vec<(String, String)>,
    /// Where `AUTO` log files go (`childlogdir`, default the temporary directory).
    pub childlogdir: PathBuf,
    /// The umask of programs that set none (`[supervisord] umask`, default 022).
    pub umask: String,
    /// `[supervisord] identifier`, part of `AUTO` file names.
    pub identifier: String,
    /// Base of relative paths.
    pub cwd: PathBuf,
    /// `unix://` and the `[unix_http_server] file`: the child's
    /// `SUPERVISOR_SERVER_URL` unless its `serverurl` says another.
    pub server_url: Option<String>,
}

/// How one `[supervisord]` option is taken.
enum Daemon {
    /// Translated below.
    Mapped,
    /// Taskmaster does this anyway, or it changes nothing that runs.
    Warn(&'static str),
    /// Ignoring it would change behaviour, unless it has this (default) value.
    ErrorUnless(&'static str, &'static str),
}

fn daemon_option(key: &str) -> Option<Daemon> {
    use Daemon::*;
    Some(match key {
        "logfile" | "logfile_maxbytes" | "logfile_backups" | "minfds" | "environment"
        | "childlogdir" | "umask" | "identifier" | "nocleanup" => Mapped,
        "loglevel" => Warn("the event log has no levels to choose"),
        "pidfile" => Warn("no pid file is written"),
        "nodaemon" => {
            Warn("taskmaster always runs in the foreground (use systemd, nohup or & to detach it)")
        }
        "silent" => Warn("the event log is shown on the terminal only with a shell"),
        "minprocs" => Warn("the process limit is left as it is"),
        "directory" => Warn("taskmaster does not change its directory"),
        "strip_ansi" => ErrorUnless("false", "escape sequences are kept in log files"),
        "user" => ErrorUnless(
            "",
            "taskmaster does not switch its own user: start it as that user",
        ),
        _ => return None,
    })
}

/// Translates every section into the tree `{taskmaster, groups, programs}`.
pub(crate) fn translate(sections: &[Section], cwd: &Path, findings: &mut Findings) -> Node {
    let mut daemon: Vec<(String, Node)> = Vec::new();
    let supervisord = sections.iter().find(|s| s.name == "supervisord");
    let mut globals = match supervisord {
        Some(section) => self::supervisord(section, cwd, &mut daemon, findings),
        None => default_globals(cwd),
    };
    if supervisord.is_none() {
        daemon.push((
            "logfile".into(),
            Node::Str(cwd.join("supervisord.log").display().to_string()),
        ));
        daemon.push(("logfile_maxbytes".into(), Node::Int(50 << 20)));
        daemon.push(("logfile_backups".into(), Node::Int(10)));
    }
    globals.server_url = socket(sections, cwd, &mut daemon, findings);
    let membership = groups_of(sections, findings);
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut programs: Vec<(String, Node)> = Vec::new();
    for section in sections {
        let (kind, name) = section
            .name
            .split_once(':')
            .unwrap_or((section.name.as_str(), ""));
        let header = format!("[{}]", section.name);
        match kind {
            "program" => {
                let group = membership.get(name).map(|(g, _)| g.as_str());
                super::program::translate(section, name, group, &globals, &mut programs, &mut groups, findings);
            }
            "supervisord" | "unix_http_server" | "supervisorctl" | "include" | "group" => {}
            "inet_http_server" => findings.error(
                &section.file,
                section.line,
                &header,
                format!("the HTTP (XML-RPC) interface is {NOT_SUPPORTED}: its clients would find nothing listening; taskmasterctl talks over the unix socket"),
            ),
            "eventlistener" | "fcgi-program" => findings.error(
                &section.file,
                section.line,
                &header,
                format!("[{kind}:x] is {NOT_SUPPORTED}: this program would not run"),
            ),
            "rpcinterface" if name == "supervisor" => rpcinterface(section, findings),
            "rpcinterface" => findings.error(&section.file, section.line, &header, format!("RPC interface plugins are {NOT_SUPPORTED}")),
            "ctlplugin" => findings.warn(&section.file, section.line, &header, format!("supervisorctl plugins are {NOT_SUPPORTED} (ignored)")),
            _ => findings.error(
                &section.file,
                section.line,
                &header,
                "unknown section: expected [supervisord], [program:x], [group:x], [include], [unix_http_server], [supervisorctl] or [rpcinterface:supervisor]",
            ),
        }
    }
    for (program, (group, line)) in &membership {
        if !sections
            .iter()
            .any(|s| s.name == format!("program:{program}"))
        {
            findings.error(
                file_of(sections, group),
                *line,
                &format!("[group:{group}] programs"),
                format!("names unknown program {program}"),
            );
        }
    }
    // A group of one program of its own name is the program itself.
    groups.retain(|name, members| members.len() != 1 || members[0] != *name);
    let groups = groups
        .into_iter()
        .map(|(name, members)| {
            (
                name,
                Node::Seq(members.into_iter().map(Node::Str).collect()),
            )
        })
        .collect();
    Node::Map(vec![
        ("taskmaster".into(), Node::Map(daemon)),
        ("groups".into(), Node::Map(groups)),
        ("programs".into(), Node::Map(programs)),
    ])
}

fn file_of<'a>(sections: &'a [Section], group: &str) -> &'a Path {
    sections
        .iter()
        .find(|s| s.name == format!("group:{group}"))
        .map_or(Path::new(""), |s| s.file.as_path())
}

fn default_globals(cwd: &Path) -> Globals {
    Globals {
        env: Vec::new(),
        childlogdir: std::env::temp_dir(),
        umask: "022".into(),
        identifier: "supervisor".into(),
        cwd: cwd.to_path_buf(),
        server_url: None,
    }
}

/// The `[supervisord]` section: the event log, and what programs inherit.
fn supervisord(
    section: &Section,
    cwd: &Path,
    daemon: &mut Vec<(String, Node)>,
    findings: &mut Findings,
) -> Globals {
    let mut globals = default_globals(cwd);
    let context = Context::for_file(&section.here());
    let (file, at) = (&section.file, |key: &str| format!("[supervisord] {key}"));
    let mut logfile = cwd.join("supervisord.log");
    let (mut maxbytes, mut backups) = (50i64 << 20, 10i64);
    for entry in &section.entries {
        let value = match expand(&entry.value, &context) {
            Ok(v) => v,
            Err(e) => {
                findings.error(file, entry.line, &at(&entry.key), e.message(&entry.key));
                continue;
            }
        };
        let mut check = |result: Result<(), String>| {
            if let Err(message) = result {
                findings.error(file, entry.line, &at(&entry.key), message);
            }
        };
        match (entry.key.as_str(), daemon_option(&entry.key)) {
            ("logfile", _) if value.eq_ignore_ascii_case("syslog") => check(Err(format!(
                "logfile=syslog is {NOT_SUPPORTED}: write a file, and copy the event log to syslog with the YAML `syslog: true`"
            ))),
            ("logfile", _) => logfile = absolute(cwd, &value),
            ("logfile_maxbytes", _) => check(values::byte_size(&value).map(|n| maxbytes = n)),
            ("logfile_backups", _) => check(values::integer(&value, 0).map(|n| backups = n)),
            ("minfds", _) => check(minfds(&value)),
            ("environment", _) => check(values::environment(&value).map(|env| globals.env = env)),
            ("childlogdir", _) => globals.childlogdir = absolute(cwd, &value),
            ("umask", _) => check(values::octal(&value).map(|u| globals.umask = u)),
            ("identifier", _) => globals.identifier = value.clone(),
            ("nocleanup", _) => check(values::boolean(&value).map(drop)),
            ("nodaemon", _) if values::boolean(&value) == Ok(true) => {}
            (_, Some(Daemon::Mapped)) => {}
            (key, Some(Daemon::Warn(why))) => {
                findings.warn(file, entry.line, &at(key), format!("{NOT_SUPPORTED} (ignored: {why})"));
            }
            (key, Some(Daemon::ErrorUnless(default, why))) => {
                let same = value == default || (default == "false" && values::boolean(&value) == Ok(false));
                if !same {
                    findings.error(file, entry.line, &at(key), format!("{NOT_SUPPORTED}: {why}"));
                }
            }
            (key, None) => findings.error(file, entry.line, &at(key), unknown_option(key, "supervisord")),
        }
    }
    findings.origin(
        "taskmaster.logfile".into(),
        file,
        section.get("logfile").map_or(section.line, |e| e.line),
        "[supervisord] logfile",
    );
    daemon.push(("logfile".into(), Node::Str(logfile.display().to_string())));
    daemon.push(("logfile_maxbytes".into(), Node::Int(maxbytes.into())));
    daemon.push(("logfile_backups".into(), Node::Int(backups.into())));
    for key in ["logfile_maxbytes", "logfile_backups"] {
        if let Some(e) = section.get(key) {
            findings.origin(format!("taskmaster.{key}"), file, e.line, &at(key));
        }
    }
    globals
}

/// `minfds`: taskmaster raises its descriptor limit to the hard limit at start,
/// so any `minfds` up to that limit is met; one above it cannot be.
fn minfds(value: &str) -> Result<(), String> {
    let wanted = values::integer(value, 0)?;
    let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(_, hard)| hard)
        .unwrap_or(u64::MAX);
    if u64::try_from(wanted).unwrap_or(0) > hard {
        return Err(format!(
            "minfds={wanted} is above this process's hard limit of {hard} open files: raise the limit (ulimit -Hn) or lower minfds"
        ));
    }
    Ok(())
}

/// The control socket: `[unix_http_server] file`, else `[supervisorctl] serverurl`.
/// Returns the URL of the former, which supervisor gives its children.
fn socket(
    sections: &[Section],
    cwd: &Path,
    daemon: &mut Vec<(String, Node)>,
    findings: &mut Findings,
) -> Option<String> {
    let mut socket: Option<(PathBuf, PathBuf, usize)> = None;
    let mut server_url = None;
    for section in sections
        .iter()
        .filter(|s| s.name == "unix_http_server" || s.name == "supervisorctl")
    {
        let context = Context::for_file(&section.here());
        for entry in &section.entries {
            let at = format!("[{}] {}", section.name, entry.key);
            let value = match expand(&entry.value, &context) {
                Ok(v) => v,
                Err(e) => {
                    findings.error(&section.file, entry.line, &at, e.message(&entry.key));
                    continue;
                }
            };
            match (section.name.as_str(), entry.key.as_str()) {
                ("unix_http_server", "file") => {
                    let path = absolute(cwd, &value);
                    server_url = Some(format!("unix://{}", path.display()));
                    socket = Some((path, section.file.clone(), entry.line));
                }
                ("supervisorctl", "serverurl") => match value.strip_prefix("unix://") {
                    Some(path) if socket.is_none() => socket = Some((absolute(cwd, path), section.file.clone(), entry.line)),
                    Some(path) => {
                        if socket.as_ref().is_some_and(|(p, _, _)| *p != absolute(cwd, path)) {
                            findings.warn(&section.file, entry.line, &at, "names another socket than [unix_http_server] file; taskmasterctl uses the daemon's");
                        }
                    }
                    None => findings.error(&section.file, entry.line, &at, format!("{value:?}: only unix:// URLs are supported; HTTP is {NOT_SUPPORTED}")),
                },
                ("unix_http_server", "chmod" | "chown") => findings.warn(
                    &section.file,
                    entry.line,
                    &at,
                    format!("{NOT_SUPPORTED} (ignored: the socket is made for its owner, in a private directory by default)"),
                ),
                ("unix_http_server", "username" | "password") => findings.error(
                    &section.file,
                    entry.line,
                    &at,
                    format!("password authentication is {NOT_SUPPORTED}: access is by the socket's file permissions"),
                ),
                ("supervisorctl", "username" | "password" | "prompt" | "history_file") => {
                    findings.warn(&section.file, entry.line, &at, format!("{NOT_SUPPORTED} (ignored by taskmasterctl)"));
                }
                (name, key) => findings.error(&section.file, entry.line, &at, unknown_option(key, name)),
            }
        }
    }
    if let Some((path, file, line)) = socket {
        findings.origin("taskmaster.socket".into(), &file, line, "socket");
        daemon.push(("socket".into(), Node::Str(path.display().to_string())));
    }
    server_url
}

/// `[rpcinterface:supervisor]`: every supervisor config has it, for supervisorctl;
/// taskmaster's own protocol takes its place.
fn rpcinterface(section: &Section, findings: &mut Findings) {
    for entry in &section.entries {
        let standard = entry.key == "supervisor.rpcinterface_factory"
            && entry.value.trim() == "supervisor.rpcinterface:make_main_rpcinterface";
        if !standard {
            let at = format!("[rpcinterface:supervisor] {}", entry.key);
            findings.error(
                &section.file,
                entry.line,
                &at,
                format!("RPC interface settings are {NOT_SUPPORTED}"),
            );
        }
    }
}

/// `[group:g] programs = a,b`: program → (group, line of `programs`).
fn groups_of(sections: &[Section], findings: &mut Findings) -> BTreeMap<String, (String, usize)> {
    let mut membership = BTreeMap::new();
    for section in sections {
        let Some(group) = section.name.strip_prefix("group:") else {
            continue;
        };
        let context = Context::for_file(&section.here());
        if section.get("programs").is_none() {
            findings.error(
                &section.file,
                section.line,
                &format!("[group:{group}]"),
                "missing `programs`: the programs of the group, separated by commas",
            );
        }
        for entry in &section.entries {
            let at = format!("[group:{group}] {}", entry.key);
            match entry.key.as_str() {
                "programs" => match expand(&entry.value, &context) {
                    Ok(value) => {
                        for program in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                            if let Some((other, _)) = membership.insert(program.to_string(), (group.to_string(), entry.line)) {
                                findings.error(&section.file, entry.line, &at, format!("program {program} is already in group {other}"));
                            }
                        }
                    }
                    Err(e) => findings.error(&section.file, entry.line, &at, e.message("programs")),
                },
                "priority" => findings.warn(
                    &section.file,
                    entry.line,
                    &at,
                    format!("a group's priority is {NOT_SUPPORTED} (ignored: each program's own priority orders starts and stops)"),
                ),
                key => findings.error(&section.file, entry.line, &at, unknown_option(key, "group")),
            }
        }
    }
    membership
}

/// `path` (with `~/` expanded) made absolute against `cwd`.
pub(crate) fn absolute(cwd: &Path, path: &str) -> PathBuf {
    let expanded = match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    };
    crate::config::resolve::resolve(cwd, expanded)
}

/// The error for an option a section does not have.
pub(crate) fn unknown_option(key: &str, section: &str) -> String {
    format!("unknown option `{key}` in [{section}]")
}
