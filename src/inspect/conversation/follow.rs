//! Putting a TCP stream's bytes back in order, like Wireshark's "Follow TCP
//! Stream": both directions, by sequence number.
//!
//! A capture shows segments in the order they passed the capture point, which
//! is not always the order of the bytes: a segment can arrive ahead of one
//! that was lost (out of order), be sent twice (a retransmission), overlap
//! another, or never be captured at all (a gap). Each direction keeps the
//! next byte it expects; a segment past it waits until the hole before it is
//! filled, a segment before it is a copy of bytes already delivered (the first
//! copy is kept), and a hole the receiver has acknowledged, with later bytes
//! waiting, was sent but not captured: it becomes "[N bytes missing]".
//!
//! The result is a list of [`Piece`]s in the order the bytes became readable,
//! so a request and its response appear in turn, as they alternated.

use std::collections::BTreeMap;

use super::{SeqUnwrapper, TcpSegment};
use crate::inspect::model::TcpFlags;

/// Bytes of one stream kept for display (both directions, including bytes
/// waiting for a hole to fill). Beyond it, segments are counted and not kept:
/// a following view is for reading, and a 64 MiB page is already more than
/// anyone reads, while a multi-gigabyte download must not exhaust memory.
pub const MAX_FOLLOW_BYTES: usize = 64 << 20;

/// How far past the next expected byte a segment may start. TCP's largest
/// window (with scaling) is 2^30 bytes: a segment further ahead is not part
/// of this stream's data (a forged or stray segment), and waiting for a
/// gigabyte-sized hole to fill would only produce a nonsensical gap.
pub const MAX_SEQ_AHEAD: i64 = 1 << 30;

/// A run of one direction's bytes, or a hole in them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Bytes, in order; `offset` counts from the direction's first byte.
    Data {
        from_client: bool,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// Bytes the sender sent (the receiver acknowledged them, or later bytes
    /// were captured) that are not in the capture.
    Missing {
        from_client: bool,
        offset: u64,
        len: u64,
    },
}

/// What happened to one direction's bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Bytes delivered in order (shown).
    pub bytes: u64,
    /// Segments that carried bytes already received: retransmissions and
    /// overlaps. Their bytes were dropped, keeping the first copy.
    pub retransmitted_segments: u64,
    pub retransmitted_bytes: u64,
    /// Segments whose bytes arrived after later bytes had: they filled a hole.
    pub out_of_order_segments: u64,
    /// Bytes in holes that were never filled.
    pub missing_bytes: u64,
    /// Bytes positioned after this direction's FIN (a sender that kept going).
    pub after_fin_bytes: u64,
    /// Whether a FIN from this side was seen, in order.
    pub fin: bool,
    /// Segments ignored because they started too far ahead ([`MAX_SEQ_AHEAD`])
    /// or before the start of the stream.
    pub stray_segments: u64,
}

/// The reassembled stream: pieces in reading order, and what happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Followed {
    pub pieces: Vec<Piece>,
    pub client: DirectionStats,
    pub server: DirectionStats,
    /// Set when [`MAX_FOLLOW_BYTES`] was reached: payload bytes of later
    /// segments (including copies) that were seen but not kept.
    pub not_kept_bytes: Option<u64>,
}

/// One direction's reassembly state.
#[derive(Debug, Default)]
struct Direction {
    /// Sequence number of the direction's first byte (ISN + 1 after a SYN,
    /// else the first number seen), as positions: 0 is that byte.
    seq: Option<SeqUnwrapper>,
    /// The next position expected.
    next: i64,
    /// Highest position any data reached (to recognise out-of-order fills).
    highest: i64,
    /// Bytes that arrived ahead of a hole, by position. They never overlap.
    waiting: BTreeMap<i64, Vec<u8>>,
    /// Where the FIN is, once seen.
    fin_at: Option<i64>,
    stats: DirectionStats,
}

impl Direction {
    /// The first position past `next` the capture holds something at (bytes
    /// waiting, or the FIN): proof that the sender sent what lies before it.
    fn evidence(&self) -> Option<i64> {
        let waiting = self.waiting.first_key_value().map(|(&at, _)| at);
        let fin = self
            .fin_at
            .filter(|&fin| fin > self.next && !self.stats.fin);
        match (waiting, fin) {
            (Some(w), Some(f)) => Some(w.min(f)),
            (w, f) => w.or(f),
        }
    }
}

/// Reassembles both directions of one stream.
#[derive(Debug, Default)]
pub struct Reassembler {
    client: Direction,
    server: Direction,
    pieces: Vec<Piece>,
    /// Bytes held in pieces and in waiting segments.
    kept: usize,
    limit: usize,
    not_kept_bytes: Option<u64>,
}

impl Reassembler {
    /// An empty reassembler keeping at most [`MAX_FOLLOW_BYTES`].
    pub fn new() -> Reassembler {
        Reassembler::with_limit(MAX_FOLLOW_BYTES)
    }

    /// An empty reassembler keeping at most `limit` bytes (for tests).
    pub fn with_limit(limit: usize) -> Reassembler {
        Reassembler {
            limit,
            ..Reassembler::default()
        }
    }

    /// Takes the stream's next segment, in capture order.
    pub fn segment(&mut self, from_client: bool, seg: &TcpSegment) {
        // The peer's acknowledgement first: it may say a hole in our
        // direction will never be filled, and what was waiting can go.
        if seg.flags.has(TcpFlags::ACK) && !seg.flags.has(TcpFlags::RST) {
            self.acknowledged(!from_client, seg.ack);
        }
        let flags = seg.flags;
        let side = self.side(from_client);
        let start = match side.seq.as_mut() {
            None => {
                // SYN takes one sequence number before the first byte.
                let first = seg.seq.wrapping_add(u32::from(flags.has(TcpFlags::SYN)));
                side.seq = Some(SeqUnwrapper::new(first));
                0
            }
            Some(seq) => seq.position(seg.seq) + i64::from(flags.has(TcpFlags::SYN)),
        };
        if start - side.next > MAX_SEQ_AHEAD {
            side.stats.stray_segments += 1;
            return;
        }
        if !seg.payload.is_empty() {
            self.data(from_client, start, seg.payload);
        }
        let side = self.side(from_client);
        if flags.has(TcpFlags::FIN) && side.fin_at.is_none() {
            side.fin_at = Some(start + seg.payload.len() as i64);
        }
        self.deliver(from_client);
    }

    /// Ends the stream: holes still open become missing bytes, and whatever
    /// waited behind them is delivered.
    pub fn finish(mut self) -> Followed {
        for from_client in [true, false] {
            if self.not_kept_bytes.is_some() {
                // The view stops where keeping stopped; what waited is counted.
                let side = self.side(from_client);
                let waiting: usize = side.waiting.values().map(Vec::len).sum();
                side.waiting.clear();
                *self.not_kept_bytes.get_or_insert(0) += waiting as u64;
                continue;
            }
            while let Some(at) = self.side(from_client).evidence() {
                self.skip_to(from_client, at);
                self.deliver(from_client);
            }
        }
        Followed {
            pieces: self.pieces,
            client: self.client.stats,
            server: self.server.stats,
            not_kept_bytes: self.not_kept_bytes,
        }
    }

    fn side(&mut self, from_client: bool) -> &mut Direction {
        if from_client {
            &mut self.client
        } else {
            &mut self.server
        }
    }

    /// The other side acknowledged up to `ack` of this direction.
    fn acknowledged(&mut self, from_client: bool, ack: u32) {
        if self.not_kept_bytes.is_some() {
            return;
        }
        let side = self.side(from_client);
        let Some(seq) = side.seq.as_ref() else {
            return;
        };
        let acked = seq.peek(ack);
        // Only a hole with something captured behind it (bytes or the FIN)
        // is certainly data: an acknowledgement one past the end may be for
        // a FIN that was not captured.
        let Some(evidence) = side.evidence() else {
            return;
        };
        if acked > side.next {
            self.skip_to(from_client, acked.min(evidence));
            self.deliver(from_client);
        }
    }

    /// Declares the bytes from `next` up to `to` missing.
    fn skip_to(&mut self, from_client: bool, to: i64) {
        let side = self.side(from_client);
        if to <= side.next {
            return;
        }
        let offset = side.next as u64;
        let mut len = (to - side.next) as u64;
        if side.fin_at.is_some_and(|fin| fin >= side.next && fin < to) {
            // The FIN was captured even if bytes before it were not; its
            // sequence number is not a missing byte.
            side.stats.fin = true;
            len -= 1;
        }
        side.next = to;
        if len == 0 {
            return;
        }
        side.stats.missing_bytes += len;
        self.pieces.push(Piece::Missing {
            from_client,
            offset,
            len,
        });
    }

    /// Files a segment's bytes at `start`, keeping the first copy of any byte.
    fn data(&mut self, from_client: bool, start: i64, payload: &[u8]) {
        let limit = self.limit;
        let kept = self.kept;
        let keeping = self.not_kept_bytes.is_none();
        let side = self.side(from_client);
        let end = start + payload.len() as i64;
        if end <= side.next {
            side.stats.retransmitted_segments += 1;
            side.stats.retransmitted_bytes += payload.len() as u64;
            return;
        }
        if start < side.highest {
            side.stats.out_of_order_segments += 1;
        }
        side.highest = side.highest.max(end);
        // Cut away what is already delivered or already waiting; what is
        // left is new (possibly in several pieces around waiting segments).
        let mut new_parts: Vec<(i64, i64)> = Vec::new();
        let mut at = start.max(side.next);
        let overlapping = side
            .waiting
            .range(..end)
            .rev()
            .take_while(|(k, v)| *k + v.len() as i64 > at)
            .map(|(k, v)| (*k, *k + v.len() as i64))
            .collect::<Vec<_>>();
        for (w_start, w_end) in overlapping.into_iter().rev() {
            if w_start > at {
                new_parts.push((at, w_start));
            }
            at = at.max(w_end);
        }
        if at < end {
            new_parts.push((at, end));
        }
        let new_bytes: i64 = new_parts.iter().map(|(a, b)| b - a).sum();
        let copied = payload.len() as u64 - new_bytes as u64;
        if copied > 0 {
            side.stats.retransmitted_segments += 1;
            side.stats.retransmitted_bytes += copied;
        }
        if !keeping || kept + new_bytes as usize > limit {
            // Once the limit is reached nothing more is kept, so the view
            // ends at a clear point instead of resuming after a hole.
            *self.not_kept_bytes.get_or_insert(0) += payload.len() as u64;
            return;
        }
        for (a, b) in new_parts {
            let from = (a - start) as usize;
            let to = (b - start) as usize;
            if let Some(bytes) = payload.get(from..to) {
                side.waiting.insert(a, bytes.to_vec());
            }
        }
        self.kept += new_bytes as usize;
    }

    /// Moves bytes that are now in order from waiting to the pieces.
    fn deliver(&mut self, from_client: bool) {
        loop {
            let side = self.side(from_client);
            if side.fin_at == Some(side.next) && !side.stats.fin {
                // The FIN takes one sequence number and carries no byte.
                side.stats.fin = true;
                side.next += 1;
                continue;
            }
            let Some(entry) = side.waiting.first_entry() else {
                return;
            };
            if *entry.key() > side.next {
                return;
            }
            let (at, mut bytes) = entry.remove_entry();
            // Only a FIN skipped inside can put `at` behind `next`.
            let behind = (side.next - at) as usize;
            if behind > 0 {
                bytes.drain(..behind.min(bytes.len()));
                side.stats.retransmitted_bytes += behind as u64;
            }
            let offset = side.next as u64;
            side.next += bytes.len() as i64;
            side.stats.bytes += bytes.len() as u64;
            if side.stats.fin {
                side.stats.after_fin_bytes += bytes.len() as u64;
            }
            self.push_data(from_client, offset, bytes);
        }
    }

    /// Appends bytes, joining them to the last piece when it is the same
    /// direction and they follow on.
    fn push_data(&mut self, from_client: bool, offset: u64, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        if let Some(Piece::Data {
            from_client: last_side,
            offset: last_offset,
            bytes: last,
        }) = self.pieces.last_mut()
            && *last_side == from_client
            && *last_offset + last.len() as u64 == offset
        {
            last.extend_from_slice(&bytes);
            return;
        }
        self.pieces.push(Piece::Data {
            from_client,
            offset,
            bytes,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use proptest::prelude::*;

    /// Runs segments `(from_client, seq, ack, flags, payload)` through a reassembler.
    fn follow(segs: &[(bool, u32, u32, u8, &[u8])]) -> Followed {
        follow_with_limit(segs, MAX_FOLLOW_BYTES)
    }

    fn follow_with_limit(segs: &[(bool, u32, u32, u8, &[u8])], limit: usize) -> Followed {
        let mut r = Reassembler::with_limit(limit);
        for (i, (c, seq, ack, flags, payload)) in segs.iter().enumerate() {
            let (frame, facts) = segment(i as u64 + 1, *c, *seq, *ack, *flags, payload);
            r.segment(*c, &TcpSegment::from_frame(&frame, &facts).unwrap());
        }
        r.finish()
    }

    fn data(from_client: bool, offset: u64, bytes: &[u8]) -> Piece {
        Piece::Data {
            from_client,
            offset,
            bytes: bytes.to_vec(),
        }
    }

    const HANDSHAKE: [(bool, u32, u32, u8, &[u8]); 3] = [
        (true, 100, 0, S, b""),
        (false, 500, 101, S | A, b""),
        (true, 101, 501, A, b""),
    ];

    #[test]
    fn a_request_and_its_response_come_out_in_turn() {
        let mut segs = HANDSHAKE.to_vec();
        segs.extend([
            (true, 101, 501, P | A, b"GET / " as &[u8]),
            (true, 107, 501, P | A, b"HTTP/1.0\r\n"),
            (false, 501, 117, P | A, b"200 OK"),
            (true, 117, 507, F | A, b""),
            (false, 507, 118, F | A, b""),
        ]);
        let f = follow(&segs);
        assert_eq!(
            f.pieces,
            [
                data(true, 0, b"GET / HTTP/1.0\r\n"),
                data(false, 0, b"200 OK")
            ]
        );
        assert_eq!(f.client.bytes, 16);
        assert!(f.client.fin && f.server.fin);
        assert_eq!(f.client.retransmitted_segments, 0);
    }

    #[test]
    fn out_of_order_segments_are_put_back_in_order() {
        let mut segs = HANDSHAKE.to_vec();
        segs.extend([
            (true, 104, 501, A, b"def" as &[u8]),
            (true, 101, 501, A, b"abc"),
            (true, 107, 501, A, b"g"),
        ]);
        let f = follow(&segs);
        assert_eq!(f.pieces, [data(true, 0, b"abcdefg")]);
        assert_eq!(f.client.out_of_order_segments, 1);
    }

    #[test]
    fn retransmissions_and_overlaps_keep_the_first_copy() {
        let mut segs = HANDSHAKE.to_vec();
        segs.extend([
            (true, 101, 501, A, b"abcd" as &[u8]),
            (true, 101, 501, A, b"abcd"),
            // Overlaps "cd" (sent again with different bytes) and adds "ef".
            (true, 103, 501, A, b"XYef"),
            // Waiting ahead of a hole, then overlapped by a bigger segment.
            (true, 111, 501, A, b"kl"),
            (true, 108, 501, A, b"hijKLm"),
            (true, 107, 501, A, b"g"),
        ]);
        let f = follow(&segs);
        assert_eq!(f.pieces, [data(true, 0, b"abcdefghijklm")]);
        // Whole copy (4) + "XY" (2) + "KL" (2)... and "g" is new.
        assert_eq!(f.client.retransmitted_bytes, 8);
        assert_eq!(f.client.retransmitted_segments, 3);
    }

    #[test]
    fn a_hole_the_receiver_acknowledged_is_missing_and_the_rest_still_shows() {
        let mut segs = HANDSHAKE.to_vec();
        segs.extend([
            (true, 101, 501, A, b"abc" as &[u8]),
            // "def" (104..107) was never captured.
            (true, 107, 501, A, b"ghi"),
            (false, 501, 110, A, b""),
            (false, 501, 110, P | A, b"ok"),
        ]);
        let f = follow(&segs);
        assert_eq!(
            f.pieces,
            [
                data(true, 0, b"abc"),
                Piece::Missing {
                    from_client: true,
                    offset: 3,
                    len: 3
                },
                data(true, 6, b"ghi"),
                data(false, 0, b"ok"),
            ]
        );
        assert_eq!(f.client.missing_bytes, 3);
    }

    #[test]
    fn a_hole_never_acknowledged_is_declared_at_the_end() {
        let mut segs = HANDSHAKE.to_vec();
        segs.extend([
            (true, 101, 501, A, b"abc" as &[u8]),
            (false, 501, 104, P | A, b"ok"),
            (true, 110, 503, A, b"jk"),
        ]);
        let f = follow(&segs);
        assert_eq!(
            f.pieces,
            [
                data(true, 0, b"abc"),
                data(false, 0, b"ok"),
                Piece::Missing {
                    from_client: true,
                    offset: 3,
                    len: 6
                },
                data(true, 9, b"jk"),
            ]
        );
    }

    #[test]
    fn data_after_a_fin_and_the_other_side_after_half_close_are_kept() {
        let mut segs = HANDSHAKE.to_vec();
        segs.extend([
            (true, 101, 501, P | A, b"bye" as &[u8]),
            (true, 104, 501, F | A, b""),
            (false, 501, 105, P | A, b"still here"),
            // A misbehaving sender: bytes after its own FIN.
            (true, 105, 511, P | A, b"oops"),
        ]);
        let f = follow(&segs);
        assert_eq!(
            f.pieces,
            [
                data(true, 0, b"bye"),
                data(false, 0, b"still here"),
                data(true, 4, b"oops"),
            ]
        );
        assert_eq!(f.client.after_fin_bytes, 4);
        assert!(f.client.fin);
    }

    #[test]
    fn a_capture_that_starts_mid_stream_starts_at_the_first_byte_seen() {
        let f = follow(&[
            (true, 7000, 900, A, b"late"),
            (false, 900, 7004, A, b"reply"),
        ]);
        assert_eq!(f.pieces, [data(true, 0, b"late"), data(false, 0, b"reply")]);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let isn = u32::MAX - 2;
        let f = follow(&[
            (true, isn, 0, S, b""),
            (true, isn.wrapping_add(1), 0, A, b"ab"),
            (true, isn.wrapping_add(3), 0, A, b"cd"),
        ]);
        assert_eq!(f.pieces, [data(true, 0, b"abcd")]);
    }

    #[test]
    fn a_segment_far_ahead_is_stray_not_a_gigabyte_gap() {
        let mut segs = HANDSHAKE.to_vec();
        segs.extend([
            (true, 101, 501, A, b"abc" as &[u8]),
            (true, 101 + (1 << 31) - 5, 501, A, b"zz"),
        ]);
        let f = follow(&segs);
        assert_eq!(f.pieces, [data(true, 0, b"abc")]);
        assert_eq!(f.client.stray_segments, 1);
    }

    #[test]
    fn the_byte_limit_stops_keeping_and_counts_the_rest() {
        let mut segs = HANDSHAKE.to_vec();
        segs.extend([
            (true, 101, 501, A, b"abcd" as &[u8]),
            (false, 501, 105, A, b"xyz"),
            (true, 105, 504, A, b"e"),
        ]);
        let f = follow_with_limit(&segs, 5);
        assert_eq!(f.pieces, [data(true, 0, b"abcd")]);
        assert_eq!(f.not_kept_bytes, Some(4));
    }

    proptest! {
        /// Whatever order, duplication and overlap the segments come in, the
        /// bytes come out once each, in order, as long as every byte was sent.
        #[test]
        fn any_order_of_overlapping_segments_gives_the_stream(
            len in 1usize..200,
            cuts in proptest::collection::vec((0usize..200, 1usize..40), 1..30),
            isn in any::<u32>(),
        ) {
            let stream: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut segs: Vec<(usize, usize)> = cuts
                .into_iter()
                .map(|(a, l)| (a % len, (a % len + l).min(len)))
                .collect();
            // Make sure every byte is covered at least once.
            let mut pos = 0;
            while pos < len {
                let end = (pos + 17).min(len);
                segs.push((pos, end));
                pos = end;
            }
            let mut r = Reassembler::new();
            let (f, x) = segment(0, true, isn, 0, S, b"");
            r.segment(true, &TcpSegment::from_frame(&f, &x).unwrap());
            for (i, (a, b)) in segs.iter().enumerate() {
                let seq = isn.wrapping_add(1).wrapping_add(*a as u32);
                let (f, x) = segment(i as u64 + 1, true, seq, 0, A, &stream[*a..*b]);
                r.segment(true, &TcpSegment::from_frame(&f, &x).unwrap());
            }
            let out = r.finish();
            prop_assert_eq!(out.pieces, vec![data(true, 0, &stream)]);
            prop_assert_eq!(out.client.bytes, len as u64);
        }

        /// Random numbers and flags never panic, and pieces never overlap.
        #[test]
        fn random_segments_never_panic(
            segs in proptest::collection::vec(
                (any::<bool>(), any::<u32>(), any::<u32>(), any::<u8>(),
                 proptest::collection::vec(any::<u8>(), 0..50)),
                0..40),
        ) {
            let mut r = Reassembler::with_limit(500);
            for (i, (c, seq, ack, flags, payload)) in segs.iter().enumerate() {
                let (f, x) = segment(i as u64, *c, *seq, *ack, *flags, payload);
                r.segment(*c, &TcpSegment::from_frame(&f, &x).unwrap());
            }
            let out = r.finish();
            for side in [true, false] {
                let mut next = 0u64;
                for p in &out.pieces {
                    match p {
                        Piece::Data { from_client, offset, bytes } if *from_client == side => {
                            prop_assert!(*offset >= next);
                            next = offset + bytes.len() as u64;
                        }
                        Piece::Missing { from_client, offset, len } if *from_client == side => {
                            prop_assert!(*offset >= next);
                            next = offset + len;
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}
