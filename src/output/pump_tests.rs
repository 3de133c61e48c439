//! Tests of the pump thread against real pipes and real ptys; those of the sink
//! alone (what the pump writes with) are in `pump_sink_tests.rs`.

use super::*;
use crate::output::Cursor;
use crate::testutil::TempDir;
use std::fs::File;
use std::io::Read;
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::unistd::pipe2;

/// Joins `h`, failing the test instead of hanging if the thread does not end.
fn join_within(h: JoinHandle<()>, limit: Duration) {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(h.join().is_ok());
    });
    match rx.recv_timeout(limit) {
        Ok(ok) => assert!(ok, "pump thread panicked"),
        Err(_) => panic!("pump thread did not end within {limit:?}"),
    }
}

fn pipe() -> (OwnedFd, File) {
    let (r, w) = pipe2(OFlag::O_CLOEXEC).expect("pipe2");
    (r, File::from(w))
}

/// 1 MiB of the test pattern starting at byte `start` (a multiple of 8): each
/// 8-byte word holds its own stream offset, so a lost, repeated or reordered chunk
/// shows up as a mismatch.
fn pattern(start: u64, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    for w in 0..(len / 8) as u64 {
        v.extend_from_slice(&(start + w * 8).to_le_bytes());
    }
    v
}

fn files(stdout: Option<&Path>, stderr: Option<&Path>) -> OutputFiles {
    OutputFiles::open(stdout, stderr).expect("open output files")
}

#[test]
fn hundred_mib_through_a_pipe_land_whole_in_the_file() {
    const BLOCK: usize = 1 << 20;
    const BLOCKS: u64 = 100;
    let dir = TempDir::new("pump-flood");
    let path = dir.path().join("out.log");
    let buffers = Arc::new(OutputBuffers::new(BLOCK));
    let (out_r, mut out_w) = pipe();
    let (err_r, mut err_w) = pipe();
    let t0 = Instant::now();
    let pump = start_pump(
        "flood",
        PumpSource::Pipes {
            stdout: Some(out_r),
            stderr: Some(err_r),
        },
        files(Some(&path), None),
        Arc::clone(&buffers),
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .expect("start pump");
    let writer = thread::spawn(move || {
        for b in 0..BLOCKS {
            out_w
                .write_all(&pattern(b * BLOCK as u64, BLOCK))
                .expect("write");
        }
    });
    err_w
        .write_all(b"to the ring only\n")
        .expect("write stderr");
    drop(err_w);
    writer.join().expect("writer");
    join_within(pump, Duration::from_secs(120));
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "100 MiB through the pump in {:.3}s: {:.0} MiB/s",
        secs,
        BLOCKS as f64 / secs
    );

    let mut f = File::open(&path).expect("open result");
    assert_eq!(f.metadata().expect("stat").len(), BLOCKS * BLOCK as u64);
    let mut got = vec![0u8; BLOCK];
    for b in 0..BLOCKS {
        f.read_exact(&mut got).expect("read back");
        assert!(got == pattern(b * BLOCK as u64, BLOCK), "block {b} differs");
    }
    // Spliced: no byte of stdout was copied into memory; its tail is the file's end.
    assert_eq!(buffers.end(Stream::Stdout), 0);
    assert!(buffers.file_of(Stream::Stdout).is_some());
    let tail = buffers.tail(Stream::Stdout, 1);
    let last = pattern((BLOCKS - 1) * BLOCK as u64, BLOCK);
    assert!(!tail.is_empty() && last.ends_with(&tail));
    assert_eq!(buffers.tail(Stream::Stderr, 5), b"to the ring only\n");
}

/// Writes `total` bytes cycling through `alphabet`, in uneven writes.
fn cycle_writer(mut w: File, alphabet: &'static [u8], total: usize) -> JoinHandle<()> {
    thread::spawn(move || {
        let data: Vec<u8> = (0..total).map(|i| alphabet[i % alphabet.len()]).collect();
        let mut sizes = [1usize, 7, 4096, 65_537, 300, 100_000].iter().cycle();
        let mut rest = &data[..];
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap_or(&1)).min(rest.len());
            w.write_all(&rest[..n]).expect("write");
            rest = &rest[n..];
        }
    })
}

fn assert_cycle(bytes: &[u8], alphabet: &[u8], total: usize) {
    assert_eq!(bytes.len(), total);
    for (i, &c) in bytes.iter().enumerate() {
        assert_eq!(c, alphabet[i % alphabet.len()], "byte {i}");
    }
}

#[test]
fn both_streams_into_one_shared_file() {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    const DIGITS: &[u8] = b"0123456789";
    let dir = TempDir::new("pump-both");
    let path = dir.path().join("both.log");
    let buffers = Arc::new(OutputBuffers::new(4096));
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    let pump = start_pump(
        "both",
        PumpSource::Pipes {
            stdout: Some(out_r),
            stderr: Some(err_r),
        },
        files(Some(&path), Some(&path)),
        Arc::clone(&buffers),
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .expect("start pump");
    let a = cycle_writer(out_w, LETTERS, 3_000_000);
    let b = cycle_writer(err_w, DIGITS, 1_000_000);
    a.join().expect("stdout writer");
    b.join().expect("stderr writer");
    join_within(pump, Duration::from_secs(60));

    let all = std::fs::read(&path).expect("read");
    assert_eq!(all.len(), 4_000_000);
    let letters: Vec<u8> = all.iter().copied().filter(u8::is_ascii_lowercase).collect();
    let digits: Vec<u8> = all.iter().copied().filter(u8::is_ascii_digit).collect();
    assert_cycle(&letters, LETTERS, 3_000_000);
    assert_cycle(&digits, DIGITS, 1_000_000);
    // Both spliced into the one file, which is where their tails come from.
    assert_eq!(buffers.end(Stream::Stdout), 0);
    assert_eq!(buffers.end(Stream::Stderr), 0);
    assert_eq!(
        buffers.file_of(Stream::Stderr),
        buffers.file_of(Stream::Stdout)
    );
    let tail = buffers.tail(Stream::Stderr, 1);
    assert!(!tail.is_empty() && all.ends_with(&tail));
}

#[test]
fn keeps_draining_one_pipe_after_the_other_ends() {
    let buffers = Arc::new(OutputBuffers::new(1024));
    let (out_r, mut out_w) = pipe();
    let (err_r, mut err_w) = pipe();
    let pump = start_pump(
        "half",
        PumpSource::Pipes {
            stdout: Some(out_r),
            stderr: Some(err_r),
        },
        OutputFiles::none(),
        Arc::clone(&buffers),
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .expect("start pump");
    out_w.write_all(b"bye\n").expect("write");
    drop(out_w);
    let mut offs = [Cursor::at(0), Cursor::at(0)];
    let got = buffers.wait_since(&Stream::ALL, &mut offs, Some(Duration::from_secs(10)));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, b"bye\n");
    assert!(!pump.is_finished(), "stderr is still open");
    err_w.write_all(b"still here\n").expect("write");
    let got = buffers.wait_since(&Stream::ALL, &mut offs, Some(Duration::from_secs(10)));
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].stream, &got[0].data[..]),
        (Stream::Stderr, &b"still here\n"[..])
    );
    drop(err_w);
    join_within(pump, Duration::from_secs(10));
}

#[test]
fn a_failing_file_is_skipped_and_the_pipe_still_drained() {
    let dir = TempDir::new("pump-full");
    let good = dir.path().join("err.log");
    let buffers = Arc::new(OutputBuffers::new(1 << 20));
    let (out_r, mut out_w) = pipe();
    let (err_r, mut err_w) = pipe();
    // /dev/full fails every write with ENOSPC.
    let pump = start_pump(
        "full",
        PumpSource::Pipes {
            stdout: Some(out_r),
            stderr: Some(err_r),
        },
        files(Some(Path::new("/dev/full")), Some(&good)),
        Arc::clone(&buffers),
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .expect("start pump");
    out_w.write_all(&vec![b'x'; 500_000]).expect("write");
    err_w.write_all(b"fine\n").expect("write");
    drop((out_w, err_w));
    join_within(pump, Duration::from_secs(10));
    assert_eq!(buffers.end(Stream::Stdout), 500_000);
    assert_eq!(std::fs::read(&good).expect("read"), b"fine\n");
}

mod pty {
    use super::*;
    use nix::pty::openpty;
    use nix::sys::termios::{tcgetattr, tcsetattr, OutputFlags, SetArg};

    fn wait_for(buffers: &OutputBuffers, total: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut off = [Cursor::at(0)];
        while off[0].ring_offset() < total && Instant::now() < deadline {
            buffers.wait_since(&[Stream::Stdout], &mut off, Some(Duration::from_secs(1)));
        }
        assert_eq!(off[0].ring_offset(), total, "pty output did not arrive");
    }

    #[test]
    fn folds_crlf_split_across_reads_and_ends_on_eio() {
        let dir = TempDir::new("pump-pty");
        let path = dir.path().join("pty.log");
        let pty = openpty(None, None).expect("openpty");
        // No output processing: the bytes written are the bytes read.
        let mut t = tcgetattr(&pty.slave).expect("tcgetattr");
        t.output_flags.remove(OutputFlags::OPOST);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &t).expect("tcsetattr");
        let buffers = Arc::new(OutputBuffers::new(1024));
        let pump = start_pump(
            "tty",
            PumpSource::Pty {
                master: Arc::new(pty.master),
            },
            files(Some(&path), None),
            Arc::clone(&buffers),
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
        )
        .expect("start pump");
        let mut slave = File::from(pty.slave);
        slave.write_all(b"a\r\nb\r").expect("write");
        // Make sure the pump read the first part alone, so the '\r' ends a chunk.
        wait_for(&buffers, 5);
        slave.write_all(b"\nc").expect("write");
        wait_for(&buffers, 7);
        assert!(!pump.is_finished());
        drop(slave); // the master now reads EIO
        join_within(pump, Duration::from_secs(10));
        assert_eq!(std::fs::read(&path).expect("read"), b"a\nb\nc");
        assert_eq!(buffers.tail(Stream::Stdout, 10), b"a\r\nb\r\nc");
        assert_eq!(buffers.end(Stream::Stderr), 0);
    }

    #[test]
    fn onlcr_output_is_folded_for_the_file_only() {
        let dir = TempDir::new("pump-onlcr");
        let path = dir.path().join("pty.log");
        let pty = openpty(None, None).expect("openpty");
        let buffers = Arc::new(OutputBuffers::new(1024));
        let pump = start_pump(
            "tty2",
            PumpSource::Pty {
                master: Arc::new(pty.master),
            },
            files(Some(&path), None),
            Arc::clone(&buffers),
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
        )
        .expect("start pump");
        let mut slave = File::from(pty.slave);
        slave.write_all(b"x\ny\n").expect("write");
        drop(slave);
        join_within(pump, Duration::from_secs(10));
        assert_eq!(buffers.tail(Stream::Stdout, 10), b"x\r\ny\r\n");
        assert_eq!(std::fs::read(&path).expect("read"), b"x\ny\n");
    }
}

#[path = "pump_sink_tests.rs"]
mod sinks;
