//! The client side of the socket protocol, used by `taskmasterctl`, and the
//! front ends' standard output.
//!
//! Output never panics: `println!` panics when stdout is a pipe whose reader went
//! away (`taskmasterctl status | head -1`). The front ends print through [`say`] and
//! [`write_out`] instead. In `taskmasterctl` ([`exit_when_output_closes`]) a closed
//! stdout ends the client quietly with status 0, as a reader leaving ends any Unix
//! filter; in the daemon the output is dropped and the daemon goes on (its terminal
//! may be gone, its processes are not).
//!
//! SIGPIPE stays ignored (Rust's default) rather than reset to the default action,
//! which would also end `| head` quietly: the client writes to the control socket
//! too, and a daemon vanishing mid-write must give a message and a restored
//! terminal (during attach), not a silent death in raw mode.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::protocol::{Request, Response};

/// A connection to the daemon: its own socket, or a process that carries the
/// protocol to it (`ssh … taskmasterctl --stdio`, `crate::remote`) over one end of
/// a socket pair. Either way the client reads and writes a `UnixStream`, so every
/// command — streams and attach included — runs the same code on both.
pub struct Client {
    /// Where the daemon is, as messages name it: the socket's path, or a URL.
    pub place: String,
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    /// Whether a reply came on this connection: a carrier that ends before the
    /// first never reached the daemon.
    answered: bool,
    /// Declared last: dropped after the socket, so the carrier sees its end close.
    carrier: Option<Box<dyn Carrier>>,
}

/// What carries a connection that is not the daemon's own socket: a process
/// (ssh) that must be ended and reaped with the connection, and that can say why
/// the connection ended. Its `Drop` reaps it.
pub trait Carrier: Send {
    /// Why the connection ended (what the process said, how it exited), once it
    /// has: called after its end of the socket read end of file or failed.
    fn why_ended(&mut self) -> String;
}

/// Keeps a connection's carrier alive while its two halves are used apart
/// ([`Client::into_parts`]); dropping it ends the carrier.
pub struct CarrierGuard {
    _carrier: Option<Box<dyn Carrier>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach taskmaster at {place}: {why}")]
    Unreachable { place: String, why: String },
    #[error("the connection to taskmaster at {place} broke: {why}")]
    Broken { place: String, why: String },
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let place = path.display().to_string();
        let unreachable = |why: String| ClientError::Unreachable {
            place: place.clone(),
            why,
        };
        let stream = UnixStream::connect(path).map_err(|e| unreachable(e.to_string()))?;
        Client::over(place.clone(), stream, None).map_err(|e| unreachable(e.to_string()))
    }

    /// A connection on `stream`, whose other end `carrier` (if any) relays to the
    /// daemon at `place`.
    pub fn over(
        place: String,
        stream: UnixStream,
        carrier: Option<Box<dyn Carrier>>,
    ) -> std::io::Result<Client> {
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Client {
            place,
            writer: stream,
            reader,
            answered: false,
            carrier,
        })
    }

    /// Sends one command and reads its reply line.
    pub fn request(&mut self, command: &str, args: &[String]) -> Result<Response, ClientError> {
        let line = Request::new(command, args).line();
        if let Err(e) = self.writer.write_all(line.as_bytes()) {
            return Err(self.ended(e.to_string()));
        }
        let mut reply = String::new();
        match self.reader.read_line(&mut reply) {
            Ok(0) => Err(self.ended("the daemon closed the connection".into())),
            Ok(_) => {
                self.answered = true;
                serde_json::from_str(&reply).map_err(|e| ClientError::Broken {
                    place: self.place.clone(),
                    why: format!("bad reply: {e}"),
                })
            }
            Err(e) => Err(self.ended(e.to_string())),
        }
    }

    /// The connection ended (`why`, as the socket saw it). Through a carrier, its
    /// own account is the better one; and a carrier that ended before any reply
    /// never reached the daemon.
    fn ended(&mut self, why: String) -> ClientError {
        let place = self.place.clone();
        match self.carrier.as_mut() {
            None => ClientError::Broken { place, why },
            Some(carrier) => {
                let why = carrier.why_ended();
                if self.answered {
                    ClientError::Broken { place, why }
                } else {
                    ClientError::Unreachable { place, why }
                }
            }
        }
    }

    /// After a streaming reply (`tail -f`): the raw bytes that follow.
    pub fn stream(&mut self) -> &mut BufReader<UnixStream> {
        &mut self.reader
    }

    /// The buffered reader (holding whatever followed the reply), the writer, and
    /// what must live as long as they are used.
    pub fn into_parts(self) -> (BufReader<UnixStream>, UnixStream, CarrierGuard) {
        (
            self.reader,
            self.writer,
            CarrierGuard {
                _carrier: self.carrier,
            },
        )
    }

    /// A handle that ends the connection from another thread (Ctrl-C during a
    /// stream): the daemon notices and stops sending, and our reads see EOF.
    pub fn closer(&self) -> Option<Closer> {
        self.writer.try_clone().ok().map(Closer)
    }
}

pub struct Closer(UnixStream);

impl Closer {
    pub fn close(self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

/// Set by `taskmasterctl`: a closed stdout ends the process.
static EXIT_ON_CLOSED_OUTPUT: AtomicBool = AtomicBool::new(false);

/// From now on a reader of stdout that went away ends the process quietly (exit 0).
pub fn exit_when_output_closes() {
    EXIT_ON_CLOSED_OUTPUT.store(true, Ordering::SeqCst);
}

/// Writes `data` to stdout and flushes it, never panicking. A closed pipe ends the
/// process if [`exit_when_output_closes`] was called; other errors are returned.
pub fn write_out(data: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let result = out.write_all(data).and_then(|()| out.flush());
    if let Err(e) = &result {
        if e.kind() == std::io::ErrorKind::BrokenPipe
            && EXIT_ON_CLOSED_OUTPUT.load(Ordering::SeqCst)
        {
            std::process::exit(0);
        }
    }
    result
}

/// Prints one line (`println!` that cannot panic).
pub fn say(text: &str) {
    let _ = write_out(format!("{text}\n").as_bytes());
}

/// Prints one line on stderr (`eprintln!` that cannot panic).
pub fn complain(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}
