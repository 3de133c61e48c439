//! The WebSockets: `/ws` pushes status and events and follows output; commands
//! go over it too; `/ws/attach` is an attach session.

use std::net::TcpStream;

use serde_json::Value;
use tungstenite::{Message, WebSocket};

use super::*;

type Socket = WebSocket<TcpStream>;

/// Opens `path` as the page would: the cookie, the page's origin.
fn open(web: &Web, path: &str) -> Socket {
    let stream = TcpStream::connect(&web.addr).unwrap();
    stream.set_read_timeout(Some(short())).unwrap();
    let request = tungstenite::http::Request::builder()
        .uri(format!("ws://{}{path}", web.addr))
        .header("Host", &web.addr)
        .header("Origin", web.origin())
        .header("Cookie", web.cookie())
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header(
            "Sec-WebSocket-Key",
            tungstenite::handshake::client::generate_key(),
        )
        .body(())
        .unwrap();
    let (socket, _) = tungstenite::client(request, stream).expect("WebSocket handshake");
    socket
}

/// Reads until a text message satisfies `pred`.
fn until(socket: &mut Socket, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        match socket.read() {
            Ok(Message::Text(text)) => {
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                if pred(&value) {
                    return value;
                }
            }
            Ok(_) => {}
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
}

fn state_of(status: &Value, name: &str) -> Option<String> {
    (status["instances"].as_array()?.iter())
        .find(|i| i["name"] == name)
        .and_then(|i| i["state"].as_str().map(str::to_string))
}

#[test]
fn the_live_socket_pushes_status_and_events_and_runs_commands() {
    let (mut d, web) = start("web-live", SLEEPER);
    d.wait_state("sleeper", "RUNNING", short());
    let pid = d.pid_of("sleeper");
    let mut ws = open(&web, "/ws");
    until(&mut ws, "RUNNING", |m| {
        m["type"] == "status" && state_of(m, "sleeper").as_deref() == Some("RUNNING")
    });

    // A stop from another client is pushed: its events, then the new table.
    let socket = d.socket();
    std::thread::spawn(move || {
        let _ = std::process::Command::new(CTL)
            .arg("-s")
            .arg(socket)
            .args(["stop", "sleeper"])
            .output();
    });
    until(&mut ws, "the stop's event", |m| {
        m["type"] == "event" && m["event"]["kind"] == "stop_requested"
    });
    until(&mut ws, "STOPPED", |m| {
        m["type"] == "status" && state_of(m, "sleeper").as_deref() == Some("STOPPED")
    });
    assert!(gone(pid));

    // A command over the socket, answered with the reply line.
    let start = r#"{"type":"command","id":7,"command":"start","args":["sleeper"]}"#;
    ws.send(Message::text(start)).unwrap();
    let reply = until(&mut ws, "the reply", |m| m["type"] == "reply");
    assert_eq!(reply["id"], 7);
    assert_eq!(reply["reply"]["output"], "sleeper: started", "{reply}");
    until(&mut ws, "RUNNING again", |m| {
        m["type"] == "status" && state_of(m, "sleeper").as_deref() == Some("RUNNING")
    });
    // A bad message is answered, and the connection goes on.
    ws.send(Message::text("{\"type\":\"nonsense\"}")).unwrap();
    until(&mut ws, "the error", |m| m["type"] == "error");
    // A message over the bound ends the connection, and nothing else.
    let _ = ws.send(Message::text("x".repeat(200_000)));
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => break,
            Ok(Message::Text(text)) => assert!(!text.contains("\"error\""), "{text}"),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                panic!("still open after an oversized message")
            }
            Err(_) => break,
        }
    }
    assert_eq!(web.command("status", &[])["ok"], true);
    d.finish(secs(20.0));
}

#[test]
fn the_live_socket_follows_an_instances_output() {
    let programs = "  talker:\n    cmd: TESTPROG lines 100000 0.1\n    starttime: 0\n";
    let (mut d, web) = start("web-tail", programs);
    d.wait_state("talker", "RUNNING", short());
    let mut ws = open(&web, "/ws");
    ws.send(Message::text(r#"{"type":"tail","name":"talker"}"#))
        .unwrap();
    let head = until(&mut ws, "the tail", |m| m["type"] == "tail");
    assert_eq!(head["ok"], true, "{head}");
    let seq = head["seq"].as_u64().unwrap() as u32;
    let last = |text: &str| {
        (text.lines().filter_map(|l| l.strip_prefix("line ")))
            .filter_map(|n| n.trim().parse::<u64>().ok())
            .max()
    };
    let shown = last(head["text"].as_str().unwrap()).unwrap_or(0);
    // New lines come as binary messages, tagged with the tail's number.
    let mut followed = String::new();
    loop {
        match ws.read().expect("output") {
            Message::Binary(data) => {
                assert_eq!(u32::from_be_bytes(data[..4].try_into().unwrap()), seq);
                followed.push_str(&String::from_utf8_lossy(&data[4..]));
                if last(&followed).is_some_and(|n| n > shown + 2) {
                    break;
                }
            }
            Message::Text(_) => {}
            other => panic!("{other:?}"),
        }
    }
    drop(ws);
    d.finish(secs(20.0));
}

#[test]
fn attach_in_a_websocket_types_resizes_and_detaches() {
    let programs = "  shell:\n    cmd: /bin/sh -i\n    pty: true\n    starttime: 0\n";
    let (mut d, web) = start("web-attach", programs);
    d.wait_state("shell", "RUNNING", short());
    let mut ws = open(&web, "/ws/attach?name=shell");
    let reply = until(&mut ws, "the attach reply", |m| m["type"] == "reply");
    assert_eq!(reply["reply"]["ok"], true, "{reply}");
    assert_eq!(reply["reply"]["data"]["pty"], true);

    let mut output = String::new();
    let mut read_until = |ws: &mut Socket, want: &str| {
        while !output.contains(want) {
            let message =
                (ws.read()).unwrap_or_else(|e| panic!("waiting for {want:?}: {e} in {output:?}"));
            if let Message::Binary(data) = message {
                output.push_str(&String::from_utf8_lossy(&data));
            }
        }
    };
    let size = |rows: u16, cols: u16| {
        let (r, c) = (rows.to_be_bytes(), cols.to_be_bytes());
        Message::binary(vec![1, r[0], r[1], c[0], c[1]])
    };
    let input = |text: &str| {
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(text.len() as u16).to_be_bytes());
        frame.extend_from_slice(text.as_bytes());
        Message::binary(frame)
    };
    ws.send(size(31, 101)).unwrap();
    ws.send(input("stty size\n")).unwrap();
    read_until(&mut ws, "31 101");
    ws.send(size(42, 123)).unwrap();
    ws.send(input("echo $((6 * 7))x; stty size\n")).unwrap();
    read_until(&mut ws, "42x");
    read_until(&mut ws, "42 123");
    // Detach: the program goes on.
    let pid = d.pid_of("shell");
    ws.close(None).unwrap();
    d.wait_log("the detach", short(), |log| {
        log.contains("attach: a client left shell")
    });
    assert!(!gone(pid));
    assert_eq!(d.instance("shell")["state"], "RUNNING");

    // A name that is not running is answered, and the socket closed.
    let mut ws = open(&web, "/ws/attach?name=nosuch");
    let reply = until(&mut ws, "the refusal", |m| m["type"] == "reply");
    assert_eq!(reply["reply"]["output"], "nosuch: ERROR (no such process)");
    d.finish(secs(20.0));
}

#[test]
fn a_page_that_does_not_read_loses_output_and_is_told_but_never_slows_the_program() {
    let programs = "  flood:\n    cmd: TESTPROG flood 64M\n    autostart: false\n    \
                    autorestart: never\n    starttime: 0\n    exitcodes: [0]\n";
    let (mut d, web) = start("web-slow-page", programs);
    let mut ws = open(&web, "/ws");
    ws.send(Message::text(r#"{"type":"tail","name":"flood"}"#))
        .unwrap();
    until(&mut ws, "the tail", |m| m["type"] == "tail");
    // The page reads nothing while 64 MB go by: the program ends all the same.
    assert_eq!(web.command("start", &["flood"])["exit"], 0);
    d.wait_state("flood", "EXITED", secs(60.0));
    // What the page gets then says how much it lost.
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + secs(30.0);
    let told = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no note of lost output"
        );
        if let Message::Binary(data) = ws.read().expect("output") {
            seen.extend_from_slice(&data[4..]);
            let text = String::from_utf8_lossy(&seen);
            if let Some(at) = text.find("\n[... ") {
                let rest = &text[at + "\n[... ".len()..];
                if let Some(end) = rest.find(" bytes of output were lost") {
                    break rest[..end].to_string();
                }
            }
            let keep = seen.len().saturating_sub(96);
            seen.drain(..keep);
        }
    };
    assert!(told.parse::<u64>().is_ok_and(|n| n > 0), "{told}");
    d.finish(secs(20.0));
}
