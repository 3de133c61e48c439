//! The control socket's fuzzing: request lines of every kind, and the check of one
//! request's reply.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::select;
use serde::Deserialize;
use serde_json::Value;

use super::grammar::strs;

pub const SOCKET_YAML: &str = "
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
pub const MAX_REQUEST: usize = 64 * 1024;

/// Commands that change state or turn the connection into a stream: never sent.
pub const FORBIDDEN: &[&str] = &[
    "shutdown", "quit", "exit", "reload", "stop", "restart", "signal", "start", "attach", "fg",
    "update", "add", "remove", "clear", "notices",
];

/// Read-only commands, and near misses of the others (unknown to the daemon).
pub const SAFE_COMMANDS: &[&str] = &[
    "status",
    "pid",
    "tail",
    "version",
    "help",
    "reread",
    "avail",
    "maintail",
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

pub const ARGS: &[&str] = &[
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
pub const GOOD_REQUESTS: &[&[&str]] = &[
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
pub struct Request {
    command: String,
    #[serde(default)]
    args: Vec<String>,
}

/// What the server makes of a line (`None`: malformed), exactly as it decides.
pub fn as_request(line: &[u8]) -> Option<Request> {
    match line.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(line).ok(),
        _ => None,
    }
}

/// A line is safe to send unless the server would run a command that changes state
/// or streams.
pub fn safe(line: &[u8]) -> bool {
    match as_request(line) {
        None => true,
        Some(r) => {
            let follows = matches!(r.command.as_str(), "tail" | "maintail")
                && r.args.iter().any(|a| a == "-f");
            !FORBIDDEN.contains(&r.command.as_str()) && !follows
        }
    }
}

pub fn json_value() -> BoxedStrategy<Value> {
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
pub fn request_line() -> BoxedStrategy<Vec<u8>> {
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
pub fn read_all(stream: &mut UnixStream) -> Result<Vec<u8>, String> {
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
pub fn check_request(socket: &Path, line: &[u8]) -> Result<&'static str, String> {
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
    // `status` answers with supervisorctl's LSB status codes (3 not running, 4
    // unknown); every other command 0, 1 or 2.
    let status = as_request(line).is_some_and(|r| r.command == "status");
    let highest = if status { 4 } else { 2 };
    if ok != (exit == 0) || !(0..=highest).contains(&exit) {
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
pub fn snapshot(socket: &Path) -> Option<BTreeMap<String, (String, Option<i64>)>> {
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
