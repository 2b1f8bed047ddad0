//! What the inspector knows about a frame, at two depths.
//!
//! - [`Facts`]: the few numbers most work needs (addresses, ports, flags,
//!   protocols present), computed without allocating, so that `--summary`,
//!   `--filter`, `--stats` and the conversation views keep up with a million
//!   packets a second.
//! - [`Dissection`]: every field of every layer with its byte range and a
//!   sentence for a learner, for the tree, hex and JSON views of a few frames.
//!
//! Both come from [`crate::inspect::dissect`]; views in `report::inspect` only
//! read them.

use std::borrow::Cow;
use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use crate::layer::Layer;

/// The link-layer header type of a capture (pcap's LINKTYPE_* numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1): Ethernet II frames.
    Ethernet,
    /// LINKTYPE_RAW (101) and LINKTYPE_IPV4/IPV6 (228/229): no link header.
    RawIp,
    /// LINKTYPE_NULL (0): BSD loopback, a 4-byte address family in host order.
    Null,
    /// LINKTYPE_LINUX_SLL (113): Linux "cooked" capture, as from `-i any`.
    LinuxSll,
    /// Anything else: shown as bytes.
    Other(u32),
}

impl LinkType {
    /// From pcap's LINKTYPE number.
    pub fn from_pcap(n: u32) -> LinkType {
        match n {
            1 => LinkType::Ethernet,
            101 | 228 | 229 | 12 | 14 => LinkType::RawIp,
            0 => LinkType::Null,
            113 => LinkType::LinuxSll,
            other => LinkType::Other(other),
        }
    }

    /// pcap's LINKTYPE number.
    pub fn to_pcap(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
            LinkType::Null => 0,
            LinkType::LinuxSll => 113,
            LinkType::Other(n) => n,
        }
    }
}

/// One captured frame, as a source delivers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// 1 for the first frame of the source, like Wireshark's frame number.
    pub number: u64,
    /// Capture time since the Unix epoch, where the source has one.
    pub timestamp: Option<Duration>,
    /// How to read the first bytes.
    pub link: LinkType,
    /// The captured bytes (possibly fewer than were on the wire).
    pub data: Vec<u8>,
    /// The frame's length on the wire; more than `data.len()` when the
    /// capture's snap length cut it.
    pub original_len: usize,
    /// Comments the capture attached to this frame (pcapng's `opt_comment`
    /// on a packet block; Wireshark's `frame.comment`). Empty almost
    /// always, and then it costs no allocation.
    pub comments: Vec<String>,
}

impl Frame {
    /// Whether the capture kept fewer bytes than were on the wire.
    pub fn snap_truncated(&self) -> bool {
        self.original_len > self.data.len()
    }
}

/// A field of a header, with where it is in the frame and what it means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The name as a textbook gives it: `TTL`, `Source port`, `Flags`.
    pub name: Cow<'static, str>,
    /// The value, formatted: `64`, `443 (https)`, `SYN, ACK`.
    pub value: String,
    /// Bytes of the frame this field occupies (a bit field shares its byte).
    pub range: Range<usize>,
    /// One line for a learner: `hops left before a router discards the packet`.
    pub meaning: Cow<'static, str>,
}

/// One protocol's header (and, at the top, its payload) within a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerView {
    /// The layer it belongs to.
    pub layer: Layer,
    /// The protocol's name: `Ethernet II`, `802.1Q VLAN`, `IPv4`, `TCP`, `DNS`.
    pub protocol: Cow<'static, str>,
    /// Bytes of the frame this protocol's header occupies.
    pub range: Range<usize>,
    /// A one-line description: `10.0.0.1 → 10.0.0.2, TTL 64, TCP`.
    pub summary: String,
    /// The fields, in wire order.
    pub fields: Vec<Field>,
}

/// Where and why dissection stopped before the end of the frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    /// The layer that could not be read.
    pub layer: Layer,
    /// What was wrong: `TCP header needs 20 bytes, 7 present`.
    pub reason: String,
    /// Whether it is the capture's snap length, not the frame, that is short.
    pub snap_length: bool,
    /// Whether a header holds a value its protocol does not allow (or a
    /// length that contradicts another), rather than the frame simply
    /// ending too soon: `malformed at`, not `truncated at`.
    pub malformed: bool,
}

impl Stop {
    /// `truncated` when the frame ran out of bytes, `malformed` when a
    /// header is wrong.
    pub fn state(&self) -> &'static str {
        if self.malformed {
            "malformed"
        } else {
            "truncated"
        }
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}: {}", self.state(), self.layer, self.reason)?;
        if self.snap_length {
            write!(f, " (the capture's snap length cut the frame)")?;
        }
        Ok(())
    }
}

/// A frame opened layer by layer, link first.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Dissection {
    pub layers: Vec<LayerView>,
    /// Set when some layer could not be read.
    pub stop: Option<Stop>,
}

/// Protocols a frame contains, as a small bit set (for filters and stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Protocols(pub u32);

impl Protocols {
    pub const ETHERNET: u32 = 1 << 0;
    pub const VLAN: u32 = 1 << 1;
    pub const ARP: u32 = 1 << 2;
    pub const IPV4: u32 = 1 << 3;
    pub const IPV6: u32 = 1 << 4;
    pub const ICMP: u32 = 1 << 5;
    pub const ICMPV6: u32 = 1 << 6;
    pub const TCP: u32 = 1 << 7;
    pub const UDP: u32 = 1 << 8;
    pub const DNS: u32 = 1 << 9;
    pub const HTTP: u32 = 1 << 10;
    pub const WEBSOCKET: u32 = 1 << 11;
    pub const TLS: u32 = 1 << 12;
    pub const SLL: u32 = 1 << 13;
    pub const FRAGMENT: u32 = 1 << 14;

    /// Every protocol with its filter name, link to application.
    pub const NAMES: [(u32, &'static str); 15] = [
        (Self::ETHERNET, "eth"),
        (Self::SLL, "sll"),
        (Self::VLAN, "vlan"),
        (Self::ARP, "arp"),
        (Self::IPV4, "ip"),
        (Self::IPV6, "ipv6"),
        (Self::FRAGMENT, "frag"),
        (Self::ICMP, "icmp"),
        (Self::ICMPV6, "icmpv6"),
        (Self::TCP, "tcp"),
        (Self::UDP, "udp"),
        (Self::DNS, "dns"),
        (Self::HTTP, "http"),
        (Self::WEBSOCKET, "websocket"),
        (Self::TLS, "tls"),
    ];

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    pub fn add(&mut self, bit: u32) {
        self.0 |= bit;
    }
}

/// TCP's flags, as the bits of the header's flags byte (plus NS ignored).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// The transport-layer facts of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportFacts {
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
        /// Where the TCP payload is in the frame (may be empty).
        payload: (usize, usize),
    },
    Udp {
        src_port: u16,
        dst_port: u16,
        /// The UDP length field (header + data).
        length: u16,
        payload: (usize, usize),
    },
    Icmp {
        v6: bool,
        icmp_type: u8,
        code: u8,
    },
}

/// The few facts most work needs, computed without allocating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub protocols: Protocols,
    /// Ethernet (or SLL) addresses, where the link has them.
    pub src_mac: Option<[u8; 6]>,
    pub dst_mac: Option<[u8; 6]>,
    /// The EtherType carried by the link layer (inner type under a VLAN tag).
    pub ether_type: Option<u16>,
    pub vlan_id: Option<u16>,
    /// IP (or ARP's protocol) addresses.
    pub src_ip: Option<IpAddr>,
    pub dst_ip: Option<IpAddr>,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: Option<u8>,
    /// IP protocol number (or IPv6 next header after extensions).
    pub ip_protocol: Option<u8>,
    /// ARP operation (1 request, 2 reply).
    pub arp_op: Option<u16>,
    pub transport: Option<TransportFacts>,
    /// Dissection stopped early (truncated or malformed) at this layer.
    pub stopped_at: Option<Layer>,
    /// Whether that stop is a malformed header rather than a frame that
    /// ends too soon (see [`Stop::malformed`]).
    pub stop_malformed: bool,
    /// Bytes captured and bytes on the wire.
    pub captured_len: usize,
    pub original_len: usize,
    /// ICMP or ICMPv6 echo request or reply: (identifier, sequence number),
    /// so `--summary` can pair a ping with its answer as `ping` does.
    pub icmp_echo: Option<(u16, u16)>,
}

impl Facts {
    /// Source and destination ports, for TCP and UDP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.transport? {
            TransportFacts::Tcp {
                src_port, dst_port, ..
            }
            | TransportFacts::Udp {
                src_port, dst_port, ..
            } => Some((src_port, dst_port)),
            TransportFacts::Icmp { .. } => None,
        }
    }
}
