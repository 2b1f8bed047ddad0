//! `netdojo udp demo`: senders and receivers in one process, narrated.
//!
//! Four things a student should see with their own eyes:
//! 1. datagrams keep their boundaries: three sends of different sizes arrive
//!    as three receives of exactly those sizes;
//! 2. there is no handshake: the very first datagram carries data;
//! 3. a datagram to a port where nobody listens is not UDP's problem: the
//!    network layer answers with ICMP "port unreachable", which the kernel
//!    reports on a connected socket as "connection refused";
//! 4. there is no flow control: a burst into a small receive buffer, read
//!    slowly, is really dropped by the kernel, and the receiver finds the
//!    gaps in the sequence numbers.
//!
//! Every number reported is what really happened on this run; nothing is
//! scripted but the order of the steps.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::net::UdpSocket;

use super::sender::{self, SendSummary};
use super::tracker::{Arrival, RunCounts, SequenceTracker};
use super::wire::{self, Datagram};
use crate::cli::Rate;
use crate::layer::Layer;
use crate::report::{Observation, Reporter, thousands};

/// The three datagrams of step 1: small, medium, and near a typical MTU.
const SIZES: [usize; 3] = [5, 300, 1400];
/// The first datagram's payload: five bytes of text a student can recognise.
const FIRST_PAYLOAD: &[u8; 5] = b"hello";

/// Receive buffer for the demo's reads: larger than any UDP payload, so a
/// datagram's size is never limited by the buffer it is read into.
const RECV_BUFFER: usize = 65_536;

/// How long to wait for a datagram on loopback before calling it lost.
/// Generous: a busy machine may be slow, but never this slow.
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// How long step 3 waits for the ICMP error. On Linux it is back before
/// `send()` even returns; a system that reports nothing will time out here.
const ICMP_WAIT: Duration = Duration::from_secs(2);

/// Step 4's burst: 2,000 datagrams of 1,000 bytes. Far more than the small
/// receive buffer holds, so some are certainly dropped.
pub const BURST_COUNT: u64 = 2000;
/// Bytes per datagram of the burst.
pub const BURST_SIZE: usize = 1000;
/// The receive buffer step 4 asks for (SO_RCVBUF), in bytes: room for a
/// handful of 1,000-byte datagrams. Linux doubles what is asked, for its
/// bookkeeping, and each datagram costs more than its payload there.
const SMALL_RCVBUF: usize = 4096;
/// The slow reader's pause after each datagram, like an application busy
/// with each message. The sender does not wait for anyone.
const READ_PAUSE: Duration = Duration::from_micros(100);
/// The slow reader gives up after this long without a datagram (the end
/// markers were lost too); the demo then closes the count itself.
const BURST_IDLE: Duration = Duration::from_secs(5);

/// What the demo found, for the tour and for tests.
#[derive(Clone, Debug, Default)]
pub struct DemoFacts {
    /// Step 1: sizes sent and sizes that each receive returned.
    pub sizes_sent: Vec<usize>,
    pub sizes_received: Vec<usize>,
    /// Step 2: datagrams the receiver got before the first one with data.
    pub datagrams_before_data: u64,
    /// Step 3: whether the kernel reported the port unreachable, and how.
    pub refused: bool,
    pub unreachable_error: Option<String>,
    /// Step 4: the burst.
    pub burst_sent: u64,
    pub burst_received: u64,
    pub burst_lost: u64,
    /// Step 4: the rise of Linux's `RcvbufErrors` counter, where available.
    pub kernel_drops: Option<u64>,
}

impl DemoFacts {
    /// Whether every datagram of step 1 arrived at the size it was sent.
    pub fn boundaries_kept(&self) -> bool {
        self.sizes_sent == self.sizes_received
    }
}

/// Runs the demo on `127.0.0.1`.
pub async fn run(reporter: &Reporter) -> anyhow::Result<DemoFacts> {
    let mut facts = DemoFacts::default();

    reporter.section(
        "1. Datagrams keep their boundaries",
        "Each send() is one datagram, and each recv() returns one whole datagram: never half of one, never two.",
    );
    boundaries(reporter, &mut facts).await?;

    reporter.section(
        "2. No handshake",
        "TCP exchanges SYN, SYN-ACK and ACK before any data. UDP sends the data at once.",
    );
    no_handshake(reporter, &facts);

    reporter.section(
        "3. Nobody listening",
        "UDP never asks whether anyone is there. The network layer may say so afterwards, with ICMP.",
    );
    unreachable_port(reporter, &mut facts).await?;

    reporter.section(
        "4. No flow control: a burst the receiver cannot keep up with",
        "When a socket's receive buffer is full, the kernel drops the next datagram and tells nobody. Only the numbers show the gaps.",
    );
    burst(reporter, &mut facts).await?;

    reporter.section("5. Summary", "");
    summary(reporter, &facts);
    Ok(facts)
}

fn loopback() -> SocketAddr {
    (Ipv4Addr::LOCALHOST, 0).into()
}

/// Step 1: three datagrams of different sizes, three receives.
async fn boundaries(reporter: &Reporter, facts: &mut DemoFacts) -> anyhow::Result<()> {
    let receiver = UdpSocket::bind(loopback())
        .await
        .context("cannot bind 127.0.0.1:0 for the demo")?;
    let sender = UdpSocket::bind(loopback())
        .await
        .context("cannot bind 127.0.0.1:0 for the demo")?;
    let to = receiver.local_addr()?;
    let from = sender.local_addr()?;
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "sockets",
            format!(
                "a receiver on {to} and a sender on {from}: two UDP sockets, no listen(), no accept(), no connection between them"
            ),
        )
        .field("receiver", to.to_string())
        .field("sender", from.to_string()),
    );

    for size in SIZES {
        let mut payload = vec![b'.'; size];
        payload[..FIRST_PAYLOAD.len()].copy_from_slice(FIRST_PAYLOAD);
        sender
            .send_to(&payload, to)
            .await
            .with_context(|| format!("send_to {to}"))?;
        facts.sizes_sent.push(size);
    }
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "sent",
            format!(
                "3 send_to() calls, one after another: datagrams of {} bytes",
                list(&SIZES)
            ),
        )
        .field("sizes", SIZES.to_vec()),
    );

    let mut buf = vec![0u8; RECV_BUFFER];
    for call in 1..=SIZES.len() {
        let (len, src) = match tokio::time::timeout(RECV_TIMEOUT, receiver.recv_from(&mut buf))
            .await
        {
            Ok(got) => got.with_context(|| format!("recv_from on {to}"))?,
            Err(_) => {
                reporter.emit(
                    Observation::new(
                        Layer::Transport,
                        "lost",
                        format!(
                            "recv #{call}: nothing arrived within {}; UDP does not promise delivery, even on one machine",
                            crate::report::duration(RECV_TIMEOUT)
                        ),
                    )
                    .field("call", call),
                );
                break;
            }
        };
        if src == from && buf[..len].starts_with(FIRST_PAYLOAD) && facts.sizes_received.is_empty() {
            facts.datagrams_before_data = (call - 1) as u64;
        }
        facts.sizes_received.push(len);
        reporter.emit(
            Observation::new(
                Layer::Transport,
                "received",
                format!(
                    "recv #{call} returned {} bytes from {src}, into a buffer of {}",
                    thousands(len as u64),
                    thousands(RECV_BUFFER as u64)
                ),
            )
            .field("call", call)
            .field("bytes", len)
            .field("from", src.to_string()),
        );
    }

    let kept = facts.boundaries_kept();
    let text = if kept {
        format!(
            "{} bytes were sent in 3 datagrams and came out of 3 receives of {} bytes: boundaries kept. A TCP stream would hand the reader the same bytes in pieces of any size.",
            thousands(SIZES.iter().sum::<usize>() as u64),
            list(&facts.sizes_received)
        )
    } else {
        format!(
            "sent {} bytes, received {}: not what was sent",
            list(&facts.sizes_sent),
            list(&facts.sizes_received)
        )
    };
    reporter.emit(
        Observation::new(Layer::Transport, "boundaries", text)
            .field("sent", facts.sizes_sent.clone())
            .field("received", facts.sizes_received.clone())
            .field("kept", kept),
    );
    Ok(())
}

/// Step 2: what arrived before the first datagram with data (nothing).
fn no_handshake(reporter: &Reporter, facts: &DemoFacts) {
    let text = if facts.datagrams_before_data == 0 && !facts.sizes_received.is_empty() {
        format!(
            "the receiver's first recv() returned the sender's first datagram, with its data (\"{}\"): nothing was exchanged before it. The sender never asked; the receiver never accepted.",
            String::from_utf8_lossy(FIRST_PAYLOAD)
        )
    } else {
        format!(
            "{} datagram(s) arrived before the first one with data",
            facts.datagrams_before_data
        )
    };
    reporter.emit(
        Observation::new(Layer::Transport, "no_handshake", text)
            .field("datagrams_before_data", facts.datagrams_before_data)
            .field("first_bytes", facts.sizes_received.first().copied()),
    );
}

/// Step 3: a datagram to a port with no socket.
async fn unreachable_port(reporter: &Reporter, facts: &mut DemoFacts) -> anyhow::Result<()> {
    // Bind a port and close it again: now, surely, nothing listens there.
    let closed = std::net::UdpSocket::bind(loopback())
        .and_then(|s| s.local_addr())
        .context("cannot bind 127.0.0.1:0 for the demo")?;
    let probe = UdpSocket::bind(loopback())
        .await
        .context("cannot bind 127.0.0.1:0 for the demo")?;
    probe
        .connect(closed)
        .await
        .with_context(|| format!("connect to {closed}"))?;
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "closed_port",
            format!(
                "{closed}: the demo bound this port and closed it again, so no socket is there. A new socket connect()s to it, which for UDP only records the address: nothing is sent"
            ),
        )
        .field("to", closed.to_string()),
    );

    let payload = b"anyone there?";
    match probe.send(payload).await {
        Ok(n) => reporter.emit(
            Observation::new(
                Layer::Transport,
                "sent_anyway",
                format!(
                    "send() of {n} bytes succeeded: UDP hands the datagram to IP and asks nobody"
                ),
            )
            .field("bytes", n),
        ),
        Err(e) => reporter.emit(
            Observation::new(
                Layer::Transport,
                "sent_anyway",
                format!("send() failed at once: {e}"),
            )
            .field("error", e.to_string()),
        ),
    }

    let mut buf = vec![0u8; RECV_BUFFER];
    let outcome = tokio::time::timeout(ICMP_WAIT, probe.recv(&mut buf)).await;
    let os = std::env::consts::OS;
    let obs = match outcome {
        Ok(Err(e))
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
            ) =>
        {
            facts.refused = true;
            facts.unreachable_error = Some(e.to_string());
            Observation::new(
                Layer::Network,
                "port_unreachable",
                format!(
                    "ICMP \"port unreachable\" came back (a network-layer message about a transport-layer port); the kernel reported it on the connected socket's next recv(): \"{e}\""
                ),
            )
        }
        Ok(Err(e)) => {
            facts.unreachable_error = Some(e.to_string());
            Observation::new(
                Layer::Transport,
                "port_unreachable",
                format!("recv() failed, but not with \"connection refused\": {e} (on {os})"),
            )
        }
        Ok(Ok(n)) => Observation::new(
            Layer::Transport,
            "port_unreachable",
            format!(
                "a {n}-byte datagram came back: some other program took that port in the meantime"
            ),
        ),
        Err(_) => Observation::new(
            Layer::Transport,
            "port_unreachable",
            format!(
                "no error within {}: on {os} the kernel does not report ICMP errors to this socket, so the datagram vanished without a word",
                crate::report::duration(ICMP_WAIT)
            ),
        ),
    };
    reporter.emit(
        obs.field("to", closed.to_string())
            .field("refused", facts.refused)
            .field("error", facts.unreachable_error.clone())
            .field("os", os),
    );
    Ok(())
}

/// What the slow reader of step 4 came back with.
struct SlowRead {
    /// Kept open until the sender is done: closed early, its port would
    /// answer the last end markers with ICMP "port unreachable".
    _socket: std::net::UdpSocket,
    tracker: SequenceTracker,
    /// The final counts, if an end marker arrived.
    ended: Option<RunCounts>,
}

/// Step 4: a burst into a small receive buffer, read slowly.
async fn burst(reporter: &Reporter, facts: &mut DemoFacts) -> anyhow::Result<()> {
    let (receiver, requested, actual) =
        small_buffer_socket().context("cannot make the demo's small-buffer socket")?;
    let to = receiver.local_addr()?;
    let tx = sender::connected_socket(to)?;
    let doubled = if actual == 2 * requested {
        " (Linux doubles what is asked, for its own bookkeeping)"
    } else {
        ""
    };
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "small_buffer",
            format!(
                "a receiver on {to} asks for a receive buffer (SO_RCVBUF) of {} bytes and gets {}{doubled}; each {}-byte datagram costs more than its payload there, so only a few fit",
                thousands(requested as u64),
                thousands(actual as u64),
                thousands(BURST_SIZE as u64)
            ),
        )
        .field("receiver", to.to_string())
        .field("rcvbuf_requested", requested)
        .field("rcvbuf", actual),
    );

    let drops_before = kernel_rcvbuf_errors();
    // How many datagrams the reader has read so far: read by the sender the
    // moment its last numbered datagram is out, to show it did not wait.
    let read_so_far = Arc::new(AtomicU64::new(0));
    let reader_reporter = reporter.clone();
    let reader_progress = read_so_far.clone();
    let reader = tokio::task::spawn_blocking(move || {
        slow_reader(receiver, &reader_progress, &reader_reporter)
    });
    let sender_reporter = reporter.clone();
    let sender_progress = read_so_far.clone();
    let (sent, read_when_done): (SendSummary, u64) = tokio::task::spawn_blocking(move || {
        let mut s =
            sender::send_numbered(&tx, BURST_COUNT, BURST_SIZE, Rate::Max, &sender_reporter);
        let read_when_done = sender_progress.load(Ordering::Relaxed);
        sender::send_end_markers(&tx, BURST_COUNT, &mut s, &sender_reporter);
        (s, read_when_done)
    })
    .await?;
    facts.burst_sent = sent.sent;
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "burst_sent",
            format!(
                "the sender sent {} numbered datagrams of {} bytes as fast as the kernel took them ({} datagrams/s), then the end marker {} times; {}; {}",
                thousands(sent.sent),
                thousands(BURST_SIZE as u64),
                thousands(sent.datagrams_per_sec()),
                sent.end_markers,
                send_outcome(&sent),
                reader_behind(read_when_done, sent.sent)
            ),
        )
        .field("sent", sent.sent)
        .field("bytes", sent.bytes)
        .field("datagrams_per_sec", sent.datagrams_per_sec())
        .field("end_markers", sent.end_markers)
        .field("refused", sent.refused)
        .field("failed", sent.failed)
        .field("read_when_sender_done", read_when_done),
    );

    let SlowRead {
        mut tracker, ended, ..
    } = reader.await?;
    let drops_after = kernel_rcvbuf_errors();
    let end_seen = ended.is_some();
    // Without an end marker the demo still knows how many it sent.
    let run = ended
        .or_else(|| tracker.end(BURST_COUNT))
        .unwrap_or_default();
    facts.burst_received = run.received;
    facts.burst_lost = run.lost;
    // The total the receiver reasoned from: the marker's, or the demo's own.
    let expected = run.expected.unwrap_or(BURST_COUNT);
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "burst_received",
            received_sentence(&run, expected, end_seen),
        )
        .field("sent", sent.sent)
        .field("expected", expected)
        .field("received", run.received)
        .field("lost", run.lost)
        .field("reordered", run.reordered)
        .field("duplicated", run.duplicated)
        .field("damaged", run.damaged)
        .field("end_marker_seen", end_seen),
    );

    let kernel = match (drops_before, drops_after) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    facts.kernel_drops = kernel;
    let obs = match kernel {
        Some(drops) => Observation::new(
            Layer::Transport,
            "kernel_drops",
            format!(
                "the kernel's own count of UDP datagrams dropped for a full receive buffer (RcvbufErrors in /proc/net/snmp) rose by {} meanwhile; it counts the whole machine, so other programs' drops may add to it",
                thousands(drops)
            ),
        ),
        None => Observation::new(
            Layer::Transport,
            "kernel_drops",
            format!(
                "the kernel's count of dropped datagrams is read from Linux's /proc/net/snmp: not available on {}",
                std::env::consts::OS
            ),
        ),
    };
    reporter.emit(
        obs.field("available", kernel.is_some())
            .field("rcvbuf_errors", kernel),
    );
    Ok(())
}

/// What the slow reader counted, and from what: `expected` is the total the
/// end marker carried, or, if every copy was lost, the one the demo told
/// the tracker itself.
fn received_sentence(run: &RunCounts, expected: u64, end_seen: bool) -> String {
    let how = if end_seen {
        format!("the end marker said {} were sent", thousands(expected))
    } else {
        format!(
            "every end marker was lost too, so the demo told it {} were sent",
            thousands(expected)
        )
    };
    let accounted = run.received + run.lost;
    let balance = if accounted == expected {
        format!("= {} sent", thousands(expected))
    } else {
        format!(
            "= {}, not the {} sent",
            thousands(accounted),
            thousands(expected)
        )
    };
    format!(
        "the receiver, pausing {} after each read, got {} of them; from the gaps in the numbers ({how}) it counts {} lost: {} received + {} lost {balance}",
        crate::report::duration(READ_PAUSE),
        thousands(run.received),
        thousands(run.lost),
        thousands(run.received),
        thousands(run.lost),
    )
}

/// What the burst's `send()` calls came to, from the sender's own counts.
fn send_outcome(sent: &SendSummary) -> String {
    match (sent.refused, sent.failed) {
        (0, 0) => "every send() succeeded".to_string(),
        (refused, failed) => {
            let mut parts = Vec::new();
            if refused > 0 {
                parts.push(format!(
                    "the kernel refused {} send() call{} (\"connection refused\": ICMP port unreachable came back)",
                    thousands(refused),
                    if refused == 1 { "" } else { "s" }
                ));
            }
            if failed > 0 {
                parts.push(format!(
                    "{} datagram{} could not be sent at all",
                    thousands(failed),
                    if failed == 1 { "" } else { "s" }
                ));
            }
            parts.join(", and ")
        }
    }
}

/// How far behind the reader was when the sender had sent its last
/// numbered datagram.
fn reader_behind(read: u64, sent: u64) -> String {
    if read < sent {
        format!(
            "the reader had read {} of them when the last one left: the sender did not wait for it",
            thousands(read)
        )
    } else {
        format!(
            "the reader had already read {} when the last one left: it kept up this time",
            thousands(read)
        )
    }
}

/// A UDP socket on 127.0.0.1 with a small receive buffer: the socket, the
/// size asked for, and the size the kernel set.
fn small_buffer_socket() -> io::Result<(std::net::UdpSocket, usize, usize)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_recv_buffer_size(SMALL_RCVBUF)?;
    socket.bind(&loopback().into())?;
    let actual = socket.recv_buffer_size()?;
    let socket: std::net::UdpSocket = socket.into();
    socket.set_read_timeout(Some(BURST_IDLE))?;
    Ok((socket, SMALL_RCVBUF, actual))
}

/// Reads numbered datagrams slowly until the end marker arrives (or nothing
/// has for [`BURST_IDLE`]), counting them with a tracker, and every datagram
/// read in `progress`.
fn slow_reader(socket: std::net::UdpSocket, progress: &AtomicU64, reporter: &Reporter) -> SlowRead {
    let mut tracker = SequenceTracker::new();
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let len = match socket.recv(&mut buf) {
            Ok(len) => {
                progress.fetch_add(1, Ordering::Relaxed);
                len
            }
            // A timeout, or anything else: the count is closed by the caller.
            Err(_) => {
                return SlowRead {
                    _socket: socket,
                    tracker,
                    ended: None,
                };
            }
        };
        match wire::decode(&buf[..len]) {
            Datagram::Numbered { seq, .. } => {
                // A gap of more than MAX_AHEAD is held until the next number
                // confirms it: it is told then, with both numbers.
                let gap = match tracker.record(seq) {
                    Arrival::Ahead {
                        first_missing,
                        missing,
                    } => Some((first_missing, format!("#{seq}"), missing)),
                    Arrival::Confirms {
                        leap,
                        first_missing,
                        missing,
                    } => Some((first_missing, format!("#{leap}, then #{seq}"), missing)),
                    _ => None,
                };
                if let Some((first_missing, got, missing)) = gap {
                    reporter.emit(
                        Observation::new(
                            Layer::Transport,
                            "gap",
                            format!(
                                "expected #{first_missing}, got {got}: {} missing, dropped by the kernel while the buffer was full",
                                thousands(missing)
                            ),
                        )
                        .field("expected", first_missing)
                        .field("got", seq)
                        .field("missing", missing)
                        .detail(),
                    );
                }
                std::thread::sleep(READ_PAUSE);
            }
            Datagram::End { count } => {
                let ended = tracker.end(count);
                return SlowRead {
                    _socket: socket,
                    tracker,
                    ended,
                };
            }
            Datagram::Other => {}
        }
    }
}

/// Step 5: the facts of this run, side by side.
fn summary(reporter: &Reporter, facts: &DemoFacts) {
    let unreachable = match (&facts.unreachable_error, facts.refused) {
        (Some(e), true) => format!("ICMP port unreachable, reported as \"{e}\""),
        (Some(e), false) => format!("reported as \"{e}\""),
        (None, _) => "no error reported: the datagram vanished".to_string(),
    };
    let kernel = match facts.kernel_drops {
        Some(n) => thousands(n),
        None => "not available on this system".to_string(),
    };
    reporter.emit(
        Observation::new(Layer::Transport, "demo_summary", summary_sentence(facts))
            .field(
                "boundaries",
                format!(
                    "sent {} bytes, received {} bytes",
                    list(&facts.sizes_sent),
                    list(&facts.sizes_received)
                ),
            )
            .field(
                "handshake",
                format!(
                    "{}: {} datagrams before the first with data",
                    if facts.datagrams_before_data == 0 {
                        "none"
                    } else {
                        "something came first"
                    },
                    facts.datagrams_before_data
                ),
            )
            .field("unreachable", unreachable)
            .field(
                "burst",
                format!(
                    "{} sent, {} received, {} lost",
                    thousands(facts.burst_sent),
                    thousands(facts.burst_received),
                    thousands(facts.burst_lost)
                ),
            )
            .field("kernel_drops", kernel)
            .with_fields_shown(),
    );
    reporter.note(
        "Try it with two terminals: `netdojo udp serve`, then `netdojo udp send 127.0.0.1:7001 --count 10000 --rate max`, or type lines into `nc -u 127.0.0.1 7001`.",
    );
}

/// The summary's headline, from what this run saw.
fn summary_sentence(facts: &DemoFacts) -> String {
    let boundaries = if facts.boundaries_kept() {
        "kept boundaries".to_string()
    } else {
        format!(
            "{} of {} datagrams came out as sent",
            facts
                .sizes_sent
                .iter()
                .zip(&facts.sizes_received)
                .filter(|(a, b)| a == b)
                .count(),
            facts.sizes_sent.len()
        )
    };
    let handshake = if facts.datagrams_before_data == 0 && !facts.sizes_received.is_empty() {
        "no handshake".to_string()
    } else {
        format!(
            "{} datagram(s) before the first with data",
            facts.datagrams_before_data
        )
    };
    let delivery = if facts.burst_lost > 0 {
        format!(
            "no promise of delivery ({} of {} lost in the burst)",
            thousands(facts.burst_lost),
            thousands(facts.burst_lost + facts.burst_received)
        )
    } else {
        "and this time the burst lost nothing, which UDP never promised".to_string()
    };
    format!("what UDP did on this run: {boundaries}, {handshake}, {delivery}")
}

/// `5, 300 and 1,400`.
fn list(sizes: &[usize]) -> String {
    let parts: Vec<String> = sizes.iter().map(|&s| thousands(s as u64)).collect();
    match parts.as_slice() {
        [] => "no".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Linux's count of UDP datagrams dropped because a receive buffer was full.
#[cfg(target_os = "linux")]
pub(crate) fn kernel_rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    snmp_counter(&snmp, "Udp", "RcvbufErrors")
}

/// Elsewhere there is no such file.
#[cfg(not(target_os = "linux"))]
pub(crate) fn kernel_rcvbuf_errors() -> Option<u64> {
    None
}

/// A counter from `/proc/net/snmp`, where each protocol has two lines: the
/// names, then the values (`Udp: InDatagrams NoPorts ...` / `Udp: 47 0 ...`).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn snmp_counter(snmp: &str, protocol: &str, name: &str) -> Option<u64> {
    let prefix = format!("{protocol}:");
    let mut lines = snmp.lines().filter(|l| l.starts_with(&prefix));
    let names = lines.next()?;
    let values = lines.next()?;
    let index = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(index)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_counter_from_proc_net_snmp() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 47 0 3 48 12 0\nUdpLite: InDatagrams RcvbufErrors\nUdpLite: 0 0\n";
        assert_eq!(snmp_counter(snmp, "Udp", "RcvbufErrors"), Some(12));
        assert_eq!(snmp_counter(snmp, "Udp", "InDatagrams"), Some(47));
        assert_eq!(snmp_counter(snmp, "Udp", "Nope"), None);
        assert_eq!(snmp_counter(snmp, "Tcp", "RcvbufErrors"), None);
    }

    fn summary(refused: u64, failed: u64) -> SendSummary {
        SendSummary {
            to: loopback(),
            from: loopback(),
            sent: 2000 - failed,
            bytes: 0,
            elapsed: Duration::ZERO,
            refused,
            failed,
            end_markers: 3,
        }
    }

    #[test]
    fn the_send_outcome_is_what_the_sender_counted() {
        assert_eq!(send_outcome(&summary(0, 0)), "every send() succeeded");
        let refused = send_outcome(&summary(12, 0));
        assert!(refused.contains("refused 12 send() calls"), "{refused}");
        assert!(!refused.contains("succeeded"), "{refused}");
        let failed = send_outcome(&summary(1, 1));
        assert!(failed.contains("refused 1 send() call "), "{failed}");
        assert!(failed.contains("1 datagram could not be sent"), "{failed}");
    }

    #[test]
    fn whether_the_reader_kept_up_is_what_it_had_read() {
        assert!(
            reader_behind(12, 2000)
                .contains("had read 12 of them when the last one left: the sender did not wait")
        );
        let kept_up = reader_behind(2000, 2000);
        assert!(kept_up.contains("kept up"), "{kept_up}");
        assert!(!kept_up.contains("did not wait"), "{kept_up}");
    }

    #[test]
    fn the_received_count_names_the_total_the_marker_carried() {
        let run = RunCounts {
            received: 40,
            lost: 1460,
            expected: Some(1500),
            ..RunCounts::default()
        };
        let text = received_sentence(&run, 1500, true);
        assert!(
            text.contains("the end marker said 1,500 were sent"),
            "{text}"
        );
        assert!(
            text.ends_with("40 received + 1,460 lost = 1,500 sent"),
            "{text}"
        );
        let text = received_sentence(&run, 1500, false);
        assert!(text.contains("the demo told it 1,500 were sent"), "{text}");
        let short = RunCounts { lost: 1000, ..run };
        let text = received_sentence(&short, 1500, true);
        assert!(text.ends_with("= 1,040, not the 1,500 sent"), "{text}");
    }

    #[test]
    fn the_summary_says_what_this_run_saw() {
        let mut facts = DemoFacts {
            sizes_sent: vec![5, 300, 1400],
            sizes_received: vec![5, 300, 1400],
            burst_sent: 2000,
            burst_received: 44,
            burst_lost: 1956,
            ..DemoFacts::default()
        };
        let text = summary_sentence(&facts);
        assert!(text.contains("kept boundaries, no handshake"), "{text}");
        assert!(text.contains("1,956 of 2,000 lost"), "{text}");
        facts.sizes_received = vec![5, 300];
        facts.burst_lost = 0;
        facts.burst_received = 2000;
        let text = summary_sentence(&facts);
        assert!(text.contains("2 of 3 datagrams came out as sent"), "{text}");
        assert!(text.contains("lost nothing"), "{text}");
    }

    #[test]
    fn lists_read_like_english() {
        assert_eq!(list(&[5, 300, 1400]), "5, 300 and 1,400");
        assert_eq!(list(&[5]), "5");
        assert_eq!(list(&[]), "no");
    }
}
