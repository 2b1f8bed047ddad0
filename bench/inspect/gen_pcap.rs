//! Writes a large, varied pcap for the inspector's benchmarks.
//!
//! ```text
//! cargo run --release --example inspect_gen_pcap -- OUT.pcap [N] [--mix small|large] [--seed S]
//! ```
//!
//! N frames (default 1,000,000) of Ethernet + IPv4 (a few IPv6), mostly TCP
//! conversations with some UDP (DNS among it) and ICMP, payloads of 0 to 1400
//! bytes. `--mix small` uses 16 hosts talking in a handful of conversations
//! (the easy case for tools that track flows); `--mix large` gives almost
//! every frame new addresses and ports (the hard case). Deterministic: the
//! same arguments write the same file. Written with netdojo's own PcapWriter,
//! so the benchmark also exercises it.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use etherparse::PacketBuilder;
use netdojo::inspect::model::{Frame, LinkType};
use netdojo::inspect::source::PcapWriter;

/// A small, fast, deterministic generator (xorshift64*): no dependency, and
/// the file depends only on the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut out: Option<PathBuf> = None;
    let mut count: u64 = 1_000_000;
    let mut large = false;
    let mut seed: u64 = 1;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mix" => large = args.next().as_deref() == Some("large"),
            "--seed" => seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(1),
            _ if out.is_none() => out = Some(a.into()),
            _ => count = a.replace('_', "").parse()?,
        }
    }
    let Some(out) = out else {
        anyhow::bail!("usage: inspect_gen_pcap OUT.pcap [N] [--mix small|large] [--seed S]");
    };
    let mut rng = Rng(seed.max(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut writer = PcapWriter::create(&out)?;
    let payload = vec![b'x'; 1400];
    let start = Duration::from_secs(1_700_000_000);
    let mut buf = Vec::with_capacity(1600);
    for n in 0..count {
        let (a, b) = if large {
            (rng.next() as u32, rng.next() as u32)
        } else {
            let pair = rng.below(8) as u32;
            (0x0a00_0001 + pair, 0x0a00_0101 + pair)
        };
        let (src, dst) = if rng.below(2) == 0 { (a, b) } else { (b, a) };
        let src_mac = [2, 0, 0, 0, 0, (src & 0xff) as u8];
        let dst_mac = [2, 0, 0, 0, 0, (dst & 0xff) as u8];
        let (sport, dport) = if large {
            (
                rng.below(65535) as u16 + 1,
                [80, 443, 53, 8080][rng.below(4) as usize],
            )
        } else {
            (40000 + (src & 0x7) as u16, 80)
        };
        let len = match rng.below(4) {
            0 => 0,
            1 => rng.below(100) as usize,
            2 => rng.below(1400) as usize,
            _ => 1400,
        };
        buf.clear();
        let eth = PacketBuilder::ethernet2(src_mac, dst_mac);
        match rng.below(100) {
            0..=69 => {
                let ip = eth.ipv4(
                    Ipv4Addr::from(src).octets(),
                    Ipv4Addr::from(dst).octets(),
                    64,
                );
                let tcp = ip.tcp(sport, dport, rng.next() as u32, 64240);
                let tcp = match rng.below(20) {
                    0 => tcp.syn(),
                    1 => tcp.syn().ack(rng.next() as u32),
                    2 => tcp.fin().ack(rng.next() as u32),
                    _ => tcp.psh().ack(rng.next() as u32),
                };
                tcp.write(&mut buf, &payload[..len])?;
            }
            70..=89 => {
                let ip = eth.ipv4(
                    Ipv4Addr::from(src).octets(),
                    Ipv4Addr::from(dst).octets(),
                    64,
                );
                let port = if rng.below(2) == 0 { 53 } else { dport };
                ip.udp(sport, port)
                    .write(&mut buf, &payload[..len.min(512)])?;
            }
            90..=94 => {
                let ip = eth.ipv4(
                    Ipv4Addr::from(src).octets(),
                    Ipv4Addr::from(dst).octets(),
                    64,
                );
                ip.icmpv4_echo_request(1, n as u16)
                    .write(&mut buf, &payload[..56])?;
            }
            _ => {
                let mut s6 = [0u8; 16];
                let mut d6 = [0u8; 16];
                s6[..2].copy_from_slice(&[0xfd, 0]);
                d6[..2].copy_from_slice(&[0xfd, 0]);
                s6[12..].copy_from_slice(&src.to_be_bytes());
                d6[12..].copy_from_slice(&dst.to_be_bytes());
                let ip = eth.ipv6(s6, d6, 64);
                ip.tcp(sport, dport, rng.next() as u32, 64240)
                    .ack(rng.next() as u32)
                    .write(&mut buf, &payload[..len.min(1200)])?;
            }
        }
        writer.write_frame(&Frame {
            number: n + 1,
            timestamp: Some(start + Duration::from_micros(n * 10)),
            link: LinkType::Ethernet,
            original_len: buf.len(),
            data: buf.clone(),
            comments: Vec::new(),
        })?;
    }
    writer.finish()?;
    eprintln!("wrote {count} frames to {}", out.display());
    Ok(())
}
