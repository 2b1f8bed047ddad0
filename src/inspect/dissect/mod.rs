//! From bytes to layers: [`facts`] (fast, no allocation) and [`dissect`]
//! (every field, its byte range and its meaning).
//!
//! Both start from the same cut of the frame, [`slice_frame`], built on
//! etherparse's *lax* slicing: a frame that ends early, or whose length
//! fields lie, still yields every layer that could be read, and a note of
//! where and why reading stopped. So `--summary` (facts) and the tree view
//! (dissect) always agree on what a frame holds.
//!
//! - [`link`]: Ethernet II, 802.1Q VLAN, ARP, Linux cooked capture (SLL
//!   and SLL2, which `tcpdump -i any` writes today),
//!   BSD loopback (null, and OpenBSD's loop), and the Ethernet trailer.
//! - [`network`]: IPv4 (options, fragments), IPv6 (extension headers),
//!   ICMP, ICMPv6, IGMP.
//! - [`transport`]: TCP (flags, options) and UDP.
//! - [`application`]: DNS, HTTP/1.x heads, WebSocket frames, TLS
//!   ClientHello, or the payload as text or hex; and the cheap guesses
//!   `facts` makes about them.
//!
//! Nothing here may panic on any input: every read is checked, and a
//! property test feeds random and mutated frames through both entry points.

mod application;
mod fast;
mod link;
mod network;
mod transport;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use etherparse::err::packet::SliceError;
use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};

use super::model::{
    Dissection, Facts, Field, Frame, LayerView, LinkType, Protocols, Stop, TcpFlags, TransportFacts,
};
use crate::layer::Layer;

/// The few facts filters, summaries and conversations need, without
/// allocating: this runs once per packet on the `--summary` hot path.
/// Plain TCP and UDP over IP over Ethernet are read by hand ([`fast`]);
/// everything else, and anything odd about those, by [`sliced_facts`].
pub fn facts(frame: &Frame) -> Facts {
    match fast::plain_facts(frame) {
        Some(facts) => facts,
        None => sliced_facts(frame),
    }
}

/// [`facts`] through etherparse's lax slicing: every frame, however odd.
fn sliced_facts(frame: &Frame) -> Facts {
    let data = frame.data.as_slice();
    let mut facts = Facts {
        captured_len: data.len(),
        original_len: frame.original_len,
        ..Facts::default()
    };
    let sliced = slice_frame(data, frame.link);
    link::facts(&sliced, &mut facts);
    if let Some(packet) = &sliced.packet {
        network::facts(data, packet, &mut facts);
        transport::facts(data, packet, &mut facts);
    }
    if let Some(TransportFacts::Tcp {
        src_port,
        dst_port,
        payload,
        ..
    }) = facts.transport
    {
        let bytes = data.get(payload.0..payload.1).unwrap_or_default();
        facts
            .protocols
            .add(application::guess_tcp(src_port, dst_port, bytes));
    } else if let Some(TransportFacts::Udp {
        src_port,
        dst_port,
        payload,
        ..
    }) = facts.transport
    {
        let bytes = data.get(payload.0..payload.1).unwrap_or_default();
        facts
            .protocols
            .add(application::guess_udp(src_port, dst_port, bytes));
    }
    facts.stopped_at = sliced.stop.map(|s| s.layer);
    facts.stop_malformed = sliced.stop.is_some_and(|s| !s.reason.is_shortfall());
    facts
}

/// Every layer and field of the frame, link first, with byte ranges that
/// tile the frame: each byte belongs to exactly one layer.
pub fn dissect(frame: &Frame) -> Dissection {
    let data = frame.data.as_slice();
    let sliced = slice_frame(data, frame.link);
    let mut out = Builder::new(data);

    link::dissect(&sliced, &mut out);
    // Where the network layer's packet ends: bytes past it are link-layer
    // padding (the Ethernet trailer), not payload.
    let mut packet_end = data.len();
    if let Some(packet) = &sliced.packet {
        match &packet.net {
            Some(LaxNetSlice::Arp(arp)) => {
                link::dissect_arp(arp, &mut out);
                packet_end = out.cursor;
            }
            Some(LaxNetSlice::Ipv4(_) | LaxNetSlice::Ipv6(_)) => {
                network::dissect(packet, &mut out);
                if let Some(ip) = packet.ip_payload() {
                    packet_end = out.offset_of(ip.payload) + ip.payload.len();
                }
                transport::dissect(packet, &mut out);
            }
            None => {}
        }
    }
    let packet_end = packet_end.clamp(out.cursor, data.len());

    match sliced.stop {
        Some(stop) if stop.halted && out.cursor < packet_end => {
            // The header that could not be read: its bytes still get a colour.
            let state = if stop.reason.is_shortfall() {
                "truncated"
            } else {
                "malformed"
            };
            let range = out.cursor..packet_end;
            let protocol = format!("{} ({state})", stop.header);
            let mut view = LayerBuilder::new(stop.layer, protocol, range.clone());
            view.summary(format!("{} bytes: {}", range.len(), stop.reason));
            view.field(
                "Bytes",
                hex_preview(data.get(range.clone()).unwrap_or_default()),
                range,
                "what the frame holds where this header should be",
            );
            out.push(view.finish());
        }
        _ => {
            if out.cursor < packet_end {
                application::dissect(&sliced, packet_end, &mut out);
            }
        }
    }
    if out.cursor < data.len() {
        link::dissect_trailer(&sliced, &mut out);
    }

    let snap = frame.snap_truncated();
    Dissection {
        layers: out.layers,
        stop: sliced.stop.map(|s| Stop {
            layer: s.layer,
            reason: s.reason.to_string(),
            snap_length: snap && s.reason.is_shortfall(),
            malformed: !s.reason.is_shortfall(),
        }),
    }
}

/// The link header netdojo read itself, where etherparse has no entry point
/// (or, for SLL, refuses the common loopback case).
#[derive(Clone, Copy, Debug)]
pub(crate) enum LinkHeader {
    Ethernet,
    /// Linux cooked capture v1: 16 bytes, read by [`link::SllHeader`].
    Sll(link::SllHeader),
    /// Linux cooked capture v2 (20 bytes), and its interface index.
    Sll2(link::SllHeader, u32),
    /// BSD loopback: a 4-byte address family in the capturing host's order
    /// (LINKTYPE_NULL), or in network order (LINKTYPE_LOOP, OpenBSD).
    Null {
        family: u32,
        network_order: bool,
    },
    RawIp,
    /// A link header too short to read; the stop says why.
    Unreadable,
    Other(u32),
}

/// A frame cut into layers, shared by [`facts`] and [`dissect`].
pub(crate) struct Sliced<'a> {
    pub data: &'a [u8],
    pub link: LinkHeader,
    /// `None` when the link header itself could not be read (or the link
    /// type is unknown).
    pub packet: Option<LaxSlicedPacket<'a>>,
    /// The first problem found.
    pub stop: Option<StopAt>,
}

/// A problem found while slicing, and where.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StopAt {
    /// The layer that could not be read (or holds the bad value).
    pub layer: Layer,
    /// The header concerned: `TCP header`.
    pub header: &'static str,
    pub reason: StopReason,
    /// Whether reading stopped here (nothing after it was parsed), rather
    /// than a length field being wrong while the layers after it still read.
    pub halted: bool,
}

/// Cuts a frame into etherparse slices from the right entry point for its
/// link type, and adds what lax slicing leaves out: the transport header
/// of a first fragment, and length fields that claim too little or too much.
pub(crate) fn slice_frame(data: &[u8], link_type: LinkType) -> Sliced<'_> {
    let mut sliced = match link_type {
        LinkType::Ethernet => match LaxSlicedPacket::from_ethernet(data) {
            Ok(packet) => Sliced::new(data, LinkHeader::Ethernet, Some(packet)),
            Err(e) => Sliced::stopped(data, LinkHeader::Ethernet, len_stop(&e)),
        },
        LinkType::RawIp => ip_from(data, LinkHeader::RawIp, 0),
        LinkType::Null => link::slice_null(data, false),
        LinkType::Other(link::LINKTYPE_LOOP) => link::slice_null(data, true),
        LinkType::LinuxSll => link::slice_sll(data),
        LinkType::Other(link::LINKTYPE_LINUX_SLL2) => link::slice_sll2(data),
        LinkType::Other(n) => Sliced::new(data, LinkHeader::Other(n), None),
    };
    if let Some(packet) = sliced.packet.as_mut() {
        network::slice_first_fragment(packet);
    }
    if sliced.stop.is_none() {
        sliced.stop = sliced
            .packet
            .as_ref()
            .and_then(|p| network::length_problems(p).or_else(|| transport::length_problems(p)));
    }
    sliced
}

/// Slices an IP packet that starts `offset` bytes into the frame.
fn ip_from(data: &[u8], link: LinkHeader, offset: usize) -> Sliced<'_> {
    let bytes = data.get(offset..).unwrap_or_default();
    match LaxSlicedPacket::from_ip(bytes) {
        Ok(packet) => Sliced::new(data, link, Some(packet)),
        Err(etherparse::err::ip::LaxHeaderSliceError::Len(e)) => {
            Sliced::stopped(data, link, len_stop(&e))
        }
        Err(etherparse::err::ip::LaxHeaderSliceError::Content(e)) => {
            Sliced::stopped(data, link, ip_content_stop(&e))
        }
    }
}

impl<'a> Sliced<'a> {
    fn new(data: &'a [u8], link: LinkHeader, packet: Option<LaxSlicedPacket<'a>>) -> Self {
        let stop = packet
            .as_ref()
            .and_then(|p| p.stop_err.as_ref())
            .map(|(err, layer)| slice_error_stop(err, *layer));
        Sliced {
            data,
            link,
            packet,
            stop,
        }
    }

    fn stopped(data: &'a [u8], link: LinkHeader, stop: StopAt) -> Self {
        Sliced {
            data,
            link,
            packet: None,
            stop: Some(stop),
        }
    }
}

/// Why dissection stopped, without allocating (facts needs only the layer;
/// dissect formats it). The wording is what a learner reads after
/// `truncated at L4 Transport: `.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// A header (or payload) needs more bytes than there are:
    /// `TCP header needs 20 bytes, 7 present`. With `limit`, an enclosing
    /// length field, not the end of the frame, is what cut it:
    /// `TCP header needs 20 bytes, the IPv4 total length leaves 8`.
    Short {
        what: &'static str,
        needs: usize,
        present: usize,
        limit: Option<&'static str>,
    },
    /// A message has a fixed size and this one differs.
    WrongSize {
        what: &'static str,
        must: usize,
        present: usize,
    },
    /// A field holds a value the protocol does not allow:
    /// `IPv4 header length (IHL) is 3, below the minimum of 5 (20 bytes)`.
    BadValue {
        what: &'static str,
        value: u32,
        why: &'static str,
    },
    /// A length field claims more than the enclosing layer carries:
    /// `UDP length says 100 bytes, the IPv4 payload has 11`.
    Overrun {
        what: &'static str,
        claims: usize,
        within: &'static str,
        has: usize,
    },
    /// Anything else, in etherparse's words' place.
    Other(&'static str),
}

impl StopReason {
    /// Whether the frame simply ran out of bytes (what a snap length does),
    /// rather than holding a wrong value.
    pub fn is_shortfall(self) -> bool {
        matches!(self, StopReason::Short { limit: None, .. })
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            StopReason::Short {
                what,
                needs,
                present,
                limit: None,
            } => write!(f, "{what} needs {needs} bytes, {present} present"),
            StopReason::Short {
                what,
                needs,
                present,
                limit: Some(limit),
            } => write!(f, "{what} needs {needs} bytes, {limit} leaves {present}"),
            StopReason::WrongSize {
                what,
                must,
                present,
            } => write!(f, "{what} must be {must} bytes, {present} present"),
            StopReason::BadValue { what, value, why } => write!(f, "{what} is {value}, {why}"),
            StopReason::Overrun {
                what,
                claims,
                within,
                has,
            } => write!(f, "{what} says {claims} bytes, {within} has {has}"),
            StopReason::Other(what) => f.write_str(what),
        }
    }
}

/// Our layer and wording for where etherparse stopped.
fn slice_error_stop(err: &SliceError, layer: etherparse::err::Layer) -> StopAt {
    use etherparse::err::ipv6_exts::HeaderError as ExtErr;
    let reason = match err {
        SliceError::Len(e) => return len_stop(e),
        SliceError::Ip(e) => return ip_content_stop(e),
        SliceError::Tcp(etherparse::err::tcp::HeaderError::DataOffsetTooSmall { data_offset }) => {
            StopReason::BadValue {
                what: "TCP data offset",
                value: u32::from(*data_offset),
                why: "below the minimum of 5 (20 bytes)",
            }
        }
        SliceError::Ipv6Exts(ExtErr::HopByHopNotAtStart) => {
            StopReason::Other("IPv6 hop-by-hop options header is not the first extension header")
        }
        SliceError::Ipv6Exts(ExtErr::IpAuth(_)) | SliceError::Ipv4Exts(_) => {
            StopReason::Other("IP authentication header is malformed")
        }
        SliceError::Ipv4(_) => StopReason::Other("IPv4 header is malformed"),
        SliceError::Ipv6(_) => StopReason::Other("IPv6 header is malformed"),
        SliceError::LinuxSll(_) => StopReason::Other("Linux cooked capture header is malformed"),
        SliceError::Macsec(_) => StopReason::Other("MACsec header is malformed"),
    };
    StopAt {
        layer: osi_layer(layer),
        header: header_name(layer),
        reason,
        halted: true,
    }
}

fn ip_content_stop(e: &etherparse::err::ip::HeaderError) -> StopAt {
    use etherparse::err::ip::HeaderError as E;
    let (header, reason) = match e {
        E::UnsupportedIpVersion { version_number } => (
            "IP header",
            StopReason::BadValue {
                what: "IP version",
                value: u32::from(*version_number),
                why: "only 4 and 6 exist",
            },
        ),
        E::Ipv4HeaderLengthSmallerThanHeader { ihl } => (
            "IPv4 header",
            StopReason::BadValue {
                what: "IPv4 header length (IHL)",
                value: u32::from(*ihl),
                why: "below the minimum of 5 (20 bytes)",
            },
        ),
    };
    StopAt {
        layer: Layer::Network,
        header,
        reason,
        halted: true,
    }
}

fn len_stop(e: &etherparse::err::LenError) -> StopAt {
    use etherparse::LenSource;
    let what = header_name(e.layer);
    let reason = if e.required_len <= e.len {
        StopReason::WrongSize {
            what,
            must: e.required_len,
            present: e.len,
        }
    } else {
        let limit = match e.len_source {
            LenSource::Slice => None,
            LenSource::Ipv4HeaderTotalLen => Some("the IPv4 total length"),
            LenSource::Ipv6HeaderPayloadLen => Some("the IPv6 payload length"),
            LenSource::UdpHeaderLen => Some("the UDP length"),
            LenSource::TcpHeaderLen => Some("the TCP data offset"),
            LenSource::MacsecShortLength => Some("the MACsec short length"),
            LenSource::ArpAddrLengths => Some("the ARP address lengths"),
        };
        StopReason::Short {
            what,
            needs: e.required_len,
            present: e.len,
            limit,
        }
    };
    StopAt {
        layer: osi_layer(e.layer),
        header: what,
        reason,
        halted: true,
    }
}

/// etherparse's layer names, as a learner reads them.
fn header_name(layer: etherparse::err::Layer) -> &'static str {
    use etherparse::err::Layer as L;
    match layer {
        L::LinuxSllHeader => "Linux cooked capture header",
        L::Ethernet2Header => "Ethernet header",
        L::EtherPayload => "Ethernet payload",
        L::VlanHeader => "802.1Q VLAN tag",
        L::MacsecHeader | L::MacsecPacket => "MACsec header",
        L::IpHeader => "IP header",
        L::Ipv4Header => "IPv4 header",
        L::Ipv4Packet => "IPv4 packet",
        L::IpAuthHeader => "IP authentication header",
        L::Ipv6Header => "IPv6 header",
        L::Ipv6Packet => "IPv6 packet",
        L::Ipv6ExtHeader => "IPv6 extension header",
        L::Ipv6HopByHopHeader => "IPv6 hop-by-hop options header",
        L::Ipv6DestOptionsHeader => "IPv6 destination options header",
        L::Ipv6RouteHeader => "IPv6 routing header",
        L::Ipv6FragHeader => "IPv6 fragment header",
        L::UdpHeader => "UDP header",
        L::UdpPayload => "UDP payload",
        L::TcpHeader => "TCP header",
        L::Icmpv4 => "ICMP header",
        L::Icmpv4Timestamp => "ICMP timestamp message",
        L::Icmpv4TimestampReply => "ICMP timestamp reply",
        L::Icmpv6 => "ICMPv6 header",
        L::Igmp => "IGMP message",
        L::Arp => "ARP packet",
    }
}

/// The OSI layer of an etherparse layer. ARP is drawn at L2 here: it
/// never leaves the local link and exists to serve it (see `link.rs`).
fn osi_layer(layer: etherparse::err::Layer) -> Layer {
    use etherparse::err::Layer as L;
    match layer {
        L::LinuxSllHeader
        | L::Ethernet2Header
        | L::EtherPayload
        | L::VlanHeader
        | L::MacsecHeader
        | L::MacsecPacket
        | L::Arp => Layer::DataLink,
        L::IpHeader
        | L::Ipv4Header
        | L::Ipv4Packet
        | L::IpAuthHeader
        | L::Ipv6Header
        | L::Ipv6Packet
        | L::Ipv6ExtHeader
        | L::Ipv6HopByHopHeader
        | L::Ipv6DestOptionsHeader
        | L::Ipv6RouteHeader
        | L::Ipv6FragHeader
        | L::Icmpv4
        | L::Icmpv4Timestamp
        | L::Icmpv4TimestampReply
        | L::Icmpv6
        | L::Igmp => Layer::Network,
        L::UdpHeader | L::UdpPayload | L::TcpHeader => Layer::Transport,
    }
}

/// Collects layers in frame order and keeps their ranges tiling the frame.
pub(crate) struct Builder<'a> {
    pub data: &'a [u8],
    pub layers: Vec<LayerView>,
    /// Where the next layer starts.
    pub cursor: usize,
}

impl<'a> Builder<'a> {
    fn new(data: &'a [u8]) -> Self {
        Builder {
            data,
            layers: Vec::new(),
            cursor: 0,
        }
    }

    /// Where a sub-slice of the frame starts. Every slice etherparse hands
    /// back borrows from the frame; a foreign one maps to the end.
    pub fn offset_of(&self, part: &[u8]) -> usize {
        offset_in(self.data, part)
    }

    /// The frame range a sub-slice covers.
    pub fn range_of(&self, part: &[u8]) -> Range<usize> {
        let start = self.offset_of(part);
        start..(start + part.len()).min(self.data.len())
    }

    /// Adds a layer. Its range is trimmed so layers never overlap (and its
    /// fields to its range), and a gap before it (which would be a bug here)
    /// becomes a data layer, so every byte keeps a layer to be coloured by.
    pub fn push(&mut self, mut view: LayerView) {
        let end = view.range.end.min(self.data.len());
        let start = view.range.start.max(self.cursor).min(end);
        if start > self.cursor {
            let gap = self.cursor..start;
            let mut filler = LayerBuilder::new(view.layer, "Data", gap.clone());
            filler.summary(format!("{} bytes", gap.len()));
            self.layers.push(filler.finish());
        }
        if start == end && !view.range.is_empty() {
            return;
        }
        view.range = start..end;
        // A field never points outside its layer, so a view can index the
        // frame by any range here without checking.
        for f in &mut view.fields {
            let fs = f.range.start.clamp(start, end);
            f.range = fs..f.range.end.clamp(fs, end);
        }
        self.cursor = end;
        self.layers.push(view);
    }
}

/// Builds one [`LayerView`].
pub(crate) struct LayerBuilder {
    view: LayerView,
}

impl LayerBuilder {
    pub fn new(layer: Layer, protocol: impl Into<Cow<'static, str>>, range: Range<usize>) -> Self {
        LayerBuilder {
            view: LayerView {
                layer,
                protocol: protocol.into(),
                range,
                summary: String::new(),
                fields: Vec::new(),
            },
        }
    }

    pub fn summary(&mut self, summary: impl Into<String>) {
        self.view.summary = summary.into();
    }

    pub fn field(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
        range: Range<usize>,
        meaning: impl Into<Cow<'static, str>>,
    ) {
        self.view.fields.push(Field {
            name: name.into(),
            value: value.into(),
            range,
            meaning: meaning.into(),
        });
    }

    pub fn finish(self) -> LayerView {
        self.view
    }
}

/// Where `part`, a sub-slice of `whole`, starts in it. Every slice
/// etherparse hands back borrows from the frame; a foreign one maps to the
/// end, so a range built from it is empty rather than wrong.
pub(crate) fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    let base = whole.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    if at < base || at > base + whole.len() {
        return whole.len();
    }
    at - base
}

/// The internet checksum (RFC 1071) over several pieces, as if they were
/// one: the ones' complement of the ones' complement sum of 16-bit words.
/// Over data that includes a correct checksum field it is 0.
pub(crate) fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        let mut bytes = part.iter();
        if let Some(hi) = odd.take() {
            match bytes.next() {
                Some(lo) => sum += u64::from(u16::from_be_bytes([hi, *lo])),
                None => {
                    odd = Some(hi);
                    continue;
                }
            }
        }
        let rest = bytes.as_slice();
        let mut pairs = rest.chunks_exact(2);
        for pair in &mut pairs {
            sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
        }
        odd = pairs.remainder().first().copied();
    }
    if let Some(hi) = odd {
        sum += u64::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// How many payload bytes a value shows before `…`: the hex dump view
/// shows them all, a field value is one line.
pub(crate) const PREVIEW_BYTES: usize = 48;

/// Bytes as spaced hex, the first [`PREVIEW_BYTES`] of them.
pub(crate) fn hex_preview(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len().min(PREVIEW_BYTES) * 3 + 16);
    for (i, b) in bytes.iter().take(PREVIEW_BYTES).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
    if bytes.len() > PREVIEW_BYTES {
        let _ = write!(out, " … ({} bytes)", bytes.len());
    }
    out
}

/// Reads a big-endian u16 at `at`, if the bytes are there.
pub(crate) fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads a big-endian u32 at `at`, if the bytes are there.
pub(crate) fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// `aa:bb:cc:dd:ee:ff`.
pub(crate) fn mac(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Protocol bits for a transport slice.
fn transport_bit(t: &TransportSlice<'_>) -> u32 {
    match t {
        TransportSlice::Tcp(_) => Protocols::TCP,
        TransportSlice::Udp(_) => Protocols::UDP,
        TransportSlice::Icmpv4(_) => Protocols::ICMP,
        TransportSlice::Icmpv6(_) => Protocols::ICMPV6,
        TransportSlice::Igmp(_) => 0,
    }
}

/// TCP flags, spelled out: `SYN, ACK`.
pub(crate) fn tcp_flag_names(flags: TcpFlags) -> String {
    // Wireshark's order, low bit first: `SYN, ACK`, `FIN, PSH, ACK`.
    const NAMES: [(u8, &str); 8] = [
        (TcpFlags::FIN, "FIN"),
        (TcpFlags::SYN, "SYN"),
        (TcpFlags::RST, "RST"),
        (TcpFlags::PSH, "PSH"),
        (TcpFlags::ACK, "ACK"),
        (TcpFlags::URG, "URG"),
        (TcpFlags::ECE, "ECE"),
        (TcpFlags::CWR, "CWR"),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(bit, _)| flags.has(*bit))
        .map(|(_, name)| *name)
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests;
