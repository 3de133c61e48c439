//! 7. `tail -f`: streaming over the raw socket and through `taskmasterctl`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::support::*;
use super::CTL;
use crate::common::*;

/// The highest `line N` in `text`.
fn last_line_number(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.strip_prefix("line ")?.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

const TICKER_YAML: &str =
    "programs:\n  ticker:\n    cmd: TESTPROG lines 1000 0.05\n    starttime: 0\n";

#[test]
fn tail_f_over_the_raw_socket_streams_until_the_client_closes() {
    let mut d = Daemon::start("ctl-tailf", TICKER_YAML);
    let sock = d.socket();
    let pid = wait_running(&sock, &["ticker"], secs(10.0))["ticker"];
    wait_for("some output", secs(10.0), || {
        (last_line_number(&ctl_ok(&sock, &["tail", "ticker"], 0)) >= 3).then_some(())
    });

    let (mut stream, mut reader) = connect(&sock);
    stream
        .write_all(b"{\"command\": \"tail\", \"args\": [\"-f\", \"ticker\"]}\n")
        .expect("send");
    let reply = read_reply(&mut reader);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["stream"], true, "{reply}");
    let initial = reply["output"].as_str().expect("output").to_string();
    let start = last_line_number(&initial);
    assert!(start >= 3, "the reply holds the recent lines: {initial:?}");

    // New lines arrive as raw bytes after the reply line.
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // Each read blocks until the stream has more: no sleep between reads.
    let streamed = poll_until(secs(10.0), Duration::ZERO, || {
        let n = reader.read(&mut buf).expect("read the stream");
        assert!(n > 0, "the stream ended early: {raw:?}");
        raw.extend_from_slice(&buf[..n]);
        (last_line_number(&String::from_utf8_lossy(&raw)) >= start + 3).then_some(())
    });
    assert!(
        streamed.is_some(),
        "no new lines after line {start}: {raw:?}"
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with(&format!("line {}\n", start + 1)),
        "the stream continues right after the reply: {text:?}"
    );
    assert!(threads_named(d.pid(), "control") >= 1);

    // Closing the client ends the stream on the daemon's side.
    drop((stream, reader));
    wait_for("the follow to end", secs(10.0), || {
        (threads_named(d.pid(), "control") == 0 && threads_named(d.pid(), "control-eof") == 0)
            .then_some(())
    });
    assert_eq!(instance(&sock, "ticker")["pid"], pid);
    assert_eq!(instance(&sock, "ticker")["state"], "RUNNING");
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn tail_f_through_taskmasterctl_until_killed() {
    let mut d = Daemon::start("ctl-tailf-ctl", TICKER_YAML);
    let sock = d.socket();
    let pid = wait_running(&sock, &["ticker"], secs(10.0))["ticker"];

    let mut client = Command::new(CTL)
        .arg("-s")
        .arg(&sock)
        .args(["tail", "-f", "ticker"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start taskmasterctl tail -f");
    let stdout = client.stdout.take().expect("stdout");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    // Lines keep coming: well past what was there when the command started.
    let first = wait_for("first lines", secs(10.0), || {
        let l = lines.lock().unwrap();
        (!l.is_empty()).then(|| last_line_number(&l.join("\n")))
    });
    wait_for("streamed lines", secs(10.0), || {
        (last_line_number(&lines.lock().unwrap().join("\n")) >= first + 5).then_some(())
    });
    assert!(
        client.try_wait().expect("try_wait").is_none(),
        "still following"
    );
    client.kill().expect("kill taskmasterctl");
    client.wait().expect("reap taskmasterctl");
    reader.join().expect("reader");

    let got = lines.lock().unwrap().clone();
    let numbers: Vec<u64> = got
        .iter()
        .filter_map(|l| l.strip_prefix("line ")?.parse().ok())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive lines, nothing lost or repeated: {got:?}"
    );
    wait_for("the follow to end", secs(10.0), || {
        (threads_named(d.pid(), "control") == 0).then_some(())
    });
    assert_eq!(instance(&sock, "ticker")["pid"], pid);
    assert_eq!(d.finish(secs(20.0)), 0);
}
