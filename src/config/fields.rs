//! Checks for single field values that depend only on the value itself.
//!
//! Each takes a [`Node`] and returns the typed value or the message of an error
//! ("found X, expected Y"); the caller knows where the value is. Values that depend
//! on the system (paths, users) are in `resolve.rs`.

use std::str::FromStr;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::check::wrong;
use super::model::AutoRestart;
use super::tree::Node;

/// Longest `starttime`/`stoptime` accepted, in seconds (about 31 years): far beyond
/// any real use, and small enough that `Instant + Duration` never overflows.
pub(crate) const MAX_SECONDS: f64 = 1e9;

/// The truth value of a YAML boolean, or of `"true"`/`"false"` quoted (any case):
/// real configs quote them, and the quotes change nothing a reader can see.
pub(crate) fn truth(node: &Node) -> Option<bool> {
    match node {
        Node::Bool(b) => Some(*b),
        Node::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Node::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A boolean field: `true` or `false`, bare or quoted.
pub(crate) fn boolean(node: &Node) -> Result<bool, String> {
    truth(node).ok_or_else(|| wrong(node, "true or false"))
}

/// An integer in `min..=T::MAX`.
pub(crate) fn integer<T: TryFrom<i128>>(node: &Node, min: i128) -> Result<T, String> {
    let expected = format!("an integer ≥ {min}");
    match node {
        Node::Int(i) if *i >= min => T::try_from(*i).map_err(|_| wrong(node, "a smaller integer")),
        Node::Huge(_) => Err(wrong(node, "a smaller integer")),
        _ => Err(wrong(node, &expected)),
    }
}

/// Most instances of one program: far beyond real use, small enough that a typo
/// (an extra zero or three) is an error instead of an attempt to start millions of
/// threads.
pub(crate) const MAX_NUMPROCS: u32 = 10_000;

/// Most rotated files kept (`*_backups`): each rotation renames every one of them.
pub(crate) const MAX_BACKUPS: u32 = 1000;

/// Most bytes of recent output kept per instance and stream (`tail_buffer`): 16 MiB.
pub(crate) const MAX_TAIL_BUFFER: usize = 16 << 20;

/// An integer in `min..=max`.
pub(crate) fn bounded<T: TryFrom<i128>>(node: &Node, min: i128, max: i128) -> Result<T, String> {
    let expected = format!("an integer from {min} to {max}");
    match node {
        Node::Int(i) if (min..=max).contains(i) => {
            T::try_from(*i).map_err(|_| wrong(node, &expected))
        }
        _ => Err(wrong(node, &expected)),
    }
}

/// `startretries`: an integer ≥ 0, or `infinite`.
pub(crate) fn retries(node: &Node) -> Result<u32, String> {
    match node {
        Node::Str(s) if s.eq_ignore_ascii_case("infinite") => Ok(super::INFINITE_RETRIES),
        Node::Int(_) | Node::Huge(_) => integer::<u32>(node, 0).and_then(|n| {
            if n == super::INFINITE_RETRIES {
                Err(wrong(node, "a smaller integer"))
            } else {
                Ok(n)
            }
        }),
        _ => Err(wrong(node, "an integer ≥ 0, or infinite")),
    }
}

/// A size in bytes: an integer, or a string with a KB/MB/GB suffix (powers of
/// 1024, as supervisor reads `50MB`).
pub(crate) fn bytes(node: &Node) -> Result<u64, String> {
    const EXPECTED: &str = "a size in bytes, like 1048576 or \"50MB\" (KB, MB, GB)";
    match node {
        Node::Int(i) if *i >= 0 => u64::try_from(*i).map_err(|_| wrong(node, EXPECTED)),
        Node::Str(s) => {
            let upper = s.trim().to_ascii_uppercase();
            let (digits, unit) = match upper.find(|c: char| !c.is_ascii_digit()) {
                Some(i) => upper.split_at(i),
                None => (upper.as_str(), ""),
            };
            let scale: u64 = match unit.trim() {
                "" | "B" => 1,
                "KB" | "K" => 1 << 10,
                "MB" | "M" => 1 << 20,
                "GB" | "G" => 1 << 30,
                _ => return Err(wrong(node, EXPECTED)),
            };
            digits
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(scale))
                .ok_or_else(|| wrong(node, EXPECTED))
        }
        _ => Err(wrong(node, EXPECTED)),
    }
}

/// `max_memory`: a size as [`bytes`] reads it, above 0 (a limit of nothing would
/// restart every program at its first check; no limit is the field left out).
pub(crate) fn memory_limit(node: &Node) -> Result<Option<u64>, String> {
    const EXPECTED: &str = "a memory size above 0, like 536870912 or \"512MB\" (KB, MB, GB); \
                            leave max_memory out for no limit";
    match bytes(node) {
        Ok(0) | Err(_) => Err(wrong(node, EXPECTED)),
        Ok(limit) => Ok(Some(limit)),
    }
}

/// `depends_on`: a program name, or a list of them.
pub(crate) fn names(node: &Node) -> Result<Vec<String>, String> {
    const EXPECTED: &str = "a program name or a list of program names";
    match node {
        Node::Str(s) => Ok(vec![s.clone()]),
        Node::Seq(items) => items
            .iter()
            .map(|i| match i {
                Node::Str(s) => Ok(s.clone()),
                other => Err(wrong(other, EXPECTED)),
            })
            .collect(),
        other => Err(wrong(other, EXPECTED)),
    }
}

/// `backoff.factor`: a number ≥ 1 (1 keeps the delay constant).
pub(crate) fn factor(node: &Node) -> Result<f64, String> {
    match node {
        Node::Int(i) if (1..=1000).contains(i) => Ok(*i as f64),
        Node::Float(x) if x.is_finite() && (1.0..=1000.0).contains(x) => Ok(*x),
        _ => Err(wrong(node, "a number from 1 to 1000")),
    }
}

/// A number of seconds ≥ 0, fractions allowed.
pub(crate) fn seconds(node: &Node) -> Result<Duration, String> {
    const EXPECTED: &str = "a number of seconds ≥ 0 (fractions allowed)";
    let secs = match node {
        Node::Int(i) if *i >= 0 => *i as f64,
        Node::Float(x) if x.is_finite() && *x >= 0.0 => *x,
        Node::Huge(_) => MAX_SECONDS + 1.0,
        _ => return Err(wrong(node, EXPECTED)),
    };
    if secs > MAX_SECONDS {
        return Err(wrong(node, &format!("at most {MAX_SECONDS:e} seconds")));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| wrong(node, EXPECTED))
}

/// `always`, `never`, `unexpected` (any case), or a YAML boolean (true = always).
pub(crate) fn autorestart(node: &Node) -> Result<AutoRestart, String> {
    match (truth(node), node) {
        (Some(true), _) => return Ok(AutoRestart::Always),
        (Some(false), _) => return Ok(AutoRestart::Never),
        (None, Node::Str(s)) => match s.to_ascii_lowercase().as_str() {
            "always" => return Ok(AutoRestart::Always),
            "never" => return Ok(AutoRestart::Never),
            "unexpected" => return Ok(AutoRestart::Unexpected),
            _ => {}
        },
        _ => {}
    }
    Err(wrong(
        node,
        "one of: always, never, unexpected (or true/false)",
    ))
}

/// One exit code, 0–255.
pub(crate) fn exit_code(node: &Node) -> Result<i32, String> {
    match node {
        Node::Int(i) if (0..=255).contains(i) => Ok(*i as i32),
        _ => Err(wrong(node, "an exit code, an integer from 0 to 255")),
    }
}

/// A signal name with or without `SIG`, any case: `TERM`, `SIGUSR1`, `int`.
pub(crate) fn signal(node: &Node) -> Result<Signal, String> {
    if let Node::Str(s) = node {
        let upper = s.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        if !bare.is_empty() {
            if let Ok(signal) = Signal::from_str(&format!("SIG{bare}")) {
                return Ok(signal);
            }
        }
    }
    Err(wrong(
        node,
        "a signal name such as TERM, INT, QUIT, HUP, KILL, USR1, USR2 \
         (with or without SIG, any case)",
    ))
}

/// `umask`, always octal. `raw` is the source text of the value when it is an
/// integer, because YAML has already converted it:
/// * a string (`"022"`, and a bare `022`, which YAML 1.2 reads as a string because
///   of its leading zero) or `"0o22"`: octal digits, optional `0o` prefix;
/// * an integer written with a base prefix (`0o22`, `0x12`): its value as is;
/// * an integer written in decimal (`22`, `0`, `777`): its digits are read as
///   octal digits, because users write umasks in octal. So `22` means 0o022.
///   (Without `raw`, an integer is read that way too.)
///
/// Digits 0–7 only, at most 0777. A value too large is shown in octal in the
/// error (`found 0o1777`), the base the user thinks in, whatever base YAML read.
pub(crate) fn umask(node: &Node, raw: Option<&str>) -> Result<u32, String> {
    const EXPECTED: &str = "an octal umask such as 022 (digits 0-7, at most 0777)";
    let value: Option<u32> = match node {
        Node::Str(s) => {
            let digits = s
                .strip_prefix("0o")
                .or_else(|| s.strip_prefix("0O"))
                .unwrap_or(s);
            octal(digits)
        }
        Node::Int(i) if *i >= 0 => {
            let prefixed = raw.is_some_and(|r| {
                let r = r.trim_start_matches('+').to_ascii_lowercase();
                r.starts_with("0o") || r.starts_with("0x")
            });
            if prefixed {
                u32::try_from(*i).ok()
            } else {
                octal(&i.to_string())
            }
        }
        _ => None,
    };
    match value {
        Some(mask) if mask <= 0o777 => Ok(mask),
        Some(mask) => Err(format!("found 0o{mask:o}, expected {EXPECTED}")),
        // Not octal at all: show it as written (`8`, `089`).
        None => match (node, raw) {
            (Node::Int(_), Some(raw)) => Err(format!("found {}, expected {EXPECTED}", raw.trim())),
            _ => Err(wrong(node, EXPECTED)),
        },
    }
}

/// Octal digits (no sign, no prefix) to a number; `None` if not all 0–7.
fn octal(digits: &str) -> Option<u32> {
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(digits, 8).ok()
}

/// `detach_key`: caret notation for a control byte (`"^\\"` = 0x1c, `"^A"` = 0x01,
/// `"^]"` = 0x1d, `"^?"` = 0x7f, letters any case) or one ASCII character.
pub(crate) fn detach_key(node: &Node) -> Result<u8, String> {
    const EXPECTED: &str =
        "a control key in caret notation (\"^\\\\\", \"^A\", \"^]\") or a single ASCII character";
    let Node::Str(s) = node else {
        return Err(wrong(node, EXPECTED));
    };
    let chars: Vec<char> = s.chars().collect();
    match chars.as_slice() {
        ['^', '?'] => Ok(0x7f),
        ['^', c] => {
            let c = c.to_ascii_uppercase();
            if ('@'..='_').contains(&c) {
                Ok(c as u8 & 0x1f)
            } else {
                Err(wrong(node, EXPECTED))
            }
        }
        [c] if c.is_ascii() => Ok(*c as u8),
        _ => Err(wrong(node, EXPECTED)),
    }
}

/// `cmd`: the text as written and its words, split like a POSIX shell does.
pub(crate) fn command(node: &Node) -> Result<(String, Vec<String>), String> {
    let Node::Str(cmd) = node else {
        return Err(wrong(node, "a command line (a string)"));
    };
    match shlex::split(cmd) {
        None => Err(wrong(node, "a command line with balanced quotes")),
        Some(argv) if argv.is_empty() => Err(wrong(node, "a non-empty command line")),
        Some(argv) => Ok((cmd.clone(), argv)),
    }
}

/// An `env` value: strings, numbers and booleans become their text.
pub(crate) fn env_value(node: &Node) -> Result<String, String> {
    match node {
        Node::Str(s) if s.contains('\0') => Err(wrong(node, "text without NUL bytes")),
        Node::Str(s) => Ok(s.clone()),
        Node::Int(i) => Ok(i.to_string()),
        Node::Huge(text) => Ok(text.clone()),
        Node::Float(x) => Ok(x.to_string()),
        Node::Bool(b) => Ok(b.to_string()),
        _ => Err(wrong(
            node,
            "a string, number or boolean (write \"\" for an empty value)",
        )),
    }
}

/// An `env` name: non-empty, no `=`, no NUL (the rules of `environ`).
pub(crate) fn env_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(format!(
            "invalid environment variable name {name:?}: it must be non-empty \
             and contain no `=` or NUL"
        ));
    }
    Ok(())
}

/// Longest program name, in bytes. Names are typed in commands and shown in
/// columns; 255 is the longest file name most file systems take.
pub(crate) const MAX_NAME_BYTES: usize = 255;

/// A program name: non-empty, at most [`MAX_NAME_BYTES`], no `:` (instances are
/// `NAME:K`), whitespace (names are typed in commands) or control character (names
/// are printed on terminals and in the log), and not `all` (which means every
/// program in commands).
pub(crate) fn program_name(name: &str) -> Result<(), String> {
    if name == "all" {
        return Err("`all` cannot be a program name: in commands it means every program".into());
    }
    if name.len() > MAX_NAME_BYTES {
        let start: String = name.chars().take(20).collect();
        return Err(format!(
            "program name {start:?}… is {} bytes long: at most {MAX_NAME_BYTES}",
            name.len()
        ));
    }
    if name.is_empty() || name.contains(|c: char| c == ':' || c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "invalid program name {name:?}: it must be non-empty and contain no `:`, \
             whitespace or control character (instances are named NAME:K)"
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
