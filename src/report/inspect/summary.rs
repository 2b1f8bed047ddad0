//! Placeholder: being written.

use std::io::{self, Write};

use super::PacketView;
use crate::inspect::model::{Facts, Frame};

pub struct SummaryView<W> {
    out: W,
}

impl<W: Write> SummaryView<W> {
    #[allow(clippy::new_ret_no_self, unused_variables)]
    pub fn new(out: W) -> Self {
        SummaryView { out }
    }
}

impl<W: Write> PacketView for SummaryView<W> {
    fn packet(&mut self, _frame: &Frame, _facts: &Facts) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
