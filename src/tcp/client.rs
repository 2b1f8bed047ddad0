//! `netdojo tcp connect`: a line-oriented client that times each echo.
//!
//! It sends one line at a time and waits for the reply before the next, so
//! each round-trip time measures the network and the server, not a queue of
//! our own making. Replies are split into lines; data from a server that does
//! not echo is shown as it arrives.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::mpsc;

use super::server::describe_io_error;
use crate::endpoint::Endpoint;
use crate::error::NetError;
use crate::layer::Layer;
use crate::report::{Observation, Reporter, duration, thousands};

/// How long to wait for the reply to one line before sending the next anyway
/// (the server may not be an echo server).
pub const REPLY_WAIT: Duration = Duration::from_secs(2);

/// After our half-close, how long to wait for the server to close its side.
pub const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The longest line shown whole; longer replies are shown shortened.
const SHOW_AT_MOST: usize = 200;

/// What the reader tells the writer.
enum ReaderEvent {
    /// A whole line came back.
    Reply,
    /// The server closed its side (or the connection broke).
    Closed,
}

/// Connects, sends each line, reports replies and round-trip times, then
/// half-closes and waits for the server to close.
pub async fn run(addr: &Endpoint, send: Vec<String>, reporter: &Reporter) -> anyhow::Result<()> {
    let target = addr.resolve().await?;
    let started = Instant::now();
    let stream = TcpStream::connect(target)
        .await
        .map_err(|e| NetError::connect(target, e))?;
    let handshake = started.elapsed();
    let local = stream.local_addr()?;
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "connected",
            format!(
                "connected to {target} from {local}: port {} is an ephemeral port the kernel picked for us; the handshake took {} (one round trip)",
                local.port(),
                duration(handshake)
            ),
        )
        .field("peer", target.to_string())
        .field("local", local.to_string())
        .field("local_port", local.port())
        .field("handshake_us", handshake.as_micros() as u64),
    );
    // Each line should leave at once: we measure round trips, not Nagle's
    // algorithm holding small writes back.
    stream.set_nodelay(true)?;
    let (read_half, mut write_half) = stream.into_split();

    // Send times of lines still waiting for their reply. Bounded: a server that
    // never replies just leaves later lines untimed.
    let (sent_tx, sent_rx) = mpsc::channel::<Instant>(64);
    let (event_tx, mut events) = mpsc::channel::<ReaderEvent>(16);
    let reader = tokio::spawn(read_replies(
        read_half,
        target,
        sent_rx,
        event_tx,
        reporter.clone(),
    ));

    if send.is_empty() && std::io::stdin().is_terminal() {
        reporter.note(
            "type a line and press Enter to send it; Ctrl-D ends (half-closes) the connection",
        );
    }
    let mut lines = Lines::new(send);
    let mut sent_lines = 0u64;
    let mut sent_bytes = 0u64;
    let mut server_closed = false;
    loop {
        // Wait for the next line and, at the same time, for the server to
        // close: a client blocked on stdin must not miss that the
        // connection is over and sit there until the user types again.
        let next = tokio::select! {
            // The server's news first: once it has closed, a line ready to
            // go has nowhere to go.
            biased;
            event = events.recv() => match event {
                // A late reply to an earlier line: it has been reported.
                Some(ReaderEvent::Reply) => continue,
                Some(ReaderEvent::Closed) | None => {
                    server_closed = true;
                    break;
                }
            },
            line = lines.next() => line?,
        };
        let Some(mut bytes) = next else { break };
        if bytes.last() != Some(&b'\n') {
            bytes.push(b'\n');
        }
        if let Err(mpsc::error::TrySendError::Closed(_)) = sent_tx.try_send(Instant::now()) {
            server_closed = true;
            break;
        }
        if let Err(e) = write_half.write_all(&bytes).await {
            reporter.emit(Observation::new(
                Layer::Transport,
                "send_failed",
                format!("could not send: {}", describe_io_error(&e)),
            ));
            server_closed = true;
            break;
        }
        sent_lines += 1;
        sent_bytes += bytes.len() as u64;
        match tokio::time::timeout(REPLY_WAIT, events.recv()).await {
            Ok(Some(ReaderEvent::Reply)) => {}
            Ok(Some(ReaderEvent::Closed)) | Ok(None) => {
                server_closed = true;
                break;
            }
            Err(_) => reporter.emit(Observation::new(
                Layer::Application,
                "no_reply",
                format!("no reply within {}; sending on", duration(REPLY_WAIT)),
            )),
        }
    }
    drop(sent_tx);

    if server_closed {
        reporter.emit(
            Observation::new(
                Layer::Application,
                "exiting",
                format!(
                    "the server closed the connection, so nothing more can be sent: exiting after {sent_lines} line(s), {} bytes{}",
                    thousands(sent_bytes),
                    if lines.is_stdin() { ", without waiting for more input" } else { "" }
                ),
            )
            .field("lines", sent_lines)
            .field("bytes", sent_bytes),
        );
    } else {
        // Narrate first: the server's close may be reported the moment our
        // FIN leaves.
        reporter.emit(
            Observation::new(
                Layer::Transport,
                "half_close",
                format!(
                    "sent {sent_lines} line(s), {} bytes; shut down our sending side (FIN): the connection is half-closed and replies can still arrive",
                    thousands(sent_bytes)
                ),
            )
            .field("lines", sent_lines)
            .field("bytes", sent_bytes),
        );
        let _ = write_half.shutdown().await;
        let closed = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(event) = events.recv().await {
                if matches!(event, ReaderEvent::Closed) {
                    break;
                }
            }
        })
        .await;
        if closed.is_err() {
            reporter.emit(Observation::new(
                Layer::Transport,
                "still_open",
                format!(
                    "the server kept its side open for {}; closing anyway",
                    duration(CLOSE_WAIT)
                ),
            ));
        }
    }
    reader.abort();
    Ok(())
}

/// Reads replies, reports each line with its round-trip time, and tells the
/// writer when a line is complete or the server closed.
async fn read_replies(
    mut stream: OwnedReadHalf,
    peer: SocketAddr,
    mut sent: mpsc::Receiver<Instant>,
    events: mpsc::Sender<ReaderEvent>,
    reporter: Reporter,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut partial: Vec<u8> = Vec::new();
    let mut waiting: VecDeque<Instant> = VecDeque::new();
    let mut received = 0u64;
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                reporter.emit(
                    Observation::new(Layer::Transport, "connection_error", describe_io_error(&e))
                        .field("error", e.to_string()),
                );
                let _ = events.send(ReaderEvent::Closed).await;
                return;
            }
        };
        if n == 0 {
            if !partial.is_empty() {
                report_reply(&reporter, &partial, None);
            }
            reporter.emit(
                Observation::new(
                    Layer::Transport,
                    "server_closed",
                    format!(
                        "{peer} closed the connection: read() returned 0 because its FIN arrived ({} bytes received in all)",
                        thousands(received)
                    ),
                )
                .field("bytes_received", received),
            );
            let _ = events.send(ReaderEvent::Closed).await;
            return;
        }
        received += n as u64;
        while let Ok(at) = sent.try_recv() {
            waiting.push_back(at);
        }
        partial.extend_from_slice(&buf[..n]);
        while let Some(end) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            let rtt = waiting.pop_front().map(|at| at.elapsed());
            report_reply(&reporter, &line[..line.len() - 1], rtt);
            if rtt.is_some() {
                let _ = events.send(ReaderEvent::Reply).await;
            }
        }
        // A server that does not answer in lines: show what arrived as is.
        if partial.len() > SHOW_AT_MOST {
            report_reply(&reporter, &partial, None);
            partial.clear();
        }
    }
}

fn report_reply(reporter: &Reporter, bytes: &[u8], rtt: Option<Duration>) {
    let text = String::from_utf8_lossy(bytes);
    let shown: String = if text.chars().count() > SHOW_AT_MOST {
        text.chars().take(SHOW_AT_MOST).chain("…".chars()).collect()
    } else {
        text.to_string()
    };
    let mut obs = match rtt {
        Some(rtt) => Observation::new(
            Layer::Application,
            "reply",
            format!(
                "← {shown}   ({} bytes, round trip {})",
                bytes.len() + 1,
                duration(rtt)
            ),
        )
        .field("rtt_us", rtt.as_micros() as u64),
        None => Observation::new(Layer::Application, "received", format!("← {shown}")),
    };
    obs = obs
        .field("line", text.to_string())
        .field("bytes", bytes.len());
    reporter.emit(obs);
}

/// The lines to send: the `--send` texts, or stdin's lines as raw bytes (a
/// line need not be UTF-8 to be sent).
enum Lines {
    Given(std::vec::IntoIter<String>),
    Stdin {
        reader: BufReader<tokio::io::Stdin>,
        /// The line read so far. It lives here, not in `next`, so that
        /// `next` can be cancelled (by `select!`) without losing what was
        /// typed: `read_until` appends to it and carries on next time.
        partial: Vec<u8>,
    },
}

impl Lines {
    fn new(given: Vec<String>) -> Self {
        if given.is_empty() {
            Lines::Stdin {
                reader: BufReader::new(tokio::io::stdin()),
                partial: Vec::new(),
            }
        } else {
            Lines::Given(given.into_iter())
        }
    }

    /// Whether the lines come from stdin (rather than `--send`).
    fn is_stdin(&self) -> bool {
        matches!(self, Lines::Stdin { .. })
    }

    /// The next line, or `None` at the end of the input. Cancel-safe.
    async fn next(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        match self {
            Lines::Given(it) => Ok(it.next().map(String::into_bytes)),
            Lines::Stdin { reader, partial } => {
                reader.read_until(b'\n', partial).await?;
                if partial.is_empty() {
                    Ok(None)
                } else {
                    Ok(Some(std::mem::take(partial)))
                }
            }
        }
    }
}
