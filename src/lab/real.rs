//! `netdojo compare --real`: the same workload over the operating system's
//! own TCP and UDP on loopback, into a receiver deliberately slower than its
//! sender.
//!
//! Loopback loses nothing on its own, so the loss here is the one every
//! real network program meets first: a receiver that cannot keep up. The
//! receiver asks for a small receive buffer ([`REAL_RCVBUF`]) and spends
//! [`REAL_PROCESSING`] on each message. Over UDP the sender does not know
//! and does not care: when the buffer is full the kernel drops the next
//! datagram (and, on Linux, counts it in `RcvbufErrors`). Over TCP the
//! receiver's window shrinks to zero and the kernel makes the sender wait:
//! flow control. Nothing is lost, and the sender takes as long as the
//! receiver.
//!
//! Both senders write without blocking and count the times the kernel had
//! no room for what they wrote and they had to wait ([`RealResult::sender_waits`]):
//! that, not a stopwatch, is the evidence of flow control. On Linux the TCP
//! sender's kernel also says how long the receiver's window held it back
//! (`TCP_INFO`'s `tcpi_rwnd_limited`).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::Context;
use socket2::{Domain, Protocol as SockProtocol, Socket, Type};

use super::settings::Workload;
use super::sim::Protocol;
use crate::report::Reporter;
use crate::udp::tracker::{Arrival, SequenceTracker};
use crate::udp::wire::{self, Datagram};
use crate::udp::{demo, sender};

/// The receive buffer the slow receiver asks for (SO_RCVBUF), in bytes.
/// Linux doubles it for its bookkeeping, and each 1,000-byte datagram costs
/// about 2 KiB there on loopback, so only a handful fit: plenty to show
/// overflow, and the same for TCP, whose window it bounds.
pub const REAL_RCVBUF: usize = 8192;

/// The TCP sender's own send buffer (SO_SNDBUF), in bytes. Left to Linux's
/// autotuning (up to 4 MiB) it would swallow the whole workload, so that
/// write() returned at once while the bytes still waited in the kernel:
/// small, the sender itself feels the receiver's window.
pub const REAL_SNDBUF: usize = 8192;

/// How long the receiver works on each message, like an application that
/// does something with what it reads. 1 ms makes 200 messages take a
/// fifth of a second: slow enough that a sender that does not wait
/// overruns it, quick enough for a lecture.
pub const REAL_PROCESSING: Duration = Duration::from_millis(1);

/// The UDP receiver gives up this long after the last datagram (when every
/// end marker was dropped too) and closes its count with what it knows.
const REAL_IDLE: Duration = Duration::from_secs(1);

/// The TCP receiver gives up on a connection that sends nothing for this
/// long: far longer than any pause on loopback.
const TCP_STALL: Duration = Duration::from_secs(10);

/// What one protocol did on the real kernel.
#[derive(Clone, Debug)]
pub struct RealResult {
    pub protocol: Protocol,
    /// Messages the application sent.
    pub sent: u64,
    /// Distinct messages the receiving application read.
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// Bytes the receiving application read: over TCP the whole stream, over
    /// UDP the payloads of the distinct messages.
    pub bytes_delivered: u64,
    /// Times the sender's kernel had no room for what it wrote, so that the
    /// sender had to wait.
    pub sender_waits: u64,
    /// TCP on Linux: how long, in microseconds, the sender's kernel could not
    /// send because the receiver's window was full (`tcpi_rwnd_limited`);
    /// `None` elsewhere, and for UDP, which has no window.
    pub rwnd_limited_us: Option<u64>,
    /// From the first send to the receiver's last read.
    pub completion: Duration,
    /// How long the sender took to hand every message to its kernel.
    pub sender_time: Duration,
    /// Per message, from the send call to the receiver's read (one clock:
    /// both ends run on this machine).
    pub latency_p50: Option<Duration>,
    pub latency_p95: Option<Duration>,
    pub latency_max: Option<Duration>,
    /// The receive buffer the kernel really gave (it may round or double).
    pub rcvbuf: usize,
    /// How much Linux's `RcvbufErrors` (UDP datagrams dropped for a full
    /// buffer, machine-wide) rose during the run; `None` where it cannot be
    /// read, and for TCP, which never drops for this reason.
    pub kernel_drops: Option<u64>,
}

/// Runs the workload over kernel TCP, then kernel UDP, on 127.0.0.1.
pub fn run(workload: Workload, reporter: &Reporter) -> anyhow::Result<(RealResult, RealResult)> {
    let tcp = run_tcp(workload).context("the real-kernel TCP run failed")?;
    let udp = run_udp(workload, reporter).context("the real-kernel UDP run failed")?;
    Ok((tcp, udp))
}

fn loopback() -> SocketAddr {
    (Ipv4Addr::LOCALHOST, 0).into()
}

/// The slow receiver's bookkeeping, shared by both protocols.
struct Books {
    tracker: SequenceTracker,
    latencies_ns: Vec<u64>,
    duplicated: u64,
    /// Bytes of the distinct messages read.
    message_bytes: u64,
    last_read: Option<Instant>,
}

impl Books {
    fn new() -> Self {
        Books {
            tracker: SequenceTracker::new(),
            latencies_ns: Vec::new(),
            duplicated: 0,
            message_bytes: 0,
            last_read: None,
        }
    }

    /// Message `seq`, `len` bytes long, was read.
    fn record(&mut self, seq: u64, sent_at_ns: u64, len: usize) {
        // Reordering is read from the tracker at the end: a leap it held
        // may turn numbers that arrived meanwhile into reordered ones.
        match self.tracker.record(seq) {
            Arrival::Duplicate | Arrival::Stale => {
                self.duplicated += 1;
                return;
            }
            Arrival::OutOfRange => return,
            _ => {}
        }
        self.message_bytes += len as u64;
        self.latencies_ns
            .push(wire::now_ns().saturating_sub(sent_at_ns));
        self.last_read = Some(Instant::now());
    }

    fn finish(self, protocol: Protocol, workload: Workload, run: RunFacts) -> RealResult {
        let mut books = self;
        let RunFacts {
            start,
            sender_time,
            sender_waits,
            rwnd_limited_us,
            bytes_read,
            rcvbuf,
            kernel_drops,
        } = run;
        let counts = books
            .tracker
            .end(workload.messages)
            .unwrap_or_else(|| books.tracker.counts());
        books.latencies_ns.sort_unstable();
        let l = &books.latencies_ns;
        let pick = |q: f64| {
            (!l.is_empty()).then(|| {
                let rank = ((q * l.len() as f64).ceil() as usize).clamp(1, l.len());
                Duration::from_nanos(l[rank - 1])
            })
        };
        RealResult {
            protocol,
            sent: workload.messages,
            delivered: counts.received,
            lost: workload.messages - counts.received.min(workload.messages),
            duplicated: books.duplicated,
            out_of_order: counts.reordered,
            bytes_delivered: bytes_read.unwrap_or(books.message_bytes),
            sender_waits,
            rwnd_limited_us,
            completion: books.last_read.map_or(Duration::ZERO, |t| t - start),
            sender_time,
            latency_p50: pick(0.5),
            latency_p95: pick(0.95),
            latency_max: l.last().map(|&ns| Duration::from_nanos(ns)),
            rcvbuf,
            kernel_drops,
        }
    }
}

/// What a run measured besides the receiver's books.
struct RunFacts {
    start: Instant,
    sender_time: Duration,
    sender_waits: u64,
    rwnd_limited_us: Option<u64>,
    /// TCP: every byte read from the stream.
    bytes_read: Option<u64>,
    rcvbuf: usize,
    kernel_drops: Option<u64>,
}

/// Writes all of `bytes` through `write`, a non-blocking write: whenever the
/// kernel has no room (`WouldBlock`), counts a wait in `waits` and waits for
/// room with `wait_write`, a blocking write of what is left.
fn write_counting_waits(
    mut bytes: &[u8],
    waits: &mut u64,
    mut write: impl FnMut(&[u8]) -> io::Result<usize>,
    mut wait_write: impl FnMut(&[u8]) -> io::Result<usize>,
) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = match write(bytes) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                *waits += 1;
                wait_write(bytes)
            }
            other => other,
        };
        match n {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A blocking write on a socket that is otherwise non-blocking.
fn blocking<T>(
    set_nonblocking: impl Fn(bool) -> io::Result<()>,
    write: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    set_nonblocking(false)?;
    let r = write();
    set_nonblocking(true)?;
    r
}

/// Linux: how long the connection's sender could not send because the
/// receiver's window was full, from `TCP_INFO` (`tcpi_rwnd_limited`, in
/// microseconds, since Linux 4.10); `None` if the kernel does not say.
#[cfg(target_os = "linux")]
fn rwnd_limited_us(stream: &TcpStream) -> Option<u64> {
    use std::os::fd::AsRawFd;
    // SAFETY: tcp_info is plain old data, so all-zero is a valid value; the
    // kernel writes at most `len` bytes into it and reports how many.
    let mut raw: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `raw`, which outlives the call.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut raw as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    let end = std::mem::offset_of!(libc::tcp_info, tcpi_rwnd_limited) + 8;
    (rc == 0 && len as usize >= end).then_some(raw.tcpi_rwnd_limited)
}

/// Elsewhere the kernel does not say.
#[cfg(not(target_os = "linux"))]
fn rwnd_limited_us(_stream: &TcpStream) -> Option<u64> {
    None
}

fn run_tcp(workload: Workload) -> anyhow::Result<RealResult> {
    // The buffer is set on the listening socket, before listen(), so that the
    // accepted connection inherits it and the handshake advertises it.
    let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(SockProtocol::TCP))?;
    listener.set_recv_buffer_size(REAL_RCVBUF)?;
    listener.bind(&loopback().into())?;
    listener.listen(1)?;
    let listener: TcpListener = listener.into();
    let addr = listener.local_addr()?;
    let rcvbuf = socket2::SockRef::from(&listener).recv_buffer_size()?;

    let receiver = std::thread::spawn(move || -> anyhow::Result<(Books, u64)> {
        let (mut stream, _) = listener.accept().context("accept")?;
        stream.set_read_timeout(Some(TCP_STALL))?;
        let mut books = Books::new();
        let mut bytes_read = 0u64;
        let mut message = vec![0u8; workload.size];
        for _ in 0..workload.messages {
            let mut filled = 0;
            while filled < message.len() {
                match stream.read(&mut message[filled..]) {
                    Ok(0) => anyhow::bail!(
                        "the TCP stream ended after {bytes_read} bytes, in the middle of a message"
                    ),
                    Ok(n) => {
                        filled += n;
                        bytes_read += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        return Err(e).context("read a message from the TCP stream");
                    }
                }
            }
            if let Datagram::Numbered { seq, sent_at_ns } = wire::decode(&message) {
                books.record(seq, sent_at_ns, message.len());
            }
            std::thread::sleep(REAL_PROCESSING);
        }
        Ok((books, bytes_read))
    });

    let start = Instant::now();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(SockProtocol::TCP))?;
    socket.set_send_buffer_size(REAL_SNDBUF)?;
    socket
        .connect(&addr.into())
        .with_context(|| format!("connect to {addr}"))?;
    let stream: TcpStream = socket.into();
    stream.set_nonblocking(true)?;
    let mut waits = 0u64;
    let mut message = vec![b'.'; workload.size];
    for seq in 0..workload.messages {
        wire::encode_numbered(&mut message, seq, wire::now_ns());
        write_counting_waits(
            &message,
            &mut waits,
            |b| (&stream).write(b),
            |b| blocking(|on| stream.set_nonblocking(on), || (&stream).write(b)),
        )
        .with_context(|| format!("write message #{seq} to {addr}"))?;
    }
    let sender_time = start.elapsed();
    let (books, bytes_read) = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("the TCP receiver panicked"))??;
    // Read once everything arrived: the receiver's window limited the sender
    // until the last write, and the figure only grows.
    let rwnd_limited = rwnd_limited_us(&stream);
    drop(stream);
    Ok(books.finish(
        Protocol::Tcp,
        workload,
        RunFacts {
            start,
            sender_time,
            sender_waits: waits,
            rwnd_limited_us: rwnd_limited,
            bytes_read: Some(bytes_read),
            rcvbuf,
            kernel_drops: None,
        },
    ))
}

fn run_udp(workload: Workload, reporter: &Reporter) -> anyhow::Result<RealResult> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(SockProtocol::UDP))?;
    socket.set_recv_buffer_size(REAL_RCVBUF)?;
    socket.bind(&loopback().into())?;
    let rcvbuf = socket.recv_buffer_size()?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(REAL_IDLE))?;
    let addr = socket.local_addr()?;
    let tx = sender::connected_socket(addr)?;

    let drops_before = demo::kernel_rcvbuf_errors();
    let receiver = std::thread::spawn(move || {
        let mut books = Books::new();
        let mut ended = false;
        let mut buf = vec![0u8; wire::MAX_PAYLOAD];
        while let Ok(len) = socket.recv(&mut buf) {
            match wire::decode(&buf[..len]) {
                Datagram::Numbered { seq, sent_at_ns } => {
                    books.record(seq, sent_at_ns, len);
                    std::thread::sleep(REAL_PROCESSING);
                }
                Datagram::End { .. } => {
                    ended = true;
                    break;
                }
                Datagram::Other => {}
            }
        }
        // Kept open until here: closed early, its port would answer the
        // sender's last end markers with ICMP "port unreachable".
        (books, ended, socket)
    });

    // The same datagrams `udp send` sends, as fast as the kernel takes them,
    // written without blocking so that a wait would be counted (there is
    // none: nothing tells a UDP sender that its receiver is behind).
    tx.set_nonblocking(true)?;
    let mut waits = 0u64;
    let mut datagram = vec![0u8; workload.size];
    let start = Instant::now();
    let mut sent = 0u64;
    for seq in 0..workload.messages {
        wire::encode_numbered(&mut datagram, seq, wire::now_ns());
        match write_counting_waits(
            &datagram,
            &mut waits,
            |d| tx.send(d),
            |d| blocking(|on| tx.set_nonblocking(on), || tx.send(d)),
        ) {
            Ok(()) => sent += 1,
            // An ICMP report about an earlier datagram (nothing listening yet
            // would be a bug here, but it is not worth a failed run).
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(e).with_context(|| format!("send datagram #{seq} to {addr}")),
        }
    }
    let sender_time = start.elapsed();
    tx.set_nonblocking(false)?;
    let mut summary = sender::SendSummary {
        to: addr,
        from: tx.local_addr()?,
        sent,
        bytes: sent * workload.size as u64,
        elapsed: sender_time,
        refused: 0,
        failed: workload.messages - sent,
        end_markers: 0,
    };
    sender::send_end_markers(&tx, workload.messages, &mut summary, reporter);
    let (books, _ended, _socket) = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("the UDP receiver panicked"))?;
    let drops = match (drops_before, demo::kernel_rcvbuf_errors()) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    Ok(books.finish(
        Protocol::Udp,
        workload,
        RunFacts {
            start,
            sender_time,
            sender_waits: waits,
            rwnd_limited_us: None,
            bytes_read: None,
            rcvbuf,
            kernel_drops: drops,
        },
    ))
}
