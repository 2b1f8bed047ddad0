//! Built-in example frames, made with etherparse's builder.

use super::model::Frame;

/// A named example frame.
pub struct Example {
    pub name: &'static str,
    /// What it shows a learner.
    pub description: &'static str,
    pub build: fn() -> Frame,
}

/// Every example, in the order `--example list` shows them.
pub fn all() -> &'static [Example] {
    &[]
}

/// The example with this name.
pub fn find(name: &str) -> Option<&'static Example> {
    all().iter().find(|e| e.name == name)
}
