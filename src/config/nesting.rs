//! A linear pre-scan that refuses deeply nested flow collections before the YAML
//! parser sees them.
//!
//! Why: the parser's time grows with the square of the flow nesting depth (it
//! revisits every open `[`/`{` level at each token), so 100 000 `[` held a reload
//! for many seconds and 200 000 for over a minute, although the result is an error
//! anyway (the parser stops at 128 levels). Real files nest a few levels; anything
//! past [`MAX_FLOW_DEPTH`] is refused here, with its line and column, in one pass.
//!
//! The scan knows just enough YAML to not count brackets that are text: inside
//! quotes, comments and block scalars (`|`, `>`), and in the middle of a plain
//! value of block context (`cmd: test [ -f x ]`). Block nesting needs no such
//! guard: it costs the parser linear time, and its own limit applies.

/// Deepest nesting of flow collections (`[…]`, `{…}`) accepted.
pub(crate) const MAX_FLOW_DEPTH: usize = 64;

/// Where a file nests too deep: 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TooDeep {
    pub line: usize,
    pub column: usize,
}

impl TooDeep {
    pub(crate) fn message(&self) -> String {
        format!(
            "nesting too deep: more than {MAX_FLOW_DEPTH} levels of `[` / `{{` (a damaged or hostile file?)"
        )
    }
}

/// Checks that no flow collection in `text` nests deeper than [`MAX_FLOW_DEPTH`].
pub(crate) fn check(text: &str) -> Result<(), TooDeep> {
    Scan::new(text.as_bytes()).run()
}

struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
    /// Byte offset where the current line starts (for the column).
    line_start: usize,
    /// Open flow collections.
    depth: usize,
    /// The next non-blank character begins a node (a quote there opens a quoted
    /// value, a `[` there a flow sequence).
    node_start: bool,
}

impl<'a> Scan<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Scan {
            bytes,
            at: 0,
            line: 1,
            line_start: 0,
            depth: 0,
            node_start: true,
        }
    }

    fn peek(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.at + offset).copied()
    }

    /// Whether the byte after the current one ends a token (blank or end).
    fn blank_after(&self) -> bool {
        matches!(self.peek(1), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
    }

    fn newline(&mut self) {
        self.at += 1;
        self.line += 1;
        self.line_start = self.at;
    }

    fn too_deep(&self) -> TooDeep {
        let before = &self.bytes[self.line_start..self.at];
        // Characters, not bytes: UTF-8 continuation bytes do not start one.
        let column = before.iter().filter(|b| (**b & 0xC0) != 0x80).count() + 1;
        TooDeep {
            line: self.line,
            column,
        }
    }

    fn run(mut self) -> Result<(), TooDeep> {
        while let Some(byte) = self.peek(0) {
            match byte {
                b'\n' => {
                    self.newline();
                    // A new line may begin a node in block context; in flow
                    // context it continues wherever the previous line stood.
                    if self.depth == 0 {
                        self.node_start = true;
                    }
                    continue;
                }
                b' ' | b'\t' | b'\r' => {}
                b'#' if self.comment_allowed() => {
                    self.skip_line();
                    continue;
                }
                b'"' | b'\'' if self.node_start => {
                    self.skip_quoted(byte);
                    self.node_start = false;
                    continue;
                }
                b'[' | b'{' if self.node_start || self.depth > 0 => {
                    self.depth += 1;
                    if self.depth > MAX_FLOW_DEPTH {
                        return Err(self.too_deep());
                    }
                    self.node_start = true;
                }
                b']' | b'}' if self.depth > 0 => {
                    self.depth -= 1;
                    self.node_start = false;
                }
                b',' if self.depth > 0 => self.node_start = true,
                // A document marker: a node may follow on the same line.
                b'-' | b'.' if self.document_marker() => {
                    self.at += 3;
                    self.node_start = true;
                    continue;
                }
                b'|' | b'>' if self.node_start && self.depth == 0 => {
                    self.skip_block_scalar();
                    continue;
                }
                // Indicators after which a node begins: `- `, `? `, `: ` (and a
                // bare `:` in flow context, as in `{"a":[1]}`).
                b'-' | b'?' if self.node_start && self.blank_after() => {}
                b':' if self.blank_after() || self.depth > 0 => self.node_start = true,
                // An anchor or a tag before a node: the node starts after it.
                b'&' | b'!' if self.node_start => {
                    self.skip_token();
                    continue;
                }
                _ => self.node_start = false,
            }
            self.at += 1;
        }
        Ok(())
    }

    /// `---` or `...` at the start of a line, followed by a blank.
    fn document_marker(&self) -> bool {
        let rest = &self.bytes[self.at..];
        self.at == self.line_start
            && (rest.starts_with(b"---") || rest.starts_with(b"..."))
            && matches!(rest.get(3), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
    }

    /// A `#` starts a comment at the start of a line or after a blank.
    fn comment_allowed(&self) -> bool {
        self.at == self.line_start
            || matches!(self.bytes[self.at - 1], b' ' | b'\t' | b'\r' | b'\n')
    }

    /// Moves to the next line feed (not past it).
    fn skip_line(&mut self) {
        while let Some(b) = self.peek(0) {
            if b == b'\n' {
                return;
            }
            self.at += 1;
        }
    }

    /// Moves past the token at the cursor (up to a blank).
    fn skip_token(&mut self) {
        while let Some(b) = self.peek(0) {
            if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                return;
            }
            self.at += 1;
        }
    }

    /// Moves past a quoted value opened by `quote` at the cursor: `\` escapes in
    /// double quotes, `''` in single ones. An unclosed quote runs to the end (the
    /// parser reports it).
    fn skip_quoted(&mut self, quote: u8) {
        self.at += 1;
        while let Some(b) = self.peek(0) {
            match b {
                b'\n' => {
                    self.newline();
                    continue;
                }
                b'\\' if quote == b'"' => {
                    // The escaped character is skipped too (unless it is a line
                    // feed: the line count must see it).
                    self.at += 1;
                    if self.peek(0).is_some_and(|b| b != b'\n') {
                        self.at += 1;
                    }
                    continue;
                }
                b'\'' if quote == b'\'' && self.peek(1) == Some(b'\'') => self.at += 1,
                _ if b == quote => {
                    self.at += 1;
                    return;
                }
                _ => {}
            }
            self.at += 1;
        }
    }

    /// Moves past a block scalar whose header (`|`, `>`) is at the cursor: the
    /// rest of that line, then every blank line or line indented deeper than it.
    fn skip_block_scalar(&mut self) {
        let indent = self.bytes[self.line_start..]
            .iter()
            .take_while(|b| **b == b' ')
            .count();
        self.skip_line();
        while self.peek(0) == Some(b'\n') {
            let next = self.at + 1;
            let rest = &self.bytes[next..];
            let spaces = rest.iter().take_while(|b| **b == b' ').count();
            let blank = matches!(rest.get(spaces), None | Some(b'\n' | b'\r'));
            if !blank && spaces <= indent {
                break;
            }
            self.newline();
            self.skip_line();
        }
        self.node_start = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_error(text: &str) -> Option<(usize, usize)> {
        check(text).err().map(|e| (e.line, e.column))
    }

    #[test]
    fn real_files_pass() {
        for text in [
            "programs:\n  web:\n    cmd: x\n    env: {A: [1, {b: [2]}]}\n",
            "programs: {}\n",
            "a: [[[[1]]]]\n",
            "a: {\"k\":[1],'j':{x: y}}\n",
        ] {
            assert_eq!(check(text), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn brackets_that_are_text_do_not_count() {
        let deep = "[".repeat(200);
        for text in [
            format!("cmd: test {deep}\n"),
            format!("cmd: \"{deep}\"\n"),
            format!("cmd: '{deep} it''s'\n"),
            format!("cmd: \"a \\\" {deep}\"\n"),
            format!("# {deep}\ncmd: x # {deep}\n"),
            format!("cmd: |\n  {deep}\n\n  {deep}\nnext: 1\n"),
            format!("cmd: >-\n    {deep}\n"),
            format!("cmd: &a !!str x{deep}\n"),
            format!("cmd: \"multi\n  line {deep}\"\n"),
        ] {
            assert_eq!(check(&text), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn deep_flow_nesting_is_refused_where_it_passes_the_limit() {
        let at_limit = format!("a: {}1{}\n", "[".repeat(64), "]".repeat(64));
        assert_eq!(check(&at_limit), Ok(()));
        // Column 68: `a: ` then 64 `[`, the 65th is the one refused.
        let over = format!("a: {}1{}\n", "[".repeat(65), "]".repeat(65));
        assert_eq!(depth_error(&over), Some((1, 3 + 65)));
        let maps = format!("x: 1\nb: {}\n", "{a: ".repeat(100));
        assert_eq!(depth_error(&maps), Some((2, 3 + 4 * 64 + 1)));
        // Spread over lines, after a block scalar, after an anchor, in a list.
        let lines = format!("a: |\n  x\nb: &x\n{}", "[\n".repeat(70));
        assert_eq!(depth_error(&lines), Some((4 + 64, 1)));
        let list = format!("- - {}\n", "[ ".repeat(70));
        assert_eq!(depth_error(&list), Some((1, 5 + 2 * 64)));
        let marker = format!("--- {}\n", "[".repeat(65));
        assert_eq!(depth_error(&marker), Some((1, 4 + 65)));
        // Characters, not bytes, in the column.
        let wide = format!("é: {}\n", "[".repeat(65));
        assert_eq!(depth_error(&wide), Some((1, 3 + 65)));
    }
}
