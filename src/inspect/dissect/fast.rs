//! The common case of [`super::facts`], read by hand: an Ethernet II frame
//! holding a whole, unfragmented IPv4 (no options) or IPv6 (no extension
//! headers) packet that carries a whole TCP or UDP header. Most frames of
//! most captures are exactly that, and `--summary`, `--filter` and `--stats`
//! call `facts` once per frame.
//!
//! Anything else, or anything odd about it (a length field that disagrees
//! with the bytes, a fragment, a VLAN tag, IPv4 options, an IPv6 jumbogram),
//! returns `None`, and the frame takes the general path through etherparse's
//! lax slicing. So this file only has to be right about plain frames, and a
//! property test checks that, for every frame it accepts, it gives exactly
//! the facts the general path gives (`src/inspect/dissect/tests.rs`).
//!
//! Why it is worth having: lax slicing builds a several-hundred-byte
//! description of every layer, and moving it around is most of what
//! `facts` costs (measured with perf on `netdojo inspect --summary`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{application, be16, be32};
use crate::inspect::model::{Facts, Frame, LinkType, Protocols, TcpFlags, TransportFacts};

const ETHERNET_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const IPV4_LEN: usize = 20;
const IPV6_LEN: usize = 40;
const TCP_MIN_LEN: usize = 20;
const UDP_LEN: usize = 8;
const TCP: u8 = 6;
const UDP: u8 = 17;

/// The facts of a plain frame, or `None` to take the general path.
pub(super) fn plain_facts(frame: &Frame) -> Option<Facts> {
    if frame.link != LinkType::Ethernet {
        return None;
    }
    let data = frame.data.as_slice();
    let ether_type = be16(data, 12)?;
    let mut facts = Facts {
        captured_len: data.len(),
        original_len: frame.original_len,
        ether_type: Some(ether_type),
        dst_mac: Some(data.get(0..6)?.try_into().ok()?),
        src_mac: Some(data.get(6..12)?.try_into().ok()?),
        ..Facts::default()
    };
    facts.protocols.add(Protocols::ETHERNET);
    let ip = data.get(ETHERNET_LEN..)?;
    // Where the IP payload is, in the frame.
    let (protocol, start, end) = match ether_type {
        ETHERTYPE_IPV4 => {
            let header = ip.get(..IPV4_LEN)?;
            // Version 4, IHL 5: no options.
            if header[0] != 0x45 {
                return None;
            }
            let total = usize::from(be16(header, 2)?);
            // MF clear and offset 0 (DF may be set): not a fragment.
            if !(IPV4_LEN..=ip.len()).contains(&total) || be16(header, 6)? & 0x3fff != 0 {
                return None;
            }
            let src: [u8; 4] = header[12..16].try_into().ok()?;
            let dst: [u8; 4] = header[16..20].try_into().ok()?;
            facts.protocols.add(Protocols::IPV4);
            facts.src_ip = Some(IpAddr::V4(Ipv4Addr::from(src)));
            facts.dst_ip = Some(IpAddr::V4(Ipv4Addr::from(dst)));
            facts.ttl = Some(header[8]);
            (header[9], ETHERNET_LEN + IPV4_LEN, ETHERNET_LEN + total)
        }
        ETHERTYPE_IPV6 => {
            let header = ip.get(..IPV6_LEN)?;
            if header[0] >> 4 != 6 {
                return None;
            }
            let payload = usize::from(be16(header, 4)?);
            // 0 is a jumbogram's (or a lie); the general path knows both.
            if payload == 0 || IPV6_LEN + payload > ip.len() {
                return None;
            }
            let src: [u8; 16] = header[8..24].try_into().ok()?;
            let dst: [u8; 16] = header[24..40].try_into().ok()?;
            facts.protocols.add(Protocols::IPV6);
            facts.src_ip = Some(IpAddr::V6(Ipv6Addr::from(src)));
            facts.dst_ip = Some(IpAddr::V6(Ipv6Addr::from(dst)));
            facts.ttl = Some(header[7]);
            (
                header[6],
                ETHERNET_LEN + IPV6_LEN,
                ETHERNET_LEN + IPV6_LEN + payload,
            )
        }
        _ => return None,
    };
    let segment = data.get(start..end)?;
    facts.ip_protocol = Some(protocol);
    match protocol {
        TCP => {
            let header_len = usize::from(*segment.get(12)? >> 4) * 4;
            if header_len < TCP_MIN_LEN || header_len > segment.len() {
                return None;
            }
            let (src_port, dst_port) = (be16(segment, 0)?, be16(segment, 2)?);
            let payload = (start + header_len, end);
            facts.protocols.add(Protocols::TCP);
            facts.transport = Some(TransportFacts::Tcp {
                src_port,
                dst_port,
                seq: be32(segment, 4)?,
                ack: be32(segment, 8)?,
                flags: TcpFlags(segment[13]),
                window: be16(segment, 14)?,
                payload,
            });
            let bytes = data.get(payload.0..payload.1)?;
            facts
                .protocols
                .add(application::guess_tcp(src_port, dst_port, bytes));
        }
        UDP => {
            // The length field must say exactly what the IP payload holds.
            if segment.len() < UDP_LEN || usize::from(be16(segment, 4)?) != segment.len() {
                return None;
            }
            let (src_port, dst_port) = (be16(segment, 0)?, be16(segment, 2)?);
            let payload = (start + UDP_LEN, end);
            facts.protocols.add(Protocols::UDP);
            facts.transport = Some(TransportFacts::Udp {
                src_port,
                dst_port,
                length: be16(segment, 4)?,
                payload,
            });
            let bytes = data.get(payload.0..payload.1)?;
            facts
                .protocols
                .add(application::guess_udp(src_port, dst_port, bytes));
        }
        _ => return None,
    }
    Some(facts)
}
