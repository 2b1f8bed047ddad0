//! `HOST:PORT` on the command line, checked before anything runs; and the
//! accept loop every TCP server here shares.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::error::NetError;
use crate::layer::Layer;
use crate::report::{Observation, Reporter, duration};

/// The longest pause after a failing `accept()` (too many open files, say):
/// a server backs off instead of spinning, doubling from 10 ms up to this.
pub const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts the next connection, backing off while `accept()` fails instead
/// of spinning, and saying so at L4. Cancel-safe: it can lose a `select!`.
pub async fn accept(listener: &TcpListener, reporter: &Reporter) -> (TcpStream, SocketAddr) {
    let mut backoff = Duration::from_millis(10);
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                reporter.emit(
                    Observation::new(
                        Layer::Transport,
                        "accept_error",
                        format!(
                            "accept() failed ({e}); trying again in {}",
                            duration(backoff)
                        ),
                    )
                    .field("error", e.to_string()),
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
    }
}

/// An address as the user wrote it: `127.0.0.1:7000`, `[::1]:0`, `localhost:7000`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    host: String,
    port: u16,
}

impl Endpoint {
    /// The port as written (0 means "pick one" when listening).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Resolves the host (a literal address needs no lookup).
    pub async fn resolve(&self) -> Result<SocketAddr, NetError> {
        if let Ok(ip) = self.host.parse::<std::net::IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let mut addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|cause| NetError::Resolve {
                host: self.host.clone(),
                cause,
            })?;
        addrs.next().ok_or_else(|| NetError::NoAddress {
            host: self.host.clone(),
        })
    }

    /// Binds a TCP listener here, with errors that say what to do.
    pub async fn bind_tcp(&self) -> Result<TcpListener, NetError> {
        let addr = self.resolve().await?;
        TcpListener::bind(addr)
            .await
            .map_err(|e| NetError::bind(addr, e))
    }

    /// Binds a UDP socket here, with errors that say what to do.
    pub async fn bind_udp(&self) -> Result<UdpSocket, NetError> {
        let addr = self.resolve().await?;
        UdpSocket::bind(addr)
            .await
            .map_err(|e| NetError::bind(addr, e))
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Endpoint {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const SHAPE: &str = "expected HOST:PORT, like 127.0.0.1:7000, [::1]:7000 or localhost:7000";
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(addr.into());
        }
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(format!("'{s}' has no port: {SHAPE}"));
        };
        let port: u16 = port
            .parse()
            .map_err(|_| format!("'{port}' is not a port (0 to 65535): {SHAPE}"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let valid_name = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if host.parse::<std::net::IpAddr>().is_err() && !valid_name {
            return Err(format!(
                "'{host}' is not an IP address or host name: {SHAPE}"
            ));
        }
        Ok(Endpoint {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_shapes_people_type() {
        for ok in [
            "127.0.0.1:7000",
            "[::1]:0",
            "localhost:7000",
            "my-host.lan:1",
        ] {
            let ep: Endpoint = ok.parse().unwrap();
            assert_eq!(ep.to_string(), ok);
        }
    }

    #[test]
    fn refuses_what_cannot_be_an_address() {
        for bad in [
            "127.0.0.1",
            "127.0.0.1:99999",
            ":7000",
            "a b:1",
            "nonsense",
            "::1",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad} should be refused");
        }
    }
}
