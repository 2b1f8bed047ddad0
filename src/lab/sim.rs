//! One run of the lab: two smoltcp hosts, the link between them, a virtual
//! clock, and the same workload over TCP or over UDP.
//!
//! Host A (127.0.0.1) sends `messages` numbered messages of `size` bytes
//! (netdojo's header from [`crate::udp::wire`], then padding) to host B
//! (127.0.0.2), which reads them as soon as they arrive. Nothing sleeps: the
//! loop jumps the clock straight to the next thing that can happen (a frame
//! arriving, a timer in either stack, room on the link), so a minute of
//! simulated retransmission takes milliseconds. Every random choice comes
//! from the seed, so a run is exactly repeatable.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, IpEndpoint};

use super::link::{FrameRecord, Link, LinkCounts, LinkDevice, Side};
use super::settings::Scenario;
use crate::udp::tracker::SequenceTracker;
use crate::udp::wire::{self, Datagram};

/// The longest a run may take in simulated time. smoltcp doubles its
/// retransmission timer after each timeout, up to 60 s, so at 30% loss 200
/// messages can take several simulated minutes (up to 8 on the seeds tried
/// while writing this). An hour leaves room for that; even a link that loses
/// everything costs only about 60 timeouts of computation, a fraction of a
/// second. A run that reaches it stops and says so.
pub const MAX_VIRTUAL_TIME: Duration = Duration::from_secs(3600);

/// TCP socket buffers on both hosts: 64 KiB, the window a classic TCP
/// advertises without window scaling.
const TCP_BUFFER: usize = 65_536;

/// UDP socket buffers, in datagrams: the receiver reads after every frame,
/// so a few suffice; the sender's fill up and it waits for the link.
const UDP_PACKETS: usize = 16;

/// If the clock has not moved for this many turns of the loop, it is nudged
/// forward by [`STALL_STEP_US`]: a safety net so that a stack that keeps
/// asking to be polled "now" without doing anything cannot hang a lecture.
const STALL_TURNS: u32 = 10_000;
/// How far a stalled clock is nudged, in microseconds.
const STALL_STEP_US: u64 = 1_000;

/// The receiver's ports: the same as `netdojo tcp serve` and `udp serve`.
const TCP_PORT: u16 = 7000;
const UDP_PORT: u16 = 7001;
/// The sender's ports: any unprivileged port would do; fixed, so that
/// captures of the same seed are identical.
const SENDER_PORT: u16 = 50_000;

/// Addresses on the simulated link: loopback addresses, so nothing in a
/// capture could be mistaken for (or leak to) a real network.
pub const ADDR_A: [u8; 4] = [127, 0, 0, 1];
pub const ADDR_B: [u8; 4] = [127, 0, 0, 2];
const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

/// The two protocols compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// `TCP` or `UDP`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub protocol: Protocol,
    /// Messages the application had to send (all of them: a TCP run that
    /// reached the time cap may not have handed every one to its socket).
    pub sent: u64,
    /// Distinct messages the receiving application got.
    pub delivered: u64,
    /// Messages that never arrived.
    pub lost: u64,
    /// Extra copies the application got.
    pub duplicated: u64,
    /// Messages that arrived after a later one.
    pub out_of_order: u64,
    /// Bytes the receiving application got: over TCP, every byte it read from
    /// the stream (a message cut short by the time cap included); over UDP,
    /// the payloads of the distinct messages it read (copies not counted).
    pub bytes_delivered: u64,
    /// From the start (before ARP and any handshake) to the last message
    /// delivered.
    pub completion: Duration,
    /// Per message, from the send call to the receiving application.
    pub latency_p50: Option<Duration>,
    pub latency_p95: Option<Duration>,
    pub latency_max: Option<Duration>,
    /// Frames that entered the link, both directions.
    pub link: LinkCounts,
    /// Frames sent by each host.
    pub link_a: LinkCounts,
    pub link_b: LinkCounts,
    /// Whether the run stopped at [`MAX_VIRTUAL_TIME`] before it was done.
    pub capped: bool,
    /// Every frame, when they were kept.
    pub frames: Vec<FrameRecord>,
}

impl RunResult {
    /// Bits per second of delivered message bytes over the completion time.
    pub fn goodput_bps(&self) -> Option<f64> {
        let secs = self.completion.as_secs_f64();
        (secs > 0.0).then(|| self.bytes_delivered as f64 * 8.0 / secs)
    }

    /// TCP's retransmitted segments; `None` for UDP, which never retransmits.
    pub fn retransmissions(&self) -> Option<u64> {
        (self.protocol == Protocol::Tcp).then_some(self.link.tcp_retransmissions)
    }

    /// TCP's zero-window probes (not counted as retransmissions; see
    /// [`crate::lab::link::SegmentRole`]); `None` for UDP.
    pub fn window_probes(&self) -> Option<u64> {
        (self.protocol == Protocol::Tcp).then_some(self.link.tcp_window_probes)
    }
}

/// One host: its stack, its sockets, its card.
struct Host {
    iface: Interface,
    device: LinkDevice,
    sockets: SocketSet<'static>,
    side: Side,
}

impl Host {
    fn new(link: &Rc<RefCell<Link>>, side: Side, seed: u64) -> Host {
        let (mac, addr) = match side {
            Side::A => (MAC_A, ADDR_A),
            Side::B => (MAC_B, ADDR_B),
        };
        let mut device = LinkDevice::new(Rc::clone(link), side);
        let mut config = Config::new(EthernetAddress(mac).into());
        // Initial sequence numbers and ephemeral ports come from this seed.
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut device, Instant::ZERO);
        iface.update_ip_addrs(|addrs| {
            let [a, b, c, d] = addr;
            let _ = addrs.push(IpCidr::new(IpAddress::v4(a, b, c, d), 8));
        });
        Host {
            iface,
            device,
            sockets: SocketSet::new(Vec::new()),
            side,
        }
    }

    /// Processes arrived frames one at a time, letting the application read
    /// after each (so its socket never overflows because the simulation
    /// delivered a burst at one instant), then sends what the sockets have,
    /// letting the application refill them until it has nothing more to
    /// give or the sockets take no more. `app` returns whether it did
    /// anything.
    fn step(
        &mut self,
        now: Instant,
        app: &mut dyn FnMut(&mut SocketSet<'static>, Instant) -> bool,
    ) {
        self.iface.poll_maintenance(now);
        loop {
            let r = self
                .iface
                .poll_ingress_single(now, &mut self.device, &mut self.sockets);
            app(&mut self.sockets, now);
            if r == smoltcp::iface::PollIngressSingleResult::None {
                break;
            }
        }
        loop {
            while self
                .iface
                .poll_egress(now, &mut self.device, &mut self.sockets)
                != smoltcp::iface::PollResult::None
            {}
            if !app(&mut self.sockets, now) {
                break;
            }
        }
    }

    /// When this host next needs the clock: a timer, or room on the link if
    /// it is waiting for some.
    fn next_event(&mut self, now_us: u64, link: &Rc<RefCell<Link>>) -> Option<u64> {
        let now = Instant::from_micros(now_us as i64);
        let poll = self
            .iface
            .poll_at(now, &self.sockets)
            .map(|t| t.total_micros().max(0) as u64);
        let mut link = link.borrow_mut();
        let arrival = link.next_arrival(self.side);
        let poll = match (poll, link.transmitter_free_at(self.side, now_us)) {
            // Waiting for the card: polling before it has room does nothing.
            (Some(p), Some(free)) => Some(p.max(free)),
            (p, _) => p,
        };
        [poll, arrival].into_iter().flatten().min()
    }
}

/// The receiving application's view of the messages.
struct Receiver {
    size: usize,
    tracker: SequenceTracker,
    latencies_us: Vec<u64>,
    last_delivery_us: Option<u64>,
    duplicated: u64,
    /// TCP only: bytes of a message not yet complete.
    partial: Vec<u8>,
    /// TCP only: bytes read from the stream.
    bytes_read: u64,
    /// Bytes of the distinct messages (copies not counted).
    message_bytes: u64,
}

impl Receiver {
    fn new(size: usize) -> Self {
        Receiver {
            size,
            tracker: SequenceTracker::new(),
            latencies_us: Vec::new(),
            last_delivery_us: None,
            duplicated: 0,
            partial: Vec::with_capacity(size),
            bytes_read: 0,
            message_bytes: 0,
        }
    }

    /// One whole message arrived at `now_us`.
    fn message(&mut self, bytes: &[u8], now_us: u64) {
        let Datagram::Numbered { seq, sent_at_ns } = wire::decode(bytes) else {
            return;
        };
        use crate::udp::tracker::Arrival;
        // Reordering is read from the tracker at the end: a leap it held
        // may turn numbers that arrived meanwhile into reordered ones.
        match self.tracker.record(seq) {
            Arrival::Duplicate | Arrival::Stale => {
                self.duplicated += 1;
                return;
            }
            Arrival::OutOfRange => return,
            Arrival::InOrder
            | Arrival::Ahead { .. }
            | Arrival::Late
            | Arrival::Leap { .. }
            | Arrival::Confirms { .. }
            | Arrival::AfterEnd => {}
        }
        self.message_bytes += bytes.len() as u64;
        self.latencies_us
            .push(now_us.saturating_sub(sent_at_ns / 1000));
        self.last_delivery_us = Some(now_us);
    }

    /// Bytes from a TCP stream: cut into messages of `size`.
    fn stream(&mut self, mut bytes: &[u8], now_us: u64) {
        self.bytes_read += bytes.len() as u64;
        while !bytes.is_empty() {
            let take = (self.size - self.partial.len()).min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.partial.len() == self.size {
                let message = std::mem::take(&mut self.partial);
                self.message(&message, now_us);
                self.partial = message;
                self.partial.clear();
            }
        }
    }
}

/// Message `seq`: netdojo's numbered header stamped with the virtual send
/// time, then readable padding (it shows in Wireshark's byte view).
fn message(seq: u64, size: usize, now_us: u64) -> Vec<u8> {
    const PAD: &[u8] = b"netdojo lab ";
    let mut buf: Vec<u8> = PAD.iter().copied().cycle().take(size).collect();
    wire::encode_numbered(&mut buf, seq, now_us * 1000);
    buf
}

/// Runs the scenario's workload over one protocol.
pub fn run(scenario: &Scenario, protocol: Protocol, keep_frames: bool) -> RunResult {
    let link = Rc::new(RefCell::new(Link::new(
        scenario.link.clone(),
        scenario.seed,
        keep_frames,
    )));
    let stack_seed = scenario.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut a = Host::new(&link, Side::A, stack_seed);
    let mut b = Host::new(&link, Side::B, stack_seed.wrapping_add(1));
    let workload = scenario.workload;
    let total = workload.messages;
    let b_ip = {
        let [w, x, y, z] = ADDR_B;
        IpAddress::v4(w, x, y, z)
    };

    let mut receiver = Receiver::new(workload.size);
    let mut next_message = 0u64;
    let mut pending: Option<(Vec<u8>, usize)> = None;

    let (a_handle, b_handle): (SocketHandle, SocketHandle) = match protocol {
        Protocol::Tcp => {
            let mut client = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
                tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
            );
            // smoltcp's default, said here because it shapes every result:
            // no congestion control, so after a loss the sender keeps its
            // whole window in flight; only its retransmission timer backs off.
            client.set_congestion_control(tcp::CongestionControl::None);
            let mut server = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
                tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
            );
            server
                .listen(TCP_PORT)
                .expect("a fresh socket listens on a fixed port");
            let ah = a.sockets.add(client);
            let bh = b.sockets.add(server);
            let cx = a.iface.context();
            a.sockets
                .get_mut::<tcp::Socket>(ah)
                .connect(cx, (b_ip, TCP_PORT), SENDER_PORT)
                .expect("a fresh socket connects to a valid endpoint");
            (ah, bh)
        }
        Protocol::Udp => {
            let buffer = || {
                udp::PacketBuffer::new(
                    vec![udp::PacketMetadata::EMPTY; UDP_PACKETS],
                    vec![0; UDP_PACKETS * super::settings::MAX_MESSAGE_SIZE],
                )
            };
            let mut client = udp::Socket::new(buffer(), buffer());
            let mut server = udp::Socket::new(buffer(), buffer());
            client
                .bind(SENDER_PORT)
                .expect("a fresh socket binds a fixed port");
            server
                .bind(UDP_PORT)
                .expect("a fresh socket binds a fixed port");
            (a.sockets.add(client), b.sockets.add(server))
        }
    };

    let cap_us = MAX_VIRTUAL_TIME.as_micros() as u64;
    let mut now_us = 0u64;
    let mut stalled = 0u32;
    let mut capped = false;
    let mut read_buf = vec![0u8; TCP_BUFFER];
    let udp_to = IpEndpoint::new(b_ip, UDP_PORT);

    loop {
        let now = Instant::from_micros(now_us as i64);
        a.step(now, &mut |sockets, now| {
            let now_us = now.total_micros() as u64;
            let mut progressed = false;
            match protocol {
                Protocol::Tcp => {
                    let s = sockets.get_mut::<tcp::Socket>(a_handle);
                    while s.can_send() {
                        if pending.is_none() && next_message < total {
                            pending = Some((message(next_message, workload.size, now_us), 0));
                            next_message += 1;
                        }
                        let Some((bytes, offset)) = pending.as_mut() else {
                            break;
                        };
                        match s.send_slice(&bytes[*offset..]) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                *offset += n;
                                progressed = true;
                            }
                        }
                        if *offset == bytes.len() {
                            pending = None;
                        }
                    }
                }
                Protocol::Udp => {
                    let s = sockets.get_mut::<udp::Socket>(a_handle);
                    while next_message < total && s.can_send() {
                        let m = message(next_message, workload.size, now_us);
                        if s.send_slice(&m, udp_to).is_err() {
                            break;
                        }
                        next_message += 1;
                        progressed = true;
                    }
                }
            }
            progressed
        });
        b.step(now, &mut |sockets, now| {
            let now_us = now.total_micros() as u64;
            let mut progressed = false;
            match protocol {
                Protocol::Tcp => {
                    let s = sockets.get_mut::<tcp::Socket>(b_handle);
                    while let Ok(n) = s.recv_slice(&mut read_buf) {
                        if n == 0 {
                            break;
                        }
                        receiver.stream(&read_buf[..n], now_us);
                        progressed = true;
                    }
                }
                Protocol::Udp => {
                    let s = sockets.get_mut::<udp::Socket>(b_handle);
                    while let Ok((n, _)) = s.recv_slice(&mut read_buf) {
                        receiver.message(&read_buf[..n], now_us);
                        progressed = true;
                    }
                }
            }
            progressed
        });

        let done = match protocol {
            Protocol::Tcp => receiver.bytes_read >= workload.bytes(),
            Protocol::Udp => {
                next_message == total
                    && a.sockets.get::<udp::Socket>(a_handle).send_queue() == 0
                    && link.borrow_mut().idle_from(Side::A, now_us)
            }
        };
        if done {
            break;
        }
        let next = [a.next_event(now_us, &link), b.next_event(now_us, &link)]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else {
            // Nothing will ever happen again (everything sent was lost and
            // no timer is set): the run is over.
            break;
        };
        if next <= now_us {
            stalled += 1;
            if stalled > STALL_TURNS {
                now_us += STALL_STEP_US;
                stalled = 0;
            }
        } else {
            stalled = 0;
            now_us = next;
        }
        if now_us > cap_us {
            capped = true;
            break;
        }
    }

    let counts = receiver
        .tracker
        .end(total)
        .unwrap_or_else(|| receiver.tracker.counts());
    let mut latencies = std::mem::take(&mut receiver.latencies_us);
    latencies.sort_unstable();
    let pick = |q: f64| -> Option<Duration> {
        if latencies.is_empty() {
            return None;
        }
        let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        Some(Duration::from_micros(latencies[rank - 1]))
    };
    let mut link = link.borrow_mut();
    RunResult {
        protocol,
        sent: total,
        delivered: counts.received,
        lost: total - counts.received,
        duplicated: receiver.duplicated,
        out_of_order: counts.reordered,
        bytes_delivered: match protocol {
            Protocol::Tcp => receiver.bytes_read,
            Protocol::Udp => receiver.message_bytes,
        },
        completion: Duration::from_micros(receiver.last_delivery_us.unwrap_or(now_us)),
        latency_p50: pick(0.50),
        latency_p95: pick(0.95),
        latency_max: latencies.last().map(|&us| Duration::from_micros(us)),
        link: link.total(),
        link_a: link.counts(Side::A),
        link_b: link.counts(Side::B),
        capped,
        frames: link.take_frames(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::settings::{Impairments, Workload};

    fn scenario(link: Impairments, seed: u64) -> Scenario {
        Scenario {
            link,
            workload: Workload {
                messages: 50,
                size: 1000,
            },
            seed,
        }
    }

    #[test]
    fn a_perfect_link_delivers_everything_both_ways() {
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let r = run(&scenario(Impairments::none(), 1), protocol, false);
            assert_eq!(
                (r.delivered, r.lost, r.out_of_order),
                (50, 0, 0),
                "{protocol:?}"
            );
            assert!(!r.capped);
        }
    }

    #[test]
    fn tcp_delivers_everything_under_loss() {
        let r = run(&scenario(Impairments::default(), 3), Protocol::Tcp, false);
        assert_eq!((r.delivered, r.lost, r.out_of_order), (50, 0, 0));
        assert!(r.link.lost > 0);
    }
}
