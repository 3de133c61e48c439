//! The pools the grammar draws from: field names (valid, misspelt, odd), commands,
//! signals, paths, numbers, scalars' pieces.

pub const TOP_KEYS: &[&str] = &["taskmaster", "programs"];
pub use taskmaster::config::{DAEMON_KEYS, PROGRAM_KEYS};

/// Keys nobody means, or means in an unusual spelling.
pub const ODD_KEYS: &[&str] = &[
    "<<",
    "\"cmd\"",
    "'cmd'",
    "CMD",
    "Cmd",
    "1",
    "null",
    "~",
    "true",
    "\"\"",
    "\"a=b\"",
    "\"\\0\"",
    "é",
    "\"with space\"",
    "[a]",
    "{a: 1}",
    "\"x:y\"",
    "all",
];

pub const PROGRAM_NAMES: &[&str] = &["web", "worker", "a", "b", "1", "0x10", "-dash", "é"];

pub const ODD_PROGRAM_NAMES: &[&str] = &[
    "all",
    "\"x:y\"",
    "\"with space\"",
    "null",
    "~",
    "\"\"",
    "true",
    "\"tab\\there\"",
    "\"nul\\0\"",
];

pub const COMMANDS: &[&str] = &[
    "sleep 1",
    "/bin/true",
    "\"sh -c 'echo $HOME'\"",
    "'unbalanced \"quote'",
    "\"echo 'oops\"",
    "\"\"",
    "\"   \"",
    "\"a\\0b\"",
    "\"printf '%s\\\\n' x\"",
    "bin/worker.sh --beat 2",
    "./relative",
    "\"\\\\\"",
];

pub const SIGNALS: &[&str] = &[
    "TERM",
    "SIGTERM",
    "term",
    "int",
    "SIGusr1",
    "USR2",
    "KILL",
    "HUP",
    "NOPE",
    "SIG",
    "\"\"",
    "9",
    "15",
    "\" TERM \"",
    "SIGSIGTERM",
    "sigkill",
];

pub const PATHS: &[&str] = &[
    "/tmp",
    "/",
    ".",
    "..",
    "logs/x.log",
    "/tmp/taskmaster-fuzz.out",
    "/nonexistent/taskmaster-fuzz",
    "discard",
    "Discard",
    "\"\"",
    "\"a\\0b\"",
    "~/.history",
    "\"~\"",
    "/proc/self/status",
    "/dev/null",
];

pub const DETACH_KEYS: &[&str] = &[
    "\"^\\\\\"",
    "\"^A\"",
    "\"^a\"",
    "\"^]\"",
    "\"^?\"",
    "\"^@\"",
    "\"^_\"",
    "x",
    "\"^\"",
    "\"^é\"",
    "ab",
    "é",
    "\"^^\"",
    "\"\\x7f\"",
];

pub const USERS: &[&str] = &[
    "root",
    "nobody",
    "0",
    "65534",
    "4294967295",
    "4294967296",
    "-1",
    "no-such-user-taskmaster-fuzz",
    "\"\"",
    "\"root\\0\"",
];

pub const SPECIAL_NUMBERS: &[&str] = &[
    "0.5",
    "1.5",
    "-0.0",
    "0.0",
    "1e400",
    "-1e400",
    "1e-400",
    ".inf",
    "-.inf",
    ".nan",
    ".NaN",
    "1e9",
    "1000000001",
    "999999999.9",
    "4294967295",
    "4294967296",
    "18446744073709551616",
    "170141183460469231731687303715884105728",
    "-170141183460469231731687303715884105729",
    "0x1F",
    "0xFFFFFFFF",
    "0o777",
    "0o1000",
    "+12",
    "1_000",
    "0b101",
    "0x",
    "0o",
    "-0",
];

pub const BOOLS_AND_NULLS: &[&str] = &[
    "true", "false", "True", "FALSE", "yes", "no", "on", "off", "y", "n", "null", "Null", "NULL",
    "~", "",
];

pub const UNICODE: &[&str] = &[
    "é",
    "日本語",
    "\u{1F600}",
    "\u{202E}rtl",
    "\u{FEFF}bom",
    "ünïcödé",
    "\u{00A0}nbsp",
    "Ω≈ç√",
];

pub const TAGS: &[&str] = &[
    "!foo bar",
    "!!str 12",
    "!!int x",
    "!!int 12",
    "!!float 1",
    "!!binary aGk=",
    "!!null ''",
    "!!bool yes",
    "!custom",
    "!!map {}",
    "!!seq []",
    "!<tag:x> 1",
];

/// Pieces of a double-quoted scalar, escapes (valid and not) included.
pub const DQ_PIECES: &[&str] = &[
    "a",
    "é",
    " ",
    "\\n",
    "\\t",
    "\\0",
    "\\x41",
    "\\xff",
    "\\u00e9",
    "\\U0001F600",
    "\\\"",
    "\\\\",
    "\\q",
    "\\x",
    "\\u12",
    "\\/",
    "\\e",
    "\\N",
    "\\L",
    "\\P",
    "\\_",
    "'",
    ":",
    "#",
    "{",
    "]",
    "\\ud800",
    "\\U00110000",
];

pub const SQ_PIECES: &[&str] = &["a", "''", "\"", "\\", "é", ": ", "#", " ", "\\0"];
