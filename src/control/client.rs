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
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::protocol::{Request, Response};

/// A connection to the daemon.
pub struct Client {
    pub path: PathBuf,
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach taskmaster at {path}: {why}")]
    Unreachable { path: PathBuf, why: String },
    #[error("the connection to taskmaster at {path} broke: {why}")]
    Broken { path: PathBuf, why: String },
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let unreachable = |why: String| ClientError::Unreachable {
            path: path.to_path_buf(),
            why,
        };
        let stream = UnixStream::connect(path).map_err(|e| unreachable(e.to_string()))?;
        let reader = BufReader::new(stream.try_clone().map_err(|e| unreachable(e.to_string()))?);
        Ok(Client {
            path: path.to_path_buf(),
            writer: stream,
            reader,
        })
    }

    /// Sends one command and reads its reply line.
    pub fn request(&mut self, command: &str, args: &[String]) -> Result<Response, ClientError> {
        let broken = |why: String| ClientError::Broken {
            path: self.path.clone(),
            why,
        };
        let line = Request::new(command, args).line();
        self.writer
            .write_all(line.as_bytes())
            .map_err(|e| broken(e.to_string()))?;
        let mut reply = String::new();
        match self.reader.read_line(&mut reply) {
            Ok(0) => Err(broken("the daemon closed the connection".into())),
            Ok(_) => serde_json::from_str(&reply).map_err(|e| broken(format!("bad reply: {e}"))),
            Err(e) => Err(broken(e.to_string())),
        }
    }

    /// After a streaming reply (`tail -f`): the raw bytes that follow.
    pub fn stream(&mut self) -> &mut BufReader<UnixStream> {
        &mut self.reader
    }

    /// The buffered reader (holding whatever followed the reply) and the writer.
    pub fn into_parts(self) -> (BufReader<UnixStream>, UnixStream) {
        (self.reader, self.writer)
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
