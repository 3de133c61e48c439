//! The loader: text → tree → validated [`Config`], or every error found.
//!
//! Three steps. (1) [`tree::build`] parses the YAML into a [`Node`] tree, noting
//! duplicate keys; a syntax error stops there. (2) The walk below checks every
//! section and field against SPEC §3, recording each problem and carrying on, and
//! builds the model when nothing is wrong. (3) [`Checker::finish`] finds the line and
//! column of each problem by re-reading the text (see `locate.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::check::{wrong, At, Checker};
use super::error::{ConfigError, ConfigErrors};
use super::fields;
use super::locate::raw_scalar;
use super::model::{
    Backoff, Config, DaemonSettings, ExecForm, LaunchSpec, Notify, OutputTarget, Policy,
    ProgramConfig, Rotation, NOTIFY_EVENTS,
};
use super::resolve::{self, System};
use super::tree::{self, Node};

/// Keys allowed at the top of the file.
const TOP_KEYS: &[&str] = &["taskmaster", "programs"];

/// Keys of the `taskmaster:` section.
pub const DAEMON_KEYS: &[&str] = &[
    "logfile",
    "logfile_maxbytes",
    "logfile_backups",
    "notify",
    "syslog",
    "socket",
    "history",
    "detach_key",
    "tail_buffer",
];

/// Keys of a program.
pub const PROGRAM_KEYS: &[&str] = &[
    "cmd",
    "numprocs",
    "autostart",
    "autorestart",
    "exitcodes",
    "startretries",
    "backoff",
    "priority",
    "depends_on",
    "starttime",
    "stopsignal",
    "stoptime",
    "stdout",
    "stderr",
    "stdout_maxbytes",
    "stdout_backups",
    "stderr_maxbytes",
    "stderr_backups",
    "timestamps",
    "env",
    "workingdir",
    "umask",
    "pty",
    "user",
];

/// Default detach key: Ctrl-\ as in dtach and abduco.
pub const DEFAULT_DETACH_KEY: u8 = 0x1c;

/// Default bytes of recent output kept per instance and stream.
pub const DEFAULT_TAIL_BUFFER: usize = 65536;

/// The file read when none is given: `./taskmaster.yaml`.
pub fn default_config_path() -> PathBuf {
    PathBuf::from("./taskmaster.yaml")
}

/// Reads and validates the file at `path`. An unreadable file is one error naming it.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path),
        Err(error) => Err(ConfigErrors(vec![ConfigError {
            file: absolute(path),
            line: None,
            column: None,
            path: String::new(),
            message: format!("cannot read the configuration file: {error}"),
        }])),
    }
}

/// Validates `text` as the contents of `file`, which names the file in messages
/// and whose directory is the base of relative paths (made absolute first, against
/// the current directory).
///
/// The YAML walkers recurse once per nesting level (YAML allows 128), so parsing
/// runs on a thread of its own with a stack that fits the worst case: the daemon's
/// reload and connection threads have small stacks, and a hostile file must get an
/// error, not overflow them. The stack is only touched as deep as the file goes.
pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigErrors> {
    const PARSER_STACK: usize = 64 * 1024 * 1024;
    let system = System::current();
    std::thread::scope(|scope| {
        let parser = std::thread::Builder::new()
            .name("config".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, || parse_with(text, file, &system));
        match parser.map(|handle| handle.join()) {
            Ok(Ok(result)) => result,
            // No thread (EAGAIN) or a panic in the parser: say so, change nothing.
            Ok(Err(_)) | Err(_) => Err(ConfigErrors(vec![ConfigError {
                file: absolute(file),
                line: None,
                column: None,
                path: String::new(),
                message:
                    "the configuration could not be parsed (internal error or no thread available)"
                        .into(),
            }])),
        }
    })
}

/// [`parse`] for a given user and home directory.
pub(crate) fn parse_with(text: &str, file: &Path, system: &System) -> Result<Config, ConfigErrors> {
    let file = absolute(file);
    let dir = file
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let mut checker = Checker::default();
    let root = match tree::build(text, &mut checker.issues) {
        Ok(root) => root,
        Err(error) => return Err(ConfigErrors(vec![syntax_error(&error, &file)])),
    };
    let mut walk = Walk {
        text,
        dir: &dir,
        system,
        checker,
    };
    let config = walk.root(&root);
    match config {
        Some((daemon, programs)) if walk.checker.issues.is_empty() => Ok(Config {
            file,
            daemon,
            programs,
        }),
        _ => {
            let mut errors = walk.checker.finish(text, &file);
            if errors.is_empty() {
                // Unreachable by construction (every `None` records an issue), but
                // an invalid config must never be reported without a reason.
                errors.0.push(ConfigError {
                    file,
                    line: None,
                    column: None,
                    path: String::new(),
                    message: "invalid configuration".to_string(),
                });
            }
            Err(errors)
        }
    }
}

/// `path` made absolute against the current directory (as is, if that is unknown).
fn absolute(path: &Path) -> PathBuf {
    match std::env::current_dir() {
        Ok(cwd) => resolve::resolve(&cwd, path),
        Err(_) => path.to_path_buf(),
    }
}

/// A YAML syntax error, with the parser's position.
fn syntax_error(error: &serde_yaml::Error, file: &Path) -> ConfigError {
    let location = error.location();
    let mut message = error.to_string();
    if let Some(l) = &location {
        // The position is in the error's own fields; drop yaml_serde's copy of it.
        let suffix = format!(" at line {} column {}", l.line(), l.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_string();
        }
    }
    ConfigError {
        file: file.to_path_buf(),
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
        path: String::new(),
        message: format!("YAML syntax error: {message}"),
    }
}

type Programs = BTreeMap<String, ProgramConfig>;

/// One validation walk over a document.
struct Walk<'a> {
    text: &'a str,
    /// The config file's directory: base of relative paths.
    dir: &'a Path,
    system: &'a System,
    checker: Checker,
}

impl Walk<'_> {
    fn root(&mut self, root: &Node) -> Option<(DaemonSettings, Programs)> {
        let at = At::root();
        match root {
            Node::Null => Some((self.daemon(None, &at.key("taskmaster"))?, Programs::new())),
            Node::Map(entries) => {
                self.checker
                    .unknown_keys(entries, &at, TOP_KEYS, "top-level key");
                let daemon = self.daemon(root.get("taskmaster"), &at.key("taskmaster"));
                let programs = self.programs(root.get("programs"), &at.key("programs"));
                Some((daemon?, programs?))
            }
            _ => {
                let expected = "a mapping with `taskmaster:` and `programs:` sections";
                self.checker.error(&at, wrong(root, expected));
                None
            }
        }
    }

    /// The `taskmaster:` section (absent or empty: all defaults).
    fn daemon(&mut self, node: Option<&Node>, at: &At) -> Option<DaemonSettings> {
        let empty = Node::Map(Vec::new());
        let node = match node {
            None | Some(Node::Null) => &empty,
            Some(node @ Node::Map(entries)) => {
                self.checker
                    .unknown_keys(entries, at, DAEMON_KEYS, "taskmaster setting");
                node
            }
            Some(other) => {
                self.checker
                    .error(at, wrong(other, "a mapping of daemon settings"));
                return None;
            }
        };
        let (dir, home) = (self.dir, self.system.home.as_deref());
        let c = &mut self.checker;
        let logfile = c.field(node, at, "logfile", dir.join("taskmaster.log"), |n| {
            resolve::path(n, dir)
        });
        let socket = c.field(node, at, "socket", None, |n| match n {
            Node::Null => Ok(None),
            n => resolve::path(n, dir).map(Some),
        });
        let history = c.field(node, at, "history", None, |n| match n {
            Node::Null => Ok(None),
            n => resolve::history(n, dir, home).map(Some),
        });
        let detach_key = c.field(
            node,
            at,
            "detach_key",
            DEFAULT_DETACH_KEY,
            fields::detach_key,
        );
        let tail_buffer = c.field(node, at, "tail_buffer", DEFAULT_TAIL_BUFFER, |n| {
            fields::integer(n, 1)
        });
        let notify = self.notify(node.get("notify"), &at.key("notify"));
        let c = &mut self.checker;
        let syslog = c.field(node, at, "syslog", None, |n| match n {
            Node::Bool(false) | Node::Null => Ok(None),
            Node::Bool(true) => Ok(Some(PathBuf::from("/dev/log"))),
            Node::Str(_) => resolve::path(n, dir).map(Some),
            other => Err(wrong(other, "true, false, or the path of a syslog socket")),
        });
        let log_maxbytes = c.field(node, at, "logfile_maxbytes", 0, fields::bytes);
        let log_backups = c.field(node, at, "logfile_backups", 0, |n| fields::integer(n, 0));
        Some(DaemonSettings {
            syslog: syslog?,
            notify: notify?,
            log_rotation: Rotation {
                maxbytes: log_maxbytes?,
                backups: log_backups?,
            },
            logfile: logfile?,
            socket: socket?,
            history: history?,
            detach_key: detach_key?,
            tail_buffer: tail_buffer?,
        })
    }

    /// The `programs:` section (absent or empty: no program).
    fn programs(&mut self, node: Option<&Node>, at: &At) -> Option<Programs> {
        let entries = match node {
            None | Some(Node::Null) => return Some(Programs::new()),
            Some(Node::Map(entries)) => entries,
            Some(other) => {
                let expected = "a mapping of program names to their settings";
                self.checker.error(at, wrong(other, expected));
                return None;
            }
        };
        let mut programs = Some(Programs::new());
        for (name, node) in entries {
            let at = at.key(name);
            let named = fields::program_name(name)
                .map_err(|message| self.checker.key_error(&at, message))
                .ok();
            let program = self.program(name, node, &at);
            match (named, program, programs.as_mut()) {
                (Some(()), Some(program), Some(programs)) => {
                    programs.insert(name.clone(), program);
                }
                _ => programs = None,
            }
        }
        match programs {
            Some(p) if super::deps::check(&p, &mut self.checker, at) => Some(p),
            _ => None,
        }
    }

    /// One program: every field checked, defaults filled in.
    fn program(&mut self, name: &str, node: &Node, at: &At) -> Option<ProgramConfig> {
        let Node::Map(entries) = node else {
            let expected = "a mapping of program settings (at least `cmd`)";
            self.checker.error(at, wrong(node, expected));
            return None;
        };
        self.checker
            .unknown_keys(entries, at, PROGRAM_KEYS, "field");
        let defaults = Policy::default();
        let (dir, euid) = (self.dir, self.system.euid);
        let raw_umask = match node.get("umask") {
            Some(Node::Int(_)) => raw_scalar(self.text, &at.key("umask").segs),
            _ => None,
        };
        let c = &mut self.checker;
        let cmd = match node.get("cmd") {
            Some(cmd) => c.take(&at.key("cmd"), fields::command(cmd)),
            None => {
                c.key_error(at, "missing required field `cmd` (the command to run)");
                None
            }
        };
        let numprocs = c.field(node, at, "numprocs", 1, |n| fields::integer(n, 1));
        let autostart = c.field(node, at, "autostart", defaults.autostart, fields::boolean);
        let autorestart = c.field(
            node,
            at,
            "autorestart",
            defaults.autorestart,
            fields::autorestart,
        );
        let priority = c.field(node, at, "priority", defaults.priority, |n| {
            fields::integer(n, -999_999)
        });
        let depends_on = c.field(node, at, "depends_on", Vec::new(), fields::names);
        let startretries = c.field(
            node,
            at,
            "startretries",
            defaults.startretries,
            fields::retries,
        );
        let starttime = c.field(node, at, "starttime", defaults.starttime, fields::seconds);
        let stopsignal = c.field(node, at, "stopsignal", defaults.stopsignal, fields::signal);
        let stoptime = c.field(node, at, "stoptime", defaults.stoptime, fields::seconds);
        let discard = OutputTarget::Discard;
        let stdout = c.field(node, at, "stdout", discard.clone(), |n| {
            resolve::output(n, dir)
        });
        let stderr = c.field(node, at, "stderr", discard, |n| resolve::output(n, dir));
        let rotation = |c: &mut Checker, stream: &str| -> Option<Rotation> {
            let maxbytes = c.field(node, at, &format!("{stream}_maxbytes"), 0, fields::bytes);
            let backups = c.field(node, at, &format!("{stream}_backups"), 0, |n| {
                fields::integer(n, 0)
            });
            Some(Rotation {
                maxbytes: maxbytes?,
                backups: backups?,
            })
        };
        let timestamps = c.field(node, at, "timestamps", false, fields::boolean);
        let stdout_rotation = rotation(c, "stdout");
        let stderr_rotation = rotation(c, "stderr");
        let workingdir = c.field(node, at, "workingdir", dir.to_path_buf(), |n| {
            resolve::workingdir(n, dir)
        });
        let umask = c.field(node, at, "umask", None, |n| {
            fields::umask(n, raw_umask).map(Some)
        });
        let pty = c.field(node, at, "pty", false, fields::boolean);
        let user = c.field(node, at, "user", None, |n| resolve::user(n, euid).map(Some));
        let exitcodes = self.exitcodes(node.get("exitcodes"), &at.key("exitcodes"));
        let backoff = self.backoff(node.get("backoff"), &at.key("backoff"));
        let env = self.env(node.get("env"), &at.key("env"));
        let (cmd, argv) = cmd?;
        let (env, workingdir) = (env?, workingdir?);
        let exec = match ExecForm::new(&argv, &env, &workingdir) {
            Ok(exec) => exec,
            Err((field, message)) => {
                self.checker.error(&at.key(field), message);
                return None;
            }
        };
        Some(ProgramConfig {
            name: name.to_string(),
            numprocs: numprocs?,
            launch: LaunchSpec {
                cmd,
                argv,
                env,
                workingdir,
                umask: umask?,
                stdout: stdout?,
                stderr: stderr?,
                stdout_rotation: stdout_rotation?,
                stderr_rotation: stderr_rotation?,
                timestamps: timestamps?,
                pty: pty?,
                user: user?,
                exec,
            },
            policy: Policy {
                autostart: autostart?,
                autorestart: autorestart?,
                exitcodes: exitcodes?,
                startretries: startretries?,
                priority: priority?,
                depends_on: depends_on?,
                backoff: backoff?,
                starttime: starttime?,
                stopsignal: stopsignal?,
                stoptime: stoptime?,
            },
        })
    }

    /// `exitcodes`: one code or a list of them (each element checked in place).
    fn exitcodes(&mut self, node: Option<&Node>, at: &At) -> Option<BTreeSet<i32>> {
        match node {
            None => Some(Policy::default().exitcodes),
            Some(Node::Seq(items)) => {
                let mut codes = Some(BTreeSet::new());
                for (i, item) in items.iter().enumerate() {
                    match (
                        self.checker.take(&at.index(i), fields::exit_code(item)),
                        &mut codes,
                    ) {
                        (Some(code), Some(codes)) => {
                            codes.insert(code);
                        }
                        _ => codes = None,
                    }
                }
                codes
            }
            Some(Node::Int(_)) => {
                let code = node.map(fields::exit_code)?;
                self.checker
                    .take(at, code)
                    .map(|code| BTreeSet::from([code]))
            }
            Some(other) => {
                let expected = "an exit code (0-255) or a list of them";
                self.checker.error(at, wrong(other, expected));
                None
            }
        }
    }

    /// `env`: names to scalar values (absent or empty: nothing added).
    /// `notify: {cmd, events, max_per_minute}`; `cmd` required.
    fn notify(&mut self, node: Option<&Node>, at: &At) -> Option<Option<Notify>> {
        const KEYS: &[&str] = &["cmd", "events", "max_per_minute"];
        let entries = match node {
            None | Some(Node::Null) => return Some(None),
            Some(Node::Map(entries)) => entries,
            Some(other) => {
                self.checker.error(
                    at,
                    wrong(other, "a mapping with cmd, events and max_per_minute"),
                );
                return None;
            }
        };
        self.checker
            .unknown_keys(entries, at, KEYS, "notify setting");
        let map = node?;
        let c = &mut self.checker;
        let Some(cmd_node) = map.get("cmd") else {
            c.error(at, "missing `cmd`: the command to run for each event");
            return None;
        };
        let argv = c
            .take(&at.key("cmd"), fields::command(cmd_node))
            .map(|(_, argv)| argv);
        let max = c.field(map, at, "max_per_minute", 6, |n| fields::integer(n, 1));
        let default_events: BTreeSet<String> = ["fatal", "unexpected_exit", "reload_failed"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let events = match map.get("events") {
            None => Some(default_events),
            Some(Node::Seq(items)) => {
                let mut events = Some(BTreeSet::new());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Node::Str(name) if NOTIFY_EVENTS.contains(&name.as_str()) => {
                            if let Some(e) = events.as_mut() {
                                e.insert(name.clone());
                            }
                        }
                        other => {
                            let expected = format!("one of: {}", NOTIFY_EVENTS.join(", "));
                            c.error(&at.key("events").index(i), wrong(other, &expected));
                            events = None;
                        }
                    }
                }
                events
            }
            Some(other) => {
                c.error(&at.key("events"), wrong(other, "a list of event names"));
                None
            }
        };
        if entries.iter().any(|(k, _)| !KEYS.contains(&k.as_str())) {
            return None;
        }
        Some(Some(Notify {
            argv: argv?,
            events: events?,
            max_per_minute: max?,
            workingdir: self.dir.to_path_buf(),
        }))
    }

    /// `backoff: {initial, max, factor}` (all optional: 1 s, 60 s, 2); absent means
    /// supervisor's linear 1 s, 2 s, 3 s….
    fn backoff(&mut self, node: Option<&Node>, at: &At) -> Option<Backoff> {
        let entries = match node {
            None | Some(Node::Null) => return Some(Backoff::Linear),
            Some(Node::Map(entries)) => entries,
            Some(other) => {
                let expected = "a mapping with initial, max (seconds) and factor";
                self.checker.error(at, wrong(other, expected));
                return None;
            }
        };
        self.checker.unknown_keys(
            entries,
            at,
            &["initial", "max", "factor"],
            "backoff setting",
        );
        let map = node?;
        let c = &mut self.checker;
        let initial = c.field(map, at, "initial", Duration::from_secs(1), fields::seconds);
        let max = c.field(map, at, "max", Duration::from_secs(60), fields::seconds);
        let factor = c.field(map, at, "factor", 2.0, fields::factor);
        let (initial, max, factor) = (initial?, max?, factor?);
        if max < initial {
            let message = format!(
                "found {}, expected a maximum ≥ initial ({} s)",
                max.as_secs_f64(),
                initial.as_secs_f64()
            );
            self.checker.error(&at.key("max"), message);
            return None;
        }
        if entries
            .iter()
            .any(|(k, _)| !["initial", "max", "factor"].contains(&k.as_str()))
        {
            return None;
        }
        Some(Backoff::Exponential {
            initial,
            max,
            factor,
        })
    }

    fn env(&mut self, node: Option<&Node>, at: &At) -> Option<BTreeMap<String, String>> {
        let entries = match node {
            None | Some(Node::Null) => return Some(BTreeMap::new()),
            Some(Node::Map(entries)) => entries,
            Some(other) => {
                let expected = "a mapping of variable names to values";
                self.checker.error(at, wrong(other, expected));
                return None;
            }
        };
        let mut env = Some(BTreeMap::new());
        for (name, value) in entries {
            let at = at.key(name);
            let named = fields::env_name(name)
                .map_err(|message| self.checker.key_error(&at, message))
                .ok();
            let value = self.checker.take(&at, fields::env_value(value));
            match (named, value, env.as_mut()) {
                (Some(()), Some(value), Some(env)) => {
                    env.insert(name.clone(), value);
                }
                _ => env = None,
            }
        }
        env
    }
}
