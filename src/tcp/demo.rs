//! `netdojo tcp demo`: a client and a server in one process, narrated.
//!
//! Four things a student should see with their own eyes:
//! 1. the handshake happens in the kernel: `connect()` returns before the
//!    server has even called `accept()`;
//! 2. a stream has no message boundaries: two writes can arrive as one read,
//!    and one large write arrives as many reads of varying size;
//! 3. half-close: after the client's FIN, data still flows the other way;
//! 4. the kernel measured the connection all along (`TCP_INFO`).
//!
//! Every number reported is what really happened on this run; nothing is
//! scripted but the order of the steps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::info;
use crate::layer::Layer;
use crate::report::{Observation, Reporter, duration, thousands};

/// The two small writes of step 2.
const SMALL_WRITES: [&[u8]; 2] = [b"hello ", b"world\n"];

/// How long the server is "busy" before its first read in step 2. Long enough
/// on any machine for both small segments to reach its receive buffer.
const SERVER_BUSY: Duration = Duration::from_millis(50);

/// The large write of step 3: 1 MiB, far more than one segment or one read.
pub const LARGE_WRITE: usize = 1 << 20;

/// Read buffer size on both sides.
const READ_BUFFER: usize = 64 * 1024;

/// The line the server sends after the client's half-close.
const PARTING_LINE: &[u8] = b"server: got your FIN; I can still send\n";

/// What the demo found, for the tour's recap and for tests.
#[derive(Clone, Debug, Default)]
pub struct DemoFacts {
    pub handshake: Duration,
    /// Whether the listening socket held the finished connection before
    /// `accept()` was called (`None`: not checked on this system).
    pub before_accept: Option<bool>,
    pub small_reads: Vec<usize>,
    pub large_write_calls: usize,
    pub large_reads: Vec<usize>,
    pub echo_intact: bool,
    pub after_half_close_bytes: usize,
    pub kernel: Option<info::TcpInfo>,
}

/// Runs the demo on `127.0.0.1:0`.
pub async fn run(reporter: &Reporter) -> anyhow::Result<DemoFacts> {
    let mut facts = DemoFacts::default();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind 127.0.0.1:0 for the demo")?;
    let server_addr = listener.local_addr()?;

    reporter.section(
        "1. The handshake is the kernel's job",
        "connect() sends SYN, the server's kernel answers SYN-ACK, the client's kernel sends ACK. No application code runs.",
    );
    let (mut client, mut server) = handshake(&listener, server_addr, reporter, &mut facts).await?;

    reporter.section(
        "2. A stream has no message boundaries",
        "TCP delivers bytes in order; where one write() ends is not something the reader can see.",
    );
    small_writes(&mut client, &mut server, reporter, &mut facts).await?;
    large_write(&mut client, &mut server, reporter, &mut facts).await?;

    reporter.section(
        "3. Half-close: each direction closes on its own",
        "shutdown(Write) sends a FIN: \"no more data from me\". The other direction stays open.",
    );
    half_close(&mut client, &mut server, reporter, &mut facts).await?;

    reporter.section(
        "4. What the kernel measured",
        "The kernel timed every segment and adapted its window; Linux lets a program read that (TCP_INFO).",
    );
    let kernel = info::tcp_info(&client);
    facts.kernel = kernel.as_ref().ok().cloned();
    reporter.emit(info::observation(kernel, "the client's connection").with_fields_shown());
    drop(server);
    drop(client);

    summary(reporter, &facts);
    Ok(facts)
}

async fn handshake(
    listener: &TcpListener,
    server_addr: SocketAddr,
    reporter: &Reporter,
    facts: &mut DemoFacts,
) -> anyhow::Result<(TcpStream, TcpStream)> {
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "listening",
            format!(
                "the server listens on {server_addr} (port 0 asked the kernel for any free port)"
            ),
        )
        .field("addr", server_addr.to_string()),
    );
    let started = Instant::now();
    let client = TcpStream::connect(server_addr).await?;
    facts.handshake = started.elapsed();
    let client_addr = client.local_addr()?;
    // accept() has not been called yet. Ask the kernel whether the listening
    // socket already holds a finished connection for it.
    let queued = connection_queued(listener).await;
    facts.before_accept = queued;
    let queue_text = match queued {
        Some(true) => {
            "; the server has not called accept() yet, and its listening socket already reports a connection ready to accept"
        }
        Some(false) => {
            "; the server has not called accept() yet, and its listening socket reported no connection ready within a second"
        }
        None => {
            "; the server has not called accept() yet (whether the connection already waits for it is not checked on this system)"
        }
    };
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "connected",
            format!(
                "the client's connect() returned after {}, from ephemeral port {}: the three-way handshake is complete{queue_text}",
                duration(facts.handshake),
                client_addr.port()
            ),
        )
        .field("client", client_addr.to_string())
        .field("handshake_us", facts.handshake.as_micros() as u64)
        .field("before_accept", queued),
    );
    let (server, peer) = listener.accept().await?;
    let accepted_text = if queued == Some(true) {
        format!(
            "the server's accept() now returns the connection from {peer}: it was waiting, already established, in the kernel's accept queue"
        )
    } else {
        format!("the server's accept() returns the connection from {peer}")
    };
    reporter.emit(
        Observation::new(Layer::Transport, "accepted", accepted_text)
            .field("peer", peer.to_string()),
    );
    // Each write should leave as its own segment, so that joining them is the
    // receiver's doing, not Nagle's algorithm's.
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    Ok((client, server))
}

/// How long to wait for the listening socket to report the client's
/// connection as ready to accept. On loopback the handshake's last ACK has
/// usually been processed before `connect()` returns; a busy machine may
/// take a moment longer, never this long.
const QUEUE_WAIT: Duration = Duration::from_secs(1);

/// Whether the listening socket has a connection ready to accept, checked
/// without accepting it: `poll(2)` reports a listening socket readable when
/// the kernel's accept queue holds a connection whose handshake is done.
/// `None` where there is no `poll(2)`.
#[cfg(unix)]
async fn connection_queued(listener: &TcpListener) -> Option<bool> {
    use std::os::fd::AsRawFd;
    let fd = listener.as_raw_fd();
    let wait_ms = QUEUE_WAIT.as_millis() as libc::c_int;
    // poll blocks (at most QUEUE_WAIT): keep it off the async workers. The
    // listener outlives the call, since it is awaited here.
    tokio::task::spawn_blocking(move || {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for a descriptor that stays open until
        // this returns (the listener is borrowed across the await).
        let ready = unsafe { libc::poll(&mut pfd, 1, wait_ms) };
        ready == 1 && pfd.revents & libc::POLLIN != 0
    })
    .await
    .ok()
}

/// Elsewhere the demo does not check.
#[cfg(not(unix))]
async fn connection_queued(_listener: &TcpListener) -> Option<bool> {
    None
}

async fn small_writes(
    client: &mut TcpStream,
    server: &mut TcpStream,
    reporter: &Reporter,
    facts: &mut DemoFacts,
) -> anyhow::Result<()> {
    let sizes: Vec<usize> = SMALL_WRITES.iter().map(|w| w.len()).collect();
    let total: usize = sizes.iter().sum();
    for write in SMALL_WRITES {
        client.write_all(write).await?;
    }
    reporter.emit(
        Observation::new(
            Layer::Application,
            "two_writes",
            format!(
                "the client called write() twice: {:?} ({} bytes) and {:?} ({} bytes); with TCP_NODELAY each left at once in its own segment",
                String::from_utf8_lossy(SMALL_WRITES[0]),
                sizes[0],
                String::from_utf8_lossy(SMALL_WRITES[1]),
                sizes[1]
            ),
        )
        .field("writes", sizes.clone()),
    );
    tokio::time::sleep(SERVER_BUSY).await;
    let mut buf = vec![0u8; READ_BUFFER];
    let mut got = 0;
    while got < total {
        let n = server.read(&mut buf[got..]).await?;
        anyhow::ensure!(n > 0, "the client closed early");
        facts.small_reads.push(n);
        got += n;
    }
    let text = if facts.small_reads.len() == 1 {
        format!(
            "the server was busy for {}, then one read() returned all {total} bytes, {:?}: the two writes arrived as one read; the boundary between them is gone",
            duration(SERVER_BUSY),
            String::from_utf8_lossy(&buf[..got]),
        )
    } else if facts.small_reads == sizes {
        format!(
            "the server was busy for {}, then read() returned the {total} bytes in {} pieces {:?}, the sizes of the writes: this time they stayed apart, by timing alone; a reader can never rely on that",
            duration(SERVER_BUSY),
            facts.small_reads.len(),
            facts.small_reads
        )
    } else {
        format!(
            "the server was busy for {}, then read() returned the {total} bytes in {} pieces {:?}, which match neither the writes nor their sum: a reader can never rely on where a write ended",
            duration(SERVER_BUSY),
            facts.small_reads.len(),
            facts.small_reads
        )
    };
    reporter.emit(
        Observation::new(Layer::Transport, "small_reads", text)
            .field("writes", sizes)
            .field("reads", facts.small_reads.clone()),
    );
    // Echo them back so both sides are in step before the next part.
    server.write_all(&buf[..got]).await?;
    client.read_exact(&mut buf[..got]).await?;
    Ok(())
}

async fn large_write(
    client: &mut TcpStream,
    server: &mut TcpStream,
    reporter: &Reporter,
    facts: &mut DemoFacts,
) -> anyhow::Result<()> {
    let data: Vec<u8> = (0..LARGE_WRITE).map(|i| (i % 251) as u8).collect();
    let (mut client_rd, mut client_wr) = client.split();

    // The client writes while it reads the echo: otherwise both sides would
    // fill each other's buffers and wait forever.
    let write = async {
        // What each write() call took: the kernel decides, not the caller.
        let mut taken = Vec::new();
        let mut off = 0;
        while off < data.len() {
            let n = client_wr.write(&data[off..]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            off += n;
            taken.push(n);
        }
        Ok::<_, std::io::Error>(taken)
    };
    let echo = async {
        let mut reads = Vec::new();
        let mut buf = vec![0u8; READ_BUFFER];
        let mut got = 0;
        while got < LARGE_WRITE {
            let n = server.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            reads.push(n);
            got += n;
            server.write_all(&buf[..n]).await?;
        }
        Ok::<_, std::io::Error>(reads)
    };
    let read_back = async {
        let mut back = vec![0u8; LARGE_WRITE];
        client_rd.read_exact(&mut back).await?;
        Ok::<_, std::io::Error>(back)
    };
    let (taken, reads, back) = tokio::try_join!(write, echo, read_back)?;
    let calls = taken.len();
    facts.large_write_calls = calls;
    facts.large_reads = reads;
    facts.echo_intact = back == data;

    reporter.emit(
        Observation::new(
            Layer::Application,
            "large_write",
            if calls == 1 {
                format!(
                    "the client wrote {} bytes in one go, and the kernel took them all in a single write() call: its send buffer had room",
                    thousands(LARGE_WRITE as u64)
                )
            } else {
                format!(
                    "the client wrote {} bytes in one go; the kernel took them in {calls} write() calls, each what fitted in its send buffer at the time",
                    thousands(LARGE_WRITE as u64)
                )
            },
        )
        .field("bytes", LARGE_WRITE)
        .field("write_calls", calls)
        .field("write_sizes", taken),
    );
    let reads = &facts.large_reads;
    let (min, max) = (
        reads.iter().copied().min().unwrap_or(0),
        reads.iter().copied().max().unwrap_or(0),
    );
    let first: Vec<String> = reads.iter().take(6).map(|n| thousands(*n as u64)).collect();
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "large_reads",
            format!(
                "the server received them in {} reads of varying size, from {} to {} bytes (first: {}{}): TCP cut the stream into segments by its own rules",
                reads.len(),
                thousands(min as u64),
                thousands(max as u64),
                first.join(", "),
                if reads.len() > first.len() { ", …" } else { "" }
            ),
        )
        .field("reads", reads.len())
        .field("min", min)
        .field("max", max)
        .field("sizes", reads.clone()),
    );
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "echo_checked",
            if facts.echo_intact {
                format!("every one of the {} bytes came back in order and unchanged: reliable, ordered delivery is TCP's promise", thousands(LARGE_WRITE as u64))
            } else {
                "the echoed bytes differ from what was sent: this should never happen over TCP".to_string()
            },
        )
        .field("intact", facts.echo_intact),
    );
    Ok(())
}

async fn half_close(
    client: &mut TcpStream,
    server: &mut TcpStream,
    reporter: &Reporter,
    facts: &mut DemoFacts,
) -> anyhow::Result<()> {
    client.write_all(b"bye\n").await?;
    client.shutdown().await?;
    reporter.emit(Observation::new(
        Layer::Transport,
        "client_fin",
        "the client sent \"bye\" and called shutdown(Write): its FIN says \"no more data from me\", yet it keeps reading",
    ));

    let mut buf = vec![0u8; READ_BUFFER];
    let mut received = Vec::new();
    loop {
        let n = server.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
        server.write_all(&buf[..n]).await?;
    }
    server.write_all(PARTING_LINE).await?;
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "server_eof",
            format!(
                "the server echoed {:?}, then read() returned 0: the client's FIN. It can still send, and adds a last line before closing with its own FIN",
                String::from_utf8_lossy(&received).trim_end()
            ),
        )
        .field("bytes_before_fin", received.len()),
    );
    server.shutdown().await?;

    let mut after = Vec::new();
    client.read_to_end(&mut after).await?;
    facts.after_half_close_bytes = after.len();
    let lines: Vec<String> = String::from_utf8_lossy(&after)
        .lines()
        .map(|l| format!("{l:?}"))
        .collect();
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "after_half_close",
            format!(
                "after its own FIN the client still received {} bytes ({}), then read() returned 0: the server's FIN. Both directions are now closed",
                after.len(),
                lines.join(", ")
            ),
        )
        .field("bytes", after.len()),
    );
    Ok(())
}

fn summary(reporter: &Reporter, facts: &DemoFacts) {
    let mut obs = Observation::new(
        Layer::Transport,
        "summary",
        "TCP in one connection: a handshake done by the kernel, a byte stream whose reads owe nothing to the writes, and two directions that close separately",
    )
    .field("handshake_us", facts.handshake.as_micros() as u64)
    .field("small_writes_reads", facts.small_reads.len())
    .field("large_write_calls", facts.large_write_calls)
    .field("large_write_reads", facts.large_reads.len())
    .field("echo_intact", facts.echo_intact)
    .field("after_half_close_bytes", facts.after_half_close_bytes);
    if let Some(k) = &facts.kernel {
        obs = obs
            .field("rtt_us", k.rtt_us)
            .field("total_retrans", k.total_retrans);
    }
    reporter.emit(obs.with_fields_shown());
}
