//! `netdojo udp serve`: a receiver that keeps books on every sender.
//!
//! There is no `accept()` in UDP and no connection: one socket receives every
//! datagram, each labelled with the address it came from. So the server keeps
//! one account per sender address: datagrams and bytes, and for netdojo's
//! numbered datagrams, what the [`SequenceTracker`] makes of their numbers.
//! Anything else (`nc -u`, garbage) is shown as text or hex and survived.
//!
//! A number cannot be trusted just because it arrived: one damaged by a
//! relay that recomputed the UDP checksum, or forged, is held as a leap and
//! counted as damaged unless something confirms it (see the tracker's
//! documentation), so that no datagram can make the counts absurd.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::net::UdpSocket;

use super::latency::LatencyHistogram;
use super::preview::{self, Encoding};
use super::tracker::{Arrival, MAX_AHEAD, MAX_HELD, RunCounts, SequenceTracker};
use super::wire::{self, Datagram};
use crate::layer::Layer;
use crate::report::{Observation, Reporter, thousands};

/// The longest one-way trip a datagram's send time may claim and still be
/// counted as latency (one minute). A flipped bit in the send time (see
/// `udp relay --corrupt`) would otherwise report hours.
const PLAUSIBLE_LATENCY_NS: u64 = 60 * 1_000_000_000;
/// Bytes of the receive buffer: more than the largest possible UDP payload
/// (65,507 over IPv4, 65,527 over IPv6), so no datagram is ever cut short.
pub const RECV_BUFFER: usize = 65_536;

/// How many senders the server keeps accounts for at once. Beyond this, the
/// least recently active one is summarised and forgotten.
///
/// Why 256: a classroom all sending at once fits, and memory stays bounded
/// whatever arrives (every `nc -u` run is a new sender, as is every forged
/// source address): an account holds at most the tracker's missing ranges
/// and held leaps and a 4 KiB latency histogram, so 256 of them stay within
/// a few MiB.
pub const MAX_SENDERS: usize = 256;

/// The receive buffer (SO_RCVBUF) the server asks the kernel for: 4 MiB,
/// about 40 ms of datagrams at 100,000/s. The default (about 200 KiB on
/// Linux) overflows whenever a busy machine stalls the server for a few
/// milliseconds, and the server's own drops would be counted as the
/// network's. The kernel caps the request (`net.core.rmem_max`); the
/// `listening` event says what was granted.
pub const SERVE_RCVBUF: usize = 4 << 20;

/// Pause after a receive error other than an ICMP report, so that an error
/// that repeats at once (a socket gone bad) cannot spin a core.
const RECV_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// Options of `udp serve`.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// Send each datagram back to its sender.
    pub echo: bool,
}

/// Receives datagrams on `socket` until `shutdown` resolves, reporting each
/// sender's accounts; then summarises every sender not yet summarised, and
/// the total.
///
/// Nothing a peer sends stops it: garbage, empty or oversized datagrams are
/// reported and counted, and receive errors are reported and survived.
pub async fn serve(
    socket: UdpSocket,
    options: ServeOptions,
    reporter: Reporter,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let local = socket.local_addr()?;
    let sock = socket2::SockRef::from(&socket);
    // Best effort: a smaller buffer only means drops come sooner.
    let _ = sock.set_recv_buffer_size(SERVE_RCVBUF);
    let rcvbuf = sock.recv_buffer_size().ok();
    let buffer = match rcvbuf {
        Some(bytes) => format!("; receive buffer {} bytes", thousands(bytes as u64)),
        None => String::new(),
    };
    let echo = if options.echo {
        "; --echo: each datagram goes back to its sender"
    } else {
        ""
    };
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "listening",
            format!(
                "listening on {local} (UDP): no accept, no connections; each datagram is counted by the address it came from{buffer}{echo}"
            ),
        )
        .field("addr", local.to_string())
        .field("echo", options.echo)
        .field("rcvbuf", rcvbuf),
    );

    let mut ledger = Ledger::new(reporter.clone(), MAX_SENDERS);
    let mut errors = ErrorReports::default();
    let mut buf = vec![0u8; RECV_BUFFER];
    tokio::pin!(shutdown);
    loop {
        let received = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            received = socket.recv_from(&mut buf) => received,
        };
        let (len, from) = match received {
            Ok(got) => got,
            Err(e) => {
                let icmp = errors.recv_error(&reporter, &e);
                if !icmp {
                    tokio::time::sleep(RECV_ERROR_PAUSE).await;
                }
                continue;
            }
        };
        let datagram = &buf[..len];
        ledger.datagram(from, datagram, wire::now_ns());
        if options.echo
            && let Err(e) = socket.send_to(datagram, from).await
        {
            errors.echo_error(&reporter, from, &e);
        }
    }
    ledger.finish();
    Ok(())
}

/// Reports errors the first time in full, then as details only: a peer that
/// provokes an error per datagram must not flood the narration.
#[derive(Default)]
struct ErrorReports {
    icmp: u64,
    recv: u64,
    echo: u64,
}

impl ErrorReports {
    /// Reports a failed receive; returns whether it was an ICMP report (which
    /// needs no pause: the next receive is fine).
    fn recv_error(&mut self, reporter: &Reporter, e: &io::Error) -> bool {
        let icmp = matches!(
            e.kind(),
            io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
        );
        let obs = if icmp {
            self.icmp += 1;
            Observation::new(
                Layer::Network,
                "recv_error",
                format!(
                    "an ICMP error came back for a datagram this server sent (an echo to a sender that has gone?); the kernel reported it on a receive as \"{e}\"; carrying on"
                ),
            )
            .field("count", self.icmp)
        } else {
            self.recv += 1;
            Observation::new(
                Layer::Transport,
                "recv_error",
                format!("receive failed: {e}; carrying on"),
            )
            .field("count", self.recv)
        };
        let obs = obs.field("error", e.to_string());
        let first = if icmp { self.icmp } else { self.recv } == 1;
        reporter.emit(if first { obs } else { obs.detail() });
        icmp
    }

    fn echo_error(&mut self, reporter: &Reporter, to: SocketAddr, e: &io::Error) {
        self.echo += 1;
        let obs = Observation::new(
            Layer::Transport,
            "echo_failed",
            format!("could not echo a datagram back to {to}: {e}; carrying on"),
        )
        .field("to", to.to_string())
        .field("error", e.to_string())
        .field("count", self.echo);
        reporter.emit(if self.echo == 1 { obs } else { obs.detail() });
    }
}

/// Why a sender's summary was reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    /// Its end marker arrived.
    End,
    /// The table of senders was full and it was the least recently active.
    Evicted,
    /// The server is stopping.
    Shutdown,
}

impl Reason {
    fn name(self) -> &'static str {
        match self {
            Reason::End => "end",
            Reason::Evicted => "evicted",
            Reason::Shutdown => "shutdown",
        }
    }
}

/// One sender's account since its last summary.
#[derive(Default)]
struct Account {
    tracker: SequenceTracker,
    latency: LatencyHistogram,
    /// Datagrams with a payload for us: numbered and others, not end markers.
    datagrams: u64,
    /// Their payload bytes.
    bytes: u64,
    /// netdojo's numbered datagrams among them, duplicates included.
    numbered: u64,
    /// Datagrams that are not netdojo's (text from `nc -u`, garbage, empty).
    other: u64,
    /// Whether anything arrived since the last summary.
    pending: bool,
    /// When it was last heard from, in datagrams received by the server.
    last_active: u64,
}

impl Account {
    fn count(&mut self, len: usize) {
        self.datagrams += 1;
        self.bytes += len as u64;
        self.pending = true;
    }
}

/// What every summary so far adds up to.
#[derive(Default)]
struct Totals {
    senders: u64,
    datagrams: u64,
    bytes: u64,
    numbered: u64,
    other: u64,
    lost: u64,
    reordered: u64,
    duplicated: u64,
    damaged: u64,
    after_end: u64,
}

/// The receiver's books: one account per sender, at most `capacity`.
pub(crate) struct Ledger {
    reporter: Reporter,
    capacity: usize,
    accounts: HashMap<SocketAddr, Account>,
    /// Datagrams received: the clock that "least recently active" uses.
    tick: u64,
    totals: Totals,
}

impl Ledger {
    pub(crate) fn new(reporter: Reporter, capacity: usize) -> Self {
        Ledger {
            reporter,
            capacity: capacity.max(1),
            accounts: HashMap::new(),
            tick: 0,
            totals: Totals::default(),
        }
    }

    /// Books one datagram from `from`, received at `received_at_ns` (ns since
    /// the Unix epoch, by the wall clock, as the sender stamps them).
    pub(crate) fn datagram(&mut self, from: SocketAddr, data: &[u8], received_at_ns: u64) {
        self.tick += 1;
        self.open_account(from);
        let Some(account) = self.accounts.get_mut(&from) else {
            return;
        };
        account.last_active = self.tick;
        match wire::decode(data) {
            Datagram::Numbered { seq, sent_at_ns } => {
                let arrival = account.tracker.record(seq);
                if arrival == Arrival::AfterEnd {
                    self.totals.after_end += 1;
                    report_arrival(&self.reporter, from, seq, arrival, &account.tracker);
                    return;
                }
                account.count(data.len());
                account.numbered += 1;
                // A send time after our receive time means the clocks
                // disagree (another machine), and one more than a minute
                // old is a damaged header or a stale sender, not a journey
                // through a network: no latency then, rather than a wrong one.
                if let Some(ns) = received_at_ns.checked_sub(sent_at_ns)
                    && ns <= PLAUSIBLE_LATENCY_NS
                {
                    account.latency.record(ns / 1000);
                }
                if arrival != Arrival::InOrder {
                    report_arrival(&self.reporter, from, seq, arrival, &account.tracker);
                }
            }
            Datagram::End { count } => match account.tracker.end(count) {
                Some(run) => self.summarise(from, Some(run), Reason::End),
                None => self.reporter.emit(
                    Observation::new(
                        Layer::Transport,
                        "end_marker_copy",
                        format!("{from}: another copy of the end marker (it is sent several times, since UDP may lose it); ignored"),
                    )
                    .field("sender", from.to_string())
                    .detail(),
                ),
            },
            Datagram::Other => {
                account.count(data.len());
                account.other += 1;
                self.reporter.emit(describe_other(from, data));
            }
        }
    }

    /// Reports every sender with something not yet summarised, then the total.
    pub(crate) fn finish(&mut self) {
        let mut pending: Vec<(u64, SocketAddr)> = self
            .accounts
            .iter()
            .filter(|(_, a)| a.pending)
            .map(|(addr, a)| (a.last_active, *addr))
            .collect();
        pending.sort();
        for (_, addr) in pending {
            self.summarise(addr, None, Reason::Shutdown);
        }
        let t = &self.totals;
        let mut text = format!(
            "in total: {} datagram{} ({} bytes) from {} sender{}",
            thousands(t.datagrams),
            plural(t.datagrams),
            thousands(t.bytes),
            thousands(t.senders),
            plural(t.senders),
        );
        if t.numbered > 0 {
            text.push_str(&format!(
                "; of the numbered ones, {} lost, {} reordered, {} duplicated",
                thousands(t.lost),
                thousands(t.reordered),
                thousands(t.duplicated)
            ));
            if t.damaged > 0 {
                text.push_str(&format!(", {} damaged", thousands(t.damaged)));
            }
        }
        self.reporter.emit(
            Observation::new(Layer::Transport, "total", text)
                .field("senders", t.senders)
                .field("datagrams", t.datagrams)
                .field("bytes", t.bytes)
                .field("numbered", t.numbered)
                .field("other", t.other)
                .field("lost", t.lost)
                .field("reordered", t.reordered)
                .field("duplicated", t.duplicated)
                .field("damaged", t.damaged)
                .field("after_end", t.after_end)
                .with_fields_shown(),
        );
    }

    /// Finds or makes the account for `from`, evicting the least recently
    /// active sender when the table is full.
    fn open_account(&mut self, from: SocketAddr) {
        if self.accounts.contains_key(&from) {
            return;
        }
        if self.accounts.len() >= self.capacity
            && let Some(oldest) = self
                .accounts
                .iter()
                .min_by_key(|(_, a)| a.last_active)
                .map(|(addr, _)| *addr)
        {
            if self.accounts[&oldest].pending {
                self.summarise(oldest, None, Reason::Evicted);
            }
            self.accounts.remove(&oldest);
        }
        self.accounts.insert(from, Account::default());
        self.totals.senders += 1;
        self.reporter.emit(
            Observation::new(
                Layer::Transport,
                "new_sender",
                format!(
                    "first datagram from {from}: nothing came before it, since UDP has no handshake"
                ),
            )
            .field("sender", from.to_string()),
        );
    }

    /// Reports `addr`'s account since its last summary, adds it to the
    /// totals, and starts a new one. `run` is the tracker's final count when
    /// an end marker closed the run; otherwise the counts so far are used.
    fn summarise(&mut self, addr: SocketAddr, run: Option<RunCounts>, reason: Reason) {
        let Some(account) = self.accounts.get_mut(&addr) else {
            return;
        };
        let run = run.unwrap_or_else(|| account.tracker.counts());
        self.reporter
            .emit(summary_observation(addr, account, &run, reason));
        let t = &mut self.totals;
        t.datagrams += account.datagrams;
        t.bytes += account.bytes;
        t.numbered += account.numbered;
        t.other += account.other;
        t.lost += run.lost;
        t.reordered += run.reordered;
        t.duplicated += run.duplicated;
        t.damaged += run.damaged;
        let tracker = std::mem::take(&mut account.tracker);
        *account = Account {
            tracker,
            last_active: account.last_active,
            ..Account::default()
        };
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The `sender_summary` observation.
fn summary_observation(
    addr: SocketAddr,
    account: &Account,
    run: &RunCounts,
    reason: Reason,
) -> Observation {
    let why = match reason {
        Reason::End => "end marker",
        Reason::Evicted => "evicted: too many senders",
        Reason::Shutdown => "server stopping",
    };
    let mut text = format!(
        "{addr} ({why}): {} datagram{}, {} bytes",
        thousands(account.datagrams),
        plural(account.datagrams),
        thousands(account.bytes)
    );
    if account.numbered > 0 || run.expected.is_some() {
        match run.expected {
            Some(expected) => text.push_str(&format!(
                "; {} of {} numbered datagrams arrived",
                thousands(run.received),
                thousands(expected)
            )),
            None => text.push_str(&format!(
                "; {} numbered, no end marker yet (losses at the tail cannot be counted)",
                thousands(run.received)
            )),
        }
        text.push_str(&format!(
            ", {} lost, {} reordered, {} duplicated",
            thousands(run.lost),
            thousands(run.reordered),
            thousands(run.duplicated)
        ));
        if run.damaged > 0 {
            let why = if run.expected.is_some() {
                "numbers this run cannot contain"
            } else {
                "numbers far ahead that nothing confirmed"
            };
            text.push_str(&format!(
                "; {} damaged ({why}: flipped on the way by something that recomputed the UDP checksum, or not this sender's numbering), counted as neither received nor lost",
                thousands(run.damaged)
            ));
        }
        if let (Some(p50), Some(max)) = (account.latency.p50(), account.latency.max()) {
            text.push_str(&format!(
                "; one-way latency p50 ≈ {}, max {}",
                micros(p50),
                micros(max)
            ));
        }
    } else {
        text.push_str(": none of them netdojo's numbered datagrams, so nothing to count as lost");
    }
    // The list of fields helps where there is accounting to read; for text
    // from `nc` the sentence says it all (JSON has every field either way).
    let numbered = account.numbered > 0 || run.expected.is_some();
    let obs = Observation::new(Layer::Transport, "sender_summary", text)
        .field("sender", addr.to_string())
        .field("reason", reason.name())
        .field("datagrams", account.datagrams)
        .field("bytes", account.bytes)
        .field("numbered", account.numbered)
        .field("other", account.other)
        .field("received", run.received)
        .field("expected", run.expected)
        .field("lost", run.lost)
        .field("reordered", run.reordered)
        .field("duplicated", run.duplicated)
        .field("stale", run.stale)
        .field("damaged", run.damaged)
        .field("latency_p50_us", account.latency.p50())
        .field("latency_max_us", account.latency.max());
    if numbered {
        obs.with_fields_shown()
    } else {
        obs
    }
}

fn micros(us: u64) -> String {
    crate::report::duration(Duration::from_micros(us))
}

/// A detail for an arrival out of order, as the tracker judged it.
fn report_arrival(
    reporter: &Reporter,
    from: SocketAddr,
    seq: u64,
    arrival: Arrival,
    tracker: &SequenceTracker,
) {
    if !reporter.wants_detail() {
        return;
    }
    let highest = tracker.next_expected().saturating_sub(1);
    let (event, text) = match arrival {
        Arrival::InOrder => return,
        Arrival::Ahead {
            first_missing,
            missing,
        } => {
            let which = if missing == 1 {
                format!("#{first_missing} is")
            } else {
                format!("#{first_missing}..#{} are", seq - 1)
            };
            (
                "gap",
                format!(
                    "{from}: expected #{first_missing}, got #{seq}: {which} missing ({} datagram{}), lost unless they turn up late",
                    thousands(missing),
                    plural(missing)
                ),
            )
        }
        Arrival::Late => (
            "reordered",
            format!(
                "{from}: #{seq} arrived after #{highest}: reordered, and no longer counted as lost"
            ),
        ),
        Arrival::Duplicate => (
            "duplicate",
            format!("{from}: #{seq} arrived again: a duplicate, counted once"),
        ),
        Arrival::Stale => (
            "stale",
            format!(
                "{from}: #{seq} is too old to tell: either a late one already given up as lost, or a duplicate"
            ),
        ),
        Arrival::Leap {
            expected,
            displaced,
        } => {
            let displaced = match displaced {
                Some(d) => format!(
                    "; #{d}, held longest, is given up on as damaged to make room ({MAX_HELD} are held at most)"
                ),
                None => String::new(),
            };
            (
                "leap",
                format!(
                    "{from}: expected #{expected}, got #{seq}, {} ahead, further than networks reorder (more than {MAX_AHEAD}): held, not believed yet. If the next datagram follows it, it was a burst of loss; if not, most likely damaged on the way (one flipped bit in the number) or not this sender's numbering{displaced}",
                    thousands(seq - expected)
                ),
            )
        }
        Arrival::Confirms {
            leap,
            first_missing,
            missing,
        } => (
            "leap_confirmed",
            format!(
                "{from}: #{seq} follows #{leap}, which was held: the jump was real. {} datagram{} from #{first_missing} on {} missing, lost unless they turn up late",
                thousands(missing),
                plural(missing),
                if missing == 1 { "is" } else { "are" }
            ),
        ),
        Arrival::OutOfRange => (
            "damaged",
            format!(
                "{from}: #{seq} is a number no sender can use (the end marker's count could not go past it): damaged on the way, or not netdojo's numbering; counted as damaged"
            ),
        ),
        Arrival::AfterEnd => (
            "after_end",
            format!(
                "{from}: #{seq} arrived after the end marker; that run's summary already counted it as lost"
            ),
        ),
    };
    reporter.emit(
        Observation::new(Layer::Transport, event, text)
            .field("sender", from.to_string())
            .field("seq", seq)
            .detail(),
    );
}

/// A datagram that is not netdojo's: text at L7, bytes at L6, nothing at L4.
fn describe_other(from: SocketAddr, data: &[u8]) -> Observation {
    let shown = preview::preview(data);
    let len = data.len() as u64;
    let (layer, text) = match shown.encoding {
        Encoding::Empty => (
            Layer::Transport,
            format!(
                "{from} sent an empty datagram: 0 bytes of payload, just the 8-byte UDP header (UDP allows it)"
            ),
        ),
        Encoding::Utf8 => {
            let cut = if shown.truncated {
                format!(" (first {} characters)", preview::MAX_TEXT_CHARS)
            } else {
                String::new()
            };
            (
                Layer::Application,
                format!(
                    "{from} sent {} byte{} of UTF-8 text: {}{cut}",
                    thousands(len),
                    plural(len),
                    preview::quoted(&shown.content)
                ),
            )
        }
        Encoding::Binary => {
            let cut = if shown.truncated {
                format!(" ... (first {} bytes)", preview::MAX_HEX_BYTES)
            } else {
                String::new()
            };
            (
                Layer::Presentation,
                format!(
                    "{from} sent {} byte{} that are not UTF-8 text: {}{cut}",
                    thousands(len),
                    plural(len),
                    shown.content
                ),
            )
        }
    };
    Observation::new(layer, "datagram", text)
        .field("sender", from.to_string())
        .field("bytes", len)
        .field("encoding", shown.encoding.name())
        .field("content", shown.content)
        .field("truncated", Value::Bool(shown.truncated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Recorder;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn numbered(seq: u64, sent_at_ns: u64, size: usize) -> Vec<u8> {
        let mut buf = vec![0u8; size];
        wire::encode_numbered(&mut buf, seq, sent_at_ns);
        buf
    }

    fn ledger(capacity: usize) -> (Ledger, Recorder) {
        let (reporter, recorder) = Reporter::recorder();
        (Ledger::new(reporter, capacity), recorder)
    }

    fn field(obs: &Observation, name: &str) -> Value {
        obs.get(name).cloned().unwrap_or(Value::Null)
    }

    #[test]
    fn a_numbered_run_is_summarised_at_its_end_marker() {
        let (mut l, rec) = ledger(4);
        let from = addr(5000);
        for seq in [0, 1, 3, 2, 2, 5] {
            // Sent at 1 s, received 40 µs later.
            l.datagram(from, &numbered(seq, 1_000_000_000, 64), 1_000_040_000);
        }
        l.datagram(from, &wire::encode_end(7, 0), 0);
        l.datagram(from, &wire::encode_end(7, 0), 0);
        let summaries = rec.events("sender_summary");
        assert_eq!(summaries.len(), 1, "duplicate end markers are ignored");
        let s = &summaries[0];
        assert_eq!(field(s, "reason"), "end");
        assert_eq!(field(s, "datagrams"), 6);
        assert_eq!(field(s, "bytes"), 6 * 64);
        assert_eq!(field(s, "numbered"), 6);
        assert_eq!(field(s, "received"), 5);
        assert_eq!(field(s, "expected"), 7);
        assert_eq!(field(s, "lost"), 2, "#4 in a gap, #6 at the tail");
        assert_eq!(field(s, "reordered"), 1);
        assert_eq!(field(s, "duplicated"), 1);
        assert_eq!(field(s, "latency_p50_us"), 40);
        assert_eq!(field(s, "latency_max_us"), 40);
        assert_eq!(rec.events("gap").len(), 2);
        assert_eq!(rec.events("reordered").len(), 1);
        assert_eq!(rec.events("duplicate").len(), 1);
        assert_eq!(rec.events("end_marker_copy").len(), 1);
        // Nothing left to summarise at shutdown, but the total counts it.
        l.finish();
        assert_eq!(rec.events("sender_summary").len(), 1);
        let total = &rec.events("total")[0];
        assert_eq!(field(total, "datagrams"), 6);
        assert_eq!(field(total, "lost"), 2);
    }

    #[test]
    fn other_datagrams_are_shown_and_counted_at_shutdown() {
        let (mut l, rec) = ledger(4);
        l.datagram(addr(1), b"hello\n", 0);
        l.datagram(addr(1), &[0xff, 0x00, 0x12], 0);
        l.datagram(addr(1), b"", 0);
        let shown = rec.events("datagram");
        let layers: Vec<_> = shown.iter().map(|o| o.layer).collect();
        assert_eq!(
            layers,
            [Layer::Application, Layer::Presentation, Layer::Transport]
        );
        assert_eq!(field(&shown[0], "content"), "hello\n");
        assert_eq!(field(&shown[1], "content"), "ff 00 12");
        assert_eq!(field(&shown[2], "bytes"), 0);
        l.finish();
        let s = &rec.events("sender_summary")[0];
        assert_eq!(field(s, "reason"), "shutdown");
        assert_eq!(field(s, "datagrams"), 3);
        assert_eq!(field(s, "other"), 3);
        assert_eq!(field(s, "expected"), Value::Null);
        assert_eq!(field(s, "latency_p50_us"), Value::Null);
    }

    #[test]
    fn the_least_recently_active_sender_is_evicted_with_its_summary() {
        let (mut l, rec) = ledger(2);
        l.datagram(addr(1), b"a", 0);
        l.datagram(addr(2), b"b", 0);
        l.datagram(addr(1), b"a again", 0);
        l.datagram(addr(3), b"c", 0); // evicts 2, the least recently active
        let evicted = rec.events("sender_summary");
        assert_eq!(evicted.len(), 1);
        assert_eq!(field(&evicted[0], "sender"), addr(2).to_string());
        assert_eq!(field(&evicted[0], "reason"), "evicted");
        assert_eq!(l.accounts.len(), 2);
        l.finish();
        let total = &rec.events("total")[0];
        assert_eq!(field(total, "senders"), 3);
        assert_eq!(field(total, "datagrams"), 4);
    }

    #[test]
    fn a_numbered_run_without_end_marker_is_summarised_at_shutdown() {
        let (mut l, rec) = ledger(4);
        for seq in [0, 1, 4] {
            l.datagram(addr(9), &numbered(seq, 0, 20), 0);
        }
        l.finish();
        let s = &rec.events("sender_summary")[0];
        assert_eq!(field(s, "reason"), "shutdown");
        assert_eq!(field(s, "lost"), 2);
        assert_eq!(field(s, "expected"), Value::Null);
    }

    #[test]
    fn stragglers_after_the_end_open_no_new_account() {
        let (mut l, rec) = ledger(4);
        l.datagram(addr(9), &numbered(0, 0, 20), 0);
        l.datagram(addr(9), &numbered(2, 0, 20), 0);
        l.datagram(addr(9), &wire::encode_end(3, 0), 0);
        l.datagram(addr(9), &numbered(1, 0, 20), 0);
        l.finish();
        assert_eq!(rec.events("sender_summary").len(), 1);
        assert_eq!(rec.events("after_end").len(), 1);
        assert_eq!(field(&rec.events("total")[0], "after_end"), 1);
    }

    #[test]
    fn a_clock_ahead_of_ours_gives_no_latency() {
        let (mut l, rec) = ledger(4);
        l.datagram(addr(9), &numbered(0, 2_000, 20), 1_000);
        l.datagram(addr(9), &wire::encode_end(1, 0), 0);
        let s = &rec.events("sender_summary")[0];
        assert_eq!(field(s, "latency_max_us"), Value::Null);
    }

    #[test]
    fn a_send_time_hours_old_is_damage_not_latency() {
        let (mut l, rec) = ledger(4);
        let now = 100 * 3_600 * 1_000_000_000u64;
        // A flipped high bit: the header claims it left 19 hours ago.
        l.datagram(addr(9), &numbered(0, now - (1 << 46), 20), now);
        l.datagram(addr(9), &numbered(1, now - 40_000, 20), now);
        l.datagram(addr(9), &wire::encode_end(2, 0), 0);
        let s = &rec.events("sender_summary")[0];
        assert_eq!(field(s, "latency_max_us"), 40);
    }

    #[test]
    fn a_damaged_number_is_held_then_counted_as_damaged_not_lost() {
        let (mut l, rec) = ledger(4);
        let from = addr(7);
        for seq in 0..500u64 {
            // #17 with bit 50 flipped, as a relay's --corrupt may do it.
            let seq = if seq == 17 { seq ^ (1 << 50) } else { seq };
            l.datagram(from, &numbered(seq, 0, 64), 0);
        }
        l.datagram(from, &wire::encode_end(500, 0), 0);
        let leap = &rec.events("leap")[0];
        assert_eq!(field(leap, "seq"), 17u64 ^ (1 << 50));
        let text = leap.text.as_str();
        assert!(
            text.contains("expected #17, got #1125899906842641"),
            "{text}"
        );
        assert!(text.contains("held, not believed yet"), "{text}");
        let s = &rec.events("sender_summary")[0];
        assert_eq!(field(s, "numbered"), 500);
        assert_eq!(field(s, "received"), 499);
        assert_eq!(field(s, "lost"), 1);
        assert_eq!(field(s, "damaged"), 1);
        assert_eq!(field(s, "reordered"), 0);
        let text = s.text.as_str();
        assert!(
            text.contains("499 of 500 numbered datagrams arrived, 1 lost"),
            "{text}"
        );
        assert!(
            text.contains("1 damaged (numbers this run cannot contain"),
            "{text}"
        );
        l.finish();
        let total = &rec.events("total")[0];
        assert_eq!(field(total, "damaged"), 1);
        assert!(total.text.ends_with(", 1 damaged"), "{}", total.text);
    }

    #[test]
    fn a_confirmed_leap_is_a_burst_of_loss_and_says_so() {
        let (mut l, rec) = ledger(4);
        for seq in [0, 1, 2, 3000, 3001] {
            l.datagram(addr(7), &numbered(seq, 0, 20), 0);
        }
        l.datagram(addr(7), &wire::encode_end(3002, 0), 0);
        assert_eq!(rec.events("leap").len(), 1);
        let confirmed = &rec.events("leap_confirmed")[0];
        assert_eq!(field(confirmed, "seq"), 3001);
        let text = confirmed.text.as_str();
        assert!(
            text.contains("#3001 follows #3000, which was held"),
            "{text}"
        );
        assert!(
            text.contains("2,997 datagrams from #3 on are missing"),
            "{text}"
        );
        let s = &rec.events("sender_summary")[0];
        assert_eq!(
            (field(s, "lost"), field(s, "damaged")),
            (2997.into(), 0.into())
        );
        assert!(!s.text.contains("damaged"), "{}", s.text);
    }

    #[test]
    fn without_an_end_marker_a_held_leap_counts_as_damaged_so_far() {
        let (mut l, rec) = ledger(4);
        l.datagram(addr(7), &numbered(0, 0, 20), 0);
        l.datagram(addr(7), &numbered(u64::MAX - 5, 0, 20), 0);
        l.datagram(addr(7), &numbered(u64::MAX, 0, 20), 0);
        l.finish();
        assert_eq!(rec.events("damaged").len(), 1, "u64::MAX, at once");
        let s = &rec.events("sender_summary")[0];
        assert_eq!(field(s, "reason"), "shutdown");
        assert_eq!(
            (field(s, "received"), field(s, "lost")),
            (1.into(), 0.into())
        );
        assert_eq!(field(s, "damaged"), 2);
        assert!(
            s.text
                .contains("2 damaged (numbers far ahead that nothing confirmed"),
            "{}",
            s.text
        );
    }
}
