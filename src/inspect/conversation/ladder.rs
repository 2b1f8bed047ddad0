//! One stream as a ladder: a row per segment, with the numbers relative to
//! each side's first sequence number, and what is unusual about it.
//!
//! The marks follow Wireshark's TCP analysis, simplified:
//! - **retransmission**: the segment carries sequence numbers its sender has
//!   already sent;
//! - **out of order**: new bytes, but below bytes already sent (it fills a hole);
//! - **previous segment not captured**: it starts past everything sent so far;
//! - **duplicate ACK**: no data, same ACK number and same window as the
//!   sender's previous segment, sent again: the receiver saying "I am still
//!   missing the byte at this number", which prompts a fast retransmit;
//! - **keep-alive**: zero or one byte one below the next sequence number;
//! - **zero window**: the receiver's buffer is full.

use std::time::Duration;

use super::{SeqUnwrapper, TcpSegment};
use crate::inspect::model::TcpFlags;

/// Ranges of sequence space remembered per direction to tell a retransmission
/// from an out-of-order segment. Normally there is one (everything up to the
/// highest byte sent); each hole adds one. Beyond this many, the lowest holes
/// are forgotten (treated as sent), so a pathological stream cannot grow it.
pub const MAX_SENT_RANGES: usize = 1024;

/// What a segment does in the conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// SYN, SYN-ACK, or the client's ACK that completes the handshake.
    Handshake,
    /// Carries bytes.
    Data,
    /// Only acknowledges.
    Ack,
    /// FIN: this side has no more to send (may carry bytes too).
    Fin,
    /// RST: the connection is aborted.
    Reset,
}

impl SegmentKind {
    /// The name used in JSON and in the ladder's legend.
    pub fn name(self) -> &'static str {
        match self {
            SegmentKind::Handshake => "handshake",
            SegmentKind::Data => "data",
            SegmentKind::Ack => "ack",
            SegmentKind::Fin => "fin",
            SegmentKind::Reset => "reset",
        }
    }
}

/// Something unusual about a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Retransmission,
    OutOfOrder,
    PreviousSegmentNotCaptured,
    KeepAlive,
    /// The `number`th repeat of the ACK first sent in frame `of_frame`.
    DuplicateAck {
        number: u32,
        of_frame: u64,
    },
    ZeroWindow,
}

impl Mark {
    /// A stable name for JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mark::Retransmission => "retransmission",
            Mark::OutOfOrder => "out_of_order",
            Mark::PreviousSegmentNotCaptured => "previous_segment_not_captured",
            Mark::KeepAlive => "keep_alive",
            Mark::DuplicateAck { .. } => "duplicate_ack",
            Mark::ZeroWindow => "zero_window",
        }
    }
}

impl std::fmt::Display for Mark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mark::Retransmission => write!(f, "retransmission"),
            Mark::OutOfOrder => write!(f, "out of order"),
            Mark::PreviousSegmentNotCaptured => write!(f, "previous segment not captured"),
            Mark::KeepAlive => write!(f, "keep-alive"),
            Mark::DuplicateAck { number, of_frame } => {
                write!(f, "duplicate ACK #{number} of frame {of_frame}")
            }
            Mark::ZeroWindow => write!(f, "zero window"),
        }
    }
}

/// One segment of the ladder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LadderRow {
    pub frame: u64,
    /// Since the stream's first segment, where the capture has times.
    pub time: Option<Duration>,
    pub from_client: bool,
    pub flags: TcpFlags,
    /// Sequence number relative to the sender's initial one (its SYN is 0).
    pub seq: u32,
    /// Acknowledgement number relative to the receiver's initial sequence
    /// number; `None` without the ACK flag.
    pub ack: Option<u32>,
    /// Payload bytes.
    pub len: u32,
    /// The window field as sent.
    pub window: u16,
    /// The window in bytes: the field shifted by the window scale both SYNs
    /// agreed on (a SYN's own window is never scaled). `None` when the
    /// handshake is not in the capture, so the scale is unknown.
    pub window_scaled: Option<u32>,
    pub kind: SegmentKind,
    pub marks: Vec<Mark>,
}

/// Totals over the rows, for the ladder's closing line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LadderSummary {
    pub client_segments: u64,
    pub server_segments: u64,
    pub client_bytes: u64,
    pub server_bytes: u64,
    pub retransmissions: u64,
    pub duplicate_acks: u64,
    pub out_of_order: u64,
    pub not_captured: u64,
    /// Handshake packets seen: SYN, SYN-ACK, final ACK.
    pub syn: bool,
    pub syn_ack: bool,
    pub handshake_ack: bool,
    pub fin_from_client: bool,
    pub fin_from_server: bool,
    pub reset: bool,
}

/// One direction's state, for relative numbers and the marks.
#[derive(Debug, Default)]
struct Side {
    /// Positions relative to the side's initial sequence number.
    seq: Option<SeqUnwrapper>,
    /// Sequence space sent, as sorted, disjoint `[start, end)` ranges.
    sent: Vec<(i64, i64)>,
    /// The highest position sent plus one.
    next: Option<i64>,
    /// The ACK number (absolute) and window of this side's previous segment,
    /// the frame that first sent that ACK number, and repeats of it so far.
    last_ack: Option<u32>,
    last_ack_frame: u64,
    last_window: Option<u16>,
    dup_acks: u32,
    /// Whether this side has sent any data (for the handshake's third ACK).
    sent_data: bool,
    /// Its SYN was seen, with this window scale option (if any).
    syn_scale: Option<Option<u8>>,
}

impl Side {
    /// Whether all of `[start, end)` was sent before.
    fn already_sent(&self, start: i64, end: i64) -> bool {
        let i = self.sent.partition_point(|&(_, e)| e <= start);
        self.sent
            .get(i)
            .is_some_and(|&(s, e)| s <= start && end <= e)
    }

    /// Whether any of `[start, end)` was sent before.
    fn partly_sent(&self, start: i64, end: i64) -> bool {
        let i = self.sent.partition_point(|&(_, e)| e <= start);
        self.sent.get(i).is_some_and(|&(s, _)| s < end)
    }

    /// Adds `[start, end)` to the sent ranges, merging neighbours.
    fn record_sent(&mut self, start: i64, end: i64) {
        let i = self.sent.partition_point(|&(_, e)| e < start);
        let mut j = i;
        let (mut s, mut e) = (start, end);
        while let Some(&(rs, re)) = self.sent.get(j) {
            if rs > end {
                break;
            }
            s = s.min(rs);
            e = e.max(re);
            j += 1;
        }
        self.sent.splice(i..j, [(s, e)]);
        if self.sent.len() > MAX_SENT_RANGES {
            // Forget the lowest hole: its late arrival will read as a retransmission.
            let (s0, _) = self.sent.remove(0);
            if let Some(first) = self.sent.first_mut() {
                first.0 = s0;
            }
        }
    }
}

/// Turns one stream's segments into ladder rows.
#[derive(Debug, Default)]
pub struct LadderTracker {
    client: Side,
    server: Side,
    first_time: Option<Duration>,
    summary: LadderSummary,
}

impl LadderTracker {
    pub fn new() -> LadderTracker {
        LadderTracker::default()
    }

    /// What the closing line says.
    pub fn summary(&self) -> &LadderSummary {
        &self.summary
    }

    /// The row for the stream's next segment, in capture order.
    pub fn segment(&mut self, from_client: bool, seg: &TcpSegment) -> LadderRow {
        let flags = seg.flags;
        let (syn, fin, rst, has_ack) = (
            flags.has(TcpFlags::SYN),
            flags.has(TcpFlags::FIN),
            flags.has(TcpFlags::RST),
            flags.has(TcpFlags::ACK),
        );
        let time = match (seg.time, self.first_time) {
            (Some(t), None) => {
                self.first_time = Some(t);
                Some(Duration::ZERO)
            }
            (Some(t), Some(first)) => Some(t.saturating_sub(first)),
            (None, _) => None,
        };
        let (me, peer) = if from_client {
            (&mut self.client, &mut self.server)
        } else {
            (&mut self.server, &mut self.client)
        };

        // Relative numbers, as Wireshark makes them: the SYN is 0; a side
        // first seen mid-stream starts at 1, as if its SYN had been missed.
        let seq = me
            .seq
            .get_or_insert_with(|| SeqUnwrapper::new(seg.seq.wrapping_sub(u32::from(!syn))));
        let base = seq.base();
        let start = seq.position(seg.seq);
        let rel_seq = seg.seq.wrapping_sub(base);
        if has_ack && peer.seq.is_none() {
            peer.seq = Some(SeqUnwrapper::new(seg.ack.wrapping_sub(1)));
        }
        let rel_ack = match (&peer.seq, has_ack) {
            (Some(p), true) => Some(seg.ack.wrapping_sub(p.base())),
            _ => None,
        };

        let len = seg.payload.len();
        let seq_len = seg.seq_len() as i64;
        let end = start + seq_len;
        let mut marks = Vec::new();

        // A keep-alive probe repeats the last byte sent (or none), one below
        // the next sequence number, to make the peer answer.
        let keep_alive =
            !syn && !fin && !rst && seq_len <= 1 && me.next.is_some_and(|n| start == n - 1);
        if keep_alive {
            marks.push(Mark::KeepAlive);
        } else if seq_len > 0 && !rst {
            match me.next {
                Some(next) if start > next => marks.push(Mark::PreviousSegmentNotCaptured),
                Some(next) if start < next => {
                    if me.already_sent(start, end) || me.partly_sent(start, end) {
                        marks.push(Mark::Retransmission);
                    } else {
                        marks.push(Mark::OutOfOrder);
                    }
                }
                _ => {}
            }
            me.record_sent(start, end);
            me.next = Some(me.next.map_or(end, |n| n.max(end)));
        } else if me.next.is_none() {
            me.next = Some(start);
        }

        // A duplicate ACK repeats the sender's previous ACK exactly, with
        // nothing else to say: no data, no SYN/FIN/RST, same window.
        if has_ack {
            let duplicate = seq_len == 0
                && !rst
                && seg.window != 0
                && me.last_ack == Some(seg.ack)
                && me.last_window == Some(seg.window)
                && me.next == Some(start);
            if duplicate {
                me.dup_acks += 1;
                marks.push(Mark::DuplicateAck {
                    number: me.dup_acks,
                    of_frame: me.last_ack_frame,
                });
            } else if syn {
                // A SYN-ACK's number is not one a later ACK can repeat as a
                // complaint: the first plain ACK is the original.
                me.last_ack = None;
            } else if me.last_ack != Some(seg.ack) {
                me.last_ack = Some(seg.ack);
                me.last_ack_frame = seg.frame;
                me.dup_acks = 0;
            }
        }
        me.last_window = Some(seg.window);
        if syn && me.syn_scale.is_none() {
            me.syn_scale = Some(seg.window_scale);
        }
        // RFC 7323: windows are scaled only when both SYNs offered the option.
        let window_scaled = if syn {
            Some(u32::from(seg.window))
        } else {
            match (me.syn_scale, peer.syn_scale) {
                (Some(Some(shift)), Some(Some(_))) => Some(u32::from(seg.window) << shift),
                (Some(_), Some(_)) => Some(u32::from(seg.window)),
                _ => None,
            }
        };
        if seg.window == 0 && !rst && !syn {
            marks.push(Mark::ZeroWindow);
        }

        // The client's first ACK of the SYN-ACK completes the handshake,
        // whether or not it already carries data (or a FIN): a client may
        // send its request in the third segment. Only a bare ACK is drawn as
        // a handshake row; one with data is drawn as the data it carries.
        let completes_handshake = from_client
            && !syn
            && !rst
            && has_ack
            && !me.sent_data
            && !self.summary.handshake_ack
            && self.summary.syn_ack
            && rel_ack == Some(1);
        let kind = if rst {
            SegmentKind::Reset
        } else if syn {
            SegmentKind::Handshake
        } else if fin {
            SegmentKind::Fin
        } else if len > 0 {
            SegmentKind::Data
        } else if completes_handshake {
            SegmentKind::Handshake
        } else {
            SegmentKind::Ack
        };
        if len > 0 {
            me.sent_data = true;
        }

        let s = &mut self.summary;
        if from_client {
            s.client_segments += 1;
            s.client_bytes += len as u64;
        } else {
            s.server_segments += 1;
            s.server_bytes += len as u64;
        }
        for mark in &marks {
            match mark {
                Mark::Retransmission => s.retransmissions += 1,
                Mark::DuplicateAck { .. } => s.duplicate_acks += 1,
                Mark::OutOfOrder => s.out_of_order += 1,
                Mark::PreviousSegmentNotCaptured => s.not_captured += 1,
                _ => {}
            }
        }
        match kind {
            SegmentKind::Handshake if syn && has_ack => s.syn_ack = true,
            SegmentKind::Handshake if syn => s.syn = true,
            _ => {}
        }
        s.handshake_ack |= completes_handshake;
        if fin {
            if from_client {
                s.fin_from_client = true;
            } else {
                s.fin_from_server = true;
            }
        }
        s.reset |= rst;

        LadderRow {
            frame: seg.frame,
            time,
            from_client,
            flags,
            seq: rel_seq,
            ack: rel_ack,
            len: len as u32,
            window: seg.window,
            window_scaled,
            kind,
            marks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use proptest::prelude::*;

    fn ladder(segs: &[(bool, u32, u32, u8, &[u8])]) -> Vec<LadderRow> {
        let mut t = LadderTracker::new();
        segs.iter()
            .enumerate()
            .map(|(i, (c, seq, ack, flags, payload))| {
                let (frame, facts) = segment(i as u64 + 1, *c, *seq, *ack, *flags, payload);
                t.segment(*c, &TcpSegment::from_frame(&frame, &facts).unwrap())
            })
            .collect()
    }

    #[test]
    fn the_handshake_is_numbered_from_zero_and_named() {
        let rows = ladder(&[
            (true, 1000, 0, S, b""),
            (false, 5000, 1001, S | A, b""),
            (true, 1001, 5001, A, b""),
            (true, 1001, 5001, P | A, b"hi"),
            (false, 5001, 1003, A, b""),
        ]);
        let brief: Vec<_> = rows.iter().map(|r| (r.seq, r.ack, r.len, r.kind)).collect();
        assert_eq!(
            brief,
            [
                (0, None, 0, SegmentKind::Handshake),
                (0, Some(1), 0, SegmentKind::Handshake),
                (1, Some(1), 0, SegmentKind::Handshake),
                (1, Some(1), 2, SegmentKind::Data),
                (1, Some(3), 0, SegmentKind::Ack),
            ]
        );
        assert!(rows.iter().all(|r| r.marks.is_empty()));
        assert_eq!(rows[4].time, Some(Duration::from_millis(4)));
    }

    #[test]
    fn a_third_ack_that_carries_data_completes_the_handshake() {
        // The client sends its request in the segment that acknowledges the
        // SYN-ACK: the handshake was fully seen, and the row is the data.
        let mut t = LadderTracker::new();
        let segs: [(bool, u32, u32, u8, &[u8]); 4] = [
            (true, 1000, 0, S, b""),
            (false, 5000, 1001, S | A, b""),
            (true, 1001, 5001, P | A, b"GET / HTTP/1.1\r\n\r\n"),
            (false, 5001, 1019, A, b""),
        ];
        let kinds: Vec<_> = segs
            .iter()
            .enumerate()
            .map(|(i, (c, seq, ack, flags, payload))| {
                let (frame, facts) = segment(i as u64 + 1, *c, *seq, *ack, *flags, payload);
                t.segment(*c, &TcpSegment::from_frame(&frame, &facts).unwrap())
                    .kind
            })
            .collect();
        assert_eq!(
            kinds,
            [
                SegmentKind::Handshake,
                SegmentKind::Handshake,
                SegmentKind::Data,
                SegmentKind::Ack
            ]
        );
        let s = t.summary();
        assert!(s.syn && s.syn_ack && s.handshake_ack, "{s:?}");
    }

    #[test]
    fn a_later_ack_of_one_does_not_complete_a_handshake_without_a_syn_ack() {
        let mut t = LadderTracker::new();
        for (i, (c, seq, ack, flags)) in [(true, 1000, 0, S), (true, 1001, 5001, A)]
            .into_iter()
            .enumerate()
        {
            let (frame, facts) = segment(i as u64 + 1, c, seq, ack, flags, b"");
            t.segment(c, &TcpSegment::from_frame(&frame, &facts).unwrap());
        }
        assert!(!t.summary().handshake_ack);
    }

    #[test]
    fn retransmission_out_of_order_and_a_gap_are_marked() {
        let rows = ladder(&[
            (true, 1000, 0, S, b""),
            (false, 5000, 1001, S | A, b""),
            (true, 1001, 5001, A, b""),
            (true, 1001, 5001, A, b"aaaa"),
            (true, 1009, 5001, A, b"cccc"),
            (true, 1005, 5001, A, b"bbbb"),
            (true, 1005, 5001, A, b"bbbb"),
            (true, 1001, 0, S, b""),
        ]);
        assert_eq!(rows[4].marks, [Mark::PreviousSegmentNotCaptured]);
        assert_eq!(rows[5].marks, [Mark::OutOfOrder]);
        assert_eq!(rows[6].marks, [Mark::Retransmission]);
        assert_eq!(rows[7].marks, [Mark::Retransmission], "SYN again");
    }

    #[test]
    fn duplicate_acks_count_from_the_original() {
        let rows = ladder(&[
            (true, 1000, 0, S, b""),
            (false, 5000, 1001, S | A, b""),
            (true, 1001, 5001, A, b""),
            (false, 5001, 1001, A, b""),
            (false, 5001, 1001, A, b""),
            (false, 5001, 1001, A, b""),
            (false, 5001, 1001, P | A, b"x"),
        ]);
        assert!(
            rows[3].marks.is_empty(),
            "the first ACK of a number is the original"
        );
        assert_eq!(
            rows[4].marks,
            [Mark::DuplicateAck {
                number: 1,
                of_frame: 4
            }]
        );
        assert_eq!(
            rows[5].marks,
            [Mark::DuplicateAck {
                number: 2,
                of_frame: 4
            }]
        );
        assert!(rows[6].marks.is_empty(), "data is not a duplicate ACK");
    }

    #[test]
    fn a_mid_stream_capture_counts_from_one_like_wireshark() {
        let rows = ladder(&[
            (true, 1000, 5000, P | A, b"abc"),
            (false, 5000, 1003, P | A, b"xy"),
            (true, 1003, 5002, A, b""),
        ]);
        let nums: Vec<_> = rows.iter().map(|r| (r.seq, r.ack)).collect();
        assert_eq!(nums, [(1, Some(1)), (1, Some(4)), (4, Some(3))]);
    }

    #[test]
    fn many_holes_stay_bounded() {
        let mut side = Side::default();
        for i in 0..(MAX_SENT_RANGES as i64 + 50) {
            side.record_sent(i * 10, i * 10 + 5);
        }
        assert_eq!(side.sent.len(), MAX_SENT_RANGES);
        side.record_sent(0, 100_000);
        assert_eq!(side.sent, [(0, 100_000)]);
    }

    proptest! {
        #[test]
        fn random_segments_never_panic(
            segs in proptest::collection::vec(
                (any::<bool>(), any::<u32>(), any::<u32>(), any::<u8>(),
                 proptest::collection::vec(any::<u8>(), 0..20)),
                0..60),
        ) {
            let mut t = LadderTracker::new();
            for (i, (c, seq, ack, flags, payload)) in segs.iter().enumerate() {
                let (f, x) = segment(i as u64, *c, *seq, *ack, *flags, payload);
                t.segment(*c, &TcpSegment::from_frame(&f, &x).unwrap());
            }
            for side in [&t.client, &t.server] {
                prop_assert!(side.sent.windows(2).all(|w| w[0].1 < w[1].0));
            }
        }
    }
}
