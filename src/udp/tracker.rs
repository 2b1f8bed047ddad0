//! Sequence accounting: from the numbers that arrived, what was lost,
//! reordered or duplicated on the way.
//!
//! UDP promises nothing about delivery, so netdojo numbers its datagrams
//! 0, 1, 2, ... and the receiver reasons from the numbers alone:
//!
//! - the number it expected next arrives: **in order**;
//! - a higher number arrives: the ones skipped over are **missing**, lost for
//!   now (they may still turn up);
//! - a missing number turns up late: **reordered**, and no longer lost;
//! - a number it already has arrives again: a **duplicate**;
//! - the end marker says how many were sent, so missing ones at the tail
//!   count as lost too.
//!
//! ## Numbers that cannot be trusted
//!
//! A number is only as good as the datagram that carried it. UDP's checksum
//! drops a damaged datagram, but a relay that rewrites datagrams (as
//! `netdojo udp relay --corrupt` does, like a buggy middlebox) computes a
//! fresh checksum over the damage, and anyone can send a datagram with
//! netdojo's magic and any number at all. One flipped high bit turns #17
//! into #1,125,899,906,842,641: believed, it would make every number in
//! between lost. So the tracker believes a number far ahead only when
//! something corroborates it:
//!
//! - a number more than [`MAX_AHEAD`] ahead of the expected one is a
//!   **leap**: it is **held** (at most [`MAX_HELD`] of them), and moves
//!   nothing;
//! - the datagram right after a held leap, if it is higher and within
//!   [`MAX_MISSING`] of it, **confirms** it: a real burst of loss, counted
//!   exactly as if the leap had been believed when it arrived (numbers that
//!   arrived in the meantime below it count as reordered, as they would have);
//! - a held leap that the stream reaches by itself (the numbers climb to it)
//!   is taken for what it then looks like: the one expected, a missing one,
//!   or a duplicate;
//! - at the end marker, a held leap below its count is a genuine arrival,
//!   and one at or beyond it is **damaged** (or foreign): counted as such,
//!   never as received, and never creating loss. So is any number the
//!   tracker had believed that turns out to be at or beyond the count, and
//!   `u64::MAX`, which no sender can number a datagram with.
//!
//! Then `received + lost` is always what the end marker says was sent.
//!
//! What numbers alone cannot tell: a damaged number that lands below the
//! count is a number the sender really sent. If it lands behind the stream
//! it looks like a duplicate (or a late arrival of a lost one); if it lands
//! ahead, within [`MAX_AHEAD`], it looks like a datagram that overtook the
//! ones in between, which then count as reordered (at most [`MAX_AHEAD`] of
//! them); and the datagram it was meant to be is missing, so counted lost.
//! Only a checksum of netdojo's own over the header could tell those apart
//! (see [`super::wire`]). A damaged end marker is believed too: its count
//! is what "sent" means. And a sender that deliberately sends a leap and a
//! number right after it is believed, as a real burst would be.
//!
//! This module is pure bookkeeping (no sockets, no clock), so every rule above
//! has a unit test.

use std::collections::BTreeMap;

/// How many missing sequence numbers a tracker remembers, waiting for them to
/// arrive late. Beyond this the oldest are counted as lost for good.
///
/// Why 1,024: a real network reorders datagrams by a few, rarely by hundreds,
/// so a datagram more than a thousand gaps behind is not coming back. And
/// memory stays bounded whatever a sender does: the worst case (every other
/// number missing) is 1,024 ranges of about 40 bytes each per sender.
pub const MAX_MISSING: u64 = 1024;

/// How far ahead of the expected number an arrival is believed at once;
/// further ahead, it is a leap, held until something confirms it.
///
/// Why 64: more than real networks reorder by (a few places, rarely
/// dozens), so an honest number this close never waits; and a flipped bit
/// in a sequence number adds or takes away a power of two, so only a flip
/// in its lowest seven bits lands this close and can pass for a gap (making
/// at most 64 numbers look reordered). A genuine leap, a burst of more than
/// 64 losses, is confirmed by the datagram after it, and then counted
/// exactly as if it had been believed at once, so waiting costs nothing.
pub const MAX_AHEAD: u64 = 64;

/// How many leaps a tracker holds at once, waiting for confirmation. When
/// another arrives, the oldest is given up on and counted as damaged.
///
/// Why 16: a genuine leap waits for one datagram (the one after it
/// confirms it), two or three if reordering straddles the burst. More than
/// a handful at once are damaged or forged numbers, or a stream so sparse
/// that more than 1,024 numbers go missing between any two arrivals. And
/// memory stays small whatever a sender does: 16 entries of 24 bytes.
pub const MAX_HELD: usize = 16;

/// What one numbered datagram turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The number expected next.
    InOrder,
    /// A number ahead of the one expected (by at most [`MAX_AHEAD`]): the
    /// `missing` numbers in between are provisionally lost (they may still
    /// arrive late).
    Ahead {
        /// The first number that is now missing.
        first_missing: u64,
        /// How many numbers were skipped.
        missing: u64,
    },
    /// A number that was missing: it arrived after later ones. Reordered, and
    /// no longer counted as lost.
    Late,
    /// A number already received (or another copy of a held leap).
    Duplicate,
    /// A number so old that the tracker has forgotten whether it arrived: it
    /// was either given up on as lost (beyond [`MAX_MISSING`]) or is a
    /// duplicate of one that did arrive. Counted as neither.
    Stale,
    /// A number more than [`MAX_AHEAD`] ahead of the one expected: a burst
    /// of loss, or a damaged or foreign number. Held, not yet believed: the
    /// next datagram may confirm it, and the end marker judges it if nothing
    /// does.
    Leap {
        /// The number the tracker still expects next.
        expected: u64,
        /// The oldest held leap, given up on (and counted as damaged) to
        /// make room, if [`MAX_HELD`] were already held.
        displaced: Option<u64>,
    },
    /// A number right after a held leap, and within [`MAX_MISSING`] of it:
    /// it confirms the leap (and any held below it), so the jump was real.
    Confirms {
        /// The held number this one confirmed.
        leap: u64,
        /// The first number that is now missing.
        first_missing: u64,
        /// How many numbers the confirmed leaps and this one skipped.
        missing: u64,
    },
    /// A number that no sender can have sent (`u64::MAX`: the end marker's
    /// count could not go one past it). Counted as damaged.
    OutOfRange,
    /// A number other than 0 after the end marker: a straggler of a run that
    /// has already been summarised. Counted in no run.
    AfterEnd,
}

/// The accounting of one run (from number 0 to the end marker).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Distinct sequence numbers received (once the end marker has arrived,
    /// only numbers below its count).
    pub received: u64,
    /// Numbers lost: skipped over and never arrived, given up on, or (once the
    /// end marker told the total) missing at the tail. With the end marker,
    /// exactly `expected - received`.
    pub lost: u64,
    /// Numbers that arrived after a later one (they are not lost).
    pub reordered: u64,
    /// Extra copies of numbers already received.
    pub duplicated: u64,
    /// Arrivals too old to tell a late one from a duplicate (see [`Arrival::Stale`]).
    pub stale: u64,
    /// Datagrams whose number this run cannot contain: damaged on the way
    /// (by a relay that hid the damage under a fresh UDP checksum) or not
    /// this sender's numbering at all. A held leap at or beyond the end
    /// marker's count, or given up on to make room; a believed number that
    /// turned out to be at or beyond the count; `u64::MAX`. Counted as
    /// neither received nor lost. Before the end marker, this includes the
    /// leaps still held (nothing has confirmed them yet).
    pub damaged: u64,
    /// How many the sender said it sent (from the end marker), if it has arrived.
    pub expected: Option<u64>,
}

/// A leap held until something confirms it or the end marker judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    seq: u64,
    /// Further copies of it that arrived while held (counted as duplicates
    /// until it is judged).
    copies: u64,
    /// New numbers below it that arrived after it while it was held: if it
    /// is confirmed, each of them came after a higher one, so reordered.
    overtaken: u64,
}

/// Counts one sender's numbered datagrams. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct SequenceTracker {
    /// The number expected next: one more than the highest believed so far.
    next: u64,
    /// Runs of missing numbers, `start -> end` (end exclusive), all below `next`.
    missing: BTreeMap<u64, u64>,
    /// How many numbers `missing` holds (the sum of the runs' lengths).
    missing_count: u64,
    /// Numbers below this that are not in `missing` either arrived or were
    /// given up on; the tracker no longer knows which.
    forgotten_below: u64,
    /// Numbers given up on because more than [`MAX_MISSING`] were missing.
    given_up: u64,
    /// Leaps not yet believed, in the order they arrived; at most [`MAX_HELD`].
    held: Vec<Held>,
    /// The leap held by the previous arrival, which the next may confirm.
    just_held: Option<u64>,
    received: u64,
    reordered: u64,
    duplicated: u64,
    stale: u64,
    damaged: u64,
    /// Set by the end marker: the run is over.
    ended: bool,
}

impl SequenceTracker {
    /// A tracker expecting number 0.
    pub fn new() -> Self {
        SequenceTracker::default()
    }

    /// Records the arrival of numbered datagram `seq`.
    pub fn record(&mut self, seq: u64) -> Arrival {
        if self.ended {
            if seq != 0 {
                return Arrival::AfterEnd;
            }
            // Number 0 after an end marker: the sender started a new run.
            *self = SequenceTracker::new();
        }
        let after_leap = self.just_held.take();
        if seq == u64::MAX {
            // No sender can number a datagram u64::MAX: the end marker's count
            // (a u64 too) could not go one past it. So this is not one of ours.
            self.damaged += 1;
            return Arrival::OutOfRange;
        }
        if let Some(leap) = after_leap
            && seq > leap
            && seq - leap <= MAX_MISSING
        {
            return self.confirm(leap, seq);
        }
        if seq > self.next && seq - self.next > MAX_AHEAD {
            return self.hold(seq);
        }
        if seq >= self.next {
            self.overtaken_by_held(seq);
        }
        let arrival = self.accept(seq);
        self.replay_reached();
        arrival
    }

    /// Records the end marker: the sender sent `count` numbered datagrams.
    ///
    /// The first marker of a run ends it and returns its final counts: held
    /// leaps below `count` are genuine arrivals, the rest damaged; numbers at
    /// or beyond `count` are damaged, not received; and every number below
    /// `count` not received is lost. Further copies of the marker (it is
    /// sent several times) return `None`.
    pub fn end(&mut self, count: u64) -> Option<RunCounts> {
        if self.ended {
            return None;
        }
        for held in std::mem::take(&mut self.held) {
            if held.seq < count {
                self.replay(held, false);
            } else {
                self.judge_damaged(held);
            }
        }
        // Believed numbers at or beyond the count were never sent: damaged.
        // Those below `forgotten_below` cannot be told from numbers given up
        // on; they are taken as given up (the cap below catches the rest).
        if self.next > count {
            let from = count.max(self.forgotten_below);
            let missing_beyond: u64 = self
                .missing
                .iter()
                .map(|(&start, &end)| end.saturating_sub(start.max(from)))
                .sum();
            let beyond = (self.next - from)
                .saturating_sub(missing_beyond)
                .min(self.received);
            self.received -= beyond;
            self.damaged += beyond;
        }
        let received = self.received.min(count);
        self.damaged += self.received - received;
        let counts = RunCounts {
            received,
            lost: count - received,
            expected: Some(count),
            damaged: self.damaged,
            ..self.counts()
        };
        // Keep only the fact that the run ended: duplicate markers and
        // stragglers are recognised, and number 0 starts the next run.
        *self = SequenceTracker {
            ended: true,
            ..SequenceTracker::new()
        };
        Some(counts)
    }

    /// The counts of the current run so far. Without an end marker, numbers
    /// missing at the tail cannot be known, so `lost` counts only the gaps,
    /// and leaps still held count as damaged.
    pub fn counts(&self) -> RunCounts {
        RunCounts {
            received: self.received,
            lost: self.lost_so_far(),
            reordered: self.reordered,
            duplicated: self.duplicated,
            stale: self.stale,
            damaged: self.damaged + self.held.len() as u64,
            expected: None,
        }
    }

    /// Whether the run has ended (an end marker arrived and no new run began).
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The number expected next: one more than the highest believed.
    pub fn next_expected(&self) -> u64 {
        self.next
    }

    /// How many numbers are missing right now, still hoped for.
    pub fn missing_now(&self) -> u64 {
        self.missing_count
    }

    /// How many leaps are held right now, not yet believed.
    pub fn held_now(&self) -> usize {
        self.held.len()
    }

    fn lost_so_far(&self) -> u64 {
        self.given_up + self.missing_count
    }

    /// Believes `seq`: the bookkeeping of in-order, ahead, late, stale and
    /// duplicate numbers, with no question asked about how far ahead it is.
    fn accept(&mut self, seq: u64) -> Arrival {
        if seq == self.next {
            self.next += 1;
            self.received += 1;
            Arrival::InOrder
        } else if seq > self.next {
            let first_missing = self.next;
            let missing = seq - self.next;
            self.missing.insert(first_missing, seq);
            self.missing_count += missing;
            self.next = seq + 1;
            self.received += 1;
            self.forget_beyond_limit();
            Arrival::Ahead {
                first_missing,
                missing,
            }
        } else if self.take_missing(seq) {
            self.received += 1;
            self.reordered += 1;
            Arrival::Late
        } else if seq < self.forgotten_below {
            self.stale += 1;
            Arrival::Stale
        } else {
            self.duplicated += 1;
            Arrival::Duplicate
        }
    }

    /// Holds leap `seq`, or counts another copy of one already held.
    fn hold(&mut self, seq: u64) -> Arrival {
        self.just_held = Some(seq);
        if let Some(held) = self.held.iter_mut().find(|h| h.seq == seq) {
            held.copies += 1;
            self.duplicated += 1;
            return Arrival::Duplicate;
        }
        let displaced = if self.held.len() >= MAX_HELD {
            let oldest = self.held.remove(0);
            self.judge_damaged(oldest);
            Some(oldest.seq)
        } else {
            None
        };
        self.overtaken_by_held(seq);
        self.held.push(Held {
            seq,
            copies: 0,
            overtaken: 0,
        });
        Arrival::Leap {
            expected: self.next,
            displaced,
        }
    }

    /// `seq` confirms held leap `leap`: every leap held below `seq` is
    /// believed, in the order they arrived, and then `seq` itself.
    fn confirm(&mut self, leap: u64, seq: u64) -> Arrival {
        let first_missing = self.next;
        let (below, above): (Vec<Held>, Vec<Held>) = self.held.drain(..).partition(|h| h.seq < seq);
        self.held = above;
        let mut missing = 0;
        for held in below {
            if let Arrival::Ahead { missing: m, .. } = self.replay(held, true) {
                missing += m;
            }
        }
        // Leaps held above `seq` arrived before it.
        self.overtaken_by_held(seq);
        if let Arrival::Ahead { missing: m, .. } = self.accept(seq) {
            missing += m;
        }
        self.replay_reached();
        Arrival::Confirms {
            leap,
            first_missing,
            missing,
        }
    }

    /// Believes a held leap. `confirmed`: by the datagram after it, so it
    /// counts as if believed when it arrived (the numbers below it that
    /// arrived meanwhile came after a higher one: reordered). Otherwise (the
    /// stream reached it, or the end marker's count is above it) it counts
    /// as if it arrived just now: no datagram overtakes more than
    /// [`MAX_AHEAD`] others on a real network, so a leap nothing confirmed
    /// was most likely a damaged copy of another number, and makes nobody
    /// reordered.
    fn replay(&mut self, held: Held, confirmed: bool) -> Arrival {
        if confirmed {
            self.reordered += held.overtaken;
        }
        if held.seq < self.next && self.take_missing(held.seq) {
            // The stream went past it while it was held, and its number is
            // still missing: it fills the hole, but it came before the
            // numbers that went past, so it is not reordered itself.
            self.received += 1;
            Arrival::Late
        } else {
            self.accept(held.seq)
        }
    }

    /// Believes every held leap that the stream has reached (it is now the
    /// number expected, or below), in the order they arrived.
    fn replay_reached(&mut self) {
        while let Some(i) = self.held.iter().position(|h| h.seq <= self.next) {
            let held = self.held.remove(i);
            self.replay(held, false);
        }
    }

    /// A new number `seq` arrived: if a leap above it is held, `seq` came
    /// after a higher number, which is a reorder once that leap is
    /// confirmed. Charged to the lowest such leap: if it turns out damaged
    /// (at or beyond the count), so do all above it.
    fn overtaken_by_held(&mut self, seq: u64) {
        if let Some(held) = self
            .held
            .iter_mut()
            .filter(|h| h.seq > seq)
            .min_by_key(|h| h.seq)
        {
            held.overtaken += 1;
        }
    }

    /// A held leap turned out damaged: it and its copies are neither
    /// received nor duplicates.
    fn judge_damaged(&mut self, held: Held) {
        self.damaged += 1 + held.copies;
        self.duplicated -= held.copies;
    }

    /// Removes `seq` from the missing runs if it is there, splitting its run.
    fn take_missing(&mut self, seq: u64) -> bool {
        let Some((&start, &end)) = self.missing.range(..=seq).next_back() else {
            return false;
        };
        if seq >= end {
            return false;
        }
        self.missing.remove(&start);
        if start < seq {
            self.missing.insert(start, seq);
        }
        if seq + 1 < end {
            self.missing.insert(seq + 1, end);
        }
        self.missing_count -= 1;
        true
    }

    /// Gives up on the oldest missing numbers until at most [`MAX_MISSING`]
    /// remain. Whole runs are trimmed at once, so a huge jump costs no more
    /// than a small one.
    fn forget_beyond_limit(&mut self) {
        while self.missing_count > MAX_MISSING {
            let excess = self.missing_count - MAX_MISSING;
            let Some((start, end)) = self.missing.pop_first() else {
                break;
            };
            let len = end - start;
            if len <= excess {
                self.given_up += len;
                self.missing_count -= len;
                self.forgotten_below = end;
            } else {
                self.given_up += excess;
                self.missing_count -= excess;
                self.forgotten_below = start + excess;
                self.missing.insert(start + excess, end);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(tracker: &mut SequenceTracker, seqs: &[u64]) -> Vec<Arrival> {
        seqs.iter().map(|&s| tracker.record(s)).collect()
    }

    #[test]
    fn in_order_run_loses_nothing() {
        let mut t = SequenceTracker::new();
        assert!(
            feed(&mut t, &[0, 1, 2, 3])
                .iter()
                .all(|a| *a == Arrival::InOrder)
        );
        let end = t.end(4).unwrap();
        assert_eq!(
            end,
            RunCounts {
                received: 4,
                expected: Some(4),
                ..RunCounts::default()
            }
        );
    }

    #[test]
    fn a_gap_is_provisionally_lost() {
        let mut t = SequenceTracker::new();
        let arrivals = feed(&mut t, &[0, 1, 4]);
        assert_eq!(
            arrivals[2],
            Arrival::Ahead {
                first_missing: 2,
                missing: 2
            }
        );
        assert_eq!(t.counts().lost, 2);
        assert_eq!(t.missing_now(), 2);
        assert_eq!(t.end(5).unwrap().lost, 2);
    }

    #[test]
    fn a_late_arrival_is_reordered_not_lost() {
        let mut t = SequenceTracker::new();
        assert_eq!(feed(&mut t, &[0, 2, 1]).last(), Some(&Arrival::Late));
        let c = t.counts();
        assert_eq!((c.received, c.lost, c.reordered), (3, 0, 1));
    }

    #[test]
    fn late_arrivals_split_a_gap_in_any_order() {
        let mut t = SequenceTracker::new();
        feed(&mut t, &[0, 10]);
        assert_eq!(t.missing_now(), 9);
        // From the middle, then both edges, then the rest in reverse.
        for s in [5, 1, 9, 8, 7, 6, 4, 3, 2] {
            assert_eq!(t.record(s), Arrival::Late, "seq {s}");
        }
        assert_eq!(t.missing_now(), 0);
        let c = t.end(11).unwrap();
        assert_eq!((c.received, c.lost, c.reordered), (11, 0, 9));
    }

    #[test]
    fn a_number_received_twice_is_a_duplicate() {
        let mut t = SequenceTracker::new();
        let arrivals = feed(&mut t, &[0, 1, 1, 0, 2, 2]);
        assert_eq!(
            arrivals,
            [
                Arrival::InOrder,
                Arrival::InOrder,
                Arrival::Duplicate,
                Arrival::Duplicate,
                Arrival::InOrder,
                Arrival::Duplicate
            ]
        );
        let c = t.counts();
        assert_eq!((c.received, c.duplicated, c.lost), (3, 3, 0));
    }

    #[test]
    fn a_late_number_arriving_twice_is_reordered_then_duplicate() {
        let mut t = SequenceTracker::new();
        assert_eq!(
            feed(&mut t, &[0, 2, 1, 1]),
            [
                Arrival::InOrder,
                Arrival::Ahead {
                    first_missing: 1,
                    missing: 1
                },
                Arrival::Late,
                Arrival::Duplicate
            ]
        );
    }

    #[test]
    fn a_duplicate_ahead_of_a_gap_is_still_a_duplicate() {
        let mut t = SequenceTracker::new();
        feed(&mut t, &[0, 3]);
        assert_eq!(t.record(3), Arrival::Duplicate);
        assert_eq!(t.counts().lost, 2);
    }

    #[test]
    fn the_end_marker_counts_losses_at_the_tail() {
        let mut t = SequenceTracker::new();
        feed(&mut t, &[0, 1, 2]);
        assert_eq!(
            t.counts().lost,
            0,
            "tail losses are unknowable before the end"
        );
        let c = t.end(10).unwrap();
        assert_eq!((c.received, c.lost, c.expected), (3, 7, Some(10)));
        assert_eq!(c.received + c.lost, 10);
    }

    #[test]
    fn an_end_marker_with_nothing_received_loses_everything() {
        let mut t = SequenceTracker::new();
        let c = t.end(5).unwrap();
        assert_eq!((c.received, c.lost), (0, 5));
    }

    #[test]
    fn duplicate_end_markers_are_ignored() {
        let mut t = SequenceTracker::new();
        feed(&mut t, &[0, 1]);
        assert!(t.end(2).is_some());
        assert!(t.is_ended());
        assert_eq!(t.end(2), None);
        assert_eq!(t.end(2), None);
    }

    #[test]
    fn stragglers_after_the_end_belong_to_no_run() {
        let mut t = SequenceTracker::new();
        feed(&mut t, &[0, 2]);
        t.end(3).unwrap();
        assert_eq!(t.record(1), Arrival::AfterEnd);
        assert_eq!(t.counts(), RunCounts::default());
    }

    #[test]
    fn zero_after_the_end_starts_a_new_run() {
        let mut t = SequenceTracker::new();
        feed(&mut t, &[0, 1, 2]);
        t.end(3).unwrap();
        assert_eq!(t.record(0), Arrival::InOrder);
        assert!(!t.is_ended());
        feed(&mut t, &[2]);
        let c = t.end(4).unwrap();
        assert_eq!((c.received, c.lost, c.expected), (2, 2, Some(4)));
    }

    #[test]
    fn missing_numbers_are_bounded_and_the_oldest_given_up() {
        let mut t = SequenceTracker::new();
        // Every other number missing, far beyond the limit.
        let sent = 4 * MAX_MISSING;
        for s in (0..sent).step_by(2) {
            t.record(s);
        }
        assert_eq!(t.missing_now(), MAX_MISSING);
        assert!(t.missing.len() as u64 <= MAX_MISSING);
        // The oldest gap was given up: its late arrival can no longer be told
        // from a duplicate.
        assert_eq!(t.record(1), Arrival::Stale);
        // A recent gap is still remembered.
        assert_eq!(t.record(sent - 3), Arrival::Late);
        let c = t.end(sent).unwrap();
        // Everything is accounted for: received + lost = sent.
        assert_eq!(c.received + c.lost, sent);
        assert_eq!((c.stale, c.reordered), (1, 1));
    }

    #[test]
    fn a_confirmed_huge_jump_is_cheap_and_bounded() {
        let mut t = SequenceTracker::new();
        t.record(0);
        let far = 1_000_000_000_000;
        assert!(matches!(t.record(far), Arrival::Leap { .. }));
        assert_eq!(
            t.record(far + 1),
            Arrival::Confirms {
                leap: far,
                first_missing: 1,
                missing: far - 1
            }
        );
        assert_eq!(t.missing_now(), MAX_MISSING);
        assert_eq!(t.missing.len(), 1);
        assert_eq!(t.counts().lost, far - 1);
        assert_eq!(t.record(5), Arrival::Stale);
        assert_eq!(t.record(far - 1), Arrival::Late);
        assert_eq!(t.counts().lost, far - 2);
    }

    #[test]
    fn the_largest_sequence_numbers_do_not_overflow() {
        let mut t = SequenceTracker::new();
        assert!(matches!(t.record(u64::MAX - 1), Arrival::Leap { .. }));
        assert_eq!(t.counts().lost, 0, "a lone leap creates no loss");
        assert_eq!(t.record(u64::MAX), Arrival::OutOfRange);
        // Confirmed at the very top of the range: still no overflow.
        let mut top = SequenceTracker::new();
        top.record(u64::MAX - 3);
        assert!(matches!(top.record(u64::MAX - 1), Arrival::Confirms { .. }));
        assert_eq!(top.next_expected(), u64::MAX);
        assert_eq!(top.counts().lost, u64::MAX - 2);
        // The end marker's count below what was seen: no tail, no underflow.
        let c = t.end(3).unwrap();
        assert_eq!((c.received, c.lost, c.damaged), (0, 3, 2));
        let c = top.end(3).unwrap();
        assert_eq!((c.received, c.lost, c.damaged), (0, 3, 2));
    }

    #[test]
    fn the_lessons_check_yourself_question_adds_up() {
        // lessons/03-udp.md, question 4.
        let mut t = SequenceTracker::new();
        feed(&mut t, &[0, 1, 3, 2, 4, 4, 6]);
        let c = t.end(8).unwrap();
        assert_eq!(
            (c.received, c.lost, c.reordered, c.duplicated),
            (6, 2, 1, 1)
        );
    }

    #[test]
    fn the_lessons_damaged_number_question_adds_up() {
        // lessons/03-udp.md, question 8.
        let mut t = SequenceTracker::new();
        let seqs: Vec<u64> = (0..20).chain([1_099_511_627_796]).chain(21..30).collect();
        assert_eq!(seqs[20], 20 | 1 << 40);
        feed(&mut t, &seqs);
        let c = t.end(30).unwrap();
        assert_eq!((c.received, c.lost, c.damaged), (29, 1, 1));
    }

    #[test]
    fn a_swap_drop_and_duplicate_add_up() {
        // What tests/udp.rs does through its forwarder, in miniature: drop 2,
        // swap 4 and 5, duplicate 7, drop the last one.
        let mut t = SequenceTracker::new();
        feed(&mut t, &[0, 1, 3, 5, 4, 6, 7, 7, 8]);
        let c = t.end(10).unwrap();
        assert_eq!(
            c,
            RunCounts {
                received: 8,
                lost: 1 + 1,
                reordered: 1,
                duplicated: 1,
                stale: 0,
                damaged: 0,
                expected: Some(10),
            }
        );
    }

    // Numbers that cannot be trusted: one test per rule of the module doc.

    /// A bit flip, as `udp relay --corrupt` makes them.
    fn flipped(seq: u64, bit: u32) -> u64 {
        seq ^ (1 << bit)
    }

    #[test]
    fn a_lone_huge_number_is_held_and_moves_nothing() {
        let mut t = SequenceTracker::new();
        feed(&mut t, &[0, 1]);
        let damaged = flipped(2, 50);
        assert_eq!(
            t.record(damaged),
            Arrival::Leap {
                expected: 2,
                displaced: None
            }
        );
        assert_eq!(t.next_expected(), 2);
        assert_eq!((t.missing_now(), t.held_now()), (0, 1));
        // The stream goes on as if it had not come.
        assert_eq!(
            feed(&mut t, &[3, 4]),
            [
                Arrival::Ahead {
                    first_missing: 2,
                    missing: 1
                },
                Arrival::InOrder
            ]
        );
        let c = t.counts();
        assert_eq!((c.received, c.lost, c.damaged), (4, 1, 1), "{c:?}");
    }

    #[test]
    fn the_reported_bug_one_flipped_high_bit_in_500() {
        // `udp serve` said lost = 1,125,899,906,842,644 of 500 sent.
        let mut t = SequenceTracker::new();
        for s in 0..500 {
            t.record(if s == 20 { flipped(s, 50) } else { s });
        }
        let c = t.end(500).unwrap();
        assert_eq!(
            c,
            RunCounts {
                received: 499,
                lost: 1,
                damaged: 1,
                expected: Some(500),
                ..RunCounts::default()
            }
        );
    }

    #[test]
    fn a_leap_confirmed_by_the_next_datagram_is_a_burst_counted_as_before() {
        // 3,000 lost in a burst: more than MAX_AHEAD and MAX_MISSING.
        let mut t = SequenceTracker::new();
        t.record(0);
        assert!(matches!(t.record(3001), Arrival::Leap { .. }));
        assert_eq!(t.counts().lost, 0, "not believed yet");
        assert_eq!(
            t.record(3002),
            Arrival::Confirms {
                leap: 3001,
                first_missing: 1,
                missing: 3000
            }
        );
        assert_eq!(t.held_now(), 0);
        assert_eq!(t.counts().lost, 3000);
        assert_eq!(t.record(3003), Arrival::InOrder);
        let c = t.end(3004).unwrap();
        assert_eq!((c.received, c.lost, c.damaged), (4, 3000, 0));
        // The follower may skip some too.
        let mut t = SequenceTracker::new();
        feed(&mut t, &[0, 200]);
        assert_eq!(
            t.record(210),
            Arrival::Confirms {
                leap: 200,
                first_missing: 1,
                missing: 199 + 9
            }
        );
    }

    #[test]
    fn a_burst_straddled_by_reordering_is_counted_as_before() {
        // 3002 overtook 3001 right after a burst.
        let mut t = SequenceTracker::new();
        let arrivals = feed(&mut t, &[0, 3002, 3001, 3003]);
        assert!(matches!(arrivals[1], Arrival::Leap { .. }));
        assert!(matches!(arrivals[2], Arrival::Leap { .. }));
        assert!(matches!(arrivals[3], Arrival::Confirms { leap: 3001, .. }));
        let c = t.end(3004).unwrap();
        assert_eq!((c.received, c.lost, c.reordered), (4, 3000, 1));
    }

    #[test]
    fn numbers_below_a_held_leap_are_reordered_once_it_is_confirmed() {
        // 0..=10, then #100 after a burst, then #11 (held back), then the
        // stream after the burst. Believed at once, #100 would have made #11
        // late: the same counts come out.
        let mut t = SequenceTracker::new();
        let first: Vec<u64> = (0..=10).collect();
        feed(&mut t, &first);
        assert!(matches!(t.record(100), Arrival::Leap { .. }));
        assert_eq!(t.record(11), Arrival::InOrder);
        assert!(
            matches!(t.record(101), Arrival::Leap { .. }),
            "#11 came between: #101 confirms nothing, and is far ahead of #12"
        );
        assert!(matches!(t.record(102), Arrival::Confirms { leap: 101, .. }));
        let c = t.end(103).unwrap();
        assert_eq!((c.received, c.lost, c.reordered), (15, 88, 1));
    }

    #[test]
    fn only_the_very_next_datagram_confirms_a_leap() {
        // The same high bit flipped in two datagrams: two numbers close to
        // each other, far ahead. They are not adjacent, so neither confirms
        // the other.
        let mut t = SequenceTracker::new();
        for s in 0..100 {
            let seq = match s {
                30 | 40 => flipped(s, 40),
                s => s,
            };
            let arrival = t.record(seq);
            if s == 40 {
                assert!(matches!(arrival, Arrival::Leap { .. }), "{arrival:?}");
            }
        }
        assert_eq!(t.held_now(), 2);
        let c = t.end(100).unwrap();
        assert_eq!((c.received, c.lost, c.damaged), (98, 2, 2));
    }

    #[test]
    fn a_confirmation_must_be_higher_and_within_max_missing() {
        let mut t = SequenceTracker::new();
        t.record(0);
        let leap = 10_000;
        t.record(leap);
        assert!(matches!(
            t.record(leap + MAX_MISSING + 1),
            Arrival::Leap { .. }
        ));
        assert!(matches!(t.record(leap - 1), Arrival::Leap { .. }));
        assert_eq!(t.held_now(), 3);
        assert!(matches!(
            t.record(leap - 1 + MAX_MISSING),
            Arrival::Confirms { leap: l, .. } if l == leap - 1
        ));
        // Every leap below the confirming number is believed; the one
        // above it is still held, until the stream reaches it.
        assert_eq!(t.held_now(), 1);
        assert_eq!(t.record(leap + MAX_MISSING), Arrival::InOrder);
        assert_eq!(t.held_now(), 0, "reached: the one expected next");
        assert_eq!(t.next_expected(), leap + MAX_MISSING + 2);
        assert_eq!(t.record(leap + MAX_MISSING + 1), Arrival::Duplicate);
        let c = t.counts();
        assert_eq!(
            (c.reordered, c.damaged),
            (1, 0),
            "#9,999 came after #10,000"
        );
    }

    #[test]
    fn held_leaps_are_bounded_and_the_oldest_given_up_as_damaged() {
        let mut t = SequenceTracker::new();
        t.record(0);
        // Leaps far apart, with an in-order number after each, so that
        // none confirms another.
        let leap = |i: u64| (i + 1) << 32;
        for i in 0..MAX_HELD as u64 {
            assert_eq!(
                t.record(leap(i)),
                Arrival::Leap {
                    expected: i + 1,
                    displaced: None
                }
            );
            t.record(i + 1);
        }
        assert_eq!(t.held_now(), MAX_HELD);
        let next = MAX_HELD as u64;
        assert_eq!(
            t.record(leap(next)),
            Arrival::Leap {
                expected: next + 1,
                displaced: Some(leap(0))
            }
        );
        assert_eq!(t.held_now(), MAX_HELD);
        let c = t.counts();
        assert_eq!(
            c.damaged,
            MAX_HELD as u64 + 1,
            "the given-up one and the held"
        );
        let c = t.end(next + 1).unwrap();
        assert_eq!((c.received, c.lost, c.damaged), (next + 1, 0, next + 1));
    }

    #[test]
    fn held_leaps_at_the_end_marker_below_the_count_are_arrivals() {
        // A burst, then only its last datagram arrived: nothing confirmed
        // it, but the end marker's count is above it.
        let mut t = SequenceTracker::new();
        feed(&mut t, &[0, 1, 500]);
        assert_eq!(t.counts().lost, 0);
        let c = t.end(501).unwrap();
        assert_eq!((c.received, c.lost, c.damaged), (3, 498, 0));
    }

    #[test]
    fn held_leaps_at_or_beyond_the_count_are_damaged_never_lost() {
        let mut t = SequenceTracker::new();
        feed(&mut t, &[0, 1, 2, 100, 3, 1000, 1000]);
        assert_eq!(t.counts().duplicated, 1, "a copy of a held leap, so far");
        let c = t.end(100).unwrap();
        assert_eq!(
            c,
            RunCounts {
                received: 4,
                lost: 96,
                damaged: 3,
                expected: Some(100),
                ..RunCounts::default()
            },
            "#100 is the count itself: never sent; #1000's copy is damaged too"
        );
    }

    #[test]
    fn believed_numbers_beyond_the_count_are_damaged_and_their_gap_not_lost() {
        // #5 flipped to #37: close enough to be believed as a gap, but the
        // end marker says only 10 were sent.
        let mut t = SequenceTracker::new();
        for s in 0..10 {
            t.record(if s == 5 { flipped(s, 5) } else { s });
        }
        assert_eq!(t.counts().lost, 32 - 4, "#5 to #36 skipped, #6 to #9 came");
        let c = t.end(10).unwrap();
        assert_eq!((c.received, c.lost, c.damaged), (9, 1, 1));
        // What cannot be told: #6 to #9 came after "#37", so reordered.
        assert_eq!(c.reordered, 4);
    }

    #[test]
    fn a_damaged_number_below_the_count_looks_like_a_duplicate() {
        // #30 flipped to #158 (bit 7): far ahead, held; the stream reaches
        // it, and it is taken for what it then looks like: #158 once, and
        // again when the real one comes: a duplicate. #30 is missing.
        let mut t = SequenceTracker::new();
        for s in 0..300 {
            t.record(if s == 30 { flipped(s, 7) } else { s });
        }
        let c = t.end(300).unwrap();
        assert_eq!(
            (c.received, c.lost, c.duplicated, c.reordered, c.damaged),
            (299, 1, 1, 0, 0)
        );
        // Behind the stream, it is a duplicate at once.
        let mut t = SequenceTracker::new();
        for s in 0..300 {
            t.record(if s == 200 { flipped(s, 7) } else { s });
        }
        let c = t.end(300).unwrap();
        assert_eq!((c.received, c.lost, c.duplicated), (299, 1, 1));
    }

    #[test]
    fn lost_never_exceeds_sent_minus_received() {
        // Every kind of damage at once, and a count below what was seen.
        let mut t = SequenceTracker::new();
        feed(&mut t, &[0, 1, 2, 60, 61, 62, 1 << 40, 63, 3]);
        let c = t.end(40).unwrap();
        assert!(c.received <= 40, "{c:?}");
        assert_eq!(c.received + c.lost, 40, "{c:?}");
        assert_eq!((c.received, c.damaged), (4, 5), "{c:?}");
        // And for any mix, whatever the count.
        let mut state: u64 = 7;
        for count in [0, 1, 50, 200, 5000] {
            let mut t = SequenceTracker::new();
            for _ in 0..400 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let seq = match state >> 61 {
                    0 => state >> 1,
                    1 => t.next_expected() + (state >> 40) % 3000,
                    _ => t.next_expected().saturating_sub((state >> 40) % 5),
                };
                t.record(seq);
            }
            let c = t.end(count).unwrap();
            assert!(c.received <= count, "{c:?}");
            assert_eq!(c.received + c.lost, count, "{c:?}");
        }
    }

    /// The tracker as it was before leaps were held: every number believed.
    fn believing_everything(seqs: &[u64], count: u64) -> RunCounts {
        let mut t = SequenceTracker::new();
        for &s in seqs {
            t.accept(s);
        }
        t.end(count).unwrap()
    }

    #[test]
    fn honest_streams_count_as_they_did_when_every_number_was_believed() {
        // Seeded random runs with bursts of loss (some far beyond MAX_AHEAD
        // and MAX_MISSING), swaps and duplicates, and nothing damaged.
        let mut state: u64 = 0x5eed;
        let mut rand = |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let mut same = 0;
        for run in 0..300 {
            let count = 200 + rand(5000);
            let mut seqs = Vec::new();
            let mut s = 0;
            while s < count {
                match rand(100) {
                    0..=2 => s += rand(3000),
                    3..=9 => s += 1 + rand(5),
                    _ => {}
                }
                if s >= count {
                    break;
                }
                seqs.push(s);
                if rand(50) == 0 {
                    seqs.push(s);
                }
                s += 1;
            }
            for i in 1..seqs.len() {
                if rand(30) == 0 {
                    seqs.swap(i - 1, i);
                }
            }
            let mut t = SequenceTracker::new();
            for &s in &seqs {
                t.record(s);
            }
            let now = t.end(count).unwrap();
            let then = believing_everything(&seqs, count);
            if then.stale == 0 {
                assert_eq!(now, then, "run {run}: {seqs:?}");
                same += 1;
            } else {
                // Believed at once, a leap made the tracker forget numbers
                // below it, which then came as stale. Held, it forgets
                // less: those count as received (and reordered, if they
                // came after the leap), which they were.
                let remembered = then.stale - now.stale;
                assert!(remembered > 0, "run {run}: {now:?} {then:?}");
                assert_eq!(now.received, then.received + remembered, "run {run}");
                assert_eq!(now.received + now.lost, count, "run {run}");
            }
        }
        assert!(same > 250, "most runs forget nothing: {same}");
    }
}
