//! `netdojo ws chat`: the terminal client (being built).

use crate::cli::WsChatArgs;
use crate::report::Reporter;

/// Runs the terminal client until `/quit` or the end of stdin.
pub async fn run(_args: &WsChatArgs, _reporter: &Reporter) -> anyhow::Result<()> {
    anyhow::bail!("ws chat is not built yet")
}
