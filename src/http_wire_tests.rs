//! The reader's bounds over a real loopback connection, with each server's
//! choices: a body or none, and what a silent client gets.

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};

use super::*;

const WITH_BODY: Limits = Limits {
    max_head: 256,
    max_body: Some(16),
    request_time: Duration::from_secs(10),
};

/// What reading the request a client sends (then closing its side, if `close`) gives.
fn read(limits: Limits, sent: &[u8], close: bool) -> Result<Request, ReadError> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.write_all(sent).unwrap();
    if close {
        client.shutdown(Shutdown::Write).unwrap();
    }
    let (mut server, _) = listener.accept().unwrap();
    read_request(&mut server, &limits)
}

fn status(result: Result<Request, ReadError>) -> u16 {
    match result {
        Err(ReadError::Answer(status, _)) => status,
        Err(other) => panic!("no answer: {other:?}"),
        Ok(request) => panic!("read {} {}", request.method, request.path),
    }
}

#[test]
fn a_whole_request_is_read_with_its_body_and_query() {
    let sent = b"POST /api/x?token=a%20b&y HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
    let request = read(WITH_BODY, sent, false).unwrap();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/api/x")
    );
    assert_eq!(request.query_param("token").as_deref(), Some("a b"));
    assert_eq!(request.header("host"), Some("h"));
    assert_eq!(request.body, b"hello");
}

#[test]
fn each_bound_has_its_status() {
    let head_over = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 300]].concat();
    assert_eq!(status(read(WITH_BODY, &head_over, false)), 431);
    let body_over = b"POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n";
    assert_eq!(status(read(WITH_BODY, body_over, false)), 413);
    let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(status(read(WITH_BODY, chunked, false)), 411);
    assert_eq!(
        status(read(WITH_BODY, b"\x16\x03\x01 x\r\n\r\n", false)),
        400
    );
    assert_eq!(status(read(WITH_BODY, b"GET / HT", true)), 400);
    assert_eq!(read(WITH_BODY, b"", true).err(), Some(ReadError::Gone));
}

#[test]
fn a_server_without_bodies_reads_none_and_refuses_none() {
    let no_body = Limits {
        max_body: None,
        ..WITH_BODY
    };
    // A length past any bound, never read: the request is whole at its head.
    let sent = b"POST /metrics HTTP/1.1\r\nContent-Length: 999999\r\n\r\nabc";
    let request = read(no_body, sent, false).unwrap();
    assert!(request.body.is_empty());
    assert_eq!(request.leftover, b"abc");
}

#[test]
fn a_silent_client_is_told_apart_from_a_slow_one() {
    let quick = Limits {
        request_time: Duration::from_millis(200),
        ..WITH_BODY
    };
    assert_eq!(read(quick, b"", false).err(), Some(ReadError::Silent));
    assert_eq!(status(read(quick, b"GET /metr", false)), 408);
}
