//! `--ladder [N]`: TCP stream N as a ladder (sequence) diagram.
//!
//! Two vertical lines, the client's and the server's; one arrow per segment,
//! in the order captured, with its flags and length on the arrow and its
//! relative sequence and acknowledgement numbers and window beside it:
//!
//! ```text
//!  frame        time  client                                    server
//!                     10.0.0.1:40000                            10.0.0.2:80
//!      1    0.000000  ├── SYN ─────────────────────────────────▶│  seq 0 win 64240 · handshake
//!      2    0.000120  │◀──────────────────────────── SYN, ACK ──┤  seq 0 ack 1 win 65160 · handshake
//! ```
//!
//! Retransmissions, duplicate ACKs and the like are marked in brackets, so
//! the diagram reads the same without colour. Rows are printed as segments
//! arrive: memory does not grow with the stream. JSON: a `ladder_stream`
//! object, one `ladder_segment` per segment, a `ladder_summary`.

use std::io::{self, Write};
use std::time::Duration;

use colored::{Color, Colorize};
use serde_json::json;

use super::PacketView;
use super::follow::{CLIENT_COLOR, SERVER_COLOR, plural, side_color};
use crate::inspect::conversation::ladder::{LadderRow, LadderSummary, LadderTracker, SegmentKind};
use crate::inspect::conversation::streams::{Flow, StreamFinder};
use crate::inspect::conversation::{TcpSegment, direction_key, flag_names};
use crate::inspect::model::{Facts, Frame, TcpFlags};

/// Characters between the two vertical lines: room for the longest usual
/// label (`FIN, PSH, ACK · 65535 bytes`) with arrow shafts either side.
pub const ARROW_WIDTH: usize = 40;

/// Width of the frame and time columns, and the gap after them.
const FRAME_WIDTH: usize = 6;
const TIME_WIDTH: usize = 10;
const MARGIN: &str = "  ";

/// Draws one stream as it goes by.
pub struct LadderView<W> {
    stream: u64,
    json: bool,
    out: W,
    finder: StreamFinder,
    tracker: LadderTracker,
    started: bool,
}

impl<W: Write> LadderView<W> {
    pub fn new(stream: u64, json: bool, out: W) -> Self {
        LadderView {
            stream,
            json,
            out,
            finder: StreamFinder::new(stream),
            tracker: LadderTracker::new(),
            started: false,
        }
    }

    fn header(&mut self, flow: &Flow, opens_with_syn: bool) -> io::Result<()> {
        if self.json {
            let v = json!({
                "event": "ladder_stream",
                "stream": self.stream,
                "client": flow.client.to_string(),
                "server": flow.server.to_string(),
            });
            return writeln!(self.out, "{v}");
        }
        writeln!(
            self.out,
            "{} {}: {} {} ⇄ {} {}",
            "TCP stream".bold(),
            self.stream.to_string().bold(),
            "client".color(CLIENT_COLOR).bold(),
            flow.client,
            "server".color(SERVER_COLOR).bold(),
            flow.server,
        )?;
        writeln!(
            self.out,
            "seq and ack are relative: each side's first sequence number (its SYN) is 0"
        )?;
        if !opens_with_syn {
            writeln!(
                self.out,
                "the handshake is not in the capture: windows are the field as sent, scale unknown (win 64?)"
            )?;
        }
        writeln!(self.out)?;
        let lead = FRAME_WIDTH + TIME_WIDTH + 2 * MARGIN.len();
        let columns = format!(
            "{:>FRAME_WIDTH$}{MARGIN}{:>TIME_WIDTH$}{MARGIN}",
            "frame", "time"
        );
        writeln!(
            self.out,
            "{columns}{}{}{}",
            "client".color(CLIENT_COLOR).bold(),
            " ".repeat(ARROW_WIDTH + 1 - "client".len()),
            "server".color(SERVER_COLOR).bold()
        )?;
        let client = flow.client.to_string();
        let server = flow.server.to_string();
        if client.chars().count() <= ARROW_WIDTH {
            let pad = ARROW_WIDTH + 1 - client.chars().count();
            writeln!(
                self.out,
                "{}{}{}{}",
                " ".repeat(lead),
                client.color(CLIENT_COLOR),
                " ".repeat(pad),
                server.color(SERVER_COLOR)
            )?;
        } else {
            // A long IPv6 address: each on its own line, under its column.
            writeln!(
                self.out,
                "{}{}",
                " ".repeat(lead),
                client.color(CLIENT_COLOR)
            )?;
            writeln!(
                self.out,
                "{}{}",
                " ".repeat(lead + ARROW_WIDTH + 1),
                server.color(SERVER_COLOR)
            )?;
        }
        self.rails()
    }

    /// The two vertical lines, with nothing between them.
    fn rails(&mut self) -> io::Result<()> {
        let lead = FRAME_WIDTH + TIME_WIDTH + 2 * MARGIN.len();
        writeln!(
            self.out,
            "{}{}{}{}",
            " ".repeat(lead),
            "│".color(CLIENT_COLOR),
            " ".repeat(ARROW_WIDTH),
            "│".color(SERVER_COLOR)
        )
    }

    fn row(&mut self, row: &LadderRow) -> io::Result<()> {
        if self.json {
            let marks: Vec<serde_json::Value> = row
                .marks
                .iter()
                .map(|m| match m {
                    crate::inspect::conversation::ladder::Mark::DuplicateAck {
                        number,
                        of_frame,
                    } => json!({"mark": m.name(), "number": number, "of_frame": of_frame}),
                    _ => json!({"mark": m.name()}),
                })
                .collect();
            let v = json!({
                "event": "ladder_segment",
                "stream": self.stream,
                "frame": row.frame,
                "time": row.time.map(|t| t.as_secs_f64()),
                "direction": direction_key(row.from_client),
                "flags": flag_names(row.flags),
                "seq": row.seq,
                "ack": row.ack,
                "len": row.len,
                "window": row.window,
                "window_scaled": row.window_scaled,
                "kind": row.kind.name(),
                "marks": marks,
            });
            return writeln!(self.out, "{v}");
        }
        writeln!(self.out, "{}", render_row(row))
    }

    fn summary(&mut self, s: &LadderSummary) -> io::Result<()> {
        if self.json {
            let v = json!({
                "event": "ladder_summary",
                "stream": self.stream,
                "client_to_server": {"segments": s.client_segments, "bytes": s.client_bytes},
                "server_to_client": {"segments": s.server_segments, "bytes": s.server_bytes},
                "handshake": {"syn": s.syn, "syn_ack": s.syn_ack, "ack": s.handshake_ack},
                "fin_from_client": s.fin_from_client,
                "fin_from_server": s.fin_from_server,
                "reset": s.reset,
                "retransmissions": s.retransmissions,
                "duplicate_acks": s.duplicate_acks,
                "out_of_order": s.out_of_order,
                "previous_segment_not_captured": s.not_captured,
            });
            return writeln!(self.out, "{v}");
        }
        self.rails()?;
        writeln!(self.out)?;
        writeln!(
            self.out,
            "{}: {} {} ({}), {} {} ({})",
            plural(s.client_segments + s.server_segments, "segment"),
            s.client_segments,
            "client → server".color(CLIENT_COLOR),
            plural(s.client_bytes, "byte"),
            s.server_segments,
            "server → client".color(SERVER_COLOR),
            plural(s.server_bytes, "byte"),
        )?;
        let handshake = match (s.syn, s.syn_ack, s.handshake_ack) {
            (true, true, true) => "handshake complete (SYN, SYN-ACK, ACK)".to_string(),
            (false, false, false) => {
                "no handshake in the capture (it started mid-stream)".to_string()
            }
            _ => {
                // Say which of the three were captured, and which not.
                let parts = [
                    (s.syn, "SYN"),
                    (s.syn_ack, "SYN-ACK"),
                    (s.handshake_ack, "ACK"),
                ];
                let seen: Vec<&str> = parts.iter().filter(|p| p.0).map(|p| p.1).collect();
                let missing: Vec<&str> = parts.iter().filter(|p| !p.0).map(|p| p.1).collect();
                format!(
                    "handshake partly seen ({}; no {})",
                    seen.join(", "),
                    missing.join(", no ")
                )
            }
        };
        let close = match (s.reset, s.fin_from_client, s.fin_from_server) {
            (true, _, _) => "aborted by RST",
            (false, true, true) => "closed by FIN from both sides",
            (false, true, false) => "FIN from the client only (half-closed)",
            (false, false, true) => "FIN from the server only (half-closed)",
            (false, false, false) => "not closed in the capture",
        };
        let mut notes = vec![handshake, close.to_string()];
        for (n, one, many) in [
            (s.retransmissions, "retransmission", "retransmissions"),
            (s.duplicate_acks, "duplicate ACK", "duplicate ACKs"),
            (
                s.out_of_order,
                "segment out of order",
                "segments out of order",
            ),
            (
                s.not_captured,
                "segment after one not captured",
                "segments after ones not captured",
            ),
        ] {
            if n > 0 {
                notes.push(format!("{n} {}", if n == 1 { one } else { many }));
            }
        }
        writeln!(self.out, "{}", notes.join(" · "))
    }
}

impl<W: Write> PacketView for LadderView<W> {
    fn packet(&mut self, frame: &Frame, facts: &Facts) -> io::Result<()> {
        let Some(seg) = TcpSegment::from_frame(frame, facts) else {
            return Ok(());
        };
        let Some(from_client) = self.finder.observe(&seg) else {
            return Ok(());
        };
        if !self.started {
            self.started = true;
            if let Some(flow) = self.finder.flow().copied() {
                self.header(&flow, seg.flags.has(TcpFlags::SYN))?;
            }
        }
        let row = self.tracker.segment(from_client, &seg);
        self.row(&row)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.finder
            .result()
            .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e.to_string()))?;
        let summary = *self.tracker.summary();
        self.summary(&summary)?;
        self.out.flush()
    }
}

/// The text on the arrow: flags, and the length when there is payload.
fn arrow_label(row: &LadderRow) -> String {
    let flags = flag_names(row.flags);
    let flags = if flags.is_empty() {
        "no flags".to_string()
    } else {
        flags.join(", ")
    };
    if row.len > 0 {
        format!("{flags} · {}", plural(u64::from(row.len), "byte"))
    } else {
        flags
    }
}

fn format_time(t: Option<Duration>) -> String {
    match t {
        Some(t) => format!("{:.6}", t.as_secs_f64()),
        None => "-".to_string(),
    }
}

/// One segment's line: frame, time, the arrow between the rails, then the
/// numbers, the kind of segment, and any marks.
pub fn render_row(row: &LadderRow) -> String {
    let color = side_color(row.from_client);
    let label = arrow_label(row);
    let emphasis = row.flags.has(TcpFlags::SYN)
        || row.flags.has(TcpFlags::FIN)
        || row.flags.has(TcpFlags::RST);
    let label_text = if emphasis {
        label.color(color).bold()
    } else {
        label.color(color)
    };
    // "── label ───▶" or "◀─── label ──": shaft, label, shaft, head.
    let fill = ARROW_WIDTH.saturating_sub(label.chars().count() + 5).max(1);
    let shaft = "─".repeat(fill);
    let arrow = if row.from_client {
        format!(
            "{}{}{label_text}{}{}{}",
            "├".color(CLIENT_COLOR),
            "── ".color(color),
            format!(" {shaft}").color(color),
            "▶".color(color),
            "│".color(SERVER_COLOR),
        )
    } else {
        format!(
            "{}{}{label_text}{}{}",
            "│".color(CLIENT_COLOR),
            format!("◀{shaft} ").color(color),
            " ──".color(color),
            "┤".color(SERVER_COLOR),
        )
    };
    let mut details = format!("seq {}", row.seq);
    if let Some(ack) = row.ack {
        details.push_str(&format!(" ack {ack}"));
    }
    match row.window_scaled {
        Some(window) => details.push_str(&format!(" win {window}")),
        None => details.push_str(&format!(" win {}?", row.window)),
    }
    let kind = match row.kind {
        SegmentKind::Handshake => Some("handshake"),
        SegmentKind::Fin => Some("close"),
        SegmentKind::Reset => Some("reset"),
        SegmentKind::Data | SegmentKind::Ack => None,
    };
    if let Some(kind) = kind {
        details.push_str(" · ");
        details.push_str(kind);
    }
    let marks: String = row
        .marks
        .iter()
        .map(|m| format!(" [{m}]"))
        .collect::<String>();
    format!(
        "{:>FRAME_WIDTH$}{MARGIN}{:>TIME_WIDTH$}{MARGIN}{arrow}{MARGIN}{}{}",
        row.frame,
        format_time(row.time),
        details.dimmed(),
        marks.color(Color::Yellow).bold(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::conversation::testing::*;

    #[test]
    fn arrows_fill_the_space_between_the_rails() {
        let mut out = Vec::new();
        let mut view = LadderView::new(0, false, &mut out);
        for (i, (c, seq, ack, flags, payload)) in [
            (true, 100, 0, S, b"" as &[u8]),
            (false, 500, 101, S | A, b""),
            (true, 101, 501, A, b""),
            (true, 101, 501, P | A, b"hello"),
            (true, 101, 501, P | A, b"hello"),
            (false, 501, 106, R, b""),
        ]
        .iter()
        .enumerate()
        {
            let (frame, facts) = segment(i as u64 + 1, *c, *seq, *ack, *flags, payload);
            view.packet(&frame, &facts).unwrap();
        }
        view.finish().unwrap();
        drop(view);
        let text = super::super::follow::plain(&String::from_utf8(out).unwrap());
        let rows: Vec<&str> = text.lines().filter(|l| l.contains(" win ")).collect();
        assert_eq!(rows.len(), 6, "{text}");
        // Every arrow ends on the server's rail at the same column.
        let ends: Vec<usize> = rows
            .iter()
            .map(|r| {
                r.chars()
                    .position(|c| c == '┤' || c == '▶')
                    .map(|p| if r.contains('▶') { p + 1 } else { p })
                    .unwrap()
            })
            .collect();
        assert!(ends.windows(2).all(|w| w[0] == w[1]), "{text}");
        assert!(rows[4].ends_with("[retransmission]"), "{text}");
        assert!(rows[5].contains("RST"), "{text}");
        assert!(text.contains("aborted by RST"), "{text}");
    }
    fn closing_line(segs: &[(bool, u32, u32, u8, &[u8])]) -> String {
        let mut out = Vec::new();
        let mut view = LadderView::new(0, false, &mut out);
        for (i, (c, seq, ack, flags, payload)) in segs.iter().enumerate() {
            let (frame, facts) = segment(i as u64 + 1, *c, *seq, *ack, *flags, payload);
            view.packet(&frame, &facts).unwrap();
        }
        view.finish().unwrap();
        drop(view);
        let text = super::super::follow::plain(&String::from_utf8(out).unwrap());
        text.lines()
            .find(|l| l.contains("handshake") && !l.contains(" win "))
            .unwrap_or_else(|| panic!("no handshake note in {text}"))
            .to_string()
    }

    #[test]
    fn a_request_in_the_third_segment_still_completes_the_handshake() {
        let line = closing_line(&[
            (true, 100, 0, S, b""),
            (false, 500, 101, S | A, b""),
            (true, 101, 501, P | A, b"GET / HTTP/1.1\r\n\r\n"),
            (false, 501, 119, A, b""),
        ]);
        assert!(
            line.contains("handshake complete (SYN, SYN-ACK, ACK)"),
            "{line}"
        );
    }

    #[test]
    fn a_partial_handshake_says_what_is_missing() {
        let line = closing_line(&[(true, 100, 0, S, b""), (false, 500, 101, S | A, b"")]);
        assert!(
            line.contains("handshake partly seen (SYN, SYN-ACK; no ACK)"),
            "{line}"
        );
        let line = closing_line(&[(false, 500, 101, S | A, b""), (true, 101, 501, A, b"")]);
        assert!(
            line.contains("handshake partly seen (SYN-ACK, ACK; no SYN)"),
            "{line}"
        );
    }
}
