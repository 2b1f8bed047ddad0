//! `--write FILE.pcap`: frames saved as a classic pcap file, the format every
//! tool reads (tcpdump, Wireshark, tshark, scapy).
//!
//! Little-endian, microsecond timestamps, one link type for the whole file
//! (the first frame's). A frame without a timestamp (from `--hex` or
//! `--example`) is stamped 0, the epoch, so the same frames always make the
//! same file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::MAX_RECORD;
use crate::inspect::model::{Frame, LinkType};

/// pcap's magic number, written in our byte order (little-endian): readers
/// learn the byte order and the microsecond resolution from it.
const MAGIC_MICROSECONDS: u32 = 0xa1b2_c3d4;
/// pcap format version 2.4, the only one in use since 1998.
const VERSION: (u16, u16) = (2, 4);
/// The snap length we declare: no frame we write is longer.
const SNAPLEN: u32 = MAX_RECORD as u32;
/// Output buffer: a few hundred frames per write(2).
const WRITE_BUFFER: usize = 1 << 16;

/// Why a frame could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {}: {cause}", .path.display())]
    Io { path: PathBuf, cause: io::Error },
    #[error(
        "cannot write frame {frame} to {}: it is {found:?} but the file holds {expected:?} frames \
         (from frame {first}), and a pcap file has one link type",
        .path.display()
    )]
    LinkTypeMismatch {
        path: PathBuf,
        frame: u64,
        found: LinkType,
        expected: LinkType,
        first: u64,
    },
    #[error(
        "cannot write frame {frame} to {}: its {len} bytes exceed the {MAX_RECORD}-byte limit \
         tools reading pcap accept",
        .path.display()
    )]
    TooLarge {
        path: PathBuf,
        frame: u64,
        len: usize,
    },
}

/// Writes frames to a classic pcap file (the link type of the first frame).
pub struct PcapWriter {
    out: BufWriter<File>,
    path: PathBuf,
    /// The file's link type and the frame that set it, once the header is out.
    link: Option<(LinkType, u64)>,
}

impl PcapWriter {
    /// Creates (or truncates) the file. The header is written with the first
    /// frame, which decides the link type.
    pub fn create(path: &Path) -> anyhow::Result<PcapWriter> {
        let file = File::create(path).map_err(|cause| WriteError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        Ok(PcapWriter {
            out: BufWriter::with_capacity(WRITE_BUFFER, file),
            path: path.to_path_buf(),
            link: None,
        })
    }

    /// Appends one frame: its captured bytes, and its length on the wire.
    pub fn write_frame(&mut self, frame: &Frame) -> anyhow::Result<()> {
        match self.link {
            None => {
                self.write_header(frame.link)?;
                self.link = Some((frame.link, frame.number));
            }
            Some((expected, first)) if expected != frame.link => {
                return Err(WriteError::LinkTypeMismatch {
                    path: self.path.clone(),
                    frame: frame.number,
                    found: frame.link,
                    expected,
                    first,
                }
                .into());
            }
            Some(_) => {}
        }
        if frame.data.len() > MAX_RECORD {
            return Err(WriteError::TooLarge {
                path: self.path.clone(),
                frame: frame.number,
                len: frame.data.len(),
            }
            .into());
        }
        let time = frame.timestamp.unwrap_or_default();
        // pcap's seconds are 32 bits: good until 2106.
        let seconds = u32::try_from(time.as_secs()).unwrap_or(u32::MAX);
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&seconds.to_le_bytes());
        header[4..8].copy_from_slice(&time.subsec_micros().to_le_bytes());
        header[8..12].copy_from_slice(&(frame.data.len() as u32).to_le_bytes());
        let original = u32::try_from(frame.original_len.max(frame.data.len())).unwrap_or(u32::MAX);
        header[12..16].copy_from_slice(&original.to_le_bytes());
        self.put(&header)?;
        self.put(&frame.data)?;
        Ok(())
    }

    /// Writes what is buffered (and the header, for a file of no frames).
    pub fn finish(mut self) -> anyhow::Result<()> {
        if self.link.is_none() {
            self.write_header(LinkType::Ethernet)?;
        }
        self.out.flush().map_err(|cause| WriteError::Io {
            path: self.path.clone(),
            cause,
        })?;
        Ok(())
    }

    fn write_header(&mut self, link: LinkType) -> Result<(), WriteError> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC_MICROSECONDS.to_le_bytes());
        header[4..6].copy_from_slice(&VERSION.0.to_le_bytes());
        header[6..8].copy_from_slice(&VERSION.1.to_le_bytes());
        // thiszone and sigfigs: 0, as every modern writer does.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&link.to_pcap().to_le_bytes());
        self.put(&header)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.out.write_all(bytes).map_err(|cause| WriteError::Io {
            path: self.path.clone(),
            cause,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::inspect::source::pcap::from_reader;

    fn frame(number: u64, link: LinkType, data: Vec<u8>, original_len: usize) -> Frame {
        Frame {
            number,
            timestamp: Some(Duration::new(1_700_000_000, 123_456_789)),
            link,
            original_len,
            data,
            comments: Vec::new(),
        }
    }

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("netdojo-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("round.pcap");
        let frames = vec![
            frame(1, LinkType::RawIp, vec![0x45; 20], 20),
            frame(2, LinkType::RawIp, vec![0x46; 30], 1500),
            Frame {
                timestamp: None,
                ..frame(3, LinkType::RawIp, vec![], 0)
            },
        ];
        let mut w = PcapWriter::create(&path).unwrap();
        for f in &frames {
            w.write_frame(f).unwrap();
        }
        w.finish().unwrap();

        let bytes = std::fs::read(&path).unwrap();
        let mut source = from_reader(std::io::Cursor::new(bytes)).unwrap();
        let mut read = Vec::new();
        while let Some(f) = source.next_frame() {
            read.push(f.unwrap());
        }
        assert_eq!(read.len(), 3);
        for (r, w) in read.iter().zip(&frames) {
            assert_eq!(r.number, w.number);
            assert_eq!(r.link, w.link);
            assert_eq!(r.data, w.data);
            assert_eq!(r.original_len, w.original_len);
        }
        // Microseconds: the nanoseconds below a microsecond are gone.
        assert_eq!(
            read[0].timestamp,
            Some(Duration::new(1_700_000_000, 123_456_000))
        );
        assert_eq!(read[2].timestamp, Some(Duration::ZERO));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_second_link_type_is_refused() {
        let dir = std::env::temp_dir().join(format!("netdojo-writer-mix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mixed.pcap");
        let mut w = PcapWriter::create(&path).unwrap();
        w.write_frame(&frame(1, LinkType::Ethernet, vec![0; 14], 14))
            .unwrap();
        let e = w
            .write_frame(&frame(2, LinkType::LinuxSll, vec![0; 16], 16))
            .unwrap_err();
        assert!(
            e.to_string().contains("frame 2") && e.to_string().contains("one link type"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_frames_is_still_a_valid_file() {
        let dir = std::env::temp_dir().join(format!("netdojo-writer-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pcap");
        PcapWriter::create(&path).unwrap().finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 24);
        let mut source = from_reader(std::io::Cursor::new(bytes)).unwrap();
        assert!(source.next_frame().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
