//! The modes' arguments: numbers, seconds, sizes with a K/M/G suffix, signal
//! names; a bad one is a message that makes the program exit 2.

use nix::sys::signal::Signal;
use std::str::FromStr;
use std::time::Duration;

pub fn parse<T: FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("bad {what}: {s:?}"))
}

pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = parse(s, "seconds")?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("bad seconds: {s:?}"))
}

/// `123`, `4K`, `10M`, `1G` (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = parse(digits, "BYTES")?;
    n.checked_mul(unit)
        .ok_or_else(|| format!("BYTES too large: {s:?}"))
}

/// `USR1`, `SIGUSR1`, `usr1`, `int`...
pub fn parse_signal(s: &str) -> Result<Signal, String> {
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| format!("unknown signal {s:?}"))
}
