//! How fast the inspector's sources read a capture, alone: `open` and
//! `next_frame` only, no dissection, no view.
//!
//! ```text
//! cargo run --release --example inspect_read_frames -- FILE [--pcap-parser]
//! ```
//!
//! Prints frames, bytes, seconds, frames per second and peak resident memory
//! (VmHWM, Linux) as one JSON line. `--pcap-parser` reads the same classic
//! pcap with pcap-parser's streaming `LegacyPcapReader` instead, building the
//! same `Frame`s, as the yardstick for netdojo's hand-written loop.

use std::time::Instant;

use netdojo::cli::InspectArgs;
use netdojo::inspect::model::{Frame, LinkType};
use netdojo::inspect::source;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let file = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: inspect_read_frames FILE [--pcap-parser]"))?;
    let with_pcap_parser = args.next().as_deref() == Some("--pcap-parser");
    let started = Instant::now();
    let (frames, bytes) = if with_pcap_parser {
        read_with_pcap_parser(&file)?
    } else {
        let source_args = InspectArgs {
            file: Some(file.clone().into()),
            ..InspectArgs::default()
        };
        let mut frames = source::open(&source_args)?;
        let (mut count, mut bytes) = (0u64, 0u64);
        while let Some(frame) = frames.next_frame() {
            let frame = std::hint::black_box(frame?);
            count += 1;
            bytes += frame.data.len() as u64;
        }
        (count, bytes)
    };
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "reader": if with_pcap_parser { "pcap-parser LegacyPcapReader" } else { "netdojo source::open" },
            "frames": frames,
            "bytes": bytes,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "frames_per_second": (frames as f64 / seconds).round(),
            "peak_rss_kib": peak_rss_kib(),
        })
    );
    Ok(())
}

/// The same work through pcap-parser's streaming reader: refill a circular
/// buffer, parse a record, copy its bytes into a Frame.
fn read_with_pcap_parser(file: &str) -> anyhow::Result<(u64, u64)> {
    use pcap_parser::traits::PcapReaderIterator;
    use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError};

    let mut reader = LegacyPcapReader::new(1 << 20, std::fs::File::open(file)?)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut link = LinkType::Ethernet;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        link = LinkType::from_pcap(h.network.0 as u32)
                    }
                    PcapBlockOwned::Legacy(b) => {
                        count += 1;
                        let frame = Frame {
                            number: count,
                            timestamp: Some(std::time::Duration::new(
                                u64::from(b.ts_sec),
                                b.ts_usec * 1000,
                            )),
                            link,
                            original_len: b.origlen as usize,
                            data: b.data.to_vec(),
                            comments: Vec::new(),
                        };
                        let frame = std::hint::black_box(frame);
                        bytes += frame.data.len() as u64;
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                reader.refill().map_err(|e| anyhow::anyhow!("{e:?}"))?
            }
            Err(e) => anyhow::bail!("{e:?}"),
        }
    }
    Ok((count, bytes))
}

/// Peak resident set size of this process, from /proc (Linux only).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
