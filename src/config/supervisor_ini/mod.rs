//! supervisor's INI configuration (`supervisord.conf`), read natively.
//!
//! The file is not given a model of its own: it is translated into the tree the
//! YAML loader builds (the same [`Node`]s, under the same `taskmaster:`,
//! `groups:` and `programs:` keys), which then goes through the very same walk,
//! checks and defaults. An INI file therefore means exactly what the YAML printed
//! by `--print-config yaml` means, and reload diffs it the same way.
//!
//! Layout: `reader.rs` reads sections and entries with their file and line,
//! `[include]`s read in (`glob.rs` for their patterns); `expand.rs` does the
//! `%(name)s` expansions; `values.rs` reads supervisor's value syntaxes (booleans,
//! sizes, `KEY="val",K2=v2`); `settings.rs` translates the daemon's sections and
//! `program.rs` each `[program:x]` (`options.rs`: which options it has); `emit.rs` prints the tree as YAML.
//!
//! Every option of supervisor is known: mapped, accepted (its value is
//! taskmaster's behaviour anyway), or not supported — then an error when ignoring
//! it would change what runs or how, a warning when it would not. Nothing is
//! silently ignored.

mod emit;
mod expand;
mod glob;
mod options;
mod program;
mod reader;
mod settings;
mod values;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::tree::Node;

pub(crate) use emit::to_yaml;
pub(crate) use reader::looks_like_ini;

/// Errors and warnings found while translating, each with file and line, and
/// where each translated value came from (to place the walk's errors).
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigError>,
    /// Field path in the tree (`programs.web.cmd`) → the INI line it came
    /// from, and how that option is named there (`[program:web] command`).
    pub origins: Vec<Origin>,
}

/// Where a value of the tree came from.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub path: String,
    pub file: PathBuf,
    pub line: usize,
    pub label: String,
}

fn finding(file: &Path, line: usize, at: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        line: (line > 0).then_some(line),
        column: None,
        path: at.to_string(),
        message: message.into(),
    }
}

impl Findings {
    pub(crate) fn error(&mut self, file: &Path, line: usize, at: &str, message: impl Into<String>) {
        self.errors.push(finding(file, line, at, message));
    }

    pub(crate) fn warn(&mut self, file: &Path, line: usize, at: &str, message: impl Into<String>) {
        self.warnings.push(finding(file, line, at, message));
    }

    /// Notes that the tree's value at `path` came from `file:line`.
    pub(crate) fn origin(&mut self, path: String, file: &Path, line: usize, label: &str) {
        self.origins.push(Origin {
            path,
            file: file.to_path_buf(),
            line,
            label: label.to_string(),
        });
    }

    /// Where the walk's error at field `path` is in the INI files: the entry of
    /// the longest recorded path that is `path` or one of its ancestors.
    pub(crate) fn place(&self, path: &str) -> Option<&Origin> {
        self.origins
            .iter()
            .filter(|o| {
                path == o.path
                    || path
                        .strip_prefix(o.path.as_str())
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            })
            .max_by_key(|o| o.path.len())
    }
}

/// What a `not supported` message ends with.
pub(crate) const NOT_SUPPORTED: &str = "not supported by taskmaster";

/// Translates the INI `text` of `file` (absolute) into the YAML loader's tree.
/// `cwd` is the directory relative paths are taken from, as supervisor does.
pub(crate) fn translate(text: &str, file: &Path, cwd: &Path) -> (Node, Findings) {
    let mut findings = Findings::default();
    let sections = reader::read(text, file, &mut findings);
    let root = settings::translate(&sections, cwd, &mut findings);
    (root, findings)
}
