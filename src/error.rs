//! Errors that carry their context: the address, the operation, the limit.
//!
//! [`UsageError`] is the user's command line (exit code 2); everything else is a
//! runtime failure (exit code 1). `main.rs` prints one line either way.

use std::io;
use std::net::SocketAddr;

/// A command line that cannot be run as written: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A network operation that failed, with the address it failed on. The I/O
/// error is a `cause` inside the message, not a `source`: the error is printed
/// with its chain (`{e:#}`), which would say it twice.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("port {} is already in use on {} (try --listen {})", .addr.port(), .addr.ip(), with_port_zero(.addr))]
    AddrInUse { addr: SocketAddr },
    #[error("cannot listen on {addr}: ports below 1024 need root or CAP_NET_BIND_SERVICE (try --listen {})", with_port_zero(.addr))]
    PrivilegedPort { addr: SocketAddr },
    #[error("cannot listen on {addr}: {cause}")]
    Bind { addr: SocketAddr, cause: io::Error },
    #[error("connection refused by {addr}: nothing is listening there")]
    Refused { addr: SocketAddr },
    #[error("cannot connect to {addr}: {cause}")]
    Connect { addr: SocketAddr, cause: io::Error },
    #[error("cannot resolve {host}: {cause}")]
    Resolve { host: String, cause: io::Error },
    #[error("{host} resolved to no address")]
    NoAddress { host: String },
}

fn with_port_zero(addr: &SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip(), 0)
}

impl NetError {
    /// Classifies a failed bind.
    pub fn bind(addr: SocketAddr, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::AddrInUse => NetError::AddrInUse { addr },
            io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
                NetError::PrivilegedPort { addr }
            }
            _ => NetError::Bind {
                addr,
                cause: source,
            },
        }
    }

    /// Classifies a failed connect.
    pub fn connect(addr: SocketAddr, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::ConnectionRefused => NetError::Refused { addr },
            _ => NetError::Connect {
                addr,
                cause: source,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_in_use_suggests_port_zero() {
        let e = NetError::bind(
            "127.0.0.1:7000".parse().unwrap(),
            io::Error::from(io::ErrorKind::AddrInUse),
        );
        assert_eq!(
            e.to_string(),
            "port 7000 is already in use on 127.0.0.1 (try --listen 127.0.0.1:0)"
        );
        let e = NetError::bind(
            "[::1]:7000".parse().unwrap(),
            io::Error::from(io::ErrorKind::AddrInUse),
        );
        assert!(e.to_string().ends_with("(try --listen [::1]:0)"), "{e}");
    }
}
