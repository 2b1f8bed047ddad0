//! netdojo's dissection against tshark's, frame by frame.
//!
//! Pcaps are written here from every built-in example and from frames scapy
//! makes (VLAN and QinQ, IPv6 extension headers, TCP options, DNS over UDP
//! and TCP, ARP, fragments, ICMP errors, malformed frames), then read twice
//! by netdojo — by the binary, `netdojo --json inspect FILE`, whose JSON
//! fields are what a user sees, and by the library's `facts()` and
//! `dissect()` — and once by `tshark -T fields`. Both of netdojo's readings
//! must agree with tshark's on the frame count, EtherType, VLAN id, IP
//! addresses, TTL and protocol, IPv6 addresses, TCP ports, flags, absolute
//! sequence and acknowledgment numbers, UDP ports and length, ARP opcode,
//! DNS query name, and malformed-or-not.
//!
//! The pcapng comments `netdojo compare --pcap` writes (what its simulated
//! link did to each frame) are compared with tshark's `frame.comment`.
//!
//! tshark runs with reassembly off (`ip.defragment`, `ipv6.defragment`), so
//! each fragment is compared as it is, and takes each field's first
//! occurrence (`-E occurrence=f`), the outer header's.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use common::{json_lines, netdojo, peer};
use netdojo::inspect::dissect::{dissect, facts};
use netdojo::inspect::examples;
use netdojo::inspect::model::{Dissection, Facts, Frame, LinkType, Protocols, TransportFacts};
use netdojo::inspect::source::PcapWriter;
use netdojo::inspect::source::pcap::open_path;

/// The fields compared, as tshark names them.
const FIELDS: &[&str] = &[
    "frame.number",
    "eth.type",
    "vlan.id",
    "vlan.etype",
    "ieee8021ad.id",
    "sll.etype",
    "ip.src",
    "ip.dst",
    "ip.ttl",
    "ip.proto",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.hlim",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "udp.srcport",
    "udp.dstport",
    "udp.length",
    "arp.opcode",
    "dns.qry.name",
    "_ws.malformed",
];

/// Frames for the comparison, made by scapy. Documentation addresses only;
/// fixed times, so the file is the same on every run.
const SCAPY_FRAMES: &str = r#"
import sys
from scapy.all import (Ether, Dot1Q, Dot1AD, IP, IPv6, TCP, UDP, ICMP, ARP, DNS, DNSQR,
                       DNSRR, Raw, IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrRouting, IPv6ExtHdrFragment, ICMPv6ND_NS, RouterAlert,
                       fragment, wrpcap)

A, B = "00:00:5e:00:53:01", "00:00:5e:00:53:02"
e = Ether(src=A, dst=B)
ip = IP(src="192.0.2.1", dst="198.51.100.2", ttl=57)
ip6 = IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=33)
syn_opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (12345, 0)), ("NOP", None), ("WScale", 7)]
def tcp_dns(d):
    d = bytes(d)
    return len(d).to_bytes(2, "big") + d
frames = [
    e / Dot1Q(vlan=42, prio=5) / ip / TCP(sport=40000, dport=443, flags="S", seq=123456789, options=syn_opts),
    e / Dot1AD(vlan=10) / Dot1Q(vlan=20) / ip / UDP(sport=40001, dport=7001) / b"qinq",
    e / ip6 / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / IPv6ExtHdrDestOpt()
      / IPv6ExtHdrRouting(addresses=["2001:db8::9"]) / UDP(sport=40002, dport=7001) / b"ext headers",
    e / ip / TCP(sport=40003, dport=80, flags="A", seq=1000, ack=4242,
                 options=[("NOP", None), ("NOP", None), ("SAck", (5000, 6000, 7000, 8000))]),
    e / ip / TCP(sport=40004, dport=80, flags="FPAU", seq=7, ack=9, urgptr=1)
      / b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    e / ip / TCP(sport=80, dport=40004, flags="RA", seq=4294967295, ack=0),
    e / ip / TCP(sport=40015, dport=80, flags="SEC", seq=1),
    e / ip / UDP(sport=40005, dport=53) / DNS(id=0x1234, rd=1, qd=DNSQR(qname="netdojo.example.org", qtype="AAAA")),
    e / IP(src="198.51.100.53", dst="192.0.2.1") / UDP(sport=53, dport=40005)
      / DNS(id=0x1234, qr=1, rd=1, ra=1, qd=DNSQR(qname="www.example.com"),
            an=DNSRR(rrname="www.example.com", rdata="192.0.2.80", ttl=300)),
    e / ip / TCP(sport=40006, dport=53, flags="PA", seq=1, ack=1)
      / tcp_dns(DNS(id=7, rd=1, qd=DNSQR(qname="tcp.example.net"))),
    Ether(src=A, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=A, psrc="192.0.2.1", pdst="192.0.2.254"),
    Ether(src=B, dst=A) / ARP(op=2, hwsrc=B, psrc="192.0.2.254", hwdst=A, pdst="192.0.2.1"),
    e / ip / ICMP(type=0, id=77, seq=3) / b"pingdata",
    e / IP(src="198.51.100.2", dst="192.0.2.1") / ICMP(type=3, code=3)
      / IP(src="192.0.2.1", dst="198.51.100.2") / UDP(sport=40007, dport=9),
    e / ip6 / ICMPv6ND_NS(tgt="2001:db8::2"),
    e / ip6 / IPv6ExtHdrFragment(m=1, offset=0, id=5) / UDP(sport=40008, dport=7001) / (b"q" * 20),
]
frames += [e / f for f in fragment(IP(src="192.0.2.1", dst="198.51.100.2", id=99)
                                   / UDP(sport=40009, dport=7001) / (b"x" * 2000), fragsize=1480)]
# Malformed and odd frames.
cut = bytes(e / ip / TCP(sport=40010, dport=80, flags="S"))
frames.append(Ether(cut[:14 + 20 + 7]))                                 # TCP header cut short
frames.append(e / ip / UDP(sport=40011, dport=7001, len=100) / b"abc")  # UDP length overruns
frames.append(e / IP(src="192.0.2.1", dst="198.51.100.2", ihl=3) / UDP(sport=1, dport=2) / b"abc")
frames.append(e / IP(src="192.0.2.1", dst="198.51.100.2", len=200) / UDP(sport=40012, dport=7001) / b"abc")
frames.append(e / ip / TCP(sport=40013, dport=80, dataofs=3))          # data offset below 5
opts = bytes(e / ip / TCP(sport=40014, dport=80, flags="S", options=syn_opts))
frames.append(Ether(opts[:14 + 20 + 24]))                               # TCP options cut short
frames.append(Ether(src=A, dst=B, type=0x88b5) / Raw(b"local experimental"))
for i, f in enumerate(frames):
    f.time = 1700000000 + i
wrpcap(sys.argv[1], frames)
"#;

/// A fresh directory for this test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netdojo-tshark-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn write_pcap(path: &Path, frames: &[Frame]) {
    let mut w = PcapWriter::create(path).expect("create pcap");
    for f in frames {
        w.write_frame(f).expect("write frame");
    }
    w.finish().expect("finish pcap");
}

fn read_frames(path: &Path) -> Vec<Frame> {
    let mut source = open_path(path).expect("open pcap");
    let mut frames = Vec::new();
    while let Some(frame) = source.next_frame() {
        frames.push(frame.expect("read frame"));
    }
    frames
}

/// tshark's fields for each frame, by name.
fn tshark_rows(tshark: &Path, pcap: &Path) -> Vec<HashMap<&'static str, String>> {
    let mut cmd = Command::new(tshark);
    cmd.arg("-r")
        .arg(pcap)
        .args(["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"])
        .args(["-E", "occurrence=f", "-T", "fields"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            FIELDS
                .iter()
                .copied()
                .zip(
                    line.split('\t')
                        .map(str::to_string)
                        .chain(std::iter::repeat(String::new())),
                )
                .collect()
        })
        .collect()
}

/// tshark prints numbers as decimal or `0x...` hex.
fn number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// What netdojo says, in tshark's terms. Where the two tools differ by
/// design, the field is left out (`None`) and the reason given.
fn ours(frame: &Frame, f: &Facts, d: &Dissection) -> HashMap<&'static str, Option<String>> {
    let mut m: HashMap<&'static str, Option<String>> = HashMap::new();
    let mut put = |k: &'static str, v: String| {
        m.insert(k, Some(v));
    };
    put("frame.number", frame.number.to_string());

    if frame.link == LinkType::Ethernet {
        match (f.vlan_id, f.ether_type) {
            // Under a tag, eth.type is the tag's type; the payload's type
            // is the (first) 802.1Q tag's vlan.etype.
            (Some(_), inner) => {
                put("vlan.etype", opt(inner.map(|t| format!("0x{t:04x}"))));
            }
            (None, t) => put("eth.type", opt(t.map(|t| format!("0x{t:04x}")))),
        }
    }
    if frame.link == LinkType::LinuxSll {
        put("sll.etype", opt(f.ether_type.map(|t| format!("0x{t:04x}"))));
    }
    let v4 = f.protocols.has(Protocols::IPV4);
    let v6 = f.protocols.has(Protocols::IPV6);
    put("ip.src", if v4 { opt(f.src_ip) } else { String::new() });
    put("ip.dst", if v4 { opt(f.dst_ip) } else { String::new() });
    put("ip.ttl", if v4 { opt(f.ttl) } else { String::new() });
    put(
        "ip.proto",
        if v4 {
            opt(f.ip_protocol)
        } else {
            String::new()
        },
    );
    put("ipv6.src", if v6 { opt(f.src_ip) } else { String::new() });
    put("ipv6.dst", if v6 { opt(f.dst_ip) } else { String::new() });
    put("ipv6.hlim", if v6 { opt(f.ttl) } else { String::new() });

    // tshark reads the ports of a TCP header netdojo refuses (a data
    // offset below 5, options cut short), and the ports of the packet an
    // ICMP error quotes: there, leave transport out.
    let tcp_unreadable = f.transport.is_none()
        && d.stop
            .as_ref()
            .is_some_and(|s| s.layer == netdojo::layer::Layer::Transport);
    let icmp = matches!(f.transport, Some(TransportFacts::Icmp { .. }));
    if !tcp_unreadable && !icmp {
        let (mut tcp, mut udp) = (Vec::new(), Vec::new());
        match f.transport {
            Some(TransportFacts::Tcp {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                ..
            }) => {
                tcp = vec![
                    src_port.to_string(),
                    dst_port.to_string(),
                    format!("0x{:04x}", flags.0),
                    seq.to_string(),
                    ack.to_string(),
                ]
            }
            Some(TransportFacts::Udp {
                src_port,
                dst_port,
                length,
                ..
            }) => {
                udp = vec![
                    src_port.to_string(),
                    dst_port.to_string(),
                    length.to_string(),
                ]
            }
            _ => {}
        }
        for (i, k) in [
            "tcp.srcport",
            "tcp.dstport",
            "tcp.flags",
            "tcp.seq_raw",
            "tcp.ack_raw",
        ]
        .into_iter()
        .enumerate()
        {
            put(k, tcp.get(i).cloned().unwrap_or_default());
        }
        for (i, k) in ["udp.srcport", "udp.dstport", "udp.length"]
            .into_iter()
            .enumerate()
        {
            put(k, udp.get(i).cloned().unwrap_or_default());
        }
    }
    put("arp.opcode", opt(f.arp_op));
    let qname = d
        .layers
        .iter()
        .find(|l| l.protocol == "DNS")
        .and_then(|l| l.fields.iter().find(|f| f.name == "Question"))
        .and_then(|q| q.value.split(": type ").next())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        qname.is_empty(),
        !f.protocols.has(Protocols::DNS),
        "frame {}: facts and dissection disagree about DNS",
        frame.number
    );
    put("dns.qry.name", qname);
    put(
        "_ws.malformed",
        if malformed(d) { "yes" } else { "" }.to_string(),
    );
    m
}

/// What tshark calls Malformed: a header (or a length field) that claims
/// more bytes than the packet has. A frame the capture's snap length cut
/// is not malformed, nor is a wrong value that does not overrun (tshark
/// calls those "bogus" and reads on).
fn malformed(d: &Dissection) -> bool {
    d.stop.as_ref().is_some_and(|s| {
        !s.snap_length
            && (s.reason.contains(" header needs ") || s.reason.starts_with("UDP length says"))
    })
}

/// One frame as netdojo read it, in tshark's terms.
struct Ours {
    number: u64,
    /// tshark field → value; `None` where the two differ by design.
    fields: HashMap<&'static str, Option<String>>,
    /// The outer VLAN tag's id.
    vlan_id: Option<u16>,
    /// Where dissection stopped, for the message.
    stop: Option<String>,
}

/// netdojo's library on a pcap: the reader, `facts()` and `dissect()`.
fn from_library(pcap: &Path) -> Vec<Ours> {
    read_frames(pcap)
        .iter()
        .map(|frame| {
            let f = facts(frame);
            let d = dissect(frame);
            Ours {
                number: frame.number,
                fields: ours(frame, &f, &d),
                vlan_id: f.vlan_id,
                stop: d.stop.as_ref().map(|s| s.to_string()),
            }
        })
        .collect()
}

/// netdojo's binary on a pcap: `netdojo --json inspect FILE`, read back
/// from the fields a user sees.
fn from_binary(pcap: &Path) -> Vec<Ours> {
    let out = netdojo()
        .args(["--json", "inspect"])
        .arg(pcap)
        .output()
        .expect("run netdojo");
    assert!(
        out.status.success(),
        "netdojo inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&out.stdout).iter().map(ours_from_json).collect()
}

/// The first layer of this protocol in a frame's JSON.
fn layer<'a>(frame: &'a Value, protocol: &str) -> Option<&'a Value> {
    frame["layers"]
        .as_array()?
        .iter()
        .find(|l| l["protocol"] == protocol)
}

/// A field's value, up to the first space: `80 (http)` is `80`, `27 bytes`
/// is `27`, `0x0800 (IPv4)` is `0x0800`.
fn value(layer: Option<&Value>, name: &str) -> String {
    full_value(layer, name)
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn full_value(layer: Option<&Value>, name: &str) -> String {
    layer
        .and_then(|l| l["fields"].as_array())
        .and_then(|fields| fields.iter().find(|f| f["name"] == name))
        .and_then(|f| f["value"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// TCP's flags byte from their names (`SYN, ACK`), as tshark prints it.
fn flag_bits(names: &str) -> String {
    const BITS: [(&str, u8); 8] = [
        ("FIN", 0x01),
        ("SYN", 0x02),
        ("RST", 0x04),
        ("PSH", 0x08),
        ("ACK", 0x10),
        ("URG", 0x20),
        ("ECE", 0x40),
        ("CWR", 0x80),
    ];
    let bits = names
        .split(", ")
        .filter_map(|n| BITS.iter().find(|(name, _)| *name == n).map(|(_, b)| *b))
        .fold(0u8, |a, b| a | b);
    format!("0x{bits:04x}")
}

/// What `netdojo --json inspect` says, in tshark's terms: the same
/// choices as [`ours`], made from the JSON alone.
fn ours_from_json(frame: &Value) -> Ours {
    let mut m: HashMap<&'static str, Option<String>> = HashMap::new();
    let mut put = |k: &'static str, v: String| {
        m.insert(k, Some(v));
    };
    let number = frame["frame"].as_u64().expect("frame number");
    put("frame.number", number.to_string());
    let tags: Vec<&Value> = frame["layers"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .filter(|l| l["protocol"] == "802.1Q VLAN")
                .collect()
        })
        .unwrap_or_default();
    if frame["link"] == "ethernet" {
        match tags.last() {
            // The payload's type is in the innermost tag.
            Some(inner) => put("vlan.etype", value(Some(inner), "Type")),
            None => put("eth.type", value(layer(frame, "Ethernet II"), "Type")),
        }
    }
    if frame["link"] == "linux_sll" {
        put(
            "sll.etype",
            value(layer(frame, "Linux cooked capture"), "Protocol"),
        );
    }
    let v4 = layer(frame, "IPv4");
    let v6 = layer(frame, "IPv6");
    put("ip.src", value(v4, "Source"));
    put("ip.dst", value(v4, "Destination"));
    put("ip.ttl", value(v4, "TTL"));
    put("ip.proto", value(v4, "Protocol"));
    put("ipv6.src", value(v6, "Source"));
    put("ipv6.dst", value(v6, "Destination"));
    put("ipv6.hlim", value(v6, "Hop limit"));

    let (tcp, udp) = (layer(frame, "TCP"), layer(frame, "UDP"));
    let icmp = layer(frame, "ICMP").or_else(|| layer(frame, "ICMPv6"));
    let stopped_at_transport = frame["stop"]["layer"] == 4;
    // As in `ours`: leave transport out where tshark reads a header netdojo
    // refuses, and for ICMP, whose quoted packet tshark also reads.
    let tcp_unreadable = tcp.is_none() && udp.is_none() && icmp.is_none() && stopped_at_transport;
    if !tcp_unreadable && icmp.is_none() {
        put("tcp.srcport", value(tcp, "Source port"));
        put("tcp.dstport", value(tcp, "Destination port"));
        put(
            "tcp.flags",
            tcp.map(|_| flag_bits(&full_value(tcp, "Flags")))
                .unwrap_or_default(),
        );
        put("tcp.seq_raw", value(tcp, "Sequence number"));
        put("tcp.ack_raw", value(tcp, "Acknowledgment number"));
        put("udp.srcport", value(udp, "Source port"));
        put("udp.dstport", value(udp, "Destination port"));
        put("udp.length", value(udp, "Length"));
    }
    put("arp.opcode", value(layer(frame, "ARP"), "Operation"));
    put(
        "dns.qry.name",
        full_value(layer(frame, "DNS"), "Question")
            .split(": type ")
            .next()
            .unwrap_or_default()
            .to_string(),
    );
    let stop = &frame["stop"];
    let reason = stop["reason"].as_str().unwrap_or_default();
    let malformed = !stop.is_null()
        && stop["snap_length"] == false
        && (reason.contains(" header needs ") || reason.starts_with("UDP length says"));
    put(
        "_ws.malformed",
        if malformed { "yes" } else { "" }.to_string(),
    );
    Ours {
        number,
        fields: m,
        vlan_id: tags
            .first()
            .and_then(|t| value(Some(t), "VLAN ID").parse().ok()),
        stop: (!stop.is_null()).then(|| {
            format!(
                "{} at L{}: {reason}",
                stop["state"].as_str().unwrap_or("?"),
                stop["layer"]
            )
        }),
    }
}

/// Compares one pcap, read by the binary and by the library, with tshark;
/// returns how many frames there were and the disagreements.
fn compare(tshark: &Path, pcap: &Path) -> (usize, Vec<String>) {
    let rows = tshark_rows(tshark, pcap);
    let binary = from_binary(pcap);
    let library = from_library(pcap);
    let mut problems = compare_with(pcap, "netdojo --json", &binary, &rows);
    problems.extend(compare_with(pcap, "netdojo's library", &library, &rows));
    (binary.len(), problems)
}

fn compare_with(
    pcap: &Path,
    who: &str,
    frames: &[Ours],
    rows: &[HashMap<&'static str, String>],
) -> Vec<String> {
    let file = pcap.file_name().unwrap_or_default().to_string_lossy();
    let mut problems = Vec::new();
    if rows.len() != frames.len() {
        problems.push(format!(
            "{file}: tshark read {} frames, {who} {}",
            rows.len(),
            frames.len()
        ));
    }
    for (ours, row) in frames.iter().zip(rows) {
        for (key, want) in &ours.fields {
            let Some(want) = want else { continue };
            let got = row.get(key).cloned().unwrap_or_default();
            let same = match *key {
                "_ws.malformed" => got.is_empty() == want.is_empty(),
                // tshark's tcp.flags has 12 bits; netdojo keeps the low 8.
                "tcp.flags" => number(&got).map(|n| n & 0xff) == number(want),
                "eth.type" | "vlan.etype" | "sll.etype" => number(&got) == number(want),
                _ => got == *want,
            };
            if !same {
                problems.push(format!(
                    "{file} frame {}: {key}: tshark {got:?}, {who} {want:?}{}",
                    ours.number,
                    ours.stop
                        .as_ref()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                ));
            }
        }
        // Tags: QinQ's outer tag is 802.1ad, which tshark names apart.
        if let Some(id) = ours.vlan_id {
            let outer = if row["eth.type"] == "0x88a8" {
                &row["ieee8021ad.id"]
            } else {
                &row["vlan.id"]
            };
            if *outer != id.to_string() {
                problems.push(format!(
                    "{file} frame {}: VLAN id: tshark {outer:?}, {who} {id}",
                    ours.number
                ));
            }
        } else if !row["vlan.id"].is_empty() {
            problems.push(format!(
                "{file} frame {}: tshark sees VLAN {}, {who} none",
                ours.number, row["vlan.id"]
            ));
        }
    }
    problems
}

#[test]
fn examples_agree_with_tshark() {
    let Some(tshark) = peer("tshark") else { return };
    let dir = scratch("examples");
    // One file per link type: a pcap has one.
    let mut by_link: Vec<(LinkType, Vec<Frame>)> = Vec::new();
    for e in examples::all() {
        let mut frame = (e.build)();
        match by_link.iter_mut().find(|(l, _)| *l == frame.link) {
            Some((_, frames)) => {
                frame.number = frames.len() as u64 + 1;
                frames.push(frame);
            }
            None => by_link.push((frame.link, vec![frame])),
        }
    }
    // And one cut by a snap length: tshark does not call that malformed.
    let mut snapped = (examples::find("tcp-data").unwrap().build)();
    snapped.data.truncate(80);
    if let Some((_, frames)) = by_link.iter_mut().find(|(l, _)| *l == LinkType::Ethernet) {
        snapped.number = frames.len() as u64 + 1;
        frames.push(snapped);
    }
    // The IP examples again under Linux cooked capture v2 (276, what
    // `tcpdump -i any` writes) and OpenBSD's loopback (108), which tshark
    // reads with dissectors of its own.
    let mut rewrapped = 0;
    for (link, header) in [
        (
            LinkType::Other(276),
            &[
                8, 0, 0, 0, 0, 0, 0, 1, 0, 1, 4, 6, 2, 0, 0, 0, 0, 0x0a, 0, 0,
            ][..],
        ),
        (LinkType::Other(108), &[0, 0, 0, 2][..]),
    ] {
        let frames: Vec<Frame> = examples::all()
            .iter()
            .map(|e| (e.build)())
            .filter(|f| f.link == LinkType::Ethernet && f.data.get(12..14) == Some(&[8, 0]))
            .enumerate()
            .map(|(i, f)| {
                let mut data = header.to_vec();
                data.extend_from_slice(&f.data[14..]);
                Frame {
                    number: i as u64 + 1,
                    link,
                    original_len: data.len(),
                    data,
                    ..f
                }
            })
            .collect();
        rewrapped += frames.len();
        by_link.push((link, frames));
    }
    assert!(rewrapped >= 20, "{rewrapped} frames rewrapped");
    let mut problems = Vec::new();
    let mut total = 0;
    for (link, frames) in &by_link {
        let path = dir.join(format!("examples-{}.pcap", link.to_pcap()));
        write_pcap(&path, frames);
        let (n, p) = compare(&tshark, &path);
        total += n;
        problems.extend(p);
    }
    assert_eq!(total, examples::all().len() + 1 + rewrapped);
    assert!(
        problems.is_empty(),
        "netdojo and tshark disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn scapy_frames_agree_with_tshark() {
    let Some(tshark) = peer("tshark") else { return };
    let Some(python) = peer("python3") else {
        return;
    };
    let has_scapy = Command::new(&python)
        .args(["-c", "import scapy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_scapy {
        if std::env::var("NETDOJO_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("python3 scapy is required (NETDOJO_REQUIRE_PEERS=1): pip3 install scapy");
        }
        eprintln!("skipping: python3 scapy is not installed");
        return;
    }
    let dir = scratch("scapy");
    let script = dir.join("frames.py");
    let pcap = dir.join("scapy.pcap");
    std::fs::write(&script, SCAPY_FRAMES).expect("write script");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&pcap)
        .output()
        .expect("run scapy");
    assert!(
        out.status.success(),
        "scapy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (n, problems) = compare(&tshark, &pcap);
    assert_eq!(n, 25, "the script's frame count");
    assert!(
        problems.is_empty(),
        "netdojo and tshark disagree:\n{}",
        problems.join("\n")
    );

    // The malformed ones are malformed to both; the rest to neither.
    let frames = read_frames(&pcap);
    let flagged: Vec<u64> = frames
        .iter()
        .filter(|f| malformed(&dissect(f)))
        .map(|f| f.number)
        .collect();
    assert_eq!(flagged, [19, 20, 24], "frames netdojo calls malformed");
}

/// Any capture against tshark, for checking real traffic by hand:
/// `NETDOJO_COMPARE_PCAP=FILE cargo test --test inspect_tshark any_capture -- --nocapture`.
#[test]
fn any_capture_agrees_with_tshark() {
    let Some(path) = std::env::var_os("NETDOJO_COMPARE_PCAP") else {
        return;
    };
    let Some(tshark) = peer("tshark") else { return };
    let (n, problems) = compare(&tshark, Path::new(&path));
    println!("{n} frames compared, {} disagreements", problems.len());
    assert!(
        problems.is_empty(),
        "netdojo and tshark disagree:\n{}",
        problems.join("\n")
    );
}

/// tshark's `frame.comment`s for each frame, in order.
fn tshark_comments(tshark: &Path, pcap: &Path) -> Vec<Vec<String>> {
    // Comments may hold commas and spaces; a control character cannot be in
    // any comment netdojo writes, so it separates them.
    let out = Command::new(tshark)
        .arg("-r")
        .arg(pcap)
        .args(["-T", "fields", "-e", "frame.comment"])
        .args(["-E", "occurrence=a", "-E", "aggregator=\u{1}"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| {
            l.split('\u{1}')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn compare_pcap_comments_agree_with_tshark() {
    let Some(tshark) = peer("tshark") else { return };
    let dir = scratch("comments");
    let pcap = dir.join("compare.pcapng");
    // A link that loses, duplicates, holds back and corrupts frames, so
    // each kind of comment is written.
    let out = netdojo()
        .args(["--json", "compare", "--messages", "40", "--size", "200"])
        .args([
            "--loss",
            "20",
            "--duplicate",
            "10",
            "--reorder",
            "10",
            "--corrupt",
            "5",
        ])
        .args(["--seed", "7", "--pcap"])
        .arg(&pcap)
        .output()
        .expect("run netdojo compare");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files = vec![pcap.clone()];
    // And a second comment on a frame that has one, and a first on one
    // that has none, as a person adds them in Wireshark.
    if let Some(editcap) = peer("editcap") {
        let edited = dir.join("edited.pcapng");
        let status = Command::new(editcap)
            .args([
                "-a",
                "3:checked by hand",
                "-a",
                "5:a second note, with a comma",
            ])
            .arg(&pcap)
            .arg(&edited)
            .status()
            .expect("run editcap");
        assert!(status.success());
        files.push(edited);
    }
    for file in &files {
        let theirs = tshark_comments(&tshark, file);
        let out = netdojo()
            .args(["--json", "inspect"])
            .arg(file)
            .output()
            .expect("run netdojo inspect");
        assert!(out.status.success());
        let frames = json_lines(&out.stdout);
        let ours: Vec<Vec<String>> = frames
            .iter()
            .map(|f| {
                f["comments"]
                    .as_array()
                    .expect("a comments array on every frame")
                    .iter()
                    .map(|c| c.as_str().expect("a string").to_string())
                    .collect()
            })
            .collect();
        assert_eq!(ours, theirs, "{}", file.display());
        let lost = theirs
            .iter()
            .filter(|c| c.iter().any(|c| c.contains("lost by the link")))
            .count();
        assert!(lost > 0, "the link lost nothing: {theirs:?}");
        for kind in ["duplicated by the link", "held back", "flipped on the link"] {
            assert!(
                theirs.iter().flatten().any(|c| c.contains(kind)),
                "no {kind:?} comment in {theirs:?}"
            );
        }

        // --summary ends each such line with the comment; the tree puts it
        // under the frame's header.
        let summary = netdojo()
            .args(["inspect", "--summary"])
            .arg(file)
            .output()
            .unwrap();
        let summary = String::from_utf8(summary.stdout).unwrap();
        assert_eq!(
            summary
                .lines()
                .filter(|l| l.contains("  [comment: lost by the link (--loss)]"))
                .count(),
            lost,
            "{summary}"
        );
        let tree = netdojo().args(["inspect"]).arg(file).output().unwrap();
        let tree = String::from_utf8(tree.stdout).unwrap();
        for (i, comments) in theirs.iter().enumerate() {
            let block = tree
                .split("\n\n")
                .find(|b| b.starts_with(&format!("Frame {} ·", i + 1)))
                .unwrap_or_else(|| panic!("no frame {} in the tree", i + 1));
            let shown: Vec<&str> = block
                .lines()
                .skip(1)
                .map_while(|l| l.strip_prefix("    Comment: "))
                .collect();
            assert_eq!(shown, *comments, "frame {}", i + 1);
        }
    }
    if files.len() == 2 {
        let edited = tshark_comments(&tshark, &files[1]);
        assert!(
            edited[2].contains(&"checked by hand".to_string()),
            "{:?}",
            edited[2]
        );
        assert!(
            edited[4].len() >= 2,
            "frame 5 has two comments: {:?}",
            edited[4]
        );
    }
}
