//! A previous run's survivors: the children journal of a run ended by SIGKILL or
//! a crash names processes still alive, which this run reports and does not
//! start again (README: If taskmaster itself is killed).

use log::warn;

use crate::hub::Hub;

/// Starts this run's children journal and reports the processes a previous run
/// (ended by SIGKILL or a crash) left alive; returns their instance names, which
/// are not autostarted: better a stopped instance than a silent duplicate.
pub(super) fn previous_run(
    hub: &Hub,
    socket: &std::path::Path,
    adopted: &[i32],
) -> Vec<(String, String)> {
    let mut path = socket.as_os_str().to_owned();
    path.push(".children");
    let leftovers = match hub.journal().open(std::path::Path::new(&path)) {
        // The processes an upgrade in place hands over are this run's.
        Ok(l) => (l.into_iter().filter(|l| !adopted.contains(&l.pid))).collect::<Vec<_>>(),
        Err(e) => {
            warn!(
                "cannot keep the children journal {}: {e}",
                std::path::Path::new(&path).display()
            );
            return Vec::new();
        }
    };
    crate::upgrade::resume::reap_own_leftovers(leftovers.iter().map(|l| l.pid));
    for l in &leftovers {
        let msg = format!(
            "{}: its process from a previous taskmaster run (pid {}) is still alive and unsupervised; \
             not starting another (stop it, then `start {}`)",
            l.name, l.pid, l.name
        );
        warn!("{msg}");
        eprintln!("taskmaster: {msg}");
    }
    // One note per instance, naming every survivor (two crashed runs may each
    // have left one); the leftovers come sorted by name, then pid.
    let mut notes: Vec<(String, Vec<i32>)> = Vec::new();
    for l in leftovers {
        match notes.last_mut() {
            Some((name, pids)) if *name == l.name => pids.push(l.pid),
            _ => notes.push((l.name, vec![l.pid])),
        }
    }
    notes
        .into_iter()
        .map(|(name, pids)| {
            let note = match pids.as_slice() {
                [pid] => format!("Not started: pid {pid} of a previous run is still alive"),
                _ => {
                    let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
                    format!(
                        "Not started: pids {} of previous runs are still alive",
                        list.join(", ")
                    )
                }
            };
            (name, note)
        })
        .collect()
}
