//! `[include] files` patterns: `*`, `?` and `[...]` in the file name only (the
//! directories must be written out), sorted like a shell sorts them. A pattern
//! without wildcards names one file, which must exist; a pattern that matches
//! nothing in an existing directory is no error (an empty `conf.d/` is normal).

use std::path::{Path, PathBuf};

/// The files `pattern` (relative to `here`) names, sorted.
pub(crate) fn expand(here: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let full = crate::config::resolve::resolve(here, pattern);
    let name = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = full
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    if dir.to_string_lossy().contains(['*', '?', '[']) {
        return Err(format!(
            "pattern {pattern:?}: only the file name may contain wildcards, not the directories"
        ));
    }
    if !name.contains(['*', '?', '[']) {
        return match std::fs::metadata(&full) {
            Ok(m) if m.is_file() => Ok(vec![full]),
            Ok(_) => Err(format!(
                "included file {} is not a regular file",
                full.display()
            )),
            Err(e) => Err(format!(
                "included file {} cannot be read: {e}",
                full.display()
            )),
        };
    }
    let read = std::fs::read_dir(&dir).map_err(|e| {
        format!(
            "pattern {pattern:?}: directory {} cannot be read: {e}",
            dir.display()
        )
    })?;
    let mut found: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            // A shell's `*` does not match hidden files.
            (name.starts_with('.') || !n.starts_with('.')) && matches(name.as_bytes(), n.as_bytes())
        })
        .filter(|e| e.path().is_file())
        .map(|e| e.path())
        .collect();
    found.sort();
    Ok(found)
}

/// Whether `name` matches `pattern` (`*`, `?`, `[abc]`, `[a-z]`, `[!a]`).
pub(crate) fn matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some(b'*') => (0..=name.len()).any(|skip| matches(&pattern[1..], &name[skip..])),
        Some(b'?') => !name.is_empty() && matches(&pattern[1..], &name[1..]),
        Some(b'[') => match (class(&pattern[1..]), name.first()) {
            (Some((set, rest)), Some(&c)) => set(c) && matches(rest, &name[1..]),
            (None, Some(&c)) => c == b'[' && matches(&pattern[1..], &name[1..]),
            (_, None) => false,
        },
        Some(&p) => name.first() == Some(&p) && matches(&pattern[1..], &name[1..]),
    }
}

/// A `[...]` class after its `[`: a predicate and the pattern after the `]`.
#[allow(clippy::type_complexity)]
fn class(pattern: &[u8]) -> Option<(Box<dyn Fn(u8) -> bool + '_>, &[u8])> {
    let (negated, body) = match pattern.first() {
        Some(b'!' | b'^') => (true, &pattern[1..]),
        _ => (false, pattern),
    };
    // A `]` right after the `[` (or `[!`) is a member, not the end.
    let end = 1 + body.get(1..)?.iter().position(|&b| b == b']')?;
    let (members, rest) = (&body[..end], &body[end + 1..]);
    let test = move |c: u8| {
        let mut i = 0;
        let mut hit = false;
        while i < members.len() {
            if i + 2 < members.len() && members[i + 1] == b'-' {
                hit |= (members[i]..=members[i + 2]).contains(&c);
                i += 3;
            } else {
                hit |= members[i] == c;
                i += 1;
            }
        }
        hit != negated
    };
    Some((Box::new(test), rest))
}
