//! From bytes to layers: [`facts`] (fast, no allocation) and [`dissect`]
//! (every field, its byte range and its meaning).

use super::model::{Dissection, Facts, Frame};

/// The few facts filters, summaries and conversations need.
pub fn facts(frame: &Frame) -> Facts {
    Facts {
        captured_len: frame.data.len(),
        original_len: frame.original_len,
        ..Facts::default()
    }
}

/// Every layer and field of the frame.
pub fn dissect(_frame: &Frame) -> Dissection {
    Dissection::default()
}
