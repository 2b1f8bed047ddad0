//! `--follow N`: the bytes of TCP stream N, both directions, in the order
//! they became readable, like Wireshark's "Follow TCP Stream".
//!
//! Human: each run of one side's bytes under a header naming the direction,
//! in that side's colour (client red, server blue, as in Wireshark's window),
//! text as text and anything else as a short hex dump; then the byte counts
//! and what reassembly had to fix. JSON: one `follow_chunk` (or `follow_gap`)
//! per run, with the exact bytes as text or hex, then a `follow_summary`.

use std::io::{self, Write};

use colored::{Color, Colorize};
use serde_json::{Value, json};

use super::PacketView;
use crate::inspect::conversation::follow::{
    DirectionStats, Followed, MAX_FOLLOW_BYTES, Piece, Reassembler,
};
use crate::inspect::conversation::streams::{Flow, StreamFinder};
use crate::inspect::conversation::{TcpSegment, direction_key, direction_name};
use crate::inspect::model::{Facts, Frame};

/// The client's colour in every conversation view (Wireshark's choice).
pub const CLIENT_COLOR: Color = Color::Red;
/// The server's colour in every conversation view.
pub const SERVER_COLOR: Color = Color::Blue;

/// Bytes of a binary run shown as hex: enough to recognise a header (a TLS
/// record, a magic number) without flooding the terminal.
pub const HEX_PREVIEW_BYTES: usize = 64;

/// The colour of one side.
pub fn side_color(from_client: bool) -> Color {
    if from_client {
        CLIENT_COLOR
    } else {
        SERVER_COLOR
    }
}

/// Collects stream N's segments; prints everything in `finish`.
pub struct FollowView<W> {
    stream: u64,
    json: bool,
    out: W,
    finder: StreamFinder,
    reassembler: Reassembler,
}

impl<W: Write> FollowView<W> {
    pub fn new(stream: u64, json: bool, out: W) -> Self {
        FollowView {
            stream,
            json,
            out,
            finder: StreamFinder::new(stream),
            reassembler: Reassembler::new(),
        }
    }
}

impl<W: Write> PacketView for FollowView<W> {
    fn packet(&mut self, frame: &Frame, facts: &Facts) -> io::Result<()> {
        if let Some(seg) = TcpSegment::from_frame(frame, facts)
            && let Some(from_client) = self.finder.observe(&seg)
        {
            self.reassembler.segment(from_client, &seg);
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        let flow = self
            .finder
            .result()
            .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e.to_string()))?;
        let followed = std::mem::take(&mut self.reassembler).finish();
        if self.json {
            write_json(&mut self.out, self.stream, &flow, &followed)?;
        } else {
            write_human(&mut self.out, self.stream, &flow, &followed)?;
        }
        self.out.flush()
    }
}

/// Whether bytes read well as text: UTF-8 with no control characters but
/// line breaks and tabs (an escape sequence would drive the terminal).
pub fn is_text(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(s) => s
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t')),
        Err(_) => false,
    }
}

fn write_human(out: &mut impl Write, stream: u64, flow: &Flow, f: &Followed) -> io::Result<()> {
    writeln!(
        out,
        "{} {}: {} {} ⇄ {} {}",
        "Follow TCP stream".bold(),
        stream.to_string().bold(),
        "client".color(CLIENT_COLOR).bold(),
        flow.client,
        "server".color(SERVER_COLOR).bold(),
        flow.server,
    )?;
    if f.pieces.is_empty() {
        writeln!(out, "\n(no data in either direction)")?;
    }
    for piece in &f.pieces {
        writeln!(out)?;
        match piece {
            Piece::Data {
                from_client,
                offset,
                bytes,
            } => {
                let color = side_color(*from_client);
                let kind = if is_text(bytes) { "" } else { ", binary" };
                let head = format!(
                    "── {} · {}{kind} ──",
                    direction_name(*from_client),
                    plural(bytes.len() as u64, "byte")
                );
                writeln!(out, "{}", head.color(color).bold())?;
                if is_text(bytes) {
                    // Text as it is, in the side's colour; always end the line.
                    let text = String::from_utf8_lossy(bytes);
                    write!(out, "{}", text.color(color))?;
                    if !text.ends_with('\n') {
                        writeln!(out)?;
                    }
                } else {
                    write_hex_preview(out, *offset, bytes, color)?;
                }
            }
            Piece::Missing {
                from_client, len, ..
            } => {
                let head = format!(
                    "── {} · [{} missing: sent, but not in the capture] ──",
                    direction_name(*from_client),
                    plural(*len, "byte")
                );
                writeln!(out, "{}", head.color(side_color(*from_client)).bold())?;
            }
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{} {}, {} {}",
        direction_name(true).color(CLIENT_COLOR).bold(),
        plural(f.client.bytes, "byte"),
        direction_name(false).color(SERVER_COLOR).bold(),
        plural(f.server.bytes, "byte"),
    )?;
    for (from_client, stats) in [(true, &f.client), (false, &f.server)] {
        let notes = repairs(stats);
        if !notes.is_empty() {
            writeln!(
                out,
                "  {}: {}",
                direction_name(from_client).color(side_color(from_client)),
                notes.join(", ")
            )?;
        }
    }
    if let Some(not_kept) = f.not_kept_bytes {
        writeln!(
            out,
            "  {} only the first {} MiB of the stream are kept; {} after that are not shown",
            "limit:".bold(),
            MAX_FOLLOW_BYTES >> 20,
            plural(not_kept, "byte")
        )?;
    }
    Ok(())
}

/// What reassembly fixed or found in one direction, in words.
fn repairs(s: &DirectionStats) -> Vec<String> {
    let mut notes = Vec::new();
    if s.retransmitted_segments > 0 {
        notes.push(format!(
            "{} carried bytes already received ({} ignored; the first copy is kept)",
            plural(s.retransmitted_segments, "segment"),
            plural(s.retransmitted_bytes, "byte"),
        ));
    }
    if s.out_of_order_segments > 0 {
        notes.push(format!(
            "{} arrived out of order and {} put back in place",
            plural(s.out_of_order_segments, "segment"),
            if s.out_of_order_segments == 1 {
                "was"
            } else {
                "were"
            }
        ));
    }
    if s.missing_bytes > 0 {
        notes.push(format!(
            "{} missing from the capture",
            plural(s.missing_bytes, "byte")
        ));
    }
    if s.after_fin_bytes > 0 {
        notes.push(format!(
            "{} after its own FIN",
            plural(s.after_fin_bytes, "byte")
        ));
    }
    if s.stray_segments > 0 {
        notes.push(format!(
            "{} far outside the sequence space ignored",
            plural(s.stray_segments, "segment")
        ));
    }
    notes
}

/// Up to [`HEX_PREVIEW_BYTES`] as offset, hex and ASCII lines, then how many
/// more bytes there are. Offsets count from the direction's first byte.
fn write_hex_preview(
    out: &mut impl Write,
    offset: u64,
    bytes: &[u8],
    color: Color,
) -> io::Result<()> {
    let shown = &bytes[..bytes.len().min(HEX_PREVIEW_BYTES)];
    for (i, row) in shown.chunks(16).enumerate() {
        let hex: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = row
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        let at = offset + i as u64 * 16;
        let line = format!("{at:04x}  {:<47}  |{ascii}|", hex.join(" "));
        writeln!(out, "{}", line.color(color))?;
    }
    if bytes.len() > shown.len() {
        writeln!(
            out,
            "… {} more",
            plural((bytes.len() - shown.len()) as u64, "byte")
        )?;
    }
    Ok(())
}

fn write_json(out: &mut impl Write, stream: u64, flow: &Flow, f: &Followed) -> io::Result<()> {
    for piece in &f.pieces {
        let line = match piece {
            Piece::Data {
                from_client,
                offset,
                bytes,
            } => {
                let mut v = json!({
                    "event": "follow_chunk",
                    "stream": stream,
                    "direction": direction_key(*from_client),
                    "offset": offset,
                    "bytes": bytes.len(),
                });
                // Exact bytes: as a string when they are UTF-8, else as hex.
                match std::str::from_utf8(bytes) {
                    Ok(text) => v["text"] = Value::from(text),
                    Err(_) => v["hex"] = Value::from(hex(bytes)),
                }
                v
            }
            Piece::Missing {
                from_client,
                offset,
                len,
            } => json!({
                "event": "follow_gap",
                "stream": stream,
                "direction": direction_key(*from_client),
                "offset": offset,
                "bytes": len,
            }),
        };
        writeln!(out, "{line}")?;
    }
    let side = |s: &DirectionStats| {
        json!({
            "bytes": s.bytes,
            "retransmitted_segments": s.retransmitted_segments,
            "retransmitted_bytes": s.retransmitted_bytes,
            "out_of_order_segments": s.out_of_order_segments,
            "missing_bytes": s.missing_bytes,
            "after_fin_bytes": s.after_fin_bytes,
            "stray_segments": s.stray_segments,
            "fin": s.fin,
        })
    };
    let summary = json!({
        "event": "follow_summary",
        "stream": stream,
        "client": flow.client.to_string(),
        "server": flow.server.to_string(),
        "client_to_server": side(&f.client),
        "server_to_client": side(&f.server),
        "max_bytes": MAX_FOLLOW_BYTES,
        "not_kept_bytes": f.not_kept_bytes,
    });
    writeln!(out, "{summary}")
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `1 byte`, `2 bytes`.
pub fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Text without terminal colour codes, for tests that compare output
/// whatever colour setting another test left behind.
#[cfg(test)]
pub(crate) fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::conversation::testing::*;

    fn run(stream: u64, json: bool, segs: &[(bool, u32, u32, u8, &[u8])]) -> io::Result<String> {
        let mut out = Vec::new();
        let mut view = FollowView::new(stream, json, &mut out);
        for (i, (c, seq, ack, flags, payload)) in segs.iter().enumerate() {
            let (frame, facts) = segment(i as u64 + 1, *c, *seq, *ack, *flags, payload);
            view.packet(&frame, &facts)?;
        }
        view.finish()?;
        drop(view);
        Ok(String::from_utf8(out).unwrap())
    }

    const EXCHANGE: [(bool, u32, u32, u8, &[u8]); 7] = [
        (true, 100, 0, S, b""),
        (false, 500, 101, S | A, b""),
        (true, 101, 501, A, b""),
        (true, 101, 501, P | A, b"hello\n"),
        (true, 101, 501, P | A, b"hello\n"),
        (false, 501, 107, P | A, b"\x16\x03\x01\x00\x05hi"),
        (true, 107, 508, F | A, b""),
    ];

    #[test]
    fn human_view_alternates_sides_and_counts_bytes() {
        let text = plain(&run(0, false, &EXCHANGE).unwrap());
        let expected = "\
Follow TCP stream 0: client 10.0.0.1:40000 ⇄ server 10.0.0.2:80

── client → server · 6 bytes ──
hello

── server → client · 7 bytes, binary ──
0000  16 03 01 00 05 68 69                             |.....hi|

client → server 6 bytes, server → client 7 bytes
  client → server: 1 segment carried bytes already received (6 bytes ignored; the first copy is kept)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn json_view_gives_exact_bytes_and_a_summary() {
        let text = run(0, true, &EXCHANGE).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["event"], "follow_chunk");
        assert_eq!(lines[0]["direction"], "client_to_server");
        assert_eq!(lines[0]["text"], "hello\n");
        assert_eq!(lines[1]["hex"], Value::Null, "valid UTF-8 is text");
        assert_eq!(lines[1]["text"], "\u{16}\u{3}\u{1}\u{0}\u{5}hi");
        assert_eq!(lines[2]["event"], "follow_summary");
        assert_eq!(lines[2]["client_to_server"]["bytes"], 6);
        assert_eq!(lines[2]["client_to_server"]["retransmitted_bytes"], 6);
        assert_eq!(lines[2]["client_to_server"]["fin"], true);
        assert_eq!(lines[2]["server_to_client"]["fin"], false);
    }

    #[test]
    fn a_stream_that_does_not_exist_is_an_error_saying_how_many_there_are() {
        let err = run(3, false, &EXCHANGE).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            "there is no TCP stream 3 in this capture: it has 1 TCP stream, numbered 0"
        );
    }

    #[test]
    fn escape_sequences_are_not_text() {
        assert!(is_text(b"GET / HTTP/1.1\r\n\tx"));
        assert!(is_text("héllo".as_bytes()));
        assert!(!is_text(b"\x1b[31mred"));
        assert!(!is_text(&[0xff, 0xfe]));
    }
}
