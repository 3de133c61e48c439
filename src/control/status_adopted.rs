//! What `status -l` shows of the adopted processes (README: Running in
//! production): with each instance, the pids of those it owns; after the rows,
//! those of no instance.

use crate::orphans::{self, Adopted};
use crate::watch::Instance;

/// The adopted processes, listed once for one `status -l`.
pub struct AdoptedView {
    list: Vec<Adopted>,
}

/// Pids shown on one line, past which the count says the rest.
const SHOWN: usize = 16;

impl AdoptedView {
    pub fn now() -> AdoptedView {
        AdoptedView {
            list: orphans::adopted(false),
        }
    }

    /// The pids of the instance `name`'s, whose child is `pid`.
    pub fn of(&self, name: &str, pid: Option<i32>) -> Vec<i32> {
        let leader = pid.unwrap_or(0);
        self.list
            .iter()
            .filter(|a| a.belongs_to(name, leader))
            .map(|a| a.pid)
            .collect()
    }

    /// The pids of no instance among `instances`.
    pub fn of_none(&self, instances: &[std::sync::Arc<Instance>]) -> Vec<i32> {
        let owners: Vec<(String, i32)> = instances
            .iter()
            .map(|i| (i.name(), i.status().pid.unwrap_or(0)))
            .collect();
        self.list
            .iter()
            .filter(|a| !owners.iter().any(|(n, l)| a.belongs_to(n, *l)))
            .map(|a| a.pid)
            .collect()
    }
}

/// `, adopted 2 (pids 4242 4250)`, or nothing for none.
pub fn text(pids: &[i32]) -> String {
    if pids.is_empty() {
        return String::new();
    }
    format!(", adopted {} ({})", pids.len(), pid_words(pids))
}

/// The line after the rows, when some adopted process is no instance's.
pub fn no_instance_line(pids: &[i32]) -> Option<String> {
    (!pids.is_empty()).then(|| {
        format!(
            "adopted, of no instance: {} ({})",
            pids.len(),
            pid_words(pids)
        )
    })
}

fn pid_words(pids: &[i32]) -> String {
    let shown: Vec<String> = pids.iter().take(SHOWN).map(|p| p.to_string()).collect();
    let word = if pids.len() == 1 { "pid" } else { "pids" };
    match pids.len().saturating_sub(SHOWN) {
        0 => format!("{word} {}", shown.join(" ")),
        more => format!("{word} {} and {more} more", shown.join(" ")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pids_are_listed_then_counted() {
        assert_eq!(super::text(&[]), "");
        assert_eq!(super::text(&[7]), ", adopted 1 (pid 7)");
        let many: Vec<i32> = (1..=20).collect();
        assert!(super::text(&many).ends_with("15 16 and 4 more)"));
    }
}
