//! The watcher's side of `pidfile:` (`state_pidfile.rs`): reading the file and
//! taking the process it names as the instance's own.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Instant, SystemTime};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::{Running, Watcher};
use crate::hub::Event as HubEvent;
use crate::orphans;
use crate::watch::state::pidfile::Phase;
use crate::watch::state::{Event, PidFileRead};

/// A pid file is a number and a newline: more than this is not one.
const MAX_PIDFILE: u64 = 64;

impl Watcher {
    /// `Action::ReadPidFile`: the pid in the file, once it names a process the
    /// daemon adopted from this instance, becomes its child.
    #[inline(never)]
    pub(super) fn read_pid_file(&mut self) -> Event {
        let read = match &self.config.policy.pidfile {
            Some(path) => read_pid(path),
            None => Err("no pidfile".to_string()),
        };
        let name = self.instance.name();
        let claimed = read.and_then(|pid| Ok((pid, orphans::claim(pid, &name)?)));
        let (pid, pidfd) = match claimed {
            Ok(claimed) => claimed,
            Err(reason) => return Event::PidFile(PidFileRead::NotYet { reason }),
        };
        // Journaled like a spawn: a crash of the daemon leaves it known.
        self.hub.publish(&HubEvent::Spawned {
            name: &name,
            pid,
            pidfd: pidfd.as_fd(),
        });
        self.child = Some(Running {
            pid,
            pidfd,
            unpumped: None,
            // Its output pipes, if it kept any, are the launcher's, which the
            // launcher's run already handed to a pump: none to hand over.
            output_ids: [None, None],
        });
        self.instance
            .publish(|s| s.started_at = Some((Instant::now(), SystemTime::now())));
        Event::PidFile(PidFileRead::Followed { pid })
    }

    /// A followed process need not lead its process group: the signal goes to
    /// it as well as to its group.
    pub(super) fn signal_followed(&self, pid: i32, signal: Signal) {
        if self.machine.pidfile == Phase::Following {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
        }
    }
}

/// The pid a pid file holds.
fn read_pid(path: &Path) -> Result<i32, String> {
    let shown = path.display();
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PIDFILE).read_to_string(&mut text))
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    match text.trim().parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(format!("{shown} holds no pid ({:?})", text.trim())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pid_file_holds_one_positive_number() {
        let dir = std::env::temp_dir().join(format!("tm-pidfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.pid");
        std::fs::write(&file, "4242\n").unwrap();
        assert_eq!(super::read_pid(&file), Ok(4242));
        for bad in ["", "0\n", "-3", "12ab", "9999999999"] {
            std::fs::write(&file, bad).unwrap();
            let err = super::read_pid(&file).unwrap_err();
            assert!(err.contains("holds no pid"), "{bad:?}: {err}");
        }
        let missing = super::read_pid(&dir.join("none.pid")).unwrap_err();
        assert!(missing.contains("cannot read"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
