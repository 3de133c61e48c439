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
#![no_main]

use nix::libc;
use nix::sys::signal::{self, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{self, ForkResult};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, IsTerminal, Write};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod escape;

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

/// Set by the `trap` mode's signal handler.
static GOT_SIGNAL: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    GOT_SIGNAL.store(true, Ordering::SeqCst);
}

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

// ---- argument parsing -------------------------------------------------------------------

fn parse<T: FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("bad {what}: {s:?}"))
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = parse(s, "seconds")?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("bad seconds: {s:?}"))
}

/// `123`, `4K`, `10M`, `1G` (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = parse(digits, "BYTES")?;
    n.checked_mul(unit)
        .ok_or_else(|| format!("BYTES too large: {s:?}"))
}

/// `USR1`, `SIGUSR1`, `usr1`, `int`...
fn parse_signal(s: &str) -> Result<Signal, String> {
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| format!("unknown signal {s:?}"))
}

// ---- helpers ----------------------------------------------------------------------------

/// Writes `line` and a newline to stdout and flushes; exits 3 if stdout is unusable.
fn say(line: &str) {
    let mut out = io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(3);
    }
}

fn sleep_forever() -> ! {
    loop {
        unistd::pause();
    }
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

/// Writes `path.tmp`, then renames it over `path`, so readers never see a partial file.
fn write_atomically(path: &str, contents: &str) -> Result<(), String> {
    let tmp = format!("{path}.tmp");
    fs::write(&tmp, contents).map_err(|e| format!("write {tmp}: {e}"))?;
    fs::rename(&tmp, path).map_err(|e| format!("rename {tmp} -> {path}: {e}"))
}

// ---- modes ------------------------------------------------------------------------------

/// Waits for `sig` (after printing `ready` when `announce`).
fn wait_for_signal(sig: Signal, announce: bool) -> Result<(), String> {
    // Block the signal while installing the handler, then wait for it with sigsuspend, so
    // a signal arriving between "check the flag" and "sleep" cannot be missed.
    let mut only = SigSet::empty();
    only.add(sig);
    let old_mask = only
        .thread_swap_mask(SigmaskHow::SIG_BLOCK)
        .map_err(|e| format!("sigprocmask: {e}"))?;
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        signal::SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { signal::sigaction(sig, &action) }
        .map_err(|e| format!("cannot trap {}: {e}", sig.as_str()))?;
    if announce {
        say("ready");
    }
    let mut wait_mask = old_mask;
    wait_mask.remove(sig);
    while !GOT_SIGNAL.load(Ordering::SeqCst) {
        wait_mask
            .suspend()
            .map_err(|e| format!("sigsuspend: {e}"))?;
    }
    Ok(())
}

fn flood(total: u64) -> i32 {
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
fn pour(count_file: &str) -> Result<i32, String> {
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

fn chatty() -> ! {
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

fn fork_children(n: usize, pidfile: &str, ignore_term: bool) -> Result<i32, String> {
    // For fork-ignore, set SIG_IGN before forking so the grandchildren ignore SIGTERM from
    // their first instant (no race with a test that signals as soon as PIDFILE appears),
    // then restore the default in the parent.
    let set_term = |h: SigHandler| {
        // SAFETY: SIG_IGN / SIG_DFL install no handler code.
        unsafe { signal::signal(Signal::SIGTERM, h) }.map_err(|e| format!("signal: {e}"))
    };
    if ignore_term {
        set_term(SigHandler::SigIgn)?;
    }
    let mut pids = vec![unistd::getpid()];
    for _ in 0..n {
        // SAFETY: this process is single-threaded, and the child only calls pause().
        match unsafe { unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
            ForkResult::Child => sleep_forever(),
            ForkResult::Parent { child } => pids.push(child),
        }
    }
    if ignore_term {
        set_term(SigHandler::SigDfl)?;
    }
    let text: String = pids.iter().map(|p| format!("{p}\n")).collect();
    write_atomically(pidfile, &text)?;
    say("ready");
    sleep_forever()
}

/// Holds `mib` MiB of resident memory in a process `depth` forks below this one.
fn alloc(mib: usize, depth: u32) -> Result<i32, String> {
    for _ in 0..depth {
        // SAFETY: this process is single-threaded; the parent only calls pause().
        match unsafe { unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
            ForkResult::Child => {}
            ForkResult::Parent { .. } => sleep_forever(),
        }
    }
    let bytes = mib.checked_mul(1 << 20).ok_or("MIB too large")?;
    // Filled with a non-zero byte: every page is written, so every page is resident.
    let block = std::hint::black_box(vec![1u8; bytes]);
    say("ready");
    let _keep = block;
    sleep_forever()
}

/// One line of /proc/self/status, e.g. `status_field("SigIgn")` -> `"0000000000001000"`.
fn status_field(name: &str) -> Option<String> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then(|| value.trim().to_string())
    })
}

fn open_fds() -> Vec<i32> {
    let mut fds: Vec<i32> = match fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    // The directory's own fd is closed now: keep only the fds that are still open.
    // SAFETY: F_GETFD only queries the descriptor flags.
    fds.retain(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1);
    fds.sort_unstable();
    fds
}

fn report() -> serde_json::Value {
    let old = umask(Mode::empty());
    umask(old);
    let env: serde_json::Map<String, serde_json::Value> = std::env::vars_os()
        .map(|(k, v)| {
            let value = v.to_string_lossy().into_owned();
            (k.to_string_lossy().into_owned(), value.into())
        })
        .collect();
    let groups: Vec<u32> = unistd::getgroups()
        .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default();
    serde_json::json!({
        "pid": unistd::getpid().as_raw(),
        "ppid": unistd::getppid().as_raw(),
        "pgid": unistd::getpgrp().as_raw(),
        "sid": unistd::getsid(None).map(|p| p.as_raw()).ok(),
        "uid": unistd::getuid().as_raw(),
        "gid": unistd::getgid().as_raw(),
        "groups": groups,
        "umask": format!("{:03o}", old.bits()),
        "cwd": std::env::current_dir().ok().map(|p| p.to_string_lossy().into_owned()),
        "argv": std::env::args().collect::<Vec<_>>(),
        "env": env,
        "fds": open_fds(),
        "sigmask": status_field("SigBlk"),
        "sigign": status_field("SigIgn"),
        "tty": [io::stdin().is_terminal(), io::stdout().is_terminal(), io::stderr().is_terminal()],
    })
}

fn echo() -> i32 {
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
