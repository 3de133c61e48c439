//! The INI text of a supervisor configuration, as sections of `key = value`
//! entries that remember their file and line, with `[include]` files read in.
//!
//! The dialect is the one supervisor reads: `key = value` or `key: value`, keys
//! in any case (kept lower case), `;` and `#` comments on their own line or after
//! whitespace, and indented lines continuing the value above. A section or an
//! option given twice is merged, the later value winning, as supervisor does; each
//! such override is a warning, since it is usually a mistake.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::glob;
use super::Findings;

/// One `key = value` line (continuation lines included).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// One `[name]` section and its entries, in file order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Section {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
    pub entries: Vec<Entry>,
}

impl Section {
    /// The entry `key`, if given.
    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// The directory of the file this section is in: `%(here)s`.
    pub(crate) fn here(&self) -> PathBuf {
        self.file
            .parent()
            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
    }
}

/// How deep `[include]` may nest: far beyond real use, and a loop of includes
/// ends with an error instead of a stack overflow.
const MAX_INCLUDE_DEPTH: usize = 10;

/// Reads `text` (the contents of `file`) and every file its `[include]`s name.
pub(crate) fn read(text: &str, file: &Path, findings: &mut Findings) -> Vec<Section> {
    let mut reading = Reading {
        sections: Vec::new(),
        files: HashSet::new(),
    };
    reading.files.insert(file.to_path_buf());
    reading.file(text, file, 0, findings);
    reading.sections
}

struct Reading {
    sections: Vec<Section>,
    /// Files already read: each is read once, whatever includes it again.
    files: HashSet<PathBuf>,
}

impl Reading {
    fn file(&mut self, text: &str, file: &Path, depth: usize, findings: &mut Findings) {
        let parsed = parse(text, file, findings);
        let mut includes = Vec::new();
        for section in parsed {
            if section.name == "include" {
                includes.push(section.clone());
            }
            self.merge(section, findings);
        }
        for include in includes {
            self.include(&include, depth, findings);
        }
    }

    /// Adds `section`, merging it into an earlier one of the same name.
    fn merge(&mut self, section: Section, findings: &mut Findings) {
        let Some(earlier) = self.sections.iter_mut().find(|s| s.name == section.name) else {
            self.sections.push(section);
            return;
        };
        if section.name == "include" {
            // Each [include] is read on its own: nothing to merge.
            return;
        }
        findings.warn(
            &section.file,
            section.line,
            &format!("[{}]", section.name),
            format!(
                "section given again (first at {}:{}): its options are merged, later ones winning, as supervisor does",
                earlier.file.display(),
                earlier.line
            ),
        );
        for entry in section.entries {
            earlier.entries.retain(|e| e.key != entry.key);
            earlier.entries.push(entry);
        }
    }

    /// `[include] files = PATTERN…`: each pattern relative to the including file.
    fn include(&mut self, include: &Section, depth: usize, findings: &mut Findings) {
        let here = include.here();
        let at = "[include]";
        for entry in &include.entries {
            if entry.key != "files" {
                let message = format!(
                    "unknown option `{}`: [include] takes only `files`",
                    entry.key
                );
                findings.error(&include.file, entry.line, at, message);
                continue;
            }
            let expanded =
                match super::expand::expand(&entry.value, &super::expand::Context::for_file(&here))
                {
                    Ok(v) => v,
                    Err(e) => {
                        findings.error(
                            &include.file,
                            entry.line,
                            "[include] files",
                            e.message("files"),
                        );
                        continue;
                    }
                };
            if expanded.split_whitespace().next().is_none() {
                findings.error(
                    &include.file,
                    entry.line,
                    "[include] files",
                    "no file named: write one or more paths or patterns",
                );
            }
            for pattern in expanded.split_whitespace() {
                let files = match glob::expand(&here, pattern) {
                    Ok(files) => files,
                    Err(message) => {
                        findings.error(&include.file, entry.line, "[include] files", message);
                        continue;
                    }
                };
                for path in files {
                    self.included(&path, include, entry.line, depth, findings);
                }
            }
        }
    }

    fn included(
        &mut self,
        path: &Path,
        include: &Section,
        line: usize,
        depth: usize,
        findings: &mut Findings,
    ) {
        if !self.files.insert(path.to_path_buf()) {
            return;
        }
        if depth + 1 > MAX_INCLUDE_DEPTH {
            let message = format!(
                "includes nest more than {MAX_INCLUDE_DEPTH} deep at {}",
                path.display()
            );
            findings.error(&include.file, line, "[include] files", message);
            return;
        }
        match crate::config::load::read_config(path) {
            Ok(text) => self.file(&text, path, depth + 1, findings),
            Err(message) => {
                let message = format!("cannot read included file {}: {message}", path.display());
                findings.error(&include.file, line, "[include] files", message);
            }
        }
    }
}

/// Parses one file's text into its sections (no includes).
pub(crate) fn parse(text: &str, file: &Path, findings: &mut Findings) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    // The entry a continuation line would extend.
    let mut open_value = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        if indented && open_value {
            if let Some(entry) = sections.last_mut().and_then(|s| s.entries.last_mut()) {
                let more = strip_inline_comment(trimmed);
                if !more.is_empty() {
                    if !entry.value.is_empty() {
                        entry.value.push('\n');
                    }
                    entry.value.push_str(more);
                }
            }
            continue;
        }
        open_value = false;
        if let Some(header) = trimmed.strip_prefix('[') {
            let header = strip_inline_comment(header);
            match header.strip_suffix(']') {
                Some(name) if !name.trim().is_empty() => sections.push(Section {
                    name: name.trim().to_string(),
                    file: file.to_path_buf(),
                    line,
                    entries: Vec::new(),
                }),
                _ => findings.error(
                    file,
                    line,
                    "",
                    format!("malformed section header {trimmed:?}: expected [name]"),
                ),
            }
            continue;
        }
        let Some(split) = trimmed.find(['=', ':']) else {
            findings.error(
                file,
                line,
                "",
                format!("expected `key = value` or a [section] header, found {trimmed:?}"),
            );
            continue;
        };
        let key = trimmed[..split].trim().to_ascii_lowercase();
        let value = strip_inline_comment(trimmed[split + 1..].trim()).to_string();
        let Some(section) = sections.last_mut() else {
            findings.error(
                file,
                line,
                "",
                format!("option `{key}` before any [section] header"),
            );
            continue;
        };
        if key.is_empty() {
            findings.error(
                file,
                line,
                &format!("[{}]", section.name),
                "an option without a name",
            );
            continue;
        }
        if let Some(earlier) = section.entries.iter().position(|e| e.key == key) {
            let first = section.entries.remove(earlier);
            findings.warn(
                file,
                line,
                &format!("[{}] {key}", section.name),
                format!(
                    "given again (first on line {}): the later value wins, as in supervisor",
                    first.line
                ),
            );
        }
        section.entries.push(Entry { key, value, line });
        open_value = true;
    }
    sections
}

/// The text before a `;` or `#` that follows whitespace (an inline comment).
fn strip_inline_comment(text: &str) -> &str {
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if matches!(b, b';' | b'#') && i > 0 && bytes[i - 1].is_ascii_whitespace() {
            return text[..i].trim_end();
        }
    }
    text
}

/// Whether `text` looks like an INI file: its first line that is not blank or a
/// comment is a `[section]` header.
pub(crate) fn looks_like_ini(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(['#', ';']))
        .is_some_and(|l| {
            let name = strip_inline_comment(l)
                .strip_prefix('[')
                .and_then(|l| l.strip_suffix(']'));
            // `[a, b]`, `[[1]]` and `[]` are YAML lists, not section headers.
            name.is_some_and(|n| {
                !n.trim().is_empty() && !n.contains([',', '[', ']', '{', '}', '"', '\''])
            })
        })
}
