//! Strategies for whole documents, rendered in block or flow style, and for raw text.

use proptest::prelude::*;
use proptest::sample::select;

use super::grammar::*;
use super::pools::*;

/// A document of valid fields and values only (no `user`: that depends on who runs
/// the tests).
pub fn good_document() -> BoxedStrategy<Y> {
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
pub fn field_value(field: &'static str) -> BoxedStrategy<Y> {
    prop_oneof![4 => field_specific(field), 1 => value()].boxed()
}

/// A `key: value` entry of a map whose valid keys are `valid`.
pub fn entry(valid: &'static [&'static str]) -> BoxedStrategy<(String, Y)> {
    prop_oneof![
        12 => select(valid).prop_flat_map(|f| (Just(f.to_string()), field_value(f))),
        3 => (key(valid), value()),
        1 => (Just("<<".to_string()), select(ANCHORS).prop_map(Y::Alias)),
    ]
    .boxed()
}

/// A program's settings: usually a map (usually with a `cmd`), sometimes anything.
pub fn program_body() -> BoxedStrategy<Y> {
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
pub fn document() -> BoxedStrategy<Y> {
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
pub fn flow(y: &Y) -> String {
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
pub fn block(y: &Y, indent: usize, out: &mut String) {
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
pub fn block_value(v: &Y, indent: usize, out: &mut String) {
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
pub fn document_text() -> BoxedStrategy<String> {
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
pub fn arbitrary_text() -> BoxedStrategy<String> {
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
