//! Where frames come from: capture files, hex, built-in examples, a live
//! interface. Each is a [`FrameSource`]; [`PcapWriter`] saves frames.
//!
//! - [`pcap`]: pcap (either byte order, micro- or nanosecond) and pcapng,
//!   from a file or stdin, told apart by their first four bytes. Streaming:
//!   one fixed buffer, whatever the file's size.
//! - [`hex`]: `--hex "45 00 ..."`, one frame typed or pasted by hand.
//! - [`example`]: `--example NAME`, one built-in frame.
//! - [`live`]: `--live IFACE`, a raw socket on Linux.
//! - [`writer`]: `--write FILE.pcap`.
//!
//! Every limit that protects memory is a named constant ([`MAX_RECORD`],
//! [`pcap::MAX_BLOCK`]): a damaged length field is an error naming its byte
//! offset, never an allocation of what it claims.

pub mod example;
pub mod hex;
pub mod live;
pub mod pcap;
pub mod writer;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use super::model::Frame;
use crate::cli::InspectArgs;
use crate::error::UsageError;

pub use writer::{PcapWriter, WriteError};

/// A stream of frames. An `Err` ends the stream: frames before it were good.
pub trait FrameSource {
    fn next_frame(&mut self) -> Option<Result<Frame, SourceError>>;
}

/// The largest frame netdojo reads or writes, in bytes: libpcap's own
/// ceiling (`MAXIMUM_SNAPLEN`, 256 KiB), so tcpdump and Wireshark never
/// produce a bigger one. A record claiming more is damaged, and must not make
/// us allocate what it claims.
pub const MAX_RECORD: usize = 262_144;

/// A capture that cannot be read further, with where it broke.
///
/// (An underlying I/O error is a `cause` field, part of the one-line message,
/// rather than a `source`, which `{:#}` would print a second time.)
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open capture {}: {cause}", .path.display())]
    Open { path: PathBuf, cause: io::Error },
    #[error("cannot read the capture at byte offset {offset}: {cause}")]
    Read { offset: u64, cause: io::Error },
    #[error(
        "not a pcap or pcapng file: {found} (expected a1 b2 c3 d4 or d4 c3 b2 a1 for pcap, \
         a1 b2 3c 4d or 4d 3c b2 a1 for nanosecond pcap, or 0a 0d 0d 0a for pcapng){}",
        .found.hint()
    )]
    NotACapture { found: FirstBytes },
    #[error("capture ends mid-record at byte offset {offset}: {}", .part.describe(*.expected, *.present))]
    MidRecord {
        /// Where the record (or block) that is cut short begins.
        offset: u64,
        part: Part,
        expected: u64,
        present: u64,
    },
    #[error(
        "{what} at byte offset {offset} says {len} bytes, more than the {limit}-byte limit: \
         the file is damaged"
    )]
    TooLarge {
        offset: u64,
        what: &'static str,
        len: u64,
        limit: u64,
    },
    #[error("malformed pcapng block at byte offset {offset}: {reason}")]
    BadBlock { offset: u64, reason: String },
    #[error(
        "live capture needs root or CAP_NET_RAW (EPERM from socket(AF_PACKET)); \
         try: sudo netdojo inspect --live {iface}"
    )]
    LivePermission { iface: String },
    #[error("no network interface named {iface:?}; this machine has: {available}")]
    UnknownInterface { iface: String, available: String },
    #[error("live capture on {iface}: {op} failed: {cause}")]
    Live {
        iface: String,
        op: &'static str,
        cause: io::Error,
    },
    #[error("live capture is available on Linux only")]
    LiveUnsupported,
}

/// The first bytes of a file that is not a capture (up to four).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstBytes(pub Vec<u8>);

impl fmt::Display for FirstBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.len() {
            0 => write!(f, "it is empty, with no magic number at byte offset 0"),
            n => {
                let what = if n < 4 { "its only" } else { "the first" };
                write!(f, "{what} {n} byte{} (at byte offset 0) ", plural(n))?;
                write!(f, "{} ", if n == 1 { "is" } else { "are" })?;
                for (i, b) in self.0.iter().enumerate() {
                    let sep = if i == 0 { "" } else { " " };
                    write!(f, "{sep}{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

impl FirstBytes {
    /// A hint for the common look-alikes: a compressed capture, a program.
    fn hint(&self) -> &'static str {
        match self.0.as_slice() {
            [0x1f, 0x8b, ..] => {
                "; it looks gzip-compressed: try gunzip -c FILE | netdojo inspect -"
            }
            [0x28, 0xb5, 0x2f, 0xfd, ..] => {
                "; it looks zstd-compressed: try zstd -dc FILE | netdojo inspect -"
            }
            [0x7f, b'E', b'L', b'F', ..] => "; it is an ELF program",
            [b'P', b'K', ..] => "; it looks like a zip archive",
            _ => "",
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Which part of a capture ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// pcap's 24-byte file header.
    FileHeader,
    /// pcap's 16-byte per-record header.
    RecordHeader,
    /// The captured bytes a pcap record header announced.
    RecordData,
    /// A pcapng block's type and length (8 bytes; 12 for a section header).
    BlockHeader,
    /// The rest of a pcapng block its length announced.
    Block,
}

impl Part {
    fn describe(self, expected: u64, present: u64) -> String {
        let what = match self {
            Part::FileHeader => "the file header needs",
            Part::RecordHeader => "a record header needs",
            Part::RecordData => "record header says",
            Part::BlockHeader => "a block header needs",
            Part::Block => "block header says",
        };
        format!("{what} {expected} bytes, {present} present")
    }
}

/// Set by [`request_stop`]: sources end (cleanly, as at end of file) at their
/// next frame, and a live capture within [`live::POLL_INTERVAL`].
static STOP: AtomicBool = AtomicBool::new(false);

/// Asks every source to end, as at the end of a file: what was read is still
/// shown and written. Meant for Ctrl-C: a task awaiting the signal calls it,
/// and the blocking reader returns `None` soon after.
pub fn request_stop() {
    STOP.store(true, Ordering::Relaxed);
}

/// Whether [`request_stop`] has been called.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Opens the source the arguments name: exactly one of FILE (`-` for stdin),
/// `--hex`, `--example`, `--live`.
pub fn open(args: &InspectArgs) -> anyhow::Result<Box<dyn FrameSource>> {
    let given = [
        args.file.is_some(),
        args.hex.is_some(),
        args.example.is_some(),
        args.live.is_some(),
    ];
    match given.iter().filter(|g| **g).count() {
        0 => {
            return Err(UsageError(
                "nothing to inspect: give a capture FILE (or - for stdin), --hex BYTES, \
                 --example NAME (--example list shows them) or --live IFACE"
                    .into(),
            )
            .into());
        }
        1 => {}
        _ => {
            return Err(
                UsageError("give only one of FILE, --hex, --example and --live".into()).into(),
            );
        }
    }
    if let Some(path) = &args.file {
        return Ok(pcap::open_path(path)?);
    }
    if let Some(text) = &args.hex {
        return Ok(Box::new(SingleFrame(Some(hex::frame(text)?))));
    }
    if let Some(name) = &args.example {
        return Ok(Box::new(SingleFrame(Some(example::frame(name)?))));
    }
    if let Some(iface) = &args.live {
        return Ok(live::open(iface)?);
    }
    unreachable!("exactly one source is set")
}

/// A source of one frame (`--hex`, `--example`).
pub struct SingleFrame(pub Option<Frame>);

impl FrameSource for SingleFrame {
    fn next_frame(&mut self) -> Option<Result<Frame, SourceError>> {
        self.0.take().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_capture_names_the_bytes_and_offset() {
        let e = SourceError::NotACapture {
            found: FirstBytes(vec![0x7f, 0x45, 0x4c, 0x46]),
        };
        assert_eq!(
            e.to_string(),
            "not a pcap or pcapng file: the first 4 bytes (at byte offset 0) are 7f 45 4c 46 \
             (expected a1 b2 c3 d4 or d4 c3 b2 a1 for pcap, a1 b2 3c 4d or 4d 3c b2 a1 for \
             nanosecond pcap, or 0a 0d 0d 0a for pcapng); it is an ELF program"
        );
        let e = SourceError::NotACapture {
            found: FirstBytes(vec![]),
        };
        assert!(e.to_string().contains("it is empty"), "{e}");
        let e = SourceError::NotACapture {
            found: FirstBytes(vec![0x1f, 0x8b]),
        };
        assert!(e.to_string().contains("its only 2 bytes"), "{e}");
        assert!(e.to_string().contains("gunzip"), "{e}");
    }

    #[test]
    fn mid_record_says_what_the_header_promised() {
        let e = SourceError::MidRecord {
            offset: 1580,
            part: Part::RecordData,
            expected: 1514,
            present: 300,
        };
        assert_eq!(
            e.to_string(),
            "capture ends mid-record at byte offset 1580: record header says 1514 bytes, 300 present"
        );
    }

    #[test]
    fn no_source_is_a_usage_error() {
        let e = open(&InspectArgs::default()).err().expect("an error");
        assert!(e.downcast_ref::<UsageError>().is_some(), "{e}");
        assert!(e.to_string().contains("--example list"), "{e}");
    }
}
