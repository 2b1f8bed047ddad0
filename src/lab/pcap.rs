//! `--pcap FILE`: every frame that entered the simulated link, as pcapng.
//!
//! pcapng rather than classic pcap because it can say what the link did: a
//! frame that was lost, duplicated, held back or corrupted carries a comment
//! saying so (Wireshark shows it as `frame.comment`; tshark can filter on it).
//! Frames are saved as they *entered* the link, so a lost frame is in the
//! file, and a corrupted one is saved before its bit was flipped.
//!
//! Each run is its own interface in the file: interface 0 is the TCP run,
//! interface 1 the UDP run. Both start at virtual time 0, which pcapng shows
//! as 1970-01-01 00:00:00; nothing in the file depends on the wall clock, so
//! the same seed writes a byte-identical file.

use std::path::Path;

use anyhow::Context;

use super::link::{FrameKind, FrameRecord, REORDER_HOLD};
use super::sim::RunResult;

/// pcapng block types.
const SECTION_HEADER: u32 = 0x0A0D_0D0A;
const INTERFACE_DESCRIPTION: u32 = 1;
const ENHANCED_PACKET: u32 = 6;
/// Link type 1: Ethernet.
const LINKTYPE_ETHERNET: u16 = 1;
/// Option codes.
const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
/// Timestamps in microseconds: 10^-6.
const TSRESOL_MICROS: u8 = 6;

/// Writes the frames of the given runs to `path`, one interface per run.
pub fn write(path: &Path, runs: &[&RunResult]) -> anyhow::Result<()> {
    let bytes = encode(runs);
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// The whole pcapng file in memory.
pub fn encode(runs: &[&RunResult]) -> Vec<u8> {
    let mut out = Vec::new();
    section_header(&mut out);
    for run in runs {
        interface(
            &mut out,
            &format!("netdojo simulated link, {} run", run.protocol.name()),
        );
    }
    for (i, run) in runs.iter().enumerate() {
        for frame in &run.frames {
            packet(&mut out, i as u32, frame);
        }
    }
    out
}

/// What the link did to a frame, when it did anything but deliver it.
pub fn comment(f: &FrameRecord) -> Option<String> {
    let mut notes = Vec::new();
    if f.kind == FrameKind::Arp {
        notes.push("ARP: exempt from the link's impairments".to_string());
    }
    if f.arrival_us.is_none() {
        notes.push("lost by the link (--loss)".into());
    }
    if f.duplicate_us.is_some() {
        notes.push("duplicated by the link: arrived twice (--duplicate)".into());
    }
    if f.held_back {
        notes.push(format!(
            "held back {} µs by the link, so later frames overtook it (--reorder)",
            REORDER_HOLD.as_micros()
        ));
    }
    if let Some((byte, bit)) = f.corrupted {
        notes.push(format!(
            "bit {bit} of byte {byte} flipped on the link (--corrupt); saved here as it was sent"
        ));
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

fn section_header(out: &mut Vec<u8>) {
    let mut body = Vec::new();
    body.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    option(&mut body, SHB_USERAPPL, b"netdojo compare");
    option(&mut body, OPT_END, b"");
    block(out, SECTION_HEADER, &body);
}

fn interface(out: &mut Vec<u8>, name: &str) {
    let mut body = Vec::new();
    body.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(super::link::MAX_FRAME as u32).to_le_bytes());
    option(&mut body, IF_NAME, name.as_bytes());
    option(&mut body, IF_TSRESOL, &[TSRESOL_MICROS]);
    option(&mut body, OPT_END, b"");
    block(out, INTERFACE_DESCRIPTION, &body);
}

fn packet(out: &mut Vec<u8>, interface: u32, f: &FrameRecord) {
    let mut body = Vec::new();
    body.extend_from_slice(&interface.to_le_bytes());
    body.extend_from_slice(&((f.at_us >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(f.at_us as u32).to_le_bytes());
    body.extend_from_slice(&(f.bytes.len() as u32).to_le_bytes());
    body.extend_from_slice(&(f.len as u32).to_le_bytes());
    body.extend_from_slice(&f.bytes);
    pad(&mut body);
    if let Some(text) = comment(f) {
        option(&mut body, OPT_COMMENT, text.as_bytes());
        option(&mut body, OPT_END, b"");
    }
    block(out, ENHANCED_PACKET, &body);
}

fn option(body: &mut Vec<u8>, code: u16, value: &[u8]) {
    body.extend_from_slice(&code.to_le_bytes());
    body.extend_from_slice(&(value.len() as u16).to_le_bytes());
    body.extend_from_slice(value);
    pad(body);
}

fn pad(body: &mut Vec<u8>) {
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
}

fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let total = (body.len() + 12) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&total.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::settings::{Impairments, Scenario, Workload};
    use crate::lab::sim::{self, Protocol};
    use pcap_parser::pcapng::Block;
    use pcap_parser::{PcapBlockOwned, PcapNGSlice};

    #[test]
    fn every_frame_is_a_packet_block_with_its_fate_in_a_comment() {
        let scenario = Scenario {
            link: Impairments {
                loss: 20.0,
                ..Impairments::default()
            },
            workload: Workload {
                messages: 20,
                size: 500,
            },
            seed: 9,
        };
        let tcp = sim::run(&scenario, Protocol::Tcp, true);
        let udp = sim::run(&scenario, Protocol::Udp, true);
        let bytes = encode(&[&tcp, &udp]);
        let (mut interfaces, mut packets, mut lost_comments) = (0, Vec::new(), 0);
        for block in PcapNGSlice::from_slice(&bytes).expect("a pcapng section") {
            match block.expect("every block parses") {
                PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                    assert_eq!(idb.linktype.0, i32::from(LINKTYPE_ETHERNET));
                    interfaces += 1;
                }
                PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                    let comment = epb
                        .options
                        .iter()
                        .find(|o| o.code.0 == OPT_COMMENT)
                        .map(|o| String::from_utf8_lossy(&o.value).to_string());
                    if comment.is_some_and(|c| c.contains("lost by the link")) {
                        lost_comments += 1;
                    }
                    packets.push((epb.if_id, epb.caplen, epb.ts_low));
                }
                _ => {}
            }
        }
        assert_eq!(interfaces, 2);
        let frames: Vec<_> = tcp
            .frames
            .iter()
            .map(|f| (0, f))
            .chain(udp.frames.iter().map(|f| (1, f)))
            .map(|(i, f)| (i, f.len as u32, f.at_us as u32))
            .collect();
        assert_eq!(packets, frames);
        assert_eq!(lost_comments, tcp.link.lost + udp.link.lost);
        assert!(lost_comments > 0);
    }
}
