//! `taskmasterctl --stdio`: the remote end of an ssh connection (README: Many
//! hosts over SSH). It connects to the local daemon's socket and copies bytes both
//! ways — stdin to the socket, the socket to stdout — without reading them, so
//! requests, replies, streams and attach frames all pass as they are.
//!
//! Each direction is one fixed buffer (nothing accumulates: a slow side holds the
//! other back, as a socket would). The end of stdin is passed on as the end of the
//! client's writing (`shutdown(Write)`), so a reply still comes back; the end of
//! the daemon's side, or a stdout nobody reads any more, ends the relay.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// The bytes copied at once, each way.
const CHUNK: usize = 64 * 1024;

/// How the relay ended, as `taskmasterctl --stdio`'s exit status.
pub const EXIT_DONE: u8 = 0;
/// The daemon's socket could not be reached (as taskmasterctl's own code 3).
pub const EXIT_UNREACHABLE: u8 = 3;

/// Relays stdin/stdout to the daemon at `socket` until one side ends.
pub fn relay(socket: &Path) -> u8 {
    let stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => {
            crate::control::client::complain(&format!(
                "taskmasterctl --stdio: cannot reach taskmaster at {}: {e}",
                socket.display()
            ));
            return EXIT_UNREACHABLE;
        }
    };
    relay_on(stream, std::io::stdin(), std::io::stdout())
}

/// The relay between `stream` and the given input and output (stdin and stdout,
/// or a test's own). Returns when the daemon's side ends or `output` fails; the
/// input's thread, blocked in a read, ends with the process.
pub fn relay_on(
    stream: UnixStream,
    input: impl Read + Send + 'static,
    mut output: impl Write,
) -> u8 {
    let Ok(mut to_daemon) = stream.try_clone() else {
        crate::control::client::complain("taskmasterctl --stdio: cannot duplicate the socket");
        return EXIT_UNREACHABLE;
    };
    let forward = std::thread::Builder::new()
        .name("stdio-in".into())
        .stack_size(crate::stack::THREAD_STACK)
        .spawn(move || {
            let mut input = input;
            let mut buf = vec![0u8; CHUNK];
            loop {
                match input.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to_daemon.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            // The client is done writing: the daemon reads end of file (a stream
            // or attach ends) and still answers what it was asked.
            let _ = to_daemon.shutdown(Shutdown::Write);
        });
    if forward.is_err() {
        crate::control::client::complain("taskmasterctl --stdio: cannot start a thread");
        return EXIT_UNREACHABLE;
    }
    let mut from_daemon = stream;
    let mut buf = vec![0u8; CHUNK];
    loop {
        match from_daemon.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if output
                    .write_all(&buf[..n])
                    .and_then(|()| output.flush())
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    EXIT_DONE
}
