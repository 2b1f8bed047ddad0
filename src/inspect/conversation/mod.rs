//! TCP conversations in a capture: which frames belong to stream N, the
//! bytes each side sent (follow), the exchange as a ladder, and statistics.
//!
//! Everything here works from [`Facts`] (and, for follow, the payload bytes
//! of the frame), never from a full dissection, and keeps only what a named
//! limit allows, so that a million-packet capture stays cheap:
//!
//! - [`streams`]: numbers TCP streams from 0 in order of first appearance,
//!   like Wireshark's `tcp.stream` ([`streams::StreamIndex`]), and picks out
//!   one of them ([`streams::StreamFinder`]).
//! - [`follow`]: puts one stream's bytes back in order, both directions, like
//!   "Follow TCP Stream" ([`follow::Reassembler`]).
//! - [`ladder`]: one row per segment of one stream, with relative numbers and
//!   what is unusual about it: retransmission, duplicate ACK, ... ([`ladder::LadderTracker`]).
//! - [`stats`]: protocol hierarchy, conversations and totals ([`stats::Stats`]).
//!
//! Views of these live in `report::inspect::{follow, ladder, stats}`.

pub mod follow;
pub mod ladder;
pub mod stats;
pub mod streams;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::model::{Facts, Frame, TcpFlags, TransportFacts};

/// One TCP segment, as the conversation views need it: addresses, numbers,
/// flags, and the payload bytes (borrowed from the frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// The frame's number in the capture (1 for the first).
    pub frame: u64,
    /// The frame's capture time, where the source has one.
    pub time: Option<Duration>,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The payload the capture holds (fewer bytes than were sent when the
    /// snap length cut the frame).
    pub payload: &'a [u8],
    /// The window scale option (a shift count), read from SYN segments only:
    /// later windows are the field times 2^scale when both sides offered it.
    pub window_scale: Option<u8>,
}

impl<'a> TcpSegment<'a> {
    /// The segment a frame carries, if its facts say it is TCP over IP.
    pub fn from_frame(frame: &'a Frame, facts: &Facts) -> Option<TcpSegment<'a>> {
        let Some(TransportFacts::Tcp {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            payload,
        }) = facts.transport
        else {
            return None;
        };
        let (src_ip, dst_ip) = (facts.src_ip?, facts.dst_ip?);
        Some(TcpSegment {
            frame: frame.number,
            time: frame.timestamp,
            src: SocketAddr::new(src_ip, src_port),
            dst: SocketAddr::new(dst_ip, dst_port),
            seq,
            ack,
            flags,
            window,
            payload: payload_bytes(&frame.data, payload),
            window_scale: if flags.has(TcpFlags::SYN) {
                syn_window_scale(&frame.data, payload.0, (src_port, dst_port, seq))
            } else {
                None
            },
        })
    }

    /// The sequence space the segment occupies: its payload, plus one for a
    /// SYN and one for a FIN (each is "sent" like a byte, and acknowledged).
    pub fn seq_len(&self) -> u64 {
        self.payload.len() as u64
            + u64::from(self.flags.has(TcpFlags::SYN))
            + u64::from(self.flags.has(TcpFlags::FIN))
    }
}

/// The window scale option of a SYN whose payload starts at `payload_start`.
///
/// [`Facts`] say where the payload is, not where the TCP header starts, so
/// the header is found by walking back: it is 20 to 60 bytes long, starts
/// with the segment's ports and sequence number, and its data offset points
/// at the payload. Only SYNs carry the option, so this runs on few frames.
fn syn_window_scale(
    data: &[u8],
    payload_start: usize,
    (sport, dport, seq): (u16, u16, u32),
) -> Option<u8> {
    let mut head = [0u8; 8];
    head[..2].copy_from_slice(&sport.to_be_bytes());
    head[2..4].copy_from_slice(&dport.to_be_bytes());
    head[4..].copy_from_slice(&seq.to_be_bytes());
    let header_len = (20..=60).step_by(4).find(|&len| {
        payload_start
            .checked_sub(len)
            .and_then(|h| Some((data.get(h..h + 8)?, data.get(h + 12)?)))
            .is_some_and(|(start, &offset)| start == head && usize::from(offset >> 4) * 4 == len)
    })?;
    let options = data.get(payload_start - header_len + 20..payload_start)?;
    let mut i = 0;
    while let Some(&kind) = options.get(i) {
        match kind {
            0 => return None,
            1 => i += 1,
            _ => {
                let len = usize::from(*options.get(i + 1)?);
                if kind == 3 && len == 3 {
                    // RFC 7323: a shift above 14 is treated as 14.
                    return options.get(i + 2).map(|&shift| shift.min(14));
                }
                if len < 2 {
                    return None;
                }
                i += len;
            }
        }
    }
    None
}

/// The bytes of a `(start, end)` range of the frame, clamped to what was
/// captured: facts come from untrusted bytes, so never index blindly.
fn payload_bytes(data: &[u8], (start, end): (usize, usize)) -> &[u8] {
    let end = end.min(data.len());
    data.get(start..end).unwrap_or(&[])
}

/// An address and port packed into 19 bytes with no padding, for tables of
/// hundreds of thousands of endpoints (`SocketAddr` takes 32). IPv4 uses the
/// first four bytes of `ip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PackedAddr {
    v6: bool,
    ip: [u8; 16],
    port: [u8; 2],
}

/// Two writes instead of the derived five: this is hashed for every frame.
impl std::hash::Hash for PackedAddr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(u128::from_ne_bytes(self.ip));
        state.write_u32(u32::from(u16::from_ne_bytes(self.port)) | u32::from(self.v6) << 16);
    }
}

impl PackedAddr {
    pub fn new(addr: SocketAddr) -> PackedAddr {
        let mut packed = PackedAddr::ip(addr.ip());
        packed.port = addr.port().to_be_bytes();
        packed
    }

    /// An address alone (port 0), for IP conversations.
    pub fn ip(ip: IpAddr) -> PackedAddr {
        let mut bytes = [0u8; 16];
        let v6 = match ip {
            IpAddr::V4(v4) => {
                bytes[..4].copy_from_slice(&v4.octets());
                false
            }
            IpAddr::V6(v6) => {
                bytes = v6.octets();
                true
            }
        };
        PackedAddr {
            v6,
            ip: bytes,
            port: [0, 0],
        }
    }

    pub fn socket(&self) -> SocketAddr {
        SocketAddr::new(self.ip_addr(), u16::from_be_bytes(self.port))
    }

    pub fn ip_addr(&self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(self.ip))
        } else {
            IpAddr::V4(Ipv4Addr::new(
                self.ip[0], self.ip[1], self.ip[2], self.ip[3],
            ))
        }
    }
}

/// Turns 32-bit sequence numbers into positions in a 64-bit byte stream,
/// counted from a base, so that comparisons survive the wrap at 2^32.
///
/// A number is read as the position closest to the highest position seen so
/// far (within 2^31 either way), which is how TCP itself compares them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqUnwrapper {
    base: u32,
    highest: i64,
}

impl SeqUnwrapper {
    /// Positions counted from `base` (position 0 is `base` itself).
    pub fn new(base: u32) -> Self {
        SeqUnwrapper { base, highest: 0 }
    }

    /// The sequence number position 0 stands for.
    pub fn base(&self) -> u32 {
        self.base
    }

    /// The position of `seq`; negative when it lies before the base.
    pub fn position(&mut self, seq: u32) -> i64 {
        let rel = seq.wrapping_sub(self.base);
        let step = i64::from(rel.wrapping_sub(self.highest as u32) as i32);
        let pos = self.highest + step;
        if pos > self.highest {
            self.highest = pos;
        }
        pos
    }

    /// The position of `seq`, without remembering it as the highest.
    pub fn peek(&self, seq: u32) -> i64 {
        let rel = seq.wrapping_sub(self.base);
        self.highest + i64::from(rel.wrapping_sub(self.highest as u32) as i32)
    }
}

/// How a direction is named in every conversation view.
pub fn direction_name(from_client: bool) -> &'static str {
    if from_client {
        "client → server"
    } else {
        "server → client"
    }
}

/// The same, for JSON: `client_to_server` or `server_to_client`.
pub fn direction_key(from_client: bool) -> &'static str {
    if from_client {
        "client_to_server"
    } else {
        "server_to_client"
    }
}

/// TCP flags as Wireshark lists them: `SYN, ACK`.
pub fn flag_names(flags: TcpFlags) -> Vec<&'static str> {
    const ORDER: [(u8, &str); 8] = [
        (TcpFlags::CWR, "CWR"),
        (TcpFlags::ECE, "ECE"),
        (TcpFlags::URG, "URG"),
        (TcpFlags::FIN, "FIN"),
        (TcpFlags::SYN, "SYN"),
        (TcpFlags::RST, "RST"),
        (TcpFlags::PSH, "PSH"),
        (TcpFlags::ACK, "ACK"),
    ];
    ORDER
        .iter()
        .filter(|(bit, _)| flags.has(*bit))
        .map(|(_, name)| *name)
        .collect()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Hand-built TCP frames and facts for the unit tests of this module.

    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use crate::inspect::model::{Facts, Frame, LinkType, Protocols, TcpFlags, TransportFacts};

    pub const CLIENT: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 0, 0, 1), 40000);
    pub const SERVER: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 0, 0, 2), 80);

    /// A frame whose data is just the payload (at offset 0), with facts that
    /// say it is a TCP segment. `n` is the frame number and the time in ms.
    pub fn segment(
        n: u64,
        from_client: bool,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> (Frame, Facts) {
        segment_between(n, CLIENT, SERVER, from_client, seq, ack, flags, payload)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn segment_between(
        n: u64,
        client: (Ipv4Addr, u16),
        server: (Ipv4Addr, u16),
        from_client: bool,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> (Frame, Facts) {
        let (src, dst) = if from_client {
            (client, server)
        } else {
            (server, client)
        };
        let frame = Frame {
            number: n,
            timestamp: Some(Duration::from_millis(1000 + n)),
            link: LinkType::RawIp,
            data: payload.to_vec(),
            original_len: 40 + payload.len(),
            comments: Vec::new(),
        };
        let facts = Facts {
            protocols: Protocols(Protocols::IPV4 | Protocols::TCP),
            src_ip: Some(IpAddr::V4(src.0)),
            dst_ip: Some(IpAddr::V4(dst.0)),
            ip_protocol: Some(6),
            transport: Some(TransportFacts::Tcp {
                src_port: src.1,
                dst_port: dst.1,
                seq,
                ack,
                flags: TcpFlags(flags),
                window: 1000,
                payload: (0, payload.len()),
            }),
            captured_len: 40 + payload.len(),
            original_len: 40 + payload.len(),
            ..Facts::default()
        };
        (frame, facts)
    }

    pub const S: u8 = TcpFlags::SYN;
    pub const A: u8 = TcpFlags::ACK;
    pub const F: u8 = TcpFlags::FIN;
    pub const P: u8 = TcpFlags::PSH;
    pub const R: u8 = TcpFlags::RST;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_addresses_round_trip_and_stay_small() {
        for addr in ["10.0.0.1:80", "[2001:db8::1]:443", "0.0.0.0:0"] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(PackedAddr::new(addr).socket(), addr);
            assert_eq!(PackedAddr::ip(addr.ip()).ip_addr(), addr.ip());
        }
        assert_eq!(std::mem::size_of::<PackedAddr>(), 19);
    }

    #[test]
    fn unwrapping_survives_the_wrap_at_2_32() {
        let mut u = SeqUnwrapper::new(u32::MAX - 10);
        assert_eq!(u.position(u32::MAX - 10), 0);
        assert_eq!(u.position(u32::MAX), 10);
        assert_eq!(u.position(5), 16);
        // An old number is behind, not four billion bytes ahead.
        assert_eq!(u.position(u32::MAX - 5), 5);
        assert_eq!(u.position(u32::MAX - 20), -10);
        assert_eq!(u.peek(6), 17);
    }

    #[test]
    fn payload_range_is_clamped_to_the_captured_bytes() {
        let data = [1, 2, 3, 4];
        assert_eq!(payload_bytes(&data, (1, 3)), &[2, 3]);
        assert_eq!(payload_bytes(&data, (2, 100)), &[3, 4]);
        assert_eq!(payload_bytes(&data, (9, 100)), &[] as &[u8]);
        assert_eq!(payload_bytes(&data, (3, 1)), &[] as &[u8]);
    }

    #[test]
    fn the_window_scale_is_read_from_a_syn() {
        // Ports 1 → 2, seq 7, a 28-byte header: MSS 1460, NOP, window scale 7.
        let mut header = vec![0, 1, 0, 2, 0, 0, 0, 7, 0, 0, 0, 0, 7 << 4, 0x02, 0xff, 0xff];
        header.extend([0, 0, 0, 0]);
        header.extend([2, 4, 0x05, 0xb4, 1, 3, 3, 7]);
        let frame = [vec![0xaa; 14], header].concat();
        let end = frame.len();
        assert_eq!(syn_window_scale(&frame, end, (1, 2, 7)), Some(7));
        assert_eq!(
            syn_window_scale(&frame, end, (1, 2, 8)),
            None,
            "another segment"
        );
        assert_eq!(syn_window_scale(&frame, 5, (1, 2, 7)), None);
        // A header without the option.
        let mut plain = vec![0, 1, 0, 2, 0, 0, 0, 7, 0, 0, 0, 0, 5 << 4, 0x02, 0xff, 0xff];
        plain.extend([0, 0, 0, 0]);
        assert_eq!(syn_window_scale(&plain, plain.len(), (1, 2, 7)), None);
    }

    proptest::proptest! {
        #[test]
        fn reading_the_window_scale_never_panics(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100),
            start in 0usize..120,
            sport in 0u16..3, dport in 0u16..3, seq in 0u32..3,
        ) {
            let _ = syn_window_scale(&data, start, (sport, dport, seq));
        }
    }

    proptest::proptest! {
        /// Random bytes, read as frames by the real dissector, through every
        /// conversation structure: nothing a capture holds may panic them.
        #[test]
        fn random_frames_through_every_conversation_view_never_panic(
            frames in proptest::collection::vec(
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120), 0..30),
            raw in proptest::prelude::any::<bool>(),
        ) {
            use crate::inspect::model::{Frame, LinkType};
            let mut stats = stats::Stats::new();
            let mut finder = streams::StreamFinder::new(0);
            let mut follow = follow::Reassembler::new();
            let mut ladder = ladder::LadderTracker::new();
            for (i, data) in frames.into_iter().enumerate() {
                let frame = Frame {
                    number: i as u64 + 1,
                    timestamp: None,
                    link: if raw { LinkType::RawIp } else { LinkType::Ethernet },
                    original_len: data.len(),
                    data,
                    comments: Vec::new(),
                };
                let facts = crate::inspect::dissect::facts(&frame);
                stats.add(&frame, &facts);
                if let Some(seg) = TcpSegment::from_frame(&frame, &facts)
                    && let Some(from_client) = finder.observe(&seg)
                {
                    follow.segment(from_client, &seg);
                    ladder.segment(from_client, &seg);
                }
            }
            let _ = stats.report();
            let _ = follow.finish();
        }
    }

    #[test]
    fn flags_are_named_like_wireshark() {
        assert_eq!(
            flag_names(TcpFlags(TcpFlags::SYN | TcpFlags::ACK)),
            ["SYN", "ACK"]
        );
        assert_eq!(
            flag_names(TcpFlags(TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK)),
            ["FIN", "PSH", "ACK"]
        );
    }
}
