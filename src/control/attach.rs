//! `attach NAME` (alias `fg`), the daemon's side (README: Attach).
//!
//! After the reply line the connection carries, daemon → client, the recent output
//! from the ring buffer (or the stream's file) and then the live output, raw; client → daemon, frames
//! (`protocol.rs`):
//!
//! * `0x00 LEN_HI LEN_LO BYTES…` — input for the program (up to 65535 bytes);
//! * `0x01 ROWS_HI ROWS_LO COLS_HI COLS_LO` — the client's window size (pty only);
//! * `0x02` — interrupt: SIGINT to the program's process group (pipe mode's Ctrl-C;
//!   through a pty, Ctrl-C is an input byte and the terminal sends the signal);
//! * `0x03` — close stdin (pipe mode's Ctrl-D on an empty line): the program holds
//!   its stdin pipe open itself (`watch::stdin`), so it cannot be made to read end
//!   of input; the session is told so and stays attached. Ignored for a pty, whose
//!   Ctrl-D is an input byte (the terminal turns it into end of input).
//!
//! The session ends when the client closes the connection (detach), when the
//! attached process exits (a last line says how), or when taskmaster shuts down.
//! Output reaches the client from the ring buffer or the stream's file, never from
//! the pipe itself: a slow client loses ring output (and is told how much) or falls
//! behind in the file, instead of slowing the program.
//! Several clients may attach to one instance: each sees all output and may type;
//! a pty's window size follows the client that typed last (`pty::viewers`).

use std::io::{BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use log::info;

use super::protocol::{AttachInfo, FRAME_CLOSE_STDIN, FRAME_INPUT, FRAME_INTERRUPT, FRAME_WINSIZE};
use super::tail::{Follow, FollowEnd};
use super::{Continuation, Reply};
use crate::output::Stream;
use crate::supervisor::Supervisor;
use crate::watch::{ChildInput, InputTarget, Instance};

/// Lines of recent output replayed on attach.
const REPLAY_LINES: usize = 100;

/// A resolved attach request, for the transport to run.
#[derive(Clone)]
pub struct AttachTarget {
    pub instance: Arc<Instance>,
    pub input: ChildInput,
}

pub fn attach(sup: &Arc<Supervisor>, args: &[String]) -> Reply {
    let [name] = args else {
        return Reply::usage("Error: usage: attach NAME");
    };
    let mut errors = Vec::new();
    let found = super::resolve(sup, std::slice::from_ref(name), &mut errors);
    let instance = match (found.as_slice(), errors.first()) {
        (_, Some(e)) => return Reply::error(e.clone()),
        ([one], None) => one.clone(),
        (many, None) => {
            return Reply::error(format!(
                "{name}: ERROR (names {} instances; attach to one, e.g. {}:0)",
                many.len(),
                name
            ))
        }
    };
    let Some(input) = instance.input() else {
        return Reply::error(format!("{}: ERROR (not running)", instance.name()));
    };
    let key = sup.config().daemon.detach_key;
    let mut reply = Reply::ok(format!(
        "attached to {} (pid {}{}); detach with {}",
        instance.name(),
        input.pid,
        if input.is_pty() {
            ", pty"
        } else {
            ", pipes: type lines"
        },
        key_name(key)
    ));
    let info = AttachInfo {
        detach_key: key,
        name: instance.name(),
        pty: input.is_pty(),
    };
    reply.data = super::protocol::raw_data(&info);
    reply.then = Continuation::Attach(AttachTarget { instance, input });
    reply
}

/// `^\` for 0x1c, `^A` for 0x01…
pub fn key_name(key: u8) -> String {
    match key {
        0..=0x1f => format!("Ctrl-{}", (key + b'@') as char),
        0x7f => "Ctrl-?".to_string(),
        k => (k as char).to_string(),
    }
}

/// Runs an attach session on a connection whose reply line was sent.
pub fn serve(
    target: AttachTarget,
    reader: BufReader<UnixStream>,
    stream: &UnixStream,
    live: &super::live_streams::LiveStreams,
) {
    // The input thread's own say in the session: why a line was not sent.
    let notices = stream
        .try_clone()
        .ok()
        .map(|s| Box::new(s) as Box<dyn Write + Send>);
    let mut writer = stream;
    run_session(target, reader, &mut writer, notices, live);
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// The session itself, for any transport: the client's frames are read from
/// `reader` (on an `attach-input` thread), the program's output is written to
/// `writer`, and what the input thread has to say goes to `notices`. Returns when
/// the session ends (an upgrade in place ends it too, through `live`, telling the
/// client to attach again); the transport then closes its connection.
pub fn run_session(
    target: AttachTarget,
    reader: impl Read + Send + 'static,
    writer: &mut dyn Write,
    notices: Option<Box<dyn Write + Send>>,
    live: &super::live_streams::LiveStreams,
) {
    let AttachTarget { instance, input } = target;
    let name = instance.name();
    info!("attach: a client attached to {name} (pid {})", input.pid);
    let streams = if input.is_pty() {
        vec![Stream::Stdout]
    } else {
        vec![Stream::Stdout, Stream::Stderr]
    };
    let mut cursors = Vec::new();
    for &s in &streams {
        let tail = instance.output.tail_and_end(s, REPLAY_LINES);
        let note = tail
            .problem
            .map(|p| format!("[taskmaster: {s}: {p}]\r\n"))
            .unwrap_or_default();
        if writer.write_all(note.as_bytes()).is_err() || writer.write_all(&tail.text).is_err() {
            return;
        }
        cursors.push(tail.cursor);
    }
    // Following from the replay's own ends: nothing between the two is lost.
    let mut follow = Follow::new(instance.clone(), streams, cursors);
    let cancel = follow.canceller();
    let upgrade_cancel = follow.canceller();
    let session = live.join(Box::new(move || upgrade_cancel.cancel()));
    let keys_input = input.clone();
    let keys_instance = instance.clone();
    let _ = std::thread::Builder::new()
        .name("attach-input".into())
        .stack_size(crate::stack::THREAD_STACK)
        .spawn(move || {
            let viewers = &keys_instance.viewers;
            let viewer = match &keys_input.to {
                InputTarget::Pty(master) => Some(viewers.join(keys_input.pid, master.clone())),
                InputTarget::Pipe(_) => None,
            };
            read_frames(reader, notices, &keys_instance, &keys_input, viewer);
            if let Some(session) = viewer {
                viewers.leave(session);
            }
            cancel.cancel();
        });
    let pid = input.pid;
    let drained = input.drained.clone();
    // The session ends once the process is gone and its output read to the end, so
    // its last words reach the terminal before the report of its exit.
    let end = follow.run_until(
        |data| writer.write_all(data),
        || {
            drained.load(std::sync::atomic::Ordering::SeqCst)
                && instance.input().map(|i| i.pid) != Some(pid)
        },
    );
    let last = match end {
        FollowEnd::Stopped => {
            let how = instance
                .status()
                .last_exit
                .map_or("exited".to_string(), |e| format!("exited ({e})"));
            format!("\r\n[taskmaster: {name} {how}]\r\n")
        }
        FollowEnd::Closed => "\r\n[taskmaster is shutting down]\r\n".to_string(),
        FollowEnd::Cancelled if live.upgrading() => {
            "\r\n[taskmaster is upgrading in place: attach again]\r\n".to_string()
        }
        FollowEnd::Cancelled | FollowEnd::WriteFailed => String::new(),
    };
    let _ = writer.write_all(last.as_bytes());
    live.leave(session);
    info!("attach: a client left {name}");
}

/// Applies the client's frames until it closes the connection.
///
/// `viewer`: this session's entry among those sharing the pty's window size
/// (`instance.viewers`).
fn read_frames(
    mut reader: impl Read,
    mut notices: Option<Box<dyn Write + Send>>,
    instance: &Instance,
    input: &ChildInput,
    viewer: Option<u64>,
) {
    // Still the process this session attached to (not a successor with a reused pid).
    let same_process = || instance.input().map(|i| i.pid) == Some(input.pid);
    // The last refusal told, so a program that stays full or replaced is not
    // reported at every line.
    let mut told = None;
    let mut tell = |text: String| {
        if let Some(out) = notices.as_mut() {
            let _ = out.write_all(format!("\r\n[taskmaster: {text}]\r\n").as_bytes());
        }
    };
    let mut head = [0u8; 1];
    while reader.read_exact(&mut head).is_ok() {
        match head[0] {
            FRAME_INPUT => {
                let mut len = [0u8; 2];
                if reader.read_exact(&mut len).is_err() {
                    return;
                }
                let mut data = vec![0u8; u16::from_be_bytes(len) as usize];
                if reader.read_exact(&mut data).is_err() {
                    return;
                }
                if let Some(session) = viewer {
                    instance.viewers.typed(session);
                }
                // A program that exited since: its exit ends the session anyway.
                match input.write(&data) {
                    Ok(_) => told = None,
                    Err(why) if !same_process() || told == Some(why) => {}
                    Err(why) => {
                        tell(format!("input not sent to {}: {why}", instance.name()));
                        info!("attach: input for {} not sent: {why}", instance.name());
                        told = Some(why);
                    }
                }
            }
            FRAME_WINSIZE => {
                let mut size = [0u8; 4];
                if reader.read_exact(&mut size).is_err() {
                    return;
                }
                let rows = u16::from_be_bytes([size[0], size[1]]);
                let cols = u16::from_be_bytes([size[2], size[3]]);
                if let Some(session) = viewer {
                    instance.viewers.resized(session, rows, cols);
                }
            }
            FRAME_INTERRUPT if same_process() => {
                // The child is a session leader: its pid is its process group.
                let _ = crate::sys::process_group::signal_group(
                    input.pid,
                    nix::sys::signal::Signal::SIGINT,
                );
                info!(
                    "attach: a client interrupted {} (SIGINT to process group {})",
                    instance.name(),
                    input.pid
                );
            }
            FRAME_CLOSE_STDIN if !input.is_pty() && same_process() => tell(format!(
                "the stdin of {} stays open: it holds its own end of the pipe, so that \
                 it never reads end of input (a pty program reads Ctrl-D as end of input)",
                instance.name()
            )),
            FRAME_INTERRUPT | FRAME_CLOSE_STDIN => {}
            _ => return, // not our protocol: end the session
        }
    }
}
