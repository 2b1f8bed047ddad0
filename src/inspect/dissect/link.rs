//! Layer 2: Ethernet II, 802.1Q VLAN tags, ARP, Linux cooked capture (SLL),
//! BSD loopback (null), and the bytes after the packet (Ethernet trailer).
//!
//! ARP is drawn at L2 here. It carries IP addresses, which makes some books
//! draw it at L3, but it never leaves the local link and exists only to find
//! the link address (MAC) for an IP address on that link: it serves layer 2.

use etherparse::{
    ArpPacketSlice, EtherType, LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, LinkSlice,
};

use super::{
    Builder, LayerBuilder, LinkHeader, Sliced, StopAt, StopReason, be16, hex_preview, ip_from, mac,
};
use crate::inspect::model::{Facts, Protocols};
use crate::layer::Layer;

/// Linux cooked capture v1 header length.
const SLL_LEN: usize = 16;
/// BSD loopback header length: one 32-bit address family.
const NULL_LEN: usize = 4;
/// EtherType values below this are IEEE 802.3 length fields, not types.
const ETHERTYPE_MIN: u16 = 0x0600;

/// The 16-byte Linux cooked capture (SLL) header, read here because
/// etherparse refuses ARPHRD types it does not know, and the commonest one
/// in a course, loopback (772, from `tcpdump -i any`), is among them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SllHeader {
    pub packet_type: u16,
    pub arphrd: u16,
    pub addr_len: u16,
    pub addr: [u8; 8],
    pub protocol: u16,
}

impl SllHeader {
    fn parse(data: &[u8]) -> Option<SllHeader> {
        let h = data.get(..SLL_LEN)?;
        let mut addr = [0u8; 8];
        addr.copy_from_slice(&h[6..14]);
        Some(SllHeader {
            packet_type: u16::from_be_bytes([h[0], h[1]]),
            arphrd: u16::from_be_bytes([h[2], h[3]]),
            addr_len: u16::from_be_bytes([h[4], h[5]]),
            addr,
            protocol: u16::from_be_bytes([h[14], h[15]]),
        })
    }

    /// Whether `protocol` is an EtherType: for most hardware types it is;
    /// for netlink, GRE, 802.11 and frame relay it means something else,
    /// and values below 0x0600 are Linux's own (e.g. 802.2 LLC).
    fn carries_ether_type(&self) -> bool {
        const NETLINK: u16 = 824;
        const IPGRE: u16 = 778;
        const IEEE80211: u16 = 801;
        const IEEE80211_RADIOTAP: u16 = 803;
        const FRAD: u16 = 770;
        !matches!(
            self.arphrd,
            NETLINK | IPGRE | IEEE80211 | IEEE80211_RADIOTAP | FRAD
        ) && self.protocol >= ETHERTYPE_MIN
    }

    /// The sender's address, as long as the header says it is.
    fn address(&self) -> &[u8] {
        &self.addr[..usize::from(self.addr_len).min(self.addr.len())]
    }
}

/// Linux cooked capture v2 header length (LINKTYPE_LINUX_SLL2, 276).
const SLL2_LEN: usize = 20;
/// pcap's number for Linux cooked capture v2: what `tcpdump -i any` writes
/// since libpcap 1.10. The shared model has no variant for it, so it
/// arrives as `LinkType::Other(276)`.
pub(super) const LINKTYPE_LINUX_SLL2: u32 = 276;
/// pcap's LINKTYPE_LOOP: OpenBSD's loopback, the same 4-byte address
/// family as null (0) but always in network byte order. It also arrives
/// as `LinkType::Other(108)`.
pub(super) const LINKTYPE_LOOP: u32 = 108;

impl SllHeader {
    /// SLL2 holds the same facts in another order, plus the interface
    /// index: protocol (2), reserved (2), interface index (4), ARPHRD (2),
    /// packet type (1), address length (1), address (8).
    fn parse_v2(data: &[u8]) -> Option<(SllHeader, u32)> {
        let h = data.get(..SLL2_LEN)?;
        let mut addr = [0u8; 8];
        addr.copy_from_slice(&h[12..20]);
        Some((
            SllHeader {
                packet_type: u16::from(h[10]),
                arphrd: u16::from_be_bytes([h[8], h[9]]),
                addr_len: u16::from(h[11]),
                addr,
                protocol: u16::from_be_bytes([h[0], h[1]]),
            },
            u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ))
    }
}

pub(super) fn slice_sll2(data: &[u8]) -> Sliced<'_> {
    let Some((sll, ifindex)) = SllHeader::parse_v2(data) else {
        return Sliced::stopped(
            data,
            LinkHeader::Unreadable,
            StopAt {
                layer: Layer::DataLink,
                header: "Linux cooked capture v2 header",
                reason: StopReason::Short {
                    what: "Linux cooked capture v2 header",
                    needs: SLL2_LEN,
                    present: data.len(),
                    limit: None,
                },
                halted: true,
            },
        );
    };
    let link = LinkHeader::Sll2(sll, ifindex);
    if !sll.carries_ether_type() {
        return Sliced::new(data, link, None);
    }
    let payload = data.get(SLL2_LEN..).unwrap_or_default();
    let packet = LaxSlicedPacket::from_ether_type(EtherType(sll.protocol), payload);
    Sliced::new(data, link, Some(packet))
}

pub(super) fn slice_sll(data: &[u8]) -> Sliced<'_> {
    let Some(sll) = SllHeader::parse(data) else {
        return Sliced::stopped(
            data,
            LinkHeader::Unreadable,
            StopAt {
                layer: Layer::DataLink,
                header: "Linux cooked capture header",
                reason: StopReason::Short {
                    what: "Linux cooked capture header",
                    needs: SLL_LEN,
                    present: data.len(),
                    limit: None,
                },
                halted: true,
            },
        );
    };
    let link = LinkHeader::Sll(sll);
    if !sll.carries_ether_type() {
        return Sliced::new(data, link, None);
    }
    let payload = data.get(SLL_LEN..).unwrap_or_default();
    let packet = LaxSlicedPacket::from_ether_type(EtherType(sll.protocol), payload);
    Sliced::new(data, link, Some(packet))
}

/// The address families BSD loopback uses for IPv4 and IPv6 (IPv6's
/// number differs between systems: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28,
/// macOS 30).
const AF_INET: u32 = 2;
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

pub(super) fn slice_null(data: &[u8], network_order: bool) -> Sliced<'_> {
    let Some(b) = data.get(..NULL_LEN) else {
        return Sliced::stopped(
            data,
            LinkHeader::Null {
                family: 0,
                network_order,
            },
            StopAt {
                layer: Layer::DataLink,
                header: "loopback header",
                reason: StopReason::Short {
                    what: "loopback header",
                    needs: NULL_LEN,
                    present: data.len(),
                    limit: None,
                },
                halted: true,
            },
        );
    };
    let b = [b[0], b[1], b[2], b[3]];
    let family = if network_order {
        u32::from_be_bytes(b)
    } else {
        null_family(b)
    };
    let link = LinkHeader::Null {
        family,
        network_order,
    };
    if family == AF_INET || AF_INET6.contains(&family) {
        ip_from(data, link, NULL_LEN)
    } else {
        Sliced::new(data, link, None)
    }
}

/// The family is in the capturing host's byte order; like Wireshark, take
/// the order that gives a small number (families are all below 65536).
fn null_family(b: [u8; 4]) -> u32 {
    let le = u32::from_le_bytes(b);
    if le <= 0xffff {
        le
    } else {
        u32::from_be_bytes(b)
    }
}

/// Link-layer facts: MACs, EtherType, VLAN, ARP.
pub(super) fn facts(sliced: &Sliced<'_>, facts: &mut Facts) {
    match sliced.link {
        LinkHeader::Ethernet => {
            facts.protocols.add(Protocols::ETHERNET);
            if let Some(b) = sliced.data.get(..12) {
                let mut dst = [0u8; 6];
                let mut src = [0u8; 6];
                dst.copy_from_slice(&b[..6]);
                src.copy_from_slice(&b[6..12]);
                facts.dst_mac = Some(dst);
                facts.src_mac = Some(src);
            }
        }
        LinkHeader::Sll(sll) | LinkHeader::Sll2(sll, _) => {
            facts.protocols.add(Protocols::SLL);
            if let Ok(src) = <[u8; 6]>::try_from(sll.address()) {
                facts.src_mac = Some(src);
            }
            facts.ether_type = Some(sll.protocol);
        }
        _ => {}
    }
    let Some(packet) = &sliced.packet else {
        return;
    };
    if let Some(LinkSlice::Ethernet2(eth)) = &packet.link {
        facts.ether_type = Some(eth.ether_type().0);
    }
    for ext in &packet.link_exts {
        if let LaxLinkExtSlice::Vlan(vlan) = ext {
            facts.protocols.add(Protocols::VLAN);
            if facts.vlan_id.is_none() {
                facts.vlan_id = Some(vlan.vlan_identifier().value());
            }
            facts.ether_type = Some(vlan.ether_type().0);
        }
    }
    if let Some(LaxNetSlice::Arp(arp)) = &packet.net {
        facts.protocols.add(Protocols::ARP);
        facts.arp_op = Some(arp.operation().0);
        if let (Ok(s), Ok(t)) = (
            <[u8; 4]>::try_from(arp.sender_protocol_addr()),
            <[u8; 4]>::try_from(arp.target_protocol_addr()),
        ) {
            facts.src_ip = Some(s.into());
            facts.dst_ip = Some(t.into());
        }
    }
}

/// The link header(s): Ethernet, SLL or loopback, then VLAN tags.
pub(super) fn dissect(sliced: &Sliced<'_>, out: &mut Builder<'_>) {
    let data = sliced.data;
    match sliced.link {
        LinkHeader::Ethernet => {
            if data.len() >= 14 {
                dissect_ethernet(data, out);
            }
        }
        LinkHeader::Sll(sll) => dissect_sll(&sll, out),
        LinkHeader::Sll2(sll, ifindex) => dissect_sll2(&sll, ifindex, out),
        LinkHeader::Null {
            family,
            network_order,
        } => {
            if data.len() >= NULL_LEN {
                dissect_null(family, network_order, out);
            }
        }
        LinkHeader::RawIp | LinkHeader::Unreadable => {}
        LinkHeader::Other(n) => {
            let mut view = LayerBuilder::new(Layer::DataLink, "Unknown link type", 0..data.len());
            view.summary(format!(
                "link type {n}: netdojo does not read this kind of capture"
            ));
            view.field(
                "Link type",
                n.to_string(),
                0..0,
                "pcap's LINKTYPE number: what kind of header the capture's frames start with",
            );
            view.field(
                "Bytes",
                hex_preview(data),
                0..data.len(),
                "the frame, undissected",
            );
            out.push(view.finish());
            return;
        }
    }
    let Some(packet) = &sliced.packet else {
        return;
    };
    for ext in &packet.link_exts {
        match ext {
            LaxLinkExtSlice::Vlan(vlan) => {
                let start = out.offset_of(vlan.slice());
                dissect_vlan(data, start, out);
            }
            LaxLinkExtSlice::Macsec(macsec) => {
                let range = out.range_of(macsec.header.slice());
                let range = range.start..range.start + macsec.header.header_len();
                let mut view = LayerBuilder::new(Layer::DataLink, "MACsec", range.clone());
                view.summary(if macsec.header.encrypted() {
                    "802.1AE link encryption; the payload is encrypted"
                } else {
                    "802.1AE link integrity; the payload is in the clear"
                });
                view.field(
                    "Header",
                    hex_preview(data.get(range.clone()).unwrap_or_default()),
                    range,
                    "MACsec's security tag: association number, packet number, channel",
                );
                out.push(view.finish());
            }
        }
    }
}

fn dissect_ethernet(data: &[u8], out: &mut Builder<'_>) {
    let dst = &data[0..6];
    let src = &data[6..12];
    let ether_type = be16(data, 12).unwrap_or(0);
    let mut view = LayerBuilder::new(Layer::DataLink, "Ethernet II", 0..14);
    view.summary(format!(
        "{} → {}, {}",
        mac(src),
        mac(dst),
        ether_type_label(ether_type)
    ));
    view.field(
        "Destination",
        mac_with_kind(dst),
        0..6,
        "the network card this frame is for; ff:ff:ff:ff:ff:ff means every card on the link",
    );
    view.field(
        "Source",
        mac(src),
        6..12,
        "the network card that sent the frame",
    );
    if ether_type < ETHERTYPE_MIN {
        view.field(
            "Length",
            ether_type.to_string(),
            12..14,
            "an IEEE 802.3 frame: below 1536 this field is the payload's length, not its type",
        );
    } else {
        view.field(
            "Type",
            ether_type_label(ether_type),
            12..14,
            "EtherType: which protocol the payload is, so the receiver knows whom to hand it to",
        );
    }
    out.push(view.finish());
}

fn dissect_vlan(data: &[u8], start: usize, out: &mut Builder<'_>) {
    let (Some(tci), Some(inner)) = (be16(data, start), be16(data, start + 2)) else {
        return;
    };
    let pcp = tci >> 13;
    let dei = (tci >> 12) & 1;
    let vid = tci & 0x0fff;
    let mut view = LayerBuilder::new(Layer::DataLink, "802.1Q VLAN", start..start + 4);
    view.summary(format!(
        "VLAN {vid}, priority {pcp}, {}",
        ether_type_label(inner)
    ));
    view.field(
        "Priority (PCP)",
        pcp.to_string(),
        start..start + 1,
        "priority 0-7 a switch may use to send this frame ahead of others",
    );
    view.field(
        "Drop eligible (DEI)",
        if dei == 1 { "yes" } else { "no" },
        start..start + 1,
        "whether a congested switch may drop this frame first",
    );
    view.field(
        "VLAN ID",
        vid.to_string(),
        start..start + 2,
        "which virtual LAN the frame belongs to: one cable, many separate networks",
    );
    view.field(
        "Type",
        ether_type_label(inner),
        start + 2..start + 4,
        "the EtherType of what follows the tag",
    );
    out.push(view.finish());
}

fn dissect_sll(sll: &SllHeader, out: &mut Builder<'_>) {
    let mut view = LayerBuilder::new(Layer::DataLink, "Linux cooked capture", 0..SLL_LEN);
    let direction = sll_direction(sll.packet_type);
    view.summary(format!(
        "{direction}, {}, {}",
        arphrd_name(sll.arphrd),
        ether_type_label(sll.protocol)
    ));
    view.field(
        "Packet type",
        format!("{} ({direction})", sll.packet_type),
        0..2,
        "which way the packet went, as the kernel saw it; captures on `any` replace the real link header with this one",
    );
    view.field(
        "Link type (ARPHRD)",
        format!("{} ({})", sll.arphrd, arphrd_name(sll.arphrd)),
        2..4,
        "the kind of interface the packet was captured on",
    );
    view.field(
        "Address length",
        sll.addr_len.to_string(),
        4..6,
        "how many of the 8 address bytes are used",
    );
    view.field(
        "Source address",
        if sll.address().is_empty() {
            "(none)".to_string()
        } else {
            mac(sll.address())
        },
        6..14,
        "the sender's link address (a MAC on Ethernet; loopback has none)",
    );
    view.field(
        "Protocol",
        ether_type_label(sll.protocol),
        14..16,
        "the EtherType of the payload",
    );
    out.push(view.finish());
}

fn dissect_sll2(sll: &SllHeader, ifindex: u32, out: &mut Builder<'_>) {
    let mut view = LayerBuilder::new(Layer::DataLink, "Linux cooked capture v2", 0..SLL2_LEN);
    let direction = sll_direction(sll.packet_type);
    view.summary(format!(
        "{direction}, interface {ifindex}, {}, {}",
        arphrd_name(sll.arphrd),
        ether_type_label(sll.protocol)
    ));
    view.field(
        "Protocol",
        ether_type_label(sll.protocol),
        0..2,
        "the EtherType of the payload",
    );
    view.field(
        "Interface index",
        ifindex.to_string(),
        4..8,
        "which interface the packet was captured on (`ip link` lists them by this number)",
    );
    view.field(
        "Link type (ARPHRD)",
        format!("{} ({})", sll.arphrd, arphrd_name(sll.arphrd)),
        8..10,
        "the kind of interface the packet was captured on",
    );
    view.field(
        "Packet type",
        format!("{} ({direction})", sll.packet_type),
        10..11,
        "which way the packet went, as the kernel saw it; captures on `any` replace the real link header with this one",
    );
    view.field(
        "Address length",
        sll.addr_len.to_string(),
        11..12,
        "how many of the 8 address bytes are used",
    );
    view.field(
        "Source address",
        if sll.address().is_empty() {
            "(none)".to_string()
        } else {
            mac(sll.address())
        },
        12..20,
        "the sender's link address (a MAC on Ethernet; loopback has none)",
    );
    out.push(view.finish());
}

fn sll_direction(packet_type: u16) -> &'static str {
    match packet_type {
        0 => "to us",
        1 => "broadcast",
        2 => "multicast",
        3 => "to another host",
        4 => "sent by us",
        _ => "unknown direction",
    }
}

fn dissect_null(family: u32, network_order: bool, out: &mut Builder<'_>) {
    let name = match family {
        AF_INET => "IPv4",
        f if AF_INET6.contains(&f) => "IPv6",
        _ => "unknown",
    };
    let (protocol, meaning) = if network_order {
        (
            "Loopback (OpenBSD loop)",
            "OpenBSD's loopback has no addresses, only the protocol family, in network byte order",
        )
    } else {
        (
            "Loopback (null)",
            "BSD loopback has no addresses, only the protocol family, in the capturing host's byte order",
        )
    };
    let mut view = LayerBuilder::new(Layer::DataLink, protocol, 0..NULL_LEN);
    view.summary(format!("address family {family} ({name})"));
    view.field("Family", format!("{family} ({name})"), 0..NULL_LEN, meaning);
    out.push(view.finish());
}

/// ARP: who has this IP address on the link?
pub(super) fn dissect_arp(arp: &ArpPacketSlice<'_>, out: &mut Builder<'_>) {
    let range = out.range_of(arp.slice());
    let s = range.start;
    let hw = usize::from(arp.hw_addr_size());
    let pr = usize::from(arp.proto_addr_size());
    let op = arp.operation().0;
    let ipv4 = arp.proto_addr_type() == EtherType::IPV4 && pr == 4;
    let addr = |bytes: &[u8], is_ip: bool| -> String {
        match <[u8; 4]>::try_from(bytes) {
            Ok(ip) if is_ip => std::net::Ipv4Addr::from(ip).to_string(),
            _ => mac(bytes),
        }
    };
    let sender_ip = addr(arp.sender_protocol_addr(), ipv4);
    let target_ip = addr(arp.target_protocol_addr(), ipv4);
    let sender_mac = mac(arp.sender_hw_addr());
    let mut view = LayerBuilder::new(Layer::DataLink, "ARP", range.clone());
    view.summary(match op {
        1 => format!("who has {target_ip}? tell {sender_ip}"),
        2 => format!("{sender_ip} is at {sender_mac}"),
        _ => format!("operation {op}"),
    });
    let hw_type = be16(out.data, s).unwrap_or(0);
    view.field(
        "Hardware type",
        format!(
            "{hw_type} ({})",
            if hw_type == 1 { "Ethernet" } else { "other" }
        ),
        s..s + 2,
        "the kind of link addresses being resolved",
    );
    view.field(
        "Protocol type",
        ether_type_label(arp.proto_addr_type().0),
        s + 2..s + 4,
        "the kind of network addresses being resolved (an EtherType)",
    );
    view.field(
        "Hardware size",
        hw.to_string(),
        s + 4..s + 5,
        "bytes in a link address (6 for a MAC)",
    );
    view.field(
        "Protocol size",
        pr.to_string(),
        s + 5..s + 6,
        "bytes in a network address (4 for IPv4)",
    );
    view.field(
        "Operation",
        format!(
            "{op} ({})",
            match op {
                1 => "request",
                2 => "reply",
                3 => "RARP request",
                4 => "RARP reply",
                _ => "unknown",
            }
        ),
        s + 6..s + 8,
        "a request is broadcast to everyone; the owner of the address replies to the asker alone. ARP carries IP addresses but never leaves the link it serves, so it is drawn at L2 here",
    );
    let mut at = s + 8;
    view.field(
        "Sender MAC",
        sender_mac,
        at..at + hw,
        "the asker's (or, in a reply, the answer's) link address",
    );
    at += hw;
    view.field(
        "Sender IP",
        sender_ip,
        at..at + pr,
        "the sender's network address; receivers may cache the pairing",
    );
    at += pr;
    view.field(
        "Target MAC",
        mac(arp.target_hw_addr()),
        at..at + hw,
        "unknown in a request (zeros): that is what is being asked",
    );
    at += hw;
    view.field(
        "Target IP",
        target_ip,
        at..at + pr,
        "the network address whose link address is wanted",
    );
    out.push(view.finish());
}

/// Bytes after the packet: Ethernet pads frames to its 60-byte minimum,
/// and some switches and NICs append more.
pub(super) fn dissect_trailer(sliced: &Sliced<'_>, out: &mut Builder<'_>) {
    let range = out.cursor..sliced.data.len();
    let bytes = sliced.data.get(range.clone()).unwrap_or_default();
    let padding = bytes.iter().all(|b| *b == 0);
    let (layer, name, meaning) = match sliced.link {
        LinkHeader::Ethernet => (
            Layer::DataLink,
            "Ethernet trailer",
            "padding up to Ethernet's 60-byte minimum frame (or bytes a NIC added): not part of the packet",
        ),
        LinkHeader::RawIp => (
            Layer::Network,
            "Bytes after the packet",
            "bytes past the IP packet's own length: not part of the packet",
        ),
        _ => (
            Layer::DataLink,
            "Bytes after the packet",
            "bytes past the packet's own length: not part of the packet",
        ),
    };
    let mut view = LayerBuilder::new(layer, name, range.clone());
    view.summary(format!(
        "{} bytes{}",
        range.len(),
        if padding { " of zero padding" } else { "" }
    ));
    view.field(
        if padding { "Padding" } else { "Trailer" },
        hex_preview(bytes),
        range,
        meaning,
    );
    out.push(view.finish());
}

/// `0x0800 (IPv4)`.
pub(super) fn ether_type_label(t: u16) -> String {
    match ether_type_name(t) {
        Some(name) => format!("0x{t:04x} ({name})"),
        None => format!("0x{t:04x}"),
    }
}

/// The name of an EtherType, for the common ones.
pub(super) fn ether_type_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0x0800 => "IPv4",
        0x0806 => "ARP",
        0x0842 => "Wake-on-LAN",
        0x86dd => "IPv6",
        0x8100 => "802.1Q VLAN",
        0x88a8 => "802.1ad QinQ",
        0x9100 => "VLAN double tag",
        0x8035 => "RARP",
        0x8847 => "MPLS",
        0x8848 => "MPLS multicast",
        0x8863 => "PPPoE discovery",
        0x8864 => "PPPoE session",
        0x888e => "802.1X EAPOL",
        0x88cc => "LLDP",
        0x88e5 => "MACsec",
        0x88f7 => "PTP",
        0x8809 => "slow protocols (LACP)",
        _ => return None,
    })
}

fn arphrd_name(t: u16) -> &'static str {
    match t {
        1 => "Ethernet",
        772 => "loopback",
        776 => "IPv6-in-IPv4",
        778 => "GRE",
        801 => "802.11",
        803 => "802.11 radiotap",
        824 => "netlink",
        65534 => "none (tunnel)",
        _ => "other",
    }
}

/// A MAC, with broadcast and multicast spelled out.
fn mac_with_kind(m: &[u8]) -> String {
    let text = mac(m);
    if m.iter().all(|b| *b == 0xff) {
        format!("{text} (broadcast)")
    } else if m.first().is_some_and(|b| b & 1 == 1) {
        format!("{text} (multicast)")
    } else {
        text
    }
}
