//! How a datagram that is not netdojo's is shown: as text if it is UTF-8,
//! else as hex, cut short so one datagram stays one line.

use std::fmt::Write;

/// Characters of text shown from one datagram: about a terminal line.
pub const MAX_TEXT_CHARS: usize = 80;
/// Bytes shown as hex from one datagram: 32 bytes are 95 characters.
pub const MAX_HEX_BYTES: usize = 32;

/// What a payload looks like to a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// How the payload was read.
    pub encoding: Encoding,
    /// The text (unescaped), or hex bytes separated by spaces; possibly cut.
    pub content: String,
    /// Whether `content` shows only the start of the payload.
    pub truncated: bool,
}

/// How a payload was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// No payload at all.
    Empty,
    /// Valid UTF-8 text.
    Utf8,
    /// Anything else, shown as hex.
    Binary,
}

impl Encoding {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Empty => "empty",
            Encoding::Utf8 => "utf-8",
            Encoding::Binary => "binary",
        }
    }
}

/// Looks at a payload the way a person would want to see it.
pub fn preview(bytes: &[u8]) -> Preview {
    if bytes.is_empty() {
        return Preview {
            encoding: Encoding::Empty,
            content: String::new(),
            truncated: false,
        };
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let mut chars = text.char_indices();
            let cut = chars.nth(MAX_TEXT_CHARS).map(|(i, _)| i);
            Preview {
                encoding: Encoding::Utf8,
                content: text[..cut.unwrap_or(text.len())].to_string(),
                truncated: cut.is_some(),
            }
        }
        Err(_) => Preview {
            encoding: Encoding::Binary,
            content: hex(&bytes[..bytes.len().min(MAX_HEX_BYTES)]),
            truncated: bytes.len() > MAX_HEX_BYTES,
        },
    }
}

/// Bytes as lowercase hex pairs separated by spaces: `de ad be ef`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Text as a quoted string with control characters escaped, so a newline
/// that `nc` sends shows as `\n` and cannot break the narration's lines.
pub fn quoted(text: &str) -> String {
    format!("\"{}\"", text.escape_debug())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_text() {
        let p = preview(b"hello\n");
        assert_eq!(p.encoding, Encoding::Utf8);
        assert_eq!(p.content, "hello\n");
        assert!(!p.truncated);
        assert_eq!(quoted(&p.content), r#""hello\n""#);
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let text = "é".repeat(MAX_TEXT_CHARS + 5);
        let p = preview(text.as_bytes());
        assert_eq!(p.content.chars().count(), MAX_TEXT_CHARS);
        assert!(p.truncated);
        let exact = "a".repeat(MAX_TEXT_CHARS);
        assert!(!preview(exact.as_bytes()).truncated);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_hex() {
        let p = preview(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(p.encoding, Encoding::Binary);
        assert_eq!(p.content, "de ad be ef");
        let long = vec![0xff; 1000];
        let p = preview(&long);
        assert!(p.truncated);
        assert_eq!(p.content.len(), MAX_HEX_BYTES * 3 - 1);
    }

    #[test]
    fn nothing_is_empty() {
        assert_eq!(preview(b"").encoding, Encoding::Empty);
    }
}
