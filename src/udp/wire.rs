//! netdojo's numbered datagram: a 20-byte header in front of any payload.
//!
//! ```text
//!  0               4                              12                             20
//!  +---------------+------------------------------+------------------------------+---------
//!  | magic "NDJ1"  | sequence number (u64, BE)    | send time, ns since epoch    | padding
//!  +---------------+------------------------------+------------------------------+---------
//! ```
//!
//! The sequence number starts at 0 and goes up by one per datagram, which is
//! all a receiver needs to count what the network lost, reordered or
//! duplicated. The send time (the sender's wall clock) gives a one-way latency
//! when sender and receiver share a clock, as on one machine.
//!
//! After the last datagram the sender sends an end marker, magic `"NDJE"` with
//! the number of datagrams sent in the sequence field, so that the receiver can
//! also count losses at the tail. It is sent several times, since UDP may lose
//! it too.
//!
//! ## No checksum of its own
//!
//! The header carries no checksum: UDP's own checksum (over header and
//! payload) already drops a datagram damaged on the way. It cannot help when
//! something in between rewrites the datagram and computes a fresh checksum
//! over the damage, as `netdojo udp relay --corrupt` does on purpose and a
//! faulty middlebox may do by accident; nor against a sender that puts any
//! number it likes behind netdojo's magic. So the receiver's
//! [`super::tracker`] does not simply believe a number: one far ahead waits
//! for the next to confirm it, and one the end marker shows was never sent is
//! counted as damaged. What it cannot tell apart without a checksum (a damaged
//! number close to the stream passes for a duplicate or a reordering) is
//! listed there.
//!
//! A checksum here would make that damage visible outright, but it would not
//! stop a sender that lies on purpose, so the tracker's rules would stay; and
//! it needs room: 20 bytes is the smallest `--size` a user may ask for, and
//! what lesson 3 and the lab's captures show. It would come as a new magic
//! (say `"NDJ2"`, a 24-byte header ending in a CRC-32C), so that receivers
//! keep counting `"NDJ1"` senders as they do now.

/// Magic of a numbered datagram.
pub const MAGIC_DATA: [u8; 4] = *b"NDJ1";
/// Magic of the end marker.
pub const MAGIC_END: [u8; 4] = *b"NDJE";
/// Bytes of netdojo's header.
pub const HEADER_LEN: usize = 20;
/// The largest UDP payload over IPv4: 65,535 (IPv4 total length) − 20 (IPv4
/// header) − 8 (UDP header). IPv6 allows 20 bytes more; netdojo keeps the one
/// limit that works everywhere.
pub const MAX_PAYLOAD: usize = 65_507;

/// What a received datagram turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datagram {
    /// One of netdojo's numbered datagrams.
    Numbered { seq: u64, sent_at_ns: u64 },
    /// The end marker: the sender sent `count` numbered datagrams.
    End { count: u64 },
    /// Anything else (from `nc -u`, say).
    Other,
}

/// Checks a `--size`: room for the header, and within UDP's limit.
pub fn check_payload_size(size: usize) -> Result<usize, String> {
    if size < HEADER_LEN {
        Err(format!(
            "{size} bytes is too small: netdojo's numbered datagram needs at least {HEADER_LEN} bytes for its header"
        ))
    } else if size > MAX_PAYLOAD {
        Err(format!(
            "{size} bytes is too large: the largest UDP payload is {} bytes (65,535 − 20 IPv4 header − 8 UDP header)",
            crate::report::thousands(MAX_PAYLOAD as u64)
        ))
    } else {
        Ok(size)
    }
}

/// Writes a numbered header into the front of `buf` (at least [`HEADER_LEN`]).
pub fn encode_numbered(buf: &mut [u8], seq: u64, sent_at_ns: u64) {
    buf[0..4].copy_from_slice(&MAGIC_DATA);
    buf[4..12].copy_from_slice(&seq.to_be_bytes());
    buf[12..20].copy_from_slice(&sent_at_ns.to_be_bytes());
}

/// The end marker for a run of `count` datagrams.
pub fn encode_end(count: u64, sent_at_ns: u64) -> [u8; HEADER_LEN] {
    let mut buf = [0u8; HEADER_LEN];
    buf[0..4].copy_from_slice(&MAGIC_END);
    buf[4..12].copy_from_slice(&count.to_be_bytes());
    buf[12..20].copy_from_slice(&sent_at_ns.to_be_bytes());
    buf
}

/// Recognises a datagram; anything short or with another magic is `Other`.
pub fn decode(bytes: &[u8]) -> Datagram {
    let Some(header) = bytes.get(..HEADER_LEN) else {
        return Datagram::Other;
    };
    let number = |range: std::ops::Range<usize>| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[range]);
        u64::from_be_bytes(b)
    };
    match header[0..4].try_into() {
        Ok(MAGIC_DATA) => Datagram::Numbered {
            seq: number(4..12),
            sent_at_ns: number(12..20),
        },
        Ok(MAGIC_END) => Datagram::End {
            count: number(4..12),
        },
        _ => Datagram::Other,
    }
}

/// Nanoseconds since the Unix epoch, by the wall clock.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_round_trip() {
        let mut buf = vec![0u8; 64];
        encode_numbered(&mut buf, 42, 7);
        assert_eq!(
            decode(&buf),
            Datagram::Numbered {
                seq: 42,
                sent_at_ns: 7
            }
        );
        assert_eq!(decode(&encode_end(100, 1)), Datagram::End { count: 100 });
    }

    #[test]
    fn anything_else_is_other() {
        assert_eq!(decode(b"hello\n"), Datagram::Other);
        assert_eq!(decode(&[0u8; 40]), Datagram::Other);
        assert_eq!(decode(b"NDJ1"), Datagram::Other);
    }

    #[test]
    fn sizes_are_checked_with_the_limit_named() {
        assert!(check_payload_size(19).is_err());
        assert_eq!(check_payload_size(20), Ok(20));
        assert_eq!(check_payload_size(65_507), Ok(65_507));
        let e = check_payload_size(70_000).unwrap_err();
        assert!(e.contains("65,507"), "{e}");
    }
}
