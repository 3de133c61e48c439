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

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`: RFC 3339 in UTC, to the millisecond (the event
/// stream's `time`, for scripts: no zone to know, and it sorts as text). Plain
/// arithmetic on the days since the epoch (the civil-from-days algorithm), so no
/// time-zone lock is taken.
pub fn rfc3339_utc(t: std::time::SystemTime) -> String {
    let since_epoch = t
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, ms) = (since_epoch.as_secs(), since_epoch.subsec_millis());
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    // Days since 0000-03-01, in eras of 400 years (146 097 days).
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{ms:03}Z")
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

    #[test]
    fn rfc3339_in_utc_to_the_millisecond() {
        let at = |ms: u64| super::rfc3339_utc(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        // A leap day, and the last millisecond of a year.
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_798_761_599_999), "2026-12-31T23:59:59.999Z");
    }
}
