//! TCP streams: which conversation a segment belongs to, numbered like
//! Wireshark's `tcp.stream`.
//!
//! A stream is keyed by its two endpoints (address and port), in either
//! order: both directions of a connection are one stream. Streams are
//! numbered from 0 in order of first appearance. A port pair can be used
//! again once a connection is over: a fresh SYN after a FIN or RST on the
//! same endpoints starts a new stream, as in Wireshark.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;

use super::{PackedAddr, TcpSegment};
use crate::inspect::model::TcpFlags;

/// How many streams the index numbers. Each costs about 56 bytes of hash
/// table (plus slack), so this bounds the index near 10 MB even for a
/// capture of a port scan, where every packet is a new "stream"; streams
/// past it are counted, not numbered.
pub const MAX_STREAMS: usize = 100_000;

/// A stream's two endpoints, lower first, so both directions share a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    low: PackedAddr,
    high: PackedAddr,
}

impl FlowKey {
    /// The key of the stream a segment from `src` to `dst` belongs to, and
    /// whether `src` is the key's lower endpoint.
    pub fn new(src: SocketAddr, dst: SocketAddr) -> (FlowKey, bool) {
        let (src, dst) = (PackedAddr::new(src), PackedAddr::new(dst));
        if src <= dst {
            (
                FlowKey {
                    low: src,
                    high: dst,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    low: dst,
                    high: src,
                },
                false,
            )
        }
    }
}

/// A stream's number and its two endpoints, client first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    /// The stream's number, from 0.
    pub stream: u64,
    /// The side that opened the connection (sent the first SYN); when the
    /// capture starts mid-connection, the side with the higher port, which is
    /// usually the ephemeral one.
    pub client: SocketAddr,
    pub server: SocketAddr,
}

/// What the index keeps per stream, packed small: its number, which
/// endpoint is the client, and whether it is over (so that a new SYN
/// starts a new stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FlowState {
    stream: u32,
    client_is_low: bool,
    /// FIN seen from the client, from the server; RST seen from either.
    ended: u8,
    /// The client's initial sequence number, when its SYN was seen: a SYN
    /// with the same number is a retransmission, not a new connection.
    client_isn: Option<u32>,
}

const FIN_FROM_CLIENT: u8 = 1;
const FIN_FROM_SERVER: u8 = 2;
const RESET: u8 = 4;

impl FlowState {
    /// A new stream, numbered `stream`, whose first segment is `seg`.
    fn new(stream: u32, seg: &TcpSegment, src_is_low: bool) -> FlowState {
        let syn = seg.flags.has(TcpFlags::SYN);
        let ack = seg.flags.has(TcpFlags::ACK);
        let src_is_client = if syn {
            // SYN: the sender is opening; SYN-ACK: the receiver did.
            !ack
        } else {
            // Mid-connection: servers listen on the lower, well-known port.
            seg.src.port() > seg.dst.port() || (seg.src.port() == seg.dst.port() && src_is_low)
        };
        FlowState {
            stream,
            client_is_low: src_is_client == src_is_low,
            ended: 0,
            client_isn: None,
        }
    }

    /// Whether a segment whose source is the key's lower endpoint (or not)
    /// was sent by the client.
    fn sent_by_client(&self, src_is_low: bool) -> bool {
        src_is_low == self.client_is_low
    }

    /// Whether `seg` opens a new connection on these endpoints: a SYN
    /// (without ACK) after this one ended, that is not a retransmission of
    /// the SYN that opened it.
    fn starts_new_stream(&self, seg: &TcpSegment, src_is_low: bool) -> bool {
        let opening = seg.flags.has(TcpFlags::SYN) && !seg.flags.has(TcpFlags::ACK);
        let same_syn = self.sent_by_client(src_is_low) && self.client_isn == Some(seg.seq);
        self.ended != 0 && opening && !same_syn
    }

    /// Remembers what `seg` says about the connection's state.
    fn note(&mut self, seg: &TcpSegment, src_is_low: bool) {
        let from_client = self.sent_by_client(src_is_low);
        let flags = seg.flags;
        if flags.has(TcpFlags::SYN) && !flags.has(TcpFlags::ACK) && from_client {
            self.client_isn.get_or_insert(seg.seq);
        }
        if flags.has(TcpFlags::FIN) {
            self.ended |= if from_client {
                FIN_FROM_CLIENT
            } else {
                FIN_FROM_SERVER
            };
        }
        if flags.has(TcpFlags::RST) {
            self.ended |= RESET;
        }
    }

    /// The stream's number and endpoints.
    fn flow(&self, key: &FlowKey) -> Flow {
        let (client, server) = if self.client_is_low {
            (key.low, key.high)
        } else {
            (key.high, key.low)
        };
        Flow {
            stream: u64::from(self.stream),
            client: client.socket(),
            server: server.socket(),
        }
    }
}

/// Which stream a segment belongs to, and its direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamHit {
    pub stream: u64,
    pub from_client: bool,
    /// The stream's endpoints, as known after this segment.
    pub flow: Flow,
    /// This segment is the stream's first.
    pub first: bool,
}

/// Numbers every TCP stream of a capture, up to [`MAX_STREAMS`].
#[derive(Debug)]
pub struct StreamIndex {
    flows: HashMap<FlowKey, FlowState>,
    streams: u64,
    limit: usize,
    /// Segments of streams that came after the limit, which got no number.
    unnumbered_segments: u64,
}

impl Default for StreamIndex {
    fn default() -> Self {
        StreamIndex::new()
    }
}

impl StreamIndex {
    /// An empty index, limited to [`MAX_STREAMS`].
    pub fn new() -> StreamIndex {
        StreamIndex::with_limit(MAX_STREAMS)
    }

    /// An empty index numbering at most `limit` streams (for tests).
    pub fn with_limit(limit: usize) -> StreamIndex {
        StreamIndex {
            flows: HashMap::new(),
            streams: 0,
            limit: limit.min(MAX_STREAMS),
            unnumbered_segments: 0,
        }
    }

    /// The stream `seg` belongs to, numbering a new one if it opens one;
    /// `None` once [`MAX_STREAMS`] streams are numbered and this is another.
    pub fn observe(&mut self, seg: &TcpSegment) -> Option<StreamHit> {
        let (key, src_is_low) = FlowKey::new(seg.src, seg.dst);
        let full = self.streams >= self.limit as u64;
        let next = self.streams as u32;
        let mut first = false;
        let state = match self.flows.entry(key) {
            Entry::Occupied(entry) => {
                let state = entry.into_mut();
                if state.starts_new_stream(seg, src_is_low) {
                    if full {
                        self.unnumbered_segments += 1;
                        return None;
                    }
                    // Reusing the endpoints replaces the entry: memory stays the same.
                    *state = FlowState::new(next, seg, src_is_low);
                    self.streams += 1;
                    first = true;
                }
                state
            }
            Entry::Vacant(_) if full => {
                self.unnumbered_segments += 1;
                return None;
            }
            Entry::Vacant(entry) => {
                self.streams += 1;
                first = true;
                entry.insert(FlowState::new(next, seg, src_is_low))
            }
        };
        state.note(seg, src_is_low);
        Some(StreamHit {
            stream: u64::from(state.stream),
            from_client: state.sent_by_client(src_is_low),
            flow: state.flow(&key),
            first,
        })
    }

    /// How many streams have been numbered.
    pub fn streams(&self) -> u64 {
        self.streams
    }

    /// Whether the limit turned streams away (and how many segments).
    pub fn unnumbered_segments(&self) -> u64 {
        self.unnumbered_segments
    }

    /// The limit this index was made with.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Follows one stream by number through a capture.
///
/// Until the stream appears, every stream is indexed (to count up to it);
/// from then on only its endpoints are remembered and the index is dropped,
/// so following stream 0 of a huge capture costs almost nothing.
#[derive(Debug)]
pub struct StreamFinder {
    target: u64,
    state: FinderState,
}

#[derive(Debug)]
enum FinderState {
    Searching(StreamIndex),
    Following(FlowKey, FlowState, Flow),
    /// The stream ended and a new connection took its endpoints.
    Over(Flow),
}

/// Why the stream asked for is not in the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamNotFound {
    pub wanted: u64,
    /// Streams numbered in the capture.
    pub streams: u64,
    /// Set when [`MAX_STREAMS`] stopped the numbering: the stream may exist.
    pub limit: Option<usize>,
}

impl std::fmt::Display for StreamNotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "there is no TCP stream {} in this capture: ",
            self.wanted
        )?;
        match self.streams {
            0 => write!(f, "it has no TCP streams")?,
            1 => write!(f, "it has 1 TCP stream, numbered 0")?,
            n => write!(f, "it has {n} TCP streams, numbered 0 to {}", n - 1)?,
        }
        if let Some(limit) = self.limit {
            write!(
                f,
                " (netdojo numbers only the first {limit} streams; later ones were not counted)"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for StreamNotFound {}

impl StreamFinder {
    /// Looks for stream `target`.
    pub fn new(target: u64) -> StreamFinder {
        StreamFinder::with_index(target, StreamIndex::new())
    }

    /// Looks for stream `target` with this (empty) index.
    pub fn with_index(target: u64, index: StreamIndex) -> StreamFinder {
        StreamFinder {
            target,
            state: FinderState::Searching(index),
        }
    }

    /// If `seg` belongs to the stream: whether the client sent it.
    pub fn observe(&mut self, seg: &TcpSegment) -> Option<bool> {
        match &mut self.state {
            FinderState::Searching(index) => {
                let hit = index.observe(seg)?;
                if hit.stream != self.target {
                    return None;
                }
                let (key, _) = FlowKey::new(seg.src, seg.dst);
                let state = *index.flows.get(&key)?;
                // From here on only this stream matters: drop the index.
                self.state = FinderState::Following(key, state, hit.flow);
                Some(hit.from_client)
            }
            FinderState::Following(key, state, flow) => {
                let (this, src_is_low) = FlowKey::new(seg.src, seg.dst);
                if this != *key {
                    return None;
                }
                if state.starts_new_stream(seg, src_is_low) {
                    self.state = FinderState::Over(*flow);
                    return None;
                }
                state.note(seg, src_is_low);
                Some(state.sent_by_client(src_is_low))
            }
            FinderState::Over(_) => None,
        }
    }

    /// The stream's endpoints, once it has been seen.
    pub fn flow(&self) -> Option<&Flow> {
        match &self.state {
            FinderState::Searching(_) => None,
            FinderState::Following(_, _, flow) | FinderState::Over(flow) => Some(flow),
        }
    }

    /// At the end of the capture: the stream, or why it is not there.
    pub fn result(&self) -> Result<Flow, StreamNotFound> {
        match &self.state {
            FinderState::Searching(index) => Err(StreamNotFound {
                wanted: self.target,
                streams: index.streams(),
                limit: (index.unnumbered_segments() > 0).then_some(index.limit()),
            }),
            FinderState::Following(_, _, flow) | FinderState::Over(flow) => Ok(*flow),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn observe(index: &mut StreamIndex, n: u64, from_client: bool, seq: u32, flags: u8) -> u64 {
        let (frame, facts) = segment(n, from_client, seq, 0, flags, b"");
        let seg = TcpSegment::from_frame(&frame, &facts).unwrap();
        index.observe(&seg).unwrap().stream
    }

    #[test]
    fn both_directions_are_one_stream_and_a_new_syn_after_fin_is_another() {
        let mut index = StreamIndex::new();
        assert_eq!(observe(&mut index, 1, true, 100, S), 0);
        assert_eq!(observe(&mut index, 2, false, 500, S | A), 0);
        // A retransmitted SYN is the same stream.
        assert_eq!(observe(&mut index, 3, true, 100, S), 0);
        assert_eq!(observe(&mut index, 4, true, 101, F | A), 0);
        assert_eq!(observe(&mut index, 5, false, 501, F | A), 0);
        // The same SYN again, after the close, is still a retransmission.
        assert_eq!(observe(&mut index, 6, true, 100, S), 0);
        // A SYN with a new ISN on the same endpoints: a new stream.
        assert_eq!(observe(&mut index, 7, true, 9000, S), 1);
        assert_eq!(observe(&mut index, 8, false, 700, S | A), 1);
        assert_eq!(index.streams(), 2);
    }

    #[test]
    fn a_syn_on_an_open_connection_does_not_start_a_stream() {
        let mut index = StreamIndex::new();
        assert_eq!(observe(&mut index, 1, true, 100, S), 0);
        assert_eq!(observe(&mut index, 2, true, 900, S), 0);
        assert_eq!(index.streams(), 1);
    }

    #[test]
    fn the_client_is_who_sent_the_syn_or_else_the_higher_port() {
        let mut index = StreamIndex::new();
        let (frame, facts) = segment(1, false, 500, 101, S | A, b"");
        let seg = TcpSegment::from_frame(&frame, &facts).unwrap();
        let hit = index.observe(&seg).unwrap();
        assert!(!hit.from_client);
        assert_eq!(hit.flow.client.port(), 40000);

        let mut index = StreamIndex::new();
        let (frame, facts) = segment(1, false, 500, 101, A, b"x");
        let seg = TcpSegment::from_frame(&frame, &facts).unwrap();
        let hit = index.observe(&seg).unwrap();
        assert_eq!(hit.flow.server.port(), 80);
    }

    #[test]
    fn the_limit_stops_numbering_and_says_so() {
        let mut index = StreamIndex::with_limit(1);
        let (f1, x1) = segment(1, true, 1, 0, S, b"");
        let other = (std::net::Ipv4Addr::new(10, 0, 0, 9), 5555);
        let (f2, x2) = segment_between(2, other, SERVER, true, 1, 0, S, b"");
        assert!(
            index
                .observe(&TcpSegment::from_frame(&f1, &x1).unwrap())
                .is_some()
        );
        assert!(
            index
                .observe(&TcpSegment::from_frame(&f2, &x2).unwrap())
                .is_none()
        );
        assert_eq!(index.unnumbered_segments(), 1);

        let mut finder = StreamFinder::with_index(3, StreamIndex::with_limit(1));
        finder.observe(&TcpSegment::from_frame(&f1, &x1).unwrap());
        finder.observe(&TcpSegment::from_frame(&f2, &x2).unwrap());
        let err = finder.result().unwrap_err();
        assert_eq!(err.streams, 1);
        assert!(err.to_string().contains("numbered 0"), "{err}");
        assert!(
            err.to_string().contains("only the first 1 streams"),
            "{err}"
        );
    }

    #[test]
    fn the_finder_keeps_to_its_stream_and_stops_when_the_endpoints_are_reused() {
        let mut finder = StreamFinder::new(0);
        let segs = [
            segment(1, true, 100, 0, S, b""),
            segment(2, false, 500, 101, S | A, b""),
            segment(3, true, 101, 501, F | A, b""),
            segment(4, false, 501, 102, R, b""),
            segment(5, true, 7000, 0, S, b""),
            segment(6, false, 800, 7001, S | A, b""),
        ];
        let got: Vec<Option<bool>> = segs
            .iter()
            .map(|(f, x)| finder.observe(&TcpSegment::from_frame(f, x).unwrap()))
            .collect();
        assert_eq!(
            got,
            [Some(true), Some(false), Some(true), Some(false), None, None]
        );
        assert_eq!(finder.result().unwrap().stream, 0);
        let err = StreamFinder::new(2).result().unwrap_err();
        assert_eq!(
            err.to_string(),
            "there is no TCP stream 2 in this capture: it has no TCP streams"
        );
    }
}
