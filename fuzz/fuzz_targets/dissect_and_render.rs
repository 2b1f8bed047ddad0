//! Any bytes, as a frame of any link type, dissected and shown in every
//! view: nothing a frame holds may panic netdojo.
//!
//! The first byte of the input picks the link type and a few options
//! (colour, a snap length, a comment); the rest is the frame. Each frame
//! goes through `facts()` and `dissect()`, the checks the property tests
//! make (layers tile the frame, facts and dissection agree on where reading
//! stopped), and then every view `netdojo inspect` has: tree (plain,
//! `--explain`, `--hexdump`), `--summary`, `--json` (with `--hexdump`), and
//! the conversation views (`--follow`, `--ladder`, `--stats`) over the same
//! frame seen three times. JSON output must parse; output without colour
//! must hold no escape byte.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netdojo::cli::InspectArgs;
use netdojo::inspect::dissect::{dissect, facts};
use netdojo::inspect::model::{Frame, LinkType};
use netdojo::report::inspect::choose;

/// The link types netdojo reads, and one it does not.
const LINKS: [LinkType; 7] = [
    LinkType::Ethernet,
    LinkType::RawIp,
    LinkType::Null,
    LinkType::LinuxSll,
    LinkType::Other(276), // Linux cooked capture v2
    LinkType::Other(108), // OpenBSD loopback
    LinkType::Other(147), // a user-defined type: shown as bytes
];

fuzz_target!(|input: &[u8]| {
    let Some((&options, data)) = input.split_first() else {
        return;
    };
    let link = LINKS[usize::from(options & 0x07) % LINKS.len()];
    let color = options & 0x08 != 0;
    let snapped = options & 0x10 != 0;
    let commented = options & 0x20 != 0;
    // A comment is text from the file, like the frame: take it from the
    // bytes too, so its escaping is exercised.
    let comments = if commented {
        vec![String::from_utf8_lossy(&data[..data.len().min(24)]).into_owned()]
    } else {
        Vec::new()
    };
    let frame = Frame {
        number: 1,
        timestamp: Some(std::time::Duration::from_micros(1_700_000_000_000_000)),
        link,
        original_len: data.len() + if snapped { 100 } else { 0 },
        data: data.to_vec(),
        comments,
    };

    let f = facts(&frame);
    let d = dissect(&frame);
    let mut at = 0;
    for layer in &d.layers {
        assert_eq!(layer.range.start, at, "layers must tile the frame");
        assert!(layer.range.end <= frame.data.len());
        for field in &layer.fields {
            assert!(field.range.start >= layer.range.start && field.range.end <= layer.range.end);
        }
        at = layer.range.end;
    }
    assert_eq!(at, frame.data.len(), "every byte belongs to a layer");
    assert_eq!(f.stopped_at, d.stop.as_ref().map(|s| s.layer));
    assert_eq!(f.stop_malformed, d.stop.as_ref().is_some_and(|s| s.malformed));

    colored::control::set_override(color);
    let views: [(InspectArgs, bool); 9] = [
        (InspectArgs::default(), false),
        (
            InspectArgs {
                explain: true,
                ..InspectArgs::default()
            },
            false,
        ),
        (
            InspectArgs {
                hexdump: true,
                explain: true,
                ..InspectArgs::default()
            },
            false,
        ),
        (
            InspectArgs {
                summary: true,
                ..InspectArgs::default()
            },
            false,
        ),
        (InspectArgs::default(), true),
        (
            InspectArgs {
                hexdump: true,
                ..InspectArgs::default()
            },
            true,
        ),
        (
            InspectArgs {
                follow: Some(0),
                ..InspectArgs::default()
            },
            false,
        ),
        (
            InspectArgs {
                ladder: Some(0),
                ..InspectArgs::default()
            },
            options & 0x40 != 0,
        ),
        (
            InspectArgs {
                stats: true,
                ..InspectArgs::default()
            },
            options & 0x80 != 0,
        ),
    ];
    for (args, json) in &views {
        // The conversation views need a stream: the frame three times.
        // The others show each frame alone, so once is enough (and keeps
        // the fuzzer's rate up).
        let conversation = args.follow.is_some() || args.ladder.is_some() || args.stats;
        let copies = if conversation { 3 } else { 1 };
        let mut out = Vec::new();
        {
            let mut view = choose(args, *json, &mut out);
            for n in 1..=copies {
                let frame = Frame {
                    number: n,
                    ..frame.clone()
                };
                view.packet(&frame, &f)
                    .expect("writing to a Vec cannot fail");
            }
            // A stream that is not there is an error the view reports;
            // anything else here would be a bug.
            let _ = view.finish();
        }
        if *json {
            for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let value: serde_json::Value =
                    serde_json::from_slice(line).expect("every line of --json is JSON");
                assert!(value.is_object());
            }
        } else if !color {
            // Without colour, no escape byte may reach the terminal.
            assert!(!out.contains(&0x1b), "an escape byte in plain output");
        }
    }
});
