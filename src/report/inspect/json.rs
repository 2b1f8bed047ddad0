//! `--json`: one object per frame, one frame per line (NDJSON), for tests,
//! scripts and `jq`.
//!
//! # Schema (stable: tests and the lesson read it)
//!
//! ```text
//! {
//!   "event": "frame",
//!   "frame": 1,                      frame number, from 1
//!   "time": 1700000000.000123,       capture time, seconds since the Unix epoch; null without a clock
//!   "time_relative": 0.0,            seconds since the first frame; null without a clock
//!   "captured_len": 54,              bytes captured
//!   "original_len": 54,              bytes on the wire (more when the snap length cut the frame)
//!   "link": "ethernet",              ethernet | raw_ip | null | linux_sll | other
//!   "link_type": 1,                  pcap's LINKTYPE number
//!   "comments": [],                  the capture's comments on this frame (pcapng opt_comment),
//!                                    e.g. what `netdojo compare --pcap`'s simulated link did to it
//!   "layers": [                      link first, up the stack
//!     {
//!       "layer": 3,                  OSI number
//!       "layer_name": "Network",     OSI name
//!       "tcpip_layer": "Internet",   TCP/IP layer
//!       "protocol": "IPv4",
//!       "range": [14, 34],           bytes [start, end) of the frame
//!       "summary": "192.0.2.1 → 198.51.100.7, TTL 64, TCP",
//!       "fields": [
//!         {"name": "TTL", "value": "64", "range": [22, 23],
//!          "meaning": "hops left before a router discards the packet"}
//!       ]
//!     }
//!   ],
//!   "stop": null,                    or {"layer": 4, "layer_name": "Transport",
//!                                        "state": "truncated",  (the frame ends too soon) or
//!                                                   "malformed" (a header holds a bad value)
//!                                        "reason": "TCP header needs 20 bytes, 7 present",
//!                                        "snap_length": false}
//!   "hex": "0200000000020200..."     only with --hexdump: the captured bytes, lowercase hex
//! }
//! ```
//!
//! Each object is one line; keys come in the order above.

use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use super::PacketView;
use crate::inspect::dissect;
use crate::inspect::model::{Dissection, Facts, Field, Frame, LayerView, LinkType, Stop};
use crate::layer::Layer;

/// Writes one JSON object per frame.
pub struct JsonView<W> {
    out: W,
    hexdump: bool,
    first_time: Option<Duration>,
}

impl<W: Write> JsonView<W> {
    /// A JSON view; with `hexdump`, each object also carries the bytes.
    pub fn new(hexdump: bool, out: W) -> Self {
        JsonView {
            out,
            hexdump,
            first_time: None,
        }
    }
}

impl<W: Write> PacketView for JsonView<W> {
    fn packet(&mut self, frame: &Frame, _facts: &Facts) -> io::Result<()> {
        let first = frame.timestamp.map(|t| *self.first_time.get_or_insert(t));
        let dissection = dissect::dissect(frame);
        write_frame(&mut self.out, frame, &dissection, first, self.hexdump)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// One frame as one line of JSON. `first` is the first frame's time.
pub(super) fn write_frame(
    out: &mut impl Write,
    frame: &Frame,
    dissection: &Dissection,
    first: Option<Duration>,
    hexdump: bool,
) -> io::Result<()> {
    let object = FrameJson {
        event: "frame",
        frame: frame.number,
        time: frame.timestamp.map(|t| t.as_secs_f64()),
        time_relative: frame
            .timestamp
            .zip(first)
            .map(|(t, first)| signed_seconds(t, first)),
        captured_len: frame.data.len(),
        original_len: frame.original_len,
        link: link_name(frame.link),
        link_type: frame.link.to_pcap(),
        comments: &frame.comments,
        layers: dissection.layers.iter().map(LayerJson::from).collect(),
        stop: dissection.stop.as_ref().map(StopJson::from),
        hex: hexdump.then(|| hex(&frame.data)),
    };
    serde_json::to_writer(&mut *out, &object)?;
    out.write_all(b"\n")
}

/// `t - first` in seconds, negative when a capture goes back in time.
fn signed_seconds(t: Duration, first: Duration) -> f64 {
    match t.checked_sub(first) {
        Some(d) => d.as_secs_f64(),
        None => -(first.saturating_sub(t).as_secs_f64()),
    }
}

fn link_name(link: LinkType) -> &'static str {
    match link {
        LinkType::Ethernet => "ethernet",
        LinkType::RawIp => "raw_ip",
        LinkType::Null => "null",
        LinkType::LinuxSll => "linux_sll",
        LinkType::Other(_) => "other",
    }
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

#[derive(Serialize)]
struct FrameJson<'a> {
    event: &'static str,
    frame: u64,
    time: Option<f64>,
    time_relative: Option<f64>,
    captured_len: usize,
    original_len: usize,
    link: &'static str,
    link_type: u32,
    comments: &'a [String],
    layers: Vec<LayerJson<'a>>,
    stop: Option<StopJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hex: Option<String>,
}

#[derive(Serialize)]
struct LayerJson<'a> {
    layer: Layer,
    layer_name: &'static str,
    tcpip_layer: &'static str,
    protocol: &'a str,
    range: [usize; 2],
    summary: &'a str,
    fields: Vec<FieldJson<'a>>,
}

impl<'a> From<&'a LayerView> for LayerJson<'a> {
    fn from(view: &'a LayerView) -> Self {
        LayerJson {
            layer: view.layer,
            layer_name: view.layer.osi_name(),
            tcpip_layer: view.layer.tcpip_name(),
            protocol: &view.protocol,
            range: [view.range.start, view.range.end],
            summary: &view.summary,
            fields: view.fields.iter().map(FieldJson::from).collect(),
        }
    }
}

#[derive(Serialize)]
struct FieldJson<'a> {
    name: &'a str,
    value: &'a str,
    range: [usize; 2],
    meaning: &'a str,
}

impl<'a> From<&'a Field> for FieldJson<'a> {
    fn from(field: &'a Field) -> Self {
        FieldJson {
            name: &field.name,
            value: &field.value,
            range: [field.range.start, field.range.end],
            meaning: &field.meaning,
        }
    }
}

#[derive(Serialize)]
struct StopJson<'a> {
    layer: Layer,
    layer_name: &'static str,
    state: &'static str,
    reason: &'a str,
    snap_length: bool,
}

impl<'a> From<&'a Stop> for StopJson<'a> {
    fn from(stop: &'a Stop) -> Self {
        StopJson {
            layer: stop.layer,
            layer_name: stop.layer.osi_name(),
            state: stop.state(),
            reason: &stop.reason,
            snap_length: stop.snap_length,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn sample() -> (Frame, Dissection) {
        let frame = Frame {
            number: 3,
            timestamp: Some(Duration::from_micros(1_700_000_000_000_123)),
            link: LinkType::Ethernet,
            data: vec![0xab; 20],
            original_len: 60,
            comments: Vec::new(),
        };
        let dissection = Dissection {
            layers: vec![LayerView {
                layer: Layer::DataLink,
                protocol: "Ethernet II".into(),
                range: 0..14,
                summary: "a → b".into(),
                fields: vec![Field {
                    name: "EtherType".into(),
                    value: "0x0800 (IPv4)".into(),
                    range: 12..14,
                    meaning: "what the payload is".into(),
                }],
            }],
            stop: Some(Stop {
                layer: Layer::Network,
                reason: "IPv4 header needs 20 bytes, 6 present".into(),
                snap_length: true,
                malformed: false,
            }),
        };
        (frame, dissection)
    }

    fn render(frame: &Frame, d: &Dissection, first: Option<Duration>, hexdump: bool) -> Value {
        let mut out = Vec::new();
        write_frame(&mut out, frame, d, first, hexdump).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches('\n').count(), 1, "one line: {text}");
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn the_documented_schema() {
        let (frame, d) = sample();
        let first = Duration::from_micros(1_700_000_000_000_000);
        let v = render(&frame, &d, Some(first), false);
        assert_eq!(
            v,
            json!({
                "event": "frame",
                "frame": 3,
                "time": 1_700_000_000.000123,
                "time_relative": 0.000123,
                "captured_len": 20,
                "original_len": 60,
                "link": "ethernet",
                "link_type": 1,
                "comments": [],
                "layers": [{
                    "layer": 2,
                    "layer_name": "Data link",
                    "tcpip_layer": "Link",
                    "protocol": "Ethernet II",
                    "range": [0, 14],
                    "summary": "a → b",
                    "fields": [{"name": "EtherType", "value": "0x0800 (IPv4)", "range": [12, 14], "meaning": "what the payload is"}],
                }],
                "stop": {"layer": 3, "layer_name": "Network", "state": "truncated", "reason": "IPv4 header needs 20 bytes, 6 present", "snap_length": true},
            })
        );
        // Keys in the documented order.
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "event",
                "frame",
                "time",
                "time_relative",
                "captured_len",
                "original_len",
                "link",
                "link_type",
                "comments",
                "layers",
                "stop"
            ]
        );
    }

    #[test]
    fn comments_and_a_malformed_stop() {
        let (mut frame, mut d) = sample();
        frame.comments = vec!["lost by the link (--loss)".into(), "second".into()];
        d.stop = Some(Stop {
            layer: Layer::Network,
            reason: "IPv4 header length (IHL) is 3, below the minimum of 5 (20 bytes)".into(),
            snap_length: false,
            malformed: true,
        });
        let v = render(&frame, &d, None, false);
        assert_eq!(
            v["comments"],
            json!(["lost by the link (--loss)", "second"])
        );
        assert_eq!(v["stop"]["state"], "malformed");
    }

    #[test]
    fn hex_only_with_hexdump_and_nulls_without_a_clock() {
        let (mut frame, _) = sample();
        frame.timestamp = None;
        frame.data = vec![0x00, 0x0f, 0xf0, 0xff];
        frame.link = LinkType::Other(147);
        let v = render(&frame, &Dissection::default(), None, true);
        assert_eq!(v["hex"], "000ff0ff");
        assert_eq!(v["time"], Value::Null);
        assert_eq!(v["time_relative"], Value::Null);
        assert_eq!(v["stop"], Value::Null);
        assert_eq!(v["layers"], json!([]));
        assert_eq!(v["link"], "other");
        assert_eq!(v["link_type"], 147);
        let v = render(&frame, &Dissection::default(), None, false);
        assert!(v.get("hex").is_none());
    }

    #[test]
    fn time_can_run_backwards_and_text_is_escaped() {
        let (mut frame, mut d) = sample();
        frame.timestamp = Some(Duration::from_secs(10));
        d.layers[0].summary = "quote \" newline \n escape \x1b".into();
        let v = render(&frame, &d, Some(Duration::from_secs(12)), false);
        assert_eq!(v["time_relative"], -2.0);
        assert_eq!(v["layers"][0]["summary"], "quote \" newline \n escape \x1b");
    }
}
