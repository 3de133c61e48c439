//! `taskmaster.syslog`: a copy of the event log sent to the local syslog socket
//! (`/dev/log`, or a path given instead of `true`), as RFC 3164 datagrams with the
//! daemon facility. Sending is best effort: no syslog daemon, or a full socket,
//! never holds up or breaks the event log itself.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use log::{Level, Record};

/// The log4rs appender that forwards each record to syslog.
#[derive(Debug)]
pub struct SyslogAppender {
    socket: UnixDatagram,
    path: PathBuf,
    pid: u32,
}

impl SyslogAppender {
    pub fn new(path: &Path) -> std::io::Result<SyslogAppender> {
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(SyslogAppender {
            socket,
            path: path.to_path_buf(),
            pid: std::process::id(),
        })
    }
}

/// The syslog severity of an event-log level: err, warning, info, debug. The
/// journal's copy (`journald.rs`) uses the same.
pub(crate) fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// `<PRI>Mmm dd hh:mm:ss taskmaster[PID]: MESSAGE`, facility daemon (3).
fn datagram(record: &Record, pid: u32) -> String {
    let severity = severity(record.level());
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let tm = crate::sys::time::local_time(std::time::SystemTime::now());
    format!(
        "<{}>{} {:2} {:02}:{:02}:{:02} taskmaster[{pid}]: {}",
        3 * 8 + severity,
        MONTHS.get(tm.tm_mon as usize).unwrap_or(&"Jan"),
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        record.args()
    )
}

impl log4rs::append::Append for SyslogAppender {
    fn append(&self, record: &Record) -> anyhow::Result<()> {
        // Dropped, not retried: syslog is a copy, the file is the record.
        let _ = self
            .socket
            .send_to(datagram(record, self.pid).as_bytes(), &self.path);
        Ok(())
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagram_has_priority_tag_and_message() {
        let args = format_args!("gave up: web");
        let record = Record::builder().args(args).level(Level::Warn).build();
        let line = datagram(&record, 42);
        assert!(line.starts_with("<28>"), "{line}");
        assert!(line.ends_with("taskmaster[42]: gave up: web"), "{line}");
    }
}
