//! `reread` and `avail`: what the configuration file on disk says, against what
//! runs, changing nothing. `reread` is the reload plan (`config::diff`, pure)
//! shown in supervisorctl's words; `update` (or `reload`) applies it.

use std::collections::HashSet;
use std::sync::Arc;

use super::Reply;
use crate::config::{self, Config, ProgramChange};
use crate::supervisor::Supervisor;

/// The file as it is now; an invalid one is the error reply's text.
fn file(sup: &Supervisor) -> Result<Config, String> {
    let running = sup.config();
    config::load_as(&running.file, Some(running.format)).map_err(|errors| {
        format!("ERROR (the configuration file is invalid; nothing changed)\n{errors}")
    })
}

/// `reread`: one line per program a reload would change — `NAME: available`
/// (added), `NAME: changed (…)`, `NAME: disappeared` (removed) — and one per
/// daemon setting it would change; or `No config updates to processes`.
pub fn reread(sup: &Arc<Supervisor>) -> Reply {
    let file = match file(sup) {
        Ok(file) => file,
        Err(text) => return Reply::error(text),
    };
    let plan = config::diff(&sup.config(), &file);
    let mut lines: Vec<String> = plan.programs.iter().map(describe_change).collect();
    if plan.logfile.is_some() {
        lines.push("taskmaster: logfile changed (the event log is reopened)".into());
    }
    if plan.socket.is_some() {
        lines.push("taskmaster: socket changed (the control socket moves)".into());
    }
    for setting in &plan.settings {
        lines.push(format!("taskmaster: {setting} changed"));
    }
    if lines.is_empty() {
        return Reply::ok("No config updates to processes");
    }
    Reply::ok(lines.join("\n"))
}

/// supervisorctl's word for a change, then what taskmaster would do about it.
fn describe_change(change: &ProgramChange) -> String {
    match change {
        ProgramChange::Added(c) => format!("{}: available", c.name),
        ProgramChange::Removed(name) => format!("{name}: disappeared"),
        ProgramChange::Changed {
            config,
            launch,
            policy,
            scale,
        } => {
            let mut what = Vec::new();
            if !launch.is_empty() {
                what.push(format!("{}: running instances restart", launch.join(", ")));
            }
            if !policy.is_empty() {
                what.push(format!("{}: applied in place", policy.join(", ")));
            }
            if let Some((old, new)) = scale {
                what.push(format!("numprocs {old} -> {new}"));
            }
            format!("{}: changed ({})", config.name, what.join("; "))
        }
    }
}

/// `avail`: every instance the file defines, with whether it is in use, whether
/// it starts on its own, and its priority — supervisorctl's columns.
pub fn avail(sup: &Arc<Supervisor>) -> Reply {
    let file = match file(sup) {
        Ok(file) => file,
        Err(text) => return Reply::error(text),
    };
    let in_use: HashSet<String> = sup.instances().iter().map(|i| i.name()).collect();
    let mut lines = Vec::new();
    for program in file.programs.values() {
        let auto = match program.policy.autostart {
            true => "auto",
            false => "manual",
        };
        for index in 0..program.numprocs {
            let name = program.instance_name(index);
            let used = match in_use.contains(&name) {
                true => "in use",
                false => "avail",
            };
            lines.push(row(&name, used, auto, program.policy.priority));
        }
    }
    Reply::ok(lines.join("\n"))
}

/// `NAME  in use  auto  PRIORITY`: the name padded to 32 columns (more for a
/// longer one), the next two to 9.
fn row(name: &str, used: &str, auto: &str, priority: i32) -> String {
    let mut out = String::from(name);
    out.extend(std::iter::repeat_n(
        ' ',
        32usize.saturating_sub(name.chars().count()),
    ));
    format!("{out} {used:<9} {auto:<9} {priority}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avail_rows_have_supervisorctls_columns() {
        assert_eq!(
            row("web", "in use", "auto", 999),
            format!("{:<32} {:<9} {:<9} 999", "web", "in use", "auto")
        );
        let long = "n".repeat(40);
        assert_eq!(
            row(&long, "avail", "manual", 1),
            format!("{long} avail     manual    1")
        );
    }
}
