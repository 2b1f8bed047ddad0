//! Capture files: classic pcap and pcapng, from a file or stdin.
//!
//! The first four bytes say which: pcap's magic number (whose byte order
//! gives the file's byte order, and whose value says micro- or nanosecond
//! timestamps) or pcapng's section header block type, `0a 0d 0d 0a`.
//!
//! Reading streams through one fixed buffer ([`BUFFER_SIZE`]), so memory
//! stays flat whatever the file's size; each frame's bytes are copied once,
//! into the [`Frame`] handed out. Every length field is checked against a
//! named limit before anything is read or allocated, and a record cut short
//! is an error naming the byte offset where it began: the frames before it
//! have been handed out already.
//!
//! pcapng section and interface blocks (with their options: timestamp
//! resolution and offset) are parsed by `pcap-parser`; packet blocks, the hot
//! path, are five fixed fields read here, after the block's framing (its
//! length, repeated at its end) has been checked. Blocks we do not need
//! (name resolution, statistics, decryption secrets, custom) are skipped
//! without being held in memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

use pcap_parser::pcapng::{
    BOM_MAGIC, EPB_MAGIC, IDB_MAGIC, OptionCode, SHB_MAGIC, SPB_MAGIC,
    parse_interfacedescriptionblock_be, parse_interfacedescriptionblock_le, parse_option_be,
    parse_option_le, parse_sectionheaderblock,
};

use super::{FirstBytes, FrameSource, MAX_RECORD, Part, SourceError, stop_requested};
use crate::inspect::model::{Frame, LinkType};

/// The read buffer: big enough to hold the largest block we parse
/// ([`MAX_BLOCK`]) whole, and big enough that a read(2) brings in thousands
/// of typical frames at once.
pub const BUFFER_SIZE: usize = 1 << 20;

/// The largest pcapng block held in memory to be parsed: a frame of
/// [`MAX_RECORD`] bytes plus 64 KiB for the block's header and options
/// (comments, flags, hashes). Blocks we skip may be larger: they stream past.
pub const MAX_BLOCK: usize = MAX_RECORD + 65_536;

/// More interfaces than any real capture describes; a file declaring more is
/// damaged, and each one costs memory for the rest of the section.
pub const MAX_INTERFACES: usize = 65_536;

const PCAP_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;
/// Kuznetzov's "modified" pcap (magic a1 b2 cd 34) adds 8 bytes per record:
/// interface index, protocol, packet type.
const MODIFIED_RECORD_HEADER_LEN: usize = 24;
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// pcapng's obsolete Packet Block (type 2), still read by Wireshark.
const OBSOLETE_PB_MAGIC: u32 = 2;

/// Opens a capture file (`-` for stdin) and reads its header.
pub fn open_path(path: &Path) -> Result<Box<dyn FrameSource>, SourceError> {
    if path.as_os_str() == "-" {
        return from_reader(io::stdin().lock());
    }
    let file = File::open(path).map_err(|cause| SourceError::Open {
        path: path.to_path_buf(),
        cause,
    })?;
    from_reader(file)
}

/// Reads a pcap or pcapng capture from any byte stream, telling them apart
/// by the first four bytes.
pub fn from_reader<R: Read + 'static>(reader: R) -> Result<Box<dyn FrameSource>, SourceError> {
    let mut input = Input::new(reader);
    let head = input.fill(4)?;
    let magic: [u8; 4] = match head.get(..4).and_then(|m| m.try_into().ok()) {
        Some(m) => m,
        None => {
            return Err(SourceError::NotACapture {
                found: FirstBytes(head.to_vec()),
            });
        }
    };
    if magic == PCAPNG_MAGIC {
        return Ok(Box::new(PcapNgSource::new(input)));
    }
    match PcapFormat::from_magic(magic) {
        Some(format) => Ok(Box::new(PcapSource::new(input, format)?)),
        None => Err(SourceError::NotACapture {
            found: FirstBytes(magic.to_vec()),
        }),
    }
}

/// A reader with a fixed buffer that knows the file offset of every byte it
/// hands out, and can make a whole record visible at once.
pub(crate) struct Input<R> {
    reader: R,
    buf: Box<[u8]>,
    /// `buf[start..end]` holds bytes read but not consumed.
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    eof: bool,
}

impl<R: Read> Input<R> {
    pub(crate) fn new(reader: R) -> Self {
        Input {
            reader,
            buf: vec![0; BUFFER_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
        }
    }

    /// File offset of the next unconsumed byte.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Makes at least `n` bytes (at most [`BUFFER_SIZE`]) visible, unless the
    /// input ends first, and returns every visible byte: fewer than `n` only
    /// at the end of the input.
    #[inline]
    pub(crate) fn fill(&mut self, n: usize) -> Result<&[u8], SourceError> {
        if self.end - self.start < n && !self.eof {
            self.refill(n.min(self.buf.len()))?;
        }
        Ok(&self.buf[self.start..self.end])
    }

    #[cold]
    fn refill(&mut self, n: usize) -> Result<(), SourceError> {
        while self.end - self.start < n && !self.eof {
            if self.buf.len() - self.start < n {
                // Not enough room after the unconsumed bytes: move them to
                // the front (less than one record, so this copy is small).
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(cause) => {
                    return Err(SourceError::Read {
                        offset: self.offset + (self.end - self.start) as u64,
                        cause,
                    });
                }
            }
        }
        Ok(())
    }

    /// Consumes `n` visible bytes.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }

    /// Consumes `n` bytes, visible or not, reading through the ones that are
    /// not; returns how many there were (fewer than `n` at the end of input).
    pub(crate) fn skip(&mut self, n: u64) -> Result<u64, SourceError> {
        let mut left = n;
        while left > 0 {
            let chunk = left.min(self.buf.len() as u64) as usize;
            let visible = self.fill(chunk)?.len().min(chunk);
            if visible == 0 {
                break;
            }
            self.consume(visible);
            left -= visible as u64;
        }
        Ok(n - left)
    }
}

/// The variant of classic pcap, from its magic number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PcapFormat {
    big_endian: bool,
    nanoseconds: bool,
    record_header_len: usize,
}

impl PcapFormat {
    fn from_magic(magic: [u8; 4]) -> Option<PcapFormat> {
        let (big_endian, nanoseconds, modified) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false, false),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true, false),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true, false),
            [0x34, 0xcd, 0xb2, 0xa1] => (false, false, true),
            [0xa1, 0xb2, 0xcd, 0x34] => (true, false, true),
            _ => return None,
        };
        Some(PcapFormat {
            big_endian,
            nanoseconds,
            record_header_len: if modified {
                MODIFIED_RECORD_HEADER_LEN
            } else {
                PCAP_RECORD_HEADER_LEN
            },
        })
    }

    #[inline]
    fn u32_at(self, bytes: &[u8], at: usize) -> u32 {
        read_u32(bytes, at, self.big_endian)
    }
}

/// Reads a u32 at `at`, or 0 past the end (callers check lengths first; this
/// keeps a mistake from ever becoming a panic).
#[inline]
fn read_u32(bytes: &[u8], at: usize, big_endian: bool) -> u32 {
    let b: [u8; 4] = match bytes.get(at..at + 4).and_then(|s| s.try_into().ok()) {
        Some(b) => b,
        None => return 0,
    };
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

#[inline]
fn read_u16(bytes: &[u8], at: usize, big_endian: bool) -> u16 {
    let b: [u8; 2] = match bytes.get(at..at + 2).and_then(|s| s.try_into().ok()) {
        Some(b) => b,
        None => return 0,
    };
    if big_endian {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    }
}

/// Classic pcap: a 24-byte file header, then records of a 16-byte header
/// (seconds, fraction, captured length, length on the wire) and the bytes.
pub struct PcapSource<R> {
    input: Input<R>,
    format: PcapFormat,
    link: LinkType,
    number: u64,
    done: bool,
}

impl<R: Read> PcapSource<R> {
    fn new(mut input: Input<R>, format: PcapFormat) -> Result<Self, SourceError> {
        let header = input.fill(PCAP_HEADER_LEN)?;
        if header.len() < PCAP_HEADER_LEN {
            return Err(SourceError::MidRecord {
                offset: 0,
                part: Part::FileHeader,
                expected: PCAP_HEADER_LEN as u64,
                present: header.len() as u64,
            });
        }
        // The link-layer type; the top bits hold the FCS length and flags
        // (libpcap's LT_LINKTYPE mask keeps the low 26).
        let link = LinkType::from_pcap(format.u32_at(header, 20) & 0x03ff_ffff);
        input.consume(PCAP_HEADER_LEN);
        Ok(PcapSource {
            input,
            format,
            link,
            number: 0,
            done: false,
        })
    }

    fn read_record(&mut self) -> Result<Option<Frame>, SourceError> {
        let offset = self.input.offset();
        let header_len = self.format.record_header_len;
        let visible = self.input.fill(header_len)?;
        if visible.is_empty() {
            return Ok(None);
        }
        if visible.len() < header_len {
            return Err(SourceError::MidRecord {
                offset,
                part: Part::RecordHeader,
                expected: header_len as u64,
                present: visible.len() as u64,
            });
        }
        let seconds = self.format.u32_at(visible, 0);
        let fraction = self.format.u32_at(visible, 4);
        let caplen = self.format.u32_at(visible, 8) as usize;
        let origlen = self.format.u32_at(visible, 12) as usize;
        // Only the frame's own size bounds it: libpcap and Wireshark read a
        // record longer than the file's snap length too.
        if caplen > MAX_RECORD {
            return Err(SourceError::TooLarge {
                offset,
                what: "record",
                len: caplen as u64,
                limit: MAX_RECORD as u64,
            });
        }
        let total = header_len + caplen;
        let visible = self.input.fill(total)?;
        let Some(bytes) = visible.get(header_len..total) else {
            return Err(SourceError::MidRecord {
                offset,
                part: Part::RecordData,
                expected: caplen as u64,
                present: visible.len().saturating_sub(header_len) as u64,
            });
        };
        let data = bytes.to_vec();
        self.input.consume(total);
        self.number += 1;
        let nanos = if self.format.nanoseconds {
            u64::from(fraction)
        } else {
            u64::from(fraction) * 1_000
        };
        Ok(Some(Frame {
            number: self.number,
            timestamp: Duration::from_secs(u64::from(seconds))
                .checked_add(Duration::from_nanos(nanos)),
            link: self.link,
            // A length on the wire shorter than what was captured is a
            // writer's mistake; the bytes we have are the truth.
            original_len: origlen.max(data.len()),
            data,
            comments: Vec::new(),
        }))
    }
}

impl<R: Read> FrameSource for PcapSource<R> {
    fn next_frame(&mut self) -> Option<Result<Frame, SourceError>> {
        if self.done || stop_requested() {
            return None;
        }
        match self.read_record() {
            Ok(Some(frame)) => Some(Ok(frame)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// What a pcapng interface description block says about its packets.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    /// 0: no limit.
    snaplen: u32,
    /// Timestamp units per second (`if_tsresol`; a million by default).
    units_per_second: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset_seconds: i64,
}

/// pcapng: a sequence of blocks, each `type, length, body, length`. A
/// section header block fixes the byte order of the blocks after it and
/// starts a new list of interfaces; packets name their interface by index.
pub struct PcapNgSource<R> {
    input: Input<R>,
    big_endian: bool,
    interfaces: Vec<Interface>,
    number: u64,
    done: bool,
}

impl<R: Read> PcapNgSource<R> {
    fn new(input: Input<R>) -> Self {
        PcapNgSource {
            input,
            big_endian: false,
            interfaces: Vec::new(),
            number: 0,
            done: false,
        }
    }

    /// Reads blocks until one holds a packet (or the file ends).
    fn read_packet(&mut self) -> Result<Option<Frame>, SourceError> {
        loop {
            let offset = self.input.offset();
            let visible = self.input.fill(12)?;
            if visible.is_empty() {
                return Ok(None);
            }
            let header_len = if visible.starts_with(&PCAPNG_MAGIC) {
                12
            } else {
                8
            };
            if visible.len() < header_len {
                return Err(SourceError::MidRecord {
                    offset,
                    part: Part::BlockHeader,
                    expected: header_len as u64,
                    present: visible.len() as u64,
                });
            }
            if header_len == 12 {
                // A section header: its byte-order magic says how to read
                // its own length and every block up to the next one.
                self.big_endian = match read_u32(visible, 8, false) {
                    BOM_MAGIC => false,
                    m if m.swap_bytes() == BOM_MAGIC => true,
                    _ => {
                        return Err(bad(
                            offset,
                            format!(
                                "section header's byte-order magic is {} (expected 4d 3c 2b 1a or 1a 2b 3c 4d)",
                                hex_bytes(visible.get(8..12).unwrap_or_default())
                            ),
                        ));
                    }
                };
            }
            let block_type = read_u32(visible, 0, self.big_endian);
            let len = read_u32(visible, 4, self.big_endian) as u64;
            if len < 12 || !len.is_multiple_of(4) {
                return Err(bad(
                    offset,
                    format!("block length {len} is not a multiple of 4 of at least 12"),
                ));
            }
            let wanted = matches!(
                block_type,
                SHB_MAGIC | IDB_MAGIC | EPB_MAGIC | SPB_MAGIC | OBSOLETE_PB_MAGIC
            );
            if !wanted {
                self.skip_block(offset, len)?;
                continue;
            }
            if len > MAX_BLOCK as u64 {
                return Err(SourceError::TooLarge {
                    offset,
                    what: "block",
                    len,
                    limit: MAX_BLOCK as u64,
                });
            }
            let len = len as usize;
            let visible = self.input.fill(len)?;
            let Some(block) = visible.get(..len) else {
                return Err(SourceError::MidRecord {
                    offset,
                    part: Part::Block,
                    expected: len as u64,
                    present: visible.len() as u64,
                });
            };
            let trailer = read_u32(block, len - 4, self.big_endian) as usize;
            if trailer != len {
                return Err(bad(
                    offset,
                    format!("block length {len} at its start but {trailer} at its end"),
                ));
            }
            let frame = match block_type {
                SHB_MAGIC => {
                    let parsed = parse_sectionheaderblock(block);
                    if parsed.is_err() {
                        return Err(bad(offset, "section header block does not parse".into()));
                    }
                    self.interfaces.clear();
                    None
                }
                IDB_MAGIC => {
                    let interface = parse_interface(block, self.big_endian).ok_or_else(|| {
                        bad(offset, "interface description block does not parse".into())
                    })?;
                    if self.interfaces.len() >= MAX_INTERFACES {
                        return Err(bad(
                            offset,
                            format!("more than {MAX_INTERFACES} interfaces in one section"),
                        ));
                    }
                    self.interfaces.push(interface);
                    None
                }
                _ => Some(packet_block(
                    block,
                    block_type,
                    self.big_endian,
                    &self.interfaces,
                    offset,
                )?),
            };
            self.input.consume(len);
            if let Some((data, timestamp, link, origlen, comments)) = frame {
                self.number += 1;
                return Ok(Some(Frame {
                    number: self.number,
                    timestamp,
                    link,
                    original_len: origlen.max(data.len()),
                    data,
                    comments,
                }));
            }
        }
    }

    /// Streams past a block we do not need, checking only that it is whole.
    fn skip_block(&mut self, offset: u64, len: u64) -> Result<(), SourceError> {
        let body = len - 4;
        let skipped = self.input.skip(body)?;
        let trailer = self.input.fill(4)?;
        if skipped < body || trailer.len() < 4 {
            return Err(SourceError::MidRecord {
                offset,
                part: Part::Block,
                expected: len,
                present: skipped + trailer.len().min(4) as u64,
            });
        }
        let repeated = read_u32(trailer, 0, self.big_endian) as u64;
        if repeated != len {
            return Err(bad(
                offset,
                format!("block length {len} at its start but {repeated} at its end"),
            ));
        }
        self.input.consume(4);
        Ok(())
    }
}

impl<R: Read> FrameSource for PcapNgSource<R> {
    fn next_frame(&mut self) -> Option<Result<Frame, SourceError>> {
        if self.done || stop_requested() {
            return None;
        }
        match self.read_packet() {
            Ok(Some(frame)) => Some(Ok(frame)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn bad(offset: u64, reason: String) -> SourceError {
    SourceError::BadBlock { offset, reason }
}

fn hex_bytes(bytes: &[u8]) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(" ")
}

/// An interface description block, through pcap-parser (which reads its
/// options); the timestamp offset is re-read in the section's byte order.
fn parse_interface(block: &[u8], big_endian: bool) -> Option<Interface> {
    let parsed = if big_endian {
        parse_interfacedescriptionblock_be(block)
    } else {
        parse_interfacedescriptionblock_le(block)
    };
    let (_, idb) = parsed.ok()?;
    let mut units_per_second = 1_000_000;
    let mut offset_seconds = 0;
    for option in &idb.options {
        let value = option.value.get(..usize::from(option.len)).unwrap_or(&[]);
        if option.code == OptionCode::IfTsresol {
            if let Some(&resol) = value.first() {
                // Bit 7 set: a power of two; clear: a power of ten.
                units_per_second = if resol & 0x80 != 0 {
                    1u64.checked_shl(u32::from(resol & 0x7f))?
                } else {
                    10u64.checked_pow(u32::from(resol))?
                };
            }
        } else if option.code == OptionCode::IfTsoffset {
            let bytes: [u8; 8] = value.get(..8)?.try_into().ok()?;
            offset_seconds = if big_endian {
                i64::from_be_bytes(bytes)
            } else {
                i64::from_le_bytes(bytes)
            };
        }
    }
    Some(Interface {
        link: LinkType::from_pcap(u32::from(idb.linktype.0 as u16)),
        snaplen: idb.snaplen,
        units_per_second,
        offset_seconds,
    })
}

type PacketParts = (Vec<u8>, Option<Duration>, LinkType, usize, Vec<String>);

/// An enhanced, simple or obsolete packet block: its bytes, time, link type,
/// length on the wire and comments.
fn packet_block(
    block: &[u8],
    block_type: u32,
    big_endian: bool,
    interfaces: &[Interface],
    offset: u64,
) -> Result<PacketParts, SourceError> {
    let len = block.len();
    let u32_at = |at| read_u32(block, at, big_endian);
    let (interface_id, timestamp, caplen, origlen, data_at) = match block_type {
        SPB_MAGIC => {
            // No interface index (always the first), no time, no captured
            // length: the packet is cut at the block's end or the snap length.
            if len < 16 {
                return Err(bad(offset, format!("simple packet block of {len} bytes")));
            }
            let origlen = u32_at(8) as usize;
            let snaplen = interfaces
                .first()
                .map(|i| i.snaplen as usize)
                .filter(|s| *s > 0)
                .unwrap_or(usize::MAX);
            let caplen = origlen.min(len - 16).min(snaplen);
            (0, None, caplen, origlen, 12)
        }
        _ => {
            if len < 32 {
                return Err(bad(offset, format!("packet block of {len} bytes")));
            }
            let interface_id = if block_type == OBSOLETE_PB_MAGIC {
                u32::from(read_u16(block, 8, big_endian))
            } else {
                u32_at(8)
            };
            let ticks = (u64::from(u32_at(12)) << 32) | u64::from(u32_at(16));
            (
                interface_id,
                Some(ticks),
                u32_at(20) as usize,
                u32_at(24) as usize,
                28,
            )
        }
    };
    let Some(interface) = interfaces.get(interface_id as usize) else {
        return Err(bad(
            offset,
            format!(
                "packet names interface {interface_id}, but the section describes {} before it",
                interfaces.len()
            ),
        ));
    };
    if caplen > MAX_RECORD {
        return Err(SourceError::TooLarge {
            offset,
            what: "packet block's captured length",
            len: caplen as u64,
            limit: MAX_RECORD as u64,
        });
    }
    // The bytes must fit between the fixed fields and the trailing length.
    let Some(bytes) = block
        .get(data_at..data_at + caplen)
        .filter(|_| data_at + caplen <= len - 4)
    else {
        return Err(bad(
            offset,
            format!("captured length {caplen} does not fit in a block of {len} bytes"),
        ));
    };
    let timestamp = timestamp.and_then(|ticks| interface.time(ticks));
    // Options follow the packet bytes, padded to 4, in enhanced and
    // obsolete packet blocks (a simple packet block has none).
    let comments = match block_type {
        SPB_MAGIC => Vec::new(),
        _ => block
            .get(data_at + caplen.next_multiple_of(4)..len - 4)
            .map(|options| packet_comments(options, big_endian))
            .unwrap_or_default(),
    };
    Ok((bytes.to_vec(), timestamp, interface.link, origlen, comments))
}

/// The `opt_comment`s among a packet block's options (read by
/// pcap-parser), in order. A comment that is not UTF-8, as the format
/// requires, is shown with U+FFFD in place of the bad bytes. Options are
/// extras: a damaged option list ends the comments, not the frame.
fn packet_comments(mut options: &[u8], big_endian: bool) -> Vec<String> {
    let mut comments = Vec::new();
    // The common case, no options at all, costs nothing.
    while options.len() >= 4 {
        let parsed = if big_endian {
            parse_option_be::<pcap_parser::PcapError<&[u8]>>(options)
        } else {
            parse_option_le::<pcap_parser::PcapError<&[u8]>>(options)
        };
        let Ok((rest, option)) = parsed else { break };
        if option.code == OptionCode::EndOfOpt {
            break;
        }
        if option.code == OptionCode::Comment {
            let text = option.as_bytes().unwrap_or_else(|_| option.value());
            comments.push(String::from_utf8_lossy(text).into_owned());
        }
        options = rest;
    }
    comments
}

impl Interface {
    /// A timestamp in the interface's units, as time since the epoch; `None`
    /// if it cannot be represented (a damaged offset or resolution).
    fn time(&self, ticks: u64) -> Option<Duration> {
        let units = self.units_per_second.max(1);
        let seconds = ticks / units;
        let fraction = ticks % units;
        let nanos = (u128::from(fraction) * 1_000_000_000 / u128::from(units)) as u64;
        let seconds = seconds.checked_add_signed(self.offset_seconds)?;
        Duration::from_secs(seconds).checked_add(Duration::from_nanos(nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: Vec<u8>) -> (Vec<Frame>, Option<SourceError>) {
        let mut source = match from_reader(io::Cursor::new(bytes)) {
            Ok(s) => s,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let mut frames = Vec::new();
        while let Some(next) = source.next_frame() {
            match next {
                Ok(f) => frames.push(f),
                Err(e) => return (frames, Some(e)),
            }
        }
        (frames, None)
    }

    fn pcap_header(big_endian: bool, nanos: bool, link: u32) -> Vec<u8> {
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut v = Vec::new();
        let put32 = |v: &mut Vec<u8>, x: u32| {
            v.extend(if big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        put32(&mut v, magic);
        let (maj, min) = (2u16, 4u16);
        v.extend(if big_endian {
            maj.to_be_bytes()
        } else {
            maj.to_le_bytes()
        });
        v.extend(if big_endian {
            min.to_be_bytes()
        } else {
            min.to_le_bytes()
        });
        put32(&mut v, 0);
        put32(&mut v, 0);
        put32(&mut v, 65535);
        put32(&mut v, link);
        v
    }

    fn pcap_record(big_endian: bool, sec: u32, frac: u32, data: &[u8], origlen: u32) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [sec, frac, data.len() as u32, origlen] {
            v.extend(if big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn pcap_in_both_byte_orders_and_resolutions() {
        for big_endian in [false, true] {
            for nanos in [false, true] {
                let mut file = pcap_header(big_endian, nanos, 1);
                file.extend(pcap_record(big_endian, 10, 500, &[1, 2, 3], 60));
                file.extend(pcap_record(big_endian, 11, 0, &[4; 60], 60));
                let (frames, err) = read_all(file);
                assert!(err.is_none(), "{err:?}");
                assert_eq!(frames.len(), 2);
                assert_eq!(frames[0].number, 1);
                assert_eq!(frames[0].data, vec![1, 2, 3]);
                assert_eq!(frames[0].original_len, 60);
                assert!(frames[0].snap_truncated());
                assert_eq!(frames[0].link, LinkType::Ethernet);
                let frac = if nanos { 500 } else { 500_000 };
                assert_eq!(frames[0].timestamp, Some(Duration::new(10, frac)));
                assert_eq!(frames[1].number, 2);
                assert!(!frames[1].snap_truncated());
            }
        }
    }

    #[test]
    fn pcap_link_type_ignores_fcs_bits() {
        let file = pcap_header(false, false, 0x1000_0000 | 113);
        let mut file = file;
        file.extend(pcap_record(false, 0, 0, &[0; 16], 16));
        let (frames, _) = read_all(file);
        assert_eq!(frames[0].link, LinkType::LinuxSll);
    }

    #[test]
    fn a_record_cut_short_names_its_offset_after_the_good_ones() {
        let mut file = pcap_header(false, false, 1);
        file.extend(pcap_record(false, 0, 0, &[7; 40], 40));
        let cut_at = file.len();
        let mut last = pcap_record(false, 0, 0, &[8; 1514], 1514);
        last.truncate(16 + 300);
        file.extend(last);
        let (frames, err) = read_all(file);
        assert_eq!(frames.len(), 1);
        assert_eq!(
            err.map(|e| e.to_string()),
            Some(format!(
                "capture ends mid-record at byte offset {cut_at}: record header says 1514 bytes, 300 present"
            ))
        );
    }

    #[test]
    fn a_record_header_cut_short() {
        let mut file = pcap_header(false, false, 1);
        file.extend([0; 5]);
        let (frames, err) = read_all(file);
        assert!(frames.is_empty());
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("capture ends mid-record at byte offset 24: a record header needs 16 bytes, 5 present".into())
        );
    }

    #[test]
    fn an_absurd_length_is_an_error_not_an_allocation() {
        let mut file = pcap_header(true, false, 1);
        file.extend(u32::MAX.to_be_bytes().repeat(4));
        let (_, err) = read_all(file);
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.starts_with("record at byte offset 24 says 4294967295 bytes"),
            "{text}"
        );
    }

    #[test]
    fn not_a_capture() {
        let (_, err) = read_all(b"\x7fELF\x02\x01".to_vec());
        assert!(matches!(err, Some(SourceError::NotACapture { .. })));
        let (_, err) = read_all(Vec::new());
        assert!(matches!(err, Some(SourceError::NotACapture { .. })));
        let (_, err) = read_all(vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0]);
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("capture ends mid-record at byte offset 0: the file header needs 24 bytes, 6 present".into())
        );
    }

    /// pcapng blocks, in either byte order.
    struct Ng {
        big_endian: bool,
        bytes: Vec<u8>,
    }

    impl Ng {
        fn new(big_endian: bool) -> Ng {
            let mut ng = Ng {
                big_endian,
                bytes: Vec::new(),
            };
            let mut body = Vec::new();
            ng.put32(&mut body, BOM_MAGIC);
            ng.put16(&mut body, 1);
            ng.put16(&mut body, 0);
            body.extend([0xff; 8]); // section length unknown
            ng.block(SHB_MAGIC, &body);
            ng
        }
        fn put32(&self, v: &mut Vec<u8>, x: u32) {
            v.extend(if self.big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        }
        fn put16(&self, v: &mut Vec<u8>, x: u16) {
            v.extend(if self.big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        }
        fn block(&mut self, kind: u32, body: &[u8]) {
            let len = 12 + body.len().div_ceil(4) * 4;
            let mut v = Vec::new();
            self.put32(&mut v, kind);
            self.put32(&mut v, len as u32);
            v.extend_from_slice(body);
            v.resize(len - 4, 0);
            self.put32(&mut v, len as u32);
            self.bytes.extend(v);
        }
        fn interface(&mut self, link: u16, tsresol: Option<u8>) {
            let mut body = Vec::new();
            self.put16(&mut body, link);
            self.put16(&mut body, 0);
            self.put32(&mut body, 0);
            if let Some(r) = tsresol {
                self.put16(&mut body, 9);
                self.put16(&mut body, 1);
                body.extend([r, 0, 0, 0]);
                self.put16(&mut body, 0);
                self.put16(&mut body, 0);
            }
            self.block(IDB_MAGIC, &body);
        }
        fn packet(&mut self, interface: u32, ticks: u64, data: &[u8], origlen: u32) {
            let mut body = Vec::new();
            self.put32(&mut body, interface);
            self.put32(&mut body, (ticks >> 32) as u32);
            self.put32(&mut body, ticks as u32);
            self.put32(&mut body, data.len() as u32);
            self.put32(&mut body, origlen);
            body.extend_from_slice(data);
            self.block(EPB_MAGIC, &body);
        }
    }

    #[test]
    fn pcapng_interfaces_link_types_and_resolutions() {
        for big_endian in [false, true] {
            let mut ng = Ng::new(big_endian);
            ng.interface(1, None);
            ng.block(0x0000_0BAD, &[1, 2, 3, 4, 5]); // custom: skipped
            ng.interface(101, Some(9));
            ng.packet(0, 1_500_000, &[1; 14], 14);
            ng.packet(1, 2_000_000_001, &[0x45; 20], 40);
            let mut spb = Vec::new();
            ng.put32(&mut spb, 3);
            spb.extend([9, 9, 9]);
            ng.block(SPB_MAGIC, &spb);
            let (frames, err) = read_all(ng.bytes);
            assert!(err.is_none(), "{err:?}");
            assert_eq!(frames.len(), 3);
            assert_eq!(frames[0].link, LinkType::Ethernet);
            assert_eq!(frames[0].timestamp, Some(Duration::new(1, 500_000_000)));
            assert_eq!(frames[1].link, LinkType::RawIp);
            assert_eq!(frames[1].timestamp, Some(Duration::new(2, 1)));
            assert_eq!(frames[1].original_len, 40);
            assert_eq!(frames[2].data, vec![9, 9, 9]);
            assert_eq!(frames[2].timestamp, None);
            assert_eq!(
                frames.iter().map(|f| f.number).collect::<Vec<_>>(),
                [1, 2, 3]
            );
        }
    }

    #[test]
    fn pcapng_unknown_interface_and_cut_block() {
        let mut ng = Ng::new(false);
        ng.interface(1, None);
        ng.packet(0, 0, &[1; 10], 10);
        let at = ng.bytes.len();
        ng.packet(3, 0, &[1; 10], 10);
        let (frames, err) = read_all(ng.bytes.clone());
        assert_eq!(frames.len(), 1);
        assert_eq!(
            err.map(|e| e.to_string()),
            Some(format!(
                "malformed pcapng block at byte offset {at}: packet names interface 3, but the section describes 1 before it"
            ))
        );

        let mut ng = Ng::new(false);
        ng.interface(1, None);
        let at = ng.bytes.len();
        ng.packet(0, 0, &[1; 100], 100);
        ng.bytes.truncate(at + 50);
        let (frames, err) = read_all(ng.bytes);
        assert!(frames.is_empty());
        assert_eq!(
            err.map(|e| e.to_string()),
            Some(format!(
                "capture ends mid-record at byte offset {at}: block header says 132 bytes, 50 present"
            ))
        );
    }

    #[test]
    fn pcapng_sections_of_either_byte_order_follow_each_other() {
        let mut first = Ng::new(false);
        first.interface(1, None);
        first.packet(0, 1_000_000, &[1; 14], 14);
        let mut second = Ng::new(true);
        second.interface(101, Some(3));
        second.packet(0, 2_500, &[0x45; 20], 20);
        // A packet naming interface 1 would be wrong here: the new section
        // starts its own list of interfaces.
        let mut bytes = first.bytes;
        bytes.extend(second.bytes);
        let (frames, err) = read_all(bytes);
        assert!(err.is_none(), "{err:?}");
        let links: Vec<LinkType> = frames.iter().map(|f| f.link).collect();
        assert_eq!(links, [LinkType::Ethernet, LinkType::RawIp]);
        assert_eq!(frames[1].timestamp, Some(Duration::new(2, 500_000_000)));
    }

    #[test]
    fn pcapng_skipped_block_cut_short() {
        let mut ng = Ng::new(false);
        let at = ng.bytes.len();
        ng.block(0x0000_0BAD, &[0; 100]);
        ng.bytes.truncate(at + 60);
        let (_, err) = read_all(ng.bytes);
        assert_eq!(
            err.map(|e| e.to_string()),
            Some(format!(
                "capture ends mid-record at byte offset {at}: block header says 112 bytes, 60 present"
            ))
        );
    }

    #[test]
    fn input_refills_across_the_buffer_end() {
        // Records that straddle buffer boundaries many times over.
        let mut file = pcap_header(false, false, 1);
        let n = 3 * BUFFER_SIZE / 1000;
        for i in 0..n {
            file.extend(pcap_record(false, i as u32, 0, &[i as u8; 983], 983));
        }
        /// A reader that returns a few bytes at a time, like a pipe.
        struct Trickle(io::Cursor<Vec<u8>>);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(4093);
                self.0.read(&mut buf[..n])
            }
        }
        let mut source = from_reader(Trickle(io::Cursor::new(file))).expect("a pcap");
        let mut count = 0;
        while let Some(f) = source.next_frame() {
            let f = f.expect("a frame");
            assert_eq!(f.data, vec![count as u8; 983]);
            count += 1;
        }
        assert_eq!(count, n);
    }

    /// A small valid pcapng: two interfaces, packets on each, a skipped block.
    fn sample_pcapng(big_endian: bool, sizes: &[usize]) -> Vec<u8> {
        let mut ng = Ng::new(big_endian);
        ng.interface(1, None);
        ng.interface(113, Some(0x8a));
        for (i, size) in sizes.iter().enumerate() {
            ng.packet(
                (i % 2) as u32,
                i as u64 * 1000,
                &vec![i as u8; *size],
                *size as u32 + 4,
            );
            if i == 1 {
                ng.block(0x0000_0005, &[0; 20]);
            }
        }
        ng.bytes
    }

    fn sample_pcap(big_endian: bool, nanos: bool, sizes: &[usize]) -> Vec<u8> {
        let mut file = pcap_header(big_endian, nanos, 1);
        for (i, size) in sizes.iter().enumerate() {
            file.extend(pcap_record(
                big_endian,
                i as u32,
                7,
                &vec![i as u8; *size],
                *size as u32,
            ));
        }
        file
    }

    /// Reads everything, checking the promises a reader makes whatever the
    /// input: numbers count up from 1, data never exceeds MAX_RECORD, and
    /// nothing comes after an error.
    fn read_checked(bytes: Vec<u8>) {
        let Ok(mut source) = from_reader(io::Cursor::new(bytes)) else {
            return;
        };
        let mut expected = 1;
        while let Some(next) = source.next_frame() {
            match next {
                Ok(frame) => {
                    assert_eq!(frame.number, expected);
                    assert!(frame.data.len() <= MAX_RECORD);
                    assert!(frame.original_len >= frame.data.len());
                    expected += 1;
                }
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    assert!(source.next_frame().is_none());
                    return;
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            read_checked(bytes);
        }

        #[test]
        fn random_bytes_after_a_magic_never_panic(
            magic in proptest::sample::select(vec![
                [0xd4u8, 0xc3, 0xb2, 0xa1], [0xa1, 0xb2, 0xc3, 0xd4], [0x4d, 0x3c, 0xb2, 0xa1],
                [0xa1, 0xb2, 0x3c, 0x4d], [0x34, 0xcd, 0xb2, 0xa1], [0x0a, 0x0d, 0x0d, 0x0a],
            ]),
            rest in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
        ) {
            let mut bytes = magic.to_vec();
            bytes.extend(rest);
            read_checked(bytes);
        }

        #[test]
        fn mutated_and_cut_captures_never_panic(
            kind in 0u8..4,
            sizes in proptest::collection::vec(0usize..200, 0..6),
            flips in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 0..8),
            cut in proptest::option::of(proptest::num::usize::ANY),
        ) {
            let mut bytes = match kind {
                0 => sample_pcap(false, false, &sizes),
                1 => sample_pcap(true, true, &sizes),
                2 => sample_pcapng(false, &sizes),
                _ => sample_pcapng(true, &sizes),
            };
            if !bytes.is_empty() {
                for (at, value) in flips {
                    let len = bytes.len();
                    bytes[at % len] = value;
                }
            }
            if let Some(cut) = cut {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            read_checked(bytes);
        }

        #[test]
        fn unmutated_samples_read_whole(
            kind in 0u8..4,
            sizes in proptest::collection::vec(0usize..200, 0..6),
        ) {
            let bytes = match kind {
                0 => sample_pcap(false, false, &sizes),
                1 => sample_pcap(true, true, &sizes),
                2 => sample_pcapng(false, &sizes),
                _ => sample_pcapng(true, &sizes),
            };
            let (frames, err) = read_all(bytes);
            proptest::prop_assert!(err.is_none(), "{:?}", err);
            let got: Vec<usize> = frames.iter().map(|f| f.data.len()).collect();
            proptest::prop_assert_eq!(got, sizes);
        }
    }
}
