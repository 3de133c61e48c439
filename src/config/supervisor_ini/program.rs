//! One `[program:x]`: its processes (one per `numprocs`, each named by its
//! `process_name` and with its own `%(process_num)d` expansions) become
//! taskmaster programs of one instance, and the group (`x`, or the `[group:g]`
//! that lists it) names them together.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::expand::{expand, Context};
use super::options::{check_option, ini_option};
use super::reader::Section;
use super::settings::{absolute, Globals};
use super::{values, Findings, NOT_SUPPORTED};
use crate::config::tree::Node;

/// Default size of a program's log files before rotation, and backups kept.
const LOG_MAXBYTES: i128 = 50 << 20;
const LOG_BACKUPS: i128 = 10;

/// Translates `section` (`[program:name]`) into `programs` and `groups`.
pub(crate) fn translate(
    section: &Section,
    name: &str,
    group: Option<&str>,
    globals: &Globals,
    programs: &mut Vec<(String, Node)>,
    groups: &mut BTreeMap<String, Vec<String>>,
    findings: &mut Findings,
) {
    let group = group.unwrap_or(name);
    let file = section.file.as_path();
    let at = |key: &str| format!("[program:{name}] {key}");
    let mut context = Context::for_file(&section.here());
    context.text.insert("program_name", name.to_string());
    context.text.insert("group_name", group.to_string());
    for entry in &section.entries {
        check_option(entry, name, file, findings);
    }
    let count = |key: &str, default: i64, min: i64, findings: &mut Findings| -> Option<i64> {
        let Some(entry) = section.get(key) else {
            return Some(default);
        };
        let value = expand(&entry.value, &context).map_err(|e| e.message(key));
        match value.and_then(|v| values::integer(&v, min)) {
            Ok(n) => Some(n),
            Err(message) => {
                findings.error(file, entry.line, &at(key), message);
                None
            }
        }
    };
    let numprocs = count("numprocs", 1, 1, findings);
    let start = count("numprocs_start", 0, 0, findings);
    let (Some(numprocs), Some(start)) = (numprocs, start) else {
        return;
    };
    let max = i64::from(crate::config::fields::MAX_NUMPROCS);
    if numprocs > max {
        findings.error(
            file,
            section.get("numprocs").map_or(section.line, |e| e.line),
            &at("numprocs"),
            format!("found {numprocs}, expected at most {max}"),
        );
        return;
    }
    let template = section
        .get("process_name")
        .map_or("%(program_name)s", |e| e.value.as_str());
    // After an error that leaves no program to make, the options of one process
    // are still read, for their own errors.
    let mut valid = true;
    if numprocs > 1 && !template.contains("%(process_num)") {
        let line = section.get("process_name").map_or(section.line, |e| e.line);
        findings.error(
            file,
            line,
            &at("process_name"),
            "%(process_num) must be present within process_name when numprocs > 1",
        );
        valid = false;
    }
    if section.get("command").is_none() {
        findings.error(
            file,
            section.line,
            &format!("[program:{name}]"),
            "missing `command`: the command to run",
        );
        valid = false;
    }
    context.numbers.insert("numprocs", numprocs);
    // An option's expansion error is the same for every process: said once.
    let mut reported = HashSet::new();
    let last = if valid { start + numprocs } else { start + 1 };
    for num in start..last {
        context.numbers.insert("process_num", num);
        let mut expanded: BTreeMap<&str, (String, usize)> = BTreeMap::new();
        for entry in &section.entries {
            match expand(&entry.value, &context) {
                Ok(value) => {
                    expanded.insert(entry.key.as_str(), (value, entry.line));
                }
                Err(e) => {
                    if reported.insert(entry.key.clone()) {
                        findings.error(file, entry.line, &at(&entry.key), e.message(&entry.key));
                    }
                }
            }
        }
        let process = match expanded.get("process_name") {
            Some((value, _)) => value.clone(),
            None if section.get("process_name").is_some() => continue,
            None => name.to_string(),
        };
        let mut out = Process {
            name: &process,
            file,
            at: &at,
            fields: Vec::new(),
            findings,
            report: num == start,
        };
        out.fields(&expanded, globals, group);
        let fields = out.fields;
        if !valid {
            continue;
        }
        findings.origin(
            format!("programs.{process}"),
            file,
            section.line,
            &format!("[program:{name}]"),
        );
        groups
            .entry(group.to_string())
            .or_default()
            .push(process.clone());
        if programs.iter().any(|(other, _)| *other == process) {
            let message = format!(
                "a process named {process} is already defined: each process_name must be unique"
            );
            findings.error(file, section.line, &format!("[program:{name}]"), message);
            continue;
        }
        programs.push((process, Node::Map(fields)));
    }
}

/// The fields of one process, as the YAML loader's tree.
struct Process<'a, 'f> {
    name: &'a str,
    file: &'a Path,
    at: &'a dyn Fn(&str) -> String,
    fields: Vec<(String, Node)>,
    findings: &'f mut Findings,
    /// Value errors are reported for the first process only (they are the same).
    report: bool,
}

impl Process<'_, '_> {
    /// Sets `key` (taskmaster's name) from `value`, read from the INI line `line`.
    fn set(&mut self, key: &str, node: Node, line: usize) {
        if line > 0 {
            let label = (self.at)(&ini_option(key));
            self.findings.origin(
                format!("programs.{}.{key}", self.name),
                self.file,
                line,
                &label,
            );
        }
        self.fields.push((key.to_string(), node));
    }

    /// Runs `read` on option `option` if given; its error is reported at its line.
    fn read(
        &mut self,
        expanded: &BTreeMap<&str, (String, usize)>,
        option: &str,
        key: &str,
        read: impl Fn(&str) -> Result<Node, String>,
    ) {
        let Some((value, line)) = expanded.get(option) else {
            return;
        };
        match read(value) {
            Ok(node) => self.set(key, node, *line),
            Err(message) if self.report => {
                let at = (self.at)(option);
                self.findings.error(self.file, *line, &at, message);
            }
            Err(_) => {}
        }
    }

    fn fields(&mut self, x: &BTreeMap<&str, (String, usize)>, globals: &Globals, group: &str) {
        let int = |min: i64| move |v: &str| values::integer(v, min).map(|n| Node::Int(n.into()));
        let boolean = |v: &str| values::boolean(v).map(Node::Bool);
        let size = |v: &str| values::byte_size(v).map(|n| Node::Int(n.into()));
        self.read(x, "command", "cmd", |v| Ok(Node::Str(v.to_string())));
        self.read(x, "priority", "priority", |v| {
            values::integer(v, i64::MIN).map(|n| Node::Int(n.into()))
        });
        self.read(x, "autostart", "autostart", boolean);
        self.read(x, "autorestart", "autorestart", |v| {
            values::autorestart(v).map(|s| Node::Str(s.into()))
        });
        self.read(x, "startsecs", "starttime", int(0));
        self.read(x, "startretries", "startretries", int(0));
        self.read(x, "exitcodes", "exitcodes", |v| {
            values::exit_codes(v)
                .map(|codes| Node::Seq(codes.into_iter().map(|c| Node::Int(c.into())).collect()))
        });
        self.read(x, "stopsignal", "stopsignal", |v| {
            values::signal(v).map(Node::Str)
        });
        self.read(x, "stopwaitsecs", "stoptime", int(0));
        for option in [
            "stopasgroup",
            "killasgroup",
            "stdout_syslog",
            "stderr_syslog",
            "stdout_events_enabled",
            "stderr_events_enabled",
        ] {
            self.check(x, option, |v| values::boolean(v).map(drop));
        }
        for option in ["stdout_capture_maxbytes", "stderr_capture_maxbytes"] {
            self.check(x, option, |v| values::byte_size(v).map(drop));
        }
        self.read(x, "user", "user", |v| Ok(Node::Str(v.to_string())));
        let cwd = globals.cwd.clone();
        let directory = x
            .get("directory")
            .map_or((cwd.display().to_string(), 0), |(v, line)| {
                (absolute(&cwd, v).display().to_string(), *line)
            });
        self.set("workingdir", Node::Str(directory.0), directory.1);
        match x.get("umask") {
            Some(_) => self.read(x, "umask", "umask", |v| values::octal(v).map(Node::Str)),
            None => self.set("umask", Node::Str(globals.umask.clone()), 0),
        }
        self.environment(x, globals, group);
        let redirect = match x.get("redirect_stderr") {
            Some((v, line)) => match values::boolean(v) {
                Ok(b) => b,
                Err(message) => {
                    let at = (self.at)("redirect_stderr");
                    if self.report {
                        self.findings.error(self.file, *line, &at, message);
                    }
                    false
                }
            },
            None => false,
        };
        let stdout = self.logfile(x, "stdout", globals);
        for (stream, target) in [
            ("stdout", Some(stdout.clone())),
            (
                "stderr",
                (!redirect).then(|| self.logfile(x, "stderr", globals)),
            ),
        ] {
            let source = if redirect && stream == "stderr" {
                "stdout"
            } else {
                stream
            };
            self.set(
                stream,
                target.unwrap_or_else(|| stdout.clone()),
                x.get(format!("{source}_logfile").as_str())
                    .map_or(0, |e| e.1),
            );
            let maxbytes = format!("{source}_logfile_maxbytes");
            let backups = format!("{source}_logfile_backups");
            match x.get(maxbytes.as_str()) {
                Some(_) => self.read(x, &maxbytes, &format!("{stream}_maxbytes"), size),
                None => self.set(&format!("{stream}_maxbytes"), Node::Int(LOG_MAXBYTES), 0),
            }
            match x.get(backups.as_str()) {
                Some(_) => self.read(x, &backups, &format!("{stream}_backups"), int(0)),
                None => self.set(&format!("{stream}_backups"), Node::Int(LOG_BACKUPS), 0),
            }
        }
        if redirect && x.contains_key("stderr_logfile") {
            let (_, line) = x["stderr_logfile"];
            let at = (self.at)("stderr_logfile");
            if self.report {
                self.findings.warn(self.file, line, &at, "ignored: redirect_stderr=true sends stderr to stdout_logfile, as in supervisor");
            }
        }
    }

    /// Checks the value of an option that is accepted but not translated.
    fn check(
        &mut self,
        x: &BTreeMap<&str, (String, usize)>,
        option: &str,
        read: impl Fn(&str) -> Result<(), String>,
    ) {
        if let Some((value, line)) = x.get(option) {
            if let (Err(message), true) = (read(value), self.report) {
                let at = (self.at)(option);
                self.findings.error(self.file, *line, &at, message);
            }
        }
    }

    /// `environment`, over the variables supervisor sets for its children
    /// (`SUPERVISOR_ENABLED`, `_PROCESS_NAME`, `_GROUP_NAME`, `_SERVER_URL`), over
    /// `[supervisord] environment`.
    fn environment(&mut self, x: &BTreeMap<&str, (String, usize)>, globals: &Globals, group: &str) {
        let mut env: BTreeMap<String, String> = globals.env.iter().cloned().collect();
        env.insert("SUPERVISOR_ENABLED".into(), "1".into());
        env.insert("SUPERVISOR_PROCESS_NAME".into(), self.name.to_string());
        env.insert("SUPERVISOR_GROUP_NAME".into(), group.to_string());
        let server_url = match x.get("serverurl") {
            Some((url, _)) if !url.eq_ignore_ascii_case("AUTO") => Some(url.clone()),
            _ => globals.server_url.clone(),
        };
        if let Some(url) = server_url {
            env.insert("SUPERVISOR_SERVER_URL".into(), url);
        }
        let mut line = 0;
        if let Some((value, at_line)) = x.get("environment") {
            line = *at_line;
            match values::environment(value) {
                Ok(pairs) => env.extend(pairs),
                Err(message) if self.report => {
                    let at = (self.at)("environment");
                    self.findings.error(self.file, line, &at, message);
                }
                Err(_) => {}
            }
        }
        {
            let map = env.into_iter().map(|(k, v)| (k, Node::Str(v))).collect();
            self.set("env", Node::Map(map), line);
        }
    }

    /// `stdout_logfile`/`stderr_logfile`: a path, `NONE`, or `AUTO` (the default):
    /// a file of taskmaster's in `childlogdir`, named after the process and the
    /// stream. Its name is fixed (not random as supervisor's), so a reload finds the
    /// program unchanged and the file goes on.
    fn logfile(
        &mut self,
        x: &BTreeMap<&str, (String, usize)>,
        stream: &str,
        globals: &Globals,
    ) -> Node {
        let option = format!("{stream}_logfile");
        let value = x.get(option.as_str()).map_or("AUTO", |(v, _)| v.as_str());
        match value.to_ascii_uppercase().as_str() {
            "NONE" => Node::Str("discard".into()),
            "AUTO" => {
                let file = format!("{}-{stream}---{}.log", self.name, globals.identifier);
                Node::Str(globals.childlogdir.join(file).display().to_string())
            }
            "SYSLOG" => {
                if let (Some((_, line)), true) = (x.get(option.as_str()), self.report) {
                    let at = (self.at)(&option);
                    self.findings.error(
                        self.file,
                        *line,
                        &at,
                        format!("a syslog log file is {NOT_SUPPORTED}"),
                    );
                }
                Node::Str("discard".into())
            }
            _ => Node::Str(absolute(&globals.cwd, value).display().to_string()),
        }
    }
}
