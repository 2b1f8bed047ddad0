//! The default view: a frame opened layer by layer, like Wireshark's
//! packet-details pane.
//!
//! ```text
//! Frame 1 · 0.000000 s · 58 bytes
//!     Comment: lost by the link (--loss)       (pcapng comments, when the capture has any)
//! [L2 Data link · Link] Ethernet II: 02:00:00:00:00:01 → 02:00:00:00:00:02, IPv4
//!     Destination  02:00:00:00:00:02
//!     Source       02:00:00:00:00:01
//!     EtherType    0x0800 (IPv4)
//! [L3 Network · Internet] IPv4: 192.0.2.1 → 198.51.100.7, TTL 64, TCP
//!     TTL          64
//!     ...
//! truncated at L4 Transport: TCP header needs 20 bytes, 7 present
//! ```
//!
//! Link first, then up the stack: the order a receiver reads a frame. Each
//! layer's badge is painted in its colour, but the badge's words name the
//! layer, so colour carries nothing the text does not. `--explain` adds
//! each field's byte range (`[22..23)`: from byte 22 up to, not including,
//! 23) and its sentence for a learner; `--hexdump` adds the ranges and, after
//! the tree, the bytes themselves.
//!
//! Everything a packet contains is shown through [`Clean`], so a payload
//! holding terminal escape codes prints them as `\x1b`, never obeys them.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use colored::Color;

use super::PacketView;
use super::hexdump::{self, Pen};
use crate::inspect::dissect;
use crate::inspect::model::{Dissection, Facts, Field, Frame, LayerView};

/// Field values longer than this do not push the `--explain` column right;
/// they just run past it.
const MAX_VALUE_COLUMN: usize = 28;

/// Fields are indented under their layer's badge by this much.
const INDENT: &str = "    ";

/// Writes each frame as a tree of layers and fields.
pub struct TreeView<W> {
    out: W,
    options: TreeOptions,
    first_time: Option<Duration>,
}

/// What the tree shows beyond layers and fields.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TreeOptions {
    /// Each field's byte range and its sentence for a learner.
    pub explain: bool,
    /// The hex dump after the tree (and the byte ranges in the tree).
    pub hexdump: bool,
    /// ANSI colour.
    pub color: bool,
}

impl<W: Write> TreeView<W> {
    /// A tree view; colour follows the global `--color` choice.
    pub fn new(explain: bool, hexdump: bool, out: W) -> Self {
        TreeView {
            out,
            options: TreeOptions {
                explain,
                hexdump,
                color: hexdump::color_enabled(),
            },
            first_time: None,
        }
    }
}

impl<W: Write> PacketView for TreeView<W> {
    fn packet(&mut self, frame: &Frame, _facts: &Facts) -> io::Result<()> {
        let since_first = frame
            .timestamp
            .map(|t| t.saturating_sub(*self.first_time.get_or_insert(t)));
        let dissection = dissect::dissect(frame);
        write_frame(&mut self.out, frame, &dissection, since_first, self.options)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// One frame: header, layers, where dissection stopped, the hex dump.
pub(super) fn write_frame(
    out: &mut impl Write,
    frame: &Frame,
    dissection: &Dissection,
    since_first: Option<Duration>,
    options: TreeOptions,
) -> io::Result<()> {
    let mut pen = Pen::new(options.color);
    pen.bold(out)?;
    write!(out, "Frame {}", frame.number)?;
    if let Some(t) = since_first {
        write!(out, " · {}.{:06} s", t.as_secs(), t.subsec_micros())?;
    }
    let captured = frame.data.len();
    if frame.snap_truncated() {
        write!(
            out,
            " · {captured} of {} bytes captured (the capture's snap length cut the rest)",
            frame.original_len
        )?;
    } else {
        write!(out, " · {captured} bytes")?;
    }
    pen.switch(out, None)?;
    out.write_all(b"\n")?;
    // The capture's own notes on the frame (pcapng comments): what
    // `netdojo compare --pcap`'s link did to it, or what a person wrote.
    for comment in &frame.comments {
        pen.switch(out, Some(Color::Yellow))?;
        write!(out, "{INDENT}Comment: {}", Clean(comment))?;
        pen.switch(out, None)?;
        out.write_all(b"\n")?;
    }

    let show_ranges = options.explain || options.hexdump;
    for view in &dissection.layers {
        write_layer(out, view, show_ranges, options)?;
    }
    if dissection.layers.is_empty() {
        writeln!(out, "{INDENT}(no layer could be read)")?;
    }
    if let Some(stop) = &dissection.stop {
        pen.switch(out, Some(Color::Red))?;
        write!(out, "{}", Clean(&stop.to_string()))?;
        pen.switch(out, None)?;
        out.write_all(b"\n")?;
    }
    if options.hexdump {
        out.write_all(b"\n")?;
        hexdump::write_hexdump_with(out, &frame.data, &dissection.layers, options.color)?;
    }
    out.write_all(b"\n")
}

/// `[L3 Network · Internet] IPv4: summary`, then the fields, indented.
fn write_layer(
    out: &mut impl Write,
    view: &LayerView,
    show_ranges: bool,
    options: TreeOptions,
) -> io::Result<()> {
    let mut pen = Pen::new(options.color);
    pen.switch_bold(out, Some(view.layer.color()))?;
    out.write_all(view.layer.long_badge().as_bytes())?;
    pen.switch(out, None)?;
    pen.bold(out)?;
    write!(out, " {}", Clean(&view.protocol))?;
    pen.switch(out, None)?;
    if !view.summary.is_empty() {
        write!(out, ": {}", Clean(&view.summary))?;
    }
    if show_ranges {
        pen.dim(out)?;
        write!(out, "  [{}..{})", view.range.start, view.range.end)?;
        pen.switch(out, None)?;
    }
    out.write_all(b"\n")?;

    let name_width = column_width(view.fields.iter().map(|f| &*f.name), usize::MAX);
    let value_width = column_width(view.fields.iter().map(|f| &*f.value), MAX_VALUE_COLUMN);
    let range_width = view.fields.iter().map(range_text_len).max().unwrap_or(0);
    for field in &view.fields {
        write!(out, "{INDENT}{}", Padded(&field.name, name_width))?;
        let value_pad = if show_ranges { value_width } else { 0 };
        write!(out, "  {}", Padded(&field.value, value_pad))?;
        let meaning = options.explain && !field.meaning.is_empty();
        if show_ranges {
            pen.dim(out)?;
            let range = format!("[{}..{})", field.range.start, field.range.end);
            // Pad the range only when a meaning follows it.
            let pad = if meaning { range_width } else { 0 };
            write!(out, "  {range:<pad$}")?;
            pen.switch(out, None)?;
        }
        if meaning {
            write!(out, "  — {}", Clean(&field.meaning))?;
        }
        // Padding at the end of a line helps nobody.
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn range_text_len(field: &Field) -> usize {
    format!("[{}..{})", field.range.start, field.range.end).len()
}

/// The widest of `texts` (in characters, as shown), at most `cap`.
fn column_width<'a>(texts: impl Iterator<Item = &'a str>, cap: usize) -> usize {
    texts.map(shown_width).max().unwrap_or(0).min(cap)
}

/// How many characters `text` takes once cleaned.
fn shown_width(text: &str) -> usize {
    text.chars()
        .map(|c| escaped(c).map_or(1, |e| e.len()))
        .sum()
}

/// A control character's printable form: `\n`, `\x1b`, `\u{9b}`.
fn escaped(c: char) -> Option<String> {
    match c {
        '\n' => Some("\\n".into()),
        '\r' => Some("\\r".into()),
        '\t' => Some("\\t".into()),
        c if (c as u32) < 0x80 && c.is_control() => Some(format!("\\x{:02x}", c as u32)),
        c if c.is_control() => Some(format!("\\u{{{:x}}}", c as u32)),
        _ => None,
    }
}

/// Text from a packet, with control characters written as escapes: a frame
/// must never be able to move the cursor or recolour the terminal.
pub(super) struct Clean<'a>(pub &'a str);

impl fmt::Display for Clean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| c.is_control()) {
            f.write_str(&rest[..at])?;
            if let Some(e) = escaped(c) {
                f.write_str(&e)?;
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// [`Clean`] text padded with spaces to `width` characters.
struct Padded<'a>(&'a str, usize);

impl fmt::Display for Padded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Clean(self.0))?;
        for _ in shown_width(self.0)..self.1 {
            f.write_str(" ")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::model::{LinkType, Stop};
    use crate::layer::Layer;

    fn field(
        name: &'static str,
        value: &str,
        range: std::ops::Range<usize>,
        meaning: &'static str,
    ) -> Field {
        Field {
            name: name.into(),
            value: value.into(),
            range,
            meaning: meaning.into(),
        }
    }

    /// A frame cut in the TCP header, as dissect would describe it.
    fn truncated() -> (Frame, Dissection) {
        let frame = Frame {
            number: 7,
            timestamp: None,
            link: LinkType::Ethernet,
            data: vec![0; 41],
            original_len: 41,
            comments: Vec::new(),
        };
        let dissection = Dissection {
            layers: vec![
                LayerView {
                    layer: Layer::DataLink,
                    protocol: "Ethernet II".into(),
                    range: 0..14,
                    summary: "02:00:00:00:00:01 → 02:00:00:00:00:02, IPv4".into(),
                    fields: vec![
                        field(
                            "Destination",
                            "02:00:00:00:00:02",
                            0..6,
                            "the next hop's hardware address",
                        ),
                        field(
                            "Source",
                            "02:00:00:00:00:01",
                            6..12,
                            "the sender's hardware address",
                        ),
                        field("EtherType", "0x0800 (IPv4)", 12..14, "what the payload is"),
                    ],
                },
                LayerView {
                    layer: Layer::Network,
                    protocol: "IPv4".into(),
                    range: 14..34,
                    summary: "192.0.2.1 → 198.51.100.7, TTL 64, TCP".into(),
                    fields: vec![field(
                        "TTL",
                        "64",
                        22..23,
                        "hops left before a router discards the packet",
                    )],
                },
            ],
            stop: Some(Stop {
                layer: Layer::Transport,
                reason: "TCP header needs 20 bytes, 7 present".into(),
                snap_length: false,
                malformed: false,
            }),
        };
        (frame, dissection)
    }

    fn render(
        frame: &Frame,
        d: &Dissection,
        time: Option<Duration>,
        options: TreeOptions,
    ) -> String {
        let mut out = Vec::new();
        write_frame(&mut out, frame, d, time, options).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn layers_fields_and_the_stop_line() {
        let (frame, d) = truncated();
        let text = render(&frame, &d, None, TreeOptions::default());
        assert_eq!(
            text,
            "Frame 7 · 41 bytes\n\
             [L2 Data link · Link] Ethernet II: 02:00:00:00:00:01 → 02:00:00:00:00:02, IPv4\n\
             \x20   Destination  02:00:00:00:00:02\n\
             \x20   Source       02:00:00:00:00:01\n\
             \x20   EtherType    0x0800 (IPv4)\n\
             [L3 Network · Internet] IPv4: 192.0.2.1 → 198.51.100.7, TTL 64, TCP\n\
             \x20   TTL  64\n\
             truncated at L4 Transport: TCP header needs 20 bytes, 7 present\n\
             \n"
        );
    }

    #[test]
    fn comments_come_first_and_a_malformed_stop_says_so() {
        let (mut frame, mut d) = truncated();
        frame.comments = vec![
            "lost by the link (--loss)".into(),
            "a \x1b[31mred\x1b[0m note".into(),
        ];
        if let Some(stop) = d.stop.as_mut() {
            stop.malformed = true;
            stop.reason = "TCP data offset is 3, below the minimum of 5 (20 bytes)".into();
        }
        let text = render(&frame, &d, None, TreeOptions::default());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Frame 7 · 41 bytes");
        assert_eq!(lines[1], "    Comment: lost by the link (--loss)");
        // A comment is text from the file: it may not drive the terminal.
        assert_eq!(lines[2], "    Comment: a \\x1b[31mred\\x1b[0m note");
        assert!(lines[3].starts_with("[L2 Data link"), "{text}");
        assert!(
            text.contains("malformed at L4 Transport: TCP data offset is 3"),
            "{text}"
        );
    }

    #[test]
    fn explain_adds_ranges_and_meanings_in_columns() {
        let (frame, d) = truncated();
        let options = TreeOptions {
            explain: true,
            ..TreeOptions::default()
        };
        let text = render(&frame, &d, Some(Duration::from_micros(1_500_123)), options);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Frame 7 · 1.500123 s · 41 bytes");
        assert!(lines[1].ends_with("IPv4  [0..14)"), "{}", lines[1]);
        assert_eq!(
            lines[2],
            "    Destination  02:00:00:00:00:02  [0..6)    — the next hop's hardware address"
        );
        assert_eq!(
            lines[4],
            "    EtherType    0x0800 (IPv4)      [12..14)  — what the payload is"
        );
        assert_eq!(
            lines[6],
            "    TTL  64  [22..23)  — hops left before a router discards the packet"
        );
    }

    #[test]
    fn snap_length_and_empty_dissections_are_said() {
        let frame = Frame {
            number: 1,
            timestamp: Some(Duration::ZERO),
            link: LinkType::Other(147),
            data: vec![1, 2],
            original_len: 1514,
            comments: Vec::new(),
        };
        let text = render(
            &frame,
            &Dissection::default(),
            Some(Duration::ZERO),
            TreeOptions::default(),
        );
        assert_eq!(
            text,
            "Frame 1 · 0.000000 s · 2 of 1514 bytes captured (the capture's snap length cut the rest)\n\
             \x20   (no layer could be read)\n\n"
        );
    }

    #[test]
    fn hexdump_follows_the_tree() {
        let (frame, d) = truncated();
        let options = TreeOptions {
            hexdump: true,
            ..TreeOptions::default()
        };
        let text = render(&frame, &d, None, options);
        let stop_at = text.find("truncated at").unwrap();
        let legend_at = text.find("layers: L2 Ethernet II [0..14)").unwrap();
        assert!(stop_at < legend_at);
        assert!(text.contains("\n0020  00"), "{text}");
        assert!(
            text.contains("    TTL  64  [22..23)\n"),
            "ranges without meanings: {text}"
        );
    }

    #[test]
    fn no_line_ends_in_a_space() {
        // Trailing blanks help nobody, and a lesson's copied output loses them.
        for e in crate::inspect::examples::all() {
            let frame = (e.build)();
            let d = dissect::dissect(&frame);
            for (explain, hexdump) in [(false, false), (true, false), (false, true), (true, true)] {
                let options = TreeOptions {
                    explain,
                    hexdump,
                    color: false,
                };
                let text = render(&frame, &d, None, options);
                for line in text.lines() {
                    assert!(!line.ends_with(' '), "{}: {line:?}", e.name);
                }
            }
        }
    }

    #[test]
    fn colour_paints_badges_but_never_replaces_words() {
        let (frame, d) = truncated();
        let plain = render(&frame, &d, None, TreeOptions::default());
        let options = TreeOptions {
            color: true,
            ..TreeOptions::default()
        };
        let coloured = render(&frame, &d, None, options);
        assert!(coloured.contains(&format!(
            "\x1b[1;{}m[L3 Network · Internet]",
            Color::Green.to_fg_str()
        )));
        assert_eq!(strip_ansi(&coloured), plain);
        assert!(!plain.contains('\x1b'));
    }

    #[test]
    fn control_characters_from_packets_are_escaped() {
        let (frame, mut d) = truncated();
        d.layers[1].fields[0].value = "evil\x1b[2J\r\n\u{9b}31m".into();
        d.layers[1].summary = "tab\there".into();
        let text = render(&frame, &d, None, TreeOptions::default());
        assert!(text.contains(r"evil\x1b[2J\r\n\u{9b}31m"), "{text}");
        assert!(text.contains(r"tab\there"), "{text}");
        assert!(!text.contains('\x1b'));
    }

    proptest::proptest! {
        /// Any bytes, on any link, through dissect and every frame view.
        #[test]
        fn random_frames_through_every_view_never_panic(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            link in proptest::sample::select(vec![
                LinkType::Ethernet, LinkType::RawIp, LinkType::Null, LinkType::LinuxSll,
                LinkType::Other(276), LinkType::Other(108), LinkType::Other(147),
            ]),
            cut in 0usize..400,
        ) {
            let frame = Frame {
                number: 1,
                timestamp: Some(Duration::from_secs(1)),
                link,
                original_len: data.len() + cut % 3,
                data,
                comments: Vec::new(),
            };
            let d = dissect::dissect(&frame);
            for color in [false, true] {
                let options = TreeOptions { explain: true, hexdump: true, color };
                let text = render(&frame, &d, Some(Duration::ZERO), options);
                if !color {
                    proptest::prop_assert!(!text.contains('\x1b'));
                }
            }
            let mut out = Vec::new();
            super::super::json::write_frame(&mut out, &frame, &d, None, true).unwrap();
            let facts = dissect::facts(&frame);
            let mut summary = super::super::summary::SummaryView::new(Vec::new());
            summary.packet(&frame, &facts).unwrap();
        }
    }

    pub(crate) fn strip_ansi(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
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
}
