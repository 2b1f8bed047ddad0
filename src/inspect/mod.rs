//! The packet inspector: any frame, opened layer by layer.
//!
//! ```text
//! source ──Frame──▶ write (--write) ──▶ dissect::facts ──▶ filter ──▶ view
//!                                          (cheap)                    │
//!                              dissect::dissect (every field) ◀───────┘ when the view needs it
//! ```
//!
//! - [`source`]: pcap and pcapng files (or stdin), `--hex`, `--example`,
//!   `--live`, all as an iterator of [`model::Frame`]s; and the pcap writer.
//! - [`examples`]: built-in frames made with etherparse's builder.
//! - [`dissect`]: [`model::Facts`] (no allocation, for speed) and
//!   [`model::Dissection`] (every field, its bytes and its meaning).
//! - [`filter`]: the `--filter` expression language.
//! - [`conversation`]: TCP streams: index, follow, ladder; and `--stats`.
//! - Views live in `crate::report::inspect`.

pub mod conversation;
pub mod dissect;
pub mod examples;
pub mod filter;
pub mod model;
pub mod source;

use std::io::{self, BufWriter, Write};

use crate::cli::InspectArgs;
use crate::report::inspect as views;

/// Runs `netdojo inspect`: reads frames, keeps those the filter matches,
/// hands them to the chosen view. Blocking; call it off the async workers.
pub fn run(args: &InspectArgs, json: bool) -> anyhow::Result<()> {
    if args.example.as_deref() == Some("list") {
        let out = io::stdout().lock();
        return finish_output(views::list_examples(out, json));
    }
    let filter = args
        .filter
        .as_deref()
        .map(filter::Filter::parse)
        .transpose()?;
    let mut frames = source::open(args)?;
    let mut writer = match &args.write {
        Some(path) => Some(source::PcapWriter::create(path)?),
        None => None,
    };
    let out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut view = views::choose(args, json, out);

    let mut seen = 0u64;
    let mut failure = None;
    while args.count.is_none_or(|n| seen < n) {
        let frame = match frames.next_frame() {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                // Frames before the bad record have been shown; say where it broke.
                failure = Some(e);
                break;
            }
        };
        seen += 1;
        if let Some(w) = writer.as_mut() {
            w.write_frame(&frame)?;
        }
        let facts = dissect::facts(&frame);
        if filter.as_ref().is_none_or(|f| f.matches(&facts)) {
            finish_output(view.packet(&frame, &facts))?;
        }
    }
    finish_output(view.finish())?;
    if let Some(w) = writer {
        w.finish()?;
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// A closed stdout (`| head`) ends the program quietly.
fn finish_output(result: io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => Ok(other?),
    }
}

/// Flushes a writer, treating a closed pipe as the end.
pub fn flush(out: &mut impl Write) -> io::Result<()> {
    out.flush()
}
