//! `netdojo ws serve`: the chat server (being built).

use std::future::Future;

use tokio::net::TcpListener;

use crate::report::Reporter;

/// What `ws serve` can be told.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Clients connected at once; beyond it HTTP 503.
    pub max_clients: usize,
    /// Whether resume replays missed messages (the demo turns it off).
    pub recovery: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_clients: super::limits::MAX_CLIENTS,
            recovery: true,
        }
    }
}

/// Serves the page and the WebSocket on `listener` until `shutdown`.
pub async fn serve(
    _listener: TcpListener,
    _options: ServeOptions,
    _reporter: Reporter,
    _shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    anyhow::bail!("ws serve is not built yet")
}
