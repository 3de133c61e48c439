//! An instance's output history in an upgrade in place: what `tail` and
//! `attach` show of the time before it. A stream written to a file (spliced)
//! hands over the file it is read from; any other hands over the newest bytes of
//! its ring buffer, at most [`RING_CARRIED`] (hex in the record).

use serde::{Deserialize, Serialize};

use crate::output::{FileSource, OutputBuffers, Stream};

/// The newest ring bytes carried per stream: a screenful of lines for `tail`
/// and `attach`'s replay, and a bounded record (two streams per instance).
pub const RING_CARRIED: usize = 8 * 1024;

/// One stream's history, as handed over.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct StreamRecord {
    /// The file the stream is read from: path, st_dev, st_ino, where the run
    /// began in it, rotated backups kept.
    pub file: Option<(std::path::PathBuf, u64, u64, u64, u32)>,
    /// The newest ring bytes, as hex.
    pub ring: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (text.as_bytes().chunks(2))
        .filter_map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

impl StreamRecord {
    /// `stream`'s history in `buffers`.
    pub fn of(buffers: &OutputBuffers, stream: Stream) -> StreamRecord {
        match buffers.file_of(stream) {
            Some(f) => StreamRecord {
                file: Some((f.path, f.dev, f.ino, f.start, f.backups)),
                ring: String::new(),
            },
            None => {
                let (bytes, _) = buffers.snapshot(stream);
                let from = bytes.len().saturating_sub(RING_CARRIED);
                StreamRecord {
                    file: None,
                    ring: hex(&bytes[from..]),
                }
            }
        }
    }

    /// Puts the history back into `buffers` (fresh ones, in the new process).
    pub fn restore(&self, buffers: &OutputBuffers, stream: Stream) {
        match &self.file {
            Some((path, dev, ino, start, backups)) => buffers.use_file(
                stream,
                Some(FileSource {
                    path: path.clone(),
                    dev: *dev,
                    ino: *ino,
                    start: *start,
                    backups: *backups,
                }),
            ),
            None => buffers.push(stream, &unhex(&self.ring)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_ring_bytes_go_over_bounded() {
        let old = OutputBuffers::new(64 * 1024);
        let text: Vec<u8> = (0..20_000u32).map(|i| (i % 256) as u8).collect();
        old.push(Stream::Stderr, &text);
        let record = StreamRecord::of(&old, Stream::Stderr);
        let new = OutputBuffers::new(64 * 1024);
        record.restore(&new, Stream::Stderr);
        assert_eq!(
            new.snapshot(Stream::Stderr).0,
            text[text.len() - RING_CARRIED..]
        );
        assert_eq!(
            StreamRecord::of(&old, Stream::Stdout),
            StreamRecord::default()
        );
    }
}
