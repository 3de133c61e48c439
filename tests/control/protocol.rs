//! The wire protocol under stress: malformed requests, and fifty clients at once.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Barrier, Mutex};

use super::support::*;
use super::VERSION;
use crate::common::*;

// ---- 5. malformed requests ----------------------------------------------------------------

#[test]
fn malformed_requests_get_errors_and_change_nothing() {
    let mut d = Daemon::start(
        "ctl-malformed",
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    starttime: 0\n  pool:\n    cmd: TESTPROG sleep\n    numprocs: 2\n    starttime: 0\n",
    );
    let sock = d.socket();
    wait_running(&sock, &["sleeper", "pool:0", "pool:1"], secs(10.0));
    let before = snapshot(&sock);
    let unchanged = |what: &str| {
        assert_eq!(snapshot(&sock), before, "after {what}");
    };

    for bad in [
        &b"this is not json\n"[..],
        b"{\"args\": [\"--json\"]}\n",
        b"{\"command\": 12}\n",
        b"{\"command\": \"status\", \"args\": \"--json\"}\n",
        b"{\"command\": \"stop\", \"args\": [\"all\"]\n",
    ] {
        let what = String::from_utf8_lossy(bad).trim_end().to_string();
        let reply = request(&sock, bad);
        assert_eq!(reply["ok"], false, "{what}: {reply}");
        assert_eq!(reply["exit"], 2, "{what}: {reply}");
        assert!(
            reply["output"].as_str().is_some_and(|o| !o.is_empty()),
            "{what}: says why: {reply}"
        );
        unchanged(&what);
    }

    // An empty line is ignored: the first reply is the next request's.
    let (mut stream, mut reader) = connect(&sock);
    stream
        .write_all(b"\n\n{\"command\": \"version\"}\n")
        .expect("send");
    let reply = read_reply(&mut reader);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["output"], VERSION, "{reply}");
    drop((stream, reader));
    unchanged("empty lines");

    // Over 64 KiB: an error reply, then the daemon closes the connection.
    let (stream, mut reader) = connect(&sock);
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let mut big = vec![b'x'; 70 * 1024];
        big.push(b'\n');
        // The daemon may close before everything is written: EPIPE is fine.
        let _ = writer.write_all(&big);
    });
    let reply = read_reply(&mut reader);
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["exit"], 2, "{reply}");
    let mut rest = Vec::new();
    let end = reader.read_to_end(&mut rest);
    assert!(
        matches!(end, Ok(0)) || end.is_err(),
        "the connection is closed after the error: {end:?}, {rest:?}"
    );
    sender.join().expect("sender");
    drop(stream);
    unchanged("a request over 64 KiB");

    // A large but valid request (under the limit) still works.
    let padded = format!(
        "{{\"command\": \"version\", \"args\": []{}}}\n",
        " ".repeat(60 * 1024)
    );
    let reply = request(&sock, padded.as_bytes());
    assert_eq!(
        reply["output"], VERSION,
        "a 60 KiB request is fine: {reply}"
    );

    // No trailing newline, then a half-close: still answered.
    let (stream, mut reader) = connect(&sock);
    (&stream)
        .write_all(b"{\"command\": \"pid\"}")
        .expect("send");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let reply = read_reply(&mut reader);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["output"], d.pid().to_string(), "{reply}");
    drop((stream, reader));

    // A client that connects and goes away without a word.
    drop(UnixStream::connect(&sock).expect("connect"));
    unchanged("the half-closed request and a silent client");
    assert_eq!(ctl_ok(&sock, &["version"], 0).trim(), VERSION);
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 6. concurrent clients ----------------------------------------------------------------

#[test]
fn fifty_concurrent_clients_all_get_their_reply() {
    let mut d = Daemon::start(
        "ctl-concurrent",
        "programs:\n  pool:\n    cmd: TESTPROG sleep\n    numprocs: 5\n    starttime: 0\n",
    );
    let sock = d.socket();
    let names: Vec<String> = (0..5).map(|i| format!("pool:{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let pids = wait_running(&sock, &refs, secs(10.0));

    const CLIENTS: usize = 50;
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (sock, barrier, failures, pids) = (
                sock.clone(),
                barrier.clone(),
                failures.clone(),
                pids.clone(),
            );
            std::thread::spawn(move || {
                let (mut stream, mut reader) = connect(&sock);
                barrier.wait();
                stream
                    .write_all(b"{\"command\": \"status\", \"args\": [\"--json\"]}\n")
                    .expect("send");
                let reply = read_reply(&mut reader);
                let got: BTreeMap<String, i32> = reply["data"]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|i| {
                                Some((i["name"].as_str()?.to_string(), i["pid"].as_i64()? as i32))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if reply["ok"] != true || reply["exit"] != 0 || got != pids {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("client {n}: {reply}"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "bad replies: {failures:#?}");
    assert_eq!(d.finish(secs(20.0)), 0);
}
