//! The adversarial run (issue 14): everything hostile at once against one daemon —
//! clients racing start/stop/restart on the same instances, a reload storm (SIGHUP
//! and `reload`, with the file rewritten, sometimes truncated to nothing), a socket
//! client sending garbage, oversized and half-written requests, idle connections
//! and `notices` subscribers that never read, a FIFO planted at an output path and
//! a crash-looping program —
//! then asserts what must hold whatever happened: every request answered, `status`
//! equal to `/proc`, no zombie, descriptors and threads back to their baseline,
//! and nothing left running after the shutdown.
//!
//! 8 s in CI; `TASKMASTER_ADVERSARIAL_SECS=120 cargo test --test adversarial --
//! --nocapture` for longer. The seed is printed (`TASKMASTER_ADVERSARIAL_SEED` replays
//! the same choices; the timing, of course, differs).

mod common;
use common::rng::{env_num, Rng};
use common::*;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NAMES: &[&str] = &["steady", "crash", "loop", "stubborn", "trapped", "all"];

/// The config, with a knob the reload storm turns (`stoptime`, `numprocs`).
fn config(round: u64) -> String {
    format!(
        "programs:
  steady:
    cmd: TESTPROG sleep
    numprocs: {n}
    starttime: 0
    stoptime: {stop}
  crash:
    cmd: TESTPROG exit 1 0.3
    starttime: 0.1
    startretries: infinite
  loop:
    cmd: TESTPROG exit 0
    starttime: 0
    autorestart: always
    restart_throttle: false
  stubborn:
    cmd: TESTPROG ignore-term
    starttime: 0
    stoptime: 0.3
  trapped:
    cmd: TESTPROG sleep
    starttime: 0
    startretries: 1
    stdout: DIR/trapped.out
",
        n = 1 + round % 3,
        stop = 1 + round % 2,
    )
}

/// One request on its own connection: the reply line, or `None` if the daemon
/// closed the connection without one. Panics if no reply comes in 60 s.
fn ask(socket: &Path, command: &str, args: &[&str]) -> Option<serde_json::Value> {
    let mut stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(secs(60.0))).ok()?;
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    let line = format!(
        "{{\"command\": {command:?}, \"args\": [{}]}}\n",
        args.join(",")
    );
    stream.write_all(line.as_bytes()).ok()?;
    let mut reply = String::new();
    match BufReader::new(stream).read_line(&mut reply) {
        Ok(0) => None,
        Ok(_) => Some(serde_json::from_str(&reply).unwrap_or_else(|e| {
            panic!("{command} {args:?}: the reply is not JSON ({e}): {reply:?}")
        })),
        Err(e) => panic!("{command} {args:?}: no reply within 60 s ({e})"),
    }
}

/// Garbage, oversized and half-written requests, connections left idle, and
/// notice subscribers that never read.
fn hostile_client(socket: &Path, rng: &mut Rng, idle: &mut Vec<UnixStream>) {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return;
    };
    let _ = s.set_read_timeout(Some(secs(10.0)));
    match rng.below(6) {
        0 => {
            let junk: Vec<u8> = (0..rng.below(512)).map(|_| rng.below(256) as u8).collect();
            let _ = s.write_all(&junk).and_then(|()| s.write_all(b"\n"));
        }
        1 => {
            let _ = s.write_all(&vec![b'x'; 70 * 1024]);
        }
        2 => {
            let _ = s.write_all(b"{\"command\": \"stat");
        }
        3 => {
            let _ =
                s.write_all(b"{\"command\": \"status\", \"args\": [\"--json\", \"no:such\"]}\n");
        }
        // Subscribed to the crash loop's notices, and never reading them.
        4 => {
            if idle.len() < 20 && s.write_all(b"{\"command\": \"notices\"}\n").is_ok() {
                idle.push(s);
            }
            return;
        }
        _ => {
            if idle.len() < 20 {
                idle.push(s);
            }
            return;
        }
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
}

/// Pids of the daemon's children running programs (not its spawn helper), from
/// `/proc`, with whether each is a zombie.
fn children(daemon: i32) -> Vec<(i32, bool)> {
    program_children_of(daemon)
        .into_iter()
        .map(|p| (p, zombie(p)))
        .collect()
}

#[test]
fn everything_hostile_at_once_leaves_the_daemon_exact_and_clean() {
    let run_for = secs(env_num("TASKMASTER_ADVERSARIAL_SECS").unwrap_or(8.0));
    let seed = env_num("TASKMASTER_ADVERSARIAL_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 | 1)
    });
    println!("adversarial: seed {seed}, {run_for:?}");

    let dir = TempDir::new("adversarial");
    let config_path = write_config_file(&dir.0, &config(0));
    let mut d = Daemon::start_in(dir, config_path.clone());
    let socket: PathBuf = d.socket();
    let dpid = d.pid();
    d.wait_state("steady", "RUNNING", secs(10.0));
    // The baseline: the steady programs up (the crashing ones stopped, or the
    // counts never settle), nobody connected.
    ask(&socket, "stop", &["loop", "crash"]).expect("stop answers");
    let (fds0, threads0) = quiet_counts(dpid);
    ask(&socket, "start", &["loop", "crash"]).expect("start answers");

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let (reloads, hostile) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = Vec::new();
    // Clients racing lifecycle commands on the same instances.
    for c in 0..3u64 {
        let (socket, stop, answered) = (socket.clone(), stop.clone(), answered.clone());
        workers.push(std::thread::spawn(move || {
            let mut rng = Rng::new(seed.wrapping_add(c * 7919));
            while !stop.load(Ordering::SeqCst) {
                let verb = ["start", "stop", "restart", "status", "signal"][rng.below(5)];
                let name = NAMES[rng.below(NAMES.len())];
                let reply = match verb {
                    "signal" => ask(&socket, verb, &["USR2", name]),
                    _ => ask(&socket, verb, &[name]),
                };
                // A reply, or a connection refused during a socket move: never silence.
                if let Some(r) = reply {
                    assert!(r["output"].is_string(), "{verb} {name}: {r}");
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    // The reload storm: the file rewritten (now and then truncated to nothing,
    // as an editor racing the SIGHUP would), SIGHUP and `reload`.
    {
        let (socket, stop, config_path) = (socket.clone(), stop.clone(), config_path.clone());
        let reloads = reloads.clone();
        let dir = config_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        workers.push(std::thread::spawn(move || {
            let mut rng = Rng::new(seed ^ 0xabcdef);
            while !stop.load(Ordering::SeqCst) {
                let text = if rng.below(6) == 0 {
                    String::new()
                } else {
                    expand(&config(rng.range(0, 5)), &dir)
                };
                let _ = std::fs::write(&config_path, text);
                if rng.below(2) == 0 {
                    // SAFETY: kill(2) on the daemon this test started.
                    unsafe { nix::libc::kill(dpid, nix::libc::SIGHUP) };
                } else {
                    let _ = ask(&socket, "reload", &[]);
                }
                reloads.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(rng.range(20, 79)));
            }
        }));
    }
    // Garbage on the socket, and a FIFO that comes and goes at an output path.
    {
        let (socket, stop, hostile) = (socket.clone(), stop.clone(), hostile.clone());
        let trap = config_path.with_file_name("trapped.out");
        workers.push(std::thread::spawn(move || {
            let mut rng = Rng::new(seed ^ 0x1234567);
            let mut idle = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                hostile_client(&socket, &mut rng, &mut idle);
                hostile.fetch_add(1, Ordering::SeqCst);
                if rng.below(10) == 0 {
                    let _ = std::fs::remove_file(&trap);
                    if rng.below(2) == 0 {
                        let mode = nix::sys::stat::Mode::from_bits_truncate(0o600);
                        let _ = nix::unistd::mkfifo(&trap, mode);
                    }
                }
            }
            drop(idle);
        }));
    }

    let started = Instant::now();
    while started.elapsed() < run_for {
        std::thread::sleep(Duration::from_millis(100));
        // Zombies may exist for an instant (an exit not yet reaped), never for long.
        for (pid, z) in children(dpid) {
            if z {
                wait_for(&format!("zombie {pid} reaped"), secs(5.0), || {
                    (!zombie(pid)).then_some(())
                });
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join()
            .expect("a client went unanswered or saw a bad reply");
    }
    let answered = answered.load(Ordering::SeqCst);
    println!(
        "adversarial: {answered} lifecycle and status requests answered, {} reloads \
         asked for (SIGHUP or `reload`), {} hostile connections",
        reloads.load(Ordering::SeqCst),
        hostile.load(Ordering::SeqCst)
    );
    assert!(answered > 0);

    // Settle: the final config, applied; everything started.
    std::fs::write(&config_path, expand(&config(0), &d.dir.0)).expect("final config");
    let _ = std::fs::remove_file(d.path("trapped.out"));
    let reply = ask(&socket, "reload", &[]).expect("the final reload answers");
    assert!(reply["output"].is_string(), "{reply}");
    ask(&socket, "start", &["all"]).expect("start all answers");
    ask(&socket, "stop", &["loop", "crash"]).expect("stop answers");
    for name in ["steady", "stubborn", "trapped"] {
        d.wait_state(name, "RUNNING", secs(20.0));
    }

    // status equals /proc: every listed pid is a live child, every live child listed.
    let listed: BTreeSet<i32> = wait_for("status and /proc to agree", secs(20.0), || {
        let status = d.status();
        let listed: BTreeSet<i32> = status
            .iter()
            .filter_map(|i| i["pid"].as_i64().map(|p| p as i32))
            .collect();
        let live: BTreeSet<i32> = children(dpid)
            .into_iter()
            .filter(|(_, z)| !z)
            .map(|(p, _)| p)
            .collect();
        (listed.iter().all(|p| live.contains(p)) && live.iter().all(|p| listed.contains(p)))
            .then_some(listed)
    });
    assert!(!listed.is_empty());

    // Descriptors and threads back where they were (the same programs run).
    let (fds, threads) = wait_for(
        "descriptors and threads back to the baseline",
        secs(30.0),
        || {
            let (fds, threads) = quiet_counts(dpid);
            (fds <= fds0 && threads <= threads0).then_some((fds, threads))
        },
    );
    println!(
        "adversarial: baseline {fds0} fds / {threads0} threads, after {fds} / {threads}; \
         {} processes checked against /proc",
        listed.len()
    );

    // Nothing left after the shutdown: no child of the daemon, and every pid
    // `status` showed is gone.
    assert_eq!(d.finish(secs(30.0)), 0);
    for pid in listed {
        assert!(!alive(pid), "pid {pid} outlived the shutdown");
    }
}
