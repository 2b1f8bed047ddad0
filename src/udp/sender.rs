//! `netdojo udp send`: numbered datagrams at a chosen rate, then the end
//! marker, then what was sent.
//!
//! The socket is *connected*, which for UDP sends nothing: it only records
//! the destination, so `send()` needs no address each time, and the kernel
//! can tell this socket when an ICMP "port unreachable" comes back for it.
//!
//! Sending is a tight loop of blocking `send()` calls on a thread of its own
//! (`spawn_blocking`): at hundreds of thousands of datagrams a second, the
//! cost of waking an async task per datagram would be the bottleneck. At
//! `--rate max` on Linux, `sendmmsg` hands the kernel [`BATCH`] datagrams per
//! call; they are still separate datagrams on the wire.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::wire;
use crate::cli::{Rate, UdpSendArgs};
use crate::error::NetError;
use crate::layer::Layer;
use crate::report::{Observation, Reporter, bitrate, duration, thousands};

/// How many copies of the end marker are sent: UDP may lose any one of them,
/// and the receiver ignores the extra copies.
pub const END_COPIES: u64 = 3;

/// Pause before each copy of the end marker. A receiver behind a full
/// buffer drains it in well under a millisecond on one machine, so copies
/// spaced like this find room even after a burst that filled it.
pub const END_SPACING: Duration = Duration::from_millis(10);

/// A pause shorter than this is not worth a `sleep()` (which oversleeps by
/// tens of microseconds anyway): the datagram goes out a little early, and
/// the schedule, computed from the start, catches up by itself.
const MIN_SLEEP: Duration = Duration::from_micros(20);

/// Tries of one datagram when the kernel reports "connection refused": the
/// report is about an *earlier* datagram (its ICMP came back), and this one
/// was not sent, so it is worth sending again.
const REFUSED_TRIES: u32 = 3;

/// What a run of `udp send` did.
#[derive(Clone, Debug, PartialEq)]
pub struct SendSummary {
    /// Where the datagrams went.
    pub to: SocketAddr,
    /// The local address they came from.
    pub from: SocketAddr,
    /// Numbered datagrams handed to the kernel.
    pub sent: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// From the first datagram to the last (end markers not included).
    pub elapsed: Duration,
    /// How many times the kernel reported "connection refused" (an ICMP
    /// port unreachable came back): nothing listens at `to`.
    pub refused: u64,
    /// Numbered datagrams that could not be sent at all.
    pub failed: u64,
    /// Copies of the end marker sent.
    pub end_markers: u64,
}

impl SendSummary {
    /// Datagrams sent per second: the intervals between the first datagram
    /// and the last, over the time they took (5 datagrams at 100/s take 40
    /// ms, not 50). 0 for fewer than two datagrams.
    pub fn datagrams_per_sec(&self) -> u64 {
        let secs = self.elapsed.as_secs_f64();
        if self.sent >= 2 && secs > 0.0 {
            ((self.sent - 1) as f64 / secs).round() as u64
        } else {
            0
        }
    }

    /// Bytes sent in the intervals that [`Self::datagrams_per_sec`] counts,
    /// for a bit rate that agrees with it.
    fn interval_bytes(&self) -> u64 {
        match self.sent {
            0 => 0,
            n => self.bytes - self.bytes / n,
        }
    }
}

/// Sends `args.count` numbered datagrams to `args.addr`, then the end marker,
/// and reports what was sent.
pub async fn run(args: &UdpSendArgs, reporter: &Reporter) -> anyhow::Result<SendSummary> {
    let to = args.addr.resolve().await?;
    let socket = connected_socket(to)?;
    let from = socket.local_addr()?;
    let rate = match args.rate {
        Rate::Max => "as fast as the kernel takes them".to_string(),
        Rate::PerSecond(n) => format!("at {}/s", thousands(n)),
    };
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "sending",
            format!(
                "sending {} numbered datagram{} of {} bytes from {from} to {to}, {rate}; no handshake: the first one leaves at once",
                thousands(args.count),
                if args.count == 1 { "" } else { "s" },
                thousands(args.size as u64),
            ),
        )
        .field("from", from.to_string())
        .field("to", to.to_string())
        .field("count", args.count)
        .field("size", args.size as u64)
        .field("rate", rate_field(args.rate)),
    );
    let (count, size, rate) = (args.count, args.size, args.rate);
    let reporter_for_thread = reporter.clone();
    let summary = tokio::task::spawn_blocking(move || {
        let mut summary = send_numbered(&socket, count, size, rate, &reporter_for_thread);
        send_end_markers(&socket, count, &mut summary, &reporter_for_thread);
        summary
    })
    .await?;
    reporter.emit(summary_observation(&summary));
    Ok(summary)
}

/// A UDP socket bound to an ephemeral port and connected to `to`.
pub fn connected_socket(to: SocketAddr) -> Result<UdpSocket, NetError> {
    let any: SocketAddr = if to.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(any).map_err(|e| NetError::bind(any, e))?;
    socket.connect(to).map_err(|e| NetError::connect(to, e))?;
    Ok(socket)
}

/// Sends numbered datagrams 0..`count` of `size` bytes on a connected
/// blocking socket, at `rate`. Refusals and errors are reported the first
/// time and counted; sending goes on.
///
/// Each datagram's due time is computed from the start (`start + seq / rate`),
/// never from the previous one, so sleeping too long (as every `sleep` does)
/// is caught up on and the average rate stays exact even at 100,000/s. At
/// `--rate max` datagrams go out in batches of [`BATCH`] per system call.
pub fn send_numbered(
    socket: &UdpSocket,
    count: u64,
    size: usize,
    rate: Rate,
    reporter: &Reporter,
) -> SendSummary {
    let to = socket.peer_addr().unwrap_or_else(|_| unspecified());
    let from = socket.local_addr().unwrap_or_else(|_| unspecified());
    let batch = if rate == Rate::Max { BATCH } else { 1 };
    let mut bufs = vec![vec![0u8; size.max(wire::HEADER_LEN)]; batch];
    let mut summary = SendSummary {
        to,
        from,
        sent: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
        refused: 0,
        failed: 0,
        end_markers: 0,
    };
    let mut other_error_reported = false;
    let mut refused_tries = 0;
    let start = Instant::now();
    let mut seq = 0;
    while seq < count {
        if let Rate::PerSecond(per_sec) = rate {
            let due = start + due_after(seq, per_sec);
            let now = Instant::now();
            if due > now + MIN_SLEEP {
                std::thread::sleep(due - now);
            }
        }
        let n = batch.min(usize::try_from(count - seq).unwrap_or(batch));
        let now = wire::now_ns();
        for (i, buf) in bufs[..n].iter_mut().enumerate() {
            wire::encode_numbered(buf, seq + i as u64, now);
        }
        match send_many(socket, &bufs[..n]) {
            Ok(sent) => {
                summary.sent += sent as u64;
                summary.bytes += (sent * bufs[0].len()) as u64;
                seq += sent as u64;
                refused_tries = 0;
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                summary.refused += 1;
                if summary.refused == 1 {
                    reporter.emit(refused_observation(to, &e));
                }
                refused_tries += 1;
                if refused_tries >= REFUSED_TRIES {
                    summary.failed += 1;
                    seq += 1;
                    refused_tries = 0;
                }
            }
            Err(e) => {
                summary.failed += 1;
                if !other_error_reported {
                    other_error_reported = true;
                    reporter.emit(
                        Observation::new(
                            Layer::Transport,
                            "send_error",
                            format!("sending datagram #{seq} to {to} failed: {e}; going on (the summary counts these)"),
                        )
                        .field("seq", seq)
                        .field("error", e.to_string()),
                    );
                }
                seq += 1;
            }
        }
    }
    summary.elapsed = start.elapsed();
    summary
}

/// Datagrams handed to the kernel per system call at `--rate max`, where
/// Linux has `sendmmsg`. Most of a datagram's cost is the network stack, not
/// the call, so larger batches gain little.
pub const BATCH: usize = 32;

/// Sends the datagrams in `bufs` (at least one), in order, and returns how
/// many the kernel took (at least one), or the error that stopped the first.
#[cfg(target_os = "linux")]
fn send_many(socket: &UdpSocket, bufs: &[Vec<u8>]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    if bufs.len() == 1 {
        return socket.send(&bufs[0]).map(|_| 1);
    }
    let n = bufs.len().min(BATCH);
    // SAFETY: all-zero iovec and mmsghdr values are valid (null pointers,
    // zero lengths); each entry used is then pointed at a live buffer that
    // outlives the call, and the kernel only reads those buffers.
    let mut iovecs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..n {
        iovecs[i].iov_base = bufs[i].as_ptr() as *mut libc::c_void;
        iovecs[i].iov_len = bufs[i].len();
        msgs[i].msg_hdr.msg_iov = &mut iovecs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: `msgs[..n]` is initialised above; the socket is connected, so
    // no destination address is needed.
    let sent = unsafe { libc::sendmmsg(socket.as_raw_fd(), msgs.as_mut_ptr(), n as u32, 0) };
    if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        // An error after the first datagram is kept by the kernel for the
        // next call, so nothing is missed by returning the count here.
        Ok(sent as usize)
    }
}

/// Sends the datagrams in `bufs` (at least one), in order, and returns how
/// many the kernel took (at least one), or the error that stopped the first.
#[cfg(not(target_os = "linux"))]
fn send_many(socket: &UdpSocket, bufs: &[Vec<u8>]) -> io::Result<usize> {
    let mut sent = 0;
    for buf in bufs {
        match socket.send(buf) {
            Ok(_) => sent += 1,
            Err(e) if sent == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(sent)
}

/// Sends the end marker for a run of `count` datagrams, [`END_COPIES`]
/// times, [`END_SPACING`] apart, counting the copies sent (and any refusal)
/// in `summary`.
pub fn send_end_markers(
    socket: &UdpSocket,
    count: u64,
    summary: &mut SendSummary,
    reporter: &Reporter,
) {
    for _ in 0..END_COPIES {
        std::thread::sleep(END_SPACING);
        let marker = wire::encode_end(count, wire::now_ns());
        for _ in 0..REFUSED_TRIES {
            match socket.send(&marker) {
                Ok(_) => {
                    summary.end_markers += 1;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    summary.refused += 1;
                    if summary.refused == 1 {
                        reporter.emit(refused_observation(summary.to, &e));
                    }
                }
                Err(_) => break,
            }
        }
    }
}

/// When datagram `seq` is due, from the start, at `per_sec` a second.
fn due_after(seq: u64, per_sec: u64) -> Duration {
    let nanos = u128::from(seq) * 1_000_000_000 / u128::from(per_sec.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

fn unspecified() -> SocketAddr {
    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
}

fn rate_field(rate: Rate) -> serde_json::Value {
    match rate {
        Rate::Max => "max".into(),
        Rate::PerSecond(n) => n.into(),
    }
}

/// The first "connection refused": what it means, at the layer it comes from.
fn refused_observation(to: SocketAddr, e: &io::Error) -> Observation {
    Observation::new(
        Layer::Network,
        "refused",
        format!(
            "nothing is listening at {to}: its kernel answered a datagram with ICMP \"port unreachable\", and ours reports that on this connected socket as \"{e}\"; UDP itself never knew. Still sending (the summary counts these)"
        ),
    )
    .field("to", to.to_string())
    .field("error", e.to_string())
}

/// The `send_summary` observation.
pub fn summary_observation(s: &SendSummary) -> Observation {
    let mut text = format!(
        "sent {} datagram{} ({} bytes)",
        thousands(s.sent),
        if s.sent == 1 { "" } else { "s" },
        thousands(s.bytes),
    );
    // A rate needs at least two datagrams: it is measured between them.
    if s.sent >= 2 {
        text.push_str(&format!(
            " in {}: {} datagrams/s, {}",
            duration(s.elapsed),
            thousands(s.datagrams_per_sec()),
            bitrate(s.interval_bytes(), s.elapsed),
        ));
    }
    text.push_str(&format!("; then the end marker {} times", s.end_markers));
    if s.refused > 0 {
        text.push_str(&format!(
            ". The kernel reported \"connection refused\" {} time{}: nothing listens at {}, the datagrams were dropped there",
            thousands(s.refused),
            if s.refused == 1 { "" } else { "s" },
            s.to
        ));
    }
    if s.failed > 0 {
        text.push_str(&format!(
            ". {} datagram{} could not be sent",
            thousands(s.failed),
            if s.failed == 1 { "" } else { "s" }
        ));
    }
    Observation::new(Layer::Transport, "send_summary", text)
        .field("to", s.to.to_string())
        .field("from", s.from.to_string())
        .field("sent", s.sent)
        .field("bytes", s.bytes)
        .field("elapsed", duration(s.elapsed))
        .field("elapsed_us", s.elapsed.as_micros() as u64)
        .field("datagrams_per_sec", s.datagrams_per_sec())
        .field("refused", s.refused)
        .field("failed", s.failed)
        .field("end_markers", s.end_markers)
        .with_fields_shown()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_counts_intervals_between_datagrams() {
        let mut s = SendSummary {
            to: unspecified(),
            from: unspecified(),
            sent: 5,
            bytes: 500,
            elapsed: Duration::from_millis(40),
            refused: 0,
            failed: 0,
            end_markers: 3,
        };
        assert_eq!(s.datagrams_per_sec(), 100);
        assert_eq!(s.interval_bytes(), 400);
        s.sent = 1;
        assert_eq!(s.datagrams_per_sec(), 0);
    }

    #[test]
    fn due_times_come_from_the_start() {
        assert_eq!(due_after(0, 1000), Duration::ZERO);
        assert_eq!(due_after(1, 1000), Duration::from_millis(1));
        assert_eq!(due_after(100_000, 100_000), Duration::from_secs(1));
        assert_eq!(due_after(3, 3), Duration::from_secs(1));
        // No overflow for absurd values.
        assert!(due_after(u64::MAX, 1) > Duration::from_secs(1 << 32));
    }

    #[test]
    fn a_paced_run_sends_every_datagram_in_order() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let socket = connected_socket(receiver.local_addr().unwrap()).unwrap();
        let (reporter, _) = Reporter::recorder();
        let s = send_numbered(&socket, 20, 100, Rate::PerSecond(10_000), &reporter);
        assert_eq!((s.sent, s.bytes, s.refused, s.failed), (20, 2000, 0, 0));
        let mut buf = [0u8; 200];
        for expected in 0..20 {
            let n = receiver.recv(&mut buf).unwrap();
            assert_eq!(n, 100);
            match wire::decode(&buf[..n]) {
                wire::Datagram::Numbered { seq, .. } => assert_eq!(seq, expected),
                other => panic!("{other:?}"),
            }
        }
        let mut summary = s.clone();
        send_end_markers(&socket, 20, &mut summary, &reporter);
        assert_eq!(summary.end_markers, END_COPIES);
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(wire::decode(&buf[..n]), wire::Datagram::End { count: 20 });
    }
}
