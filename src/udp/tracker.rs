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

/// What one numbered datagram turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The number expected next.
    InOrder,
    /// A number ahead of the one expected: the `missing` numbers in between
    /// are provisionally lost (they may still arrive late).
    Ahead {
        /// The first number that is now missing.
        first_missing: u64,
        /// How many numbers were skipped.
        missing: u64,
    },
    /// A number that was missing: it arrived after later ones. Reordered, and
    /// no longer counted as lost.
    Late,
    /// A number already received.
    Duplicate,
    /// A number so old that the tracker has forgotten whether it arrived: it
    /// was either given up on as lost (beyond [`MAX_MISSING`]) or is a
    /// duplicate of one that did arrive. Counted as neither.
    Stale,
    /// A number other than 0 after the end marker: a straggler of a run that
    /// has already been summarised. Counted in no run.
    AfterEnd,
}

/// The accounting of one run (from number 0 to the end marker).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Distinct sequence numbers received.
    pub received: u64,
    /// Numbers lost: skipped over and never arrived, given up on, or (once the
    /// end marker told the total) missing at the tail.
    pub lost: u64,
    /// Numbers that arrived after a later one (they are not lost).
    pub reordered: u64,
    /// Extra copies of numbers already received.
    pub duplicated: u64,
    /// Arrivals too old to tell a late one from a duplicate (see [`Arrival::Stale`]).
    pub stale: u64,
    /// How many the sender said it sent (from the end marker), if it has arrived.
    pub expected: Option<u64>,
}

/// Counts one sender's numbered datagrams. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct SequenceTracker {
    /// The number expected next: one more than the highest received so far.
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
    received: u64,
    reordered: u64,
    duplicated: u64,
    stale: u64,
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
        if seq == u64::MAX {
            // No sender can number a datagram u64::MAX: the end marker's count
            // (a u64 too) could not go one past it. So this is not one of ours.
            self.stale += 1;
            return Arrival::Stale;
        }
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

    /// Records the end marker: the sender sent `count` numbered datagrams.
    ///
    /// The first marker of a run ends it and returns its final counts, where
    /// numbers missing at the tail are lost too. Further copies of the marker
    /// (it is sent several times) return `None`.
    pub fn end(&mut self, count: u64) -> Option<RunCounts> {
        if self.ended {
            return None;
        }
        let tail = count.saturating_sub(self.next);
        let counts = RunCounts {
            lost: self.lost_so_far() + tail,
            expected: Some(count),
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
    /// missing at the tail cannot be known, so `lost` counts only the gaps.
    pub fn counts(&self) -> RunCounts {
        RunCounts {
            received: self.received,
            lost: self.lost_so_far(),
            reordered: self.reordered,
            duplicated: self.duplicated,
            stale: self.stale,
            expected: None,
        }
    }

    /// Whether the run has ended (an end marker arrived and no new run began).
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The number expected next: one more than the highest received.
    pub fn next_expected(&self) -> u64 {
        self.next
    }

    /// How many numbers are missing right now, still hoped for.
    pub fn missing_now(&self) -> u64 {
        self.missing_count
    }

    fn lost_so_far(&self) -> u64 {
        self.given_up + self.missing_count
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
    fn a_huge_jump_is_cheap_and_bounded() {
        let mut t = SequenceTracker::new();
        t.record(0);
        let far = 1_000_000_000_000;
        assert_eq!(
            t.record(far),
            Arrival::Ahead {
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
    fn the_largest_sequence_number_does_not_overflow() {
        let mut t = SequenceTracker::new();
        t.record(u64::MAX - 1);
        assert_eq!(t.counts().lost, u64::MAX - 1);
        assert_eq!(t.record(u64::MAX), Arrival::Stale);
        // The end marker's count below what was seen: no tail, no underflow.
        assert_eq!(t.end(3).unwrap().received, 1);
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
                expected: Some(10),
            }
        );
    }
}
