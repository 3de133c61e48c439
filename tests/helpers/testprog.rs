//! `taskmaster-testprog`: a small, predictable child program for the integration tests.
//!
//! Usage: `taskmaster-testprog MODE [ARGS...]` — see `USAGE` below. Unknown modes and bad
//! arguments print a message on stderr and exit 2; a failed write to stdout exits 3.
//!
//! The program uses `#![no_main]` on purpose: Rust's normal start-up code sets SIGPIPE to
//! "ignored" and reopens closed fds 0-2 on /dev/null, which would hide from `report` the
//! signal dispositions and descriptors that taskmaster really gave the child. With our own
//! C `main`, the process starts exactly as exec left it (std still works: on Linux it
//! captures argv/environ through `.init_array`).
//!
//! This file reads the command line and runs the mode; the modes' parts are beside it
//! under `testprog/` (`args`, `support`, `signals`, `streams`, `forks`, `report`),
//! and the orphaning modes in `escape.rs`.
#![no_main]

use nix::libc;
use nix::sys::signal::{self, SigHandler, Signal};
use nix::unistd;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::time::Duration;

#[path = "testprog/args.rs"]
mod args;
mod escape;
#[path = "testprog/forks.rs"]
mod forks;
#[path = "testprog/report.rs"]
mod report;
#[path = "testprog/signals.rs"]
mod signals;
#[path = "testprog/streams.rs"]
mod streams;
#[path = "testprog/support.rs"]
mod support;

use args::{parse, parse_secs, parse_signal, parse_size};
use forks::{alloc, fork_children};
use report::report;
use signals::wait_for_signal;
use streams::{chatty, echo, flood, pour};
use support::{say, sleep_forever, unix_now, write_atomically};

const USAGE: &str = "usage: taskmaster-testprog MODE [ARGS...]
  sleep                      sleep forever
  exit CODE [AFTER_SECS]     exit with CODE, optionally after AFTER_SECS (float)
  ignore-term                ignore SIGTERM, print `ready`, sleep forever
  trap SIGNAME               print `ready`, wait for SIGNAME, print `got SIGxxx`, exit 0
  quiet-until SIGNAME        print nothing until SIGNAME, then `woke` on stdout and
                             `woke-err` on stderr, sleep forever
  flood BYTES                write BYTES (suffix K/M/G) of pattern i%251 to stdout, exit 0
  pour COUNTFILE             write pattern i%251 to stdout, 4016 bytes a millisecond, each write
                             ending with byte 13 (\r), until SIGTERM; then write the number
                             of bytes written to COUNTFILE, exit 0
  print OUT [ERR]            print OUT on stdout (and ERR on stderr), sleep forever
  lines N [INTERVAL_SECS]    print `line 1`..`line N`, INTERVAL apart, sleep forever
  chatty                     timestamped line on stdout every 0.2 s (every 5th also on stderr)
  fork N PIDFILE             fork N sleeping grandchildren, write pids, print `ready`
  fork-ignore N PIDFILE      same, grandchildren ignore SIGTERM
  alloc MIB [DEPTH]          fork DEPTH levels deep (each parent sleeps), then hold MIB MiB
                             of touched memory in the last process, print `ready`, sleep
  report FILE                write pid/ids/umask/cwd/env/fds/signals/tty as JSON, sleep
  hold BYTES                 keep BYTES (suffix K/M/G) of memory resident, print `ready`,
                             sleep forever
  echo                       copy stdin to stdout line by line until EOF, exit 0
  stamp FILE [then MODE ...] append `<unix time> <pid>` to FILE, then run MODE (default sleep)
  double-fork PIDFILE stay|exit [ignore|anon]
                             orphan a grandchild in its own session (pid in PIDFILE; ignoring
                             SIGTERM, or with an empty environment), print `ready`, sleep or exit 0
  scatter N FILE             orphan N short-lived grandchildren in their own sessions, each
                             appending `PID PPID` to FILE once adopted; print `ready`, sleep
  daemonize PIDFILE [late|wrong]
                             fork, setsid, fork: the grandchild writes its pid to PIDFILE (late:
                             after 0.3 s; wrong: `1`) and sleeps; exit 0 once in the background";
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A panic must not unwind out of an `extern "C"` function; report it as exit 101.
    let code = std::panic::catch_unwind(|| run(&args)).unwrap_or(101);
    std::process::exit(code)
}

/// Runs one mode; returns the exit code (modes that sleep forever never return).
fn run(args: &[String]) -> i32 {
    match dispatch(args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("taskmaster-testprog: {msg}\n{USAGE}");
            2
        }
    }
}

fn dispatch(args: &[String]) -> Result<i32, String> {
    let mode = args.first().ok_or("missing MODE")?;
    let rest: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    let arity = |min: usize, max: usize| -> Result<(), String> {
        if rest.len() < min || rest.len() > max {
            return Err(format!(
                "{mode}: expected {min}..={max} arguments, got {}",
                rest.len()
            ));
        }
        Ok(())
    };
    match mode.as_str() {
        "sleep" => {
            arity(0, 0)?;
            sleep_forever()
        }
        "exit" => {
            arity(1, 2)?;
            let code: u8 = parse(rest[0], "CODE")?;
            if let Some(after) = rest.get(1) {
                std::thread::sleep(parse_secs(after)?);
            }
            Ok(i32::from(code))
        }
        "ignore-term" => {
            arity(0, 0)?;
            // SAFETY: setting a disposition to SIG_IGN installs no Rust code as a handler.
            unsafe { signal::signal(Signal::SIGTERM, SigHandler::SigIgn) }
                .map_err(|e| format!("signal(SIGTERM): {e}"))?;
            say("ready");
            sleep_forever()
        }
        "trap" => {
            arity(1, 1)?;
            let sig = parse_signal(rest[0])?;
            wait_for_signal(sig, true)?;
            say(&format!("got {}", sig.as_str()));
            Ok(0)
        }
        "quiet-until" => {
            arity(1, 1)?;
            wait_for_signal(parse_signal(rest[0])?, false)?;
            say("woke");
            let mut stderr = io::stderr().lock();
            let _ = writeln!(stderr, "woke-err").and_then(|()| stderr.flush());
            sleep_forever()
        }
        "flood" => {
            arity(1, 1)?;
            Ok(flood(parse_size(rest[0])?))
        }
        "pour" => {
            arity(1, 1)?;
            pour(rest[0])
        }
        "print" => {
            arity(1, 2)?;
            say(rest[0]);
            if let Some(err) = rest.get(1) {
                let mut stderr = io::stderr().lock();
                // Best effort: a closed stderr is not this mode's concern.
                let _ = writeln!(stderr, "{err}").and_then(|()| stderr.flush());
            }
            sleep_forever()
        }
        "lines" => {
            arity(1, 2)?;
            let n: u64 = parse(rest[0], "N")?;
            let interval = rest.get(1).map_or(Ok(Duration::ZERO), |s| parse_secs(s))?;
            for i in 1..=n {
                if i > 1 {
                    std::thread::sleep(interval);
                }
                say(&format!("line {i}"));
            }
            sleep_forever()
        }
        "chatty" => {
            arity(0, 0)?;
            chatty()
        }
        "fork" | "fork-ignore" => {
            arity(2, 2)?;
            let n: usize = parse(rest[0], "N")?;
            fork_children(n, rest[1], mode == "fork-ignore")
        }
        "alloc" => {
            arity(1, 2)?;
            let mib: usize = parse(rest[0], "MIB")?;
            let depth: u32 = rest.get(1).map_or(Ok(0), |d| parse(d, "DEPTH"))?;
            alloc(mib, depth)
        }
        "report" => {
            arity(1, 1)?;
            let json = report();
            write_atomically(rest[0], &format!("{json}\n"))?;
            sleep_forever()
        }
        "echo" => {
            arity(0, 0)?;
            Ok(echo())
        }
        "hold" => {
            arity(1, 1)?;
            let size = usize::try_from(parse_size(rest[0])?).map_err(|e| e.to_string())?;
            // Non-zero bytes: every page is touched, so all of it is resident.
            let held = vec![1u8; size];
            say("ready");
            std::hint::black_box(&held);
            sleep_forever()
        }
        "stamp" => stamp(&rest),
        "double-fork" => {
            arity(2, 3)?;
            escape::double_fork(rest[0], rest[1], rest.get(2).copied())
        }
        "daemonize" => {
            arity(1, 2)?;
            escape::daemonize(rest[0], rest.get(1).copied())
        }
        "scatter" => {
            arity(2, 2)?;
            escape::scatter(parse(rest[0], "N")?, rest[1])
        }
        _ => Err(format!("unknown mode {mode:?}")),
    }
}

fn stamp(rest: &[&str]) -> Result<i32, String> {
    let file = rest.first().ok_or("stamp: missing FILE")?;
    let then: Vec<String> = match rest.get(1) {
        None => vec!["sleep".to_string()],
        Some(&"then") if rest.len() > 2 => rest[2..].iter().map(|s| s.to_string()).collect(),
        Some(_) => return Err("stamp: expected `then MODE [ARGS...]` after FILE".into()),
    };
    let now = unix_now();
    let line = format!(
        "{}.{:09} {}\n",
        now.as_secs(),
        now.subsec_nanos(),
        unistd::getpid()
    );
    let mut f: File = OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
        .map_err(|e| format!("open {file}: {e}"))?;
    // One write(2) of the whole line: O_APPEND keeps concurrent stamps from interleaving.
    f.write_all(line.as_bytes())
        .map_err(|e| format!("write {file}: {e}"))?;
    drop(f);
    dispatch(&then)
}
