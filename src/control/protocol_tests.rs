//! The README's "Socket protocol" section is the project's statement of the
//! protocol: these tests hold it to the types in `protocol.rs`. Every example
//! must decode with them, every field they have must be named there, and no
//! message may name a field they lack.

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;

const README: &str = include_str!("../../README.md");

/// The text under `heading`, up to the next heading.
fn section(heading: &str) -> &'static str {
    let start = README
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    let body = &README[start + heading.len() + 2..];
    let end = body.find("\n#").unwrap_or(body.len());
    &body[..end]
}

fn protocol() -> &'static str {
    section("### Socket protocol")
}

/// The keys of `value` (an object) once serialized.
fn keys(value: &impl serde::Serialize) -> BTreeSet<String> {
    match serde_json::to_value(value).unwrap() {
        Value::Object(map) => map.keys().cloned().collect(),
        other => panic!("not an object: {other}"),
    }
}

/// Every field each type has (optional ones set).
fn request_fields() -> BTreeSet<String> {
    keys(&Request::new("status", &[]))
}

fn response_fields() -> BTreeSet<String> {
    keys(&Response {
        data: raw_data(&Value::Null),
        exit: 0,
        ok: true,
        output: String::new(),
        stream: true,
    })
}

fn attach_fields() -> BTreeSet<String> {
    keys(&AttachInfo::from_data(None))
}

/// `top`'s snapshot: its own keys, the daemon's and an instance's.
fn top_fields() -> BTreeSet<String> {
    let daemon = TopDaemon {
        pid: 1,
        uptime_s: 0.0,
        cpu_seconds: Some(0.0),
        memory_bytes: Some(0),
    };
    let instance = TopInstance {
        name: String::new(),
        state: String::new(),
        pid: Some(1),
        uptime_s: Some(0.0),
        cpu_percent: Some(0.0),
        memory_bytes: Some(0),
        restarts: 0,
        health: None,
        last_line: String::new(),
    };
    let snapshot = TopSnapshot {
        daemon: daemon.clone(),
        instances: Vec::new(),
    };
    [keys(&snapshot), keys(&daemon), keys(&instance)]
        .into_iter()
        .flatten()
        .collect()
}

/// The top-level keys of a JSON object.
fn object_keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

/// The section's exchanges: (request, reply) from its `$ echo '…' | socat` lines
/// and the reply line after each, with `,...` cuts taken out.
fn examples() -> Vec<(Value, Value)> {
    let text = protocol();
    let uncut = |s: &str| s.replace(",...", "");
    let mut pairs = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("$ echo '") else {
            continue;
        };
        let request = &rest[..rest.find('\'').expect("closing quote")];
        let reply = lines.next().expect("a reply line after the request");
        let parse = |s: &str| -> Value {
            serde_json::from_str(&uncut(s)).unwrap_or_else(|e| panic!("{s}: {e}"))
        };
        pairs.push((parse(request), parse(reply)));
    }
    pairs
}

#[test]
fn the_readme_examples_are_requests_and_responses() {
    let pairs = examples();
    assert!(pairs.len() >= 2, "the README shows exchanges: {pairs:?}");
    for (request, reply) in pairs {
        let typed: Request = serde_json::from_value(request.clone()).unwrap();
        assert!(
            object_keys(&request).is_subset(&request_fields()),
            "{request}"
        );
        let decoded: Response = serde_json::from_value(reply.clone()).unwrap();
        assert!(object_keys(&reply).is_subset(&response_fields()), "{reply}");
        // What the daemon writes: `ok` is `exit == 0`, and nothing is lost.
        assert_eq!(decoded.ok, decoded.exit == 0, "{reply}");
        let written: Value = serde_json::from_str(&decoded.line()).unwrap();
        assert_eq!(written, reply);
        if typed.command == "attach" {
            let data = reply.get("data").expect("attach has data");
            assert!(object_keys(data).is_subset(&attach_fields()), "{data}");
            let info: AttachInfo = serde_json::from_value(data.clone()).unwrap();
            assert_eq!(serde_json::to_value(&info).unwrap(), *data);
            assert!(decoded.stream, "attach streams: {reply}");
        }
    }
}

#[test]
fn every_field_is_named_in_the_readme() {
    let text = protocol();
    let all = [
        request_fields(),
        response_fields(),
        attach_fields(),
        top_fields(),
    ];
    for field in all.iter().flatten() {
        assert!(
            text.contains(&format!("\"{field}\"")),
            "the README's Socket protocol section does not name \"{field}\""
        );
    }
}

#[test]
fn the_readme_names_no_field_the_types_lack() {
    let known: BTreeSet<String> = [
        request_fields(),
        response_fields(),
        attach_fields(),
        top_fields(),
    ]
    .into_iter()
    .flatten()
    .collect();
    // The message shapes written inline: `{"name": …, …}`.
    for span in protocol().split('`').skip(1).step_by(2) {
        if !span.starts_with("{\"") {
            continue;
        }
        for piece in span.split('"').skip(1).step_by(2) {
            let after = &span[span.find(&format!("\"{piece}\"")).unwrap() + piece.len() + 2..];
            if after.trim_start().starts_with(':') {
                assert!(known.contains(piece), "{span}: no field {piece:?}");
            }
        }
    }
}

#[test]
fn the_readme_states_the_limits_and_frames() {
    assert!(protocol().contains(&format!("over {} KiB", MAX_REQUEST / 1024)));
    let attach = section("## Attach");
    for (frame, what) in [
        (FRAME_INPUT, " LEN"),
        (FRAME_WINSIZE, " ROWS"),
        (FRAME_INTERRUPT, "` to interrupt"),
        (FRAME_CLOSE_STDIN, "` to close"),
    ] {
        let named = format!("`0x{frame:02x}{what}");
        assert!(attach.contains(&named), "Attach does not say {named:?}");
    }
}
