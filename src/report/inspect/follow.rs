//! Placeholder: being written.

use std::io::{self, Write};

use super::PacketView;
use crate::inspect::model::{Facts, Frame};

pub struct FollowView<W> {
    out: W,
}

impl<W: Write> FollowView<W> {
    #[allow(clippy::new_ret_no_self, unused_variables)]
    pub fn new(stream: u64, json: bool, out: W) -> Self {
        FollowView { out }
    }
}

impl<W: Write> PacketView for FollowView<W> {
    fn packet(&mut self, _frame: &Frame, _facts: &Facts) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
