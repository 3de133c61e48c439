//! Strategies for YAML values: scalars, nested values, keys, and the values of each
//! field (anything plausible, or valid only).

use proptest::prelude::*;
use proptest::sample::{select, Index};

use super::pools::*;

pub fn strs(pool: &'static [&'static str]) -> BoxedStrategy<String> {
    select(pool).prop_map(str::to_string).boxed()
}

/// Raw text of one YAML scalar (as it is written in the file).
pub fn scalar() -> BoxedStrategy<String> {
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
pub enum Y {
    /// Raw scalar text; empty means an empty value (null).
    Scalar(String),
    Map(Vec<(String, Y)>),
    Seq(Vec<Y>),
    Alias(&'static str),
    Anchored(&'static str, Box<Y>),
}

pub const ANCHORS: &[&str] = &["a", "b", "c"];

/// Any value: scalars, aliases, and nested maps and lists of them.
pub fn value() -> BoxedStrategy<Y> {
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
pub fn misspelt(valid: &'static [&'static str]) -> BoxedStrategy<String> {
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
pub fn key(valid: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        6 => strs(valid),
        2 => misspelt(valid),
        1 => strs(ODD_KEYS),
        1 => "[a-z_]{1,10}",
    ]
    .boxed()
}

/// Plausible values for one field, the edge cases of its type included.
pub fn field_specific(field: &'static str) -> BoxedStrategy<Y> {
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
pub fn field_good(field: &'static str) -> BoxedStrategy<Y> {
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
