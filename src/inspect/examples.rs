//! Built-in example frames, made with etherparse's builder.
//!
//! Every address comes from the ranges set aside for documentation
//! (192.0.2.0/24 and 198.51.100.0/24 for IPv4, 2001:db8::/32 for IPv6, and
//! 00:00:5e:00:53:xx for MACs, RFC 7042), or is loopback; every number is
//! fixed, so a lesson's output is the same on every run and every machine.
//!
//! The TCP examples tell one story: a client opens a connection to a web
//! server (`tcp-syn`, `tcp-syn-ack`), asks for a page (`tcp-data`), gets it
//! (`http-response`) and closes (`tcp-fin`), with sequence numbers that
//! follow on from one frame to the next.

use std::time::Duration;

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, IpHeaders, IpNumber, Ipv4Header,
    Ipv6FlowLabel, Ipv6Header, PacketBuilder, TcpOptionElement, VlanId,
};

use super::model::{Frame, LinkType};

/// A named example frame.
pub struct Example {
    pub name: &'static str,
    /// What it shows a learner.
    pub description: &'static str,
    pub build: fn() -> Frame,
}

/// Every example, in the order `--example list` shows them.
pub fn all() -> &'static [Example] {
    EXAMPLES
}

/// The example with this name.
pub fn find(name: &str) -> Option<&'static Example> {
    all().iter().find(|e| e.name == name)
}

static EXAMPLES: &[Example] = &[
    Example {
        name: "tcp-syn",
        description: "a client opens a TCP connection: SYN, with MSS, SACK, timestamps and window scale options",
        build: tcp_syn,
    },
    Example {
        name: "tcp-syn-ack",
        description: "the server accepts: SYN+ACK acknowledges the client's sequence number plus one",
        build: tcp_syn_ack,
    },
    Example {
        name: "tcp-data",
        description: "the client sends an HTTP GET: data in a PSH+ACK segment",
        build: tcp_data,
    },
    Example {
        name: "http-response",
        description: "the server answers 200 OK: an HTTP response head and body",
        build: http_response,
    },
    Example {
        name: "tcp-fin",
        description: "the client closes its direction: FIN+ACK",
        build: tcp_fin,
    },
    Example {
        name: "udp-dns-query",
        description: "a DNS query for www.example.com over UDP port 53",
        build: udp_dns_query,
    },
    Example {
        name: "icmp-echo",
        description: "ping: an ICMP echo request with identifier and sequence number",
        build: icmp_echo,
    },
    Example {
        name: "icmpv6-echo",
        description: "ping over IPv6: an ICMPv6 echo request",
        build: icmpv6_echo,
    },
    Example {
        name: "arp-request",
        description: "who has 192.0.2.1? a broadcast ARP request, padded by an Ethernet trailer",
        build: arp_request,
    },
    Example {
        name: "ipv6-udp",
        description: "a UDP datagram over IPv6: 40-byte header, hop limit, flow label",
        build: ipv6_udp,
    },
    Example {
        name: "vlan-tagged",
        description: "an 802.1Q tag between the MACs and the EtherType puts the frame on VLAN 100",
        build: vlan_tagged,
    },
    Example {
        name: "ipv4-fragment",
        description: "the last fragment of a large UDP datagram: offset 1480, no ports (they were in the first)",
        build: ipv4_fragment,
    },
    Example {
        name: "truncated",
        description: "a TCP SYN cut short: only 7 bytes of the TCP header made it",
        build: truncated,
    },
    Example {
        name: "websocket-text",
        description: "a masked WebSocket text frame from a browser carrying a netdojo chat event in JSON",
        build: websocket_text,
    },
    Example {
        name: "tls-client-hello",
        description: "the start of HTTPS: a TLS ClientHello naming the server in the clear (SNI)",
        build: tls_client_hello,
    },
    Example {
        name: "sll",
        description: "netdojo tcp echo traffic captured on `any`: a Linux cooked header instead of Ethernet",
        build: sll,
    },
    Example {
        name: "null-loopback",
        description: "a UDP datagram captured on a BSD or macOS loopback: a 4-byte family instead of Ethernet",
        build: null_loopback,
    },
];

/// The client's and the server's network cards (RFC 7042 documentation MACs).
const CLIENT_MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x53, 0x0a];
const SERVER_MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x53, 0x14];
const BROADCAST_MAC: [u8; 6] = [0xff; 6];

const CLIENT_IP: [u8; 4] = [192, 0, 2, 10];
const GATEWAY_IP: [u8; 4] = [192, 0, 2, 1];
const SERVER_IP: [u8; 4] = [198, 51, 100, 20];
const DNS_SERVER_IP: [u8; 4] = [198, 51, 100, 53];
const CLIENT_IP6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];
const SERVER_IP6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20,
];
const LOOPBACK: [u8; 4] = [127, 0, 0, 1];

/// The web conversation's ports and initial sequence numbers (memorable
/// stand-ins for the random numbers real stacks choose).
const CLIENT_PORT: u16 = 51000;
const HTTP_PORT: u16 = 80;
const CLIENT_ISN: u32 = 3_141_592_653;
const SERVER_ISN: u32 = 2_718_281_828;
/// Linux's default TTL and hop limit.
const TTL: u8 = 64;
/// Both ends' timestamp clocks when the examples start.
const CLIENT_TS: u32 = 1_000;
const SERVER_TS: u32 = 5_000;

/// 2024-01-01 00:00:00 UTC: every example has this capture time.
const CAPTURED_AT: Duration = Duration::from_secs(1_704_067_200);

const HTTP_GET: &[u8] =
    b"GET / HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: netdojo\r\nAccept: */*\r\n\r\n";
const HTTP_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, world!";

fn frame(link: LinkType, data: Vec<u8>) -> Frame {
    Frame {
        number: 1,
        timestamp: Some(CAPTURED_AT),
        link,
        original_len: data.len(),
        data,
        comments: Vec::new(),
    }
}

fn ethernet(data: Vec<u8>) -> Frame {
    frame(LinkType::Ethernet, data)
}

/// An IPv4 header as Linux sends TCP: don't fragment, a fixed identification.
fn ipv4(source: [u8; 4], destination: [u8; 4], identification: u16) -> IpHeaders {
    let mut h = Ipv4Header::new(0, TTL, IpNumber::TCP, source, destination)
        .expect("a zero payload length always fits");
    h.dont_fragment = true;
    h.identification = identification;
    IpHeaders::Ipv4(h, Default::default())
}

/// Options of a Linux SYN: MSS, SACK permitted, timestamps, NOP, window scale.
fn syn_options(ts_value: u32, ts_echo: u32) -> [TcpOptionElement; 5] {
    [
        TcpOptionElement::MaximumSegmentSize(1460),
        TcpOptionElement::SelectiveAcknowledgementPermitted,
        TcpOptionElement::Timestamp(ts_value, ts_echo),
        TcpOptionElement::Noop,
        TcpOptionElement::WindowScale(7),
    ]
}

/// Options of a segment after the handshake: timestamps, padded to 12 bytes.
fn data_options(ts_value: u32, ts_echo: u32) -> [TcpOptionElement; 3] {
    [
        TcpOptionElement::Noop,
        TcpOptionElement::Noop,
        TcpOptionElement::Timestamp(ts_value, ts_echo),
    ]
}

fn tcp_syn() -> Frame {
    let builder = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ip(ipv4(CLIENT_IP, SERVER_IP, 0x4a21))
        .tcp(CLIENT_PORT, HTTP_PORT, CLIENT_ISN, 64240)
        .syn()
        .options(&syn_options(CLIENT_TS, 0))
        .expect("the SYN options fit in 40 bytes");
    let mut out = Vec::with_capacity(builder.size(0));
    builder.write(&mut out, &[]).expect("writing to a Vec");
    ethernet(out)
}

fn tcp_syn_ack() -> Frame {
    let builder = PacketBuilder::ethernet2(SERVER_MAC, CLIENT_MAC)
        .ip(ipv4(SERVER_IP, CLIENT_IP, 0))
        .tcp(HTTP_PORT, CLIENT_PORT, SERVER_ISN, 65160)
        .syn()
        .ack(CLIENT_ISN.wrapping_add(1))
        .options(&syn_options(SERVER_TS, CLIENT_TS))
        .expect("the SYN options fit in 40 bytes");
    let mut out = Vec::with_capacity(builder.size(0));
    builder.write(&mut out, &[]).expect("writing to a Vec");
    ethernet(out)
}

fn tcp_data() -> Frame {
    let builder = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ip(ipv4(CLIENT_IP, SERVER_IP, 0x4a22))
        .tcp(CLIENT_PORT, HTTP_PORT, CLIENT_ISN.wrapping_add(1), 502)
        .psh()
        .ack(SERVER_ISN.wrapping_add(1))
        .options(&data_options(CLIENT_TS + 10, SERVER_TS))
        .expect("timestamps fit");
    let mut out = Vec::with_capacity(builder.size(HTTP_GET.len()));
    builder.write(&mut out, HTTP_GET).expect("writing to a Vec");
    ethernet(out)
}

fn http_response() -> Frame {
    let builder = PacketBuilder::ethernet2(SERVER_MAC, CLIENT_MAC)
        .ip(ipv4(SERVER_IP, CLIENT_IP, 0x1c01))
        .tcp(HTTP_PORT, CLIENT_PORT, SERVER_ISN.wrapping_add(1), 509)
        .psh()
        .ack(CLIENT_ISN.wrapping_add(1 + HTTP_GET.len() as u32))
        .options(&data_options(SERVER_TS + 10, CLIENT_TS + 10))
        .expect("timestamps fit");
    let mut out = Vec::with_capacity(builder.size(HTTP_OK.len()));
    builder.write(&mut out, HTTP_OK).expect("writing to a Vec");
    ethernet(out)
}

fn tcp_fin() -> Frame {
    let builder = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ip(ipv4(CLIENT_IP, SERVER_IP, 0x4a23))
        .tcp(
            CLIENT_PORT,
            HTTP_PORT,
            CLIENT_ISN.wrapping_add(1 + HTTP_GET.len() as u32),
            502,
        )
        .fin()
        .ack(SERVER_ISN.wrapping_add(1 + HTTP_OK.len() as u32))
        .options(&data_options(CLIENT_TS + 20, SERVER_TS + 10))
        .expect("timestamps fit");
    let mut out = Vec::with_capacity(builder.size(0));
    builder.write(&mut out, &[]).expect("writing to a Vec");
    ethernet(out)
}

/// The DNS question, built with simple-dns.
fn dns_query_bytes() -> Vec<u8> {
    use simple_dns::{CLASS, Name, Packet, PacketFlag, Question, TYPE};
    let mut query = Packet::new_query(0x1a2b);
    query.set_flags(PacketFlag::RECURSION_DESIRED);
    query.questions.push(Question::new(
        Name::new_unchecked("www.example.com"),
        TYPE::A.into(),
        CLASS::IN.into(),
        false,
    ));
    query
        .build_bytes_vec()
        .expect("a one-question query builds")
}

fn udp_dns_query() -> Frame {
    let dns = dns_query_bytes();
    let builder = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ipv4(CLIENT_IP, DNS_SERVER_IP, TTL)
        .udp(53000, 53);
    let mut out = Vec::with_capacity(builder.size(dns.len()));
    builder.write(&mut out, &dns).expect("writing to a Vec");
    ethernet(out)
}

/// What `ping` sends: 16 bytes of send time, then the bytes 0x10 to 0x37.
fn ping_data() -> Vec<u8> {
    let mut data = vec![
        0x80, 0x00, 0x92, 0x65, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x5c, 0x0d, 0x00, 0x00, 0x00, 0x00,
        0x00,
    ];
    data.extend(0x10..=0x37u8);
    data
}

fn icmp_echo() -> Frame {
    let data = ping_data();
    let builder = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ipv4(CLIENT_IP, SERVER_IP, TTL)
        .icmpv4_echo_request(0x0b0e, 1);
    let mut out = Vec::with_capacity(builder.size(data.len()));
    builder.write(&mut out, &data).expect("writing to a Vec");
    ethernet(out)
}

fn icmpv6_echo() -> Frame {
    let data = ping_data();
    let builder = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ipv6(CLIENT_IP6, SERVER_IP6, TTL)
        .icmpv6_echo_request(0x0b0e, 1);
    let mut out = Vec::with_capacity(builder.size(data.len()));
    builder.write(&mut out, &data).expect("writing to a Vec");
    ethernet(out)
}

/// Ethernet's minimum frame, without the 4-byte FCS captures leave out.
const ETHERNET_MIN_FRAME: usize = 60;

fn arp_request() -> Frame {
    let arp = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation::REQUEST,
        &CLIENT_MAC,
        &CLIENT_IP,
        &[0; 6],
        &GATEWAY_IP,
    )
    .expect("MAC and IPv4 sizes are valid");
    let builder = PacketBuilder::ethernet2(CLIENT_MAC, BROADCAST_MAC).arp(arp);
    let mut out = Vec::with_capacity(ETHERNET_MIN_FRAME);
    builder.write(&mut out).expect("writing to a Vec");
    // The sending card pads the 42-byte frame to Ethernet's minimum.
    out.resize(ETHERNET_MIN_FRAME, 0);
    ethernet(out)
}

fn ipv6_udp() -> Frame {
    let payload = b"hello over IPv6";
    let header = Ipv6Header {
        traffic_class: 0,
        flow_label: Ipv6FlowLabel::try_new(0x5_d2c1).expect("a 20-bit flow label"),
        hop_limit: TTL,
        source: CLIENT_IP6,
        destination: SERVER_IP6,
        ..Default::default()
    };
    let builder = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ip(IpHeaders::Ipv6(header, Default::default()))
        .udp(50000, 7001);
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).expect("writing to a Vec");
    ethernet(out)
}

fn vlan_tagged() -> Frame {
    let payload = b"hello from VLAN 100";
    let builder = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .single_vlan(VlanId::try_new(100).expect("100 is a valid VLAN id"))
        .ipv4(CLIENT_IP, SERVER_IP, TTL)
        .udp(50001, 7001);
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).expect("writing to a Vec");
    ethernet(out)
}

/// The data each fragment but the last carries on a 1500-byte MTU: 1500
/// minus the 20-byte IPv4 header, a multiple of 8 as offsets must be.
const FRAGMENT_DATA: u16 = 1480;

fn ipv4_fragment() -> Frame {
    let data: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
    let mut h = Ipv4Header::new(0, TTL, IpNumber::UDP, CLIENT_IP, SERVER_IP)
        .expect("a zero payload length always fits");
    h.identification = 0x04d2;
    h.dont_fragment = false;
    h.more_fragments = false;
    h.fragment_offset =
        etherparse::IpFragOffset::try_new(FRAGMENT_DATA / 8).expect("185 fits in 13 bits");
    let builder =
        PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC).ip(IpHeaders::Ipv4(h, Default::default()));
    let mut out = Vec::with_capacity(builder.size(data.len()));
    builder
        .write(&mut out, IpNumber::UDP, &data)
        .expect("writing to a Vec");
    ethernet(out)
}

/// How many bytes of the TCP header the truncated example keeps.
const TRUNCATED_TCP_BYTES: usize = 7;

fn truncated() -> Frame {
    let mut syn = tcp_syn();
    // Ethernet (14) + IPv4 (20) + the first bytes of TCP.
    syn.data.truncate(14 + 20 + TRUNCATED_TCP_BYTES);
    syn.original_len = syn.data.len();
    syn
}

fn websocket_text() -> Frame {
    use tungstenite::protocol::frame::FrameHeader;
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    let text = br#"{"type":"say","room":"lobby","text":"hi"}"#;
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let header = FrameHeader {
        is_final: true,
        opcode: OpCode::Data(Data::Text),
        mask: Some(mask),
        ..FrameHeader::default()
    };
    let mut ws = Vec::new();
    header
        .format(text.len() as u64, &mut ws)
        .expect("writing to a Vec");
    ws.extend(text.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let builder = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ip(ipv4(CLIENT_IP, SERVER_IP, 0x5b10))
        .tcp(51002, 8080, 1_618_033_988, 502)
        .psh()
        .ack(1_414_213_562)
        .options(&data_options(CLIENT_TS + 30, SERVER_TS + 30))
        .expect("timestamps fit");
    let mut out = Vec::with_capacity(builder.size(ws.len()));
    builder.write(&mut out, &ws).expect("writing to a Vec");
    ethernet(out)
}

/// A minimal TLS 1.3 ClientHello asking for www.example.com. There is no
/// TLS writer among our crates, so the bytes are laid out here, outermost
/// last, each with its length prefix.
fn client_hello_bytes() -> Vec<u8> {
    fn with_len16(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }
    let host = b"www.example.com";
    // server_name: a list of one host name (type 0).
    let mut name = vec![0u8];
    name.extend(with_len16(host));
    let mut sni = vec![0x00, 0x00];
    sni.extend(with_len16(&with_len16(&name)));
    // supported_versions: TLS 1.3 only.
    let versions = [0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04];
    let mut extensions = sni;
    extensions.extend_from_slice(&versions);

    let mut hello = vec![0x03, 0x03]; // legacy version: TLS 1.2
    hello.extend((0..32u8).map(|i| i.wrapping_mul(7).wrapping_add(3))); // random
    hello.push(0); // no session id
    hello.extend(with_len16(&[0x13, 0x01, 0x13, 0x02, 0x13, 0x03])); // cipher suites
    hello.extend([1, 0]); // compression: none
    hello.extend(with_len16(&extensions));

    let mut handshake = vec![1u8]; // ClientHello
    handshake.extend(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend(hello);

    let mut record = vec![0x16, 0x03, 0x01]; // handshake, TLS 1.0 on the record layer
    record.extend(with_len16(&handshake));
    record
}

fn tls_client_hello() -> Frame {
    let hello = client_hello_bytes();
    let builder = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ip(ipv4(CLIENT_IP, SERVER_IP, 0x6c01))
        .tcp(51004, 443, 2_236_067_977, 502)
        .psh()
        .ack(1_732_050_807)
        .options(&data_options(CLIENT_TS + 40, SERVER_TS + 40))
        .expect("timestamps fit");
    let mut out = Vec::with_capacity(builder.size(hello.len()));
    builder.write(&mut out, &hello).expect("writing to a Vec");
    ethernet(out)
}

/// ARPHRD_LOOPBACK: what `tcpdump -i any` records for traffic on `lo`.
const ARPHRD_LOOPBACK: u16 = 772;
/// SLL packet type 4: sent by this host.
const SLL_OUTGOING: u16 = 4;

fn sll() -> Frame {
    let payload = b"hello\n";
    let builder = PacketBuilder::ipv4(LOOPBACK, LOOPBACK, TTL)
        .tcp(51006, 7000, 1_234_567_890, 512)
        .psh()
        .ack(987_654_321);
    // The cooked header: packet type, ARPHRD, address length and address
    // (loopback has a zero MAC), protocol. etherparse's SLL builder only
    // writes ARPHRD_ETHERNET, so this one is laid out here.
    let mut out = Vec::with_capacity(16 + builder.size(payload.len()));
    out.extend(SLL_OUTGOING.to_be_bytes());
    out.extend(ARPHRD_LOOPBACK.to_be_bytes());
    out.extend(6u16.to_be_bytes());
    out.extend([0u8; 8]);
    out.extend(0x0800u16.to_be_bytes());
    builder.write(&mut out, payload).expect("writing to a Vec");
    frame(LinkType::LinuxSll, out)
}

fn null_loopback() -> Frame {
    let payload = b"ping 1";
    let builder = PacketBuilder::ipv4(LOOPBACK, LOOPBACK, TTL).udp(53001, 7001);
    let mut out = Vec::with_capacity(4 + builder.size(payload.len()));
    // AF_INET (2) in the capturing host's byte order: little-endian here.
    out.extend(2u32.to_le_bytes());
    builder.write(&mut out, payload).expect("writing to a Vec");
    frame(LinkType::Null, out)
}
