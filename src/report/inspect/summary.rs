//! `--summary`: one line per frame, like tcpdump's.
//!
//! ```text
//! 1  0.000000  192.0.2.1:51000 → 198.51.100.7:80  TCP [SYN] seq=1000 win=64240 len=0
//! 2  0.000081  198.51.100.7:80 → 192.0.2.1:51000  TCP [SYN, ACK] seq=5000 ack=1001 win=65535 len=0
//! 3  0.000120  [2001:db8::1]:53124 → [2001:db8::53]:53  UDP len=29  DNS query A example.com
//! 4  0.010000  02:00:00:00:00:01 → ff:ff:ff:ff:ff:ff  ARP who-has 192.0.2.7 tell 192.0.2.1
//! 5  0.020000  192.0.2.1 → 198.51.100.7  ICMP echo request id=1 seq=1
//! ```
//!
//! Columns: frame number, seconds since the first frame (`-` when the source
//! has no clock, as `--hex` and `--example`), who talked to whom, then the
//! protocol and its few numbers: for TCP the flags, sequence number, the
//! acknowledgement number when ACK is set, the window and the payload length;
//! for UDP the payload length. An application protocol the frame carries is
//! named after that, and an 802.1Q tag ends the line as `vlan=100`. A frame
//! whose dissection stopped early ends with `[truncated at L4 Transport]`
//! (the frame ended too soon) or `[malformed at L3 Network]` (a header
//! holds a value its protocol does not allow). The capture's comments on a
//! frame (pcapng `opt_comment`) close it: `[comment: lost by the link (--loss)]`.
//!
//! This view is the fast path of the inspector: it reads only [`Facts`] (and,
//! for DNS and HTTP, a few payload bytes), never calls `dissect`, and builds
//! each line in one reused buffer with hand-written number formatting, so a
//! line costs no allocation and one `write_all`.

use std::io::{self, Write};
use std::net::IpAddr;
use std::time::Duration;

use super::PacketView;
use super::tree::Clean;
use crate::inspect::model::{Facts, Frame, Protocols, TcpFlags, TransportFacts};

/// The most bytes of an HTTP start line shown; more would wrap the line.
const MAX_HTTP_LINE: usize = 60;

/// DNS names are at most 255 bytes (RFC 1035 §2.3.4); a longer one is bogus.
const MAX_DNS_NAME: usize = 255;

/// Writes one line per frame.
pub struct SummaryView<W> {
    out: W,
    /// The line being built; cleared, never shrunk, so no line allocates.
    line: Vec<u8>,
    /// The first timestamp seen: times are relative to it.
    first_time: Option<Duration>,
}

impl<W: Write> SummaryView<W> {
    /// A summary view writing to `out` (which should be buffered).
    pub fn new(out: W) -> Self {
        SummaryView {
            out,
            line: Vec::with_capacity(256),
            first_time: None,
        }
    }

    /// The writer, back (tests read what was written).
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> PacketView for SummaryView<W> {
    fn packet(&mut self, frame: &Frame, facts: &Facts) -> io::Result<()> {
        self.line.clear();
        let time = frame.timestamp.map(|t| *self.first_time.get_or_insert(t));
        write_line(&mut self.line, frame, facts, time);
        self.out.write_all(&self.line)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The whole line for one frame, newline included. `first` is the time of
/// the first frame, when the source has times.
fn write_line(line: &mut Vec<u8>, frame: &Frame, facts: &Facts, first: Option<Duration>) {
    push_u64(line, frame.number);
    line.extend_from_slice(b"  ");
    match (frame.timestamp, first) {
        (Some(t), Some(first)) => push_relative_time(line, t, first),
        _ => line.push(b'-'),
    }
    line.extend_from_slice(b"  ");
    write_conversation(line, frame, facts);
    if let Some(id) = facts.vlan_id {
        line.extend_from_slice(b"  vlan=");
        push_u64(line, id.into());
    }
    if let Some(layer) = facts.stopped_at {
        line.extend_from_slice(if facts.stop_malformed {
            b"  [malformed at L"
        } else {
            b"  [truncated at L"
        });
        push_u64(line, layer.number().into());
        line.push(b' ');
        line.extend_from_slice(layer.osi_name().as_bytes());
        line.push(b']');
    }
    for comment in &frame.comments {
        // Rare (pcapng comments), so the formatter's cost does not matter;
        // control characters become escapes, as everywhere a packet's text
        // reaches the terminal, and the line stays one line.
        let _ = write!(line, "  [comment: {}]", Clean(comment));
    }
    line.push(b'\n');
}

/// Who talked to whom, and what they said at the highest layer we know.
fn write_conversation(line: &mut Vec<u8>, frame: &Frame, facts: &Facts) {
    let p = facts.protocols;
    if p.has(Protocols::ARP) {
        return write_arp(line, facts);
    }
    let (Some(src), Some(dst)) = (facts.src_ip, facts.dst_ip) else {
        // Not IP: the link addresses and the EtherType are all there is.
        push_link_endpoints(line, facts);
        match facts.ether_type {
            Some(t) => {
                line.extend_from_slice(b"ethertype 0x");
                push_hex16(line, t);
            }
            None => line.extend_from_slice(b"frame"),
        }
        return push_bytes_count(line, facts.original_len);
    };
    match facts.transport {
        Some(TransportFacts::Tcp {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            payload,
        }) => {
            push_endpoints(line, src, Some(src_port), dst, Some(dst_port));
            line.extend_from_slice(b"TCP [");
            push_tcp_flags(line, flags);
            line.extend_from_slice(b"] seq=");
            push_u64(line, seq.into());
            if flags.has(TcpFlags::ACK) {
                line.extend_from_slice(b" ack=");
                push_u64(line, ack.into());
            }
            line.extend_from_slice(b" win=");
            push_u64(line, window.into());
            line.extend_from_slice(b" len=");
            push_u64(line, payload_len(payload) as u64);
            write_application(line, frame, p, payload, true);
        }
        Some(TransportFacts::Udp {
            src_port,
            dst_port,
            length,
            payload,
        }) => {
            push_endpoints(line, src, Some(src_port), dst, Some(dst_port));
            line.extend_from_slice(b"UDP len=");
            // The UDP length counts its 8-byte header; people mean the data.
            push_u64(line, length.saturating_sub(8).into());
            write_application(line, frame, p, payload, false);
        }
        Some(TransportFacts::Icmp {
            v6,
            icmp_type,
            code,
        }) => {
            push_endpoints(line, src, None, dst, None);
            write_icmp(line, v6, icmp_type, code, facts.icmp_echo);
        }
        None => {
            push_endpoints(line, src, None, dst, None);
            line.extend_from_slice(if src.is_ipv4() { b"IPv4" } else { b"IPv6" });
            if p.has(Protocols::FRAGMENT) {
                line.extend_from_slice(b" fragment");
            }
            if let Some(proto) = facts.ip_protocol {
                line.extend_from_slice(b" proto=");
                push_u64(line, proto.into());
            }
            push_bytes_count(line, facts.original_len);
        }
    }
}

/// `ARP who-has 192.0.2.7 tell 192.0.2.1` or `ARP 192.0.2.7 is-at 02:..`.
fn write_arp(line: &mut Vec<u8>, facts: &Facts) {
    push_link_endpoints(line, facts);
    line.extend_from_slice(b"ARP");
    match (facts.arp_op, facts.src_ip, facts.dst_ip) {
        (Some(1), Some(sender), Some(target)) => {
            line.extend_from_slice(b" who-has ");
            push_ip(line, target);
            line.extend_from_slice(b" tell ");
            push_ip(line, sender);
        }
        (Some(2), Some(sender), _) => {
            line.push(b' ');
            push_ip(line, sender);
            line.extend_from_slice(b" is-at ");
            // The Ethernet source is the replying host's hardware address in
            // every ordinary reply; Facts keeps no separate ARP sender MAC.
            match facts.src_mac {
                Some(mac) => push_mac(line, mac),
                None => line.push(b'?'),
            }
        }
        (Some(op), _, _) => {
            line.extend_from_slice(b" op=");
            push_u64(line, op.into());
        }
        (None, _, _) => {}
    }
}

/// `MAC → MAC  `, or nothing when the link has no addresses.
fn push_link_endpoints(line: &mut Vec<u8>, facts: &Facts) {
    if let (Some(src), Some(dst)) = (facts.src_mac, facts.dst_mac) {
        push_mac(line, src);
        line.extend_from_slice(" → ".as_bytes());
        push_mac(line, dst);
        line.extend_from_slice(b"  ");
    }
}

/// `192.0.2.1:51000 → [2001:db8::1]:80  ` (ports when there are any).
fn push_endpoints(
    line: &mut Vec<u8>,
    src: IpAddr,
    src_port: Option<u16>,
    dst: IpAddr,
    dst_port: Option<u16>,
) {
    push_socket(line, src, src_port);
    line.extend_from_slice(" → ".as_bytes());
    push_socket(line, dst, dst_port);
    line.extend_from_slice(b"  ");
}

fn push_socket(line: &mut Vec<u8>, ip: IpAddr, port: Option<u16>) {
    match port {
        // IPv6 addresses have colons of their own: brackets, as in a URL.
        Some(port) if ip.is_ipv6() => {
            line.push(b'[');
            push_ip(line, ip);
            line.extend_from_slice(b"]:");
            push_u64(line, port.into());
        }
        Some(port) => {
            push_ip(line, ip);
            line.push(b':');
            push_u64(line, port.into());
        }
        None => push_ip(line, ip),
    }
}

fn push_ip(line: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    line.push(b'.');
                }
                push_u64(line, octet.into());
            }
        }
        // IPv6's shortest form (RFC 5952) is subtle; std's Display gets it
        // right and writes into the Vec without allocating.
        IpAddr::V6(v6) => {
            let _ = write!(line, "{v6}");
        }
    }
}

/// `SYN, ACK` in the header's bit order, as Wireshark prints them.
fn push_tcp_flags(line: &mut Vec<u8>, flags: TcpFlags) {
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
    let mut first = true;
    for (bit, name) in NAMES {
        if flags.has(bit) {
            if !first {
                line.extend_from_slice(b", ");
            }
            line.extend_from_slice(name.as_bytes());
            first = false;
        }
    }
    if first {
        line.extend_from_slice(b"none");
    }
}

fn payload_len((start, end): (usize, usize)) -> usize {
    end.saturating_sub(start)
}

/// The application protocol, with a few words when they are cheap to read.
fn write_application(
    line: &mut Vec<u8>,
    frame: &Frame,
    p: Protocols,
    (start, end): (usize, usize),
    over_tcp: bool,
) {
    let payload = frame.data.get(start..end).unwrap_or(&[]);
    if p.has(Protocols::DNS) {
        line.extend_from_slice(b"  DNS");
        // DNS over TCP puts a two-byte length before each message.
        let message = if over_tcp {
            payload.get(2..)
        } else {
            Some(payload)
        };
        write_dns(line, message.unwrap_or(&[]));
    } else if p.has(Protocols::WEBSOCKET) {
        line.extend_from_slice(b"  WebSocket");
    } else if p.has(Protocols::HTTP) {
        line.extend_from_slice(b"  HTTP");
        write_http_start_line(line, payload);
    } else if p.has(Protocols::TLS) {
        line.extend_from_slice(b"  TLS");
    }
}

/// ` GET /chat HTTP/1.1`: the start line, up to its end or the first byte
/// that is not printable ASCII (a terminal must never receive raw bytes
/// from a packet).
fn write_http_start_line(line: &mut Vec<u8>, payload: &[u8]) {
    let shown = payload
        .iter()
        .take(MAX_HTTP_LINE)
        .take_while(|&&b| (b' '..=b'~').contains(&b))
        .count();
    if shown == 0 {
        return;
    }
    line.push(b' ');
    line.extend_from_slice(payload.get(..shown).unwrap_or(&[]));
    if shown == MAX_HTTP_LINE
        && payload
            .get(shown)
            .is_some_and(|b| (b' '..=b'~').contains(b))
    {
        line.extend_from_slice("…".as_bytes());
    }
}

/// ` query A example.com`, ` response AAAA example.com (2 answers)`,
/// ` response A nope.example NXDOMAIN`. Stops quietly where the message does.
fn write_dns(line: &mut Vec<u8>, msg: &[u8]) {
    let (Some(&flags_hi), Some(&flags_lo)) = (msg.get(2), msg.get(3)) else {
        return;
    };
    let response = flags_hi & 0x80 != 0;
    line.extend_from_slice(if response { b" response" } else { b" query" });
    let questions = be16(msg, 4).unwrap_or(0);
    if questions > 0 {
        let mark = line.len();
        line.push(b' ');
        if push_dns_question(line, msg).is_none() {
            // Unreadable question: drop what was half written.
            line.truncate(mark);
        }
    }
    if response {
        let answers = be16(msg, 6).unwrap_or(0);
        if answers > 0 {
            line.extend_from_slice(b" (");
            push_u64(line, answers.into());
            line.extend_from_slice(if answers == 1 {
                b" answer)"
            } else {
                b" answers)"
            });
        }
        let rcode = flags_lo & 0x0f;
        let name: &[u8] = match rcode {
            0 => b"",
            1 => b" FORMERR",
            2 => b" SERVFAIL",
            3 => b" NXDOMAIN",
            4 => b" NOTIMP",
            5 => b" REFUSED",
            _ => b" error",
        };
        line.extend_from_slice(name);
    }
}

/// `A example.com` from the first question, which starts at byte 12.
fn push_dns_question(line: &mut Vec<u8>, msg: &[u8]) -> Option<()> {
    // The type follows the name, so find where the name ends first.
    let mut at = 12usize;
    let name_start = at;
    let mut name_len = 0usize;
    loop {
        let len = usize::from(*msg.get(at)?);
        if len == 0 {
            at += 1;
            break;
        }
        // A compression pointer (0b11......) or a reserved label type: a
        // first question never needs one, so treat it as unreadable.
        if len > 63 {
            return None;
        }
        name_len += len + 1;
        if name_len > MAX_DNS_NAME {
            return None;
        }
        msg.get(at + 1..at + 1 + len)?;
        at += 1 + len;
    }
    let qtype = be16(msg, at)?;
    push_dns_type(line, qtype);
    line.push(b' ');
    let mut label = name_start;
    if name_len == 0 {
        line.push(b'.');
    }
    while let Some(&len) = msg.get(label).filter(|&&l| l != 0) {
        let len = usize::from(len);
        if label != name_start {
            line.push(b'.');
        }
        for &b in msg.get(label + 1..label + 1 + len)? {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                line.push(b);
            } else {
                // Anything else could be a terminal escape: show it as \xNN.
                line.extend_from_slice(b"\\x");
                push_hex8(line, b);
            }
        }
        label += 1 + len;
    }
    Some(())
}

fn push_dns_type(line: &mut Vec<u8>, qtype: u16) {
    let name: &str = match qtype {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        64 => "SVCB",
        65 => "HTTPS",
        255 => "ANY",
        other => {
            line.extend_from_slice(b"TYPE");
            push_u64(line, other.into());
            return;
        }
    };
    line.extend_from_slice(name.as_bytes());
}

/// `ICMP echo request id=1 seq=1`, `ICMPv6 destination unreachable (port unreachable)`.
fn write_icmp(line: &mut Vec<u8>, v6: bool, icmp_type: u8, code: u8, echo: Option<(u16, u16)>) {
    line.extend_from_slice(if v6 { b"ICMPv6 " } else { b"ICMP " });
    let name = if v6 {
        icmpv6_type_name(icmp_type)
    } else {
        icmpv4_type_name(icmp_type)
    };
    match name {
        Some(name) => line.extend_from_slice(name.as_bytes()),
        None => {
            line.extend_from_slice(b"type=");
            push_u64(line, icmp_type.into());
        }
    }
    let unreachable = if v6 { icmp_type == 1 } else { icmp_type == 3 };
    let code_name = if unreachable {
        unreachable_code_name(v6, code)
    } else {
        None
    };
    match code_name {
        Some(text) => {
            line.extend_from_slice(b" (");
            line.extend_from_slice(text.as_bytes());
            line.push(b')');
        }
        None if code != 0 || name.is_none() => {
            line.extend_from_slice(b" code=");
            push_u64(line, code.into());
        }
        None => {}
    }
    if let Some((id, seq)) = echo {
        line.extend_from_slice(b" id=");
        push_u64(line, id.into());
        line.extend_from_slice(b" seq=");
        push_u64(line, seq.into());
    }
}

fn icmpv4_type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        0 => "echo reply",
        3 => "destination unreachable",
        4 => "source quench",
        5 => "redirect",
        8 => "echo request",
        9 => "router advertisement",
        10 => "router solicitation",
        11 => "time exceeded",
        12 => "parameter problem",
        13 => "timestamp request",
        14 => "timestamp reply",
        _ => return None,
    })
}

fn icmpv6_type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        1 => "destination unreachable",
        2 => "packet too big",
        3 => "time exceeded",
        4 => "parameter problem",
        128 => "echo request",
        129 => "echo reply",
        133 => "router solicitation",
        134 => "router advertisement",
        135 => "neighbor solicitation",
        136 => "neighbor advertisement",
        137 => "redirect",
        _ => return None,
    })
}

fn unreachable_code_name(v6: bool, code: u8) -> Option<&'static str> {
    Some(match (v6, code) {
        (false, 0) => "net unreachable",
        (false, 1) => "host unreachable",
        (false, 2) => "protocol unreachable",
        (false, 3) => "port unreachable",
        (false, 4) => "fragmentation needed",
        (false, 13) => "administratively prohibited",
        (true, 0) => "no route",
        (true, 1) => "administratively prohibited",
        (true, 3) => "address unreachable",
        (true, 4) => "port unreachable",
        _ => return None,
    })
}

/// `, 60 bytes` for lines with no payload length of their own.
fn push_bytes_count(line: &mut Vec<u8>, n: usize) {
    line.extend_from_slice(b", ");
    push_u64(line, n as u64);
    line.extend_from_slice(b" bytes");
}

/// Seconds since `first`, with microseconds: `0.000123`. A frame stamped
/// before the first (captures can go back in time) gets a minus sign.
fn push_relative_time(line: &mut Vec<u8>, t: Duration, first: Duration) {
    let d = match t.checked_sub(first) {
        Some(d) => d,
        None => {
            line.push(b'-');
            first.saturating_sub(t)
        }
    };
    push_u64(line, d.as_secs());
    line.push(b'.');
    let micros = d.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut n = micros;
    for slot in digits.iter_mut().rev() {
        // n < 1_000_000, so each digit fits a byte.
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    line.extend_from_slice(&digits);
}

/// "00" to "99": decimal digits two at a time, as `itoa` does.
const DIGIT_PAIRS: [u8; 200] = {
    let mut table = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        table[2 * i] = b'0' + (i / 10) as u8;
        table[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    table
};

/// A decimal number without going through `fmt` (this is the hot path).
/// The digits go left to right into a fixed 20-byte block (a u64 has at
/// most 20), two at a time from the right; the whole block is appended and
/// the line cut back to the digits. A copy of a fixed size compiles to a few
/// stores, where one of a few bytes whose count is known only at run time
/// calls `memmove`, and a byte-at-a-time push checks the capacity each time
/// (measured with perf: that loop was a fifth of `--summary`'s time).
#[inline]
fn push_u64(line: &mut Vec<u8>, mut n: u64) {
    let len = n.checked_ilog10().map_or(1, |d| d as usize + 1);
    let mut buf = [b'0'; 20];
    let mut i = len;
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i] = DIGIT_PAIRS[pair];
        buf[i + 1] = DIGIT_PAIRS[pair + 1];
    }
    if n >= 10 {
        let pair = n as usize * 2;
        buf[0] = DIGIT_PAIRS[pair];
        buf[1] = DIGIT_PAIRS[pair + 1];
    } else {
        buf[0] = b'0' + n as u8;
    }
    let at = line.len();
    line.extend_from_slice(&buf);
    line.truncate(at + len);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex8(line: &mut Vec<u8>, b: u8) {
    line.push(HEX[usize::from(b >> 4)]);
    line.push(HEX[usize::from(b & 0x0f)]);
}

fn push_hex16(line: &mut Vec<u8>, v: u16) {
    let [hi, lo] = v.to_be_bytes();
    push_hex8(line, hi);
    push_hex8(line, lo);
}

fn push_mac(line: &mut Vec<u8>, mac: [u8; 6]) {
    for (i, b) in mac.into_iter().enumerate() {
        if i > 0 {
            line.push(b':');
        }
        push_hex8(line, b);
    }
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*pair.first()?, *pair.get(1)?]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::model::LinkType;
    use crate::layer::Layer;

    fn frame(number: u64, micros: Option<u64>, data: Vec<u8>) -> Frame {
        let original_len = data.len();
        Frame {
            number,
            timestamp: micros.map(|m| Duration::from_micros(1_700_000_000_000_000 + m)),
            link: LinkType::Ethernet,
            data,
            original_len,
            comments: Vec::new(),
        }
    }

    fn tcp(flags: u8, payload: (usize, usize)) -> Facts {
        Facts {
            protocols: Protocols(Protocols::ETHERNET | Protocols::IPV4 | Protocols::TCP),
            src_ip: Some("192.0.2.1".parse().unwrap()),
            dst_ip: Some("198.51.100.7".parse().unwrap()),
            transport: Some(TransportFacts::Tcp {
                src_port: 51000,
                dst_port: 80,
                seq: 1000,
                ack: 5001,
                flags: TcpFlags(flags),
                window: 64240,
                payload,
            }),
            captured_len: 54,
            original_len: 54,
            ..Facts::default()
        }
    }

    /// The lines a summary view writes for these frames.
    fn lines(frames: &[(Frame, Facts)]) -> Vec<String> {
        let mut view = SummaryView::new(Vec::new());
        for (frame, facts) in frames {
            view.packet(frame, facts).unwrap();
        }
        view.finish().unwrap();
        String::from_utf8(view.into_inner())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn dns_query(name: &[&str], qtype: u16, response: bool, answers: u16, rcode: u8) -> Vec<u8> {
        let mut m = vec![
            0x12,
            0x34,
            if response { 0x81 } else { 0x01 },
            rcode,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        m[7] = answers as u8;
        for label in name {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        m
    }

    #[test]
    fn tcp_lines_show_flags_seq_ack_window_and_length() {
        let out = lines(&[
            (frame(1, Some(0), vec![0; 54]), tcp(TcpFlags::SYN, (54, 54))),
            (
                frame(2, Some(123), vec![0; 54]),
                tcp(TcpFlags::SYN | TcpFlags::ACK, (54, 54)),
            ),
            (
                frame(3, Some(1_500_000), vec![0; 60]),
                tcp(TcpFlags::PSH | TcpFlags::ACK, (54, 60)),
            ),
            (frame(4, Some(2_000_000), vec![0; 54]), tcp(0, (54, 54))),
        ]);
        assert_eq!(
            out,
            [
                "1  0.000000  192.0.2.1:51000 → 198.51.100.7:80  TCP [SYN] seq=1000 win=64240 len=0",
                "2  0.000123  192.0.2.1:51000 → 198.51.100.7:80  TCP [SYN, ACK] seq=1000 ack=5001 win=64240 len=0",
                "3  1.500000  192.0.2.1:51000 → 198.51.100.7:80  TCP [PSH, ACK] seq=1000 ack=5001 win=64240 len=6",
                "4  2.000000  192.0.2.1:51000 → 198.51.100.7:80  TCP [none] seq=1000 win=64240 len=0",
            ]
        );
    }

    #[test]
    fn no_clock_means_a_dash_and_time_can_go_backwards() {
        let out = lines(&[
            (frame(1, None, vec![]), tcp(TcpFlags::SYN, (0, 0))),
            (frame(2, Some(500), vec![]), tcp(TcpFlags::SYN, (0, 0))),
            (frame(3, Some(0), vec![]), tcp(TcpFlags::SYN, (0, 0))),
        ]);
        assert!(out[0].starts_with("1  -  "), "{}", out[0]);
        assert!(out[1].starts_with("2  0.000000  "), "{}", out[1]);
        assert!(out[2].starts_with("3  -0.000500  "), "{}", out[2]);
    }

    #[test]
    fn udp_over_ipv6_with_a_dns_query() {
        let dns = dns_query(&["example", "com"], 1, false, 0, 0);
        let mut data = vec![0u8; 62];
        data.extend_from_slice(&dns);
        let facts = Facts {
            protocols: Protocols(Protocols::IPV6 | Protocols::UDP | Protocols::DNS),
            src_ip: Some("2001:db8::1".parse().unwrap()),
            dst_ip: Some("2001:db8::53".parse().unwrap()),
            transport: Some(TransportFacts::Udp {
                src_port: 53124,
                dst_port: 53,
                length: 8 + dns.len() as u16,
                payload: (62, 62 + dns.len()),
            }),
            ..Facts::default()
        };
        let out = lines(&[(frame(3, None, data), facts)]);
        assert_eq!(
            out[0],
            "3  -  [2001:db8::1]:53124 → [2001:db8::53]:53  UDP len=29  DNS query A example.com"
        );
    }

    #[test]
    fn dns_responses_answers_and_errors() {
        let mut line = Vec::new();
        write_dns(&mut line, &dns_query(&["netdojo", "test"], 28, true, 2, 0));
        assert_eq!(line, b" response AAAA netdojo.test (2 answers)");
        line.clear();
        write_dns(&mut line, &dns_query(&["nope"], 1, true, 0, 3));
        assert_eq!(line, b" response A nope NXDOMAIN");
        line.clear();
        write_dns(&mut line, &dns_query(&[], 2, false, 0, 0));
        assert_eq!(line, b" query NS .");
        line.clear();
        write_dns(&mut line, &dns_query(&["e\x1b[31m"], 999, false, 0, 0));
        assert_eq!(line, b" query TYPE999 e\\x1b\\x5b31m");
        // Cut anywhere, a message prints what it can and never panics.
        let full = dns_query(&["example", "com"], 1, true, 1, 0);
        for cut in 0..full.len() {
            line.clear();
            write_dns(&mut line, &full[..cut]);
            let text = String::from_utf8(line.clone()).unwrap();
            assert!(
                !text.contains("example.co") || cut >= full.len() - 4,
                "{cut}: {text}"
            );
        }
        // A compression pointer in the question: no name rather than a wrong one.
        line.clear();
        write_dns(
            &mut line,
            &[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1],
        );
        assert_eq!(line, b" query");
    }

    #[test]
    fn arp_icmp_fragments_and_other_ethertypes() {
        let mac1 = [2, 0, 0, 0, 0, 1];
        let arp = Facts {
            protocols: Protocols(Protocols::ETHERNET | Protocols::ARP),
            src_mac: Some(mac1),
            dst_mac: Some([0xff; 6]),
            src_ip: Some("192.0.2.1".parse().unwrap()),
            dst_ip: Some("192.0.2.7".parse().unwrap()),
            arp_op: Some(1),
            ..Facts::default()
        };
        let reply = Facts {
            arp_op: Some(2),
            vlan_id: Some(100),
            dst_mac: Some([2, 0, 0, 0, 0, 7]),
            ..arp
        };
        let ping = Facts {
            protocols: Protocols(Protocols::IPV4 | Protocols::ICMP),
            src_ip: Some("192.0.2.1".parse().unwrap()),
            dst_ip: Some("198.51.100.7".parse().unwrap()),
            transport: Some(TransportFacts::Icmp {
                v6: false,
                icmp_type: 8,
                code: 0,
            }),
            icmp_echo: Some((7, 1)),
            ..Facts::default()
        };
        let unreachable = Facts {
            transport: Some(TransportFacts::Icmp {
                v6: true,
                icmp_type: 1,
                code: 4,
            }),
            src_ip: Some("::1".parse().unwrap()),
            dst_ip: Some("::1".parse().unwrap()),
            icmp_echo: None,
            ..ping
        };
        let odd_icmp = Facts {
            transport: Some(TransportFacts::Icmp {
                v6: false,
                icmp_type: 99,
                code: 5,
            }),
            icmp_echo: None,
            ..ping
        };
        let fragment = Facts {
            protocols: Protocols(Protocols::IPV4 | Protocols::FRAGMENT),
            src_ip: Some("192.0.2.1".parse().unwrap()),
            dst_ip: Some("198.51.100.7".parse().unwrap()),
            ip_protocol: Some(17),
            original_len: 1514,
            ..Facts::default()
        };
        let lldp = Facts {
            protocols: Protocols(Protocols::ETHERNET),
            src_mac: Some(mac1),
            dst_mac: Some([1, 0x80, 0xc2, 0, 0, 0x0e]),
            ether_type: Some(0x88cc),
            original_len: 60,
            ..Facts::default()
        };
        let nothing = Facts {
            original_len: 3,
            ..Facts::default()
        };
        let f = || frame(1, None, vec![]);
        let out = lines(&[
            (f(), arp),
            (f(), reply),
            (f(), ping),
            (f(), unreachable),
            (f(), odd_icmp),
            (f(), fragment),
            (f(), lldp),
            (f(), nothing),
        ]);
        let rest: Vec<&str> = out.iter().map(|l| &l[6..]).collect();
        assert_eq!(
            rest,
            [
                "02:00:00:00:00:01 → ff:ff:ff:ff:ff:ff  ARP who-has 192.0.2.7 tell 192.0.2.1",
                "02:00:00:00:00:01 → 02:00:00:00:00:07  ARP 192.0.2.1 is-at 02:00:00:00:00:01  vlan=100",
                "192.0.2.1 → 198.51.100.7  ICMP echo request id=7 seq=1",
                "::1 → ::1  ICMPv6 destination unreachable (port unreachable)",
                "192.0.2.1 → 198.51.100.7  ICMP type=99 code=5",
                "192.0.2.1 → 198.51.100.7  IPv4 fragment proto=17, 1514 bytes",
                "02:00:00:00:00:01 → 01:80:c2:00:00:0e  ethertype 0x88cc, 60 bytes",
                "frame, 3 bytes",
            ]
        );
    }

    #[test]
    fn numbers_are_written_as_std_writes_them() {
        let mut edges = vec![0, u64::MAX, u64::MAX - 1];
        for p in 1..20u32 {
            let t = 10u64.pow(p);
            edges.extend([t - 1, t, t + 1]);
        }
        edges.extend((0..5000).map(|i| i * 7919 % 100_003));
        for n in edges {
            let mut line = b"x".to_vec();
            push_u64(&mut line, n);
            assert_eq!(line, format!("x{n}").into_bytes(), "{n}");
        }
    }

    #[test]
    fn comments_end_the_line_and_malformed_is_not_truncated() {
        let mut f = frame(3, None, vec![0u8; 54]);
        f.comments = vec!["lost by the link (--loss)".into(), "two\nlines".into()];
        let mut facts = tcp(TcpFlags::SYN, (54, 54));
        facts.stopped_at = Some(Layer::Network);
        facts.stop_malformed = true;
        let out = lines(&[(f, facts)]);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0].ends_with(
                "  [malformed at L3 Network]  [comment: lost by the link (--loss)]  [comment: two\\nlines]"
            ),
            "{}",
            out[0]
        );
    }

    #[test]
    fn http_start_line_and_truncation_mark() {
        let request = b"GET /chat HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut data = vec![0u8; 54];
        data.extend_from_slice(request);
        let mut facts = tcp(TcpFlags::PSH | TcpFlags::ACK, (54, data.len()));
        facts.protocols.add(Protocols::HTTP);
        facts.stopped_at = Some(Layer::Application);
        let out = lines(&[(frame(9, None, data), facts)]);
        assert!(
            out[0].ends_with(&format!(
                "len={}  HTTP GET /chat HTTP/1.1  [truncated at L7 Application]",
                request.len()
            )),
            "{}",
            out[0]
        );
        // Escapes in a payload never reach the terminal.
        let mut line = Vec::new();
        write_http_start_line(&mut line, b"GET /\x1b[2J HTTP/1.1");
        assert_eq!(line, b" GET /");
    }

    #[test]
    fn payload_ranges_outside_the_frame_are_harmless() {
        let mut facts = tcp(TcpFlags::ACK, (50, 10_000));
        facts.protocols.add(Protocols::DNS);
        let out = lines(&[(frame(1, None, vec![0; 60]), facts)]);
        assert!(out[0].contains("len=9950  DNS"), "{}", out[0]);
        let mut facts = tcp(TcpFlags::ACK, (70, 60));
        facts.protocols.add(Protocols::HTTP);
        let out = lines(&[(frame(1, None, vec![0; 60]), facts)]);
        assert!(out[0].contains("len=0  HTTP"), "{}", out[0]);
    }

    #[test]
    fn numbers_of_every_width() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            101,
            999,
            1000,
            65535,
            4_294_967_295,
            u64::MAX,
        ] {
            let mut line = b"x".to_vec();
            push_u64(&mut line, n);
            assert_eq!(String::from_utf8(line).unwrap(), format!("x{n}"));
        }
        for n in (0..100_000).step_by(7) {
            let mut line = Vec::new();
            push_u64(&mut line, n);
            assert_eq!(line, n.to_string().as_bytes());
        }
    }

    proptest::proptest! {
        /// Payload bytes, and payload ranges, are whatever a file says.
        #[test]
        fn random_payloads_never_panic(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            start in 0usize..300,
            len in 0usize..300,
            over_tcp in proptest::bool::ANY,
        ) {
            let mut line = Vec::new();
            write_dns(&mut line, &data);
            write_http_start_line(&mut line, &data);
            let mut facts = tcp(TcpFlags::ACK, (start, start + len));
            facts.protocols.add(Protocols::DNS);
            let frame = frame(1, None, data);
            write_line(&mut line, &frame, &facts, None);
            write_application(&mut line, &frame, Protocols(Protocols::HTTP), (start, start.wrapping_sub(len)), over_tcp);
            proptest::prop_assert!(!line.contains(&0x1b), "no escape reaches the terminal");
        }
    }

    /// How fast lines are made from synthetic facts (this view alone):
    /// `cargo test --release --lib summary_lines_per_second -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, not a check: run it in release and read the figure"]
    fn summary_lines_per_second() {
        const LINES: u64 = 5_000_000;
        let mut cases = Vec::new();
        for i in 0..1024u32 {
            let mut facts = tcp(
                TcpFlags::ACK | if i % 7 == 0 { TcpFlags::PSH } else { 0 },
                (54, 54 + (i as usize % 1400)),
            );
            facts.src_ip = Some(std::net::Ipv4Addr::from(0x0a00_0000 + i * 7919).into());
            if i % 4 == 1 {
                facts.transport = Some(TransportFacts::Udp {
                    src_port: 40000 + i as u16,
                    dst_port: 443,
                    length: 1200,
                    payload: (42, 1242),
                });
            }
            if i % 16 == 3 {
                facts.src_ip = Some("2001:db8::1".parse().unwrap());
                facts.dst_ip = Some(format!("2001:db8::{i:x}").parse().unwrap());
            }
            cases.push(facts);
        }
        let data = vec![0u8; 1514];
        let mut frame = frame(1, Some(0), data);
        let mut view = SummaryView::new(io::BufWriter::with_capacity(1 << 16, io::sink()));
        let start = std::time::Instant::now();
        for n in 0..LINES {
            frame.number = n + 1;
            frame.timestamp = Some(Duration::from_micros(1_700_000_000_000_000 + n * 37));
            let facts = &cases[(n % 1024) as usize];
            view.packet(&frame, facts).unwrap();
        }
        view.finish().unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "summary view: {LINES} lines in {secs:.3} s = {:.0} lines/s",
            LINES as f64 / secs
        );
    }
}
