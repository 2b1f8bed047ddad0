//! `netdojo ws demo` (being built).

use crate::report::Reporter;

/// Runs the demo.
pub async fn run(_reporter: &Reporter) -> anyhow::Result<()> {
    anyhow::bail!("ws demo is not built yet")
}
