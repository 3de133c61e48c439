//! Local time for the lines the daemon writes (event log, syslog, status).
//! Neither nix nor rustix breaks a time down in the local zone (that needs the
//! C library's zone data), so `localtime_r` is called directly.

use nix::libc;

/// `t` broken down in local time (`localtime_r`).
pub fn local_time(t: std::time::SystemTime) -> libc::tm {
    let secs = t
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed struct we own; both pointers are valid.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    }
}

/// The last second [`timestamp`] broke down, and its `YYYY-MM-DD HH:MM:SS`.
static LAST_SECOND: parking_lot::Mutex<Option<(u64, String)>> = parking_lot::Mutex::new(None);

/// `YYYY-MM-DD HH:MM:SS.mmm` in local time, as the event log writes it.
///
/// `localtime_r` takes glibc's time-zone lock; a thousand watchers logging at once
/// queued on it. Lines come in bursts within the same second, so the broken-down
/// second is kept and only the milliseconds are formatted anew.
pub fn timestamp(t: std::time::SystemTime) -> String {
    let since_epoch = t
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, ms) = (since_epoch.as_secs(), since_epoch.subsec_millis());
    let mut last = LAST_SECOND.lock();
    match &*last {
        Some((s, text)) if *s == secs => format!("{text}.{ms:03}"),
        _ => {
            let tm = local_time(t);
            let text = format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                tm.tm_year + 1900,
                tm.tm_mon + 1,
                tm.tm_mday,
                tm.tm_hour,
                tm.tm_min,
                tm.tm_sec,
            );
            let stamp = format!("{text}.{ms:03}");
            *last = Some((secs, text));
            stamp
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[test]
    fn timestamps_within_a_second_share_it_and_a_new_second_is_broken_down_anew() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let a = super::timestamp(t);
        let b = super::timestamp(t + Duration::from_millis(500));
        let c = super::timestamp(t + Duration::from_millis(1_000));
        assert_eq!(a.len(), 23, "{a}");
        assert!(a.ends_with(".123") && b.ends_with(".623") && c.ends_with(".123"));
        assert_eq!(a[..19], b[..19], "same second");
        assert_ne!(a[..19], c[..19], "next second");
        assert!(super::timestamp(SystemTime::now()).starts_with("20"));
    }
}
