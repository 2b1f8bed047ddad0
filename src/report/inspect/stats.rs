//! `--stats`: totals, the protocol hierarchy, and the busiest conversations.
//!
//! Human: three sections of aligned columns, protocol names in their layer's
//! colour and indented by depth, so encapsulation reads off the page. JSON:
//! `stats_totals`, one `stats_protocol` per hierarchy row, and per kind of
//! conversation a `stats_conversations` line then one `stats_conversation`
//! per conversation listed.

use std::io::{self, Write};
use std::time::Duration;

use colored::Colorize;
use serde_json::json;

use super::PacketView;
use super::follow::plural;
use crate::inspect::conversation::stats::{
    ConversationTable, Counts, MAX_CONVERSATIONS, Stats, StatsReport, TOP_CONVERSATIONS,
    protocol_layer,
};
use crate::inspect::conversation::streams::MAX_STREAMS;
use crate::inspect::model::{Facts, Frame};

/// Counts every frame; prints in `finish`.
pub struct StatsView<W> {
    json: bool,
    out: W,
    stats: Stats,
}

impl<W: Write> StatsView<W> {
    pub fn new(json: bool, out: W) -> Self {
        StatsView {
            json,
            out,
            stats: Stats::new(),
        }
    }
}

impl<W: Write> PacketView for StatsView<W> {
    fn packet(&mut self, frame: &Frame, facts: &Facts) -> io::Result<()> {
        self.stats.add(frame, facts);
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        let report = self.stats.report();
        if self.json {
            write_json(&mut self.out, &report)?;
        } else {
            write_human(&mut self.out, &report)?;
        }
        self.out.flush()
    }
}

/// A share of a total, in percent (0 when the total is 0).
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn seconds(d: Option<Duration>) -> String {
    d.map_or("-".to_string(), |d| format!("{:.6}", d.as_secs_f64()))
}

/// A rate with a unit a person reads at a glance: `472.3 kbit/s`.
fn bits_per_second(bps: f64) -> String {
    if bps >= 1e9 {
        format!("{:.1} Gbit/s", bps / 1e9)
    } else if bps >= 1e6 {
        format!("{:.1} Mbit/s", bps / 1e6)
    } else if bps >= 1e3 {
        format!("{:.1} kbit/s", bps / 1e3)
    } else {
        format!("{bps:.0} bit/s")
    }
}

/// Right-aligned columns after a left-aligned first one (or two). Widths
/// come from the cells, so nothing is cut.
fn table(out: &mut impl Write, left: usize, rows: &[Vec<String>]) -> io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::from("  ");
        for (c, cell) in row.iter().enumerate() {
            let w = widths.get(c).copied().unwrap_or(0);
            if c < left {
                line.push_str(&format!("{cell:<w$}  "));
            } else {
                line.push_str(&format!("{cell:>w$}  "));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn write_human(out: &mut impl Write, r: &StatsReport) -> io::Result<()> {
    let t = &r.totals;
    writeln!(out, "{}", "Totals".bold())?;
    writeln!(out, "  frames         {}", t.frames)?;
    writeln!(
        out,
        "  bytes          {} on the wire, {} captured",
        t.bytes, t.captured_bytes
    )?;
    writeln!(out, "  duration       {} s", seconds(t.duration))?;
    match t.rates() {
        Some((fps, bps)) => writeln!(
            out,
            "  average rate   {fps:.1} frames/s, {}",
            bits_per_second(bps)
        )?,
        None => writeln!(out, "  average rate   - (no time span)")?,
    }

    writeln!(out)?;
    writeln!(
        out,
        "{} {}",
        "Protocol hierarchy".bold(),
        "(each frame counts at every protocol it contains)".dimmed()
    )?;
    let mut rows = vec![vec![
        "protocol".to_string(),
        "frames".to_string(),
        "%".to_string(),
        "bytes".to_string(),
        "%".to_string(),
    ]];
    for p in &r.hierarchy {
        rows.push(vec![
            format!("{}{}", "  ".repeat(p.depth), p.name),
            p.counts.frames.to_string(),
            format!("{:.1}", percent(p.counts.frames, t.frames)),
            p.counts.bytes.to_string(),
            format!("{:.1}", percent(p.counts.bytes, t.bytes)),
        ]);
    }
    // Colour after aligning: escape codes would upset the widths.
    let mut buf = Vec::new();
    table(&mut buf, 1, &rows)?;
    let text = String::from_utf8_lossy(&buf);
    for (i, line) in text.lines().enumerate() {
        match i.checked_sub(1).and_then(|j| r.hierarchy.get(j)) {
            Some(p) => {
                let at = line.find(p.name).unwrap_or(0);
                let (before, rest) = line.split_at(at);
                let (name, after) = rest.split_at(p.name.len().min(rest.len()));
                let color = protocol_layer(p.name).color();
                writeln!(out, "{before}{}{after}", name.color(color))?;
            }
            None => writeln!(out, "{}", line.dimmed())?,
        }
    }

    for (title, table_data, limit) in [
        ("IP conversations", &r.ip, MAX_CONVERSATIONS),
        ("TCP conversations", &r.tcp, MAX_STREAMS),
        ("UDP conversations", &r.udp, MAX_CONVERSATIONS),
    ] {
        writeln!(out)?;
        conversations(out, title, table_data, limit)?;
    }
    Ok(())
}

fn conversations(
    out: &mut impl Write,
    title: &str,
    t: &ConversationTable,
    limit: usize,
) -> io::Result<()> {
    let shown = if t.conversations as usize > t.top.len() {
        format!(
            "{}, the {} with the most bytes",
            t.conversations,
            t.top.len()
        )
    } else {
        t.conversations.to_string()
    };
    writeln!(out, "{} ({shown})", title.bold())?;
    if t.top.is_empty() {
        writeln!(out, "  none")?;
    } else {
        let tcp = t.top.iter().any(|c| c.stream.is_some());
        let mut header = vec![];
        if tcp {
            header.push("stream".to_string());
        }
        header.extend(
            [
                if tcp { "A (client)" } else { "A" },
                if tcp { "B (server)" } else { "B" },
                "A→B frames",
                "bytes",
                "B→A frames",
                "bytes",
                "frames",
                "bytes",
                "start s",
                "duration s",
            ]
            .map(String::from),
        );
        let mut rows = vec![header];
        for c in &t.top {
            let mut row = vec![];
            if let Some(stream) = c.stream {
                row.push(stream.to_string());
            }
            let total = c.total();
            row.extend([
                c.a.clone(),
                c.b.clone(),
                c.a_to_b.frames.to_string(),
                c.a_to_b.bytes.to_string(),
                c.b_to_a.frames.to_string(),
                c.b_to_a.bytes.to_string(),
                total.frames.to_string(),
                total.bytes.to_string(),
                seconds(c.start),
                seconds(c.duration),
            ]);
            rows.push(row);
        }
        let left = if tcp { 3 } else { 2 };
        let mut buf = Vec::new();
        table(&mut buf, left, &rows)?;
        let text = String::from_utf8_lossy(&buf);
        let mut lines = text.lines();
        if let Some(head) = lines.next() {
            writeln!(out, "{}", head.dimmed())?;
        }
        for line in lines {
            writeln!(out, "{line}")?;
        }
    }
    if let Some(other) = t.other {
        writeln!(
            out,
            "  {} {} and {} of conversations past the first {limit} were counted together, not listed",
            "limit:".bold(),
            plural(other.frames, "frame"),
            plural(other.bytes, "byte"),
        )?;
    }
    Ok(())
}

fn counts_json(c: Counts) -> serde_json::Value {
    json!({"frames": c.frames, "bytes": c.bytes})
}

fn write_json(out: &mut impl Write, r: &StatsReport) -> io::Result<()> {
    let t = &r.totals;
    let rates = t.rates();
    let totals = json!({
        "event": "stats_totals",
        "frames": t.frames,
        "bytes": t.bytes,
        "captured_bytes": t.captured_bytes,
        "duration": t.duration.map(|d| d.as_secs_f64()),
        "frames_per_second": rates.map(|r| r.0),
        "bits_per_second": rates.map(|r| r.1),
    });
    writeln!(out, "{totals}")?;
    for p in &r.hierarchy {
        let v = json!({
            "event": "stats_protocol",
            "protocol": p.name,
            "path": p.path,
            "depth": p.depth,
            "layer": protocol_layer(p.name),
            "frames": p.counts.frames,
            "bytes": p.counts.bytes,
            "frames_percent": percent(p.counts.frames, t.frames),
            "bytes_percent": percent(p.counts.bytes, t.bytes),
        });
        writeln!(out, "{v}")?;
    }
    for (kind, table, limit) in [
        ("ip", &r.ip, MAX_CONVERSATIONS),
        ("tcp", &r.tcp, MAX_STREAMS),
        ("udp", &r.udp, MAX_CONVERSATIONS),
    ] {
        let head = json!({
            "event": "stats_conversations",
            "kind": kind,
            "conversations": table.conversations,
            "listed": table.top.len(),
            "top": TOP_CONVERSATIONS,
            "limit": limit,
            "other": table.other.map(counts_json),
        });
        writeln!(out, "{head}")?;
        for c in &table.top {
            let v = json!({
                "event": "stats_conversation",
                "kind": kind,
                "stream": c.stream,
                "a": c.a,
                "b": c.b,
                "a_to_b": counts_json(c.a_to_b),
                "b_to_a": counts_json(c.b_to_a),
                "frames": c.total().frames,
                "bytes": c.total().bytes,
                "start": c.start.map(|d| d.as_secs_f64()),
                "duration": c.duration.map(|d| d.as_secs_f64()),
            });
            writeln!(out, "{v}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::conversation::testing::*;

    fn run(json: bool) -> String {
        let mut out = Vec::new();
        let mut view = StatsView::new(json, &mut out);
        for (i, (c, seq, ack, flags, payload)) in [
            (true, 100, 0, S, b"" as &[u8]),
            (false, 500, 101, S | A, b""),
            (true, 101, 501, P | A, b"hello"),
        ]
        .iter()
        .enumerate()
        {
            let (frame, facts) = segment(i as u64 + 1, *c, *seq, *ack, *flags, payload);
            view.packet(&frame, &facts).unwrap();
        }
        view.finish().unwrap();
        drop(view);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn human_stats_show_hierarchy_and_conversations() {
        let text = super::super::follow::plain(&run(false));
        assert!(text.contains("frames         3"), "{text}");
        assert!(text.contains("0.002000 s"), "{text}");
        assert!(
            text.contains("      tcp          3  100.0    125  100.0"),
            "{text}"
        );
        assert!(
            text.contains("        data       1   33.3     45   36.0"),
            "{text}"
        );
        assert!(text.contains("TCP conversations (1)"), "{text}");
        assert!(
            text.contains("  0       10.0.0.1:40000  10.0.0.2:80           2     85"),
            "{text}"
        );
        assert!(text.contains("UDP conversations (0)\n  none"), "{text}");
    }

    #[test]
    fn json_stats_have_one_object_per_row() {
        let text = run(true);
        let v: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v[0]["event"], "stats_totals");
        assert_eq!(v[0]["frames"], 3);
        let tcp: Vec<_> = v
            .iter()
            .filter(|x| x["event"] == "stats_conversation" && x["kind"] == "tcp")
            .collect();
        assert_eq!(tcp.len(), 1);
        assert_eq!(tcp[0]["a_to_b"]["frames"], 2);
        assert_eq!(tcp[0]["b_to_a"]["bytes"], 40);
        assert_eq!(tcp[0]["stream"], 0);
        let data = v.iter().find(|x| x["path"] == "raw.ip.tcp.data").unwrap();
        assert_eq!(data["layer"], 7);
    }
}
