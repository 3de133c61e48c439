//! Property-based fuzzing (proptest, the CI variant of `cargo fuzz`) of the two places
//! where taskmaster reads untrusted text: the configuration loader and the control
//! socket's request parser.
//!
//! * The loader, `taskmaster::config::parse`, gets arbitrary text, YAML-ish documents
//!   built from a grammar of valid, misspelt and odd field names and values, and
//!   mutations (byte flips, truncation, line duplication...) of the seed files kept in
//!   `tests/fuzz-seeds/`. It must never panic, must return within a time bound, and
//!   must either give a config that holds the model's invariants or errors that each
//!   say what is wrong, where, and in which file.
//! * The socket server of a real daemon gets random bytes, random JSON, requests of
//!   the wrong shape, huge ones, and read-only commands with random arguments. Each
//!   must get one JSON reply line (malformed: exit 2; oversized: an error, then the
//!   connection closes), and the daemon must come out of it alive, answering, with
//!   every program's pid unchanged.
//!
//! Case counts are modest so the file runs in seconds; `TASKMASTER_FUZZ_CASES=N` runs
//! N cases per property instead. Failures are not persisted to files: proptest
//! prints the minimal failing input, which belongs in a named regression test.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{TestCaseError, TestRunner};
use serde::Deserialize;
use serde_json::Value;
use taskmaster::config::{parse, Config, ConfigErrors, OutputTarget};

// ---- configuration --------------------------------------------------------------------

/// Cases per property: `default`, or `TASKMASTER_FUZZ_CASES`.
fn cases(default: u32) -> u32 {
    std::env::var("TASKMASTER_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

fn proptest_config(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default_cases),
        // No `proptest-regressions/` files: minimized failures become named tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A parse that takes longer than this is a hang (it takes milliseconds).
const PARSE_BOUND: Duration = Duration::from_secs(10);

/// The parse runs on a thread of this stack. The daemon's first load runs on its main
/// thread (8 MiB); reloads run on small stacks, see `deep_nesting_reload_*` below.
const PARSE_STACK: usize = 8 << 20;

/// The name given to every generated document: errors must mention it.
const FUZZ_FILE: &str = "fuzz-input.yaml";

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-seeds")
}

/// `(file name, contents)` of every seed, in name order.
fn seeds() -> &'static [(String, String)] {
    static SEEDS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut out: Vec<(String, String)> = std::fs::read_dir(seeds_dir())
            .expect("tests/fuzz-seeds exists")
            .map(|e| e.expect("seed dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&p).expect("seed is UTF-8");
                (name, text)
            })
            .collect();
        out.sort();
        assert!(!out.is_empty(), "no seed in {}", seeds_dir().display());
        out
    })
}

// ---- the loader's properties ----------------------------------------------------------

/// Parses `text` on its own thread, so a hang is reported instead of hanging the
/// suite, and a panic is reported with the input.
fn parse_bounded(text: &str, file: &Path) -> Result<Result<Config, ConfigErrors>, String> {
    let (tx, rx) = mpsc::channel();
    let (owned, path) = (text.to_string(), file.to_path_buf());
    std::thread::Builder::new()
        .name("fuzz-parse".into())
        .stack_size(PARSE_STACK)
        .spawn(move || {
            let _ = tx.send(parse(&owned, &path));
        })
        .expect("spawn parse thread");
    match rx.recv_timeout(PARSE_BOUND) {
        Ok(result) => Ok(result),
        Err(RecvTimeoutError::Timeout) => Err(format!(
            "parse did not return within {PARSE_BOUND:?} on {text:?}"
        )),
        Err(RecvTimeoutError::Disconnected) => Err(format!("parse panicked on {text:?}")),
    }
}

/// Every property of one parse; `Err` describes the first violation.
fn check_config_text(text: &str) -> Result<(), String> {
    let file = seeds_dir().join(FUZZ_FILE);
    match parse_bounded(text, &file)? {
        Ok(config) => check_config(&config, &file),
        Err(errors) => check_errors(&errors, FUZZ_FILE),
    }
    .map_err(|e| format!("{e}\ninput: {text:?}"))
}

/// The invariants a loaded config promises the rest of taskmaster.
fn check_config(config: &Config, file: &Path) -> Result<(), String> {
    if config.file != file {
        return Err(format!("config.file is {:?}", config.file));
    }
    if config.daemon.tail_buffer < 1 || !config.daemon.logfile.is_absolute() {
        return Err(format!("bad daemon settings: {:?}", config.daemon));
    }
    for (name, p) in &config.programs {
        let bad = |why: &str| Err(format!("program {name:?}: {why}: {p:?}"));
        if *name != p.name {
            return bad("map key differs from its name");
        }
        if name.is_empty()
            || name == "all"
            || name.contains(|c: char| c == ':' || c.is_whitespace())
        {
            return bad("invalid program name accepted");
        }
        if p.numprocs < 1 {
            return bad("numprocs < 1");
        }
        let l = &p.launch;
        if l.argv.is_empty() || l.argv.len() != l.exec.argv.len() {
            return bad("empty argv, or exec argv differs");
        }
        if l.umask.is_some_and(|m| m > 0o777) {
            return bad("umask over 0o777");
        }
        if p.policy.exitcodes.iter().any(|c| !(0..=255).contains(c)) {
            return bad("exit code outside 0..=255");
        }
        if !l.workingdir.is_absolute() {
            return bad("relative workingdir");
        }
        for out in [&l.stdout, &l.stderr] {
            if let OutputTarget::File(f) = out {
                if !f.is_absolute() {
                    return bad("relative output path");
                }
            }
        }
        if l.env
            .keys()
            .any(|k| k.is_empty() || k.contains(['=', '\0']))
        {
            return bad("invalid environment variable name accepted");
        }
        if p.policy.starttime.as_secs_f64() > 1e9 || p.policy.stoptime.as_secs_f64() > 1e9 {
            return bad("starttime/stoptime over the bound");
        }
    }
    Ok(())
}

/// yaml_serde errors that carry no position, which the loader passes on without
/// one: a known gap (see `known_gap_*` below), exempt from the "path or line" rule
/// so that the properties look for new problems.
const KNOWN_UNLOCATED: &[&str] = &[
    "containing more than one document",
    "repetition limit exceeded",
];

/// Every rejection is a clear error: at least one; each with a message, a place (a
/// field path or a line) and the file's name.
fn check_errors(errors: &ConfigErrors, file_name: &str) -> Result<(), String> {
    if errors.is_empty() {
        return Err("Err with no error in it".into());
    }
    for e in errors {
        if e.message.trim().is_empty() {
            return Err(format!("empty message: {e:?}"));
        }
        let known = KNOWN_UNLOCATED.iter().any(|k| e.message.contains(k));
        if e.path.is_empty() && e.line.is_none() && !known {
            return Err(format!("neither a field path nor a line: {e:?}"));
        }
        if e.line == Some(0) || e.column == Some(0) {
            return Err(format!("positions are 1-based: {e:?}"));
        }
        if !e.to_string().contains(file_name) {
            return Err(format!("Display does not name the file: {e}"));
        }
    }
    Ok(())
}

// ---- strategies: a grammar of YAML-ish documents ----------------------------------------

const TOP_KEYS: &[&str] = &["taskmaster", "programs"];
const DAEMON_KEYS: &[&str] = &["logfile", "socket", "history", "detach_key", "tail_buffer"];
const PROGRAM_KEYS: &[&str] = &[
    "cmd",
    "numprocs",
    "autostart",
    "autorestart",
    "exitcodes",
    "startretries",
    "starttime",
    "stopsignal",
    "stoptime",
    "stdout",
    "stderr",
    "env",
    "workingdir",
    "umask",
    "pty",
    "user",
];

/// Keys nobody means, or means in an unusual spelling.
const ODD_KEYS: &[&str] = &[
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

const PROGRAM_NAMES: &[&str] = &["web", "worker", "a", "b", "1", "0x10", "-dash", "é"];

const ODD_PROGRAM_NAMES: &[&str] = &[
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

const COMMANDS: &[&str] = &[
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

const SIGNALS: &[&str] = &[
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

const PATHS: &[&str] = &[
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

const DETACH_KEYS: &[&str] = &[
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

const USERS: &[&str] = &[
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

const SPECIAL_NUMBERS: &[&str] = &[
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

const BOOLS_AND_NULLS: &[&str] = &[
    "true", "false", "True", "FALSE", "yes", "no", "on", "off", "y", "n", "null", "Null", "NULL",
    "~", "",
];

const UNICODE: &[&str] = &[
    "é",
    "日本語",
    "\u{1F600}",
    "\u{202E}rtl",
    "\u{FEFF}bom",
    "ünïcödé",
    "\u{00A0}nbsp",
    "Ω≈ç√",
];

const TAGS: &[&str] = &[
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
const DQ_PIECES: &[&str] = &[
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

const SQ_PIECES: &[&str] = &["a", "''", "\"", "\\", "é", ": ", "#", " ", "\\0"];

fn strs(pool: &'static [&'static str]) -> BoxedStrategy<String> {
    select(pool).prop_map(str::to_string).boxed()
}

/// Raw text of one YAML scalar (as it is written in the file).
fn scalar() -> BoxedStrategy<String> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        (0i64..300).prop_map(|i| i.to_string()),
        (-300i64..0).prop_map(|i| i.to_string()),
        "-?[1-9][0-9]{19,60}",
        any::<f64>().prop_map(|x| format!("{x:?}")),
        strs(SPECIAL_NUMBERS),
        // Octal-looking, bare and quoted.
        "0[0-7]{1,4}",
        "0[0-9]{1,4}",
        "\"0[0-9]{1,4}\"",
        "0[oO][0-9]{0,4}",
        "'0o[0-7]{1,3}'",
        strs(BOOLS_AND_NULLS),
        prop::collection::vec(select(DQ_PIECES), 0..8).prop_map(|p| format!("\"{}\"", p.concat())),
        prop::collection::vec(select(SQ_PIECES), 0..8).prop_map(|p| format!("'{}'", p.concat())),
        "[a-zA-Z0-9_/. -]{1,20}",
        "\\PC{1,12}",
        strs(UNICODE),
        strs(TAGS),
        strs(SIGNALS),
        strs(COMMANDS),
        strs(PATHS),
    ]
    .boxed()
}

/// A YAML value before rendering.
#[derive(Debug, Clone)]
enum Y {
    /// Raw scalar text; empty means an empty value (null).
    Scalar(String),
    Map(Vec<(String, Y)>),
    Seq(Vec<Y>),
    Alias(&'static str),
    Anchored(&'static str, Box<Y>),
}

const ANCHORS: &[&str] = &["a", "b", "c"];

/// Any value: scalars, aliases, and nested maps and lists of them.
fn value() -> BoxedStrategy<Y> {
    let leaf = prop_oneof![
        30 => scalar().prop_map(Y::Scalar),
        1 => select(ANCHORS).prop_map(Y::Alias),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec((key(PROGRAM_KEYS), inner.clone()), 0..5).prop_map(Y::Map),
            prop::collection::vec(inner.clone(), 0..5).prop_map(Y::Seq),
            (select(ANCHORS), inner).prop_map(|(a, v)| Y::Anchored(a, Box::new(v))),
        ]
    })
    .boxed()
}

/// A misspelling of one of `valid`: a letter dropped, doubled, swapped or changed, or
/// the case changed.
fn misspelt(valid: &'static [&'static str]) -> BoxedStrategy<String> {
    (select(valid), any::<Index>(), 0..5u8, "[a-z_]")
        .prop_map(|(name, at, op, letter)| {
            let mut chars: Vec<char> = name.chars().collect();
            let i = at.index(chars.len());
            match op {
                0 => {
                    chars.remove(i);
                }
                1 => chars.insert(i, chars[i]),
                2 if i + 1 < chars.len() => chars.swap(i, i + 1),
                3 => chars[i] = letter.chars().next().unwrap_or('x'),
                _ => chars[i] = chars[i].to_ascii_uppercase(),
            }
            chars.into_iter().collect()
        })
        .boxed()
}

/// A key: mostly valid, sometimes misspelt, sometimes odd.
fn key(valid: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        6 => strs(valid),
        2 => misspelt(valid),
        1 => strs(ODD_KEYS),
        1 => "[a-z_]{1,10}",
    ]
    .boxed()
}

/// Plausible values for one field, the edge cases of its type included.
fn field_specific(field: &'static str) -> BoxedStrategy<Y> {
    let ints = prop_oneof![(0i64..10).prop_map(|i| i.to_string()), scalar()];
    match field {
        "cmd" => strs(COMMANDS).prop_map(Y::Scalar).boxed(),
        "numprocs" | "startretries" | "tail_buffer" => ints.prop_map(Y::Scalar).boxed(),
        "autostart" | "pty" => strs(BOOLS_AND_NULLS).prop_map(Y::Scalar).boxed(),
        "autorestart" => select(
            &[
                "always",
                "never",
                "unexpected",
                "Always",
                "NEVER",
                "true",
                "false",
                "sometimes",
                "\"\"",
            ][..],
        )
        .prop_map(|s| Y::Scalar(s.to_string()))
        .boxed(),
        "exitcodes" => prop_oneof![
            (0i64..300).prop_map(|i| Y::Scalar(i.to_string())),
            prop::collection::vec(
                prop_oneof![(-2i64..260).prop_map(|i| i.to_string()), scalar()].prop_map(Y::Scalar),
                0..5
            )
            .prop_map(Y::Seq),
        ]
        .boxed(),
        "starttime" | "stoptime" => prop_oneof![
            (0u32..100).prop_map(|i| Y::Scalar(i.to_string())),
            (0.0f64..100.0).prop_map(|x| Y::Scalar(format!("{x}"))),
            strs(SPECIAL_NUMBERS).prop_map(Y::Scalar),
        ]
        .boxed(),
        "stopsignal" => strs(SIGNALS).prop_map(Y::Scalar).boxed(),
        "stdout" | "stderr" | "workingdir" | "logfile" | "socket" | "history" => {
            strs(PATHS).prop_map(Y::Scalar).boxed()
        }
        "env" => prop::collection::vec(
            (
                prop_oneof!["[A-Z_]{1,8}", strs(ODD_KEYS)],
                prop_oneof![3 => scalar().prop_map(Y::Scalar), 1 => value()],
            ),
            0..6,
        )
        .prop_map(Y::Map)
        .boxed(),
        "umask" => prop_oneof![
            "0?[0-7]{1,3}",
            "[0-9]{1,4}",
            "\"0?[0-7]{1,4}\"",
            "0[oOxX][0-9a-f]{1,4}",
            "\"0[oO][0-9]{1,4}\"",
            strs(SPECIAL_NUMBERS),
        ]
        .prop_map(Y::Scalar)
        .boxed(),
        "user" => strs(USERS).prop_map(Y::Scalar).boxed(),
        "detach_key" => strs(DETACH_KEYS).prop_map(Y::Scalar).boxed(),
        _ => value(),
    }
}

/// Valid values only, in every spelling the spec allows: documents made of these
/// load, so the properties of a loaded config get exercised too.
fn field_good(field: &'static str) -> BoxedStrategy<Y> {
    let pick = |pool: &'static [&'static str]| strs(pool).prop_map(Y::Scalar).boxed();
    match field {
        "cmd" => pick(&[
            "sleep 1",
            "/bin/true",
            "\"sh -c 'echo $HOME'\"",
            "a\\ b 'c d'",
        ]),
        "numprocs" => (1u32..6).prop_map(|i| Y::Scalar(i.to_string())).boxed(),
        "startretries" => (0u32..6).prop_map(|i| Y::Scalar(i.to_string())).boxed(),
        "tail_buffer" => (1u32..100_000)
            .prop_map(|i| Y::Scalar(i.to_string()))
            .boxed(),
        "autostart" | "pty" => pick(&["true", "false", "True", "FALSE"]),
        "autorestart" => pick(&["always", "never", "unexpected", "Always", "true", "false"]),
        "exitcodes" => prop_oneof![
            (0u32..256).prop_map(|i| Y::Scalar(i.to_string())),
            prop::collection::vec((0u32..256).prop_map(|i| Y::Scalar(i.to_string())), 0..4)
                .prop_map(Y::Seq),
        ]
        .boxed(),
        "starttime" | "stoptime" => prop_oneof![
            (0u32..100).prop_map(|i| i.to_string()),
            (0.0f64..100.0).prop_map(|x| format!("{x}")),
            strs(&["1e9", "0.0", ".5", "0x10", "0o7"]),
        ]
        .prop_map(Y::Scalar)
        .boxed(),
        "stopsignal" => pick(&[
            "TERM",
            "SIGTERM",
            "term",
            "int",
            "SIGusr1",
            "KILL",
            "\" HUP \"",
        ]),
        "stdout" | "stderr" => pick(&[
            "/tmp/taskmaster-fuzz.out",
            "logs/x.log",
            "discard",
            "~",
            "null",
        ]),
        "workingdir" => pick(&["/tmp", ".", "..", "/"]),
        "logfile" | "socket" => pick(&["logs/x.log", "/tmp/taskmaster-fuzz.sock", "\"a b\""]),
        "history" => pick(&["~/.history", "h", "null"]),
        "detach_key" => pick(&["\"^\\\\\"", "\"^A\"", "\"^]\"", "\"^?\"", "x"]),
        "env" => prop::collection::btree_map(
            "[A-Z_]{1,8}",
            prop_oneof![
                "[a-z0-9][a-z0-9 ]{0,7}",
                any::<i64>().prop_map(|i| i.to_string()),
                strs(&["true", "1.5", "''", "é", "\"\\t\""]),
            ],
            0..4,
        )
        .prop_map(|m| Y::Map(m.into_iter().map(|(k, v)| (k, Y::Scalar(v))).collect()))
        .boxed(),
        "umask" => prop_oneof!["0?[0-7]{1,3}", "\"0?[0-7]{1,3}\"", "0o[0-7]{1,3}"]
            .prop_map(Y::Scalar)
            .boxed(),
        _ => Just(Y::Scalar("null".to_string())).boxed(),
    }
}

/// A document of valid fields and values only (no `user`: that depends on who runs
/// the tests).
fn good_document() -> BoxedStrategy<Y> {
    let fields = |keys: &'static [&'static str]| {
        prop::sample::subsequence(keys, 0..keys.len().min(6)).prop_flat_map(|keys| {
            keys.into_iter()
                .map(|k| (Just(k.to_string()), field_good(k)))
                .collect::<Vec<_>>()
        })
    };
    let program = (field_good("cmd"), fields(&PROGRAM_KEYS[1..15])).prop_map(|(cmd, mut e)| {
        e.retain(|(k, _)| k != "cmd");
        e.insert(0, ("cmd".to_string(), cmd));
        Y::Map(e)
    });
    (
        prop::option::of(fields(DAEMON_KEYS).prop_map(Y::Map)),
        prop::collection::btree_map("[a-z][a-z0-9_-]{0,8}", program, 0..4),
    )
        .prop_map(|(daemon, programs)| {
            let mut top = Vec::new();
            if let Some(d) = daemon {
                top.push(("taskmaster".to_string(), d));
            }
            let programs = programs.into_iter().collect();
            top.push(("programs".to_string(), Y::Map(programs)));
            Y::Map(top)
        })
        .boxed()
}

/// Mostly plausible values for one field, sometimes anything.
fn field_value(field: &'static str) -> BoxedStrategy<Y> {
    prop_oneof![4 => field_specific(field), 1 => value()].boxed()
}

/// A `key: value` entry of a map whose valid keys are `valid`.
fn entry(valid: &'static [&'static str]) -> BoxedStrategy<(String, Y)> {
    prop_oneof![
        12 => select(valid).prop_flat_map(|f| (Just(f.to_string()), field_value(f))),
        3 => (key(valid), value()),
        1 => (Just("<<".to_string()), select(ANCHORS).prop_map(Y::Alias)),
    ]
    .boxed()
}

/// A program's settings: usually a map (usually with a `cmd`), sometimes anything.
fn program_body() -> BoxedStrategy<Y> {
    // Valid keys only, each with a value of its own kind: these mostly load.
    let clean = (
        strs(COMMANDS),
        prop::collection::vec(
            select(&PROGRAM_KEYS[1..]).prop_flat_map(|f| (Just(f), field_specific(f))),
            0..6,
        ),
    )
        .prop_map(|(cmd, fields)| {
            let mut entries = vec![("cmd".to_string(), Y::Scalar(cmd))];
            for (field, value) in fields {
                if entries.iter().all(|(k, _)| k != field) {
                    entries.push((field.to_string(), value));
                }
            }
            Y::Map(entries)
        });
    let map = (
        prop::bool::weighted(0.7),
        strs(COMMANDS),
        prop::collection::vec(entry(PROGRAM_KEYS), 0..8),
    )
        .prop_map(|(with_cmd, cmd, mut entries)| {
            if with_cmd {
                entries.insert(0, ("cmd".to_string(), Y::Scalar(cmd)));
            }
            Y::Map(entries)
        });
    prop_oneof![
        4 => clean,
        6 => map,
        1 => value(),
        1 => (select(ANCHORS), prop::collection::vec(entry(PROGRAM_KEYS), 1..4))
            .prop_map(|(a, e)| Y::Anchored(a, Box::new(Y::Map(e)))),
    ]
    .boxed()
}

/// A whole document: `taskmaster:` and `programs:` sections, sometimes junk.
fn document() -> BoxedStrategy<Y> {
    let daemon = prop_oneof![
        4 => prop::collection::vec(entry(DAEMON_KEYS), 0..5).prop_map(Y::Map),
        1 => value(),
    ];
    let programs = prop_oneof![
        6 => prop::collection::vec(
            (
                prop_oneof![
                    6 => strs(PROGRAM_NAMES),
                    2 => "[a-z][a-z0-9_-]{0,8}",
                    1 => strs(ODD_PROGRAM_NAMES),
                ],
                program_body()
            ),
            0..5
        )
        .prop_map(Y::Map),
        1 => value(),
    ];
    let top = (
        prop::option::weighted(0.5, daemon),
        prop::option::weighted(0.9, programs),
        prop::option::weighted(0.15, (key(TOP_KEYS), value())),
    )
        .prop_map(|(daemon, programs, junk)| {
            let mut entries = Vec::new();
            if let Some(d) = daemon {
                entries.push(("taskmaster".to_string(), d));
            }
            if let Some(p) = programs {
                entries.push(("programs".to_string(), p));
            }
            if let Some(j) = junk {
                entries.push(j);
            }
            Y::Map(entries)
        });
    prop_oneof![3 => good_document(), 6 => top, 1 => value()].boxed()
}

/// `y` in flow style: `{k: v, k2: [1, 2]}`.
fn flow(y: &Y) -> String {
    match y {
        Y::Scalar(s) if s.is_empty() => "null".to_string(),
        Y::Scalar(s) => s.clone(),
        Y::Map(entries) => {
            let items: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{k}: {}", flow(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Y::Seq(items) => format!(
            "[{}]",
            items.iter().map(flow).collect::<Vec<_>>().join(", ")
        ),
        Y::Alias(a) => format!("*{a}"),
        Y::Anchored(a, v) => format!("&{a} {}", flow(v)),
    }
}

/// `y` in block style at `indent` (maps and lists on their own lines, list items and
/// anything deeper inside them in flow style).
fn block(y: &Y, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match y {
        Y::Map(entries) if !entries.is_empty() => {
            for (k, v) in entries {
                out.push_str(&format!("{pad}{k}:"));
                block_value(v, indent, out);
            }
        }
        Y::Seq(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&format!("{pad}- {}\n", flow(item)));
            }
        }
        other => out.push_str(&format!("{pad}{}\n", flow(other))),
    }
}

/// The value after `key:` in block style.
fn block_value(v: &Y, indent: usize, out: &mut String) {
    match v {
        Y::Map(e) if !e.is_empty() => {
            out.push('\n');
            block(v, indent + 2, out);
        }
        Y::Seq(e) if !e.is_empty() => {
            out.push('\n');
            block(v, indent + 2, out);
        }
        Y::Anchored(a, inner) if matches!(**inner, Y::Map(ref e) if !e.is_empty()) => {
            out.push_str(&format!(" &{a}\n"));
            block(inner, indent + 2, out);
        }
        Y::Scalar(s) if s.is_empty() => out.push('\n'),
        other => out.push_str(&format!(" {}\n", flow(other))),
    }
}

/// A rendered document, block or flow, with the odd directive, comment or extra
/// document around it.
fn document_text() -> BoxedStrategy<String> {
    (
        document(),
        prop::bool::weighted(0.8),
        select(
            &[
                "",
                "",
                "",
                "# comment\n",
                "%YAML 1.2\n---\n",
                "---\n",
                "\u{FEFF}",
            ][..],
        ),
        select(
            &[
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "...\n",
                "---\nsecond: document\n",
                "# end\n",
            ][..],
        ),
    )
        .prop_map(|(doc, block_style, head, tail)| {
            let mut out = head.to_string();
            if block_style {
                block(&doc, 0, &mut out);
            } else {
                out.push_str(&flow(&doc));
                out.push('\n');
            }
            out.push_str(tail);
            out
        })
        .boxed()
}

/// Raw text: arbitrary Unicode, printable ASCII, and strings of YAML's own tokens.
fn arbitrary_text() -> BoxedStrategy<String> {
    const TOKENS: &[&str] = &[
        ":",
        ": ",
        "-",
        "- ",
        " ",
        "  ",
        "\n",
        "\t",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a ",
        "*a",
        "!",
        "!!",
        "|",
        ">",
        "'",
        "\"",
        "#",
        "%",
        "@",
        "`",
        "?",
        "---",
        "...",
        "<<: ",
        "programs",
        "taskmaster",
        "cmd",
        "x",
        "1",
        "\\",
        "\r",
        "\0",
        "é",
        "\u{FEFF}",
    ];
    prop_oneof![
        any::<String>(),
        "[ -~\n\t]{0,200}",
        prop::collection::vec(select(TOKENS), 0..80).prop_map(|t| t.concat()),
        // The start of a valid config, then garbage.
        ("[ -~\n]{0,80}").prop_map(|g| format!("programs:\n  web:\n    cmd: sleep 1\n{g}")),
    ]
    .boxed()
}

/// One edit of a seed's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Truncate(Index),
    DuplicateLine(Index),
    DeleteLine(Index),
    SwapLines(Index, Index),
    Insert(Index, &'static str),
    /// A range of another seed pasted in.
    Splice(Index, Index, Index, Index),
}

const INTERESTING_BYTES: &[u8] = b":-[]{}&*!|>'\"# \t\n\r\\0\x00\x7f\xff~%@,?";
const INSERTS: &[&str] = &[
    ": ",
    "- ",
    "\n",
    "  ",
    "\t",
    "&a ",
    "*a",
    "*nope",
    "<<: *a\n",
    "!!str ",
    "!tag ",
    "\"",
    "'",
    "[",
    "{",
    "#",
    "---\n",
    "?",
    "\0",
    "é",
    "99999999999999999999999999999999999999999",
    "-1",
    "0o777",
    "1e400",
    ".nan",
    "null",
    "~",
    "cmd: x\n",
    "numprocs: 0\n",
];

fn mutation() -> BoxedStrategy<Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), select(INTERESTING_BYTES)).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        any::<Index>().prop_map(Mutation::DuplicateLine),
        any::<Index>().prop_map(Mutation::DeleteLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<Index>(), select(INSERTS)).prop_map(|(i, s)| Mutation::Insert(i, s)),
        any::<(Index, Index, Index, Index)>()
            .prop_map(|(s, a, b, at)| Mutation::Splice(s, a, b, at)),
    ]
    .boxed()
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let lines = |b: &Vec<u8>| -> Vec<Vec<u8>> {
        b.split_inclusive(|c| *c == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    };
    match m {
        Mutation::FlipBit(i, bit) if !bytes.is_empty() => {
            let i = i.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        Mutation::SetByte(i, b) if !bytes.is_empty() => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        Mutation::Truncate(i) if !bytes.is_empty() => bytes.truncate(i.index(bytes.len())),
        Mutation::DuplicateLine(i) | Mutation::DeleteLine(i) => {
            let mut l = lines(bytes);
            if l.is_empty() {
                return;
            }
            let at = i.index(l.len());
            if matches!(m, Mutation::DuplicateLine(_)) {
                let line = l[at].clone();
                l.insert(at, line);
            } else {
                l.remove(at);
            }
            *bytes = l.concat();
        }
        Mutation::SwapLines(a, b) => {
            let mut l = lines(bytes);
            if l.is_empty() {
                return;
            }
            let (a, b) = (a.index(l.len()), b.index(l.len()));
            l.swap(a, b);
            *bytes = l.concat();
        }
        Mutation::Insert(i, s) => {
            let at = i.index(bytes.len() + 1);
            bytes.splice(at..at, s.bytes());
        }
        Mutation::Splice(s, a, b, at) => {
            let other = seeds()[s.index(seeds().len())].1.as_bytes();
            if other.is_empty() {
                return;
            }
            let (a, b) = (a.index(other.len()), b.index(other.len()));
            let (a, b) = (a.min(b), a.max(b));
            let at = at.index(bytes.len() + 1);
            bytes.splice(at..at, other[a..b].iter().copied());
        }
        _ => {}
    }
}

/// A seed with 1 to 5 mutations applied, as text (invalid UTF-8 made lossy: the
/// loader takes `&str`).
fn mutated_seed() -> BoxedStrategy<String> {
    (any::<Index>(), prop::collection::vec(mutation(), 1..6))
        .prop_map(|(seed, edits)| {
            let seeds = seeds();
            let mut bytes = seeds[seed.index(seeds.len())].1.clone().into_bytes();
            for m in &edits {
                apply(&mut bytes, m);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .boxed()
}

proptest! {
    #![proptest_config(proptest_config(256))]

    #[test]
    fn config_arbitrary_text(text in arbitrary_text()) {
        check_config_text(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn config_grammar_documents(text in document_text()) {
        check_config_text(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn config_seed_mutations(text in mutated_seed()) {
        check_config_text(&text).map_err(TestCaseError::fail)?;
    }
}

/// The grammar is worth its keep only if it reaches both outcomes.
#[test]
fn config_grammar_reaches_valid_and_invalid_configs() {
    let mut runner = TestRunner::new(proptest_config(256));
    let (ok, err) = (AtomicUsize::new(0), AtomicUsize::new(0));
    runner
        .run(&document_text(), |text| {
            let file = seeds_dir().join(FUZZ_FILE);
            match parse_bounded(&text, &file).map_err(TestCaseError::fail)? {
                Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                Err(_) => err.fetch_add(1, Ordering::Relaxed),
            };
            Ok(())
        })
        .unwrap();
    let (ok, err) = (ok.into_inner(), err.into_inner());
    eprintln!("grammar documents: {ok} loaded, {err} rejected");
    assert!(ok > 0 && err > 0, "{ok} loaded, {err} rejected");
}

// ---- the seeds ---------------------------------------------------------------------------

/// What some `bad-*` seeds must say (each fragment in at least one error).
const SEED_EXPECTATIONS: &[(&str, &[&str])] = &[
    ("bad-syntax.yaml", &["YAML syntax error"]),
    (
        "bad-unknown-field.yaml",
        &[
            "did you mean `autorestart`",
            "did you mean `numprocs`",
            "did you mean `logfile`",
            "color",
        ],
    ),
    (
        "bad-types.yaml",
        &[
            "programs.web.numprocs",
            "programs.web.autostart",
            "programs.web.autorestart",
            "programs.web.exitcodes[1]",
            "programs.web.exitcodes[2]",
            "programs.web.startretries",
            "programs.web.starttime",
            "programs.web.stopsignal",
            "programs.web.stoptime",
            "programs.web.umask",
            "programs.web.pty",
            "programs.web.env",
        ],
    ),
    (
        "bad-duplicates.yaml",
        &[
            "duplicate program name `web`",
            "duplicate environment variable `A`",
        ],
    ),
    (
        "bad-cmd.yaml",
        &[
            "missing required field `cmd`",
            "programs.empty.cmd",
            "programs.unbalanced.cmd",
            "programs.nul.cmd",
            "programs.number.cmd",
        ],
    ),
    (
        "bad-names.yaml",
        &[
            "`all` cannot be a program name",
            "\"a:b\"",
            "\"with space\"",
            "\"A=B\"",
        ],
    ),
    (
        "bad-paths.yaml",
        &[
            "taskmaster.logfile",
            "taskmaster.socket",
            "programs.web.workingdir",
            "programs.web.stdout",
            "programs.web.stderr",
            "programs.web.user",
        ],
    ),
    ("bad-structure.yaml", &["expected a mapping"]),
    ("bad-alias.yaml", &["YAML syntax error"]),
];

#[test]
fn seeds_behave_as_their_names_say() {
    let seeds = seeds();
    assert!(
        (8..=15).contains(&seeds.len()),
        "{} seeds in tests/fuzz-seeds",
        seeds.len()
    );
    let subject = std::fs::read_to_string(seeds_dir().join("ok-subject.yaml")).unwrap();
    if let Ok(original) = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/examples/subject.yaml"),
    ) {
        assert_eq!(
            subject, original,
            "ok-subject.yaml is the subject's example as is"
        );
    }
    for (name, text) in seeds {
        let file = seeds_dir().join(name);
        let result = parse_bounded(text, &file).unwrap_or_else(|e| panic!("{name}: {e}"));
        if name.starts_with("ok-") {
            let config = result.unwrap_or_else(|e| panic!("{name} should load:\n{e}"));
            check_config(&config, &file).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else if name.starts_with("bad-") {
            let errors = match result {
                Ok(_) => panic!("{name} should be rejected"),
                Err(errors) => errors,
            };
            check_errors(&errors, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            let text = errors.to_string();
            let expected = SEED_EXPECTATIONS
                .iter()
                .find(|(n, _)| n == name)
                .map_or(&[][..], |(_, e)| e);
            for fragment in expected {
                assert!(
                    text.contains(fragment),
                    "{name}: no error mentions {fragment:?}:\n{text}"
                );
            }
        } else {
            panic!("seed {name}: its name must start with ok- or bad-");
        }
    }
    // The subject's example loads exactly as written.
    let config = parse(&subject, &seeds_dir().join("ok-subject.yaml")).unwrap();
    assert_eq!(config.programs["ngnix"].launch.umask, Some(0o022));
    assert_eq!(config.programs["vogsphere"].numprocs, 8);
    assert_eq!(config.programs["vogsphere"].launch.umask, Some(0o077));
}

// ---- targeted loader cases ---------------------------------------------------------------

/// Alias expansion ("billion laughs") is bounded: an error or a result, quickly.
fn alias_bomb() -> String {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    text.push_str("programs:\n  web:\n    cmd: sleep 1\n    env: {X: *a9}\n");
    text
}

#[test]
fn config_alias_bomb_is_bounded() {
    let text = alias_bomb();
    let start = Instant::now();
    let result = parse_bounded(&text, &seeds_dir().join(FUZZ_FILE)).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let errors = result.expect_err("an alias bomb is not a config");
    for e in &errors {
        assert!(
            !e.message.is_empty() && e.to_string().contains(FUZZ_FILE),
            "{e}"
        );
    }
}

/// A file full of errors is reported in bounded time (positions are looked up by
/// re-reading the text once per error, so this is the loader's worst case).
#[test]
fn config_thousands_of_errors_are_bounded() {
    let mut text = String::from("programs:\n");
    for i in 0..2000 {
        text.push_str(&format!(
            "  p{i}:\n    cmd: sleep 1\n    numprocs: zero\n    autorestrat: always\n"
        ));
    }
    let start = Instant::now();
    let errors = parse_bounded(&text, &seeds_dir().join(FUZZ_FILE))
        .unwrap()
        .expect_err("every program is wrong");
    let took = start.elapsed();
    assert_eq!(errors.len(), 4000);
    check_errors(&errors, FUZZ_FILE).unwrap();
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

/// Nesting up to YAML's recursion limit and past it: an error, never a crash, on the
/// main thread's stack.
#[test]
fn config_deep_nesting() {
    for depth in [10, 50, 100, 126, 127, 128, 129, 200, 10_000] {
        for (open, close) in [("[", "]"), ("{a: ", "}")] {
            let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            let text = format!("programs:\n  web:\n    cmd: sleep 1\n    env: {{X: {nested}}}\n");
            check_config_text(&text).unwrap_or_else(|e| panic!("depth {depth}: {e}"));
        }
    }
}

// ---- the control socket ------------------------------------------------------------------

const SOCKET_YAML: &str = "
programs:
  sleeper:
    cmd: TESTPROG sleep
    starttime: 0
  pool:
    cmd: TESTPROG print hello-out hello-err
    numprocs: 2
    starttime: 0
  idle:
    cmd: TESTPROG sleep
    autostart: false
";

/// Same bound as the server's.
const MAX_REQUEST: usize = 64 * 1024;

/// Commands that change state or turn the connection into a stream: never sent.
const FORBIDDEN: &[&str] = &[
    "shutdown", "quit", "exit", "reload", "stop", "restart", "signal", "start", "attach", "fg",
];

/// Read-only commands, and near misses of the others (unknown to the daemon).
const SAFE_COMMANDS: &[&str] = &[
    "status",
    "pid",
    "tail",
    "version",
    "help",
    "STOP",
    "Status",
    "stop ",
    " status",
    "",
    "status\u{0}",
    "stat",
    "shutdown!",
    "ştatus",
    "help\n",
];

const ARGS: &[&str] = &[
    "sleeper",
    "pool",
    "pool:0",
    "pool:1",
    "pool:2",
    "pool:9",
    "pool:*",
    "pool:",
    ":",
    ":0",
    "all",
    "idle",
    "nosuch",
    "",
    " ",
    "--json",
    "--JSON",
    "-n",
    "-5",
    "-n3",
    "-nx",
    "-n-1",
    "-0",
    "-99999999999999999999999",
    "stdout",
    "stderr",
    "stdin",
    "-x",
    "--",
    "-",
    "é",
    "\u{0}",
    "\n",
    "shutdown",
    "stop",
    "help",
    "18446744073709551616",
];

/// Requests that succeed (`status` also gets random names of existing instances).
const GOOD_REQUESTS: &[&[&str]] = &[
    &["status"],
    &["pid"],
    &["pid", "sleeper", "pool"],
    &["tail", "pool:0"],
    &["tail", "-n", "1", "pool:1", "stderr"],
    &["tail", "-5", "sleeper"],
    &["version"],
    &["help"],
    &["help", "stop"],
];

/// The server's request type, to know what it will make of a line.
#[derive(Deserialize)]
struct Request {
    command: String,
    #[serde(default)]
    args: Vec<String>,
}

/// What the server makes of a line (`None`: malformed), exactly as it decides.
fn as_request(line: &[u8]) -> Option<Request> {
    match line.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(line).ok(),
        _ => None,
    }
}

/// A line is safe to send unless the server would run a command that changes state
/// or streams.
fn safe(line: &[u8]) -> bool {
    match as_request(line) {
        None => true,
        Some(r) => {
            let follows = r.command == "tail" && r.args.iter().any(|a| a == "-f");
            !FORBIDDEN.contains(&r.command.as_str()) && !follows
        }
    }
}

fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        strs(ARGS).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("command".to_string()),
                    Just("args".to_string()),
                    any::<String>()
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// One request line, without its newline.
fn request_line() -> BoxedStrategy<Vec<u8>> {
    let command = prop_oneof![4 => strs(SAFE_COMMANDS), 1 => "[a-z]{1,10}", 1 => any::<String>()];
    let arg = prop_oneof![4 => strs(ARGS), 1 => any::<String>(), 1 => "[a-z:*0-9-]{0,12}"];
    let obj = |v: Value| serde_json::to_vec(&v).unwrap();
    prop_oneof![
        // Random bytes (no newline).
        2 => prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..300),
        // Random JSON.
        2 => json_value().prop_map(obj),
        // An object of the right shape with the wrong types.
        2 => (json_value(), json_value(), any::<bool>()).prop_map(move |(c, a, with_args)| {
            let mut m = serde_json::Map::new();
            m.insert("command".into(), c);
            if with_args {
                m.insert("args".into(), a);
            }
            obj(Value::Object(m))
        }),
        // Read-only and unknown commands with random arguments.
        6 => (command.clone(), prop::collection::vec(arg.clone(), 0..6)).prop_map(move |(c, a)| {
            obj(serde_json::json!({"command": c, "args": a}))
        }),
        // Read-only commands that succeed, with their arguments in random order.
        2 => (
            select(GOOD_REQUESTS),
            prop::sample::subsequence(&["sleeper", "pool", "pool:0", "all", "--json"][..], 0..5)
        )
            .prop_map(move |(good, names)| {
                let (command, mut args) = match good.split_first() {
                    Some((c, a)) => (*c, a.to_vec()),
                    None => ("status", Vec::new()),
                };
                if command == "status" {
                    args.extend(names);
                }
                obj(serde_json::json!({"command": command, "args": args}))
            }),
        // Huge argument arrays.
        1 => (strs(&["status", "pid", "help", "tail", "nosuch"]), arg, 100usize..6000)
            .prop_map(move |(c, a, n)| obj(serde_json::json!({"command": c, "args": vec![a; n]}))),
        // Very long strings, on both sides of the 64 KiB bound.
        1 => (strs(&["status", "pid", "tail", "x"]), 0usize..70_000, any::<bool>())
            .prop_map(move |(c, n, in_command)| {
                let long = "x".repeat(n);
                if in_command {
                    obj(serde_json::json!({"command": long}))
                } else {
                    obj(serde_json::json!({"command": c, "args": [long]}))
                }
            }),
        1 => (MAX_REQUEST - 40..MAX_REQUEST + 40).prop_map(|n| {
            let mut line = br#"{"command": "status", "args": [""#.to_vec();
            line.resize(n.max(line.len() + 3) - 3, b'a');
            line.extend_from_slice(br#""]}"#);
            line
        }),
        1 => (MAX_REQUEST - 4..MAX_REQUEST + 6000, any::<u8>())
            .prop_map(|(n, b)| vec![if b == b'\n' { b'.' } else { b }; n]),
        // Whitespace only: no reply at all.
        1 => "[ \t\r]{0,5}".prop_map(String::into_bytes),
    ]
    .prop_filter("state-changing or streaming command", |line| safe(line))
    .boxed()
}

/// Reads until the daemon closes the connection; a reset after a reply counts as a
/// close (the daemon drops an oversized request's unread rest).
fn read_all(stream: &mut UnixStream) -> Result<Vec<u8>, String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !got.is_empty() => return Ok(got),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading the reply: {e} (so far {got:?})")),
        }
    }
}

/// Sends one line on a fresh connection and checks the reply; returns what kind of
/// request it was.
fn check_request(socket: &Path, line: &[u8]) -> Result<&'static str, String> {
    let shown = String::from_utf8_lossy(&line[..line.len().min(300)]).into_owned();
    let shown = format!("request {shown:?} ({} bytes)", line.len());
    let too_long = line.len() > MAX_REQUEST;
    let blank = line.iter().all(u8::is_ascii_whitespace);
    let malformed = as_request(line).is_none();

    let mut stream = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(20))))
        .map_err(|e| e.to_string())?;
    let mut data = line.to_vec();
    data.push(b'\n');
    let sent = stream.write_all(&data);
    if let Err(e) = &sent {
        // Only an oversized request may be cut short: the daemon stops reading it.
        if !too_long {
            return Err(format!("{shown}: send failed: {e}"));
        }
    }
    // Half-close: the daemon sees the end of the requests and closes after replying.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let got = read_all(&mut stream).map_err(|e| format!("{shown}: {e}"))?;
    if blank && !too_long {
        return if got.is_empty() {
            Ok("blank")
        } else {
            Err(format!("{shown}: a blank line got a reply: {got:?}"))
        };
    }
    let text = String::from_utf8(got).map_err(|e| format!("{shown}: reply not UTF-8: {e}"))?;
    let Some(reply) = text.strip_suffix('\n') else {
        return Err(format!(
            "{shown}: no full reply line before close: {text:?}"
        ));
    };
    if reply.contains('\n') {
        return Err(format!("{shown}: more than one line came back: {text:?}"));
    }
    let v: Value = serde_json::from_str(reply)
        .map_err(|e| format!("{shown}: reply not JSON ({e}): {reply:?}"))?;
    let (Some(ok), Some(exit), Some(output)) =
        (v["ok"].as_bool(), v["exit"].as_i64(), v["output"].as_str())
    else {
        return Err(format!("{shown}: reply lacks ok/exit/output: {v}"));
    };
    if ok != (exit == 0) || !(0..=2).contains(&exit) {
        return Err(format!("{shown}: inconsistent ok/exit: {v}"));
    }
    if v.get("stream").is_some() {
        return Err(format!("{shown}: a stream was started: {v}"));
    }
    if too_long {
        if exit != 2 || !output.contains("too long") {
            return Err(format!("{shown}: oversized request not refused: {v}"));
        }
    } else if malformed && (exit != 2 || !output.contains("malformed request")) {
        return Err(format!(
            "{shown}: malformed request not refused with exit 2: {v}"
        ));
    }
    Ok(match (too_long, malformed, exit) {
        (true, _, _) => "oversized",
        (_, true, _) => "malformed",
        (_, _, 0) => "ok",
        (_, _, 1) => "error",
        _ => "usage",
    })
}

/// `status --json` over the socket: instance name → (state, pid).
fn snapshot(socket: &Path) -> Option<BTreeMap<String, (String, Option<i64>)>> {
    let mut stream = UnixStream::connect(socket).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    stream
        .write_all(b"{\"command\": \"status\", \"args\": [\"--json\"]}\n")
        .ok()?;
    stream.shutdown(std::net::Shutdown::Write).ok()?;
    let got = read_all(&mut stream).ok()?;
    let v: Value = serde_json::from_slice(&got).ok()?;
    let items = v["data"].as_array()?;
    Some(
        items
            .iter()
            .map(|i| {
                let name = i["name"].as_str().unwrap_or_default().to_string();
                let state = i["state"].as_str().unwrap_or_default().to_string();
                (name, (state, i["pid"].as_i64()))
            })
            .collect(),
    )
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn socket_requests_never_disturb_the_daemon() {
    let mut d = Daemon::start("fuzz-socket", SOCKET_YAML);
    let sock = d.socket();
    let before = wait_for("the programs RUNNING", Duration::from_secs(20), || {
        let s = snapshot(&sock)?;
        let running = ["sleeper", "pool:0", "pool:1"]
            .iter()
            .all(|n| s.get(*n).is_some_and(|(state, _)| state == "RUNNING"));
        running.then_some(s)
    });
    let fds_before = open_fds(d.pid());

    let start = Instant::now();
    let kinds = std::sync::Mutex::new(BTreeMap::<&str, usize>::new());
    let mut runner = TestRunner::new(proptest_config(200));
    let result = runner.run(&request_line(), |line| {
        let kind = check_request(&sock, &line).map_err(TestCaseError::fail)?;
        *kinds.lock().unwrap().entry(kind).or_default() += 1;
        Ok(())
    });
    eprintln!(
        "socket fuzz: {:?} requests in {:?}",
        kinds.lock().unwrap(),
        start.elapsed()
    );
    if let Err(e) = result {
        panic!("{e}");
    }

    assert!(alive(d.pid()), "the daemon died");
    let after = snapshot(&sock).expect("status --json still answers");
    assert_eq!(before, after, "states or pids changed");
    // Every connection was closed: the daemon holds no more descriptors than before.
    wait_for(
        "connection descriptors released",
        Duration::from_secs(10),
        || (open_fds(d.pid()) <= fds_before).then_some(()),
    );
    d.finish(Duration::from_secs(20));
}

// ---- regressions found by fuzzing (known bugs: ignored until fixed) ------------------

const IDLE_YAML: &str = "
programs:
  sleeper:
    cmd: TESTPROG sleep
    autostart: false
";

/// A config nested `depth` flow mappings deep (inside an `env` value), valid YAML that
/// the loader rejects with a clear error.
fn deeply_nested_config(depth: usize) -> String {
    format!(
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    autostart: false\n    env: {{X: {}1{}}}\n",
        "{a: ".repeat(depth),
        "}".repeat(depth)
    )
}

/// BUG: a reload of a deeply nested config overflows the stack of the thread that
/// reloads, and the whole daemon dies (SIGABRT, "has overflowed its stack").
///
/// The first load runs on the main thread (8 MiB) and rejects this file cleanly
/// (`config_deep_nesting`). But reloads run `config::load` on small stacks: SIGHUP on
/// the "reload" thread (`src/daemon.rs` `spawn_thread`, `sys::THREAD_STACK` = 128 KiB),
/// the stdin `reload` on the "stdin" thread (128 KiB), the socket's `reload` on a
/// connection thread (`CONNECTION_STACK` = 256 KiB, `src/control/server.rs`). The
/// loader recurses once per nesting level in `config/tree.rs` (`NodeSeed`, through
/// yaml_serde's deserializer, whose own limit is 128 levels) and again in
/// `config/locate.rs` (`Seek`). Measured: 128 KiB overflows from ~25 levels in a debug
/// build and ~105 flow mappings in a release build; yaml_serde accepts up to 128.
#[test]
fn deep_nesting_reload_on_sighup_keeps_the_daemon_alive() {
    // Nothing autostarts: a dying daemon would leave its children behind.
    let mut d = Daemon::start("fuzz-deep-reload", IDLE_YAML);
    let sock = d.socket();
    wait_for("the socket", Duration::from_secs(20), || snapshot(&sock));
    let text = deeply_nested_config(120).replace("TESTPROG", TESTPROG);
    std::fs::write(&d.config, text).unwrap();
    d.signal(1); // SIGHUP
    let outcome = wait_for(
        "the reload to fail or the daemon to die",
        secs(20.0),
        || {
            if !alive(d.pid()) {
                Some("the daemon died")
            } else if d.log().contains("reload failed") {
                Some("reload failed cleanly")
            } else {
                None
            }
        },
    );
    assert_eq!(outcome, "reload failed cleanly");
    assert!(snapshot(&sock).is_some(), "status still answers");
    d.finish(Duration::from_secs(20));
}

/// GAP: some YAML errors reach the user with neither a line nor a field path, only
/// `FILE: YAML syntax error: ...`. yaml_serde attaches no position to
/// `MoreThanOneDocument` and `RepetitionLimitExceeded`, and `syntax_error` in
/// `src/config/load.rs` passes the missing position on. The second input shows why it
/// matters: the user wrote no second document, a stray line after a comment made one,
/// and nothing says which line. (Exempted from the properties via `KNOWN_UNLOCATED`.)
#[test]
#[ignore = "known gap: YAML errors without a position are reported without a line"]
fn known_gap_yaml_errors_without_a_position() {
    for text in [
        "programs: {}\n---\nprograms: {}\n".to_string(),
        "0 \t#\na".to_string(),
        "&c &c y\n".to_string(),
        alias_bomb(),
    ] {
        let errors = parse(&text, &seeds_dir().join(FUZZ_FILE)).expect_err("invalid");
        for e in &errors {
            assert!(
                e.line.is_some() || !e.path.is_empty(),
                "no line, no path for {text:?}: {e}"
            );
        }
    }
}
