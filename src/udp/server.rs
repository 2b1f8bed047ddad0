use std::future::Future;

use tokio::net::UdpSocket;

use crate::report::Reporter;

/// Options of `udp serve`.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// Send each datagram back to its sender.
    pub echo: bool,
}

pub async fn serve(
    _socket: UdpSocket,
    _options: ServeOptions,
    _reporter: Reporter,
    _shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
