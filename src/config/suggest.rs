//! "Did you mean …?" for misspelt field names.
//!
//! A plain Levenshtein distance over a handful of short names is all this needs; a
//! crate would be overkill. Users coming from supervisor also get its field names
//! mapped to ours (`command` → `cmd`), since those are too far apart to be typos.

/// supervisor's names for our fields.
const SUPERVISOR_NAMES: &[(&str, &str)] = &[
    ("command", "cmd"),
    ("directory", "workingdir"),
    ("environment", "env"),
    ("stdout_logfile", "stdout"),
    ("stderr_logfile", "stderr"),
    ("startsecs", "starttime"),
    ("stopwaitsecs", "stoptime"),
    ("process_name", "numprocs"),
];

/// The valid name closest to `found`, if it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(found: &str, valid: &[&'a str]) -> Option<&'a str> {
    let lower = found.to_lowercase();
    if let Some((_, ours)) = SUPERVISOR_NAMES.iter().find(|(theirs, _)| *theirs == lower) {
        if let Some(name) = valid.iter().find(|v| *v == ours) {
            return Some(name);
        }
    }
    // Allow one edit in short names, up to three in long ones.
    let allowed = (lower.chars().count() / 3).clamp(1, 3);
    valid
        .iter()
        .map(|name| (levenshtein(&lower, name), *name))
        .filter(|(distance, name)| *distance <= allowed && *distance < name.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Edit distance (insertions, deletions, substitutions) between two strings.
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[&str] = &["cmd", "autorestart", "autostart", "stoptime", "env"];

    #[test]
    fn distance() {
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
        assert_eq!(levenshtein("autorestrt", "autorestart"), 1);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("autorestrt", FIELDS), Some("autorestart"));
        assert_eq!(suggest("AutoStart", FIELDS), Some("autostart"));
        assert_eq!(suggest("cmdd", FIELDS), Some("cmd"));
        assert_eq!(suggest("stop_time", FIELDS), Some("stoptime"));
        assert_eq!(suggest("command", FIELDS), Some("cmd"));
        assert_eq!(suggest("environment", FIELDS), Some("env"));
        assert_eq!(suggest("banana", FIELDS), None);
        assert_eq!(suggest("x", FIELDS), None);
    }
}
