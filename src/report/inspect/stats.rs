//! Placeholder: being written.

use std::io::{self, Write};

use super::PacketView;
use crate::inspect::model::{Facts, Frame};

pub struct StatsView<W> {
    out: W,
}

impl<W: Write> StatsView<W> {
    #[allow(clippy::new_ret_no_self, unused_variables)]
    pub fn new(json: bool, out: W) -> Self {
        StatsView { out }
    }
}

impl<W: Write> PacketView for StatsView<W> {
    fn packet(&mut self, _frame: &Frame, _facts: &Facts) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
