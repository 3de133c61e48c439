//! `tail [-f] [-n N] [NAME] [stdout|stderr]` (README: Output and the event log): the last lines of the
//! stream's file when its bytes go there by splice, else from the ring buffer — kept
//! even for discarded streams — and, with `-f`, a [`TailFollow`] that
//! the transport runs to stream what comes next. A group address (`NAME:*`, a
//! program of several instances, no name at all for every program) gives each
//! instance's lines prefixed with its name (see `merged`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::merged::{Lines, MergedFollow};
use super::{Continuation, Reply};
use crate::output::{Cursor, OutputBuffers, Stream};
use crate::supervisor::Supervisor;
use crate::watch::Instance;

/// A `tail -f` in progress: where it reads from and how far it has read.
#[derive(Clone)]
pub struct Follow {
    pub instance: Arc<Instance>,
    streams: Vec<Stream>,
    cursors: Vec<Cursor>,
    cancel: Arc<AtomicBool>,
}

/// Why a follow ended.
#[derive(Debug, PartialEq, Eq)]
pub enum FollowEnd {
    /// Cancelled by the user or the client going away.
    Cancelled,
    /// The instance was removed or taskmaster is shutting down.
    Closed,
    /// Writing to the client failed.
    WriteFailed,
    /// The caller's stop condition held (the attached child exited).
    Stopped,
}

/// Stops a follow from another thread.
#[derive(Clone)]
pub struct FollowCancel {
    flag: Arc<AtomicBool>,
    outputs: Vec<Arc<OutputBuffers>>,
}

impl FollowCancel {
    pub(super) fn new(flag: Arc<AtomicBool>, outputs: Vec<Arc<OutputBuffers>>) -> FollowCancel {
        FollowCancel { flag, outputs }
    }

    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.outputs.iter().for_each(|o| o.interrupt());
    }
}

/// What `tail -f` asks its transport to run: one instance's raw output, or the
/// prefixed lines of several.
#[derive(Clone)]
pub enum TailFollow {
    One(Follow),
    Merged(MergedFollow),
}

impl TailFollow {
    pub fn canceller(&self) -> FollowCancel {
        match self {
            TailFollow::One(f) => f.canceller(),
            TailFollow::Merged(f) => f.canceller(),
        }
    }

    /// Streams until cancelled, closed or a write fails.
    pub fn run(&mut self, write: impl FnMut(&[u8]) -> std::io::Result<()>) -> FollowEnd {
        match self {
            TailFollow::One(f) => f.run(write),
            TailFollow::Merged(f) => f.run(write),
        }
    }
}

impl Follow {
    /// Follows `streams` of `instance` from `cursors` (one per stream).
    pub fn new(instance: Arc<Instance>, streams: Vec<Stream>, cursors: Vec<Cursor>) -> Follow {
        Follow {
            instance,
            streams,
            cursors,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Follows one stream from `cursor` on.
    fn from(instance: Arc<Instance>, stream: Stream, cursor: Cursor) -> Follow {
        Self::sharing(instance, stream, cursor, Arc::new(AtomicBool::new(false)))
    }

    /// Follows one stream from `cursor` on, cancelled with others by `cancel`.
    pub(super) fn sharing(
        instance: Arc<Instance>,
        stream: Stream,
        cursor: Cursor,
        cancel: Arc<AtomicBool>,
    ) -> Follow {
        Follow {
            instance,
            streams: vec![stream],
            cursors: vec![cursor],
            cancel,
        }
    }

    pub fn canceller(&self) -> FollowCancel {
        FollowCancel::new(self.cancel.clone(), vec![self.instance.output.clone()])
    }

    /// Streams new output to `write` until cancelled, closed or a write fails.
    pub fn run(&mut self, write: impl FnMut(&[u8]) -> std::io::Result<()>) -> FollowEnd {
        self.run_until(write, || false)
    }

    /// Like `run`, also ending (with `Stopped`) when `stop()` turns true; it is
    /// checked whenever the instance's output is interrupted (a child's exit).
    pub fn run_until(
        &mut self,
        mut write: impl FnMut(&[u8]) -> std::io::Result<()>,
        stop: impl Fn() -> bool,
    ) -> FollowEnd {
        let output = self.instance.output.clone();
        let mut cursors = self.cursors.clone();
        loop {
            let generation = output.generation();
            if stop() {
                // Whatever arrived before the stop still goes out (a file is read
                // to its end in bounded pieces).
                loop {
                    let chunks = output.wait_since(
                        &self.streams,
                        &mut cursors,
                        Some(std::time::Duration::ZERO),
                    );
                    if chunks.is_empty() {
                        return FollowEnd::Stopped;
                    }
                    for chunk in chunks {
                        if write(&chunk.data).is_err() {
                            return FollowEnd::WriteFailed;
                        }
                    }
                }
            }
            let chunks =
                output.wait_since_or_cancel(&self.streams, &mut cursors, &self.cancel, generation);
            self.cursors.clone_from(&cursors);
            if self.cancel.load(Ordering::SeqCst) {
                return FollowEnd::Cancelled;
            }
            if chunks.is_empty() && output.is_closed() {
                return FollowEnd::Closed;
            }
            for chunk in chunks {
                if chunk.lost > 0 {
                    let note = format!("\n[... {} bytes of output were lost ...]\n", chunk.lost);
                    if write(note.as_bytes()).is_err() {
                        return FollowEnd::WriteFailed;
                    }
                }
                if write(&chunk.data).is_err() {
                    return FollowEnd::WriteFailed;
                }
            }
        }
    }
}

struct TailArgs {
    follow: bool,
    lines: usize,
    /// None: every program.
    name: Option<String>,
    stream: Stream,
}

const USAGE: &str = "Error: usage: tail [-f] [-n N] [NAME] [stdout|stderr]";

fn parse(args: &[String]) -> Result<TailArgs, String> {
    let mut follow = false;
    let mut lines = 20;
    let mut positional = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let count = |text: &str| {
            text.parse::<usize>()
                .map_err(|_| format!("Error: bad line count {text:?}"))
        };
        match word.as_str() {
            "-f" => follow = true,
            "-n" => lines = count(words.next().ok_or(USAGE)?)?,
            w if w.starts_with("-n") => lines = count(&w[2..])?,
            w if w.len() > 1
                && w.starts_with('-')
                && w[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                lines = count(&w[1..])?
            }
            w if w.starts_with('-') => return Err(format!("Error: unknown option {w}\n{USAGE}")),
            _ => positional.push(word.clone()),
        }
    }
    let (name, stream) = match positional.as_slice() {
        [] => (None, Stream::Stdout),
        [name] => (Some(name.clone()), Stream::Stdout),
        [name, stream] => (
            Some(name.clone()),
            stream
                .parse()
                .map_err(|_| format!("Error: bad stream {stream:?}: stdout or stderr"))?,
        ),
        _ => return Err(USAGE.to_string()),
    };
    Ok(TailArgs {
        follow,
        lines,
        name,
        stream,
    })
}

pub fn tail(sup: &Arc<Supervisor>, args: &[String]) -> Reply {
    let args = match parse(args) {
        Ok(a) => a,
        Err(e) => return Reply::usage(e),
    };
    let name = args.name.clone().unwrap_or_else(|| "all".to_string());
    let mut errors = Vec::new();
    let found = super::resolve(sup, std::slice::from_ref(&name), &mut errors);
    if let Some(e) = errors.first() {
        return Reply::error(e.clone());
    }
    let instance = match found.as_slice() {
        [one] if args.name.is_some() && !super::is_group_address(&name, 1) => one.clone(),
        [] => return Reply::error(format!("{name}: ERROR (no process to tail)")),
        _ => return tail_merged(found, &args),
    };
    let tail = instance.output.tail_and_end(args.stream, args.lines);
    if let Some(problem) = tail.problem {
        return Reply::error(format!("{}: ERROR ({problem})", instance.name()));
    }
    let text = String::from_utf8_lossy(&tail.text);
    // The transports end the reply with a newline of their own.
    let mut reply = Reply::ok(text.strip_suffix('\n').unwrap_or(&text).to_string());
    if args.follow {
        reply.then = Continuation::Follow(TailFollow::One(Follow::from(
            instance,
            args.stream,
            tail.cursor,
        )));
    }
    reply
}

/// `tail` of a group: the last lines of each instance, prefixed with its name;
/// with `-f`, the follow starts where each one's shown lines end. A partial last
/// line is held back to come out whole once the follow sees its end.
fn tail_merged(instances: Vec<Arc<Instance>>, args: &TailArgs) -> Reply {
    let mut text = Vec::new();
    let mut sources = Vec::new();
    for instance in instances {
        let tail = instance.output.tail_and_end(args.stream, args.lines.max(1));
        let mut lines = Lines::new(&instance.name());
        if let Some(problem) = &tail.problem {
            text.extend(lines.push(format!("[{problem}]\n").as_bytes()).concat());
        }
        let (last, mut end) = (tail.text, tail.cursor);
        let shown = if args.lines == 0 { &[][..] } else { &last[..] };
        if args.follow {
            let partial = match last.iter().rposition(|&b| b == b'\n') {
                Some(i) => last.len() - i - 1,
                None => last.len(),
            };
            let whole = &shown[..shown.len().saturating_sub(partial)];
            text.extend(lines.push(whole).concat());
            end.back(partial as u64);
            sources.push((instance, end));
        } else {
            text.extend(lines.push(shown).concat());
            text.extend(lines.finish().unwrap_or_default());
        }
    }
    let text = String::from_utf8_lossy(&text);
    let mut reply = Reply::ok(text.strip_suffix('\n').unwrap_or(&text).to_string());
    if args.follow {
        reply.then =
            Continuation::Follow(TailFollow::Merged(MergedFollow::new(sources, args.stream)));
    }
    reply
}
