//! The TCP echo server: every byte a client sends comes back.
//!
//! Each connection runs in its own task. Per connection the server reports the
//! accept, each read (with `-v`), the client's half-close, the close with its
//! totals, and the kernel's own measurements (`TCP_INFO`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::info;
use crate::layer::Layer;
use crate::report::{Observation, Reporter, duration, thousands};

/// At most this many clients are served at once. Each holds a file descriptor
/// and a buffer; Linux's default limit is 1,024 open files per process, so 512
/// leaves room for everything else. A client beyond it is not refused: its
/// handshake completes in the kernel and it waits in the accept queue until a
/// slot frees up.
pub const MAX_CONNECTIONS: usize = 512;

/// Bytes read per `read()`. 64 KiB is about what one loopback read can return,
/// so a bulk transfer takes few system calls.
pub const ECHO_BUFFER: usize = 64 * 1024;

/// After Ctrl-C, open connections get this long to finish before being cut.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How one connection's echo loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoEnd {
    /// The client half-closed: `read()` returned 0 because its FIN arrived.
    PeerHalfClosed,
    /// The server was asked to stop.
    Shutdown,
}

/// What one connection moved.
#[derive(Clone, Copy, Debug, Default)]
pub struct EchoCount {
    pub bytes: u64,
    pub reads: u64,
}

#[derive(Default)]
struct Totals {
    connections: AtomicU64,
    bytes: AtomicU64,
}

/// Serves echo on `listener` until `shutdown` resolves, then gives open
/// connections [`SHUTDOWN_GRACE`] to finish.
pub async fn serve(
    listener: TcpListener,
    reporter: Reporter,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "listening",
            format!(
                "listening on {local}: from now on the kernel completes TCP handshakes on port {} by itself and queues the connections until the server accepts them",
                local.port()
            ),
        )
        .field("addr", local.to_string())
        .field("max_connections", MAX_CONNECTIONS),
    );

    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stop_tx, stop_rx) = watch::channel(false);
    let totals = Arc::new(Totals::default());
    let mut connections = JoinSet::new();
    let mut next_id: u64 = 1;
    tokio::pin!(shutdown);

    loop {
        if slots.available_permits() == 0 {
            reporter.emit(Observation::new(
                Layer::Transport,
                "at_capacity",
                format!("all {MAX_CONNECTIONS} connection slots are busy: new clients wait in the kernel's accept queue"),
            ).field("max_connections", MAX_CONNECTIONS));
        }
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot?,
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = crate::endpoint::accept(&listener, &reporter) => accepted,
            _ = &mut shutdown => break,
        };
        let id = next_id;
        next_id += 1;
        let reporter = reporter.clone();
        let stop = stop_rx.clone();
        let totals = totals.clone();
        connections.spawn(async move {
            let count = handle_connection(stream, peer, local, id, &reporter, stop).await;
            totals.connections.fetch_add(1, Ordering::Relaxed);
            totals.bytes.fetch_add(count.bytes, Ordering::Relaxed);
            drop(slot);
        });
        while connections.try_join_next().is_some() {}
    }

    while connections.try_join_next().is_some() {}
    let open = connections.len();
    let _ = stop_tx.send(true);
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "shutting_down",
            format!(
                "shutting down: no new connections; {open} open connection(s) get {} to finish",
                duration(SHUTDOWN_GRACE)
            ),
        )
        .field("open_connections", open),
    );
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    let cut = if drained.is_err() {
        let left = connections.len();
        connections.abort_all();
        left
    } else {
        0
    };
    let served = totals.connections.load(Ordering::Relaxed);
    let bytes = totals.bytes.load(Ordering::Relaxed);
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "stopped",
            format!(
                "stopped: served {served} connection(s) and echoed {} bytes{}",
                thousands(bytes),
                if cut > 0 {
                    format!("; {cut} connection(s) cut at the deadline")
                } else {
                    String::new()
                }
            ),
        )
        .field("connections", served)
        .field("bytes_echoed", bytes)
        .field("cut", cut),
    );
    Ok(())
}

/// Serves one client from accept to close, reporting each stage.
async fn handle_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    id: u64,
    reporter: &Reporter,
    mut stop: watch::Receiver<bool>,
) -> EchoCount {
    let started = Instant::now();
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "accepted",
            format!("#{id} accepted {peer} on {local}: the kernel had already completed the three-way handshake (SYN, SYN-ACK, ACK) before accept() returned"),
        )
        .field("id", id)
        .field("peer", peer.to_string())
        .field("local", local.to_string()),
    );

    let mut count = EchoCount::default();
    let ended = echo(&mut stream, &mut stop, &mut count, |n| {
        if reporter.wants_detail() {
            reporter.emit(
                Observation::new(
                    Layer::Application,
                    "echoed",
                    format!("#{id} read {n} bytes and wrote them back"),
                )
                .field("id", id)
                .field("bytes", n)
                .detail(),
            );
        }
    })
    .await;

    let how = match ended {
        Ok(EchoEnd::PeerHalfClosed) => {
            reporter.emit(
                Observation::new(
                    Layer::Transport,
                    "half_close",
                    format!(
                        "#{id} {peer} half-closed: read() returned 0 because its FIN arrived after {} bytes; the server has nothing more to send, so it closes its side too",
                        thousands(count.bytes)
                    ),
                )
                .field("id", id)
                .field("peer", peer.to_string())
                .field("bytes", count.bytes),
            );
            "closed"
        }
        Ok(EchoEnd::Shutdown) => "closed at shutdown",
        Err(e) => {
            reporter.emit(
                Observation::new(
                    Layer::Transport,
                    "connection_error",
                    format!("#{id} {peer}: {}", describe_io_error(&e)),
                )
                .field("id", id)
                .field("peer", peer.to_string())
                .field("error", e.to_string()),
            );
            "ended by an error"
        }
    };

    let kernel = info::tcp_info(&stream);
    let _ = stream.shutdown().await;
    let elapsed = started.elapsed();
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "closed",
            format!(
                "#{id} {peer} {how} after {}: echoed {} bytes in {} reads",
                duration(elapsed),
                thousands(count.bytes),
                count.reads
            ),
        )
        .field("id", id)
        .field("peer", peer.to_string())
        .field("bytes_echoed", count.bytes)
        .field("reads", count.reads)
        .field("duration_us", elapsed.as_micros() as u64),
    );
    // Where the system has no TCP_INFO, saying so once per connection is noise.
    let kernel_obs = match kernel {
        Ok(_) => info::observation(kernel, &format!("#{id}")),
        Err(_) => info::observation(kernel, &format!("#{id}")).detail(),
    };
    reporter.emit(kernel_obs);
    count
}

/// Reads and writes back until the peer half-closes, `stop` turns true, or an
/// error. Calls `on_read` with each read's size.
pub async fn echo(
    stream: &mut TcpStream,
    stop: &mut watch::Receiver<bool>,
    count: &mut EchoCount,
    mut on_read: impl FnMut(usize),
) -> io::Result<EchoEnd> {
    let mut buf = vec![0u8; ECHO_BUFFER];
    loop {
        let n = tokio::select! {
            read = stream.read(&mut buf) => read?,
            _ = stop.wait_for(|stop| *stop) => return Ok(EchoEnd::Shutdown),
        };
        if n == 0 {
            return Ok(EchoEnd::PeerHalfClosed);
        }
        count.reads += 1;
        count.bytes += n as u64;
        on_read(n);
        stream.write_all(&buf[..n]).await?;
    }
}

/// Says what an I/O error means at the transport layer.
pub fn describe_io_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionReset => {
            "connection reset: the peer sent RST (it closed with unread data, or crashed)".into()
        }
        io::ErrorKind::BrokenPipe => {
            "broken pipe: the peer had already closed the connection".into()
        }
        io::ErrorKind::ConnectionAborted => "connection aborted by this host's kernel".into(),
        io::ErrorKind::TimedOut => "timed out: the peer stopped acknowledging".into(),
        _ => e.to_string(),
    }
}
