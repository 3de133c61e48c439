//! supervisor's `%(name)s` expansions: `%(program_name)s`, `%(process_num)02d`,
//! `%(ENV_HOME)s`, `%%` for a percent sign. A name that is not known, or a format
//! that is not `s`/`d`/`i` with optional flags and width, is an error naming the
//! option and the names that are available.

use std::collections::BTreeMap;
use std::path::Path;

/// The names an option may use, and their values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Context {
    /// Text values (`here`, `program_name`, `group_name`, `host_node_name`).
    pub text: BTreeMap<&'static str, String>,
    /// Number values (`process_num`, `numprocs`).
    pub numbers: BTreeMap<&'static str, i64>,
}

impl Context {
    /// What every section may use: `here`, `host_node_name` and `ENV_*`.
    pub(crate) fn for_file(here: &Path) -> Context {
        let mut context = Context::default();
        context.text.insert("here", here.display().to_string());
        context.text.insert("host_node_name", host_node_name());
        context
    }
}

/// The machine's host name, as `uname -n` says it.
fn host_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Why an expansion failed; [`ExpandError::message`] says it for an option.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ExpandError {
    UnknownName {
        name: String,
        available: Vec<String>,
    },
    BadFormat(String),
}

impl ExpandError {
    pub(crate) fn message(&self, option: &str) -> String {
        match self {
            ExpandError::UnknownName { name, available } => format!(
                "format string for `{option}` contains the name '{name}', which cannot be expanded; available names: {}, and ENV_X for any environment variable X",
                available.join(", ")
            ),
            ExpandError::BadFormat(what) => format!("bad format in `{option}`: {what}"),
        }
    }
}

/// `value` with every `%(name)FORMAT` replaced and `%%` made `%`.
pub(crate) fn expand(value: &str, context: &Context) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(more) = after.strip_prefix('%') {
            out.push('%');
            rest = more;
            continue;
        }
        let Some(inner) = after.strip_prefix('(') else {
            return Err(ExpandError::BadFormat(
                "a lone `%` (write `%%` for a percent sign, `%(name)s` for an expansion)".into(),
            ));
        };
        let Some(close) = inner.find(')') else {
            return Err(ExpandError::BadFormat("`%(` without its `)`".into()));
        };
        let name = &inner[..close];
        let spec_and_rest = &inner[close + 1..];
        let spec_len = spec_and_rest
            .find(|c: char| !matches!(c, '-' | '0' | ' ' | '+' | '#' | '0'..='9'))
            .ok_or_else(|| {
                ExpandError::BadFormat(format!(
                    "`%({name})` without a conversion such as `s` or `d`"
                ))
            })?;
        let (flags_width, conversion) = spec_and_rest.split_at(spec_len);
        let conversion_char = conversion.chars().next().unwrap_or('s');
        rest = &conversion[conversion_char.len_utf8()..];
        let text = value_of(name, conversion_char, context)?;
        out.push_str(&pad(
            &text,
            flags_width,
            conversion_char == 'd' || conversion_char == 'i',
        ));
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of `name` converted by `conversion` (`s`, `d` or `i`), before padding.
fn value_of(name: &str, conversion: char, context: &Context) -> Result<String, ExpandError> {
    let number = context.numbers.get(name).copied();
    let text = match name.strip_prefix("ENV_") {
        Some(var) => std::env::var(var).ok(),
        None => context.text.get(name).cloned(),
    };
    match (conversion, number, text) {
        ('s' | 'r', Some(n), _) => Ok(n.to_string()),
        ('s' | 'r', None, Some(t)) => Ok(t),
        ('d' | 'i', Some(n), _) => Ok(n.to_string()),
        ('d' | 'i', None, Some(t)) => {
            t.trim().parse::<i64>().map(|n| n.to_string()).map_err(|_| {
                ExpandError::BadFormat(format!(
                    "%({name}){conversion} needs a number, and {name} is {t:?}"
                ))
            })
        }
        ('s' | 'r' | 'd' | 'i', None, None) => {
            let mut available: Vec<String> = context
                .text
                .keys()
                .chain(context.numbers.keys())
                .map(|k| k.to_string())
                .collect();
            available.sort();
            Err(ExpandError::UnknownName {
                name: name.to_string(),
                available,
            })
        }
        (other, _, _) => Err(ExpandError::BadFormat(format!(
            "unsupported conversion `{other}` in %({name}){other}: use s or d"
        ))),
    }
}

/// `text` padded per the flags and width (`02`, `-5`, `3`).
fn pad(text: &str, flags_width: &str, numeric: bool) -> String {
    let left = flags_width.contains('-');
    let digits = flags_width.trim_start_matches(['-', '0', ' ', '+', '#']);
    let zero = numeric
        && !left
        && flags_width
            .trim_start_matches(['-', ' ', '+', '#'])
            .starts_with('0');
    let width: usize = digits.parse().unwrap_or(0);
    let len = text.chars().count();
    if len >= width {
        return text.to_string();
    }
    let fill = width - len;
    match (left, zero) {
        (true, _) => format!("{text}{}", " ".repeat(fill)),
        (false, true) => match text.strip_prefix('-') {
            Some(digits) => format!("-{}{digits}", "0".repeat(fill)),
            None => format!("{}{text}", "0".repeat(fill)),
        },
        (false, false) => format!("{}{text}", " ".repeat(fill)),
    }
}
