//! Every example opened layer by layer; truncated and malformed frames;
//! the cheap guesses; and random bytes that must never panic.

use std::net::IpAddr;

use proptest::prelude::*;

use super::*;
use crate::inspect::examples;

fn example(name: &str) -> Frame {
    (examples::find(name)
        .unwrap_or_else(|| panic!("no example {name}"))
        .build)()
}

fn ethernet(data: Vec<u8>) -> Frame {
    Frame {
        number: 1,
        timestamp: None,
        link: LinkType::Ethernet,
        original_len: data.len(),
        data,
        comments: Vec::new(),
    }
}

/// The value of a field of the first layer with this protocol.
fn field<'a>(d: &'a Dissection, protocol: &str, name: &str) -> &'a str {
    let layer = d
        .layers
        .iter()
        .find(|l| l.protocol == protocol)
        .unwrap_or_else(|| panic!("no {protocol} layer in {:#?}", d.layers));
    &layer
        .fields
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no {name} field in {layer:#?}"))
        .value
}

fn protocols(d: &Dissection) -> Vec<(u8, &str)> {
    d.layers
        .iter()
        .map(|l| (l.layer.number(), l.protocol.as_ref()))
        .collect()
}

/// Layers tile the frame: in order, no gap, no overlap, first byte to last;
/// every field lies inside its layer (and so inside the frame).
fn assert_tiles(frame: &Frame, d: &Dissection) {
    let mut at = 0;
    for l in &d.layers {
        assert_eq!(l.range.start, at, "gap or overlap before {l:#?}");
        assert!(l.range.end >= l.range.start, "{l:#?}");
        for f in &l.fields {
            assert!(
                f.range.start >= l.range.start && f.range.end <= l.range.end,
                "field {f:#?} outside its layer {:?} {}",
                l.range,
                l.protocol
            );
            assert!(f.range.start <= f.range.end, "{f:#?}");
        }
        at = l.range.end;
    }
    assert_eq!(at, frame.data.len(), "layers end before the frame does");
}

#[test]
fn every_example_tiles_and_agrees_with_its_facts() {
    for e in examples::all() {
        let frame = (e.build)();
        let d = dissect(&frame);
        assert_tiles(&frame, &d);
        let f = facts(&frame);
        assert_eq!(f.captured_len, frame.data.len(), "{}", e.name);
        assert_eq!(
            f.stopped_at,
            d.stop.as_ref().map(|s| s.layer),
            "{}: facts and dissection disagree on where reading stopped",
            e.name
        );
        assert!(!e.description.is_empty());
        assert_eq!(examples::find(e.name).map(|x| x.name), Some(e.name));
    }
    assert!(examples::find("no-such-example").is_none());
    assert!(examples::all().len() >= 17);
}

#[test]
fn examples_are_identical_run_to_run() {
    for e in examples::all() {
        assert_eq!((e.build)(), (e.build)(), "{}", e.name);
    }
}

#[test]
fn each_example_has_the_layers_it_shows() {
    let cases: &[(&str, &[(u8, &str)])] = &[
        ("tcp-syn", &[(2, "Ethernet II"), (3, "IPv4"), (4, "TCP")]),
        (
            "tcp-syn-ack",
            &[(2, "Ethernet II"), (3, "IPv4"), (4, "TCP")],
        ),
        (
            "tcp-data",
            &[(2, "Ethernet II"), (3, "IPv4"), (4, "TCP"), (7, "HTTP")],
        ),
        (
            "http-response",
            &[(2, "Ethernet II"), (3, "IPv4"), (4, "TCP"), (7, "HTTP")],
        ),
        ("tcp-fin", &[(2, "Ethernet II"), (3, "IPv4"), (4, "TCP")]),
        (
            "udp-dns-query",
            &[(2, "Ethernet II"), (3, "IPv4"), (4, "UDP"), (7, "DNS")],
        ),
        ("icmp-echo", &[(2, "Ethernet II"), (3, "IPv4"), (3, "ICMP")]),
        (
            "icmpv6-echo",
            &[(2, "Ethernet II"), (3, "IPv6"), (3, "ICMPv6")],
        ),
        (
            "arp-request",
            &[(2, "Ethernet II"), (2, "ARP"), (2, "Ethernet trailer")],
        ),
        (
            "ipv6-udp",
            &[(2, "Ethernet II"), (3, "IPv6"), (4, "UDP"), (7, "Payload")],
        ),
        (
            "vlan-tagged",
            &[
                (2, "Ethernet II"),
                (2, "802.1Q VLAN"),
                (3, "IPv4"),
                (4, "UDP"),
                (7, "Payload"),
            ],
        ),
        (
            "ipv4-fragment",
            &[(2, "Ethernet II"), (3, "IPv4"), (3, "Fragment data")],
        ),
        (
            "truncated",
            &[
                (2, "Ethernet II"),
                (3, "IPv4"),
                (4, "TCP header (truncated)"),
            ],
        ),
        (
            "websocket-text",
            &[
                (2, "Ethernet II"),
                (3, "IPv4"),
                (4, "TCP"),
                (5, "WebSocket"),
                (7, "Chat event (JSON)"),
            ],
        ),
        (
            "tls-client-hello",
            &[(2, "Ethernet II"), (3, "IPv4"), (4, "TCP"), (6, "TLS")],
        ),
        (
            "sll",
            &[
                (2, "Linux cooked capture"),
                (3, "IPv4"),
                (4, "TCP"),
                (7, "Payload"),
            ],
        ),
        (
            "null-loopback",
            &[
                (2, "Loopback (null)"),
                (3, "IPv4"),
                (4, "UDP"),
                (7, "Payload"),
            ],
        ),
    ];
    for (name, expected) in cases {
        let d = dissect(&example(name));
        assert_eq!(protocols(&d), expected.to_vec(), "{name}");
    }
}

#[test]
fn tcp_syn_spells_out_header_and_options() {
    let d = dissect(&example("tcp-syn"));
    assert_eq!(field(&d, "Ethernet II", "Type"), "0x0800 (IPv4)");
    assert_eq!(field(&d, "IPv4", "TTL"), "64");
    assert_eq!(field(&d, "IPv4", "Protocol"), "6 (TCP)");
    assert_eq!(field(&d, "IPv4", "Flags"), "DF (don't fragment)");
    assert!(field(&d, "IPv4", "Header checksum").ends_with("(correct)"));
    assert_eq!(field(&d, "IPv4", "Source"), "192.0.2.10");
    assert_eq!(field(&d, "TCP", "Destination port"), "80 (http)");
    assert_eq!(field(&d, "TCP", "Sequence number"), "3141592653");
    assert_eq!(field(&d, "TCP", "Flags"), "SYN");
    assert_eq!(field(&d, "TCP", "Data offset"), "10 × 4 = 40 bytes");
    assert!(field(&d, "TCP", "Checksum").ends_with("(correct)"));
    assert_eq!(
        field(&d, "TCP", "Option: Maximum segment size"),
        "1460 bytes"
    );
    assert_eq!(field(&d, "TCP", "Option: SACK permitted"), "yes");
    assert_eq!(
        field(&d, "TCP", "Option: Timestamps"),
        "value 1000, echo reply 0"
    );
    assert_eq!(field(&d, "TCP", "Option: No-operation"), "padding");
    assert_eq!(
        field(&d, "TCP", "Option: Window scale"),
        "7 (multiply by 128)"
    );
    let ttl = d.layers[1].fields.iter().find(|f| f.name == "TTL").unwrap();
    assert!(
        ttl.meaning
            .starts_with("hops left before a router discards the packet")
    );
    assert_eq!(ttl.range, 22..23);
}

#[test]
fn the_handshake_numbers_follow_on() {
    let syn = facts(&example("tcp-syn"));
    let syn_ack = facts(&example("tcp-syn-ack"));
    let data = facts(&example("tcp-data"));
    let (
        Some(TransportFacts::Tcp {
            seq: s1, flags: f1, ..
        }),
        Some(TransportFacts::Tcp {
            seq: s2,
            ack: a2,
            flags: f2,
            ..
        }),
        Some(TransportFacts::Tcp {
            seq: s3,
            ack: a3,
            flags: f3,
            payload,
            ..
        }),
    ) = (syn.transport, syn_ack.transport, data.transport)
    else {
        panic!("TCP facts expected");
    };
    assert_eq!(f1, TcpFlags(TcpFlags::SYN));
    assert_eq!(f2, TcpFlags(TcpFlags::SYN | TcpFlags::ACK));
    assert_eq!(f3, TcpFlags(TcpFlags::PSH | TcpFlags::ACK));
    assert_eq!(a2, s1.wrapping_add(1));
    assert_eq!((s3, a3), (s1.wrapping_add(1), s2.wrapping_add(1)));
    assert_eq!(payload.1 - payload.0, 75);
    assert_eq!(tcp_flag_names(f2), "SYN, ACK");
}

#[test]
fn facts_name_the_protocols_of_each_example() {
    let has = |name: &str, bits: &[u32]| {
        let p = facts(&example(name)).protocols;
        for bit in bits {
            assert!(p.has(*bit), "{name} lacks {bit:#x}: {p:?}");
        }
        p
    };
    let p = has(
        "tcp-data",
        &[
            Protocols::ETHERNET,
            Protocols::IPV4,
            Protocols::TCP,
            Protocols::HTTP,
        ],
    );
    assert!(!p.has(Protocols::WEBSOCKET) && !p.has(Protocols::TLS) && !p.has(Protocols::DNS));
    has("http-response", &[Protocols::HTTP]);
    let p = has("tcp-syn", &[Protocols::TCP]);
    assert!(!p.has(Protocols::HTTP));
    has("udp-dns-query", &[Protocols::UDP, Protocols::DNS]);
    has("icmp-echo", &[Protocols::ICMP]);
    has("icmpv6-echo", &[Protocols::IPV6, Protocols::ICMPV6]);
    has("arp-request", &[Protocols::ARP]);
    has("vlan-tagged", &[Protocols::VLAN, Protocols::UDP]);
    has("ipv4-fragment", &[Protocols::FRAGMENT]);
    has("websocket-text", &[Protocols::WEBSOCKET, Protocols::TCP]);
    has("tls-client-hello", &[Protocols::TLS]);
    has("sll", &[Protocols::SLL, Protocols::TCP]);
    let p = has("null-loopback", &[Protocols::IPV4, Protocols::UDP]);
    assert!(!p.has(Protocols::ETHERNET));

    let arp = facts(&example("arp-request"));
    assert_eq!(arp.arp_op, Some(1));
    assert_eq!(arp.ether_type, Some(0x0806));
    assert_eq!(arp.dst_ip, Some(IpAddr::from([192, 0, 2, 1])));
    assert_eq!(arp.dst_mac, Some([0xff; 6]));
    let vlan = facts(&example("vlan-tagged"));
    assert_eq!((vlan.vlan_id, vlan.ether_type), (Some(100), Some(0x0800)));
    let ping = facts(&example("icmp-echo"));
    assert_eq!(ping.icmp_echo, Some((0x0b0e, 1)));
    let ping6 = facts(&example("icmpv6-echo"));
    assert_eq!(ping6.icmp_echo, Some((0x0b0e, 1)));
    assert_eq!(ping6.ttl, Some(64));
    let frag = facts(&example("ipv4-fragment"));
    assert_eq!((frag.transport, frag.ip_protocol), (None, Some(17)));
    let dns = facts(&example("udp-dns-query"));
    assert_eq!(dns.ports(), Some((53000, 53)));
    let sll = facts(&example("sll"));
    assert_eq!(sll.ports(), Some((51006, 7000)));
    assert_eq!(sll.ether_type, Some(0x0800));
}

#[test]
fn truncated_says_where_and_why() {
    let frame = example("truncated");
    let d = dissect(&frame);
    let stop = d.stop.as_ref().expect("a stop");
    assert_eq!(
        stop.to_string(),
        "truncated at L4 Transport: TCP header needs 20 bytes, 7 present"
    );
    assert!(!stop.snap_length);
    assert_eq!(facts(&frame).stopped_at, Some(Layer::Transport));
    // The same frame cut by a capture's snap length says so.
    let mut snapped = frame.clone();
    snapped.original_len = 74;
    let stop = dissect(&snapped).stop.expect("a stop");
    assert!(stop.snap_length);
    assert_eq!(
        stop.to_string(),
        "truncated at L4 Transport: TCP header needs 20 bytes, 7 present (the capture's snap length cut the frame)"
    );
}

#[test]
fn a_snapped_payload_keeps_every_header() {
    let mut frame = example("tcp-data");
    frame.data.truncate(100);
    let d = dissect(&frame);
    assert_tiles(&frame, &d);
    assert_eq!(
        protocols(&d),
        vec![(2, "Ethernet II"), (3, "IPv4"), (4, "TCP"), (7, "HTTP")]
    );
    let stop = d.stop.expect("a stop");
    assert_eq!(stop.layer, Layer::Application);
    assert_eq!(stop.reason, "TCP payload needs 75 bytes, 34 present");
    assert!(stop.snap_length);
    assert!(field(&dissect(&frame), "TCP", "Checksum").contains("not checked"));
}

#[test]
fn malformed_frames_say_what_is_wrong() {
    let stop = |data: Vec<u8>| {
        let frame = ethernet(data);
        let d = dissect(&frame);
        assert_tiles(&frame, &d);
        assert_eq!(facts(&frame).stopped_at, d.stop.as_ref().map(|s| s.layer));
        // --summary's `[malformed at ...]` and the tree's line agree.
        assert_eq!(
            facts(&frame).stop_malformed,
            d.stop.as_ref().is_some_and(|s| s.malformed)
        );
        d.stop.map(|s| s.to_string()).unwrap_or_default()
    };
    let syn = example("tcp-syn").data;

    assert_eq!(
        stop(syn[..9].to_vec()),
        "truncated at L2 Data link: Ethernet header needs 14 bytes, 9 present"
    );
    let mut bad_ihl = syn.clone();
    bad_ihl[14] = 0x43;
    assert_eq!(
        stop(bad_ihl),
        "malformed at L3 Network: IPv4 header length (IHL) is 3, below the minimum of 5 (20 bytes)"
    );
    let mut version = syn.clone();
    version[14] = 0x75;
    assert_eq!(
        stop(version),
        "malformed at L3 Network: IP version is 7, only 4 and 6 exist"
    );
    let mut offset = syn.clone();
    offset[14 + 20 + 12] = 0x30;
    assert_eq!(
        stop(offset),
        "malformed at L4 Transport: TCP data offset is 3, below the minimum of 5 (20 bytes)"
    );
    let mut short_total = syn.clone();
    short_total[16..18].copy_from_slice(&10u16.to_be_bytes());
    assert_eq!(
        stop(short_total),
        "malformed at L3 Network: IPv4 total length is 10, shorter than the header itself"
    );
    let mut udp_long = example("udp-dns-query").data;
    udp_long[38..40].copy_from_slice(&100u16.to_be_bytes());
    assert_eq!(
        stop(udp_long),
        "malformed at L4 Transport: UDP length says 100 bytes, the IPv4 payload has 41"
    );
    let mut options_cut = syn.clone();
    options_cut.truncate(14 + 20 + 24);
    assert_eq!(
        stop(options_cut),
        "truncated at L4 Transport: TCP header needs 40 bytes, 24 present"
    );
    let mut ip_cut = syn.clone();
    ip_cut.truncate(14 + 12);
    assert_eq!(
        stop(ip_cut),
        "truncated at L3 Network: IPv4 header needs 20 bytes, 12 present"
    );
}

#[test]
fn a_later_fragment_is_network_data_not_application_data() {
    let d = dissect(&example("ipv4-fragment"));
    let data = d.layers.last().expect("layers");
    assert_eq!(
        (data.layer, data.protocol.as_ref()),
        (Layer::Network, "Fragment data")
    );
    assert!(
        data.summary
            .starts_with("bytes 1480..1520 of a fragmented UDP datagram, not application data"),
        "{}",
        data.summary
    );
    assert!(facts(&example("ipv4-fragment")).transport.is_none());
}

#[test]
fn first_fragments_show_their_ports() {
    // A UDP datagram's first fragment: MF set, offset 0.
    let mut data = example("udp-dns-query").data;
    data[20] |= 0x20;
    // Fix the header checksum the flag changed: not needed to read it.
    let frame = ethernet(data);
    let f = facts(&frame);
    assert!(f.protocols.has(Protocols::FRAGMENT));
    assert_eq!(f.ports(), Some((53000, 53)));
    assert_tiles(&frame, &dissect(&frame));
}

#[test]
fn icmp_errors_quote_the_packet_that_caused_them() {
    let quoted = &example("udp-dns-query").data[14..14 + 28];
    let builder = etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4([198, 51, 100, 53], [192, 0, 2, 10], 64)
        .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::Port,
        ));
    let mut data = Vec::new();
    builder.write(&mut data, quoted).unwrap();
    let frame = ethernet(data);
    let d = dissect(&frame);
    assert_tiles(&frame, &d);
    assert_eq!(field(&d, "ICMP", "Type"), "3 (destination unreachable)");
    assert_eq!(field(&d, "ICMP", "Code"), "3 (port unreachable)");
    assert_eq!(
        field(&d, "ICMP", "Original packet"),
        "UDP 192.0.2.10:53000 → 198.51.100.53:53"
    );
}

fn udp_frame(sport: u16, dport: u16, payload: &[u8]) -> Frame {
    let builder = etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4([198, 51, 100, 53], [192, 0, 2, 10], 64)
        .udp(sport, dport);
    let mut data = Vec::new();
    builder.write(&mut data, payload).unwrap();
    ethernet(data)
}

fn tcp_frame(sport: u16, dport: u16, payload: &[u8]) -> Frame {
    let builder = etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4([198, 51, 100, 20], [192, 0, 2, 10], 64)
        .tcp(sport, dport, 1, 1000)
        .ack(1);
    let mut data = Vec::new();
    builder.write(&mut data, payload).unwrap();
    ethernet(data)
}

fn dns_response() -> Vec<u8> {
    use simple_dns::rdata::{A, RData};
    use simple_dns::{CLASS, Name, Packet, PacketFlag, Question, ResourceRecord, TYPE};
    let mut reply = Packet::new_reply(0x1a2b);
    reply.set_flags(PacketFlag::RECURSION_DESIRED | PacketFlag::RECURSION_AVAILABLE);
    reply.questions.push(Question::new(
        Name::new_unchecked("www.example.com"),
        TYPE::A.into(),
        CLASS::IN.into(),
        false,
    ));
    reply.answers.push(ResourceRecord::new(
        Name::new_unchecked("www.example.com"),
        CLASS::IN,
        300,
        RData::A(A {
            address: u32::from_be_bytes([192, 0, 2, 80]),
        }),
    ));
    reply.build_bytes_vec_compressed().unwrap()
}

#[test]
fn dns_answers_over_udp_and_tcp() {
    let msg = dns_response();
    let frame = udp_frame(53, 53000, &msg);
    let d = dissect(&frame);
    assert_tiles(&frame, &d);
    assert_eq!(
        field(&d, "DNS", "Flags"),
        "0x8180 (response, no error, recursion desired, recursion available)"
    );
    assert_eq!(
        field(&d, "DNS", "Answer"),
        "www.example.com: A 192.0.2.80, TTL 300"
    );
    assert!(facts(&frame).protocols.has(Protocols::DNS));

    let mut stream = (msg.len() as u16).to_be_bytes().to_vec();
    stream.extend(&msg);
    let frame = tcp_frame(53, 53001, &stream);
    let d = dissect(&frame);
    assert_tiles(&frame, &d);
    assert_eq!(field(&d, "DNS", "Length"), format!("{} bytes", msg.len()));
    assert!(facts(&frame).protocols.has(Protocols::DNS));

    // Port 53 but not DNS: shown as payload, with a note, and not flagged.
    let frame = udp_frame(53, 53000, b"not dns at all");
    let d = dissect(&frame);
    assert_eq!(d.layers.last().unwrap().protocol, "Payload");
    assert!(d.layers.last().unwrap().summary.contains("DNS's port"));
    assert!(!facts(&frame).protocols.has(Protocols::DNS));
}

#[test]
fn application_guesses_are_conservative() {
    let tcp = |p: &[u8]| facts(&tcp_frame(80, 51000, p)).protocols;
    // A body segment in the middle of a response is not HTTP.
    assert!(!tcp(b"more of the body, no start line\r\n").has(Protocols::HTTP));
    assert!(!tcp(b"GET / is what I said\r\n").has(Protocols::HTTP));
    assert!(tcp(b"GET /x HTTP/1.0\r\n\r\n").has(Protocols::HTTP));
    assert!(tcp(b"HTTP/1.1 404 Not Found\r\n\r\n").has(Protocols::HTTP));
    // Text never looks like WebSocket (its bytes set the reserved bits).
    for text in [&b"hello\n"[..], b"{\"a\":1}", b"12345678"] {
        assert_eq!(tcp(text).0 & Protocols::WEBSOCKET, 0, "{text:?}");
    }
    // A server's unmasked text frame, and two frames in one segment.
    assert!(tcp(b"\x81\x02hi").has(Protocols::WEBSOCKET));
    assert!(tcp(b"\x81\x02hi\x89\x00").has(Protocols::WEBSOCKET));
    // One byte short of a whole frame, or a fragmented ping: not WebSocket.
    assert!(!tcp(b"\x81\x03hi").has(Protocols::WEBSOCKET));
    assert!(!tcp(b"\x09\x00").has(Protocols::WEBSOCKET));
    // A TLS record that is not a hello.
    assert!(!tcp(b"\x17\x03\x03\x00\x05hello").has(Protocols::TLS));
}

#[test]
fn websocket_frames_from_the_server_and_close() {
    let frame = tcp_frame(8080, 51002, b"\x81\x05hello\x88\x02\x03\xe8");
    let d = dissect(&frame);
    assert_tiles(&frame, &d);
    assert_eq!(
        protocols(&d)[3..],
        [(5, "WebSocket"), (6, "WebSocket text"), (5, "WebSocket")]
    );
    assert_eq!(field(&d, "WebSocket text", "Text"), "hello");
    let close = d.layers.last().unwrap();
    assert_eq!(close.fields.last().unwrap().value, "1000 (normal)");
}

#[test]
fn websocket_json_is_unmasked_and_read() {
    let d = dissect(&example("websocket-text"));
    assert_eq!(field(&d, "WebSocket", "Opcode"), "text");
    assert_eq!(field(&d, "WebSocket", "Masking key"), "37 fa 21 3d");
    assert_eq!(
        field(&d, "Chat event (JSON)", "Text"),
        r#"{"type":"say","room":"lobby","text":"hi"}"#
    );
    assert_eq!(field(&d, "Chat event (JSON)", "room"), "\"lobby\"");
    assert_eq!(d.layers.last().unwrap().summary, "say in lobby: \"hi\"");
}

#[test]
fn tls_client_hello_names_the_server() {
    let frame = example("tls-client-hello");
    let d = dissect(&frame);
    assert_eq!(field(&d, "TLS", "Server name (SNI)"), "www.example.com");
    let sni = d.layers[3]
        .fields
        .iter()
        .find(|f| f.name == "Server name (SNI)")
        .unwrap();
    assert_eq!(&frame.data[sni.range.clone()], b"www.example.com");
    assert_eq!(field(&d, "TLS", "Handshake type"), "1 (ClientHello)");
}

#[test]
fn http_fields_point_at_their_bytes() {
    let frame = example("tcp-data");
    let d = dissect(&frame);
    let http = d.layers.last().unwrap();
    for (name, bytes) in [
        ("Method", &b"GET"[..]),
        ("Path", b"/"),
        ("Version", b"HTTP/1.1"),
        ("Host", b"Host: www.example.com"),
    ] {
        let f = http.fields.iter().find(|f| f.name == name).unwrap();
        assert_eq!(&frame.data[f.range.clone()], bytes, "{name}");
    }
    let body = dissect(&example("http-response"));
    assert_eq!(field(&body, "HTTP", "Status"), "200 OK");
    assert_eq!(field(&body, "HTTP", "Body"), "Hello, world!");
}

#[test]
fn ipv6_extension_headers_are_layers_of_their_own() {
    // IPv6, hop-by-hop options (PadN), a fragment header (offset 0, more
    // follow), then UDP.
    let mut data = vec![
        0, 0, 0x5e, 0, 0x53, 0x14, 0, 0, 0x5e, 0, 0x53, 0x0a, 0x86, 0xdd,
    ];
    let udp = [
        0xc3, 0x50, 0x1b, 0x59, 0x00, 0x0c, 0, 0, b'h', b'e', b'y', b'!',
    ];
    let payload_len = 8 + 8 + udp.len();
    data.extend([0x60, 0, 0, 0]);
    data.extend((payload_len as u16).to_be_bytes());
    data.extend([0, 64]);
    data.extend([
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ]);
    data.extend([
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20,
    ]);
    data.extend([44, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop: next = fragment
    data.extend([17, 0, 0, 1, 0, 0, 0, 7]); // fragment: next = UDP, M set
    data.extend(udp);
    let frame = ethernet(data);
    let d = dissect(&frame);
    assert_tiles(&frame, &d);
    assert_eq!(
        protocols(&d),
        vec![
            (2, "Ethernet II"),
            (3, "IPv6"),
            (3, "IPv6 Hop-by-Hop Options"),
            (3, "IPv6 Fragment"),
            (4, "UDP"),
            (7, "Payload"),
        ]
    );
    assert_eq!(
        field(&d, "IPv6 Hop-by-Hop Options", "Option: PadN"),
        "type 1, 6 bytes"
    );
    assert_eq!(field(&d, "IPv6 Fragment", "More fragments"), "yes");
    let f = facts(&frame);
    assert!(f.protocols.has(Protocols::FRAGMENT));
    assert_eq!((f.ip_protocol, f.ports()), (Some(17), Some((50000, 7001))));
}

#[test]
fn ipv4_options_and_trailers() {
    // IHL 6: a router-alert option; and 6 bytes of Ethernet padding.
    let mut data = example("icmp-echo").data[..14].to_vec();
    let mut ip = vec![
        0x46, 0, 0, 32, 0, 0, 0, 0, 1, 2, 0, 0, 192, 0, 2, 10, 224, 0, 0, 22,
    ];
    ip.extend([148, 4, 0, 0]);
    ip.extend([0x16, 0, 0, 0, 224, 0, 0, 22]); // IGMPv2 report
    let sum = internet_checksum(&[&ip[..24]]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    data.extend(ip);
    data.extend([0; 6]);
    let frame = ethernet(data);
    let d = dissect(&frame);
    assert_tiles(&frame, &d);
    assert_eq!(
        field(&d, "IPv4", "Option: Router alert"),
        "kind 148, 4 bytes: 00 00"
    );
    assert!(field(&d, "IPv4", "Header checksum").ends_with("(correct)"));
    assert_eq!(
        protocols(&d),
        vec![
            (2, "Ethernet II"),
            (3, "IPv4"),
            (3, "IGMP"),
            (2, "Ethernet trailer")
        ]
    );
}

#[test]
fn other_link_types() {
    // Null with the family in big-endian order, as a big-endian host writes it.
    let mut null = example("null-loopback");
    null.data[..4].copy_from_slice(&2u32.to_be_bytes());
    assert_eq!(facts(&null).ports(), Some((53001, 7001)));
    // Raw IP: the frame starts with the IP header.
    let raw = Frame {
        link: LinkType::RawIp,
        data: example("tcp-syn").data[14..].to_vec(),
        ..example("tcp-syn")
    };
    let d = dissect(&raw);
    assert_eq!(protocols(&d), vec![(3, "IPv4"), (4, "TCP")]);
    // A link type netdojo does not read is shown whole, not an error.
    let other = Frame {
        link: LinkType::Other(147),
        ..example("tcp-syn")
    };
    let d = dissect(&other);
    assert_tiles(&other, &d);
    assert!(d.stop.is_none());
    assert_eq!(protocols(&d), vec![(2, "Unknown link type")]);
    // SLL with a protocol that is not an EtherType.
    let mut sll = example("sll");
    sll.data[14..16].copy_from_slice(&4u16.to_be_bytes());
    let d = dissect(&sll);
    assert_tiles(&sll, &d);
    assert_eq!(
        protocols(&d),
        vec![(2, "Linux cooked capture"), (7, "Data")]
    );
    // The same packet in a cooked v2 header, as `tcpdump -i any` writes
    // today: protocol, reserved, interface index, ARPHRD, packet type,
    // address length, address.
    let v1 = example("sll");
    let mut v2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 1, 0x03, 0x04, 4, 6];
    v2.extend([0u8; 8]);
    v2.extend(&v1.data[16..]);
    let sll2 = Frame {
        link: LinkType::Other(276),
        original_len: v2.len(),
        data: v2,
        ..v1
    };
    let d = dissect(&sll2);
    assert_tiles(&sll2, &d);
    assert_eq!(
        protocols(&d),
        vec![
            (2, "Linux cooked capture v2"),
            (3, "IPv4"),
            (4, "TCP"),
            (7, "Payload")
        ]
    );
    assert_eq!(field(&d, "Linux cooked capture v2", "Interface index"), "1");
    let f = facts(&sll2);
    assert!(f.protocols.has(Protocols::SLL));
    assert_eq!(f.ports(), Some((51006, 7000)));
    let short = Frame {
        data: vec![0; 10],
        original_len: 10,
        ..example("sll")
    };
    assert_eq!(
        dissect(&short).stop.unwrap().to_string(),
        "truncated at L2 Data link: Linux cooked capture header needs 16 bytes, 10 present"
    );
}

#[test]
fn a_cut_ipv6_extension_header_is_not_read_past_the_end() {
    // IPv6 (as raw IP) whose hop-by-hop header names a routing header that
    // the frame does not hold: etherparse's own extension iterator would
    // read past the end here (found by the property test).
    let mut data = vec![0x60, 0, 0, 0, 0, 16, 0, 64];
    data.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    data.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    data.extend([43, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop: next = routing
    data.extend([17, 5, 0, 0, 0, 0, 0, 0]); // routing header claims 48 bytes, has 8
    let frame = Frame {
        number: 1,
        timestamp: None,
        link: LinkType::RawIp,
        original_len: data.len(),
        data,
        comments: Vec::new(),
    };
    let d = dissect(&frame);
    assert_tiles(&frame, &d);
    assert_eq!(
        d.stop.unwrap().to_string(),
        "malformed at L3 Network: IPv6 extension header needs 48 bytes, the IPv6 payload length leaves 8"
    );
    assert_eq!(facts(&frame).stopped_at, Some(Layer::Network));
}

#[test]
fn plain_frames_take_the_fast_path_and_odd_ones_do_not() {
    for name in [
        "tcp-syn",
        "tcp-syn-ack",
        "tcp-data",
        "http-response",
        "tcp-fin",
        "udp-dns-query",
        "ipv6-udp",
        "websocket-text",
        "tls-client-hello",
    ] {
        let frame = example(name);
        let fast = fast::plain_facts(&frame).unwrap_or_else(|| panic!("{name}: not fast"));
        assert_eq!(fast, sliced_facts(&frame), "{name}");
    }
    for name in [
        "icmp-echo",
        "arp-request",
        "vlan-tagged",
        "ipv4-fragment",
        "truncated",
        "sll",
        "null-loopback",
    ] {
        assert!(
            fast::plain_facts(&example(name)).is_none(),
            "{name} is not plain"
        );
    }
    // Padding after the IP packet (the Ethernet trailer) is still plain.
    let mut padded = example("tcp-syn");
    padded.data.extend([0; 6]);
    padded.original_len += 6;
    assert_eq!(fast::plain_facts(&padded), Some(sliced_facts(&padded)));
    // A length that disagrees, and a snap-length cut, are not.
    let mut udp = example("udp-dns-query");
    udp.data[38..40].copy_from_slice(&100u16.to_be_bytes());
    assert!(fast::plain_facts(&udp).is_none());
    let mut cut = example("tcp-data");
    cut.data.truncate(80);
    assert!(fast::plain_facts(&cut).is_none());
}

/// Frames the benchmark writes (bench/inspect/gen_pcap.rs): plain TCP,
/// UDP and DNS-port traffic over IPv4 and IPv6, with payloads of every
/// size, each checked against the general path.
#[test]
fn the_fast_path_agrees_on_generated_traffic() {
    use etherparse::PacketBuilder;
    let payload = vec![b'x'; 1400];
    let mut fast_taken = 0;
    for i in 0u32..4000 {
        let (src, dst) = (0x0a00_0001u32.wrapping_mul(i + 1), 0xc633_6400u32 ^ i);
        let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let len = (i as usize * 37) % 1400;
        let (sport, dport) = (
            (i * 7919 % 65535) as u16 + 1,
            [80, 443, 53, 8080][i as usize % 4],
        );
        let mut buf = Vec::new();
        match i % 5 {
            0 | 1 => eth
                .ipv4(src.to_be_bytes(), dst.to_be_bytes(), (i % 255) as u8)
                .tcp(sport, dport, i.wrapping_mul(2_654_435_761), 64240)
                .ack(i)
                .write(&mut buf, &payload[..len]),
            2 => eth
                .ipv4(src.to_be_bytes(), dst.to_be_bytes(), 64)
                .udp(sport, dport)
                .write(&mut buf, &payload[..len.min(512)]),
            3 => eth
                .ipv6([0xfd; 16], [0xfe; 16], 64)
                .tcp(sport, dport, i, 1000)
                .syn()
                .write(&mut buf, &payload[..len.min(1200)]),
            _ => eth
                .ipv6([0xfd; 16], [0xfe; 16], 9)
                .udp(sport, 53)
                .write(&mut buf, &payload[..len.min(512)]),
        }
        .unwrap();
        let frame = ethernet(buf);
        if let Some(fast) = fast::plain_facts(&frame) {
            fast_taken += 1;
            assert_eq!(fast, sliced_facts(&frame), "frame {i}");
        }
    }
    assert_eq!(fast_taken, 4000);
}

#[test]
fn internet_checksum_spans_pieces_of_odd_length() {
    let whole = [0x45u8, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11];
    let one = internet_checksum(&[&whole]);
    assert_eq!(
        internet_checksum(&[&whole[..3], &whole[3..7], &whole[7..]]),
        one
    );
    assert_eq!(internet_checksum(&[&whole[..1], &[], &whole[1..]]), one);
}

/// A frame of any link type, from random bytes.
fn any_link() -> impl Strategy<Value = LinkType> {
    prop_oneof![
        Just(LinkType::Ethernet),
        Just(LinkType::RawIp),
        Just(LinkType::Null),
        Just(LinkType::Other(link::LINKTYPE_LOOP)),
        Just(LinkType::LinuxSll),
        Just(LinkType::Other(link::LINKTYPE_LINUX_SLL2)),
        Just(LinkType::Other(147)),
    ]
}

/// The link headers an IP packet can arrive under besides Ethernet: what
/// `tcpdump -i any` (SLL2), BSD (null, in either host order) and OpenBSD
/// (loop) captures hold.
#[derive(Clone, Copy, Debug)]
enum Wrap {
    Sll2,
    NullLittleEndian,
    NullBigEndian,
    Loop,
}

fn any_wrap() -> impl Strategy<Value = Wrap> {
    prop_oneof![
        Just(Wrap::Sll2),
        Just(Wrap::NullLittleEndian),
        Just(Wrap::NullBigEndian),
        Just(Wrap::Loop),
    ]
}

/// The IP packet of an Ethernet example (no VLAN tag), put under another
/// link header; `None` for an example that is not IP over plain Ethernet.
fn rewrap(frame: &Frame, wrap: Wrap) -> Option<Frame> {
    if frame.link != LinkType::Ethernet {
        return None;
    }
    let ether_type = be16(&frame.data, 12)?;
    let v6 = match ether_type {
        0x0800 => false,
        0x86dd => true,
        _ => return None,
    };
    let packet = frame.data.get(14..)?;
    // BSD's AF_INET is 2 everywhere; AF_INET6 is 24 on OpenBSD/NetBSD, 28
    // on FreeBSD, 30 on macOS: each system writes its own.
    let family: u32 = if v6 { 24 } else { 2 };
    let (link, mut data) = match wrap {
        Wrap::Sll2 => {
            let mut h = ether_type.to_be_bytes().to_vec();
            h.extend([0, 0]); // reserved
            h.extend(2u32.to_be_bytes()); // interface index
            h.extend(1u16.to_be_bytes()); // ARPHRD_ETHER
            h.extend([4, 6]); // sent by us; a 6-byte address
            h.extend([0x02, 0, 0, 0, 0, 0x0a, 0, 0]);
            (LinkType::Other(link::LINKTYPE_LINUX_SLL2), h)
        }
        Wrap::NullLittleEndian => (LinkType::Null, family.to_le_bytes().to_vec()),
        Wrap::NullBigEndian => (LinkType::Null, family.to_be_bytes().to_vec()),
        Wrap::Loop => (
            LinkType::Other(link::LINKTYPE_LOOP),
            family.to_be_bytes().to_vec(),
        ),
    };
    let header = data.len();
    data.extend_from_slice(packet);
    Some(Frame {
        link,
        original_len: frame.original_len - 14 + header,
        data,
        ..frame.clone()
    })
}

#[test]
fn an_ip_packet_reads_the_same_under_every_link_header() {
    let mut rewrapped = 0;
    for e in examples::all() {
        let original = (e.build)();
        for wrap in [
            Wrap::Sll2,
            Wrap::NullLittleEndian,
            Wrap::NullBigEndian,
            Wrap::Loop,
        ] {
            let Some(frame) = rewrap(&original, wrap) else {
                continue;
            };
            rewrapped += 1;
            let (a, b) = (facts(&original), facts(&frame));
            assert_eq!(
                (
                    b.src_ip,
                    b.dst_ip,
                    b.ttl,
                    b.ip_protocol,
                    b.transport,
                    b.stopped_at
                ),
                (
                    a.src_ip,
                    a.dst_ip,
                    a.ttl,
                    a.ip_protocol,
                    a.transport.map(|t| shift(
                        t,
                        frame.data.len() as isize - original.data.len() as isize
                    )),
                    a.stopped_at
                ),
                "{} under {wrap:?}",
                e.name
            );
            let d = dissect(&frame);
            assert_tiles(&frame, &d);
            let above_link = |d: &Dissection| -> Vec<String> {
                d.layers
                    .iter()
                    .skip(1)
                    .filter(|l| l.protocol != "Ethernet trailer")
                    .map(|l| format!("{} {}", l.protocol, l.summary))
                    .collect()
            };
            assert_eq!(
                above_link(&d),
                above_link(&dissect(&original)),
                "{} under {wrap:?}",
                e.name
            );
        }
    }
    assert!(rewrapped >= 40, "only {rewrapped} frames rewrapped");
}

/// Transport facts with their payload range moved by `by` bytes (another
/// link header is longer or shorter than Ethernet's 14).
fn shift(t: TransportFacts, by: isize) -> TransportFacts {
    let moved = |(s, e): (usize, usize)| (s.saturating_add_signed(by), e.saturating_add_signed(by));
    match t {
        TransportFacts::Tcp {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            payload,
        } => TransportFacts::Tcp {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            payload: moved(payload),
        },
        TransportFacts::Udp {
            src_port,
            dst_port,
            length,
            payload,
        } => TransportFacts::Udp {
            src_port,
            dst_port,
            length,
            payload: moved(payload),
        },
        icmp => icmp,
    }
}

fn check(frame: &Frame) {
    // The hand-read fast path, where it takes a frame, says exactly what
    // the general path says.
    if let Some(fast) = fast::plain_facts(frame) {
        assert_eq!(
            fast,
            sliced_facts(frame),
            "fast path differs on {:02x?}",
            frame.data
        );
    }
    let f = facts(frame);
    let d = dissect(frame);
    assert_tiles(frame, &d);
    assert_eq!(f.stopped_at, d.stop.as_ref().map(|s| s.layer));
    assert_eq!(
        f.stop_malformed,
        d.stop.as_ref().is_some_and(|s| s.malformed)
    );
    if let Some(TransportFacts::Tcp { payload, .. } | TransportFacts::Udp { payload, .. }) =
        f.transport
    {
        assert!(payload.0 <= payload.1 && payload.1 <= frame.data.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200), link in any_link()) {
        check(&Frame { number: 1, timestamp: None, link, original_len: data.len() + 3, data, comments: Vec::new() });
    }

    #[test]
    fn mutated_examples_never_panic(
        which in 0usize..64,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in proptest::option::of(any::<usize>()),
        extra in proptest::collection::vec(any::<u8>(), 0..40),
        link in proptest::option::of(any_link()),
    ) {
        let all = examples::all();
        let mut frame = (all[which % all.len()].build)();
        for (at, value) in flips {
            let len = frame.data.len();
            if len > 0 {
                frame.data[at % len] = value;
            }
        }
        if let Some(cut) = cut {
            frame.data.truncate(cut % (frame.data.len() + 1));
        }
        frame.data.extend(extra);
        if let Some(link) = link {
            frame.link = link;
        }
        check(&frame);
    }

    /// Valid IP packets under cooked v2, null and loop headers, then
    /// damaged: the link headers other than Ethernet get the same beating.
    #[test]
    fn mutated_frames_under_other_link_headers_never_panic(
        which in 0usize..64,
        wrap in any_wrap(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in proptest::option::of(any::<usize>()),
        extra in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let all = examples::all();
        let ip: Vec<Frame> = all
            .iter()
            .filter_map(|e| rewrap(&(e.build)(), wrap))
            .collect();
        let mut frame = ip[which % ip.len()].clone();
        check(&frame);
        for (at, value) in flips {
            let len = frame.data.len();
            if len > 0 {
                frame.data[at % len] = value;
            }
        }
        if let Some(cut) = cut {
            frame.data.truncate(cut % (frame.data.len() + 1));
        }
        frame.data.extend(extra);
        check(&frame);
    }
}

/// `facts()` throughput over a mix of the examples, for the README's
/// figures: `cargo test --release --lib facts_throughput -- --ignored --nocapture`.
/// It prints; it asserts nothing about time (the machine is shared).
#[test]
#[ignore]
fn facts_throughput() {
    use std::time::Instant;
    const ROUNDS: usize = 200_000;
    let frames: Vec<Frame> = examples::all().iter().map(|e| (e.build)()).collect();
    let mut sink = 0usize;
    for name in ["facts", "dissect"] {
        let rounds = if name == "facts" { ROUNDS } else { ROUNDS / 50 };
        let start = Instant::now();
        for _ in 0..rounds {
            for frame in &frames {
                if name == "facts" {
                    let f = facts(std::hint::black_box(frame));
                    sink = sink.wrapping_add(f.protocols.0 as usize);
                } else {
                    sink = sink.wrapping_add(dissect(std::hint::black_box(frame)).layers.len());
                }
            }
        }
        let n = rounds * frames.len();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{name}(): {n} frames in {secs:.3} s: {:.2} M frames/s ({:.0} ns/frame)",
            n as f64 / secs / 1e6,
            secs * 1e9 / n as f64
        );
    }
    assert!(sink > 0);
}

/// `facts()` per example, to see which paths cost what.
#[test]
#[ignore]
fn facts_per_example() {
    use std::time::Instant;
    for e in examples::all() {
        let frame = (e.build)();
        let start = Instant::now();
        let mut sink = 0u32;
        for _ in 0..200_000 {
            sink = sink.wrapping_add(facts(std::hint::black_box(&frame)).protocols.0);
        }
        let ns = start.elapsed().as_secs_f64() * 1e9 / 200_000.0;
        let start = Instant::now();
        for _ in 0..200_000 {
            let p = etherparse::LaxSlicedPacket::from_ethernet(std::hint::black_box(&frame.data));
            sink = sink.wrapping_add(p.map(|p| p.transport.is_some() as u32).unwrap_or(0));
        }
        let raw = start.elapsed().as_secs_f64() * 1e9 / 200_000.0;
        println!(
            "{:<18} {ns:>6.0} ns (etherparse alone {raw:>4.0} ns) {sink}",
            e.name
        );
    }
}
