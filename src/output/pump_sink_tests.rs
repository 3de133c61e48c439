//! Tests of the sink alone, the pump's writing half, with no thread or pipe: a
//! failing file dropped, CRLF folding across chunks, rotation, timestamps.

use super::*;
use crate::output::sink::CrlfFolder;
use crate::output::sink::Sink;

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
