//! The simulated link between the two hosts: a wire netdojo controls.
//!
//! Each direction is a transmitter and a wire. The transmitter sends one
//! frame at a time at the link's bandwidth (a FIFO: a frame waits for the ones
//! before it), and holds at most [`TX_QUEUE_FRAMES`] frames; when it is full
//! the host's stack must wait, as a real host waits for its network card.
//! Then the wire decides, with its own seeded random numbers, what happens to
//! the frame on the way:
//!
//! - **loss**: it never arrives;
//! - **delay** and **jitter**: it arrives `delay` plus up to `jitter` later,
//!   but never before a frame that entered the link ahead of it (jitter alone
//!   does not reorder: a real link is a pipe, not a bag);
//! - **reorder**: it is held back [`REORDER_HOLD`], and later frames overtake it
//!   (on the relay's wall clock, until the next datagram has overtaken it: see
//!   [`Link::for_datagrams`]);
//! - **duplicate**: it arrives twice;
//! - **corrupt**: one bit of its IP packet is flipped, which the receiver's IP,
//!   TCP or UDP checksum then catches (Ethernet's own CRC would catch a flip
//!   anywhere; the simulated frames carry none, so the flip stays where the
//!   checksums look).
//!
//! ARP is exempt from all of that but the delay: one lost ARP request costs
//! smoltcp a whole second before it asks again, which would swamp what the lab
//! is about (TCP against UDP), and real links rarely lose the first frame of a
//! conversation on purpose.
//!
//! Every frame that enters is counted and, when asked, kept with its fate, for
//! the ladder (`--trace`) and the capture (`--pcap`).
//!
//! The link also reads each TCP segment as its sender sent it, and says
//! whether it was a **retransmission** or a **zero-window probe**; see
//! [`SegmentRole`] for the rules, and why they are not quite Wireshark's.

use std::cell::RefCell;
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use super::settings::Impairments;

/// Frames a transmitter holds before its host must wait: like a network
/// card's transmit ring. Deep enough that TCP's window never fills it at the
/// lecture's settings; a UDP sender, which has no window, fills it and is
/// then paced by the link, as a real UDP sender is by its socket buffer.
pub const TX_QUEUE_FRAMES: usize = 64;

/// How long a reordered frame is held back, in microseconds: 5 ms lets the
/// next few frames overtake it at 10 Mbit/s (about 0.8 ms per 1,000-byte
/// frame), and is far below TCP's 1 s minimum retransmission timeout, so a
/// reordered segment is late, not lost.
pub const REORDER_HOLD_US: u64 = 5_000;
/// [`REORDER_HOLD_US`] as a duration, for documentation and sentences.
pub const REORDER_HOLD: std::time::Duration = std::time::Duration::from_micros(REORDER_HOLD_US);

/// The longest the relay holds a datagram back waiting for a later one to
/// overtake it, in microseconds. Between real programs the next datagram may
/// be a long time coming (a person typing into `nc -u`); after this the held
/// one goes on in its place, not overtaken, and is counted so.
pub const RELAY_MAX_HOLD_US: u64 = 1_000_000;

/// The largest frame the hosts send: Ethernet's 1,500-byte MTU plus its
/// 14-byte header.
pub const MAX_FRAME: usize = 1514;

/// Bytes of the Ethernet header: corruption flips bits after it.
const ETHERNET_HEADER: usize = 14;

/// The two hosts on the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Host A, the sender, 127.0.0.1.
    A,
    /// Host B, the receiver, 127.0.0.2.
    B,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }

    /// The other host.
    pub fn peer(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// What a frame carried, read from its headers as it entered the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// An ARP request or reply.
    Arp,
    /// A TCP segment.
    Tcp {
        seq: u32,
        ack: u32,
        syn: bool,
        fin: bool,
        rst: bool,
        has_ack: bool,
        payload: usize,
        window: u16,
    },
    /// A UDP datagram; `message` is netdojo's sequence number if it is one of
    /// its numbered messages.
    Udp {
        payload: usize,
        message: Option<u64>,
    },
    /// Anything else.
    Other,
}

/// One frame that entered the link, and what the link did to it.
#[derive(Clone, Debug)]
pub struct FrameRecord {
    /// Order of entry, from 0.
    pub id: u64,
    /// When it entered the link, in virtual microseconds.
    pub at_us: u64,
    /// The host that sent it.
    pub from: Side,
    /// Its length in bytes.
    pub len: usize,
    pub kind: FrameKind,
    /// A TCP segment that re-sends sequence numbers its sender had already
    /// sent as part of its stream (see [`SegmentRole::Retransmission`]).
    pub retransmission: bool,
    /// A TCP zero-window probe (see [`SegmentRole::WindowProbe`]).
    pub window_probe: bool,
    /// When it reached the other host; `None` if it was lost.
    pub arrival_us: Option<u64>,
    /// When its copy arrived, if it was duplicated.
    pub duplicate_us: Option<u64>,
    /// Held back so that later frames overtook it.
    pub held_back: bool,
    /// The byte and bit flipped on the way, if it was corrupted.
    pub corrupted: Option<(usize, u8)>,
    /// The frame as it entered the link (kept only when frames are recorded).
    pub bytes: Vec<u8>,
}

/// Counts for one direction of the link, or both added up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounts {
    /// Frames that entered the link.
    pub frames: u64,
    /// Frames lost on the way.
    pub lost: u64,
    /// Frames that arrived twice.
    pub duplicated: u64,
    /// Frames held back and overtaken.
    pub reordered: u64,
    /// Frames with a flipped bit.
    pub corrupted: u64,
    /// ARP frames (exempt from impairment).
    pub arp: u64,
    /// TCP segments that re-sent sequence numbers already sent.
    pub tcp_retransmissions: u64,
    /// TCP zero-window probes (not retransmissions, see [`SegmentRole`]).
    pub tcp_window_probes: u64,
    /// netdojo's numbered messages (UDP) among the frames that entered.
    pub numbered: u64,
    /// ... that the link lost.
    pub numbered_lost: u64,
    /// ... that the link corrupted (every copy, if also duplicated).
    pub numbered_corrupted: u64,
    /// ... that the link duplicated.
    pub numbered_duplicated: u64,
    /// ... that the link held back.
    pub numbered_held_back: u64,
    /// ... held back on the relay, but sent on in their place after
    /// [`RELAY_MAX_HOLD_US`] because nothing came to overtake them.
    pub numbered_not_overtaken: u64,
}

impl LinkCounts {
    fn add(self, o: LinkCounts) -> LinkCounts {
        LinkCounts {
            frames: self.frames + o.frames,
            lost: self.lost + o.lost,
            duplicated: self.duplicated + o.duplicated,
            reordered: self.reordered + o.reordered,
            corrupted: self.corrupted + o.corrupted,
            arp: self.arp + o.arp,
            tcp_retransmissions: self.tcp_retransmissions + o.tcp_retransmissions,
            tcp_window_probes: self.tcp_window_probes + o.tcp_window_probes,
            numbered: self.numbered + o.numbered,
            numbered_lost: self.numbered_lost + o.numbered_lost,
            numbered_corrupted: self.numbered_corrupted + o.numbered_corrupted,
            numbered_duplicated: self.numbered_duplicated + o.numbered_duplicated,
            numbered_held_back: self.numbered_held_back + o.numbered_held_back,
            numbered_not_overtaken: self.numbered_not_overtaken + o.numbered_not_overtaken,
        }
    }
}

/// What the link decided for one frame, as [`Link::send`] returns it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fate {
    /// It will never arrive.
    pub lost: bool,
    /// It will arrive twice.
    pub duplicated: bool,
    /// It is held back so that later frames overtake it.
    pub held_back: bool,
    /// The byte and bit flipped on the way.
    pub corrupted: Option<(usize, u8)>,
}

/// A frame on the wire, ordered by arrival time, then by order of entry.
#[derive(PartialEq, Eq)]
struct InFlight {
    arrival_us: u64,
    order: u64,
    bytes: Vec<u8>,
    /// A bit was flipped: the receiving host's checksums will refuse it.
    damaged: bool,
    /// One of netdojo's numbered messages.
    numbered: bool,
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // BinaryHeap is a max-heap: reverse, so the earliest arrival is on top.
        (other.arrival_us, other.order).cmp(&(self.arrival_us, self.order))
    }
}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// One direction: a transmitter, a wire, and the frames on it.
struct Direction {
    rng: ChaCha8Rng,
    /// When the transmitter finishes the frames it holds, oldest first.
    transmitting: VecDeque<u64>,
    /// When the transmitter is free again.
    busy_until_us: u64,
    /// The latest arrival of a frame that was not held back: later frames
    /// arrive no earlier (the wire is a FIFO).
    last_arrival_us: u64,
    in_flight: BinaryHeap<InFlight>,
    /// Relay only: frames held back until a later one overtakes them, each
    /// with the time it goes on anyway.
    held: Vec<InFlight>,
    counts: LinkCounts,
    /// What this direction's sender has sent and heard, for [`SegmentRole`].
    tcp: TcpSender,
}

impl Direction {
    fn new(seed: u64) -> Self {
        Direction {
            rng: ChaCha8Rng::seed_from_u64(seed),
            transmitting: VecDeque::new(),
            busy_until_us: 0,
            last_arrival_us: 0,
            in_flight: BinaryHeap::new(),
            held: Vec::new(),
            counts: LinkCounts::default(),
            tcp: TcpSender::default(),
        }
    }

    fn drain_transmitter(&mut self, now_us: u64) {
        while self.transmitting.front().is_some_and(|&t| t <= now_us) {
            self.transmitting.pop_front();
        }
    }

    /// The earliest of the frames on the wire and (relay) the held ones.
    fn next_arrival(&self) -> Option<u64> {
        let wire = self.in_flight.peek().map(|f| f.arrival_us);
        let held = self.held.iter().map(|f| f.arrival_us).min();
        [wire, held].into_iter().flatten().min()
    }

    /// Relay: held frames whose longest hold is over go on, not overtaken.
    fn expire_held(&mut self, now_us: u64) {
        let mut i = 0;
        while i < self.held.len() {
            if self.held[i].arrival_us <= now_us {
                let f = self.held.remove(i);
                if f.numbered {
                    self.counts.numbered_not_overtaken += 1;
                }
                self.in_flight.push(f);
            } else {
                i += 1;
            }
        }
    }
}

/// The link: two directions and, optionally, the record of every frame.
pub struct Link {
    impairments: Impairments,
    /// Carrying bare UDP payloads (the relay), not Ethernet frames: nothing
    /// is ARP, and corruption may hit any byte.
    datagrams: bool,
    directions: [Direction; 2],
    keep_frames: bool,
    frames: Vec<FrameRecord>,
    entered: u64,
    in_flight_order: u64,
}

impl Link {
    /// A link with these impairments, its random choices seeded by `seed`
    /// (each direction has its own stream, so the receiver's ACKs do not
    /// change which of the sender's frames are lost).
    pub fn new(impairments: Impairments, seed: u64, keep_frames: bool) -> Self {
        Link {
            impairments,
            datagrams: false,
            directions: [
                Direction::new(seed.wrapping_mul(2)),
                Direction::new(seed.wrapping_mul(2).wrapping_add(1)),
            ],
            keep_frames,
            frames: Vec::new(),
            entered: 0,
            in_flight_order: 0,
        }
    }

    /// A link that carries bare datagrams (for `udp relay`) rather than
    /// Ethernet frames.
    ///
    /// It runs on the wall clock, so a held-back datagram waits for the next
    /// datagram that will arrive and goes on right after it (or after
    /// [`RELAY_MAX_HOLD_US`] if none comes), instead of waiting a fixed
    /// [`REORDER_HOLD`]: five milliseconds would reorder nothing at ten
    /// datagrams a second, and whether anything overtook it would depend on
    /// how the machine's scheduler treated the relay. This way the same seed
    /// reorders the same datagrams at any rate.
    pub fn for_datagrams(impairments: Impairments, seed: u64) -> Self {
        Link {
            datagrams: true,
            ..Link::new(impairments, seed, false)
        }
    }

    /// How many frames are on the wire, both directions.
    pub fn in_flight(&self) -> usize {
        self.directions
            .iter()
            .map(|d| d.in_flight.len() + d.held.len())
            .sum()
    }

    /// When the next frame reaches either side.
    pub fn next_arrival_any(&self) -> Option<u64> {
        [self.next_arrival(Side::A), self.next_arrival(Side::B)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Counts for frames sent by `side`.
    pub fn counts(&self, side: Side) -> LinkCounts {
        self.directions[side.index()].counts
    }

    /// Counts for both directions.
    pub fn total(&self) -> LinkCounts {
        self.counts(Side::A).add(self.counts(Side::B))
    }

    /// Every frame that entered, if frames were kept.
    pub fn take_frames(&mut self) -> Vec<FrameRecord> {
        std::mem::take(&mut self.frames)
    }

    /// Whether `side`'s transmitter is full right now.
    pub fn transmitter_full(&mut self, side: Side, now_us: u64) -> bool {
        let d = &mut self.directions[side.index()];
        d.drain_transmitter(now_us);
        d.transmitting.len() >= TX_QUEUE_FRAMES
    }

    /// When `side`'s transmitter next has room, if it is full now.
    pub fn transmitter_free_at(&mut self, side: Side, now_us: u64) -> Option<u64> {
        if self.transmitter_full(side, now_us) {
            self.directions[side.index()].transmitting.front().copied()
        } else {
            None
        }
    }

    /// When the next frame reaches `side`.
    pub fn next_arrival(&self, to: Side) -> Option<u64> {
        self.directions[to.peer().index()].next_arrival()
    }

    /// Whether nothing is being sent or is on the way from `from`.
    pub fn idle_from(&mut self, from: Side, now_us: u64) -> bool {
        let d = &mut self.directions[from.index()];
        d.drain_transmitter(now_us);
        d.transmitting.is_empty() && d.in_flight.is_empty() && d.held.is_empty()
    }

    /// The next frame that has reached `to` by `now_us`, if any.
    pub fn receive(&mut self, to: Side, now_us: u64) -> Option<Vec<u8>> {
        let d = &mut self.directions[to.peer().index()];
        d.expire_held(now_us);
        if d.in_flight.peek()?.arrival_us > now_us {
            return None;
        }
        let f = d.in_flight.pop()?;
        if !self.datagrams && !f.damaged {
            // What `to` now knows of its peer's window (a damaged frame is
            // refused by its checksums, so it tells the host nothing).
            if let FrameKind::Tcp {
                ack,
                has_ack: true,
                window,
                ..
            } = classify(&f.bytes)
            {
                self.directions[to.index()].tcp.heard(ack, window);
            }
        }
        Some(f.bytes)
    }

    /// A frame from `from` enters the link at `now_us`; returns what the link
    /// will do to it.
    pub fn send(&mut self, from: Side, now_us: u64, mut frame: Vec<u8>) -> Fate {
        let imp = &self.impairments;
        let d = &mut self.directions[from.index()];
        d.drain_transmitter(now_us);

        // The transmitter: one frame at a time, at the link's bandwidth.
        let start = now_us.max(d.busy_until_us);
        let serialize = imp
            .bandwidth
            .map_or(0, |bps| (frame.len() as u64 * 8 * 1_000_000).div_ceil(bps));
        let done = start + serialize;
        d.busy_until_us = done;
        d.transmitting.push_back(done);

        // Every frame draws the same random numbers, whatever the settings,
        // so that turning on one impairment does not change which frames
        // another one hits.
        let lost = d.rng.random_bool(imp.loss / 100.0);
        let jitter = d.rng.random::<f64>();
        let held_back = d.rng.random_bool(imp.reorder / 100.0);
        let duplicated = d.rng.random_bool(imp.duplicate / 100.0);
        let corrupted = d.rng.random_bool(imp.corrupt / 100.0);
        let flip_at = d.rng.random::<f64>();
        let flip_bit: u8 = d.rng.random_range(0..8);

        let kind = if self.datagrams {
            classify_datagram(&frame)
        } else {
            classify(&frame)
        };
        let role = d.tcp.role(&kind);
        let retransmission = role == SegmentRole::Retransmission;
        let window_probe = role == SegmentRole::WindowProbe;
        let numbered = matches!(
            kind,
            FrameKind::Udp {
                message: Some(_),
                ..
            }
        );
        d.counts.frames += 1;
        d.counts.tcp_retransmissions += u64::from(retransmission);
        d.counts.tcp_window_probes += u64::from(window_probe);
        d.counts.numbered += u64::from(numbered);
        let delay = imp.delay.as_micros() as u64;
        let mut record = FrameRecord {
            id: self.entered,
            at_us: now_us,
            from,
            len: frame.len(),
            kind,
            retransmission,
            window_probe,
            arrival_us: None,
            duplicate_us: None,
            held_back: false,
            corrupted: None,
            bytes: Vec::new(),
        };
        self.entered += 1;
        if self.keep_frames {
            record.bytes = frame.clone();
        }

        let exempt = record.kind == FrameKind::Arp;
        if exempt {
            d.counts.arp += 1;
        }
        let mut fate = Fate::default();
        if !exempt && lost {
            d.counts.lost += 1;
            d.counts.numbered_lost += u64::from(numbered);
            fate.lost = true;
        } else {
            let jitter_us = if exempt {
                0
            } else {
                (jitter * imp.jitter.as_micros() as f64) as u64
            };
            let mut arrival = (done + delay + jitter_us).max(d.last_arrival_us);
            let held = !exempt && held_back;
            if held {
                d.counts.reordered += 1;
                d.counts.numbered_held_back += u64::from(numbered);
                record.held_back = true;
                fate.held_back = true;
                if !self.datagrams {
                    arrival += REORDER_HOLD_US;
                }
            } else {
                d.last_arrival_us = arrival;
            }
            let skip = if self.datagrams { 0 } else { ETHERNET_HEADER };
            if !exempt && corrupted && frame.len() > skip {
                let span = frame.len() - skip;
                let byte = skip + ((flip_at * span as f64) as usize).min(span - 1);
                frame[byte] ^= 1 << flip_bit;
                d.counts.corrupted += 1;
                d.counts.numbered_corrupted += u64::from(numbered);
                record.corrupted = Some((byte, flip_bit));
                fate.corrupted = record.corrupted;
            }
            record.arrival_us = Some(arrival);
            let copies = if !exempt && duplicated {
                d.counts.duplicated += 1;
                d.counts.numbered_duplicated += u64::from(numbered);
                record.duplicate_us = Some(arrival);
                fate.duplicated = true;
                2
            } else {
                1
            };
            let damaged = fate.corrupted.is_some();
            for _ in 0..copies {
                let f = InFlight {
                    arrival_us: arrival,
                    order: self.in_flight_order,
                    bytes: frame.clone(),
                    damaged,
                    numbered,
                };
                self.in_flight_order += 1;
                if held && self.datagrams {
                    // Goes on after the next datagram, or at the longest hold.
                    d.held.push(InFlight {
                        arrival_us: now_us + RELAY_MAX_HOLD_US,
                        ..f
                    });
                } else {
                    d.in_flight.push(f);
                }
            }
            if !held && self.datagrams {
                // This one overtakes every datagram held back before it.
                for mut f in std::mem::take(&mut d.held) {
                    f.arrival_us = arrival;
                    f.order = self.in_flight_order;
                    self.in_flight_order += 1;
                    d.in_flight.push(f);
                }
            }
        }
        if self.keep_frames {
            self.frames.push(record);
        }
        fate
    }
}

/// Reads what a frame carries, from its headers.
pub fn classify(frame: &[u8]) -> FrameKind {
    if frame.get(12..14) == Some(&[0x08, 0x06]) {
        return FrameKind::Arp;
    }
    let Ok(packet) = etherparse::SlicedPacket::from_ethernet(frame) else {
        return FrameKind::Other;
    };
    match packet.transport {
        Some(etherparse::TransportSlice::Tcp(tcp)) => FrameKind::Tcp {
            seq: tcp.sequence_number(),
            ack: tcp.acknowledgment_number(),
            syn: tcp.syn(),
            fin: tcp.fin(),
            rst: tcp.rst(),
            has_ack: tcp.ack(),
            payload: tcp.payload().len(),
            window: tcp.window_size(),
        },
        Some(etherparse::TransportSlice::Udp(udp)) => {
            let payload = udp.payload();
            let message = match crate::udp::wire::decode(payload) {
                crate::udp::wire::Datagram::Numbered { seq, .. } => Some(seq),
                _ => None,
            };
            FrameKind::Udp {
                payload: payload.len(),
                message,
            }
        }
        _ => FrameKind::Other,
    }
}

/// A bare datagram (the relay's link): netdojo's numbered message, or not.
fn classify_datagram(payload: &[u8]) -> FrameKind {
    let message = match crate::udp::wire::decode(payload) {
        crate::udp::wire::Datagram::Numbered { seq, .. } => Some(seq),
        _ => None,
    };
    FrameKind::Udp {
        payload: payload.len(),
        message,
    }
}

/// What a TCP segment was, from the point of view of the host that sent it.
///
/// The link sees every segment where it enters, that is, at its sender, so it
/// can say what the sender did rather than guess from a point in between:
///
/// - **Retransmission**: the segment carries data (or SYN or FIN) that starts
///   below the highest sequence number its sender had already sent as part of
///   its stream: bytes sent again, after a timeout or a fast retransmit, or
///   needlessly.
/// - **WindowProbe**: one byte sent while the last window the sender had heard
///   from its peer was zero. That is smoltcp's zero-window probe (RFC 9293
///   §3.8.6.1): with the window shut it sends nothing else, but when its
///   persist timer fires it sends the next byte of the stream beyond the
///   window, to make the receiver answer with its current window. smoltcp
///   does not count that byte as sent (its send pointer stays put), so it
///   sends the same byte again at each probe, and again at the front of its
///   first full segment once the window opens. Neither is a retransmission:
///   no loss is suspected, the window is being asked about. Probes are
///   counted separately, and the byte a probe carried counts as sent only
///   once a normal segment carries it.
/// - **Other**: new data, or no data (an ACK).
///
/// Wireshark names these differently, because it cannot know where a capture
/// was taken: it calls a re-sent segment "out-of-order" rather than
/// "retransmission" when it comes within one handshake round trip of the
/// highest one (which a slow, lossy handshake makes seconds), calls a repeated
/// probe a "keep-alive" (one byte just below the next sequence number), and
/// does not flag the full segment that starts one byte below it. So netdojo's
/// retransmissions are exactly the frames tshark marks
/// `tcp.analysis.retransmission` or `tcp.analysis.out_of_order`, and its
/// probes include every frame tshark marks `tcp.analysis.keep_alive`; the
/// tests check this frame by frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentRole {
    Retransmission,
    WindowProbe,
    Other,
}

/// What one direction's TCP sender has sent and heard, as far as the link can
/// tell.
#[derive(Clone, Copy, Debug, Default)]
struct TcpSender {
    /// One past the highest sequence number sent in the stream (probes aside).
    next_seq: Option<u32>,
    /// The highest acknowledgement the sender has received, and the window
    /// that came with the latest one at or above it: smoltcp ignores the
    /// window of an older ACK (it drops the segment as a duplicate ACK).
    heard_ack: Option<u32>,
    heard_window: Option<u16>,
}

impl TcpSender {
    /// The sender received a segment acknowledging `ack`, with `window`.
    fn heard(&mut self, ack: u32, window: u16) {
        if self.heard_ack.is_none_or(|h| !seq_lt(ack, h)) {
            self.heard_ack = Some(ack);
            self.heard_window = Some(window);
        }
    }

    /// What the segment `kind` is; see [`SegmentRole`].
    fn role(&mut self, kind: &FrameKind) -> SegmentRole {
        let FrameKind::Tcp {
            seq,
            syn,
            fin,
            payload,
            rst,
            ..
        } = *kind
        else {
            return SegmentRole::Other;
        };
        if rst {
            return SegmentRole::Other;
        }
        let len = payload as u32 + u32::from(syn) + u32::from(fin);
        if len == 0 {
            return SegmentRole::Other;
        }
        if payload == 1 && !syn && !fin && self.heard_window == Some(0) {
            return SegmentRole::WindowProbe;
        }
        let end = seq.wrapping_add(len);
        match self.next_seq {
            Some(next) if seq_lt(seq, next) => {
                if seq_lt(next, end) {
                    self.next_seq = Some(end);
                }
                SegmentRole::Retransmission
            }
            _ => {
                self.next_seq = Some(end);
                SegmentRole::Other
            }
        }
    }
}

/// `a < b` in TCP's wrapping sequence space.
fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// One host's network card, plugged into the shared link.
pub struct LinkDevice {
    link: Rc<RefCell<Link>>,
    side: Side,
}

impl LinkDevice {
    pub fn new(link: Rc<RefCell<Link>>, side: Side) -> Self {
        LinkDevice { link, side }
    }
}

fn micros(t: Instant) -> u64 {
    t.total_micros().max(0) as u64
}

impl Device for LinkDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        // The default: checksums computed and verified in software, so a
        // corrupted frame is caught and every frame in the capture is valid.
        caps
    }

    fn receive(&mut self, timestamp: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let now = micros(timestamp);
        let frame = self.link.borrow_mut().receive(self.side, now)?;
        Some((
            RxToken { frame },
            TxToken {
                link: &self.link,
                side: self.side,
                now,
            },
        ))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<TxToken<'_>> {
        let now = micros(timestamp);
        if self.link.borrow_mut().transmitter_full(self.side, now) {
            return None;
        }
        Some(TxToken {
            link: &self.link,
            side: self.side,
            now,
        })
    }
}

/// A frame handed to a host.
pub struct RxToken {
    frame: Vec<u8>,
}

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.frame)
    }
}

/// Room for one frame on the link.
pub struct TxToken<'a> {
    link: &'a Rc<RefCell<Link>>,
    side: Side,
    now: u64,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let result = f(&mut frame);
        // What happens to it is the link's secret: a host never knows.
        let _ = self.link.borrow_mut().send(self.side, self.now, frame);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(seq: u32, payload: usize) -> FrameKind {
        FrameKind::Tcp {
            seq,
            ack: 0,
            syn: false,
            fin: false,
            rst: false,
            has_ack: true,
            payload,
            window: 0,
        }
    }

    use SegmentRole::{Other, Retransmission, WindowProbe};

    #[test]
    fn a_segment_below_the_highest_sent_is_a_retransmission() {
        let mut s = TcpSender::default();
        assert_eq!(s.role(&tcp(100, 10)), Other);
        assert_eq!(s.role(&tcp(110, 10)), Other);
        assert_eq!(s.role(&tcp(100, 10)), Retransmission);
        // A pure ACK is never one.
        assert_eq!(s.role(&tcp(100, 0)), Other);
        assert_eq!(s.role(&tcp(120, 10)), Other);
        // Starting below the highest and going beyond it still re-sends.
        assert_eq!(s.role(&tcp(125, 10)), Retransmission);
        assert_eq!(s.role(&tcp(135, 10)), Other);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = TcpSender::default();
        assert_eq!(s.role(&tcp(u32::MAX - 5, 10)), Other);
        assert_eq!(s.role(&tcp(4, 10)), Other);
        assert_eq!(s.role(&tcp(u32::MAX - 5, 10)), Retransmission);
    }

    #[test]
    fn probes_into_a_closed_window_are_not_retransmissions() {
        // What seed 4 at 20% loss did: the window closed, the update that
        // reopened it was lost, so one byte was probed three times; the
        // ACK of the last probe reopened the window.
        let mut s = TcpSender::default();
        assert_eq!(s.role(&tcp(1000, 1460)), Other);
        s.heard(2460, 0);
        assert_eq!(s.role(&tcp(2460, 1)), WindowProbe);
        assert_eq!(s.role(&tcp(2460, 1)), WindowProbe);
        assert_eq!(s.role(&tcp(2460, 1)), WindowProbe);
        s.heard(2461, 65535);
        assert_eq!(s.role(&tcp(2461, 1460)), Other);

        // Seed 5 at 20%: the window reopened before the probe was answered,
        // and the next segment carried the probe's byte again with new ones.
        let mut s = TcpSender::default();
        assert_eq!(s.role(&tcp(1000, 1460)), Other);
        s.heard(2460, 0);
        assert_eq!(s.role(&tcp(2460, 1)), WindowProbe);
        s.heard(2460, 65535);
        assert_eq!(s.role(&tcp(2460, 1460)), Other);
        // Sent again later, the same segment is a retransmission.
        assert_eq!(s.role(&tcp(2460, 1460)), Retransmission);
    }

    #[test]
    fn an_older_ack_does_not_change_the_window_heard() {
        let mut s = TcpSender::default();
        assert_eq!(s.role(&tcp(1000, 1460)), Other);
        s.heard(2460, 0);
        // A reordered ACK from before: smoltcp drops it, window and all.
        s.heard(1000, 65535);
        assert_eq!(s.role(&tcp(2460, 1)), WindowProbe);
    }

    /// A numbered datagram, as the relay's link carries it.
    fn datagram(seq: u64) -> Vec<u8> {
        let mut d = vec![0u8; 40];
        crate::udp::wire::encode_numbered(&mut d, seq, 0);
        d
    }

    /// Sends `n` datagrams through a relay link, one every 100 µs, and
    /// returns the order they came out in, and the link's counts.
    fn relay_order(imp: Impairments, seed: u64, n: u64) -> (Vec<u64>, LinkCounts) {
        let mut link = Link::for_datagrams(imp, seed);
        let mut out = Vec::new();
        let drain = |link: &mut Link, now: u64, out: &mut Vec<u64>| {
            while let Some(d) = link.receive(Side::B, now) {
                if let crate::udp::wire::Datagram::Numbered { seq, .. } =
                    crate::udp::wire::decode(&d)
                {
                    out.push(seq);
                }
            }
        };
        for seq in 0..n {
            let now = seq * 100;
            link.send(Side::A, now, datagram(seq));
            drain(&mut link, now, &mut out);
        }
        while let Some(t) = link.next_arrival(Side::B) {
            drain(&mut link, t, &mut out);
        }
        (out, link.counts(Side::A))
    }

    #[test]
    fn the_relay_holds_a_datagram_until_the_next_one_overtakes_it() {
        let imp = Impairments {
            reorder: 20.0,
            ..Impairments::none()
        };
        let (order, counts) = relay_order(imp, 5, 200);
        assert!(counts.numbered_held_back > 10, "{counts:?}");
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..200).collect::<Vec<_>>(), "nothing lost");
        // Each held one came out after a later one: exactly the held ones
        // are late.
        let mut late = 0;
        let mut highest = None;
        for &seq in &order {
            if highest.is_some_and(|h| seq < h) {
                late += 1;
            }
            highest = highest.max(Some(seq));
        }
        // Only held ones at the very end, with nothing after them, wait
        // alone; they come out last, in their own order.
        let alone = counts.numbered_not_overtaken as usize;
        assert_eq!(late as u64, counts.numbered_held_back - alone as u64);
        let tail = &order[order.len() - alone..];
        assert_eq!(tail, (200 - alone as u64..200).collect::<Vec<_>>());
    }

    #[test]
    fn a_datagram_nothing_overtakes_goes_on_after_the_longest_hold() {
        let imp = Impairments {
            reorder: 100.0,
            ..Impairments::none()
        };
        let mut link = Link::for_datagrams(imp, 1);
        assert!(link.send(Side::A, 0, datagram(0)).held_back);
        assert_eq!(link.next_arrival(Side::B), Some(RELAY_MAX_HOLD_US));
        assert!(link.receive(Side::B, RELAY_MAX_HOLD_US - 1).is_none());
        assert!(link.receive(Side::B, RELAY_MAX_HOLD_US).is_some());
        let c = link.counts(Side::A);
        assert_eq!((c.numbered_held_back, c.numbered_not_overtaken), (1, 1));
        assert!(link.idle_from(Side::A, RELAY_MAX_HOLD_US));
    }

    #[test]
    fn jitter_never_reorders_and_bandwidth_queues() {
        let imp = Impairments {
            jitter: std::time::Duration::from_millis(50),
            ..Impairments::none()
        };
        let mut link = Link::new(imp, 7, true);
        for i in 0..50u8 {
            link.send(Side::A, 0, vec![i; 60]);
        }
        let mut last = 0;
        let mut order = Vec::new();
        while let Some(t) = link.next_arrival(Side::B) {
            assert!(t >= last);
            last = t;
            order.push(link.receive(Side::B, t).unwrap()[0]);
        }
        assert_eq!(order, (0..50).collect::<Vec<u8>>());
    }

    #[test]
    fn arp_is_never_lost() {
        let imp = Impairments {
            loss: 100.0,
            ..Impairments::none()
        };
        let mut link = Link::new(imp, 1, false);
        let mut arp = vec![0u8; 42];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(!link.send(Side::A, 0, arp).lost);
        assert!(link.send(Side::A, 0, vec![0u8; 60]).lost);
        let c = link.counts(Side::A);
        assert_eq!((c.frames, c.lost, c.arp), (2, 1, 1));
        assert!(link.receive(Side::B, 0).is_some());
        assert!(link.receive(Side::B, 0).is_none());
    }
}
