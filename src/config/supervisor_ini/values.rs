//! supervisor's value syntaxes: booleans, integers, sizes, octal umasks, signal
//! names or numbers, exit code lists and `KEY="val",KEY2=val2` environments. Each
//! returns the value or the message of an error (the caller knows the line).

use nix::sys::signal::Signal;

/// `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`, any case.
pub(crate) fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!(
            "found {text:?}, expected a boolean (true/false, yes/no, on/off, 1/0)"
        )),
    }
}

/// An integer ≥ `min`.
pub(crate) fn integer(text: &str, min: i64) -> Result<i64, String> {
    match text.trim().parse::<i64>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(format!("found {text:?}, expected an integer ≥ {min}")),
    }
}

/// A size: bytes, or a number with KB, MB or GB (powers of 1024).
pub(crate) fn byte_size(text: &str) -> Result<i64, String> {
    let upper = text.trim().to_ascii_uppercase();
    let units = [("KB", 1i64 << 10), ("MB", 1 << 20), ("GB", 1 << 30)];
    let (digits, scale) = units
        .iter()
        .find_map(|(unit, scale)| upper.strip_suffix(unit).map(|d| (d, *scale)))
        .unwrap_or((upper.as_str(), 1));
    digits
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| {
            format!("found {text:?}, expected a size in bytes such as 1024, 50MB or 1GB")
        })
}

/// An octal umask such as `022`: returned as the octal digits.
pub(crate) fn octal(text: &str) -> Result<String, String> {
    let t = text.trim();
    let digits = t.strip_prefix("0o").unwrap_or(t);
    match u32::from_str_radix(digits, 8) {
        Ok(n) if n <= 0o777 => Ok(format!("{n:03o}")),
        _ => Err(format!(
            "found {text:?}, expected an octal umask such as 022"
        )),
    }
}

/// A signal name (`TERM`, `SIGHUP`) or number (`15`): its name without `SIG`.
pub(crate) fn signal(text: &str) -> Result<String, String> {
    let t = text.trim();
    let signal = match t.parse::<i32>() {
        Ok(n) => Signal::try_from(n).ok(),
        Err(_) => {
            let upper = t.to_ascii_uppercase();
            let bare = upper.strip_prefix("SIG").unwrap_or(&upper).to_string();
            format!("SIG{bare}").parse::<Signal>().ok()
        }
    };
    signal
        .map(|s| s.as_str().trim_start_matches("SIG").to_string())
        .ok_or_else(|| format!("found {text:?}, expected a signal name (TERM, HUP, INT, QUIT, KILL, USR1, USR2) or number"))
}

/// `0,2`: exit codes 0-255.
pub(crate) fn exit_codes(text: &str) -> Result<Vec<i64>, String> {
    text.split(',')
        .map(|code| match code.trim().parse::<i64>() {
            Ok(n @ 0..=255) => Ok(n),
            _ => Err(format!(
                "found {text:?}, expected exit codes 0-255 separated by commas"
            )),
        })
        .collect()
}

/// `autorestart`: `unexpected`, or a boolean (`true`: always, `false`: never).
pub(crate) fn autorestart(text: &str) -> Result<&'static str, String> {
    if text.trim().eq_ignore_ascii_case("unexpected") {
        return Ok("unexpected");
    }
    match boolean(text) {
        Ok(true) => Ok("always"),
        Ok(false) => Ok("never"),
        Err(_) => Err(format!(
            "found {text:?}, expected true, false or unexpected"
        )),
    }
}

/// `KEY="val",KEY2=val2`: pairs separated by commas (or new lines), values
/// optionally quoted with `"` or `'` (then they may hold commas and `=`).
pub(crate) fn environment(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' || c == '\n' {
                break;
            }
            key.push(c);
            chars.next();
        }
        let key = key.trim().to_string();
        if chars.next() != Some('=') || key.is_empty() {
            return Err(format!(
                "unexpected end of key/value pairs in {text:?}: expected KEY=value, KEY2=\"value 2\""
            ));
        }
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut value = String::new();
        loop {
            match chars.peek().copied() {
                None | Some(',') | Some('\n') => break,
                Some(q @ ('"' | '\'')) => {
                    chars.next();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == q {
                            closed = true;
                            break;
                        }
                        value.push(c);
                    }
                    if !closed {
                        return Err(format!("unbalanced quote in {text:?}"));
                    }
                }
                Some(c) => {
                    value.push(c);
                    chars.next();
                }
            }
        }
        pairs.push((key, value.trim_end().to_string()));
    }
}
