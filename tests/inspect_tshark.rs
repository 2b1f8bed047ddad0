//! netdojo's dissection against tshark's, frame by frame.
//!
//! Pcaps are written here from every built-in example and from frames scapy
//! makes (VLAN and QinQ, IPv6 extension headers, TCP options, DNS over UDP
//! and TCP, ARP, fragments, ICMP errors, malformed frames), then read by
//! netdojo's reader and by `tshark -T fields`. They must agree on the
//! EtherType, VLAN id, IP addresses, TTL and protocol, IPv6 addresses, TCP
//! ports, flags, absolute sequence and acknowledgment numbers, UDP ports and
//! length, ARP opcode, DNS query name, and malformed-or-not.
//!
//! tshark runs with reassembly off (`ip.defragment`, `ipv6.defragment`), so
//! each fragment is compared as it is, and takes each field's first
//! occurrence (`-E occurrence=f`), the outer header's.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::peer;
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

/// Compares one pcap, returning the disagreements.
fn compare(tshark: &Path, pcap: &Path) -> (usize, Vec<String>) {
    let frames = read_frames(pcap);
    let rows = tshark_rows(tshark, pcap);
    let mut problems = Vec::new();
    if rows.len() != frames.len() {
        problems.push(format!(
            "{}: tshark read {} frames, netdojo {}",
            pcap.display(),
            rows.len(),
            frames.len()
        ));
    }
    for (frame, row) in frames.iter().zip(&rows) {
        let f = facts(frame);
        let d = dissect(frame);
        for (key, want) in ours(frame, &f, &d) {
            let Some(want) = want else { continue };
            let got = row.get(key).cloned().unwrap_or_default();
            let same = match key {
                "_ws.malformed" => got.is_empty() == want.is_empty(),
                // tshark's tcp.flags has 12 bits; netdojo keeps the low 8.
                "tcp.flags" => number(&got).map(|n| n & 0xff) == number(&want),
                "eth.type" | "vlan.etype" | "sll.etype" => number(&got) == number(&want),
                _ => got == want,
            };
            if !same {
                problems.push(format!(
                    "{} frame {}: {key}: tshark {got:?}, netdojo {want:?}{}",
                    pcap.file_name().unwrap_or_default().to_string_lossy(),
                    frame.number,
                    d.stop
                        .as_ref()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                ));
            }
        }
        // Tags: QinQ's outer tag is 802.1ad, which tshark names apart.
        if let Some(id) = f.vlan_id {
            let outer = if row["eth.type"] == "0x88a8" {
                &row["ieee8021ad.id"]
            } else {
                &row["vlan.id"]
            };
            if *outer != id.to_string() {
                problems.push(format!(
                    "frame {}: VLAN id: tshark {outer:?}, netdojo {id}",
                    frame.number
                ));
            }
        } else if !row["vlan.id"].is_empty() {
            problems.push(format!(
                "frame {}: tshark sees VLAN {}",
                frame.number, row["vlan.id"]
            ));
        }
    }
    (frames.len(), problems)
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
    let mut problems = Vec::new();
    let mut total = 0;
    for (link, frames) in &by_link {
        let path = dir.join(format!("examples-{}.pcap", link.to_pcap()));
        write_pcap(&path, frames);
        let (n, p) = compare(&tshark, &path);
        total += n;
        problems.extend(p);
    }
    assert_eq!(total, examples::all().len() + 1);
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
