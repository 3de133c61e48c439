//! Which syntax a file is read as, and reading supervisor's: `--format`, else a
//! `.conf`/`.ini` name or a first line that is a `[section]` header means
//! supervisor's INI, anything else taskmaster's YAML.

use std::path::{Path, PathBuf};

use super::check::Checker;
use super::error::{ConfigError, ConfigErrors};
use super::load::{absolute, guarded, parse, read_config, Walk};
use super::model::{Config, Format};
use super::resolve::System;
use super::supervisor_ini;
use super::tree::{self, Node};

/// The format of `file` whose contents are `text`, unless `forced`.
pub fn detect(file: &Path, text: &str, forced: Option<Format>) -> Format {
    if let Some(format) = forced {
        return format;
    }
    match file.extension().and_then(|e| e.to_str()) {
        Some("conf" | "ini") => Format::Supervisor,
        Some("yaml" | "yml") => Format::Yaml,
        _ if supervisor_ini::looks_like_ini(text) => Format::Supervisor,
        _ => Format::Yaml,
    }
}

/// [`load`](super::load) in a given format (`None`: detected).
pub fn load_as(path: &Path, format: Option<Format>) -> Result<Config, ConfigErrors> {
    read(path).and_then(|text| parse_as(&text, path, format))
}

fn read(path: &Path) -> Result<String, ConfigErrors> {
    read_config(path).map_err(|message| {
        ConfigErrors(vec![ConfigError {
            file: absolute(path),
            line: None,
            column: None,
            path: String::new(),
            message: format!("cannot read the configuration file: {message}"),
        }])
    })
}

/// [`parse`] in a given format (`None`: detected).
pub fn parse_as(text: &str, file: &Path, format: Option<Format>) -> Result<Config, ConfigErrors> {
    match detect(file, text, format) {
        Format::Yaml => parse(text, file),
        Format::Supervisor => guarded(file, || parse_ini(text, file, &System::current()))
            .map(|(config, _)| config)
            .map_err(|errors| read_by_its_name(errors, text, format)),
    }
}

/// `errors`, with a note when the file was read as INI for its name only: a
/// taskmaster YAML file called `something.conf` is then told apart.
fn read_by_its_name(mut errors: ConfigErrors, text: &str, forced: Option<Format>) -> ConfigErrors {
    if forced.is_none() && !supervisor_ini::looks_like_ini(text) {
        if let Some(first) = errors.0.first_mut() {
            first.message.push_str(
                " (the file was read as supervisor's INI because of its name; `--format yaml` reads it as YAML)",
            );
        }
    }
    errors
}

/// The configuration at `path` and the same as taskmaster YAML (for
/// `--print-config yaml`): the INI's translation, or a YAML file re-printed.
pub fn load_as_yaml(path: &Path, format: Option<Format>) -> Result<(Config, String), ConfigErrors> {
    let text = read(path)?;
    match detect(path, &text, format) {
        Format::Yaml => {
            let config = parse(&text, path)?;
            let mut ignored = Vec::new();
            let root = tree::build(&text, &mut ignored).unwrap_or(Node::Null);
            Ok((config, supervisor_ini::to_yaml(&root)))
        }
        Format::Supervisor => guarded(path, || parse_ini(&text, path, &System::current()))
            .map(|(config, root)| (config, supervisor_ini::to_yaml(&root)))
            .map_err(|errors| read_by_its_name(errors, &text, format)),
    }
}

/// Reads INI `text`: translated, then checked by the YAML loader's own walk, whose
/// errors are placed on the INI lines their values came from. Every error of
/// both steps is reported at once.
pub(crate) fn parse_ini(
    text: &str,
    file: &Path,
    system: &System,
) -> Result<(Config, Node), ConfigErrors> {
    let file = absolute(file);
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let dir = file
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let (root, findings) = supervisor_ini::translate(text, &file, &cwd);
    let mut walk = Walk {
        text: "",
        dir: &dir,
        system,
        checker: Checker::default(),
    };
    let walked = walk.root(&root);
    let issues = walk.checker.issues;
    match walked {
        Some((daemon, groups, programs)) if issues.is_empty() && findings.errors.is_empty() => {
            Ok((
                Config {
                    file,
                    format: Format::Supervisor,
                    daemon,
                    groups,
                    programs,
                    warnings: findings.warnings,
                },
                root,
            ))
        }
        _ => {
            let mut errors = findings.errors.clone();
            for issue in issues {
                let path = issue.at.path();
                let (at_file, line, label) = match findings.place(&path) {
                    Some(o) => (o.file.clone(), Some(o.line), o.label.clone()),
                    None => (file.clone(), None, path),
                };
                errors.push(ConfigError {
                    file: at_file,
                    line,
                    column: None,
                    path: label,
                    message: issue.message,
                });
            }
            if errors.is_empty() {
                errors.push(ConfigError {
                    file,
                    line: None,
                    column: None,
                    path: String::new(),
                    message: "invalid configuration".into(),
                });
            }
            errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            Err(ConfigErrors(errors))
        }
    }
}
