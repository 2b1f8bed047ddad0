//! `netdojo ws tap` (being built).

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::report::Reporter;

/// Proxies every connection on `listener` to `upstream`, narrating it.
pub async fn run(
    _listener: TcpListener,
    _upstream: SocketAddr,
    _reporter: Reporter,
    _shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    anyhow::bail!("ws tap is not built yet")
}
