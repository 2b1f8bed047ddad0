//! Placeholder: being written.

use std::io::{self, Write};

use super::PacketView;
use crate::inspect::model::{Facts, Frame};

pub struct TreeView<W> {
    out: W,
}

impl<W: Write> TreeView<W> {
    #[allow(clippy::new_ret_no_self, unused_variables)]
    pub fn new(explain: bool, hexdump: bool, out: W) -> Self {
        TreeView { out }
    }
}

impl<W: Write> PacketView for TreeView<W> {
    fn packet(&mut self, _frame: &Frame, _facts: &Facts) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
