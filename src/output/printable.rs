//! A program's latest line made safe to show on someone's terminal (`top`): its
//! escape sequences and control characters taken out, so nothing a child prints
//! can move the cursor, change colours or retitle the window of whoever watches,
//! and its length bounded.

/// The last line of `raw` that shows something, as printable text of at most
/// `max` bytes (cut at a character boundary). A carriage return overwrites a line
/// on a terminal, so only what follows the last one counts (a progress bar shows
/// its latest state). Tabs become spaces; other control characters and escape
/// sequences are dropped; invalid UTF-8 becomes U+FFFD.
pub fn last_line(raw: &[u8], max: usize) -> String {
    let line = raw
        .split(|&b| b == b'\n')
        .map(|line| {
            let shown = line
                .rsplit(|&b| b == b'\r')
                .find(|part| !printable(part).trim().is_empty());
            shown.unwrap_or_default()
        })
        .rfind(|line| !line.is_empty())
        .unwrap_or_default();
    bounded(printable(line).trim_end(), max)
}

/// `text` without escape sequences and control characters (tabs become spaces).
pub fn printable(text: &[u8]) -> String {
    let mut kept = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            0x1b => i = after_escape(text, i),
            b'\t' => {
                kept.push(b' ');
                i += 1;
            }
            b if b < 0x20 || b == 0x7f => i += 1,
            b => {
                kept.push(b);
                i += 1;
            }
        }
    }
    // C1 controls (U+0080..U+009F) and other control characters, once decoded.
    String::from_utf8_lossy(&kept)
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// The index just after the escape sequence that starts at `text[start]` (ESC);
/// the end of `text` when the sequence is cut off.
fn after_escape(text: &[u8], start: usize) -> usize {
    let Some(&kind) = text.get(start + 1) else {
        return text.len();
    };
    match kind {
        // CSI: parameters and intermediates, then one final byte 0x40..=0x7e.
        b'[' => text[start + 2..]
            .iter()
            .position(|b| (0x40..=0x7e).contains(b))
            .map_or(text.len(), |end| start + 2 + end + 1),
        // OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (ESC \).
        b']' | b'P' | b'X' | b'^' | b'_' => {
            let mut j = start + 2;
            while j < text.len() {
                match text[j] {
                    0x07 => return j + 1,
                    0x1b if text.get(j + 1) == Some(&b'\\') => return j + 2,
                    _ => j += 1,
                }
            }
            text.len()
        }
        // A two-byte escape (ESC 7, ESC c...); ESC ( B and the like take three.
        b'(' | b')' | b'*' | b'+' | b'#' | b'%' => (start + 3).min(text.len()),
        _ => start + 2,
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
pub fn bounded(text: &str, max: usize) -> String {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_that_shows_something() {
        assert_eq!(last_line(b"one\ntwo\n", 200), "two");
        assert_eq!(last_line(b"one\ntwo", 200), "two");
        assert_eq!(last_line(b"one\n\n  \n", 200), "one");
        assert_eq!(last_line(b"", 200), "");
        assert_eq!(last_line(b"\x1b[2J\n", 200), "");
        // A progress bar: what the terminal would show last.
        assert_eq!(last_line(b"10%\r50%\r100%\r\n", 200), "100%");
    }

    #[test]
    fn escape_sequences_and_controls_are_taken_out() {
        assert_eq!(last_line(b"\x1b[31mred\x1b[0m text\n", 200), "red text");
        assert_eq!(last_line(b"\x1b]0;title\x07ok\n", 200), "ok");
        assert_eq!(last_line(b"\x1b]0;title\x1b\\ok\n", 200), "ok");
        assert_eq!(last_line(b"a\x1b(Bb\x1b7c\x08\x07\x00d\n", 200), "abcd");
        assert_eq!(last_line(b"tab\there\n", 200), "tab here");
        assert_eq!(last_line("c1\u{9b}2J\n".as_bytes(), 200), "c12J");
        // Cut off in the middle of a sequence: the rest is dropped.
        assert_eq!(last_line(b"ok\x1b[12", 200), "ok");
        assert_eq!(last_line(b"ok\x1b]0;never ends", 200), "ok");
        assert_eq!(last_line(b"bad \xff utf-8\n", 200), "bad \u{fffd} utf-8");
    }

    #[test]
    fn lines_are_bounded_at_a_character_boundary() {
        assert_eq!(last_line(&[b'x'; 5000], 200).len(), 200);
        let accents = "é".repeat(150);
        let cut = last_line(accents.as_bytes(), 201);
        assert_eq!(cut.len(), 200);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(bounded("abc", 0), "");
    }
}
