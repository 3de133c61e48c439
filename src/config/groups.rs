//! The `groups:` section: names for sets of programs, so that `stop g:*`,
//! `start g:name` and `status g` address them together (supervisor's
//! `[group:g] programs=`, and what an INI `[program:x]` of several processes is).

use std::collections::{BTreeMap, BTreeSet};

use super::check::{wrong, At};
use super::fields;
use super::load::Walk;
use super::model::ProgramConfig;
use super::tree::Node;

impl Walk<'_> {
    /// `groups: {NAME: [PROGRAM, …]}` (absent: none). A group's name is not a
    /// program's, and a program is in one group at most.
    pub(super) fn groups(
        &mut self,
        node: Option<&Node>,
        at: &At,
        programs: Option<&BTreeMap<String, ProgramConfig>>,
    ) -> Option<BTreeMap<String, Vec<String>>> {
        let entries = match node {
            None | Some(Node::Null) => return Some(BTreeMap::new()),
            Some(Node::Map(entries)) => entries,
            Some(other) => {
                let expected = "a mapping of group names to lists of program names";
                self.checker.error(at, wrong(other, expected));
                return None;
            }
        };
        let mut groups = Some(BTreeMap::new());
        let mut grouped: BTreeMap<String, String> = BTreeMap::new();
        for (name, members) in entries {
            let at = at.key(name);
            let mut ok = fields::program_name(name)
                .map_err(|message| {
                    self.checker
                        .key_error(&at, message.replace("program name", "group name"))
                })
                .is_ok();
            if programs.is_some_and(|p| p.contains_key(name)) {
                let message = format!(
                    "group `{name}` has the name of a program: a name addresses one or the other"
                );
                self.checker.key_error(&at, message);
                ok = false;
            }
            let members = self.checker.take(&at, fields::names(members));
            let mut seen = BTreeSet::new();
            for (i, member) in members.iter().flatten().enumerate() {
                let unknown = programs.is_some_and(|p| !p.contains_key(member));
                if unknown {
                    self.checker
                        .error(&at.index(i), format!("unknown program `{member}`"));
                    ok = false;
                } else if let Some(other) = grouped.insert(member.clone(), name.clone()) {
                    if other != *name || !seen.insert(member.clone()) {
                        self.checker.error(
                            &at.index(i),
                            format!("program `{member}` is already in group `{other}`"),
                        );
                        ok = false;
                    }
                } else {
                    seen.insert(member.clone());
                }
            }
            match (ok, members, groups.as_mut()) {
                (true, Some(members), Some(groups)) if !members.is_empty() => {
                    groups.insert(name.clone(), members);
                }
                (true, Some(_), Some(_)) => {
                    self.checker
                        .error(&at, "a group names at least one program");
                    groups = None;
                }
                _ => groups = None,
            }
        }
        groups
    }
}
