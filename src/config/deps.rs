//! `depends_on`: checked once every program is known — a dependency must name a
//! program of the file, and dependencies must not form a cycle (the error names
//! it: `a -> b -> a`).
//!
//! The check takes every program name of the file with the dependencies that
//! could be read, whether or not the rest of the program is valid, so these errors
//! are reported together with the others rather than after they are fixed.

use std::collections::BTreeMap;

use super::check::{At, Checker};

/// Each program of the file, by name, to the names it depends on.
pub(crate) type Dependencies<'a> = BTreeMap<&'a str, Vec<String>>;

/// Records every unknown or self dependency, or else the first cycle; true when
/// there is neither.
pub(crate) fn check(programs: &Dependencies, checker: &mut Checker, at: &At) -> bool {
    let mut ok = true;
    for (&name, depends_on) in programs {
        for (i, dep) in depends_on.iter().enumerate() {
            let here = at.key(name).key("depends_on").index(i);
            if dep == name {
                checker.error(&here, format!("`{name}` cannot depend on itself"));
                ok = false;
            } else if !programs.contains_key(dep.as_str()) {
                checker.error(
                    &here,
                    format!("no program named `{dep}` (depends_on names programs of this file)"),
                );
                ok = false;
            }
        }
    }
    if !ok {
        return false;
    }
    // Depth-first search for a cycle; each one is reported once, where it starts.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new(); // 1: on the path, 2: done
    for &start in programs.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = find_cycle(start, programs, &mut state, &mut path) {
            checker.error(
                &at.key(&cycle[0]).key("depends_on"),
                format!("dependency cycle: {}", cycle.join(" -> ")),
            );
            return false;
        }
    }
    true
}

fn find_cycle<'a>(
    name: &'a str,
    programs: &'a Dependencies,
    state: &mut BTreeMap<&'a str, u8>,
    path: &mut Vec<&'a str>,
) -> Option<Vec<String>> {
    match state.get(name) {
        Some(2) => return None,
        Some(_) => {
            let from = path.iter().position(|n| *n == name).unwrap_or(0);
            let mut cycle: Vec<String> = path[from..].iter().map(|s| s.to_string()).collect();
            cycle.push(name.to_string());
            return Some(cycle);
        }
        None => {}
    }
    state.insert(name, 1);
    path.push(name);
    if let Some(depends_on) = programs.get(name) {
        for dep in depends_on {
            if let Some(cycle) = find_cycle(dep, programs, state, path) {
                return Some(cycle);
            }
        }
    }
    path.pop();
    state.insert(name, 2);
    None
}
