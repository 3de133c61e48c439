//! `tail [-f] [-n N] NAME [stdout|stderr]` (SPEC §5): the last lines from the ring
//! buffer — kept even for discarded streams — and, with `-f`, a [`Follow`] that the
//! transport runs to stream what comes next.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::Reply;
use crate::output::{OutputBuffers, Stream};
use crate::supervisor::Supervisor;
use crate::watch::Instance;

/// A `tail -f` in progress: where it reads from and how far it has read.
#[derive(Clone)]
pub struct Follow {
    pub instance: Arc<Instance>,
    streams: Vec<Stream>,
    offsets: Vec<u64>,
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

/// Stops a [`Follow`] from another thread.
#[derive(Clone)]
pub struct FollowCancel {
    flag: Arc<AtomicBool>,
    output: Arc<OutputBuffers>,
}

impl FollowCancel {
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.output.interrupt();
    }
}

impl Follow {
    /// Follows `streams` of `instance` from `offsets` (one per stream).
    pub fn new(instance: Arc<Instance>, streams: Vec<Stream>, offsets: Vec<u64>) -> Follow {
        Follow {
            instance,
            streams,
            offsets,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Follows one stream from `offset` on.
    fn from(instance: Arc<Instance>, stream: Stream, offset: u64) -> Follow {
        Follow {
            instance,
            streams: vec![stream],
            offsets: vec![offset],
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn canceller(&self) -> FollowCancel {
        FollowCancel {
            flag: self.cancel.clone(),
            output: self.instance.output.clone(),
        }
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
        let mut offsets = self.offsets.clone();
        loop {
            let generation = output.generation();
            if stop() {
                // Whatever arrived before the stop still goes out.
                for chunk in
                    output.wait_since(&self.streams, &mut offsets, Some(std::time::Duration::ZERO))
                {
                    if write(&chunk.data).is_err() {
                        return FollowEnd::WriteFailed;
                    }
                }
                return FollowEnd::Stopped;
            }
            let chunks =
                output.wait_since_or_cancel(&self.streams, &mut offsets, &self.cancel, generation);
            self.offsets.clone_from(&offsets);
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
    name: String,
    stream: Stream,
}

const USAGE: &str = "Error: usage: tail [-f] [-n N] NAME [stdout|stderr]";

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
        [name] => (name.clone(), Stream::Stdout),
        [name, stream] => (
            name.clone(),
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
    let mut errors = Vec::new();
    let found = super::resolve(sup, std::slice::from_ref(&args.name), &mut errors);
    let instance = match (found.as_slice(), errors.first()) {
        (_, Some(e)) => return Reply::error(e.clone()),
        ([one], None) => one.clone(),
        (many, None) => {
            return Reply::error(format!(
                "{}: ERROR (names {} instances; name one, e.g. {})",
                args.name,
                many.len(),
                many.first().map_or(String::new(), |i| i.name())
            ))
        }
    };
    let (text, end) = instance.output.tail_and_end(args.stream, args.lines);
    let text = String::from_utf8_lossy(&text);
    // The transports end the reply with a newline of their own.
    let mut reply = Reply::ok(text.strip_suffix('\n').unwrap_or(&text).to_string());
    if args.follow {
        reply.follow = Some(Follow::from(instance, args.stream, end));
    }
    reply
}
