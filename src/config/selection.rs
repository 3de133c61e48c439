//! One program's part of a new configuration (`add`, `remove`, `update NAME`):
//! the running configuration with only the named programs taken from the file,
//! as a pure function, so the usual reload plan (`diff`) applied to it changes
//! those programs and nothing else.

use std::collections::{BTreeMap, BTreeSet};

use super::{Config, ProgramConfig};

/// What becomes of one program: its definition from the file, or gone.
pub type Selected = (String, Option<ProgramConfig>);

/// Why a selection cannot be applied: it would leave a dependency that names a
/// program not in use, or a cycle (a mix of old and new `depends_on`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("{program} depends on {dependency}, which would not be in use")]
    MissingDependency { program: String, dependency: String },
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// `running` with each selected program replaced by its definition from the file,
/// added, or removed (`None`). The daemon settings stay `running`'s: only a whole
/// reload applies those.
pub fn select(running: &Config, selected: Vec<Selected>) -> Result<Config, SelectionError> {
    let mut out = running.clone();
    for (name, program) in selected {
        match program {
            Some(program) => out.programs.insert(name, program),
            None => out.programs.remove(&name),
        };
    }
    check_dependencies(&out.programs)?;
    Ok(out)
}

fn check_dependencies(programs: &BTreeMap<String, ProgramConfig>) -> Result<(), SelectionError> {
    for (name, program) in programs {
        if let Some(missing) =
            (program.policy.depends_on.iter()).find(|d| !programs.contains_key(*d))
        {
            return Err(SelectionError::MissingDependency {
                program: name.clone(),
                dependency: missing.clone(),
            });
        }
    }
    let mut done = BTreeSet::new();
    for start in programs.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = find_cycle(start, programs, &mut done, &mut path) {
            return Err(SelectionError::Cycle(cycle));
        }
    }
    Ok(())
}

/// Depth-first: the first cycle reachable from `name`, written `a -> b -> a`.
fn find_cycle(
    name: &str,
    programs: &BTreeMap<String, ProgramConfig>,
    done: &mut BTreeSet<String>,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    if done.contains(name) {
        return None;
    }
    if let Some(from) = path.iter().position(|n| n == name) {
        let mut cycle = path[from..].to_vec();
        cycle.push(name.to_string());
        return Some(cycle);
    }
    path.push(name.to_string());
    for dependency in programs.get(name).map_or(&[][..], |p| &p.policy.depends_on) {
        if let Some(cycle) = find_cycle(dependency, programs, done, path) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(name.to_string());
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{diff, parse, ProgramChange};
    use std::path::Path;

    fn config(yaml: &str) -> Config {
        parse(yaml, Path::new("/tmp/selection.yaml")).expect("valid config")
    }

    const RUNNING: &str = "taskmaster:\n  tail_buffer: 1024\nprograms:\n  \
        web:\n    cmd: /bin/web\n  db:\n    cmd: /bin/db\n";
    const FILE: &str = "taskmaster:\n  tail_buffer: 2048\nprograms:\n  \
        web:\n    cmd: /bin/web2\n  db:\n    cmd: /bin/db2\n  api:\n    cmd: /bin/api\n    depends_on: [db]\n";

    fn take(file: &Config, names: &[&str]) -> Vec<Selected> {
        names
            .iter()
            .map(|n| (n.to_string(), file.programs.get(*n).cloned()))
            .collect()
    }

    #[test]
    fn only_the_named_programs_change() {
        let (running, file) = (config(RUNNING), config(FILE));
        let target = select(&running, take(&file, &["api"])).expect("selection");
        let plan = diff(&running, &target);
        assert_eq!(plan.programs.len(), 1, "{plan:?}");
        assert!(matches!(&plan.programs[0], ProgramChange::Added(c) if c.name == "api"));
        assert!(
            plan.settings.is_empty() && plan.logfile.is_none(),
            "{plan:?}"
        );
        assert_eq!(target.daemon, running.daemon);

        let target = select(&running, take(&file, &["web"])).expect("selection");
        let plan = diff(&running, &target);
        assert_eq!(plan.programs.len(), 1, "{plan:?}");
        assert_eq!(plan.programs[0].name(), "web");
        assert_eq!(target.programs["db"], running.programs["db"]);
    }

    #[test]
    fn a_program_can_be_dropped() {
        let running = config(RUNNING);
        let target = select(&running, vec![("web".into(), None)]).expect("selection");
        let plan = diff(&running, &target);
        assert_eq!(plan.programs, vec![ProgramChange::Removed("web".into())]);
    }

    #[test]
    fn dependencies_must_stay_in_use() {
        let (running, file) = (config(RUNNING), config(FILE));
        let with_api = select(&running, take(&file, &["api"])).expect("selection");
        let err = select(&with_api, vec![("db".into(), None)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "api depends on db, which would not be in use"
        );
    }

    #[test]
    fn a_mix_of_old_and_new_dependencies_may_not_loop() {
        let running = config(
            "programs:\n  a:\n    cmd: /bin/a\n    depends_on: [b]\n  b:\n    cmd: /bin/b\n",
        );
        let file = config(
            "programs:\n  a:\n    cmd: /bin/a\n  b:\n    cmd: /bin/b\n    depends_on: [a]\n",
        );
        let err = select(&running, take(&file, &["b"])).unwrap_err();
        assert!(matches!(err, SelectionError::Cycle(_)), "{err}");
        assert!(err.to_string().contains("a -> b -> a"), "{err}");
    }
}
