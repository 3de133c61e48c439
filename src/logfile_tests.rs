use super::*;
use crate::testutil::TempDir;
use log::Level;
use log4rs::append::Append;

#[test]
fn lines_have_the_stamp_the_level_and_the_message() {
    let args = format_args!("spawned: 'web' with pid 42");
    let record = Record::builder().args(args).level(Level::Info).build();
    let text = line(&record, SystemTime::now());
    let (stamp, rest) = text.split_at(23);
    assert_eq!(rest, " INFO  spawned: 'web' with pid 42\n");
    assert_eq!(stamp.len(), 23, "{stamp}");
    assert_eq!(&stamp[4..5], "-");
    assert_eq!(&stamp[19..20], ".");
}

#[test]
fn lines_from_many_threads_never_interleave() {
    let dir = TempDir::new("logfile");
    let path = dir.path().join("events.log");
    let log = std::sync::Arc::new(AppendOnlyLog::open(&path).expect("open"));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    let msg = format!("thread {t} line {i} {}", "x".repeat(100));
                    let args = format_args!("{msg}");
                    let record = Record::builder().args(args).level(Level::Warn).build();
                    log.append(&record).expect("append");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(text.lines().count(), 8 * 500);
    for l in text.lines() {
        let whole = l.get(23..).is_some_and(|r| r.starts_with(" WARN  thread "))
            && l.matches("thread ").count() == 1
            && l.ends_with(&"x".repeat(100));
        assert!(whole, "a torn or merged line: {l:?}");
    }
}

#[test]
fn a_missing_directory_is_an_error_not_created() {
    let dir = TempDir::new("logfile-nodir");
    let path = dir.path().join("sub").join("events.log");
    let error = AppendOnlyLog::open(&path).expect_err("no directory");
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    assert!(!dir.path().join("sub").exists());
}

#[test]
fn lines_go_after_what_the_file_already_holds() {
    // pwrite at offset 0 must still append (O_APPEND), never overwrite.
    let dir = TempDir::new("logfile-keep");
    let path = dir.path().join("events.log");
    std::fs::write(&path, "an earlier run\n").expect("seed");
    let log = AppendOnlyLog::open(&path).expect("open");
    for msg in ["first", "second"] {
        let args = format_args!("{msg}");
        let record = Record::builder().args(args).level(Level::Info).build();
        log.append(&record).expect("append");
    }
    let text = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert_eq!(lines[0], "an earlier run");
    assert!(lines[1].ends_with(" INFO  first"), "{text:?}");
    assert!(lines[2].ends_with(" INFO  second"), "{text:?}");
}

#[test]
fn rotates_before_a_line_would_pass_the_size_and_keeps_the_backups() {
    let dir = TempDir::new("logfile-rotate");
    let path = dir.path().join("events.log");
    let rotation = Rotation {
        maxbytes: 300,
        backups: 2,
    };
    let log = AppendOnlyLog::open_rotating(&path, rotation).expect("open");
    for i in 0..40 {
        log.write_line(&format!("line {i:03} {}\n", "z".repeat(40)));
    }
    let numbered = |n: u32| dir.path().join(format!("events.log.{n}"));
    assert!(numbered(1).exists() && numbered(2).exists());
    assert!(!numbered(3).exists(), "only two backups");
    let mut kept = Vec::new();
    for p in [numbered(2), numbered(1), path.clone()] {
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(
            text.len() <= 300,
            "{} holds {} bytes",
            p.display(),
            text.len()
        );
        kept.extend(text.lines().map(str::to_string));
    }
    // The newest lines, in order, none torn.
    let last = kept.last().cloned().unwrap_or_default();
    assert!(last.starts_with("line 039 "), "{last}");
    for pair in kept.windows(2) {
        assert!(pair[0] < pair[1], "out of order: {pair:?}");
    }
}

/// A tmpfs of four pages, mounted for the test (root only; elsewhere the
/// test says so and passes, CI runs as root). Unmounted on drop.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &Path) -> Option<SmallDisk> {
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_loses_whole_lines_and_says_how_many() {
    let dir = TempDir::new("logfile-full");
    let Some(_disk) = SmallDisk::mount(dir.path()) else {
        eprintln!("skipped: cannot mount a tmpfs (not root?)");
        return;
    };
    let filler = dir.path().join("filler");
    std::fs::write(&filler, vec![b'x'; 8192]).expect("filler");
    let path = dir.path().join("events.log");
    let log = AppendOnlyLog::open(&path).expect("open");
    // Lines of 97 bytes never end on a page boundary: some writes are short.
    let mut written = 0;
    while log.lost_lines() < 5 {
        log.write_line(&format!("line {written:06} {}\n", "y".repeat(84)));
        written += 1;
        assert!(written < 10_000, "the disk never filled");
    }
    let kept = std::fs::read_to_string(&path).expect("read");
    assert!(kept.ends_with('\n'), "a torn last line");
    for l in kept.lines() {
        assert_eq!(l.len(), 96, "a torn line: {l:?}");
    }
    let lost = log.lost_lines();
    assert_eq!(kept.lines().count() as u64 + lost, written as u64);

    // Room again: the next line is preceded by the count of lost ones.
    std::fs::remove_file(&filler).expect("free the disk");
    log.write_line("after\n");
    let text = std::fs::read_to_string(&path).expect("read");
    let tail: Vec<&str> = text.lines().rev().take(2).collect();
    assert_eq!(tail[0], "after");
    assert!(
        tail[1].ends_with(&format!(
            "WARN  event log: {lost} lines lost (could not be written: disk full or failing)"
        )),
        "{:?}",
        tail[1]
    );
    assert_eq!(log.lost_lines(), 0);
}
