//! Layer 4: TCP (ports, sequence numbers, flags, options) and UDP.

use std::borrow::Cow;

use etherparse::{
    LaxNetSlice, LaxSlicedPacket, TcpOptionElement, TcpOptionsIterator, TcpSlice, TransportSlice,
    UdpSlice,
};

use super::{
    Builder, LayerBuilder, StopAt, StopReason, hex_preview, internet_checksum, network, offset_in,
    tcp_flag_names, transport_bit,
};
use crate::inspect::model::{Facts, TcpFlags, TransportFacts};
use crate::layer::Layer;

/// The UDP header's size.
const UDP_HEADER_LEN: usize = 8;

/// Ports, sequence numbers, flags and where the payload is.
pub(super) fn facts(data: &[u8], packet: &LaxSlicedPacket<'_>, facts: &mut Facts) {
    let Some(t) = &packet.transport else {
        return;
    };
    facts.protocols.add(transport_bit(t));
    facts.transport = match t {
        TransportSlice::Tcp(tcp) => {
            let start = offset_in(data, tcp.payload());
            Some(TransportFacts::Tcp {
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
                seq: tcp.sequence_number(),
                ack: tcp.acknowledgment_number(),
                flags: tcp_flags(tcp),
                window: tcp.window_size(),
                payload: (start, start + tcp.payload().len()),
            })
        }
        TransportSlice::Udp(udp) => {
            let start = offset_in(data, udp.payload());
            Some(TransportFacts::Udp {
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
                length: udp.length(),
                payload: (start, start + udp.payload().len()),
            })
        }
        TransportSlice::Icmpv4(icmp) => {
            if matches!(icmp.type_u8(), 0 | 8) {
                facts.icmp_echo = Some(echo_id_seq(icmp.bytes5to8()));
            }
            Some(TransportFacts::Icmp {
                v6: false,
                icmp_type: icmp.type_u8(),
                code: icmp.code_u8(),
            })
        }
        TransportSlice::Icmpv6(icmp) => {
            if matches!(icmp.type_u8(), 128 | 129) {
                facts.icmp_echo = Some(echo_id_seq(icmp.bytes5to8()));
            }
            Some(TransportFacts::Icmp {
                v6: true,
                icmp_type: icmp.type_u8(),
                code: icmp.code_u8(),
            })
        }
        TransportSlice::Igmp(_) => None,
    };
}

/// An echo's identifier and sequence number, bytes 5 to 8 of its header.
fn echo_id_seq(b: [u8; 4]) -> (u16, u16) {
    (
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]),
    )
}

/// The flags byte (CWR..FIN), the 13th of the header.
fn tcp_flags(tcp: &TcpSlice<'_>) -> TcpFlags {
    TcpFlags(tcp.header_slice().get(13).copied().unwrap_or(0))
}

/// Payloads shorter than their headers announce, and UDP lengths that lie.
pub(super) fn length_problems(packet: &LaxSlicedPacket<'_>) -> Option<StopAt> {
    let ip = packet.ip_payload()?;
    let v6 = matches!(packet.net, Some(LaxNetSlice::Ipv6(_)));
    let has = ip.payload.len();
    let declared = network::declared_payload_len(packet).unwrap_or(has);
    let short = |layer, what, needs, present| {
        Some(StopAt {
            layer,
            header: what,
            reason: StopReason::Short {
                what,
                needs,
                present,
                limit: None,
            },
            halted: false,
        })
    };
    let ip_short = || {
        let what = if v6 { "IPv6 payload" } else { "IPv4 payload" };
        short(Layer::Network, what, declared, has)
    };
    match &packet.transport {
        Some(TransportSlice::Udp(udp)) => {
            let claimed = usize::from(udp.length());
            // A first fragment carries only the start of its datagram.
            if claimed > has && !ip.fragmented {
                if ip.incomplete {
                    return short(
                        Layer::Application,
                        "UDP payload",
                        claimed - UDP_HEADER_LEN,
                        udp.payload().len(),
                    );
                }
                return Some(StopAt {
                    layer: Layer::Transport,
                    header: "UDP header",
                    reason: StopReason::Overrun {
                        what: "UDP length",
                        claims: claimed,
                        within: if v6 {
                            "the IPv6 payload"
                        } else {
                            "the IPv4 payload"
                        },
                        has,
                    },
                    halted: false,
                });
            }
            // IPv6 jumbograms carry 0 here; anything else below 8 is wrong.
            if claimed < UDP_HEADER_LEN && !(v6 && claimed == 0) {
                return Some(StopAt {
                    layer: Layer::Transport,
                    header: "UDP header",
                    reason: StopReason::BadValue {
                        what: "UDP length",
                        value: u32::from(udp.length()),
                        why: "shorter than its 8-byte header",
                    },
                    halted: false,
                });
            }
            if ip.incomplete { ip_short() } else { None }
        }
        _ if !ip.incomplete => None,
        Some(TransportSlice::Tcp(tcp)) => short(
            Layer::Application,
            "TCP payload",
            declared.saturating_sub(tcp.header_len()),
            tcp.payload().len(),
        ),
        Some(_) => short(Layer::Network, "ICMP message", declared, has),
        None => {
            let what = if v6 { "IPv6 payload" } else { "IPv4 payload" };
            short(Layer::Application, what, declared, has)
        }
    }
}

/// The transport header (or, for ICMP and IGMP, the network layer's own
/// message, which sits where a transport header would).
pub(super) fn dissect(packet: &LaxSlicedPacket<'_>, out: &mut Builder<'_>) {
    match &packet.transport {
        Some(TransportSlice::Tcp(tcp)) => dissect_tcp(packet, tcp, out),
        Some(TransportSlice::Udp(udp)) => dissect_udp(packet, udp, out),
        Some(TransportSlice::Icmpv4(icmp)) => network::dissect_icmpv4(icmp, out),
        Some(TransportSlice::Icmpv6(icmp)) => network::dissect_icmpv6(packet, icmp, out),
        Some(TransportSlice::Igmp(igmp)) => network::dissect_igmp(igmp, out),
        None => {}
    }
}

fn dissect_tcp(packet: &LaxSlicedPacket<'_>, tcp: &TcpSlice<'_>, out: &mut Builder<'_>) {
    let header = tcp.header_slice();
    let range = out.range_of(header);
    let s = range.start;
    let flags = tcp_flags(tcp);
    let names = tcp_flag_names(flags);
    let (sp, dp) = (tcp.source_port(), tcp.destination_port());
    let mut view = LayerBuilder::new(Layer::Transport, "TCP", range.clone());
    view.summary(format!(
        "{sp} → {dp} [{names}] seq {} ack {} win {} len {}",
        tcp.sequence_number(),
        tcp.acknowledgment_number(),
        tcp.window_size(),
        tcp.payload().len()
    ));
    view.field(
        "Source port",
        port_label(sp),
        s..s + 2,
        "the sending program's port: with the source address, one end of the connection",
    );
    view.field(
        "Destination port",
        port_label(dp),
        s + 2..s + 4,
        "the receiving program's port: which program on the host gets the data",
    );
    view.field(
        "Sequence number",
        tcp.sequence_number().to_string(),
        s + 4..s + 8,
        "the number of this segment's first byte in the stream (SYN and FIN count as one byte)",
    );
    view.field(
        "Acknowledgment number",
        if flags.has(TcpFlags::ACK) {
            tcp.acknowledgment_number().to_string()
        } else {
            format!("{} (unused: ACK not set)", tcp.acknowledgment_number())
        },
        s + 8..s + 12,
        "the next byte expected from the other side: every byte before it arrived",
    );
    view.field(
        "Data offset",
        format!(
            "{} × 4 = {} bytes",
            tcp.data_offset(),
            usize::from(tcp.data_offset()) * 4
        ),
        s + 12..s + 13,
        "the header's size in 32-bit words: where the data starts; above 5, options follow",
    );
    view.field("Flags", names, s + 12..s + 14, flags_meaning(flags));
    view.field(
        "Window",
        tcp.window_size().to_string(),
        s + 14..s + 16,
        "bytes the sender can still take in: flow control (scaled up if window scaling was agreed)",
    );
    view.field(
        "Checksum",
        checksum_verdict(packet, tcp.checksum(), tcp.slice(), 6),
        s + 16..s + 18,
        "covers header, data and the IP addresses; a wrong one is often just checksum offload on the capturing host",
    );
    view.field(
        "Urgent pointer",
        if flags.has(TcpFlags::URG) {
            tcp.urgent_pointer().to_string()
        } else {
            format!("{} (unused: URG not set)", tcp.urgent_pointer())
        },
        s + 18..s + 20,
        "where urgent data ends; almost never used today",
    );
    tcp_options(tcp.options(), s + 20, &mut view);
    out.push(view.finish());
}

/// One field per TCP option, with its bytes.
fn tcp_options(options: &[u8], start: usize, view: &mut LayerBuilder) {
    let mut rest = options;
    loop {
        let at = start + (options.len() - rest.len());
        let mut iter = TcpOptionsIterator::from_slice(rest);
        let item = iter.next();
        let consumed = rest.len() - iter.rest().len();
        let range = at..at + consumed;
        match item {
            None => {
                if !rest.is_empty() {
                    view.field(
                        "Option: End of option list",
                        if rest.len() > 1 {
                            format!("and {} bytes of padding", rest.len() - 1)
                        } else {
                            String::new()
                        },
                        at..at + rest.len(),
                        "nothing but padding follows, up to the data offset",
                    );
                }
                return;
            }
            Some(Ok(option)) => {
                let (name, value, meaning) = describe_option(&option);
                view.field(format!("Option: {name}"), value, range, meaning);
                rest = iter.rest();
            }
            Some(Err(etherparse::TcpOptionReadError::UnknownId(kind))) => {
                // An option we have no name for: skip it by its length byte.
                let len = rest.get(1).map_or(rest.len(), |l| usize::from(*l));
                let len = if len < 2 {
                    rest.len()
                } else {
                    len.min(rest.len())
                };
                view.field(
                    format!("Option: kind {kind}"),
                    hex_preview(rest.get(2..len).unwrap_or_default()),
                    at..at + len,
                    "an option netdojo has no name for",
                );
                rest = rest.get(len..).unwrap_or_default();
            }
            Some(Err(e)) => {
                view.field(
                    "Options (malformed)",
                    format!("{e}"),
                    at..start + options.len(),
                    "option bytes that do not follow the option format",
                );
                return;
            }
        }
    }
}

fn describe_option(o: &TcpOptionElement) -> (&'static str, String, &'static str) {
    match o {
        TcpOptionElement::Noop => (
            "No-operation",
            "padding".to_string(),
            "one byte of padding, to align the next option",
        ),
        TcpOptionElement::MaximumSegmentSize(mss) => (
            "Maximum segment size",
            format!("{mss} bytes"),
            "the largest segment data the sender can receive, usually the link MTU minus 40",
        ),
        TcpOptionElement::WindowScale(shift) => (
            "Window scale",
            format!(
                "{shift} (multiply by {})",
                1u64 << u32::from(*shift).min(30)
            ),
            "lets windows grow past 64 KiB: later windows are shifted left by this much",
        ),
        TcpOptionElement::SelectiveAcknowledgementPermitted => (
            "SACK permitted",
            "yes".to_string(),
            "the sender can say exactly which blocks arrived, so only the gaps are resent",
        ),
        TcpOptionElement::SelectiveAcknowledgement(first, rest) => {
            let blocks: Vec<String> = std::iter::once(Some(*first))
                .chain(rest.iter().copied())
                .flatten()
                .map(|(l, r)| format!("{l}-{r}"))
                .collect();
            (
                "SACK",
                blocks.join(", "),
                "blocks that arrived beyond the acknowledged byte: only the gaps need resending",
            )
        }
        TcpOptionElement::Timestamp(val, echo) => (
            "Timestamps",
            format!("value {val}, echo reply {echo}"),
            "the sender's clock and the last one it heard: measures round-trip time, guards against wrapped sequence numbers",
        ),
    }
}

fn flags_meaning(f: TcpFlags) -> Cow<'static, str> {
    let syn = f.has(TcpFlags::SYN);
    let ack = f.has(TcpFlags::ACK);
    Cow::Borrowed(if f.has(TcpFlags::RST) {
        "RST: abort the connection at once, no goodbye"
    } else if syn && ack {
        "SYN, ACK: step 2 of the handshake: accepts the connection and opens the other direction"
    } else if syn {
        "SYN: step 1 of the three-way handshake: asks to open a connection"
    } else if f.has(TcpFlags::FIN) {
        "FIN: the sender has no more data; this direction of the connection closes"
    } else if f.has(TcpFlags::PSH) {
        "PSH: hand the data to the application now; ACK: acknowledges bytes received"
    } else if ack {
        "ACK: acknowledges bytes received"
    } else {
        "control bits: SYN opens, FIN closes, RST aborts, ACK acknowledges, PSH delivers now"
    })
}

fn dissect_udp(packet: &LaxSlicedPacket<'_>, udp: &UdpSlice<'_>, out: &mut Builder<'_>) {
    let header = udp.header_slice();
    let range = out.range_of(header);
    let s = range.start;
    let (sp, dp) = (udp.source_port(), udp.destination_port());
    let mut view = LayerBuilder::new(Layer::Transport, "UDP", range.clone());
    view.summary(format!("{sp} → {dp} len {}", udp.length()));
    view.field(
        "Source port",
        port_label(sp),
        s..s + 2,
        "the sending program's port, where a reply would go",
    );
    view.field(
        "Destination port",
        port_label(dp),
        s + 2..s + 4,
        "the receiving program's port",
    );
    view.field(
        "Length",
        format!("{} bytes", udp.length()),
        s + 4..s + 6,
        "header (8 bytes) plus data: one datagram, delivered whole or not at all",
    );
    let checksum = udp.checksum();
    let v4 = matches!(packet.net, Some(LaxNetSlice::Ipv4(_)));
    view.field(
        "Checksum",
        if checksum == 0 && v4 {
            "0x0000 (none: optional over IPv4)".to_string()
        } else {
            checksum_verdict(packet, checksum, udp.slice(), 17)
        },
        s + 6..s + 8,
        "covers header, data and the IP addresses; the only check UDP makes",
    );
    out.push(view.finish());
}

/// `0x1c46 (correct)`, checked over the IP pseudo-header when the whole
/// segment is in the frame.
fn checksum_verdict(packet: &LaxSlicedPacket<'_>, value: u16, segment: &[u8], proto: u8) -> String {
    let complete = packet
        .ip_payload()
        .is_some_and(|p| !p.incomplete && !p.fragmented);
    let len = segment.len();
    let sum = match &packet.net {
        Some(LaxNetSlice::Ipv4(ip)) if complete && u16::try_from(len).is_ok() => {
            let h = ip.header();
            let pseudo = [0, proto];
            let l = (len as u16).to_be_bytes();
            Some(internet_checksum(&[
                &h.source(),
                &h.destination(),
                &pseudo,
                &l,
                segment,
            ]))
        }
        Some(LaxNetSlice::Ipv6(ip)) if complete && u32::try_from(len).is_ok() => {
            let h = ip.header();
            let l = (len as u32).to_be_bytes();
            let next = [0, 0, 0, proto];
            Some(internet_checksum(&[
                &h.source(),
                &h.destination(),
                &l,
                &next,
                segment,
            ]))
        }
        _ => None,
    };
    match sum {
        Some(0) => format!("0x{value:04x} (correct)"),
        Some(_) => format!("0x{value:04x} (wrong)"),
        None => format!("0x{value:04x} (not checked: only part of the segment is here)"),
    }
}

/// `443 (https)`.
pub(super) fn port_label(port: u16) -> String {
    match service_name(port) {
        Some(name) => format!("{port} ({name})"),
        None => port.to_string(),
    }
}

/// Well-known services, and netdojo's own default ports.
pub(super) fn service_name(port: u16) -> Option<&'static str> {
    Some(match port {
        20 => "ftp-data",
        21 => "ftp",
        22 => "ssh",
        23 => "telnet",
        25 => "smtp",
        53 => "dns",
        67 => "dhcp server",
        68 => "dhcp client",
        69 => "tftp",
        80 => "http",
        110 => "pop3",
        123 => "ntp",
        143 => "imap",
        161 => "snmp",
        443 => "https",
        465 => "smtps",
        514 => "syslog",
        587 => "submission",
        853 => "dns over tls",
        993 => "imaps",
        995 => "pop3s",
        1883 => "mqtt",
        3306 => "mysql",
        5353 => "mdns",
        5432 => "postgresql",
        6379 => "redis",
        7000 => "netdojo tcp",
        7001 => "netdojo udp",
        8080 => "http-alt",
        8443 => "https-alt",
        _ => return None,
    })
}
