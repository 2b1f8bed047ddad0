//! The hex dump: offset, sixteen bytes in hex, the same bytes as ASCII, each
//! byte coloured by the layer whose header (or payload) it belongs to, under
//! a legend that names every layer with its byte range.
//!
//! ```text
//! layers: L2 Ethernet II [0..14) · L3 IPv4 [14..34) · L4 TCP [34..54)
//! 0000  02 00 00 00 00 02 02 00  00 00 00 01 08 00 45 00   ..............E.
//!       2  2  2  2  2  2  2  2   2  2  2  2  2  2  3  3
//! 0010  00 28 00 01 40 00 40 06  b6 c4 c0 00 02 01 c6 33   .(..@.@........3
//!       3  3  3  3  3  3  3  3   3  3  3  3  3  3  3  3
//! ```
//!
//! Colour never carries the meaning alone: with colour off (`--color never`,
//! `NO_COLOR`, a pipe) a marker row under each line gives every byte's OSI
//! layer number, and `-` marks bytes in no layer (Ethernet padding, a
//! trailer). With colour on the bytes are painted instead and the legend's
//! ranges say the same thing.

use std::io::{self, Write};
use std::ops::Range;

use colored::Color;

use crate::inspect::model::{Dissection, Frame, LayerView};

/// Bytes per line: the convention of tcpdump, Wireshark and `xxd`.
const BYTES_PER_LINE: usize = 16;

/// Writes the frame's bytes, each coloured by the layer it belongs to.
/// Colour follows the global `--color` choice.
pub fn write_hexdump(
    out: &mut impl Write,
    frame: &Frame,
    dissection: &Dissection,
) -> io::Result<()> {
    write_hexdump_with(out, &frame.data, &dissection.layers, color_enabled())
}

/// Whether `--color`, `NO_COLOR` and the terminal allow colour.
pub(super) fn color_enabled() -> bool {
    colored::control::SHOULD_COLORIZE.should_colorize()
}

/// The hex dump with colour chosen by the caller (tests choose both ways).
pub(super) fn write_hexdump_with(
    out: &mut impl Write,
    data: &[u8],
    layers: &[LayerView],
    color: bool,
) -> io::Result<()> {
    write_legend(out, data, layers, color)?;
    let offset_width = offset_width(data.len());
    for (row, chunk) in data.chunks(BYTES_PER_LINE).enumerate() {
        let start = row * BYTES_PER_LINE;
        write!(out, "{start:0offset_width$x}  ")?;
        let mut pen = Pen::new(color);
        for (i, &b) in chunk.iter().enumerate() {
            if i > 0 {
                out.write_all(if i == BYTES_PER_LINE / 2 { b"  " } else { b" " })?;
            }
            pen.switch(out, owner(layers, start + i).map(|l| l.layer.color()))?;
            out.write_all(&hex_pair(b))?;
        }
        pen.switch(out, None)?;
        // Pad a short last line so its ASCII column lines up with the others.
        for i in chunk.len()..BYTES_PER_LINE {
            out.write_all(if i == BYTES_PER_LINE / 2 {
                b"    "
            } else {
                b"   "
            })?;
        }
        out.write_all(b"   ")?;
        for (i, &b) in chunk.iter().enumerate() {
            pen.switch(out, owner(layers, start + i).map(|l| l.layer.color()))?;
            let shown = if (b' '..=b'~').contains(&b) { b } else { b'.' };
            out.write_all(&[shown])?;
        }
        pen.switch(out, None)?;
        out.write_all(b"\n")?;
        if !color {
            write_marker_row(out, offset_width, start, chunk.len(), layers)?;
        }
    }
    Ok(())
}

/// `layers: L2 Ethernet II [0..14) · L3 IPv4 [14..34)`, each entry in its
/// layer's colour, and a note when some bytes belong to no layer.
fn write_legend(
    out: &mut impl Write,
    data: &[u8],
    layers: &[LayerView],
    color: bool,
) -> io::Result<()> {
    if data.is_empty() {
        return writeln!(out, "(no bytes captured)");
    }
    out.write_all(b"layers:")?;
    let mut pen = Pen::new(color);
    for (i, view) in layers.iter().enumerate() {
        out.write_all(if i == 0 { b" " } else { " · ".as_bytes() })?;
        pen.switch(out, Some(view.layer.color()))?;
        write!(
            out,
            "L{} {} [{}..{})",
            view.layer.number(),
            super::tree::Clean(&view.protocol),
            view.range.start,
            view.range.end
        )?;
        pen.switch(out, None)?;
    }
    if layers.is_empty() {
        out.write_all(b" none could be read")?;
    }
    if (0..data.len()).any(|i| owner(layers, i).is_none()) {
        out.write_all(if color {
            " · plain: in no layer".as_bytes()
        } else {
            " · -: in no layer".as_bytes()
        })?;
    }
    out.write_all(b"\n")
}

/// Under each hex line, the OSI layer number of each byte (`-`: none).
fn write_marker_row(
    out: &mut impl Write,
    offset_width: usize,
    start: usize,
    len: usize,
    layers: &[LayerView],
) -> io::Result<()> {
    let mut row = Vec::with_capacity(offset_width + 2 + 3 * BYTES_PER_LINE + 1);
    row.resize(offset_width + 2, b' ');
    for i in 0..len {
        if i > 0 {
            row.extend_from_slice(if i == BYTES_PER_LINE / 2 { b"  " } else { b" " });
        }
        let mark = match owner(layers, start + i) {
            Some(view) => b'0' + view.layer.number() % 10,
            None => b'-',
        };
        row.extend_from_slice(&[mark, b' ']);
    }
    while row.last() == Some(&b' ') {
        row.pop();
    }
    row.push(b'\n');
    out.write_all(&row)
}

/// The layer a byte belongs to: the last (innermost) layer whose range holds
/// it, so a payload inside a transport range shows as the application's.
pub(super) fn owner(layers: &[LayerView], byte: usize) -> Option<&LayerView> {
    layers.iter().rev().find(|l| contains(&l.range, byte))
}

fn contains(range: &Range<usize>, byte: usize) -> bool {
    range.start <= byte && byte < range.end
}

/// At least four hex digits, more for frames past 64 KiB.
fn offset_width(len: usize) -> usize {
    let mut width = 4;
    while width < 16 && len.saturating_sub(1) >> (4 * width) != 0 {
        width += 1;
    }
    width
}

fn hex_pair(b: u8) -> [u8; 2] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]
}

/// Writes ANSI colour codes by hand, once per run of same-coloured bytes
/// (a `ColoredString` per byte would allocate sixteen times a line).
/// Disabled, it writes nothing at all.
pub(super) struct Pen {
    enabled: bool,
    current: Option<Ink>,
}

/// A style a [`Pen`] can write in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ink {
    Fg(Color),
    BoldFg(Color),
    Bold,
    Dim,
}

impl Pen {
    pub(super) fn new(enabled: bool) -> Self {
        Pen {
            enabled,
            current: None,
        }
    }

    /// Changes the colour of what is written next (`None`: plain).
    pub(super) fn switch(&mut self, out: &mut impl Write, color: Option<Color>) -> io::Result<()> {
        self.ink(out, color.map(Ink::Fg))
    }

    /// Bold, and in this colour.
    pub(super) fn switch_bold(
        &mut self,
        out: &mut impl Write,
        color: Option<Color>,
    ) -> io::Result<()> {
        self.ink(out, color.map(Ink::BoldFg))
    }

    pub(super) fn bold(&mut self, out: &mut impl Write) -> io::Result<()> {
        self.ink(out, Some(Ink::Bold))
    }

    /// Faint: for what matters less (byte ranges beside values).
    pub(super) fn dim(&mut self, out: &mut impl Write) -> io::Result<()> {
        self.ink(out, Some(Ink::Dim))
    }

    fn ink(&mut self, out: &mut impl Write, ink: Option<Ink>) -> io::Result<()> {
        if !self.enabled || self.current == ink {
            return Ok(());
        }
        if self.current.is_some() {
            out.write_all(b"\x1b[0m")?;
        }
        match ink {
            Some(Ink::Fg(c)) => write!(out, "\x1b[{}m", c.to_fg_str())?,
            Some(Ink::BoldFg(c)) => write!(out, "\x1b[1;{}m", c.to_fg_str())?,
            Some(Ink::Bold) => out.write_all(b"\x1b[1m")?,
            Some(Ink::Dim) => out.write_all(b"\x1b[2m")?,
            None => {}
        }
        self.current = ink;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Layer;

    fn view(layer: Layer, protocol: &'static str, range: Range<usize>) -> LayerView {
        LayerView {
            layer,
            protocol: protocol.into(),
            range,
            summary: String::new(),
            fields: Vec::new(),
        }
    }

    fn dump(data: &[u8], layers: &[LayerView], color: bool) -> String {
        let mut out = Vec::new();
        write_hexdump_with(&mut out, data, layers, color).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn tcp_layers() -> Vec<LayerView> {
        vec![
            view(Layer::DataLink, "Ethernet II", 0..14),
            view(Layer::Network, "IPv4", 14..34),
            view(Layer::Transport, "TCP", 34..54),
        ]
    }

    #[test]
    fn plain_dump_has_offsets_hex_ascii_and_a_layer_marker_row() {
        let mut data: Vec<u8> = (0..54u8).collect();
        data[20] = b'A';
        data.extend_from_slice(&[0, 0]); // Ethernet padding: in no layer
        let text = dump(&data, &tcp_layers(), false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "layers: L2 Ethernet II [0..14) · L3 IPv4 [14..34) · L4 TCP [34..54) · -: in no layer"
        );
        assert_eq!(
            lines[1],
            "0000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f   ................"
        );
        assert_eq!(
            lines[2],
            "      2  2  2  2  2  2  2  2   2  2  2  2  2  2  3  3"
        );
        assert!(
            lines[3].starts_with("0010  10 11 12 13 41 15"),
            "{}",
            lines[3]
        );
        assert!(lines[3].ends_with("....A..........."), "{}", lines[3]);
        assert_eq!(
            lines[6],
            "      3  3  4  4  4  4  4  4   4  4  4  4  4  4  4  4"
        );
        // The last, short line: ASCII still lines up, padding marked `-`.
        assert_eq!(
            lines[7],
            format!("0030  30 31 32 33 34 35 00 00{}012345..", " ".repeat(28))
        );
        assert_eq!(lines[8], "      4  4  4  4  4  4  -  -");
        // Same column as a full line: 6 (offset) + 48 (hex) + 3.
        assert_eq!(lines[7].find("012345"), Some(57));
        assert_eq!(lines[1].find("................"), Some(57));
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn coloured_dump_paints_each_run_in_its_layer_colour() {
        let data: Vec<u8> = vec![0x41; 40];
        let text = dump(&data, &tcp_layers(), true);
        let cyan = format!("\x1b[{}m", Color::Cyan.to_fg_str());
        let green = format!("\x1b[{}m", Color::Green.to_fg_str());
        let yellow = format!("\x1b[{}m", Color::Yellow.to_fg_str());
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains(&format!("{cyan}L2 Ethernet II [0..14)\x1b[0m")),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with(&format!(
                "0000  {cyan}41 41 41 41 41 41 41 41  41 41 41 41 41 41 \x1b[0m{green}41 41\x1b[0m"
            )),
            "{:?}",
            lines[1]
        );
        assert!(lines[3].contains(&yellow), "{:?}", lines[3]);
        // No marker rows with colour: three lines of bytes after the legend.
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn overlapping_ranges_go_to_the_innermost_layer() {
        let layers = vec![
            view(Layer::Transport, "TCP", 0..20),
            view(Layer::Application, "HTTP", 8..20),
        ];
        assert_eq!(owner(&layers, 7).unwrap().protocol, "TCP");
        assert_eq!(owner(&layers, 8).unwrap().protocol, "HTTP");
        assert!(owner(&layers, 20).is_none());
    }

    #[test]
    fn empty_odd_and_huge_inputs() {
        assert_eq!(dump(&[], &[], false), "(no bytes captured)\n");
        let text = dump(&[1, 2, 3], &[], false);
        assert_eq!(
            text,
            format!(
                "layers: none could be read · -: in no layer\n0000  01 02 03{}   ...\n      -  -  -\n",
                " ".repeat(40)
            )
        );
        // Ranges past the end of the data, or backwards, are harmless.
        let odd = vec![
            view(Layer::Network, "IPv4", 2..1000),
            view(Layer::Transport, "TCP", Range { start: 9, end: 3 }),
        ];
        dump(&[0; 5], &odd, true);
        dump(&[0; 5], &odd, false);
        let big = vec![0u8; 70_000];
        let text = dump(&big, &[], false);
        assert!(
            text.contains("\n11160  00"),
            "offsets grow past four digits"
        );
    }

    #[test]
    fn offset_width_grows_with_the_frame() {
        assert_eq!(offset_width(0), 4);
        assert_eq!(offset_width(0x10000), 4);
        assert_eq!(offset_width(0x10001), 5);
        assert_eq!(offset_width(usize::MAX), 16);
    }
}
