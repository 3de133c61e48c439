//! The loader: text → tree → validated [`Config`], or every error found.
//!
//! Three steps. (1) [`tree::build`] parses the YAML into a [`Node`] tree, noting
//! duplicate keys; a syntax error stops there. (2) The walk below checks every
//! section and field against README: Configuration, recording each problem and carrying on, and
//! builds the model when nothing is wrong. (3) [`Checker::finish`] finds the line and
//! column of each problem by re-reading the text (see `locate_batch.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::check::{wrong, At, Checker};
use super::error::{ConfigError, ConfigErrors};
use super::fields;
use super::locate::Seg;
use super::locate_batch::raw_scalars;
use super::model::{Config, DaemonSettings, Format, ProgramConfig};
use super::nesting;
use super::resolve::{self, System};
use super::tree::{self, Node};

/// Keys allowed at the top of the file.
const TOP_KEYS: &[&str] = &["taskmaster", "groups", "programs"];

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
    "max_connections",
    "connection_idle_timeout",
    "metrics",
    "http",
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
    "restart_throttle",
    "max_memory",
    "pidfile",
    "healthcheck",
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

/// The error for a file without a `programs` key (an empty file included).
pub(crate) const NO_PROGRAMS: &str =
    "no `programs`: an empty or truncated file? write `programs: {}` for none";

/// The error for `programs:` with nothing after it.
const EMPTY_PROGRAMS: &str =
    "`programs` is empty (null): a truncated file? write `programs: {}` for none";

/// Default detach key: Ctrl-\ as in dtach and abduco.
pub const DEFAULT_DETACH_KEY: u8 = 0x1c;

/// Default bytes of recent output kept per instance and stream.
pub const DEFAULT_TAIL_BUFFER: usize = 65536;

/// Default `connection_idle_timeout`: a minute to send a request.
pub const DEFAULT_CONNECTION_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The file read when none is given: `./taskmaster.yaml`.
pub fn default_config_path() -> PathBuf {
    PathBuf::from("./taskmaster.yaml")
}

/// Largest configuration file read (16 MiB): thousands of programs fit many times
/// over; a larger file is a mistake (or `/dev/zero`) that must not fill memory.
pub(crate) const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Reads and validates the file at `path`, in the syntax it is written in
/// (taskmaster's YAML or supervisor's INI: see `formats.rs`). An unreadable file
/// is one error naming it.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    super::formats::load_as(path, None)
}

/// The text of the configuration file: a regular file of at most
/// [`MAX_CONFIG_BYTES`]. Opened non-blocking, so a FIFO at the path is refused
/// instead of holding the reload (and every later one) until a writer comes.
pub(crate) fn read_config(path: &Path) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| e.to_string())?;
    let metadata = file.metadata().map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".into());
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!(
            "larger than {} MiB (the most taskmaster reads)",
            MAX_CONFIG_BYTES >> 20
        ));
    }
    Ok(text)
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
    let system = System::current();
    guarded(file, || parse_with(text, file, &system))
}

/// `parse` on a thread of its own with a large, lazily touched stack (see
/// [`parse`]), so that a deep file or a bug in a reader is an error about the file
/// instead of the end of the daemon: no thread (EAGAIN) or a panic there changes
/// nothing.
pub(super) fn guarded<T: Send>(
    file: &Path,
    parse: impl FnOnce() -> Result<T, ConfigErrors> + Send,
) -> Result<T, ConfigErrors> {
    const PARSER_STACK: usize = 64 * 1024 * 1024;
    std::thread::scope(|scope| {
        let parser = std::thread::Builder::new()
            .name("config".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, parse);
        match parser.map(|handle| handle.join()) {
            Ok(Ok(result)) => result,
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
    if let Err(deep) = nesting::check(text) {
        return Err(ConfigErrors(vec![ConfigError {
            file,
            line: Some(deep.line),
            column: Some(deep.column),
            path: String::new(),
            message: deep.message(),
        }]));
    }
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
        Some((daemon, groups, programs)) if walk.checker.issues.is_empty() => Ok(Config {
            file,
            format: Format::Yaml,
            daemon,
            groups,
            programs,
            warnings: Vec::new(),
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
pub(crate) fn absolute(path: &Path) -> PathBuf {
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
type Groups = BTreeMap<String, Vec<String>>;

/// One validation walk over a document.
pub(super) struct Walk<'a> {
    pub(super) text: &'a str,
    /// The config file's directory: base of relative paths.
    pub(super) dir: &'a Path,
    pub(super) system: &'a System,
    pub(super) checker: Checker,
}

impl<'a> Walk<'a> {
    pub(super) fn root(&mut self, root: &Node) -> Option<(DaemonSettings, Groups, Programs)> {
        let at = At::root();
        match root {
            Node::Null => {
                self.checker.error(&at, NO_PROGRAMS);
                None
            }
            Node::Map(entries) => {
                let before = self.checker.issues.len();
                self.checker
                    .unknown_keys(entries, &at, TOP_KEYS, "top-level key");
                let misspelt = self.checker.issues.len() > before;
                let daemon = self.daemon(root.get("taskmaster"), &at.key("taskmaster"));
                let programs = match root.get("programs") {
                    // `program:` is not a truncated file: its own error says it.
                    None if misspelt => None,
                    node => self.programs(node, &at.key("programs")),
                };
                let groups = self.groups(root.get("groups"), &at.key("groups"), programs.as_ref());
                Some((daemon?, groups?, programs?))
            }
            _ => {
                let expected = "a mapping with `taskmaster:` and `programs:` sections";
                self.checker.error(&at, wrong(root, expected));
                None
            }
        }
    }

    /// The `programs:` section. Absent or empty (`programs:` and nothing after it)
    /// is an error: that is what a file truncated by an editor or a tool looks
    /// like, and applying it would stop everything. No program at all must be said
    /// with `programs: {}`.
    fn programs(&mut self, node: Option<&Node>, at: &At) -> Option<Programs> {
        let entries = match node {
            None => {
                self.checker.error(&At::root(), NO_PROGRAMS);
                return None;
            }
            Some(Node::Null) => {
                self.checker.error(at, EMPTY_PROGRAMS);
                return None;
            }
            Some(Node::Map(entries)) => entries,
            Some(other) => {
                let expected = "a mapping of program names to their settings";
                self.checker.error(at, wrong(other, expected));
                return None;
            }
        };
        let mut programs = Some(Programs::new());
        // Each program's dependencies as far as they can be read, so that an
        // unknown name or a cycle is reported alongside the file's other errors.
        let mut dependencies = BTreeMap::new();
        let raw_umasks = self.raw_umasks(entries, at);
        for ((name, node), raw_umask) in entries.iter().zip(raw_umasks) {
            let readable = node
                .get("depends_on")
                .and_then(super::healthcheck::dependency_names);
            dependencies.insert(name.as_str(), readable.unwrap_or_default());
            let at = at.key(name);
            let named = fields::program_name(name)
                .map_err(|message| self.checker.key_error(&at, message))
                .ok();
            let program = self.program(name, node, &at, raw_umask);
            match (named, program, programs.as_mut()) {
                (Some(()), Some(program), Some(programs)) => {
                    programs.insert(name.clone(), program);
                }
                _ => programs = None,
            }
        }
        let dependencies_ok = super::deps::check(&dependencies, &mut self.checker, at);
        let programs = programs.filter(|_| dependencies_ok)?;
        let health_ok =
            super::healthcheck::check_healthy_dependencies(&programs, &mut self.checker, at);
        health_ok.then_some(programs)
    }

    /// How each program's `umask` was written, where YAML made it an integer
    /// (`0o22` and `22` both read as octal 22, so the digits matter): one reading
    /// of the text for all programs, not one each.
    fn raw_umasks(&self, entries: &[(String, Node)], at: &At) -> Vec<Option<&'a str>> {
        let int_umask = |node: &Node| matches!(node.get("umask"), Some(Node::Int(_)));
        let wanted: Vec<Vec<Seg>> = (entries.iter())
            .filter(|(_, node)| int_umask(node))
            .map(|(name, _)| at.key(name).key("umask").segs())
            .collect();
        if wanted.is_empty() {
            return vec![None; entries.len()];
        }
        let mut found = raw_scalars(self.text, &wanted).into_iter();
        (entries.iter())
            .map(|(_, node)| {
                if int_umask(node) {
                    found.next().flatten()
                } else {
                    None
                }
            })
            .collect()
    }
}
