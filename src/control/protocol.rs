//! The control socket's wire protocol, as types: what the server reads and writes
//! and what `taskmasterctl` (and the daemon's own shell, when it attaches) writes
//! and reads. One definition for both ends; the README's "Socket protocol" section
//! states it in words, and a test below checks the two agree.
//!
//! Newline-delimited JSON: one [`Request`] line in, one [`Response`] line out. A
//! response with `stream` set turns the connection into a stream: raw output from
//! the daemon until either side closes, and for `attach` the client's frames
//! ([`FRAME_INPUT`]…) the other way. This module knows no command and no
//! terminal: it is data, shared by the command layer and the client.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Requests longer than this (in bytes, with the newline) are refused.
pub const MAX_REQUEST: usize = 64 * 1024;

/// One request line: a command and its words.
///
/// Fields in the order the client has always written them (alphabetical).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Optional on the wire: a command without arguments may leave it out.
    #[serde(default)]
    pub args: Vec<String>,
    pub command: String,
}

/// One reply line.
///
/// Fields in the order the daemon has always written them (alphabetical). Every
/// field has a default when decoding, so a client reads any reply line it gets.
///
/// `data` is kept as the JSON text it is on the wire: the daemon writes a
/// `status --json` table straight from its typed rows, with no tree of
/// `serde_json::Value`s built (and copied) on the way; a client parses what it
/// reads ([`Response::data_value`], [`AttachInfo::from_data`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    /// Structured result: `status --json`'s table, `attach`'s [`AttachInfo`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
    /// The code `taskmasterctl` exits with: 0 ok, 1 error, 2 usage.
    #[serde(default)]
    pub exit: i32,
    /// `exit == 0`.
    #[serde(default)]
    pub ok: bool,
    /// The text a shell prints.
    #[serde(default)]
    pub output: String,
    /// Raw output follows this line until either side closes (`tail -f`,
    /// `notices`, `attach`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub stream: bool,
}

/// Equal when every field is, `data` compared as the text it is.
impl PartialEq for Response {
    fn eq(&self, other: &Response) -> bool {
        self.data.as_deref().map(RawValue::get) == other.data.as_deref().map(RawValue::get)
            && self.exit == other.exit
            && self.ok == other.ok
            && self.output == other.output
            && self.stream == other.stream
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Request {
    pub fn new(command: &str, args: &[String]) -> Request {
        Request {
            args: args.to_vec(),
            command: command.to_string(),
        }
    }

    /// The request as one line, newline included.
    pub fn line(&self) -> String {
        json_line(self)
    }
}

impl Response {
    /// The response as one line, newline included.
    pub fn line(&self) -> String {
        json_line(self)
    }

    /// `data` parsed, if there is any (and it parses, which the daemon's does).
    pub fn data_value(&self) -> Option<serde_json::Value> {
        self.data
            .as_deref()
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
    }
}

/// `value` as `data`: its JSON text. Our own types always serialize (`None` should
/// that ever change, rather than a panic).
pub fn raw_data(value: &impl Serialize) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(value).ok()
}

/// `value` as JSON and a newline. Our own types always serialize: the empty
/// object stands in should that ever change, rather than a panic.
fn json_line(value: &impl Serialize) -> String {
    let mut line = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_string());
    line.push('\n');
    line
}

/// `attach`'s `data`: what the client needs to run the session. Fields in the
/// order the daemon has always written them (alphabetical).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachInfo {
    /// The byte that detaches (`taskmaster.detach_key`).
    #[serde(default = "default_detach_key")]
    pub detach_key: u8,
    /// The instance attached to.
    #[serde(default = "default_attached_name")]
    pub name: String,
    /// Raw terminal (a pty program) or local line editing (pipes).
    #[serde(default)]
    pub pty: bool,
}

fn default_detach_key() -> u8 {
    0x1c
}

fn default_attached_name() -> String {
    "the process".to_string()
}

impl AttachInfo {
    /// Reads it from a response's `data`; what is missing takes its default.
    pub fn from_data(data: Option<&RawValue>) -> AttachInfo {
        data.and_then(|d| serde_json::from_str(d.get()).ok())
            .unwrap_or_else(|| AttachInfo {
                detach_key: default_detach_key(),
                name: default_attached_name(),
                pty: false,
            })
    }
}

/// One line of `events --json` (README: Event stream): one event, or how many a
/// slow client lost (`kind` `lost`, with `count`). `instance` and `pid` are always
/// written (null when none); the other fields only for the events they describe.
/// Fields in the order they are written; a client ignores fields it does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLine {
    /// RFC 3339 in UTC, to the millisecond: `2026-05-04T12:00:01.234Z`.
    pub time: String,
    /// A stable snake_case name: `spawned`, `state_changed`, `exited`, `lost`…
    pub kind: String,
    #[serde(default)]
    pub instance: Option<String>,
    #[serde(default)]
    pub pid: Option<i32>,
    /// A state change's states, as `status` names them (`RUNNING`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// How a process ended, as `status --json` says it: its exit code, or the
    /// signal that ended it (`"SIGKILL"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exitcode: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Whether an exit was expected (`exitcodes`, `autorestart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<bool>,
    /// A signal sent (`stop_requested`, `killed`), or that could not be sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_signal: Option<String>,
    /// `lost`: how many events this client missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// `healthy`, `unhealthy`: the health the instance went to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// `unhealthy`: why its last health check failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What happened, in the event log's words.
    #[serde(default)]
    pub message: String,
}

impl EventLine {
    /// The line as JSON and a newline.
    pub fn line(&self) -> String {
        json_line(self)
    }
}

/// `top`'s `data`: one snapshot of every instance and of the daemon, what the
/// live view shows each second. One request per refresh, however many instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopSnapshot {
    pub daemon: TopDaemon,
    pub instances: Vec<TopInstance>,
}

/// The daemon's own line of a [`TopSnapshot`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopDaemon {
    pub pid: u32,
    pub uptime_s: f64,
    /// CPU time the daemon used so far (the view turns two into a rate).
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    #[serde(default)]
    pub memory_bytes: Option<u64>,
}

/// One instance in a [`TopSnapshot`]. Usage fields are absent without a process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopInstance {
    pub name: String,
    pub state: String,
    #[serde(default)]
    pub pid: Option<i32>,
    #[serde(default)]
    pub uptime_s: Option<f64>,
    #[serde(default)]
    pub cpu_percent: Option<f64>,
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    #[serde(default)]
    pub restarts: u32,
    /// `starting`, `healthy` or `unhealthy` for a RUNNING instance with a
    /// health check; absent otherwise.
    #[serde(default)]
    pub health: Option<String>,
    /// The last line the instance printed (on the stream that spoke last), made
    /// printable: no escape sequence or control character, at most
    /// [`TOP_LINE_MAX`] bytes.
    #[serde(default)]
    pub last_line: String,
}

/// The longest `last_line` in a [`TopSnapshot`], in bytes.
pub const TOP_LINE_MAX: usize = 200;

/// Attach frame, client → daemon: `0x00 LEN_HI LEN_LO BYTES…`, input for the
/// program (up to 65535 bytes).
pub const FRAME_INPUT: u8 = 0;
/// `0x01 ROWS_HI ROWS_LO COLS_HI COLS_LO`: the client's window size (pty only).
pub const FRAME_WINSIZE: u8 = 1;
/// `0x02`: interrupt, SIGINT to the program's process group (pipe mode's Ctrl-C).
pub const FRAME_INTERRUPT: u8 = 2;
/// `0x03`: asks to close the program's stdin (pipe mode's Ctrl-D on an empty line);
/// the program holds its stdin open itself, so the session is told why it stays open.
pub const FRAME_CLOSE_STDIN: u8 = 3;

/// `data` as input frames, cut at 65535 bytes each.
pub fn input_frames(data: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(data.len() + 3);
    for chunk in data.chunks(u16::MAX as usize) {
        frame.push(FRAME_INPUT);
        frame.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        frame.extend_from_slice(chunk);
    }
    frame
}

/// The window-size frame.
pub fn winsize_frame(rows: u16, cols: u16) -> [u8; 5] {
    let (r, c) = (rows.to_be_bytes(), cols.to_be_bytes());
    [FRAME_WINSIZE, r[0], r[1], c[0], c[1]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The lines are byte for byte what the daemon and the client wrote before
    /// these types existed (`json!` objects, whose keys serde_json sorts).
    #[test]
    fn lines_keep_their_bytes() {
        let args = vec!["--json".to_string()];
        let request = Request::new("status", &args);
        let old = json!({ "command": "status", "args": args }).to_string() + "\n";
        assert_eq!(request.line(), old);

        let plain = Response {
            data: None,
            exit: 1,
            ok: false,
            output: "web: ERROR (no such process)".into(),
            stream: false,
        };
        let old = json!({ "ok": false, "output": plain.output, "exit": 1 }).to_string() + "\n";
        assert_eq!(plain.line(), old);

        let info = AttachInfo {
            detach_key: 0x1c,
            name: "web".into(),
            pty: true,
        };
        let data = raw_data(&info);
        let old_data = json!({ "pty": true, "detach_key": 0x1c, "name": "web" });
        assert_eq!(
            data.as_ref().map(|d| d.get()),
            Some(old_data.to_string().as_str())
        );
        let streaming = Response {
            data,
            exit: 0,
            ok: true,
            output: "attached".into(),
            stream: true,
        };
        let old = json!({
            "ok": true, "output": "attached", "exit": 0, "data": old_data, "stream": true
        })
        .to_string()
            + "\n";
        assert_eq!(streaming.line(), old);
    }

    #[test]
    fn a_client_reads_any_reply_line() {
        let bare: Response = serde_json::from_str("{}").unwrap();
        assert_eq!((bare.ok, bare.exit, bare.stream), (false, 0, false));
        assert_eq!(bare.output, "");
        let info = AttachInfo::from_data(None);
        assert_eq!((info.pty, info.detach_key), (false, 0x1c));
        assert_eq!(info.name, "the process");
    }

    #[test]
    fn input_is_cut_into_frames() {
        let data = vec![b'x'; 70_000];
        let frames = input_frames(&data);
        assert_eq!(frames.len(), 70_000 + 2 * 3);
        assert_eq!(&frames[..3], &[FRAME_INPUT, 0xff, 0xff]);
        assert_eq!(&frames[65_538..65_541], &[FRAME_INPUT, 0x11, 0x71]);
        assert_eq!(winsize_frame(24, 80), [FRAME_WINSIZE, 0, 24, 0, 80]);
    }
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod readme_tests;
