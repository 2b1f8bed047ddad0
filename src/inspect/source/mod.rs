//! Where frames come from: capture files, hex, built-in examples, a live
//! interface. Each is a [`FrameSource`]; [`PcapWriter`] saves frames.

use std::path::Path;

use super::model::Frame;
use crate::cli::InspectArgs;

/// A stream of frames. An `Err` ends the stream: frames before it were good.
pub trait FrameSource {
    fn next_frame(&mut self) -> Option<Result<Frame, SourceError>>;
}

/// A capture that cannot be read further, with where it broke.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Other(String),
}

/// Opens the source the arguments name.
pub fn open(_args: &InspectArgs) -> anyhow::Result<Box<dyn FrameSource>> {
    anyhow::bail!("not yet")
}

/// Writes frames to a classic pcap file (the link type of the first frame).
pub struct PcapWriter;

impl PcapWriter {
    pub fn create(_path: &Path) -> anyhow::Result<PcapWriter> {
        anyhow::bail!("not yet")
    }
    pub fn write_frame(&mut self, _frame: &Frame) -> anyhow::Result<()> {
        Ok(())
    }
    pub fn finish(self) -> anyhow::Result<()> {
        Ok(())
    }
}
