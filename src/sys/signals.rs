//! Signals by name: one reading shared by the config's `stopsignal` and the
//! `signal` command, so both accept and reject the same words.

use nix::sys::signal::Signal;

/// A signal by name, with or without `SIG`, any case (`TERM`, `SIGUSR1`, `int`), or
/// by number.
pub fn parse_signal(text: &str) -> Option<Signal> {
    use std::str::FromStr;
    let text = text.trim();
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if bare.is_empty() {
        return None;
    }
    Signal::from_str(&format!("SIG{bare}")).ok()
}

/// Signal names for completion and messages, without the `SIG` prefix.
pub fn signal_names() -> Vec<&'static str> {
    Signal::iterator()
        .map(|s| s.as_str().trim_start_matches("SIG"))
        .collect()
}
