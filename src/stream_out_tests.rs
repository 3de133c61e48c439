use super::*;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;

fn loss_line(count: u64, why: Loss) -> String {
    format!("LOST {}\n", lost_text(count, why))
}

/// A pipe: the writer gets the write end, the test the read end.
fn pipe() -> (File, File) {
    let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe().expect("pipe");
    (File::from(read), File::from(write))
}

fn read_all(mut read: File) -> String {
    let mut text = String::new();
    read.read_to_string(&mut text).expect("read");
    text
}

#[test]
fn lines_arrive_whole_and_in_order() {
    let (read, write) = pipe();
    let out = StreamOut::start("test-out", Target::Own(Box::new(write)), 1 << 20, loss_line)
        .expect("start");
    for i in 0..1000 {
        out.push(format!("line {i}\n"));
    }
    assert!(out.flush(Instant::now() + Duration::from_secs(20)));
    drop(out);
    let text = read_all(read);
    let expected: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn a_reader_that_stops_costs_lines_never_a_wait_and_the_loss_is_said() {
    let (read, write) = pipe();
    let out =
        StreamOut::start("test-out", Target::Own(Box::new(write)), 4096, loss_line).expect("start");
    // The pipe (64 KiB) and the queue (4 KiB) fill up; pushing never waits.
    let line = format!("{}\n", "x".repeat(99));
    let pushed = 2000;
    // In rounds, letting the thread write between them, so the pipe fills up.
    for _ in 0..pushed / 100 {
        for _ in 0..100 {
            out.push(line.clone());
        }
        out.flush(Instant::now() + Duration::from_millis(20));
    }
    // The thread waits on the full pipe: flushing gives up at its deadline.
    assert!(!out.flush(Instant::now() + Duration::from_millis(50)));
    // The reader comes back: after what fitted, one line says how many were lost.
    let reader = std::thread::spawn(move || read_all(read));
    assert!(out.flush(Instant::now() + Duration::from_secs(20)));
    out.push("after\n".to_string());
    assert!(out.flush(Instant::now() + Duration::from_secs(20)));
    drop(out);
    let text = reader.join().expect("reader");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"after"));
    let said = lines[lines.len() - 2];
    assert!(
        said.starts_with("LOST ") && said.ends_with(" lost (the output was not read in time)"),
        "no loss line before the last: {said:?}"
    );
    // Every line pushed is written or counted (the count said as often as room
    // came back between rounds).
    let lost: u64 = (lines.iter())
        .filter_map(|l| {
            l.strip_prefix("LOST ")?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    let kept = lines.iter().filter(|l| l.len() == 99).count() as u64;
    assert_eq!(kept + lost, pushed, "{text}");
    assert!(lost > 0);
}

/// Fails its first `failures` writes, then keeps what it is given.
struct FailsFirst {
    failures: usize,
    kept: Arc<Mutex<Vec<u8>>>,
}

impl Write for FailsFirst {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.failures > 0 {
            self.failures -= 1;
            return Err(std::io::Error::from_raw_os_error(nix::libc::EPIPE));
        }
        self.kept.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn failed_writes_are_counted_and_said_once_writing_works_again() {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let target = FailsFirst {
        failures: 2,
        kept: kept.clone(),
    };
    let out = StreamOut::start(
        "test-out",
        Target::Own(Box::new(target)),
        1 << 20,
        loss_line,
    )
    .expect("start");
    for line in ["one\n", "two\n", "three\n"] {
        out.push(line.to_string());
    }
    assert!(out.flush(Instant::now() + Duration::from_secs(20)));
    let text = String::from_utf8(kept.lock().clone()).expect("text");
    assert_eq!(text, "LOST 2 lines lost (could not be written)\nthree\n");
    assert_eq!(
        lost_text(1, Loss::NotRead),
        "1 line lost (the output was not read in time)"
    );
}

#[test]
fn the_thread_ends_when_the_writer_is_dropped() {
    let (read, write) = pipe();
    let out = StreamOut::start("test-out", Target::Own(Box::new(write)), 1 << 20, loss_line)
        .expect("start");
    out.push("last\n".to_string());
    drop(out);
    // The write end closes only when the thread has ended: then the read ends.
    assert_eq!(read_all(read), "last\n");
}
