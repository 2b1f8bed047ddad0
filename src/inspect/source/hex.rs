//! `--hex`: one frame, typed or pasted as hexadecimal.
//!
//! Accepted: pairs of hex digits with any of spaces, newlines, tabs, `:`,
//! `-`, `,` or `;` between groups, or none (`45 00 00 3c`, `45:00:00:3c`,
//! `4500003c`, `4500 003c`, `0x45, 0x00`); a `0x` prefix on a group is
//! ignored. Each group must hold whole bytes (an even number of digits).
//!
//! Which link type? See [`HEX_LINK_HELP`].

use super::MAX_RECORD;
use crate::error::UsageError;
use crate::inspect::model::{Frame, LinkType};

/// The rule that picks a `--hex` frame's link type, worded for `--help`.
pub const HEX_LINK_HELP: &str = "Read as an Ethernet frame, unless it starts like an IP packet \
(first digit 4 with a header length of at least 20 bytes, or 6) and either its length field \
matches the number of bytes given or bytes 13-14 are not an EtherType netdojo knows.";

/// The frame `--hex TEXT` describes; a mistake is a usage error naming
/// where it is.
pub fn frame(text: &str) -> Result<Frame, UsageError> {
    let data = parse_hex(text)?;
    Ok(Frame {
        number: 1,
        timestamp: None,
        link: guess_link(&data),
        original_len: data.len(),
        data,
        comments: Vec::new(),
    })
}

/// Characters allowed between groups of digits.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, ':' | '-' | ',' | ';')
}

/// Hex text to bytes. Positions in errors count characters from 1.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, UsageError> {
    let mut bytes = Vec::with_capacity(text.len() / 2);
    // The group being read: where it started, and a pending high nibble.
    let mut group_start: Option<usize> = None;
    let mut high: Option<u8> = None;
    let mut chars = text.chars().enumerate().peekable();
    while let Some((i, c)) = chars.next() {
        let position = i + 1;
        if is_separator(c) {
            if let (Some(start), Some(_)) = (group_start, high) {
                return Err(odd_group(text, start));
            }
            group_start = None;
            continue;
        }
        if group_start.is_none() {
            group_start = Some(i);
            // A `0x` prefix opens a group.
            if c == '0' && matches!(chars.peek(), Some((_, 'x' | 'X'))) {
                chars.next();
                continue;
            }
        }
        let Some(nibble) = c.to_digit(16) else {
            return Err(UsageError(format!(
                "--hex: {c:?} (character {position}) is not a hex digit; write bytes as pairs \
                 of digits, e.g. \"45 00\", \"45:00\" or \"4500\""
            )));
        };
        let nibble = nibble as u8;
        match high.take() {
            None => high = Some(nibble),
            Some(h) => {
                if bytes.len() >= MAX_RECORD {
                    return Err(UsageError(format!(
                        "--hex: more than {MAX_RECORD} bytes, the most one frame can hold"
                    )));
                }
                bytes.push(h << 4 | nibble);
            }
        }
    }
    if let (Some(start), Some(_)) = (group_start, high) {
        return Err(odd_group(text, start));
    }
    if bytes.is_empty() {
        return Err(UsageError(
            "--hex: no bytes given (e.g. --hex \"45 00 00 14 ...\")".into(),
        ));
    }
    Ok(bytes)
}

fn odd_group(text: &str, start: usize) -> UsageError {
    let group: String = text
        .chars()
        .skip(start)
        .take_while(|c| !is_separator(*c))
        .collect();
    UsageError(format!(
        "--hex: {group:?} (from character {}) has an odd number of digits; each byte is two hex digits",
        start + 1
    ))
}

/// EtherTypes that make bytes 13–14 look like an Ethernet header.
const KNOWN_ETHER_TYPES: [u16; 7] = [
    0x0800, // IPv4
    0x86dd, // IPv6
    0x0806, // ARP
    0x8100, // 802.1Q VLAN
    0x88a8, // 802.1ad (QinQ)
    0x9100, // older QinQ
    0x8035, // RARP
];

/// The link type for a hand-given frame, by the rule in [`HEX_LINK_HELP`].
pub fn guess_link(bytes: &[u8]) -> LinkType {
    let Some(&first) = bytes.first() else {
        return LinkType::Ethernet;
    };
    let be16 = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
    };
    let length_matches = match first >> 4 {
        4 if first & 0x0f >= 5 => be16(2) == Some(bytes.len()),
        6 => be16(4).map(|payload| payload + 40) == Some(bytes.len()),
        _ => return LinkType::Ethernet,
    };
    let ethernet_plausible = be16(12).is_some_and(|t| KNOWN_ETHER_TYPES.contains(&(t as u16)));
    if length_matches || !ethernet_plausible {
        LinkType::RawIp
    } else {
        LinkType::Ethernet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_gives_the_same_bytes() {
        let want = vec![0x45, 0x00, 0x00, 0x3c];
        for text in [
            "45 00 00 3c",
            "45:00:00:3c",
            "45-00-00-3c",
            "4500003c",
            "4500 003C",
            "0x45, 0x00, 0x00, 0x3c",
            "0x4500003c",
            "\n45 00\n00 3c\n",
            "45\t00;00 3c",
        ] {
            assert_eq!(
                parse_hex(text).map_err(|e| e.0),
                Ok(want.clone()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn mistakes_point_at_their_position() {
        let e = parse_hex("45 0g 00").unwrap_err().0;
        assert!(e.contains("'g' (character 5) is not a hex digit"), "{e}");
        let e = parse_hex("45 000 00").unwrap_err().0;
        assert!(
            e.contains("\"000\" (from character 4) has an odd number"),
            "{e}"
        );
        let e = parse_hex("45 0").unwrap_err().0;
        assert!(e.contains("\"0\" (from character 4)"), "{e}");
        let e = parse_hex(" : ").unwrap_err().0;
        assert!(e.contains("no bytes"), "{e}");
        let e = parse_hex("é").unwrap_err().0;
        assert!(e.contains("(character 1)"), "{e}");
        assert!(parse_hex("0x").is_err());
    }

    #[test]
    fn ip_or_ethernet() {
        // An IPv4 header whose total length (20) matches.
        let ip = parse_hex("45000014 00004000 40060000 7f000001 7f000001").unwrap();
        assert_eq!(guess_link(&ip), LinkType::RawIp);
        // A truncated IPv4 header: bytes 13-14 (7f 00) are no EtherType.
        let cut = parse_hex("45000028 00004000 40060000 7f000001").unwrap();
        assert_eq!(guess_link(&cut), LinkType::RawIp);
        // An Ethernet frame from a MAC starting 4x, carrying IPv4.
        let eth = parse_hex("42 00 00 00 00 01 02 00 00 00 00 02 08 00 45 00").unwrap();
        assert_eq!(guess_link(&eth), LinkType::Ethernet);
        // Ordinary Ethernet.
        let eth = parse_hex("ff ff ff ff ff ff 02 00 00 00 00 02 08 06").unwrap();
        assert_eq!(guess_link(&eth), LinkType::Ethernet);
        // IPv6 with an empty payload.
        let mut v6 = vec![0x60, 0, 0, 0, 0, 0, 59, 64];
        v6.extend([0; 32]);
        assert_eq!(guess_link(&v6), LinkType::RawIp);
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_is_a_usage_error(text in ".{0,80}") {
            if let Ok(bytes) = parse_hex(&text) {
                let _ = guess_link(&bytes);
            }
        }

        #[test]
        fn hex_of_any_bytes_round_trips(bytes in proptest::collection::vec(proptest::num::u8::ANY, 1..64)) {
            let text: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            proptest::prop_assert_eq!(parse_hex(&text.join(":")).map_err(|e| e.0), Ok(bytes.clone()));
            proptest::prop_assert_eq!(parse_hex(&text.concat()).map_err(|e| e.0), Ok(bytes));
        }
    }
}
