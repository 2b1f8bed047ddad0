//! Views of frames: tree (default), `--summary`, `--hexdump`, `--json`, and
//! the conversation views (`--follow`, `--ladder`, `--stats`).
//!
//! Each view is a [`PacketView`]: it is handed every frame that passed the
//! filter, with its cheap [`Facts`]; a view that needs every field calls
//! `inspect::dissect::dissect` itself. Views write to a buffered `Write`, never
//! to stdout directly, so they are fast and testable.

pub mod follow;
pub mod hexdump;
pub mod json;
pub mod ladder;
pub mod stats;
pub mod summary;
pub mod tree;

use std::io::{self, Write};

use crate::cli::InspectArgs;
use crate::inspect::model::{Facts, Frame};

/// A view receives each frame that passed the filter, then `finish`.
pub trait PacketView {
    fn packet(&mut self, frame: &Frame, facts: &Facts) -> io::Result<()>;
    /// Called once at the end: conversation views print here. Must flush.
    fn finish(&mut self) -> io::Result<()>;
}

/// The view the arguments ask for.
pub fn choose<'a, W: Write + 'a>(
    args: &InspectArgs,
    json: bool,
    out: W,
) -> Box<dyn PacketView + 'a> {
    if let Some(stream) = args.follow {
        Box::new(follow::FollowView::new(stream, json, out))
    } else if let Some(stream) = args.ladder {
        Box::new(ladder::LadderView::new(stream, json, out))
    } else if args.stats {
        Box::new(stats::StatsView::new(json, out))
    } else if json {
        Box::new(json::JsonView::new(args.hexdump, out))
    } else if args.summary {
        Box::new(summary::SummaryView::new(out))
    } else {
        Box::new(tree::TreeView::new(args.explain, args.hexdump, out))
    }
}

/// `--example list`.
pub fn list_examples(mut out: impl Write, json: bool) -> io::Result<()> {
    let examples = crate::inspect::examples::all();
    // The longest name sets the column, so every description lines up.
    let width = examples.iter().map(|e| e.name.len()).max().unwrap_or(0);
    for e in examples {
        if json {
            let line = serde_json::json!({"event": "example", "name": e.name, "description": e.description});
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "{:<width$}  {}", e.name, e.description)?;
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    #[test]
    fn example_descriptions_start_in_one_column() {
        let mut out = Vec::new();
        super::list_examples(&mut out, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        let columns: Vec<usize> = text
            .lines()
            .map(|l| {
                let name = l.split(' ').next().unwrap();
                name.len() + l[name.len()..].len() - l[name.len()..].trim_start().len()
            })
            .collect();
        assert!(columns.len() > 10, "{text}");
        assert!(columns.windows(2).all(|w| w[0] == w[1]), "{text}");
        assert!(
            text.contains("tls-client-hello  the start of HTTPS"),
            "{text}"
        );
    }
}
