//! Layer 3: IPv4 (options, fragments), IPv6 (extension headers), and the
//! network layer's own messages: ICMP, ICMPv6, IGMP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    Icmpv4Slice, Icmpv6Slice, IgmpSlice, IpNumber, Ipv6ExtensionSlice, LaxIpPayloadSlice,
    LaxNetSlice, LaxSlicedPacket, TcpSlice, TransportSlice, UdpSlice,
};

use super::{
    Builder, LayerBuilder, StopAt, StopReason, be16, be32, hex_preview, internet_checksum,
};
use crate::inspect::model::{Facts, Protocols};
use crate::layer::Layer;

/// IP facts: addresses, TTL, protocol, fragments.
pub(super) fn facts(_data: &[u8], packet: &LaxSlicedPacket<'_>, facts: &mut Facts) {
    match &packet.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            facts.protocols.add(Protocols::IPV4);
            facts.src_ip = Some(IpAddr::V4(h.source_addr()));
            facts.dst_ip = Some(IpAddr::V4(h.destination_addr()));
            facts.ttl = Some(h.ttl());
            facts.ip_protocol = Some(ip.payload().ip_number.0);
            if h.more_fragments() || h.fragments_offset().value() > 0 {
                facts.protocols.add(Protocols::FRAGMENT);
            }
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            facts.protocols.add(Protocols::IPV6);
            facts.src_ip = Some(IpAddr::V6(h.source_addr()));
            facts.dst_ip = Some(IpAddr::V6(h.destination_addr()));
            facts.ttl = Some(h.hop_limit());
            facts.ip_protocol = Some(ip.payload().ip_number.0);
            if ip.is_payload_fragmented() {
                facts.protocols.add(Protocols::FRAGMENT);
            }
        }
        _ => {}
    }
}

/// etherparse leaves the payload of any fragment alone, but a first
/// fragment (offset 0) starts with the transport header, whose ports a
/// learner (and a filter) wants to see, as Wireshark shows them.
pub(super) fn slice_first_fragment(packet: &mut LaxSlicedPacket<'_>) {
    if packet.transport.is_some() || packet.stop_err.is_some() {
        return;
    }
    let first = match &packet.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            ip.is_payload_fragmented() && ip.header().fragments_offset().value() == 0
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            ip.is_payload_fragmented()
                && ipv6_extensions(ip).any(|e| {
                    matches!(e, Ipv6ExtensionSlice::Fragment(f) if f.fragment_offset().value() == 0)
                })
        }
        _ => false,
    };
    if !first {
        return;
    }
    let Some(payload) = packet.ip_payload().cloned() else {
        return;
    };
    let bytes = payload.payload;
    packet.transport = match payload.ip_number {
        IpNumber::TCP => TcpSlice::from_slice(bytes).ok().map(TransportSlice::Tcp),
        IpNumber::UDP => UdpSlice::from_slice_lax(bytes)
            .ok()
            .map(TransportSlice::Udp),
        IpNumber::ICMP => Icmpv4Slice::from_slice(bytes)
            .ok()
            .map(TransportSlice::Icmpv4),
        IpNumber::IPV6_ICMP => Icmpv6Slice::from_slice(bytes)
            .ok()
            .map(TransportSlice::Icmpv6),
        _ => None,
    };
}

/// The IPv6 extension headers lax slicing read, one by one.
///
/// Not etherparse's own iterator: it trusts every header to be whole, and
/// when lax slicing stopped inside one (a routing header cut short, say) it
/// reads past the end of the frame (`from_slice_unchecked`). This walk uses
/// the checked constructors and stops at the first that fails.
pub(super) fn ipv6_extensions<'a>(
    ip: &etherparse::LaxIpv6Slice<'a>,
) -> impl Iterator<Item = Ipv6ExtensionSlice<'a>> {
    use etherparse::{IpAuthHeaderSlice, Ipv6FragmentHeaderSlice, Ipv6RawExtHeaderSlice};
    let exts = ip.extensions();
    let mut next = exts.first_header();
    let mut rest = exts.slice();
    std::iter::from_fn(move || {
        let kind = next.take()?;
        let (ext, len, after) = match kind {
            IpNumber::IPV6_HEADER_HOP_BY_HOP
            | IpNumber::IPV6_ROUTE_HEADER
            | IpNumber::IPV6_DESTINATION_OPTIONS => {
                let s = Ipv6RawExtHeaderSlice::from_slice(rest).ok()?;
                let (len, after) = (s.slice().len(), s.next_header());
                let ext = match kind {
                    IpNumber::IPV6_HEADER_HOP_BY_HOP => Ipv6ExtensionSlice::HopByHop(s),
                    IpNumber::IPV6_ROUTE_HEADER => Ipv6ExtensionSlice::Routing(s),
                    _ => Ipv6ExtensionSlice::DestinationOptions(s),
                };
                (ext, len, after)
            }
            IpNumber::IPV6_FRAGMENTATION_HEADER => {
                let s = Ipv6FragmentHeaderSlice::from_slice(rest).ok()?;
                let (len, after) = (s.slice().len(), s.next_header());
                (Ipv6ExtensionSlice::Fragment(s), len, after)
            }
            IpNumber::AUTHENTICATION_HEADER => {
                let s = IpAuthHeaderSlice::from_slice(rest).ok()?;
                let (len, after) = (s.slice().len(), s.next_header());
                (Ipv6ExtensionSlice::Authentication(s), len, after)
            }
            _ => return None,
        };
        rest = rest.get(len..)?;
        if !rest.is_empty() {
            next = Some(after);
        }
        Some(ext)
    })
}

/// Length fields lax slicing tolerates but a learner should hear about.
pub(super) fn length_problems(packet: &LaxSlicedPacket<'_>) -> Option<StopAt> {
    let Some(LaxNetSlice::Ipv4(ip)) = &packet.net else {
        return None;
    };
    let h = ip.header();
    let header_len = h.slice().len();
    (usize::from(h.total_len()) < header_len).then_some(StopAt {
        layer: Layer::Network,
        header: "IPv4 header",
        reason: StopReason::BadValue {
            what: "IPv4 total length",
            value: u32::from(h.total_len()),
            why: "shorter than the header itself",
        },
        halted: false,
    })
}

/// Where a fragment's data goes in the original datagram's payload, in
/// bytes: IPv4's fragment offset, or IPv6's fragment extension header's.
pub(super) fn fragment_offset_bytes(packet: &LaxSlicedPacket<'_>) -> Option<usize> {
    match &packet.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            Some(usize::from(ip.header().fragments_offset().value()) * 8)
        }
        Some(LaxNetSlice::Ipv6(ip)) => ipv6_extensions(ip).find_map(|ext| match ext {
            Ipv6ExtensionSlice::Fragment(f) => Some(usize::from(f.fragment_offset().value()) * 8),
            _ => None,
        }),
        _ => None,
    }
}

/// How many bytes the IP header says its payload has (after any extension
/// headers), to compare with what the frame holds.
pub(super) fn declared_payload_len(packet: &LaxSlicedPacket<'_>) -> Option<usize> {
    match &packet.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            let exts = ip.extensions().auth.map_or(0, |a| a.slice().len());
            usize::from(h.total_len()).checked_sub(h.slice().len() + exts)
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            usize::from(ip.header().payload_length()).checked_sub(ip.extensions().slice().len())
        }
        _ => None,
    }
}

/// The IP header and its extension headers.
pub(super) fn dissect(packet: &LaxSlicedPacket<'_>, out: &mut Builder<'_>) {
    match &packet.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            dissect_ipv4(ip.header(), ip.payload(), out);
            if let Some(auth) = ip.extensions().auth {
                dissect_auth(auth, out);
            }
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            dissect_ipv6(ip.header(), ip.payload(), out);
            for ext in ipv6_extensions(ip) {
                dissect_ipv6_ext(&ext, out);
            }
        }
        _ => {}
    }
}

fn dissect_ipv4(
    hdr: etherparse::Ipv4HeaderSlice<'_>,
    payload: &LaxIpPayloadSlice<'_>,
    out: &mut Builder<'_>,
) {
    let h = hdr.slice();
    let range = out.range_of(h);
    let s = range.start;
    let ihl = hdr.ihl();
    let mf = hdr.more_fragments();
    let df = hdr.dont_fragment();
    let frag = hdr.fragments_offset().value();
    let proto = hdr.protocol();
    let mut view = LayerBuilder::new(Layer::Network, "IPv4", range.clone());
    let mut summary = format!(
        "{} → {}, TTL {}, {}",
        hdr.source_addr(),
        hdr.destination_addr(),
        hdr.ttl(),
        ip_number_name(payload.ip_number)
    );
    if mf || frag > 0 {
        summary.push_str(&format!(
            ", fragment at byte {}{}",
            u32::from(frag) * 8,
            if mf { ", more follow" } else { ", the last" }
        ));
    }
    view.summary(summary);
    view.field(
        "Version",
        "4",
        s..s + 1,
        "the IP version; an IPv6 packet starts with 6",
    );
    view.field(
        "Header length (IHL)",
        format!("{ihl} × 4 = {} bytes", usize::from(ihl) * 4),
        s..s + 1,
        "the header's size in 32-bit words; above 5 means options follow the addresses",
    );
    view.field(
        "DSCP",
        format!("{}{}", hdr.dcp().value(), dscp_name(hdr.dcp().value())),
        s + 1..s + 2,
        "differentiated services: a traffic class routers may prioritise by",
    );
    view.field(
        "ECN",
        ecn_name(hdr.ecn().value()),
        s + 1..s + 2,
        "explicit congestion notification: a router can mark the packet instead of dropping it",
    );
    view.field(
        "Total length",
        format!("{} bytes", hdr.total_len()),
        s + 2..s + 4,
        "header plus data: where the packet ends, whatever the link adds after it",
    );
    view.field(
        "Identification",
        format!("{} (0x{:04x})", hdr.identification(), hdr.identification()),
        s + 4..s + 6,
        "the same in every fragment of one datagram, so the receiver can put them back together",
    );
    let mut flags = Vec::new();
    if df {
        flags.push("DF (don't fragment)");
    }
    if mf {
        flags.push("MF (more fragments)");
    }
    view.field(
        "Flags",
        if flags.is_empty() {
            "none".to_string()
        } else {
            flags.join(", ")
        },
        s + 6..s + 7,
        "DF forbids routers to split the packet; MF says more fragments follow this one",
    );
    view.field(
        "Fragment offset",
        format!("{frag} (byte {})", u32::from(frag) * 8),
        s + 6..s + 8,
        "where this fragment's data goes in the original datagram, counted in 8-byte units",
    );
    view.field(
        "TTL",
        hdr.ttl().to_string(),
        s + 8..s + 9,
        "hops left before a router discards the packet (and sends back ICMP time exceeded)",
    );
    view.field(
        "Protocol",
        format!("{} ({})", proto.0, ip_number_name(proto)),
        s + 9..s + 10,
        "which protocol the payload is, so the receiver knows whom to hand it to",
    );
    let checksum = hdr.header_checksum();
    let verdict = if internet_checksum(&[h]) == 0 {
        "correct".to_string()
    } else {
        let mut zeroed = h.to_vec();
        if let Some(c) = zeroed.get_mut(10..12) {
            c.fill(0);
        }
        format!("wrong, should be 0x{:04x}", internet_checksum(&[&zeroed]))
    };
    view.field(
        "Header checksum",
        format!("0x{checksum:04x} ({verdict})"),
        s + 10..s + 12,
        "covers the header only; every router recomputes it, since the TTL changes",
    );
    view.field(
        "Source",
        hdr.source_addr().to_string(),
        s + 12..s + 16,
        "the sending host's address",
    );
    view.field(
        "Destination",
        hdr.destination_addr().to_string(),
        s + 16..s + 20,
        "the host the packet is for; routers forward by this address alone",
    );
    ipv4_options(hdr.options(), s + 20, &mut view);
    out.push(view.finish());
}

/// IPv4 options, one field each.
fn ipv4_options(opts: &[u8], start: usize, view: &mut LayerBuilder) {
    let mut at = 0;
    while let Some(&kind) = opts.get(at) {
        let len = match kind {
            0 | 1 => 1,
            _ => opts.get(at + 1).map_or(1, |l| usize::from(*l).max(2)),
        };
        let end = (at + len).min(opts.len());
        let (name, meaning) = match kind {
            0 => (
                "End of options",
                "marks the end of the option list; what follows is padding",
            ),
            1 => ("No-operation", "one byte of padding between options"),
            7 => (
                "Record route",
                "each router on the way writes its address here",
            ),
            68 => ("Timestamp", "routers on the way add the time they saw it"),
            130 => ("Security", "military-style security label (RFC 1108)"),
            131 => (
                "Loose source route",
                "routers the packet must pass through, in order (usually blocked)",
            ),
            137 => (
                "Strict source route",
                "the exact routers the packet must take (usually blocked)",
            ),
            148 => (
                "Router alert",
                "asks every router to look inside this packet (used by IGMP, RSVP)",
            ),
            _ => ("Option", "an IPv4 option netdojo has no name for"),
        };
        view.field(
            format!("Option: {name}"),
            format!(
                "kind {kind}, {} bytes{}",
                end - at,
                if end - at > 2 {
                    format!(
                        ": {}",
                        hex_preview(opts.get(at + 2..end).unwrap_or_default())
                    )
                } else {
                    String::new()
                }
            ),
            start + at..start + end,
            meaning,
        );
        if kind == 0 {
            if end < opts.len() {
                view.field(
                    "Padding",
                    format!("{} bytes", opts.len() - end),
                    start + end..start + opts.len(),
                    "fills the header to a multiple of 4 bytes",
                );
            }
            break;
        }
        at = end;
    }
}

fn dissect_ipv6(
    hdr: etherparse::Ipv6HeaderSlice<'_>,
    payload: &LaxIpPayloadSlice<'_>,
    out: &mut Builder<'_>,
) {
    let h = hdr.slice();
    let range = out.range_of(h);
    let s = range.start;
    let next = hdr.next_header();
    let mut view = LayerBuilder::new(Layer::Network, "IPv6", range.clone());
    view.summary(format!(
        "{} → {}, hop limit {}, {}",
        hdr.source_addr(),
        hdr.destination_addr(),
        hdr.hop_limit(),
        ip_number_name(payload.ip_number)
    ));
    view.field(
        "Version",
        "6",
        s..s + 1,
        "the IP version; an IPv4 packet starts with 4",
    );
    view.field(
        "Traffic class",
        format!(
            "0x{:02x} (DSCP {}{}, {})",
            hdr.traffic_class(),
            hdr.dscp().value(),
            dscp_name(hdr.dscp().value()),
            ecn_name(hdr.ecn().value())
        ),
        s..s + 2,
        "priority and congestion marking, as IPv4's DSCP and ECN",
    );
    view.field(
        "Flow label",
        format!("0x{:05x}", hdr.flow_label().value()),
        s + 1..s + 4,
        "tags the packets of one flow so routers can keep them on one path",
    );
    view.field(
        "Payload length",
        format!("{} bytes", hdr.payload_length()),
        s + 4..s + 6,
        "everything after this 40-byte header, extension headers included",
    );
    view.field(
        "Next header",
        format!("{} ({})", next.0, ip_number_name(next)),
        s + 6..s + 7,
        "what follows: an extension header or the transport protocol",
    );
    view.field(
        "Hop limit",
        hdr.hop_limit().to_string(),
        s + 7..s + 8,
        "hops left before a router discards the packet (IPv4 calls it TTL)",
    );
    view.field(
        "Source",
        hdr.source_addr().to_string(),
        s + 8..s + 24,
        "the sending host's address",
    );
    view.field(
        "Destination",
        hdr.destination_addr().to_string(),
        s + 24..s + 40,
        "the host the packet is for",
    );
    out.push(view.finish());
}

fn dissect_ipv6_ext(ext: &Ipv6ExtensionSlice<'_>, out: &mut Builder<'_>) {
    let (name, bytes) = match ext {
        Ipv6ExtensionSlice::HopByHop(e) => ("IPv6 Hop-by-Hop Options", e.slice()),
        Ipv6ExtensionSlice::Routing(e) => ("IPv6 Routing", e.slice()),
        Ipv6ExtensionSlice::Fragment(e) => ("IPv6 Fragment", e.slice()),
        Ipv6ExtensionSlice::DestinationOptions(e) => ("IPv6 Destination Options", e.slice()),
        Ipv6ExtensionSlice::Authentication(e) => {
            dissect_auth(*e, out);
            return;
        }
    };
    let range = out.range_of(bytes);
    let s = range.start;
    let next = IpNumber(bytes.first().copied().unwrap_or(0));
    let mut view = LayerBuilder::new(Layer::Network, name, range.clone());
    view.field(
        "Next header",
        format!("{} ({})", next.0, ip_number_name(next)),
        s..s + 1,
        "what follows this extension header",
    );
    match ext {
        Ipv6ExtensionSlice::Fragment(f) => {
            let offset = f.fragment_offset().value();
            view.summary(format!(
                "fragment at byte {}, {}, id 0x{:08x}",
                u32::from(offset) * 8,
                if f.more_fragments() {
                    "more follow"
                } else {
                    "the last"
                },
                f.identification()
            ));
            view.field(
                "Fragment offset",
                format!("{offset} (byte {})", u32::from(offset) * 8),
                s + 2..s + 4,
                "where this fragment's data goes, in 8-byte units; in IPv6 only the sender fragments",
            );
            view.field(
                "More fragments",
                if f.more_fragments() { "yes" } else { "no" },
                s + 3..s + 4,
                "whether more fragments follow this one",
            );
            view.field(
                "Identification",
                format!("0x{:08x}", f.identification()),
                s + 4..s + 8,
                "the same in every fragment of one packet",
            );
        }
        Ipv6ExtensionSlice::Routing(_) => {
            let kind = bytes.get(2).copied().unwrap_or(0);
            let left = bytes.get(3).copied().unwrap_or(0);
            view.summary(format!("routing type {kind}, {left} segments left"));
            view.field(
                "Header length",
                format!("{} bytes", bytes.len()),
                s + 1..s + 2,
                "in 8-byte units, not counting the first 8",
            );
            view.field(
                "Routing type",
                format!(
                    "{kind}{}",
                    match kind {
                        0 => " (source route, deprecated)",
                        2 => " (mobile IPv6)",
                        3 => " (RPL)",
                        4 => " (segment routing)",
                        _ => "",
                    }
                ),
                s + 2..s + 3,
                "which kind of routing header this is",
            );
            view.field(
                "Segments left",
                left.to_string(),
                s + 3..s + 4,
                "how many listed routers the packet still has to visit",
            );
            view.field(
                "Data",
                hex_preview(bytes.get(4..).unwrap_or_default()),
                s + 4..range.end,
                "the addresses to visit",
            );
        }
        _ => {
            view.summary(format!(
                "{} bytes of options",
                bytes.len().saturating_sub(2)
            ));
            view.field(
                "Header length",
                format!("{} bytes", bytes.len()),
                s + 1..s + 2,
                "in 8-byte units, not counting the first 8",
            );
            ipv6_options(bytes, s, &mut view);
        }
    }
    out.push(view.finish());
}

/// The type-length-value options of hop-by-hop and destination headers.
fn ipv6_options(bytes: &[u8], start: usize, view: &mut LayerBuilder) {
    let mut at = 2;
    while let Some(&kind) = bytes.get(at) {
        let end = if kind == 0 {
            at + 1
        } else {
            bytes
                .get(at + 1)
                .map_or(bytes.len(), |l| at + 2 + usize::from(*l))
                .min(bytes.len())
        };
        let (name, meaning) = match kind {
            0 => ("Pad1", "one byte of padding"),
            1 => ("PadN", "padding to an 8-byte boundary"),
            5 => (
                "Router alert",
                "asks every router to look inside (used by MLD, RSVP)",
            ),
            0xc2 => (
                "Jumbo payload",
                "the real length of a packet over 65,535 bytes",
            ),
            _ => ("Option", "an option netdojo has no name for"),
        };
        view.field(
            format!("Option: {name}"),
            format!("type {kind}, {} bytes", end - at),
            start + at..start + end,
            meaning,
        );
        at = end;
    }
}

fn dissect_auth(auth: etherparse::IpAuthHeaderSlice<'_>, out: &mut Builder<'_>) {
    let bytes = auth.slice();
    let range = out.range_of(bytes);
    let s = range.start;
    let next = auth.next_header();
    let mut view = LayerBuilder::new(Layer::Network, "IP Authentication Header", range.clone());
    view.summary(format!(
        "SPI 0x{:08x}, sequence {}",
        auth.spi(),
        auth.sequence_number()
    ));
    view.field(
        "Next header",
        format!("{} ({})", next.0, ip_number_name(next)),
        s..s + 1,
        "what follows this header",
    );
    view.field(
        "SPI",
        format!("0x{:08x}", auth.spi()),
        s + 4..s + 8,
        "security parameter index: which IPsec agreement protects the packet",
    );
    view.field(
        "Sequence number",
        auth.sequence_number().to_string(),
        s + 8..s + 12,
        "counts packets, so replayed ones can be refused",
    );
    view.field(
        "Integrity check value",
        hex_preview(auth.raw_icv()),
        s + 12..range.end,
        "a keyed hash proving the packet was not changed on the way",
    );
    out.push(view.finish());
}

/// ICMP for IPv4: the network layer's own messages (errors and echo).
pub(super) fn dissect_icmpv4(icmp: &Icmpv4Slice<'_>, out: &mut Builder<'_>) {
    let bytes = icmp.slice();
    let range = out.range_of(bytes);
    let s = range.start;
    let (t, c) = (icmp.type_u8(), icmp.code_u8());
    let (type_name, code_name) = icmpv4_names(t, c);
    let mut view = LayerBuilder::new(Layer::Network, "ICMP", range.clone());
    let mut summary = type_name.to_string();
    if let Some(code) = code_name {
        summary.push_str(&format!(" ({code})"));
    }
    icmp_common(&mut view, s, t, type_name, c, code_name);
    view.field(
        "Checksum",
        format!(
            "0x{:04x} ({})",
            icmp.checksum(),
            if internet_checksum(&[bytes]) == 0 {
                "correct"
            } else {
                "wrong"
            }
        ),
        s + 2..s + 4,
        "covers the whole ICMP message",
    );
    match t {
        0 | 8 | 13 | 14 => {
            let (id, seq) = echo_id_seq(bytes);
            summary.push_str(&format!(", id {id}, seq {seq}"));
            echo_fields(&mut view, s, id, seq);
        }
        3 if c == 4 => {
            let mtu = be16(bytes, 6).unwrap_or(0);
            summary.push_str(&format!(", next-hop MTU {mtu}"));
            view.field(
                "Next-hop MTU",
                mtu.to_string(),
                s + 6..s + 8,
                "the largest packet the next link takes: the sender should send smaller ones",
            );
        }
        5 => {
            let gw = be32(bytes, 4)
                .map(Ipv4Addr::from)
                .unwrap_or(Ipv4Addr::UNSPECIFIED);
            view.field(
                "Gateway",
                gw.to_string(),
                s + 4..s + 8,
                "a better router to use for this destination",
            );
        }
        _ => view.field(
            "Rest of header",
            hex_preview(bytes.get(4..8).unwrap_or_default()),
            s + 4..s + 8,
            "depends on the type; unused for most",
        ),
    }
    icmp_data(
        &mut view,
        bytes,
        s,
        matches!(t, 3 | 4 | 5 | 11 | 12),
        &mut summary,
    );
    view.summary(summary);
    out.push(view.finish());
}

/// ICMPv6: errors, echo, and neighbour discovery (IPv6's ARP).
pub(super) fn dissect_icmpv6(
    packet: &LaxSlicedPacket<'_>,
    icmp: &Icmpv6Slice<'_>,
    out: &mut Builder<'_>,
) {
    let bytes = icmp.slice();
    let range = out.range_of(bytes);
    let s = range.start;
    let (t, c) = (icmp.type_u8(), icmp.code_u8());
    let (type_name, code_name) = icmpv6_names(t, c);
    let mut view = LayerBuilder::new(Layer::Network, "ICMPv6", range.clone());
    let mut summary = type_name.to_string();
    if let Some(code) = code_name {
        summary.push_str(&format!(" ({code})"));
    }
    icmp_common(&mut view, s, t, type_name, c, code_name);
    let complete = packet.ip_payload().is_some_and(|p| !p.incomplete);
    let verdict = match &packet.net {
        Some(LaxNetSlice::Ipv6(ip)) if complete => {
            let h = ip.header();
            if icmp.is_checksum_valid(h.source(), h.destination()) {
                "correct"
            } else {
                "wrong"
            }
        }
        _ => "not checked",
    };
    view.field(
        "Checksum",
        format!("0x{:04x} ({verdict})", icmp.checksum()),
        s + 2..s + 4,
        "covers the message and the IPv6 addresses (a pseudo-header)",
    );
    match t {
        128 | 129 => {
            let (id, seq) = echo_id_seq(bytes);
            summary.push_str(&format!(", id {id}, seq {seq}"));
            echo_fields(&mut view, s, id, seq);
        }
        2 => {
            let mtu = be32(bytes, 4).unwrap_or(0);
            summary.push_str(&format!(", MTU {mtu}"));
            view.field(
                "MTU",
                mtu.to_string(),
                s + 4..s + 8,
                "the largest packet the next link takes: IPv6 routers never fragment, they say this",
            );
        }
        135 | 136 => {
            view.field(
                "Flags / reserved",
                hex_preview(bytes.get(4..8).unwrap_or_default()),
                s + 4..s + 8,
                "in an advertisement: router, solicited, override",
            );
            if let Some(target) = bytes.get(8..24).and_then(|b| <[u8; 16]>::try_from(b).ok()) {
                let target = Ipv6Addr::from(target);
                summary.push_str(&format!(", target {target}"));
                view.field(
                    "Target address",
                    target.to_string(),
                    s + 8..s + 24,
                    "the address whose link address is asked for (or announced): IPv6's ARP",
                );
            }
            if bytes.len() > 24 {
                view.field(
                    "Options",
                    hex_preview(&bytes[24..]),
                    s + 24..range.end,
                    "usually the sender's or target's link address",
                );
            }
            view.summary(summary);
            out.push(view.finish());
            return;
        }
        _ => view.field(
            "Rest of header",
            hex_preview(bytes.get(4..8).unwrap_or_default()),
            s + 4..s + 8,
            "depends on the type",
        ),
    }
    icmp_data(&mut view, bytes, s, matches!(t, 1..=4), &mut summary);
    view.summary(summary);
    out.push(view.finish());
}

/// IGMP: a host tells routers which multicast groups it listens to.
pub(super) fn dissect_igmp(igmp: &IgmpSlice<'_>, out: &mut Builder<'_>) {
    let bytes = igmp.slice();
    let range = out.range_of(bytes);
    let s = range.start;
    let t = igmp.type_u8();
    let name = match t {
        0x11 => "membership query",
        0x12 => "v1 membership report",
        0x16 => "v2 membership report",
        0x17 => "leave group",
        0x22 => "v3 membership report",
        _ => "unknown",
    };
    let mut view = LayerBuilder::new(Layer::Network, "IGMP", range.clone());
    view.summary(name);
    view.field(
        "Type",
        format!("0x{t:02x} ({name})"),
        s..s + 1,
        "hosts report the multicast groups they join; routers query who still listens",
    );
    view.field(
        "Max response time",
        igmp.max_resp_code_or_reserved().to_string(),
        s + 1..s + 2,
        "how long, in tenths of a second, hosts may wait before answering a query",
    );
    view.field(
        "Checksum",
        format!("0x{:04x}", igmp.checksum()),
        s + 2..s + 4,
        "covers the IGMP message",
    );
    view.field(
        "Group / rest",
        hex_preview(bytes.get(4..).unwrap_or_default()),
        s + 4..range.end,
        "the multicast group concerned, and more for IGMPv3",
    );
    out.push(view.finish());
}

fn icmp_common(
    view: &mut LayerBuilder,
    s: usize,
    t: u8,
    type_name: &str,
    c: u8,
    code_name: Option<&str>,
) {
    view.field(
        "Type",
        format!("{t} ({type_name})"),
        s..s + 1,
        "what kind of message: an error about some packet, or a query such as echo",
    );
    view.field(
        "Code",
        match code_name {
            Some(name) => format!("{c} ({name})"),
            None => c.to_string(),
        },
        s + 1..s + 2,
        "the detail within the type",
    );
}

fn echo_id_seq(bytes: &[u8]) -> (u16, u16) {
    (be16(bytes, 4).unwrap_or(0), be16(bytes, 6).unwrap_or(0))
}

fn echo_fields(view: &mut LayerBuilder, s: usize, id: u16, seq: u16) {
    view.field(
        "Identifier",
        id.to_string(),
        s + 4..s + 6,
        "chosen by the pinging program, so it can tell its replies from another ping's",
    );
    view.field(
        "Sequence number",
        seq.to_string(),
        s + 6..s + 8,
        "counts the echoes, so a missing or late reply shows",
    );
}

/// The message body: for an error, the start of the packet that caused it.
fn icmp_data(
    view: &mut LayerBuilder,
    bytes: &[u8],
    s: usize,
    is_error: bool,
    summary: &mut String,
) {
    let Some(data) = bytes.get(8..).filter(|d| !d.is_empty()) else {
        return;
    };
    let range = s + 8..s + bytes.len();
    if is_error {
        let inner = describe_inner(data);
        summary.push_str(&format!(", about: {inner}"));
        view.field(
            "Original packet",
            inner,
            range,
            "the start of the packet that caused the error, so the sender can tell which one",
        );
    } else {
        view.field(
            "Data",
            hex_preview(data),
            range,
            "echo data: the reply carries the same bytes back",
        );
    }
}

/// One line for the IP packet quoted inside an ICMP error.
fn describe_inner(data: &[u8]) -> String {
    let Ok(inner) = LaxSlicedPacket::from_ip(data) else {
        return format!("{} bytes", data.len());
    };
    let (src, dst, proto) = match &inner.net {
        Some(LaxNetSlice::Ipv4(ip)) => (
            IpAddr::V4(ip.header().source_addr()),
            IpAddr::V4(ip.header().destination_addr()),
            ip.payload().ip_number,
        ),
        Some(LaxNetSlice::Ipv6(ip)) => (
            IpAddr::V6(ip.header().source_addr()),
            IpAddr::V6(ip.header().destination_addr()),
            ip.payload().ip_number,
        ),
        _ => return format!("{} bytes", data.len()),
    };
    // Errors quote only 8 bytes past the IP header: enough for the ports.
    let payload = inner.ip_payload().map(|p| p.payload).unwrap_or_default();
    match (proto, be16(payload, 0), be16(payload, 2)) {
        (IpNumber::TCP | IpNumber::UDP, Some(sp), Some(dp)) => {
            format!("{} {src}:{sp} → {dst}:{dp}", ip_number_name(proto))
        }
        _ => format!("{} {src} → {dst}", ip_number_name(proto)),
    }
}

/// `TCP`, `UDP`, `ICMP`... or the number.
pub(super) fn ip_number_name(n: IpNumber) -> String {
    match n.0 {
        0 => "IPv6 hop-by-hop".to_string(),
        6 => "TCP".to_string(),
        17 => "UDP".to_string(),
        1 => "ICMP".to_string(),
        58 => "ICMPv6".to_string(),
        _ => n
            .keyword_str()
            .map_or_else(|| format!("protocol {}", n.0), str::to_string),
    }
}

fn dscp_name(d: u8) -> &'static str {
    match d {
        0 => " (default)",
        46 => " (expedited forwarding: voice)",
        8 => " (CS1: background)",
        10 | 12 | 14 | 18 | 20 | 22 | 26 | 28 | 30 | 34 | 36 | 38 => " (assured forwarding)",
        48 => " (CS6: network control)",
        _ => "",
    }
}

fn ecn_name(e: u8) -> &'static str {
    match e {
        0 => "not ECN-capable",
        1 | 2 => "ECN-capable",
        _ => "congestion experienced",
    }
}

fn icmpv4_names(t: u8, c: u8) -> (&'static str, Option<&'static str>) {
    match t {
        0 => ("echo reply", None),
        3 => (
            "destination unreachable",
            Some(match c {
                0 => "network unreachable",
                1 => "host unreachable",
                2 => "protocol unreachable",
                3 => "port unreachable",
                4 => "fragmentation needed and DF set",
                5 => "source route failed",
                6 => "network unknown",
                7 => "host unknown",
                9 | 10 => "administratively prohibited",
                13 => "communication administratively prohibited",
                _ => "other",
            }),
        ),
        4 => ("source quench", None),
        5 => ("redirect", None),
        8 => ("echo request", None),
        9 => ("router advertisement", None),
        10 => ("router solicitation", None),
        11 => (
            "time exceeded",
            Some(match c {
                0 => "TTL exceeded in transit",
                1 => "fragment reassembly time exceeded",
                _ => "other",
            }),
        ),
        12 => ("parameter problem", None),
        13 => ("timestamp request", None),
        14 => ("timestamp reply", None),
        _ => ("unknown type", None),
    }
}

fn icmpv6_names(t: u8, c: u8) -> (&'static str, Option<&'static str>) {
    match t {
        1 => (
            "destination unreachable",
            Some(match c {
                0 => "no route",
                1 => "administratively prohibited",
                3 => "address unreachable",
                4 => "port unreachable",
                _ => "other",
            }),
        ),
        2 => ("packet too big", None),
        3 => (
            "time exceeded",
            Some(match c {
                0 => "hop limit exceeded in transit",
                1 => "fragment reassembly time exceeded",
                _ => "other",
            }),
        ),
        4 => ("parameter problem", None),
        128 => ("echo request", None),
        129 => ("echo reply", None),
        130 => ("multicast listener query", None),
        131 => ("multicast listener report", None),
        133 => ("router solicitation", None),
        134 => ("router advertisement", None),
        135 => ("neighbor solicitation", None),
        136 => ("neighbor advertisement", None),
        137 => ("redirect", None),
        143 => ("multicast listener report v2", None),
        _ => ("unknown type", None),
    }
}
