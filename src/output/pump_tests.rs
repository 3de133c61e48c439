//! Tests of the pump thread against real pipes and real ptys.

use super::*;
use crate::output::sink::CrlfFolder;
use crate::output::sink::Sink;
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

#[test]
fn sink_drops_a_failing_shared_file_from_both_streams() {
    let files = files(Some(Path::new("/dev/full")), Some(Path::new("/dev/full")));
    let mut sink = Sink::new("shared", files);
    sink.write(Stream::Stdout, b"x");
    assert!(sink.files[0].is_none() && sink.files[1].is_none());
    sink.write(Stream::Stderr, b"y"); // skipped, no second warning
}

#[test]
fn crlf_folding_across_chunks() {
    let mut f = CrlfFolder::default();
    assert_eq!(f.fold(b"a\r\nb\r"), b"a\nb");
    assert_eq!(f.fold(b"\nc"), b"\nc");
    assert!(!f.finish());
    assert_eq!(f.fold(b"x\r"), b"x");
    assert_eq!(f.fold(b"y"), b"\ry");
    assert_eq!(f.fold(b"\r\r\n\r"), b"\r\n");
    assert_eq!(f.fold(b""), b"");
    assert!(f.finish(), "held '\\r' survives an empty chunk");
    // Any split of a text folds like the whole text.
    let text = b"1\r\n2\r\r\n\r3\r\n\r\n\n\r";
    let whole = {
        let mut g = CrlfFolder::default();
        let mut v = g.fold(text).to_vec();
        if g.finish() {
            v.push(b'\r');
        }
        v
    };
    assert_eq!(whole, b"1\n2\r\n\r3\n\n\n\r");
    for cut in 0..=text.len() {
        let mut g = CrlfFolder::default();
        let mut v = g.fold(&text[..cut]).to_vec();
        v.extend_from_slice(g.fold(&text[cut..]));
        if g.finish() {
            v.push(b'\r');
        }
        assert_eq!(v, whole, "cut at {cut}");
    }
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

mod rotation {
    use super::*;
    use crate::output::sink::Sink;
    use crate::output::RotatingPath;

    fn rotating_sink(path: &Path, maxbytes: u64, backups: u32) -> Sink {
        let mut files = files(Some(path), None);
        files.rotate[0] = Some(RotatingPath {
            path: path.to_path_buf(),
            maxbytes,
            backups,
        });
        Sink::new("rot", files)
    }

    fn chunk(n: usize) -> Vec<u8> {
        format!("{n:03}")
            .repeat(33)
            .into_bytes()
            .into_iter()
            .chain([b'\n'])
            .collect()
    }

    fn read_all(path: &Path, backups: u32) -> Vec<u8> {
        let mut all = Vec::new();
        for n in (1..=backups).rev() {
            let mut p = path.as_os_str().to_owned();
            p.push(format!(".{n}"));
            all.extend(std::fs::read(p).unwrap_or_default());
        }
        all.extend(std::fs::read(path).unwrap_or_default());
        all
    }

    #[test]
    fn rotates_before_passing_maxbytes_and_loses_no_byte() {
        let dir = TempDir::new("rotate");
        let path = dir.path().join("out.log");
        let mut sink = rotating_sink(&path, 250, 10);
        let mut expected = Vec::new();
        for n in 0..10 {
            sink.write(Stream::Stdout, &chunk(n));
            expected.extend(chunk(n));
        }
        // 100-byte chunks, at most 250 bytes a file: two chunks per file.
        for file in std::iter::once(path.clone())
            .chain((1..=4).map(|n| dir.path().join(format!("out.log.{n}"))))
        {
            let size = std::fs::metadata(&file)
                .map(|m| m.len())
                .expect("rotated file");
            assert_eq!(size, 200, "{}", file.display());
        }
        assert!(!dir.path().join("out.log.5").exists());
        assert_eq!(read_all(&path, 10), expected, "every byte, in order");
    }

    #[test]
    fn keeps_only_backups_files_and_an_empty_file_takes_a_big_chunk_whole() {
        let dir = TempDir::new("rotate-few");
        let path = dir.path().join("out.log");
        let mut sink = rotating_sink(&path, 250, 2);
        for n in 0..10 {
            sink.write(Stream::Stdout, &chunk(n));
        }
        assert!(dir.path().join("out.log.2").exists() && !dir.path().join("out.log.3").exists());
        let kept: Vec<u8> = (4..10).flat_map(chunk).collect();
        assert_eq!(read_all(&path, 2), kept, "the newest six chunks");

        let big = vec![b'x'; 1000];
        sink.write(Stream::Stdout, &big);
        assert_eq!(
            std::fs::read(&path).expect("current"),
            big,
            "rotated first, then written whole"
        );
    }

    #[test]
    fn a_file_emptied_under_it_is_not_rotated_early() {
        let dir = TempDir::new("rotate-cleared");
        let path = dir.path().join("out.log");
        let mut sink = rotating_sink(&path, 250, 2);
        sink.write(Stream::Stdout, &chunk(0));
        sink.write(Stream::Stdout, &chunk(1));
        // `clear`: truncated by another descriptor, the sink's count is stale.
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(0))
            .expect("truncate");
        sink.write(Stream::Stdout, &chunk(2));
        assert!(!dir.path().join("out.log.1").exists(), "not rotated");
        assert_eq!(std::fs::read(&path).expect("current"), chunk(2));
    }
}

mod timestamps {
    use super::*;
    use crate::output::sink::Sink;

    #[test]
    fn every_line_in_the_file_starts_with_the_time_it_was_read() {
        let dir = TempDir::new("stamps");
        let path = dir.path().join("out.log");
        let mut files = files(Some(&path), None);
        files.timestamps = true;
        let mut sink = Sink::new("stamps", files);
        // A line split across two chunks gets one stamp; an empty line gets its own.
        sink.write(Stream::Stdout, b"one\ntw");
        sink.write(Stream::Stdout, b"o\n\nthree");
        let text = std::fs::read_to_string(&path).expect("file");
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines.len(), 4, "{text:?}");
        for (line, body) in lines.iter().zip(["one", "two", "", "three"]) {
            // `YYYY-MM-DD HH:MM:SS.mmm ` then the program's text.
            let (stamp, rest) = line.split_at(24);
            assert_eq!(rest, body, "{line:?}");
            assert_eq!(stamp.len(), 24);
            assert!(
                stamp.as_bytes()[4] == b'-'
                    && stamp.as_bytes()[10] == b' '
                    && stamp.as_bytes()[19] == b'.',
                "{stamp:?}"
            );
        }
    }
}
