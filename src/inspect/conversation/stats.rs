//! `--stats`: what a capture is made of.
//!
//! - **Protocol hierarchy**, like `tshark -z io,phs`: each frame counts once
//!   at every protocol it contains, link first (`eth › ip › tcp › http`), so
//!   a learner sees encapsulation as numbers: every TCP frame is also an IP
//!   frame and an Ethernet frame.
//! - **Conversations**, like `tshark -z conv,ip|tcp|udp`: who talked to whom,
//!   frames and bytes each way. TCP conversations are streams (a reused port
//!   pair is a new conversation, as in Wireshark).
//! - **Totals**: frames, bytes, duration, average rate.
//!
//! All of it from [`Facts`]: one hash-map update per table per frame.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::time::Duration;

use super::streams::StreamIndex;
use super::{PackedAddr, TcpSegment};
use crate::inspect::model::{Facts, Frame, LinkType, Protocols, TransportFacts};
use crate::layer::Layer;

/// Conversations remembered per table (IP pairs, UDP pairs). A capture of a
/// scan or a flood has one "conversation" per packet; past this many, frames
/// of new pairs are added up as "other" instead of growing the table (an
/// entry is about 100 bytes: under 10 MB per table at the limit, with the
/// hash table's slack). TCP is bounded by [`super::streams::MAX_STREAMS`].
pub const MAX_CONVERSATIONS: usize = 50_000;

/// Conversations listed per table, the busiest (by bytes) first.
pub const TOP_CONVERSATIONS: usize = 10;

/// Frames and bytes (on the wire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub frames: u64,
    pub bytes: u64,
}

impl Counts {
    fn add(&mut self, bytes: usize) {
        self.frames += 1;
        self.bytes += bytes as u64;
    }

    fn plus(self, other: Counts) -> Counts {
        Counts {
            frames: self.frames + other.frames,
            bytes: self.bytes + other.bytes,
        }
    }
}

/// The names in the protocol hierarchy, as tshark's `io,phs` calls them.
const PROTOCOL_NAMES: [&str; 17] = [
    "eth",
    "sll",
    "null",
    "raw",
    "unknown",
    "vlan",
    "arp",
    "ip",
    "ipv6",
    "icmp",
    "icmpv6",
    "tcp",
    "udp",
    "dns",
    "http",
    "websocket",
    "tls",
];
/// Transport payload no dissector claimed.
const DATA: u8 = PROTOCOL_NAMES.len() as u8;

/// The deepest hierarchy path kept: link, VLAN, network, transport and up to
/// four application protocols fit in a `u64`, one byte per level.
const MAX_DEPTH: usize = 8;

/// The layer a hierarchy name belongs to, for its colour.
pub fn protocol_layer(name: &str) -> Layer {
    match name {
        "eth" | "sll" | "null" | "raw" | "unknown" | "vlan" | "arp" => Layer::DataLink,
        "ip" | "ipv6" | "icmp" | "icmpv6" => Layer::Network,
        "tcp" | "udp" => Layer::Transport,
        _ => Layer::Application,
    }
}

fn code(name: &str) -> u8 {
    PROTOCOL_NAMES
        .iter()
        .position(|n| *n == name)
        .map_or(DATA, |i| i as u8)
}

fn name_of(code: u8) -> &'static str {
    PROTOCOL_NAMES.get(code as usize).copied().unwrap_or("data")
}

/// The frame's protocols, link first, packed one (code + 1) per byte.
fn hierarchy_path(frame: &Frame, facts: &Facts) -> u64 {
    let mut path = 0u64;
    let mut depth = 0;
    let mut push = |c: u8| {
        if depth < MAX_DEPTH {
            path |= u64::from(c + 1) << (8 * depth);
            depth += 1;
        }
    };
    let p = facts.protocols;
    push(code(match frame.link {
        LinkType::Ethernet => "eth",
        LinkType::LinuxSll => "sll",
        LinkType::Null => "null",
        LinkType::RawIp => "raw",
        LinkType::Other(_) => "unknown",
    }));
    for (bit, name) in [
        (Protocols::VLAN, "vlan"),
        (Protocols::ARP, "arp"),
        (Protocols::IPV4, "ip"),
        (Protocols::IPV6, "ipv6"),
        (Protocols::ICMP, "icmp"),
        (Protocols::ICMPV6, "icmpv6"),
        (Protocols::TCP, "tcp"),
        (Protocols::UDP, "udp"),
    ] {
        if p.has(bit) {
            push(code(name));
        }
    }
    let mut application = false;
    for (bit, name) in [
        (Protocols::DNS, "dns"),
        (Protocols::HTTP, "http"),
        (Protocols::WEBSOCKET, "websocket"),
        (Protocols::TLS, "tls"),
    ] {
        if p.has(bit) {
            push(code(name));
            application = true;
        }
    }
    let payload = match facts.transport {
        Some(TransportFacts::Tcp { payload, .. } | TransportFacts::Udp { payload, .. }) => {
            payload.1 > payload.0
        }
        _ => false,
    };
    if payload && !application {
        push(DATA);
    }
    path
}

/// How many protocols a packed path holds.
fn levels(path: u64) -> usize {
    (64 - path.leading_zeros() as usize).div_ceil(8)
}

/// The first `depth` protocols of a packed path.
fn prefix(path: u64, depth: usize) -> u64 {
    if depth >= MAX_DEPTH {
        path
    } else {
        path & ((1u64 << (8 * depth)) - 1)
    }
}

/// One row of the protocol hierarchy.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtocolRow {
    /// 0 for the link layer.
    pub depth: usize,
    pub name: &'static str,
    /// Dotted path from the link layer: `eth.ip.tcp`.
    pub path: String,
    pub counts: Counts,
}

/// Where a conversation's counts go (kept small: there may be many).
#[derive(Clone, Copy, Debug, Default)]
struct ConvCounts {
    /// The key's first endpoint is A (the first sender) when set.
    low_is_a: bool,
    /// Whether the frames had times; then `first` and `last` hold the
    /// earliest and the latest, as nanoseconds since the epoch.
    timed: bool,
    a_to_b: Counts,
    b_to_a: Counts,
    first_frame: u64,
    first: u64,
    last: u64,
}

fn nanos(t: Duration) -> u64 {
    u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
}

impl ConvCounts {
    fn new(low_is_a: bool, first_frame: u64) -> ConvCounts {
        ConvCounts {
            low_is_a,
            first_frame,
            ..ConvCounts::default()
        }
    }

    fn add(&mut self, from_a: bool, bytes: usize, time: Option<Duration>) {
        if from_a {
            self.a_to_b.add(bytes);
        } else {
            self.b_to_a.add(bytes);
        }
        // Earliest and latest, not first and last seen: a merged capture
        // (two pcapng interfaces, each starting its own clock) goes back
        // in time, as the totals already allow for.
        if let Some(t) = time.map(nanos) {
            if !self.timed {
                self.timed = true;
                self.first = t;
                self.last = t;
            }
            self.first = self.first.min(t);
            self.last = self.last.max(t);
        }
    }

    fn total(&self) -> Counts {
        self.a_to_b.plus(self.b_to_a)
    }

    /// First and last frame times.
    fn span(&self) -> Option<(Duration, Duration)> {
        self.timed.then(|| {
            (
                Duration::from_nanos(self.first),
                Duration::from_nanos(self.last),
            )
        })
    }
}

/// Conversations keyed by an unordered pair, bounded by [`MAX_CONVERSATIONS`].
#[derive(Debug, Default)]
struct PairTable {
    map: HashMap<(PackedAddr, PackedAddr), ConvCounts>,
    other: Counts,
}

impl PairTable {
    fn add(
        &mut self,
        src: PackedAddr,
        dst: PackedAddr,
        bytes: usize,
        frame: u64,
        time: Option<Duration>,
    ) {
        let src_low = src <= dst;
        let key = if src_low { (src, dst) } else { (dst, src) };
        let full = self.map.len() >= MAX_CONVERSATIONS;
        let conv = match self.map.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(_) if full => {
                self.other.add(bytes);
                return;
            }
            Entry::Vacant(e) => e.insert(ConvCounts::new(src_low, frame)),
        };
        conv.add(src_low == conv.low_is_a, bytes, time);
    }

    /// The busiest conversations, endpoints written by `name`.
    fn table(
        &self,
        start: Option<Duration>,
        name: impl Fn(&PackedAddr) -> String,
    ) -> ConversationTable {
        let mut top: Vec<(&(PackedAddr, PackedAddr), &ConvCounts)> = self.map.iter().collect();
        sort_top(&mut top, |(_, c)| (c.total().bytes, c.first_frame));
        ConversationTable {
            conversations: self.map.len() as u64,
            top: top
                .into_iter()
                .map(|((low, high), c)| {
                    let (a, b) = if c.low_is_a { (low, high) } else { (high, low) };
                    conversation(name(a), name(b), None, c, start)
                })
                .collect(),
            other: (self.other.frames > 0).then_some(self.other),
        }
    }
}

/// Keeps the [`TOP_CONVERSATIONS`] with the most bytes, earliest first on a tie.
fn sort_top<X>(items: &mut Vec<X>, key: impl Fn(&X) -> (u64, u64)) {
    items.sort_by(|x, y| {
        let (bx, fx) = key(x);
        let (by, fy) = key(y);
        by.cmp(&bx).then(fx.cmp(&fy))
    });
    items.truncate(TOP_CONVERSATIONS);
}

fn conversation(
    a: String,
    b: String,
    stream: Option<u64>,
    c: &ConvCounts,
    start: Option<Duration>,
) -> Conversation {
    Conversation {
        a,
        b,
        stream,
        a_to_b: c.a_to_b,
        b_to_a: c.b_to_a,
        start: c.span().zip(start).map(|((f, _), s)| f.saturating_sub(s)),
        duration: c.span().map(|(f, l)| l.saturating_sub(f)),
    }
}

/// One conversation: A is the side that sent first (for TCP, the client).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    pub a: String,
    pub b: String,
    /// The TCP stream number.
    pub stream: Option<u64>,
    pub a_to_b: Counts,
    pub b_to_a: Counts,
    /// First frame's time, from the start of the capture.
    pub start: Option<Duration>,
    pub duration: Option<Duration>,
}

impl Conversation {
    pub fn total(&self) -> Counts {
        self.a_to_b.plus(self.b_to_a)
    }
}

/// The busiest conversations of one kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConversationTable {
    /// How many conversations there were (up to the limit).
    pub conversations: u64,
    /// The busiest [`TOP_CONVERSATIONS`].
    pub top: Vec<Conversation>,
    /// Frames of conversations past the limit, counted together.
    pub other: Option<Counts>,
}

/// Frames, bytes and time over the whole capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub frames: u64,
    /// Bytes on the wire (frames' original lengths).
    pub bytes: u64,
    /// Bytes the capture holds.
    pub captured_bytes: u64,
    /// From the first frame's time to the last's.
    pub duration: Option<Duration>,
}

impl Totals {
    /// Frames and bits per second, when the capture lasted some time.
    pub fn rates(&self) -> Option<(f64, f64)> {
        let secs = self.duration?.as_secs_f64();
        (secs > 0.0).then(|| (self.frames as f64 / secs, self.bytes as f64 * 8.0 / secs))
    }
}

/// Everything `--stats` shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatsReport {
    pub totals: Totals,
    pub hierarchy: Vec<ProtocolRow>,
    pub ip: ConversationTable,
    pub tcp: ConversationTable,
    pub udp: ConversationTable,
}

/// Accumulates statistics frame by frame.
#[derive(Debug, Default)]
pub struct Stats {
    totals: Totals,
    first: Option<Duration>,
    last: Option<Duration>,
    paths: HashMap<u64, Counts>,
    ip: PairTable,
    udp: PairTable,
    tcp_index: StreamIndex,
    /// TCP conversations by stream number, client as A.
    tcp: Vec<(PackedAddr, PackedAddr, ConvCounts)>,
    tcp_other: Counts,
}

impl Stats {
    pub fn new() -> Stats {
        Stats::default()
    }

    /// Counts one frame.
    pub fn add(&mut self, frame: &Frame, facts: &Facts) {
        let bytes = frame.original_len.max(frame.data.len());
        let time = frame.timestamp;
        self.totals.frames += 1;
        self.totals.bytes += bytes as u64;
        self.totals.captured_bytes += frame.data.len() as u64;
        if let Some(t) = time {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
        self.paths
            .entry(hierarchy_path(frame, facts))
            .or_default()
            .add(bytes);

        let (Some(src), Some(dst)) = (facts.src_ip, facts.dst_ip) else {
            return;
        };
        if facts.protocols.has(Protocols::IPV4) || facts.protocols.has(Protocols::IPV6) {
            let (src, dst) = (PackedAddr::ip(src), PackedAddr::ip(dst));
            self.ip.add(src, dst, bytes, frame.number, time);
        }
        match facts.transport {
            Some(TransportFacts::Udp {
                src_port, dst_port, ..
            }) => self.udp.add(
                PackedAddr::new(SocketAddr::new(src, src_port)),
                PackedAddr::new(SocketAddr::new(dst, dst_port)),
                bytes,
                frame.number,
                time,
            ),
            Some(TransportFacts::Tcp { .. }) => {
                let Some(seg) = TcpSegment::from_frame(frame, facts) else {
                    return;
                };
                let Some(hit) = self.tcp_index.observe(&seg) else {
                    self.tcp_other.add(bytes);
                    return;
                };
                let i = hit.stream as usize;
                if i == self.tcp.len() {
                    self.tcp.push((
                        PackedAddr::new(hit.flow.client),
                        PackedAddr::new(hit.flow.server),
                        ConvCounts::new(true, frame.number),
                    ));
                }
                if let Some((_, _, c)) = self.tcp.get_mut(i) {
                    c.add(hit.from_client, bytes, time);
                }
            }
            _ => {}
        }
    }

    /// The statistics so far.
    pub fn report(&self) -> StatsReport {
        let start = self.first;
        let mut totals = self.totals;
        totals.duration = self.first.zip(self.last).map(|(f, l)| l - f);

        let mut tcp: Vec<(usize, &(PackedAddr, PackedAddr, ConvCounts))> =
            self.tcp.iter().enumerate().collect();
        sort_top(&mut tcp, |(_, (_, _, c))| (c.total().bytes, c.first_frame));
        let tcp = ConversationTable {
            conversations: self.tcp.len() as u64,
            top: tcp
                .into_iter()
                .map(|(i, (a, b, c))| {
                    let (a, b) = (a.socket().to_string(), b.socket().to_string());
                    conversation(a, b, Some(i as u64), c, start)
                })
                .collect(),
            other: (self.tcp_other.frames > 0).then_some(self.tcp_other),
        };

        StatsReport {
            totals,
            hierarchy: self.hierarchy(),
            ip: self.ip.table(start, |a| a.ip_addr().to_string()),
            tcp,
            udp: self.udp.table(start, |a| a.socket().to_string()),
        }
    }

    /// Adds each path's counts to all its prefixes, then lists the tree
    /// depth-first, the biggest child first.
    fn hierarchy(&self) -> Vec<ProtocolRow> {
        let mut nodes: HashMap<u64, Counts> = HashMap::new();
        for (&path, &counts) in &self.paths {
            for depth in 1..=levels(path) {
                let node = nodes.entry(prefix(path, depth)).or_default();
                *node = node.plus(counts);
            }
        }
        let mut rows = Vec::new();
        Self::children(&nodes, 0, 0, "", &mut rows);
        rows
    }

    fn children(
        nodes: &HashMap<u64, Counts>,
        parent: u64,
        depth: usize,
        parent_path: &str,
        rows: &mut Vec<ProtocolRow>,
    ) {
        if depth >= MAX_DEPTH {
            return;
        }
        let mut kids: Vec<(u64, Counts)> = nodes
            .iter()
            .filter(|(k, _)| levels(**k) == depth + 1 && prefix(**k, depth) == parent)
            .map(|(k, c)| (*k, *c))
            .collect();
        kids.sort_by(|(ka, a), (kb, b)| b.frames.cmp(&a.frames).then(ka.cmp(kb)));
        for (key, counts) in kids {
            let code = ((key >> (8 * depth)) & 0xff) as u8 - 1;
            let name = name_of(code);
            let path = if parent_path.is_empty() {
                name.to_string()
            } else {
                format!("{parent_path}.{name}")
            };
            rows.push(ProtocolRow {
                depth,
                name,
                path: path.clone(),
                counts,
            });
            Self::children(nodes, key, depth + 1, &path, rows);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::inspect::model::TcpFlags;

    fn udp_frame(n: u64, src: &str, dst: &str, payload: usize, dns: bool) -> (Frame, Facts) {
        let src: SocketAddr = src.parse().unwrap();
        let dst: SocketAddr = dst.parse().unwrap();
        let frame = Frame {
            number: n,
            timestamp: Some(Duration::from_secs(10 + n)),
            link: LinkType::Ethernet,
            data: vec![0; 42 + payload],
            original_len: 42 + payload,
            comments: Vec::new(),
        };
        let mut protocols = Protocols(Protocols::ETHERNET | Protocols::IPV4 | Protocols::UDP);
        if dns {
            protocols.add(Protocols::DNS);
        }
        let facts = Facts {
            protocols,
            src_ip: Some(src.ip()),
            dst_ip: Some(dst.ip()),
            transport: Some(TransportFacts::Udp {
                src_port: src.port(),
                dst_port: dst.port(),
                length: 8 + payload as u16,
                payload: (42, 42 + payload),
            }),
            captured_len: 42 + payload,
            original_len: 42 + payload,
            ..Facts::default()
        };
        (frame, facts)
    }

    #[test]
    fn a_conversation_spans_its_earliest_to_its_latest_frame() {
        // Two pcapng interfaces each start their own clock, as `netdojo
        // compare --pcap` writes them: the capture goes back in time.
        let mut stats = Stats::new();
        for (n, secs) in [(1, 10), (2, 14), (3, 11)] {
            let (mut f, x) = udp_frame(n, "10.0.0.1:5000", "10.0.0.2:7001", 10, false);
            f.timestamp = Some(Duration::from_secs(secs));
            stats.add(&f, &x);
        }
        let report = stats.report();
        let conv = &report.udp.top[0];
        assert_eq!(conv.start, Some(Duration::ZERO));
        assert_eq!(conv.duration, Some(Duration::from_secs(4)));
        assert_eq!(report.ip.top[0].duration, Some(Duration::from_secs(4)));
    }

    #[test]
    fn the_hierarchy_counts_each_frame_at_every_level() {
        let mut stats = Stats::new();
        let (f, x) = udp_frame(1, "10.0.0.1:5353", "10.0.0.2:53", 30, true);
        stats.add(&f, &x);
        let (f, x) = udp_frame(2, "10.0.0.2:53", "10.0.0.1:5353", 50, true);
        stats.add(&f, &x);
        let (f, x) = udp_frame(3, "10.0.0.1:9", "10.0.0.3:9", 10, false);
        stats.add(&f, &x);
        let arp = Frame {
            number: 4,
            timestamp: Some(Duration::from_secs(20)),
            link: LinkType::Ethernet,
            data: vec![0; 42],
            original_len: 60,
            comments: Vec::new(),
        };
        let arp_facts = Facts {
            protocols: Protocols(Protocols::ETHERNET | Protocols::ARP),
            ..Facts::default()
        };
        stats.add(&arp, &arp_facts);
        let report = stats.report();
        let rows: Vec<(usize, &str, u64, u64)> = report
            .hierarchy
            .iter()
            .map(|r| (r.depth, r.path.as_str(), r.counts.frames, r.counts.bytes))
            .collect();
        assert_eq!(
            rows,
            [
                (0, "eth", 4, 72 + 92 + 52 + 60),
                (1, "eth.ip", 3, 72 + 92 + 52),
                (2, "eth.ip.udp", 3, 72 + 92 + 52),
                (3, "eth.ip.udp.dns", 2, 72 + 92),
                (3, "eth.ip.udp.data", 1, 52),
                (1, "eth.arp", 1, 60),
            ]
        );
        assert_eq!(report.totals.frames, 4);
        assert_eq!(report.totals.bytes, 276);
        assert_eq!(report.totals.captured_bytes, 258);
        assert_eq!(report.totals.duration, Some(Duration::from_secs(9)));

        assert_eq!(report.udp.conversations, 2);
        let dns = &report.udp.top[0];
        assert_eq!(
            (dns.a.as_str(), dns.b.as_str()),
            ("10.0.0.1:5353", "10.0.0.2:53")
        );
        assert_eq!(
            dns.a_to_b,
            Counts {
                frames: 1,
                bytes: 72
            }
        );
        assert_eq!(
            dns.b_to_a,
            Counts {
                frames: 1,
                bytes: 92
            }
        );
        assert_eq!(dns.start, Some(Duration::ZERO));
        assert_eq!(dns.duration, Some(Duration::from_secs(1)));
        assert_eq!(report.ip.conversations, 2);
        assert_eq!(report.ip.top[0].total().frames, 2);
    }

    #[test]
    fn tcp_conversations_are_streams_with_the_client_as_a() {
        let mut stats = Stats::new();
        let segs = [
            segment(1, true, 100, 0, TcpFlags::SYN, b""),
            segment(2, false, 500, 101, TcpFlags::SYN | TcpFlags::ACK, b""),
            segment(3, true, 101, 501, TcpFlags::FIN | TcpFlags::ACK, b"abc"),
            segment(4, false, 501, 105, TcpFlags::FIN | TcpFlags::ACK, b""),
            segment(5, true, 9000, 0, TcpFlags::SYN, b""),
        ];
        for (f, x) in &segs {
            stats.add(f, x);
        }
        let report = stats.report();
        assert_eq!(report.tcp.conversations, 2);
        let first = &report.tcp.top[0];
        assert_eq!(first.stream, Some(0));
        assert_eq!(first.a, "10.0.0.1:40000");
        assert_eq!(
            first.a_to_b,
            Counts {
                frames: 2,
                bytes: 83
            }
        );
        assert_eq!(
            first.b_to_a,
            Counts {
                frames: 2,
                bytes: 80
            }
        );
        assert_eq!(report.tcp.top[1].stream, Some(1));
        assert_eq!(report.hierarchy[0].name, "raw");
        assert_eq!(report.hierarchy[2].path, "raw.ip.tcp");
    }

    #[test]
    fn the_top_list_is_bounded_and_sorted_by_bytes() {
        let mut stats = Stats::new();
        for i in 0..(TOP_CONVERSATIONS as u64 + 5) {
            let (f, x) = udp_frame(
                i + 1,
                &format!("10.0.1.{i}:1000"),
                "10.0.0.2:53",
                i as usize,
                false,
            );
            stats.add(&f, &x);
        }
        let report = stats.report();
        assert_eq!(report.udp.conversations, TOP_CONVERSATIONS as u64 + 5);
        assert_eq!(report.udp.top.len(), TOP_CONVERSATIONS);
        assert!(
            report
                .udp
                .top
                .windows(2)
                .all(|w| w[0].total().bytes >= w[1].total().bytes)
        );
    }
}
