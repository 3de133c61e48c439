//! The modes that write or copy a stream: `flood` and `pour` (a known byte
//! pattern, to check every byte arrived once and in order), `chatty` and `echo`.

use nix::sys::signal::{self, SigAction, SigHandler, SigSet, Signal};
use nix::unistd;
use std::io::{self, BufRead, Write};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::signals::{on_signal, GOT_SIGNAL};
use super::{say, unix_now};

pub fn flood(total: u64) -> i32 {
    const CHUNK: usize = 1 << 20;
    const PERIOD: usize = 251;
    // Report EPIPE as a write error (exit 3) rather than dying of SIGPIPE.
    // SAFETY: SIG_IGN installs no handler code.
    let _ = unsafe { signal::signal(Signal::SIGPIPE, SigHandler::SigIgn) };
    // Byte at stream position i is i % 251; a chunk starting at `pos` is the slice of this
    // buffer starting at `pos % 251`.
    let pattern: Vec<u8> = (0..CHUNK + PERIOD).map(|i| (i % PERIOD) as u8).collect();
    let mut pos: u64 = 0;
    while pos < total {
        let len = (total - pos).min(CHUNK as u64) as usize;
        let start = (pos % PERIOD as u64) as usize;
        // Straight to fd 1 (std's line-buffered stdout would split the chunks at newlines).
        let mut chunk = &pattern[start..start + len];
        while !chunk.is_empty() {
            match unistd::write(io::stdout(), chunk) {
                Ok(n) => chunk = &chunk[n..],
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return 3,
            }
        }
        pos += len as u64;
    }
    0
}

/// Writes the flood's pattern until SIGTERM, then how many bytes it wrote: every
/// one of them must be in the output file, once, in order. Every write ends with
/// a `\r` (byte 13: the first write is 14 bytes, the others 16 periods), which a
/// pty's reader holds back to see whether `\n` follows.
pub fn pour(count_file: &str) -> Result<i32, String> {
    const WRITE: usize = 16 * 251;
    const PERIOD: usize = 251;
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        signal::SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { signal::sigaction(Signal::SIGTERM, &action) }
        .map_err(|e| format!("cannot trap SIGTERM: {e}"))?;
    let pattern: Vec<u8> = (0..WRITE + PERIOD).map(|i| (i % PERIOD) as u8).collect();
    let mut pos: u64 = 0;
    while !GOT_SIGNAL.load(Ordering::SeqCst) {
        let start = (pos % PERIOD as u64) as usize;
        let len = if pos == 0 { 14 } else { WRITE };
        match unistd::write(io::stdout(), &pattern[start..start + len]) {
            Ok(n) => pos += n as u64,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(format!("write: {e}")),
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::fs::write(count_file, pos.to_string()).map_err(|e| format!("{count_file}: {e}"))?;
    Ok(0)
}

pub fn chatty() -> ! {
    for n in 1u64.. {
        let t = unix_now().as_secs_f64();
        say(&format!("{t:.3} chatty stdout line {n}"));
        if n % 5 == 0 {
            let mut err = io::stderr().lock();
            let _ = writeln!(err, "{t:.3} chatty stderr line {n}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    unreachable!("u64 range exhausted")
}

pub fn echo() -> i32 {
    let mut input = io::stdin().lock();
    let mut out = io::stdout().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => return 0,
            Ok(_) => {
                if out.write_all(&line).and_then(|()| out.flush()).is_err() {
                    return 3;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("taskmaster-testprog: echo: read stdin: {e}");
                return 1;
            }
        }
    }
}
