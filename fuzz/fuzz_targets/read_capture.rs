//! Any bytes, as a capture file: the pcap and pcapng readers, then the
//! summary and JSON views of whatever frames they hand out. A damaged file
//! must be an error naming its offset, never a panic or a huge allocation.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netdojo::cli::InspectArgs;
use netdojo::inspect::dissect::facts;
use netdojo::inspect::source::pcap::from_reader;
use netdojo::report::inspect::choose;

/// Enough frames to reach every kind of block; more only slows the fuzzer.
const MAX_FRAMES: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Ok(mut source) = from_reader(std::io::Cursor::new(data.to_vec())) else {
        return;
    };
    let summary = InspectArgs {
        summary: true,
        ..InspectArgs::default()
    };
    let mut out = Vec::new();
    let mut json_out = Vec::new();
    let mut view = choose(&summary, false, &mut out);
    let mut json = choose(&InspectArgs::default(), true, &mut json_out);
    for _ in 0..MAX_FRAMES {
        match source.next_frame() {
            Some(Ok(frame)) => {
                assert!(frame.data.len() <= netdojo::inspect::source::MAX_RECORD);
                let f = facts(&frame);
                view.packet(&frame, &f).unwrap();
                json.packet(&frame, &f).unwrap();
            }
            Some(Err(e)) => {
                // Every error says where (or what) it is.
                assert!(!e.to_string().is_empty());
                break;
            }
            None => break,
        }
    }
    let _ = view.finish();
    let _ = json.finish();
});
