//! Layers 5-7: what the transport carries. DNS (simple-dns), HTTP/1.x heads
//! (httparse), WebSocket frames (tungstenite's frame header) with netdojo's
//! chat JSON, the TLS handshake (tls-parser); otherwise the payload as text
//! or hex.
//!
//! [`guess_tcp`] and [`guess_udp`] decide, cheaply and without allocating,
//! which of these a payload is; `facts` reports their answer as protocol
//! bits and `dissect` uses the same answer to pick a parser, so the two never
//! disagree about what a packet is. The guesses are conservative: a payload
//! is only called HTTP if its first line is a whole request or status line,
//! WebSocket only if it is made of complete, well-formed frames, and so on.
//! Nothing here follows a connection, so a segment in the middle of a long
//! HTTP body is shown as payload, not as HTTP.

use std::io::Cursor;
use std::ops::Range;

use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use etherparse::LaxSlicedPacket;

use super::{Builder, LayerBuilder, Sliced, be16, hex_preview, network, offset_in};
use crate::inspect::model::Protocols;
use crate::layer::Layer;

/// DNS's port, for UDP and TCP.
const DNS_PORT: u16 = 53;
/// The DNS header's size.
const DNS_HEADER_LEN: usize = 12;
/// A DNS name is at most 255 bytes on the wire (RFC 1035).
const DNS_MAX_NAME: usize = 255;
/// A request line longer than this is not looked for: real ones are far
/// shorter, and the guess must stay cheap.
const MAX_START_LINE: usize = 8192;
/// Headers httparse reads per message; more is rare and is shown as body.
const MAX_HTTP_HEADERS: usize = 64;
/// A TLS record is at most 2^14 bytes of plaintext plus 2048 of expansion.
const MAX_TLS_RECORD: usize = 16384 + 2048;
/// WebSocket frames looked at per segment: small chat messages batch up,
/// but a segment of hundreds of tiny "frames" is more likely something else.
const MAX_WS_FRAMES: usize = 64;
/// Characters of text a field value shows.
const PREVIEW_CHARS: usize = 160;

const HTTP_METHODS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"HEAD ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

/// Application protocol bits for a TCP payload.
pub(super) fn guess_tcp(src_port: u16, dst_port: u16, p: &[u8]) -> u32 {
    if p.is_empty() {
        return 0;
    }
    if (src_port == DNS_PORT || dst_port == DNS_PORT) && dns_over_tcp(p).is_some() {
        Protocols::DNS
    } else if looks_like_http(p) {
        Protocols::HTTP
    } else if looks_like_tls(p) {
        Protocols::TLS
    } else if looks_like_websocket(p) {
        Protocols::WEBSOCKET
    } else {
        0
    }
}

/// Application protocol bits for a UDP payload.
pub(super) fn guess_udp(src_port: u16, dst_port: u16, p: &[u8]) -> u32 {
    if (src_port == DNS_PORT || dst_port == DNS_PORT) && dns_layout(p).is_some() {
        Protocols::DNS
    } else {
        0
    }
}

/// DNS over TCP: a 2-byte length, then one whole message.
fn dns_over_tcp(p: &[u8]) -> Option<&[u8]> {
    let len = usize::from(be16(p, 0)?);
    let msg = p.get(2..)?;
    (msg.len() == len).then_some(msg)?;
    dns_layout(msg).map(|_| msg)
}

/// Where a DNS message's records are: checks the whole structure, every
/// name and length, without allocating. `None` if it is not DNS.
fn dns_layout(msg: &[u8]) -> Option<DnsLayout> {
    if msg.len() < DNS_HEADER_LEN {
        return None;
    }
    let flags = be16(msg, 2)?;
    let opcode = (flags >> 11) & 0xf;
    // Opcodes in use: query, inverse query, status, notify, update; the Z
    // bit must be zero.
    if !matches!(opcode, 0 | 1 | 2 | 4 | 5) || flags & 0x0040 != 0 {
        return None;
    }
    let counts = [be16(msg, 4)?, be16(msg, 6)?, be16(msg, 8)?, be16(msg, 10)?];
    if counts[0] == 0 {
        return None;
    }
    let mut at = DNS_HEADER_LEN;
    for (section, count) in counts.iter().enumerate() {
        for _ in 0..*count {
            at = skip_name(msg, at)?;
            at = if section == 0 {
                at.checked_add(4)?
            } else {
                let rdlen = usize::from(be16(msg, at.checked_add(8)?)?);
                at.checked_add(10 + rdlen)?
            };
            if at > msg.len() {
                return None;
            }
        }
    }
    (at == msg.len()).then_some(DnsLayout { counts })
}

struct DnsLayout {
    counts: [u16; 4],
}

/// The offset just past a name at `at`: labels, ending in a zero byte or a
/// compression pointer (which ends this name's bytes wherever it points).
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    let mut total = 0usize;
    loop {
        let len = *msg.get(at)?;
        match len >> 6 {
            0 if len == 0 => return Some(at + 1),
            0 => {
                let len = usize::from(len);
                total += len + 1;
                if total > DNS_MAX_NAME {
                    return None;
                }
                at += 1 + len;
            }
            3 => {
                msg.get(at + 1)?;
                return Some(at + 2);
            }
            _ => return None,
        }
    }
}

/// An HTTP/1.x request or status line, whole, at the start.
fn looks_like_http(p: &[u8]) -> bool {
    if p.starts_with(b"HTTP/1.") {
        return p.len() >= 12
            && matches!(p[7], b'0' | b'1')
            && p[8] == b' '
            && p[9..12].iter().all(u8::is_ascii_digit);
    }
    if !HTTP_METHODS.iter().any(|m| p.starts_with(m)) {
        return false;
    }
    let window = &p[..p.len().min(MAX_START_LINE)];
    let Some(end) = window.iter().position(|b| *b == b'\n') else {
        return false;
    };
    let line = window[..end].strip_suffix(b"\r").unwrap_or(&window[..end]);
    line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0")
}

/// A TLS handshake record holding a ClientHello or ServerHello.
fn looks_like_tls(p: &[u8]) -> bool {
    p.len() >= 6
        && p[0] == 0x16
        && p[1] == 3
        && p[2] <= 4
        && be16(p, 3).is_some_and(|len| (4..=MAX_TLS_RECORD).contains(&usize::from(len)))
        && matches!(p[5], 1 | 2)
}

/// One WebSocket frame's header: its length, and the payload's.
struct WsFrame {
    header: FrameHeader,
    header_len: usize,
    payload_len: usize,
}

/// Reads a frame header at the start of `p` with tungstenite, and checks
/// what the protocol requires: reserved bits clear (RSV1 is allowed, it
/// marks compression), and control frames final and at most 125 bytes.
fn ws_frame(p: &[u8]) -> Option<WsFrame> {
    let mut cursor = Cursor::new(p);
    let (header, len) = FrameHeader::parse(&mut cursor).ok()??;
    let header_len = usize::try_from(cursor.position()).ok()?;
    let payload_len = usize::try_from(len).ok()?;
    if header.rsv2 || header.rsv3 {
        return None;
    }
    if let OpCode::Control(_) = header.opcode
        && (!header.is_final || payload_len > 125)
    {
        return None;
    }
    Some(WsFrame {
        header,
        header_len,
        payload_len,
    })
}

/// Complete, well-formed WebSocket frames and nothing else.
fn looks_like_websocket(p: &[u8]) -> bool {
    // RSV2 and RSV3 set: not a frame (`ws_frame` says so too). Checked here
    // first because this guess runs on every TCP payload that is nothing
    // else, and most bytes fail it.
    if p.first().is_some_and(|b| b & 0x30 != 0) {
        return false;
    }
    let mut at = 0;
    let mut frames = 0;
    while at < p.len() {
        if frames == MAX_WS_FRAMES {
            return false;
        }
        let Some(frame) = p.get(at..).and_then(ws_frame) else {
            return false;
        };
        let Some(end) = at
            .checked_add(frame.header_len)
            .and_then(|e| e.checked_add(frame.payload_len))
        else {
            return false;
        };
        if end > p.len() {
            return false;
        }
        at = end;
        frames += 1;
    }
    frames > 0
}

/// Everything from the builder's cursor to `end`: the transport's payload.
pub(super) fn dissect(sliced: &Sliced<'_>, end: usize, out: &mut Builder<'_>) {
    let start = out.cursor;
    let bytes = sliced.data.get(start..end).unwrap_or_default();
    let transport = sliced.packet.as_ref().and_then(|p| p.transport.as_ref());
    let handled = match transport {
        Some(etherparse::TransportSlice::Tcp(tcp)) => {
            let (sp, dp) = (tcp.source_port(), tcp.destination_port());
            match guess_tcp(sp, dp, bytes) {
                Protocols::DNS => dns_over_tcp(bytes).is_some_and(|msg| {
                    let msg_start = offset_in(sliced.data, msg);
                    dissect_dns(msg, msg_start, Some(start), out)
                }),
                Protocols::HTTP => dissect_http(bytes, start, out),
                Protocols::TLS => dissect_tls(bytes, start, out),
                Protocols::WEBSOCKET => dissect_websocket(bytes, start, out),
                _ => false,
            }
        }
        Some(etherparse::TransportSlice::Udp(udp)) => {
            let (sp, dp) = (udp.source_port(), udp.destination_port());
            guess_udp(sp, dp, bytes) == Protocols::DNS && dissect_dns(bytes, start, None, out)
        }
        _ => false,
    };
    if out.cursor < end {
        let fragment = sliced
            .packet
            .as_ref()
            .and_then(|p| p.ip_payload())
            .is_some_and(|p| p.fragmented);
        if fragment && transport.is_none() {
            // A later fragment: a piece of the IP datagram's payload, in
            // the middle of (say) a UDP datagram, with no header of its own
            // above IP. It belongs to the network layer until reassembly.
            if let Some(packet) = &sliced.packet {
                return push_fragment(out, out.cursor..end, packet);
            }
        }
        let what = match (transport, &sliced.packet) {
            (Some(_), _) => "Payload",
            (None, _) if fragment => "Fragment data",
            (None, Some(p)) if p.net.is_some() => "IP payload",
            _ => "Data",
        };
        let note = if handled {
            None
        } else if fragment && transport.is_none() {
            Some(
                "part of a fragmented datagram: only reassembly with the other fragments makes it whole",
            )
        } else if transport.is_none() {
            Some("a protocol netdojo does not dissect")
        } else {
            transport.and_then(port_note)
        };
        push_payload(out, out.cursor..end, Layer::Application, what, note);
    }
}

/// The data of a fragment that is not the first: bytes of the IP payload
/// from its fragment offset on, drawn at L3, since no layer above IP can
/// read them before the fragments are put back together.
fn push_fragment(out: &mut Builder<'_>, range: Range<usize>, packet: &LaxSlicedPacket<'_>) {
    let bytes = out.data.get(range.clone()).unwrap_or_default();
    let carried = packet.ip_payload().map(|p| p.ip_number);
    let whose = match carried {
        Some(etherparse::IpNumber::UDP) => "UDP datagram",
        Some(etherparse::IpNumber::TCP) => "TCP segment",
        Some(etherparse::IpNumber::ICMP) => "ICMP message",
        Some(etherparse::IpNumber::IPV6_ICMP) => "ICMPv6 message",
        _ => "IP payload",
    };
    let from = network::fragment_offset_bytes(packet);
    let mut view = LayerBuilder::new(Layer::Network, "Fragment data", range.clone());
    let position = match from {
        Some(from) if !bytes.is_empty() => format!(
            "bytes {from}..{} of a fragmented {whose}",
            from + bytes.len()
        ),
        _ => format!("{} bytes of a fragmented {whose}", bytes.len()),
    };
    view.summary(format!(
        "{position}, not application data: the receiver's IP layer puts the fragments back \
         together before anything above it reads them"
    ));
    let (name, value) = match printable_text(bytes) {
        Some(t) => ("Text", preview_text(t)),
        None => ("Bytes", hex_preview(bytes)),
    };
    view.field(
        name,
        value,
        range,
        "a piece of the original datagram's payload, placed at the fragment offset on reassembly",
    );
    out.push(view.finish());
}

/// Why a payload on a well-known port was not dissected.
fn port_note(t: &etherparse::TransportSlice<'_>) -> Option<&'static str> {
    let (sp, dp) = match t {
        etherparse::TransportSlice::Tcp(t) => (t.source_port(), t.destination_port()),
        etherparse::TransportSlice::Udp(u) => (u.source_port(), u.destination_port()),
        _ => return None,
    };
    (sp == DNS_PORT || dp == DNS_PORT).then_some("on DNS's port, but not a whole DNS message")
}

/// The payload as text (if it is printable UTF-8) or hex.
fn push_payload(
    out: &mut Builder<'_>,
    range: Range<usize>,
    layer: Layer,
    protocol: &'static str,
    note: Option<&'static str>,
) {
    let bytes = out.data.get(range.clone()).unwrap_or_default();
    let mut view = LayerBuilder::new(layer, protocol, range.clone());
    let text = printable_text(bytes);
    let mut summary = match &text {
        Some(t) => format!("{} bytes of text: {}", bytes.len(), preview_text(t)),
        None => format!("{} bytes", bytes.len()),
    };
    if let Some(note) = note {
        summary.push_str(&format!(" ({note})"));
    }
    view.summary(summary);
    match text {
        Some(t) => view.field(
            "Text",
            preview_text(t),
            range,
            "the bytes read as UTF-8 text: what the application sent",
        ),
        None => view.field(
            "Bytes",
            hex_preview(bytes),
            range,
            "the application's bytes, not text: shown as hex",
        ),
    }
    out.push(view.finish());
}

/// The bytes as text, if they are UTF-8 with no control characters other
/// than tab and line ends.
fn printable_text(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .then_some(text)
}

/// Text with line ends shown as `\r\n`, cut to [`PREVIEW_CHARS`].
fn preview_text(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == PREVIEW_CHARS {
            out.push('…');
            break;
        }
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

/// DNS, with simple-dns reading the values and [`dns_layout`] the places.
/// `prefix` is where DNS-over-TCP's 2-byte length starts.
fn dissect_dns(msg: &[u8], s: usize, prefix: Option<usize>, out: &mut Builder<'_>) -> bool {
    let Ok(packet) = simple_dns::Packet::parse(msg) else {
        return false;
    };
    let Some(layout) = dns_layout(msg) else {
        return false;
    };
    let start = prefix.unwrap_or(s);
    let range = start..s + msg.len();
    let flags = be16(msg, 2).unwrap_or(0);
    let response = flags & 0x8000 != 0;
    let mut view = LayerBuilder::new(Layer::Application, "DNS", range);
    if let Some(p) = prefix {
        view.field(
            "Length",
            format!("{} bytes", msg.len()),
            p..p + 2,
            "over TCP, each DNS message is preceded by its length, since TCP is a byte stream",
        );
    }
    let questions: Vec<String> = packet
        .questions
        .iter()
        .map(|q| q.qname.to_string())
        .collect();
    view.summary(format!(
        "{} 0x{:04x}: {}{}",
        if response { "response" } else { "query" },
        packet.id(),
        if questions.is_empty() {
            "(no question)".to_string()
        } else {
            questions.join(", ")
        },
        if response {
            format!(", {} answers", layout.counts[1])
        } else {
            String::new()
        }
    ));
    view.field(
        "Transaction ID",
        format!("0x{:04x}", packet.id()),
        s..s + 2,
        "chosen by the asker; the answer carries it back so the two can be matched",
    );
    view.field(
        "Flags",
        format!("0x{flags:04x} ({})", dns_flags(flags)),
        s + 2..s + 4,
        "query or response, what kind, and whether recursion was asked for and offered",
    );
    let names = [
        ("Questions", "how many questions follow"),
        ("Answer records", "how many answers follow"),
        ("Authority records", "name servers that hold the answer"),
        ("Additional records", "extra records that may save a lookup"),
    ];
    for (i, (name, meaning)) in names.iter().enumerate() {
        let at = s + 4 + 2 * i;
        view.field(*name, layout.counts[i].to_string(), at..at + 2, *meaning);
    }
    // Walk again for the byte ranges, pairing with simple-dns's values.
    let mut at = DNS_HEADER_LEN;
    for (i, count) in layout.counts.iter().enumerate() {
        for n in 0..usize::from(*count) {
            let Some(name_end) = skip_name(msg, at) else {
                break;
            };
            let rtype = be16(msg, name_end).unwrap_or(0);
            let end = if i == 0 {
                name_end + 4
            } else {
                name_end + 10 + usize::from(be16(msg, name_end + 8).unwrap_or(0))
            };
            let range = s + at..s + end.min(msg.len());
            match i {
                0 => {
                    let name = packet
                        .questions
                        .get(n)
                        .map(|q| q.qname.to_string())
                        .unwrap_or_default();
                    view.field(
                        "Question",
                        format!(
                            "{name}: type {}, class {}",
                            dns_type(rtype),
                            dns_class(be16(msg, name_end + 2).unwrap_or(0))
                        ),
                        range,
                        "the name asked about and the kind of record wanted",
                    );
                }
                1 => {
                    let value = packet
                        .answers
                        .get(n)
                        .map(dns_record)
                        .unwrap_or_else(|| dns_type(rtype).to_string());
                    view.field(
                        "Answer",
                        value,
                        range,
                        "a record answering the question; TTL says how long it may be cached",
                    );
                }
                2 => {
                    let value = packet
                        .name_servers
                        .get(n)
                        .map(dns_record)
                        .unwrap_or_else(|| dns_type(rtype).to_string());
                    view.field(
                        "Authority",
                        value,
                        range,
                        "a name server responsible for the name",
                    );
                }
                _ => {
                    let value = if rtype == 41 {
                        format!(
                            "OPT (EDNS: UDP payload up to {} bytes)",
                            be16(msg, name_end + 2).unwrap_or(0)
                        )
                    } else {
                        dns_type(rtype).to_string()
                    };
                    view.field(
                        "Additional",
                        value,
                        range,
                        "extra records; OPT announces EDNS, larger answers over UDP",
                    );
                }
            }
            at = end;
        }
    }
    out.push(view.finish());
    true
}

fn dns_flags(flags: u16) -> String {
    let mut parts = Vec::new();
    let response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    parts.push(
        match (response, opcode) {
            (false, 0) => "standard query",
            (true, 0) => "response",
            (_, 1) => "inverse query",
            (_, 2) => "status",
            (_, 4) => "notify",
            (_, 5) => "update",
            _ => "other",
        }
        .to_string(),
    );
    if response {
        parts.push(
            match flags & 0xf {
                0 => "no error",
                1 => "format error",
                2 => "server failure",
                3 => "no such name",
                4 => "not implemented",
                5 => "refused",
                _ => "other error",
            }
            .to_string(),
        );
    }
    for (bit, name) in [
        (0x0400, "authoritative"),
        (0x0200, "truncated"),
        (0x0100, "recursion desired"),
        (0x0080, "recursion available"),
    ] {
        if flags & bit != 0 {
            parts.push(name.to_string());
        }
    }
    parts.join(", ")
}

fn dns_type(t: u16) -> String {
    let name = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        255 => "ANY",
        _ => return format!("TYPE{t}"),
    };
    name.to_string()
}

fn dns_class(c: u16) -> String {
    match c & 0x7fff {
        1 => "IN".to_string(),
        3 => "CH".to_string(),
        255 => "ANY".to_string(),
        other => format!("CLASS{other}"),
    }
}

/// `example.com: A 93.184.216.34, TTL 300`.
fn dns_record(rr: &simple_dns::ResourceRecord<'_>) -> String {
    use simple_dns::rdata::RData;
    let data = match &rr.rdata {
        RData::A(a) => format!("A {}", std::net::Ipv4Addr::from(a.address)),
        RData::AAAA(a) => format!("AAAA {}", std::net::Ipv6Addr::from(a.address)),
        RData::CNAME(c) => format!("CNAME {}", c.0),
        RData::NS(n) => format!("NS {}", n.0),
        RData::PTR(p) => format!("PTR {}", p.0),
        RData::MX(m) => format!("MX {} {}", m.preference, m.exchange),
        other => {
            let mut text = format!("{other:?}");
            if text.chars().count() > PREVIEW_CHARS {
                text = text.chars().take(PREVIEW_CHARS).collect::<String>() + "…";
            }
            text
        }
    };
    format!("{}: {data}, TTL {}", rr.name, rr.ttl)
}

/// An HTTP/1.x request or response head, read by httparse.
fn dissect_http(p: &[u8], s: usize, out: &mut Builder<'_>) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HTTP_HEADERS];
    let at = |part: &[u8]| s + offset_in(p, part);
    let mut view;
    let head_len;
    if p.starts_with(b"HTTP/") {
        let mut resp = httparse::Response::new(&mut headers);
        let status = match resp.parse(p) {
            Ok(status) => status,
            Err(_) => return false,
        };
        head_len = match status {
            httparse::Status::Complete(n) => Some(n),
            httparse::Status::Partial => None,
        };
        let code = resp.code.unwrap_or(0);
        let reason = resp.reason.unwrap_or("");
        view = LayerBuilder::new(Layer::Application, "HTTP", s..s + p.len());
        view.summary(format!(
            "HTTP/1.{} {code} {reason}",
            resp.version.unwrap_or(1)
        ));
        view.field(
            "Version",
            format!("HTTP/1.{}", resp.version.unwrap_or(1)),
            s..s + 8,
            "the protocol version the server speaks",
        );
        view.field(
            "Status",
            format!("{code} {reason}"),
            s + 9..s + 12,
            status_meaning(code),
        );
        http_headers(&mut view, resp.headers, &at);
    } else {
        let mut req = httparse::Request::new(&mut headers);
        let status = match req.parse(p) {
            Ok(status) => status,
            Err(_) => return false,
        };
        head_len = match status {
            httparse::Status::Complete(n) => Some(n),
            httparse::Status::Partial => None,
        };
        let (Some(method), Some(path)) = (req.method, req.path) else {
            return false;
        };
        let version = req.version.unwrap_or(1);
        view = LayerBuilder::new(Layer::Application, "HTTP", s..s + p.len());
        view.summary(format!("{method} {path} HTTP/1.{version}"));
        view.field(
            "Method",
            method,
            at(method.as_bytes())..at(method.as_bytes()) + method.len(),
            "what the client asks the server to do: GET fetches, POST sends data",
        );
        let path_at = at(path.as_bytes());
        view.field(
            "Path",
            path,
            path_at..path_at + path.len(),
            "which resource on the server",
        );
        let v_at = path_at + path.len() + 1;
        view.field(
            "Version",
            format!("HTTP/1.{version}"),
            v_at..v_at + 8,
            "the protocol version the client speaks",
        );
        http_headers(&mut view, req.headers, &at);
    }
    match head_len {
        Some(n) if n < p.len() => {
            let body = &p[n..];
            view.field(
                "Body",
                match printable_text(body) {
                    Some(t) => preview_text(t),
                    None => hex_preview(body),
                },
                s + n..s + p.len(),
                "the content after the blank line that ends the head",
            );
        }
        Some(_) => {}
        None => view.field(
            "Head continues",
            "in a later segment",
            s + p.len()..s + p.len(),
            "the head did not fit in this segment; TCP delivers the rest in the next",
        ),
    }
    out.push(view.finish());
    true
}

fn http_headers(
    view: &mut LayerBuilder,
    headers: &[httparse::Header<'_>],
    at: &dyn Fn(&[u8]) -> usize,
) {
    for h in headers.iter().take_while(|h| !h.name.is_empty()) {
        let start = at(h.name.as_bytes());
        let end = at(h.value) + h.value.len();
        view.field(
            h.name.to_string(),
            String::from_utf8_lossy(h.value).into_owned(),
            start..end.max(start),
            header_meaning(h.name),
        );
    }
}

fn header_meaning(name: &str) -> &'static str {
    match name.to_ascii_lowercase().as_str() {
        "host" => "which site on this server: one address can serve many names",
        "user-agent" => "the client program",
        "accept" => "the kinds of content the client can take",
        "content-type" => "what kind of content the body is",
        "content-length" => "the body's size in bytes: where this message ends in the stream",
        "transfer-encoding" => "chunked: the body comes in pieces, each with its size",
        "connection" => "whether to keep the TCP connection open for more requests",
        "upgrade" => "asks to switch this TCP connection to another protocol, e.g. WebSocket",
        "sec-websocket-key" => {
            "a random nonce; the server proves it speaks WebSocket by hashing it"
        }
        "sec-websocket-accept" => "the hashed key: proof the server understood the upgrade",
        "sec-websocket-version" => "the WebSocket version (13)",
        "server" => "the server program",
        "date" => "when the response was made",
        "cache-control" => "whether and how long the content may be cached",
        "cookie" => "state the server asked the client to keep, sent back",
        "set-cookie" => "state the server asks the client to keep and send back",
        "location" => "where to go instead (with a 3xx status)",
        _ => "a header: more about the message",
    }
}

fn status_meaning(code: u16) -> &'static str {
    match code {
        101 => "switching protocols: from here on the connection speaks what Upgrade named",
        100..=199 => "informational: more is coming",
        200..=299 => "success",
        300..=399 => "redirection: the resource is elsewhere",
        400..=499 => "client error: the request was wrong",
        _ => "server error: the server failed",
    }
}

/// TLS records: the handshake is readable; what follows it is encrypted.
fn dissect_tls(p: &[u8], s: usize, out: &mut Builder<'_>) -> bool {
    let mut at = 0;
    while at + 5 <= p.len() {
        let Some(len) = be16(p, at + 3) else { break };
        let end = (at + 5 + usize::from(len)).min(p.len());
        let record = &p[at..end];
        let rs = s + at;
        let content = record[0];
        let kind = match content {
            20 => "change cipher spec",
            21 => "alert",
            22 => "handshake",
            23 => "application data",
            24 => "heartbeat",
            _ => break,
        };
        let mut view = LayerBuilder::new(Layer::Presentation, "TLS", rs..s + end);
        view.summary(format!("{kind} record, {len} bytes"));
        view.field(
            "Content type",
            format!("{content} ({kind})"),
            rs..rs + 1,
            "what the record holds; only the handshake's first messages are in the clear",
        );
        view.field(
            "Version",
            tls_version(be16(record, 1).unwrap_or(0)),
            rs + 1..rs + 3,
            "the record layer's version (TLS 1.3 still says 1.2 here, for old middleboxes)",
        );
        view.field(
            "Length",
            format!("{len} bytes"),
            rs + 3..rs + 5,
            "the record's size after this header",
        );
        if content == 22 {
            tls_handshake(&mut view, record, rs);
        } else {
            view.field(
                "Data",
                hex_preview(&record[5..]),
                rs + 5..s + end,
                "encrypted: only the two ends have the keys",
            );
        }
        out.push(view.finish());
        at = end;
    }
    at > 0
}

fn tls_handshake(view: &mut LayerBuilder, record: &[u8], rs: usize) {
    use tls_parser::{TlsExtension, TlsMessage, TlsMessageHandshake};
    let htype = record.get(5).copied().unwrap_or(0);
    let hname = match htype {
        1 => "ClientHello",
        2 => "ServerHello",
        4 => "NewSessionTicket",
        11 => "Certificate",
        12 => "ServerKeyExchange",
        14 => "ServerHelloDone",
        16 => "ClientKeyExchange",
        20 => "Finished",
        _ => "handshake message",
    };
    view.field(
        "Handshake type",
        format!("{htype} ({hname})"),
        rs + 5..rs + 6,
        "which step of the handshake this is",
    );
    let Ok((_, plain)) = tls_parser::parse_tls_plaintext(record) else {
        view.summary(format!("{hname} (continues in a later segment)"));
        return;
    };
    let offset = |part: &[u8]| rs + offset_in(record, part);
    // The cipher suite list follows the 32-byte random and the session id;
    // tls-parser hands back the list as numbers, so find it from those.
    let suites_range = |random: &[u8], sid: Option<&[u8]>, n: usize| {
        let at = offset(random) + random.len() + 1 + sid.map_or(0, <[u8]>::len);
        if n == 1 {
            at..at + 2
        } else {
            at..at + 2 + 2 * n
        }
    };
    for msg in &plain.msg {
        match msg {
            TlsMessage::Handshake(TlsMessageHandshake::ClientHello(hello)) => {
                view.field(
                    "Client version",
                    tls_version(hello.version.0),
                    rs + 9..rs + 11,
                    "the highest version the client offers (1.3 is offered in an extension)",
                );
                view.field(
                    "Cipher suites",
                    format!(
                        "{} offered{}",
                        hello.ciphers.len(),
                        hello
                            .ciphers
                            .first()
                            .and_then(|c| c.get_ciphersuite())
                            .map(|c| format!(", first {}", c.name))
                            .unwrap_or_default()
                    ),
                    suites_range(hello.random, hello.session_id, hello.ciphers.len()),
                    "the encryption methods the client can use; the server picks one",
                );
                let mut sni = None;
                if let Some(ext) = hello.ext
                    && let Ok((_, exts)) = tls_parser::parse_tls_client_hello_extensions(ext)
                {
                    for e in exts {
                        if let TlsExtension::SNI(names) = e {
                            for (_, name) in names {
                                let start = offset(name);
                                let host = String::from_utf8_lossy(name).into_owned();
                                view.field(
                                    "Server name (SNI)",
                                    host.clone(),
                                    start..start + name.len(),
                                    "the site the client wants, in the clear: how one address serves many HTTPS sites, and what an observer still sees",
                                );
                                sni.get_or_insert(host);
                            }
                        }
                    }
                }
                view.summary(match sni {
                    Some(host) => format!("ClientHello for {host}"),
                    None => "ClientHello".to_string(),
                });
            }
            TlsMessage::Handshake(TlsMessageHandshake::ServerHello(hello)) => {
                let cipher = hello.cipher.get_ciphersuite().map_or_else(
                    || format!("0x{:04x}", hello.cipher.0),
                    |c| c.name.to_string(),
                );
                view.field(
                    "Cipher suite",
                    cipher.clone(),
                    suites_range(hello.random, hello.session_id, 1),
                    "the encryption method the server chose from the client's list",
                );
                view.summary(format!("ServerHello, {cipher}"));
            }
            _ => view.summary(hname),
        }
    }
}

fn tls_version(v: u16) -> String {
    let name = match v {
        0x0300 => "SSL 3.0",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => return format!("0x{v:04x}"),
    };
    format!("0x{v:04x} ({name})")
}

/// WebSocket frames: the header at L5 (the session: message boundaries,
/// ping/pong heartbeats, close), the payload unmasked at L6 (text or
/// binary), or at L7 when it is JSON such as netdojo's chat events.
fn dissect_websocket(p: &[u8], s: usize, out: &mut Builder<'_>) -> bool {
    let mut at = 0;
    while at < p.len() {
        let Some(frame) = p.get(at..).and_then(ws_frame) else {
            break;
        };
        let hs = s + at;
        let payload_start = at + frame.header_len;
        let payload_end = payload_start.saturating_add(frame.payload_len).min(p.len());
        let masked = &p[payload_start.min(p.len())..payload_end];
        let mut data = masked.to_vec();
        if let Some(mask) = frame.header.mask {
            for (i, b) in data.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        let h = &frame.header;
        let (op_name, op_meaning) = ws_opcode(h.opcode);
        let control = matches!(h.opcode, OpCode::Control(_));
        let header_end = s + payload_start.min(p.len());
        let range_end = if control { s + payload_end } else { header_end };
        let mut view = LayerBuilder::new(Layer::Session, "WebSocket", hs..range_end);
        view.summary(format!(
            "{op_name}{}, {} bytes{}",
            if h.is_final {
                ""
            } else {
                " (more frames follow)"
            },
            frame.payload_len,
            if h.mask.is_some() {
                ", masked (client to server)"
            } else {
                ""
            }
        ));
        view.field(
            "FIN",
            if h.is_final {
                "1 (final)"
            } else {
                "0 (more follow)"
            },
            hs..hs + 1,
            "whether this frame ends the message: a message may span frames",
        );
        if h.rsv1 {
            view.field(
                "RSV1",
                "1 (compressed)",
                hs..hs + 1,
                "the payload is compressed (permessage-deflate)",
            );
        }
        view.field("Opcode", op_name, hs..hs + 1, op_meaning);
        view.field(
            "Mask",
            if h.mask.is_some() { "1 (masked)" } else { "0" },
            hs + 1..hs + 2,
            "clients must mask what they send, so a proxy never mistakes it for HTTP",
        );
        let key_len = if h.mask.is_some() { 4 } else { 0 };
        view.field(
            "Payload length",
            format!("{} bytes", frame.payload_len),
            hs + 1..hs + frame.header_len - key_len,
            "7 bits, or 126 + 2 bytes, or 127 + 8 bytes: small messages pay a small header",
        );
        if let Some(mask) = h.mask {
            view.field(
                "Masking key",
                hex_preview(&mask),
                hs + frame.header_len - 4..hs + frame.header_len,
                "XORed over the payload byte by byte; not secrecy, just unpredictability",
            );
        }
        if control {
            ws_control_fields(&mut view, h.opcode, &data, header_end..s + payload_end);
            out.push(view.finish());
        } else {
            out.push(view.finish());
            if payload_end > payload_start {
                ws_payload(out, h.opcode, &data, header_end..s + payload_end);
            }
        }
        at = payload_end;
        if payload_end < payload_start.saturating_add(frame.payload_len) {
            break;
        }
    }
    at > 0
}

fn ws_opcode(op: OpCode) -> (&'static str, &'static str) {
    match op {
        OpCode::Data(Data::Continue) => (
            "continuation",
            "more of the message the previous frame started",
        ),
        OpCode::Data(Data::Text) => ("text", "a message of UTF-8 text"),
        OpCode::Data(Data::Binary) => ("binary", "a message of bytes"),
        OpCode::Control(Control::Close) => (
            "close",
            "ends the session; the other side answers with a close",
        ),
        OpCode::Control(Control::Ping) => (
            "ping",
            "a heartbeat: is the other side still there? It must answer pong",
        ),
        OpCode::Control(Control::Pong) => ("pong", "the answer to a ping"),
        OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) => {
            ("reserved", "an opcode the protocol reserves")
        }
    }
}

fn ws_control_fields(view: &mut LayerBuilder, op: OpCode, data: &[u8], range: Range<usize>) {
    if data.is_empty() {
        return;
    }
    if op == OpCode::Control(Control::Close) {
        let code = be16(data, 0).unwrap_or(0);
        view.field(
            "Close code",
            format!(
                "{code} ({})",
                match code {
                    1000 => "normal",
                    1001 => "going away",
                    1002 => "protocol error",
                    1003 => "unsupported data",
                    1008 => "policy violation",
                    1009 => "message too big",
                    1011 => "server error",
                    _ => "other",
                }
            ),
            range.start..(range.start + 2).min(range.end),
            "why the session ends",
        );
        if let Some(reason) = data.get(2..).filter(|r| !r.is_empty()) {
            view.field(
                "Reason",
                String::from_utf8_lossy(reason).into_owned(),
                range.start + 2..range.end,
                "the reason, as text",
            );
        }
    } else {
        view.field("Data", hex_preview(data), range, "echoed back in the pong");
    }
}

fn ws_payload(out: &mut Builder<'_>, op: OpCode, data: &[u8], range: Range<usize>) {
    let text = (op != OpCode::Data(Data::Binary))
        .then(|| std::str::from_utf8(data).ok())
        .flatten();
    let json = text.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
    match (text, json) {
        (Some(t), Some(json)) => {
            let chat = json.get("type").and_then(|v| v.as_str()).is_some();
            let protocol = if chat { "Chat event (JSON)" } else { "JSON" };
            let mut view = LayerBuilder::new(Layer::Application, protocol, range.clone());
            view.summary(chat_summary(&json).unwrap_or_else(|| preview_text(t)));
            view.field(
                "Text",
                preview_text(t),
                range.clone(),
                "the payload unmasked and read as UTF-8: a JSON document",
            );
            if let Some(obj) = json.as_object() {
                for (key, value) in obj {
                    view.field(
                        key.clone(),
                        value.to_string(),
                        range.clone(),
                        json_key_meaning(key),
                    );
                }
            }
            out.push(view.finish());
        }
        (Some(t), None) => {
            let mut view = LayerBuilder::new(Layer::Presentation, "WebSocket text", range.clone());
            view.summary(preview_text(t));
            view.field(
                "Text",
                preview_text(t),
                range,
                "the payload unmasked and read as UTF-8",
            );
            out.push(view.finish());
        }
        _ => {
            let mut view =
                LayerBuilder::new(Layer::Presentation, "WebSocket binary", range.clone());
            view.summary(format!("{} bytes", data.len()));
            view.field(
                "Bytes",
                hex_preview(data),
                range,
                "the payload unmasked: bytes, not text",
            );
            out.push(view.finish());
        }
    }
}

/// `say in lobby: "hi"` for netdojo's chat events.
fn chat_summary(json: &serde_json::Value) -> Option<String> {
    let kind = json.get("type")?.as_str()?;
    let mut s = kind.to_string();
    if let Some(room) = json.get("room").and_then(|v| v.as_str()) {
        s.push_str(&format!(" in {room}"));
    }
    if let Some(from) = json
        .get("from")
        .or_else(|| json.get("name"))
        .and_then(|v| v.as_str())
    {
        s.push_str(&format!(" from {from}"));
    }
    if let Some(text) = json.get("text").and_then(|v| v.as_str()) {
        s.push_str(&format!(": {text:?}"));
    }
    Some(s)
}

fn json_key_meaning(key: &str) -> &'static str {
    match key {
        "type" => "the kind of chat event: say, join, leave, ...",
        "room" => "the chat room it belongs to",
        "text" => "what was said",
        "from" | "name" | "user" => "who it is from",
        _ => "a field of the JSON message",
    }
}
