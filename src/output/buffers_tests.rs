//! Unit tests of `OutputBuffers` (the rings, followers' waits, file-backed streams).

use super::*;
use std::sync::Arc;
use std::thread;

#[test]
fn stream_names_round_trip() {
    for s in Stream::ALL {
        assert_eq!(s.name().parse::<Stream>(), Ok(s));
        assert_eq!(s.to_string(), s.name());
    }
    assert!("stdin".parse::<Stream>().is_err());
}

#[test]
fn tail_and_end_per_stream() {
    let b = OutputBuffers::new(1024);
    b.push(Stream::Stdout, b"a\nb\nc\n");
    b.push(Stream::Stderr, b"oops\n");
    assert_eq!(b.tail(Stream::Stdout, 2), b"b\nc\n");
    assert_eq!(b.tail(Stream::Stderr, 2), b"oops\n");
    assert_eq!(b.end(Stream::Stdout), 6);
    let tail = b.tail_and_end(Stream::Stderr, 1);
    assert_eq!(tail.text, b"oops\n");
    assert_eq!(tail.cursor.ring_offset(), 5);
    assert!(tail.problem.is_none());
    assert_eq!(b.snapshot(Stream::Stdout), (b"a\nb\nc\n".to_vec(), 6));
}

#[test]
fn wait_since_returns_what_is_already_there() {
    let b = OutputBuffers::new(4);
    b.push(Stream::Stderr, b"123456");
    let mut offs = [Cursor::at(0), Cursor::at(0)];
    let got = b.wait_since(&Stream::ALL, &mut offs, None);
    assert_eq!(
        got,
        vec![Chunk {
            stream: Stream::Stderr,
            data: b"3456".to_vec(),
            lost: 2
        }]
    );
    assert_eq!(offs.map(|c| c.ring_offset()), [0, 6]);
}

#[test]
fn wait_since_wakes_on_push_from_another_thread() {
    let b = Arc::new(OutputBuffers::new(1024));
    let mut offs = [
        Cursor::at(b.end(Stream::Stdout)),
        Cursor::at(b.end(Stream::Stderr)),
    ];
    let writer = {
        let b = Arc::clone(&b);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            b.push(Stream::Stderr, b"late\n");
        })
    };
    let t0 = Instant::now();
    let got = b.wait_since(&Stream::ALL, &mut offs, Some(Duration::from_secs(20)));
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].stream, Stream::Stderr);
    assert_eq!(got[0].data, b"late\n");
    assert_eq!(offs.map(|c| c.ring_offset()), [0, 5]);
    writer.join().expect("writer");
}

#[test]
fn wait_since_times_out_and_ignores_other_streams() {
    let b = OutputBuffers::new(1024);
    b.push(Stream::Stderr, b"not followed");
    let mut offs = [Cursor::at(0)];
    let t0 = Instant::now();
    let got = b.wait_since(
        &[Stream::Stdout],
        &mut offs,
        Some(Duration::from_millis(80)),
    );
    assert!(got.is_empty());
    assert!(t0.elapsed() >= Duration::from_millis(80));
    assert_eq!(offs.map(|c| c.ring_offset()), [0]);
}

#[test]
fn close_wakes_followers_for_good() {
    let b = Arc::new(OutputBuffers::new(1024));
    let follower = {
        let b = Arc::clone(&b);
        thread::spawn(move || {
            let mut offs = [Cursor::at(0), Cursor::at(0)];
            b.wait_since(&Stream::ALL, &mut offs, None)
        })
    };
    thread::sleep(Duration::from_millis(50));
    assert!(!b.is_closed());
    b.close();
    assert!(b.is_closed());
    assert!(follower.join().expect("follower").is_empty());
    // Even with data there, a closed buffer never blocks (a wait with no timeout
    // returns) and returns nothing.
    b.push(Stream::Stdout, b"x");
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = Arc::clone(&b);
    thread::spawn(move || {
        let _ = tx.send(waiter.wait_since(&Stream::ALL, &mut [Cursor::at(0), Cursor::at(0)], None));
    });
    let got = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a closed buffer's wait returns");
    assert!(got.is_empty());
    assert_eq!(b.tail(Stream::Stdout, 1), b"x");
}

#[test]
fn newest_is_the_end_of_the_stream_that_spoke_last() {
    let b = OutputBuffers::new(1024);
    assert_eq!(b.newest(16), b"");
    b.push(Stream::Stdout, b"out 1\n");
    b.push(Stream::Stderr, b"err 1\n");
    assert_eq!(b.newest(16), b"out 1\nerr 1\n"[6..]);
    b.push(Stream::Stdout, b"out 2\n");
    assert_eq!(b.newest(16), b"out 1\nout 2\n");
    // Bounded: only the last `max` bytes are copied.
    b.push(Stream::Stdout, &[b'x'; 500]);
    assert_eq!(b.newest(16), [b'x'; 16]);
}

#[test]
fn newest_reads_a_spliced_streams_file() {
    let dir = std::env::temp_dir().join(format!("tm-newest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.log");
    std::fs::write(&path, b"first\nsecond\n").unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let b = OutputBuffers::new(1024);
    b.push(Stream::Stderr, b"err\n");
    b.use_file(Stream::Stdout, FileSource::of(&file, &path, 0));
    b.moved_to_file(Stream::Stdout);
    assert_eq!(b.newest(4096), b"second\n");
    std::fs::remove_dir_all(&dir).unwrap();
}
