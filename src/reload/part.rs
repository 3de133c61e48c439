//! `update NAME...`, `add NAME...`, `remove NAME...`: the file's part for some
//! programs only, applied as a reload is (all or nothing, smallest change) to
//! those programs alone. The daemon settings, and every other program, stay as
//! they run until a whole `reload`/`update`.
//!
//! Each name is judged on its own, as supervisorctl does: a wrong one gets its
//! error line and changes nothing, the others are applied together.

use log::info;

use super::{load, program_lines, refused, Reloader, Words};
use crate::config::{self, Config, Selected};
use crate::control::{ConfigChange, Reply};
use crate::hub::Event;
use crate::supervisor::{Applied, AppliedChange, Supervisor};

impl Reloader {
    /// Applies the part of the file `change` names (not `Reload`, nor a whole
    /// `update`: see [`Reloader::change`]).
    pub(super) fn change_part(&self, change: &ConfigChange) -> Reply {
        let _one_at_a_time = self.running.lock();
        let (command, names) = match change {
            ConfigChange::Update(names) => ("update", names),
            ConfigChange::Add(names) => ("add", names),
            ConfigChange::Remove(names) => ("remove", names),
            ConfigChange::Reload => return Reply::error("ERROR (internal: not a partial change)"),
        };
        let running = self.sup.config();
        let file = match load(self.sup.hub(), &running, command) {
            Ok(file) => file,
            Err(reply) => return *reply,
        };
        let mut errors = Vec::new();
        let mut idle = Vec::new();
        let mut selected: Vec<Selected> = Vec::new();
        for name in names {
            let program = Supervisor::program_of(name);
            if selected.iter().any(|(p, _)| p == program) {
                continue;
            }
            match judge(change, &self.sup, &running, &file, name) {
                Judged::Take(part) => selected.push((program.to_string(), part.cloned())),
                Judged::Nothing(line) => idle.push(line),
                Judged::Refused(line) => errors.push(line),
            }
        }
        let mut lines = errors.clone();
        lines.extend(idle);
        if selected.is_empty() {
            return reply(lines, !errors.is_empty());
        }
        let target = match config::select(&running, selected) {
            Ok(target) => target,
            Err(e) => {
                lines.push(format!("ERROR ({e}); nothing changed"));
                return reply(lines, true);
            }
        };
        let plan = config::diff(&running, &target);
        let prepared = match self.sup.prepare(&plan, running.daemon.tail_buffer) {
            Ok(prepared) => prepared,
            Err(e) => return refused(self.sup.hub(), &e.to_string()),
        };
        let applied = self.sup.apply(&plan, target, prepared);
        for line in program_lines(&applied, Words::Taskmaster) {
            let line = format!("{command}: {line}");
            info!("{line}");
            self.sup.hub().publish(&Event::Reloaded { text: &line });
        }
        lines.extend(match change {
            ConfigChange::Update(_) => program_lines(&applied, Words::Supervisor),
            _ => applied.iter().map(added_or_removed).collect(),
        });
        if lines.is_empty() {
            lines.push("No config updates to processes".into());
        }
        reply(lines, !errors.is_empty())
    }
}

/// What becomes of one name.
enum Judged<'a> {
    /// Its program's part: from the file, or `None`: removed.
    Take(Option<&'a config::ProgramConfig>),
    /// Nothing to do, said without failing (`add` of a program in use).
    Nothing(String),
    /// An error for this name.
    Refused(String),
}

fn judge<'a>(
    change: &ConfigChange,
    sup: &Supervisor,
    running: &Config,
    file: &'a Config,
    name: &str,
) -> Judged<'a> {
    let program = Supervisor::program_of(name);
    let in_file = file.programs.get(program);
    let in_use = running.programs.contains_key(program);
    match change {
        ConfigChange::Update(_) if in_file.is_none() && !in_use => {
            Judged::Refused(format!("ERROR: no such group: {name}"))
        }
        ConfigChange::Update(_) => Judged::Take(in_file),
        ConfigChange::Add(_) => match in_file {
            None => Judged::Refused(format!("ERROR: no such process/group: {name}")),
            // As supervisorctl: already there is no failure.
            Some(_) if in_use => {
                Judged::Nothing(format!("ERROR: process group already active: {name}"))
            }
            Some(part) => Judged::Take(Some(part)),
        },
        ConfigChange::Remove(_) => match sup.unstopped(program) {
            None => Judged::Refused(format!("ERROR: no such process/group: {name}")),
            Some(running) if !running.is_empty() => Judged::Refused(format!(
                "ERROR: process/group still running: {name} ({}; stop it first)",
                running.join(", ")
            )),
            Some(_) => Judged::Take(None),
        },
        ConfigChange::Reload => Judged::Nothing(String::new()),
    }
}

/// `add`'s and `remove`'s line, in supervisorctl's words.
fn added_or_removed(applied: &Applied) -> String {
    match applied.change {
        AppliedChange::Added => format!("{}: added process group", applied.program),
        AppliedChange::Removed => format!("{}: removed process group", applied.program),
        AppliedChange::Changed(_) => format!("{}: updated process group", applied.program),
    }
}

fn reply(lines: Vec<String>, failed: bool) -> Reply {
    let text = lines.join("\n");
    match failed {
        true => Reply::error(text),
        false => Reply::ok(text),
    }
}
