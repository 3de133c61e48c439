//! The hand-over record of an upgrade in place: what the old process writes into
//! a memfd kept open across its exec, and the new one reads back.
//!
//! Versioned: `schema` says how to read the rest. A binary reads every schema up
//! to its own [`SCHEMA`] and refuses a newer one by name; the old daemon asks
//! the new binary which schemas it reads (`--upgrade-check`) before it execs, so
//! a record is never handed to a binary that would refuse it.

use std::io::{Read, Seek, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::watch::handover::InstanceRecord;

/// The schema this binary writes, and the newest it reads.
pub const SCHEMA: u32 = 1;
/// Names the record's descriptor in the new process's environment (removed at
/// once: the children never see it).
pub const RECORD_ENV: &str = "TASKMASTER_UPGRADE_RECORD_FD";
/// A record larger than this is not read (50 000 instances fit).
const RECORD_LIMIT: u64 = 64 * 1024 * 1024;

#[derive(Serialize, Deserialize, Debug)]
pub struct DaemonRecord {
    pub schema: u32,
    /// The version of the binary that wrote it.
    pub version: String,
    /// CLOCK_MONOTONIC at the moment the instances' offsets count from.
    pub monotonic_ns: u64,
    /// The control socket's listening descriptor, and where it is bound.
    pub listener: RawFd,
    pub socket: PathBuf,
    /// The connection of the `upgrade` request: answered by the new process.
    pub reply_to: Option<RawFd>,
    /// Who asked (for the event log).
    pub requested_by: String,
    /// The old spawn helper, which ends at the exec: reaped by the new process.
    pub old_helper: Option<i32>,
    pub instances: Vec<InstanceRecord>,
    /// Programs waiting for their automatic start (their dependencies), with
    /// the instances each leaves out.
    #[serde(default)]
    pub pending: Vec<(String, Vec<String>)>,
    /// The web dashboard's access token: kept, so a page open in a browser
    /// reconnects to the new process with the cookie it has.
    #[serde(default)]
    pub web_token: Option<String>,
}

impl DaemonRecord {
    /// Every descriptor the record names.
    pub fn fds(&self) -> Vec<RawFd> {
        let mut fds = vec![self.listener];
        fds.extend(self.reply_to);
        for i in &self.instances {
            if let Some(c) = &i.child {
                fds.extend(c.fds());
            }
        }
        fds
    }

    /// Writes the record into a new memfd (close-on-exec until the exec).
    pub fn to_memfd(&self) -> Result<OwnedFd, String> {
        let json = serde_json::to_vec(self).map_err(|e| format!("cannot write the record: {e}"))?;
        let fd = nix::sys::memfd::memfd_create(
            c"taskmaster-upgrade",
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
        )
        .map_err(|e| format!("cannot make the record's memfd: {}", e.desc()))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(&json)
            .and_then(|()| file.rewind())
            .map_err(|e| format!("cannot write the record: {e}"))?;
        Ok(OwnedFd::from(file))
    }

    /// Reads the record from descriptor `fd` (named by the environment).
    pub fn read(fd: RawFd) -> Result<DaemonRecord, String> {
        // SAFETY: F_GETFD on a number that may name nothing only fails.
        let open = nix::fcntl::fcntl(
            unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
            nix::fcntl::FcntlArg::F_GETFD,
        );
        if open.is_err() || fd < 3 {
            return Err(format!("descriptor {fd} named by {RECORD_ENV} is not open"));
        }
        // SAFETY: the previous process kept this descriptor open for this
        // process alone; nothing else here owns it.
        let file = unsafe { std::fs::File::from_raw_fd(fd) };
        let st = nix::sys::stat::fstat(file.as_fd()).map_err(|e| e.desc().to_string())?;
        if st.st_mode & libc_mode::S_IFMT != libc_mode::S_IFREG {
            return Err(format!("descriptor {fd} is not the upgrade record"));
        }
        let mut text = Vec::new();
        file.take(RECORD_LIMIT)
            .read_to_end(&mut text)
            .map_err(|e| format!("cannot read the upgrade record: {e}"))?;
        Self::parse(&text)
    }

    /// Parses a record, refusing a schema newer than this binary reads.
    pub fn parse(text: &[u8]) -> Result<DaemonRecord, String> {
        let value: serde_json::Value = serde_json::from_slice(text)
            .map_err(|e| format!("the upgrade record is not JSON: {e}"))?;
        let schema = value.get("schema").and_then(serde_json::Value::as_u64);
        match schema {
            Some(s) if s >= 1 && s <= SCHEMA as u64 => {}
            Some(s) => {
                return Err(format!(
                    "the upgrade record has schema {s}; this taskmaster reads 1 to {SCHEMA}"
                ))
            }
            None => return Err("the upgrade record has no schema number".to_string()),
        }
        serde_json::from_value(value).map_err(|e| format!("the upgrade record is damaged: {e}"))
    }
}

/// The file-type bits of `st_mode`, without a libc dependency for two constants.
mod libc_mode {
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFREG: u32 = 0o100000;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> DaemonRecord {
        DaemonRecord {
            schema: SCHEMA,
            version: "0".into(),
            monotonic_ns: 5,
            listener: 7,
            socket: "/run/t.sock".into(),
            reply_to: Some(9),
            requested_by: "test".into(),
            old_helper: None,
            instances: Vec::new(),
            pending: Vec::new(),
            web_token: None,
        }
    }

    #[test]
    fn a_record_reads_back_through_its_memfd() {
        let fd = record().to_memfd().unwrap();
        let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
        let back = DaemonRecord::read(raw).unwrap();
        assert_eq!(back.listener, 7);
        assert_eq!(back.fds(), vec![7, 9]);
    }

    #[test]
    fn a_newer_schema_is_refused_by_name() {
        let mut v = serde_json::to_value(record()).unwrap();
        v["schema"] = serde_json::json!(SCHEMA + 1);
        let err = DaemonRecord::parse(v.to_string().as_bytes()).unwrap_err();
        assert!(err.contains(&format!("schema {}", SCHEMA + 1)), "{err}");
        let err = DaemonRecord::parse(b"{}").unwrap_err();
        assert!(err.contains("no schema"), "{err}");
    }
}
