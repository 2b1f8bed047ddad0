//! `netdojo udp relay`: the lab's link between two real UDP programs.
//!
//! ```text
//!  udp send ──▶ relay (--listen) ══ lossy link ══▶ (--to) udp serve
//!           ◀──                 ══════════════◀──
//! ```
//!
//! Every datagram that reaches `--listen` goes through the same impairments
//! as `netdojo compare` (the same [`Link`], on the wall clock instead of a
//! virtual one) and is then sent on to `--to`; replies from `--to` go back
//! to whoever sent last. The link's random choices come from `--seed`, so
//! the same datagrams in the same order meet the same fate, whatever the
//! rate and however the machine schedules the relay: `--reorder` holds a
//! datagram back until the next one has overtaken it (see
//! [`Link::for_datagrams`]), rather than for a fixed time.
//!
//! Unlike the simulated hosts, the relay sends each datagram out again, so
//! UDP's checksum is computed afresh over a corrupted payload: `--corrupt`
//! here damages data that the receiver cannot detect. Only netdojo's own
//! header may give it away: a flipped bit in its magic makes the datagram a
//! stranger's (`udp serve` counts it as "other", and its number as lost), one
//! in its sequence number makes it another datagram. The relay counts both.
//! A renumbered datagram's own number is lost; the new number, if far ahead
//! (a high bit), is held by `udp serve` and counted as damaged once the end
//! marker shows it was never sent; if near (a low bit), it passes for a
//! duplicate, or for a datagram that overtook a few others (see
//! [`crate::udp::tracker`]).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::UdpSocket;

use super::link::{Link, Side};
use super::settings::Impairments;
use crate::layer::Layer;
use crate::report::{Observation, Reporter, thousands};
use crate::udp::wire::{self, Datagram};

/// Datagrams the relay holds on its link at once, both directions. A router
/// has a queue of bounded size too: beyond it, a new datagram is dropped
/// (and counted as overflow), so a flood cannot grow the relay's memory.
pub const RELAY_MAX_IN_FLIGHT: usize = 10_000;

/// The largest datagram the relay reads: UDP's largest payload.
const RELAY_BUFFER: usize = wire::MAX_PAYLOAD;

/// How long the relay pauses after a receive error that is not an ICMP
/// report, so that a persistent error cannot spin a core.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

/// What the relay did, per direction and per kind of datagram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayCounts {
    /// Datagrams that entered the link.
    pub received: u64,
    /// Datagrams sent on.
    pub forwarded: u64,
    /// Of those received, how many the link lost.
    pub lost: u64,
    /// netdojo's numbered datagrams among the lost.
    pub numbered_lost: u64,
    /// netdojo's end markers among the lost.
    pub end_markers_lost: u64,
    /// Dropped because the relay's queue was full.
    pub overflow: u64,
    /// netdojo's numbered datagrams corrupted so that they are no longer
    /// recognisable as netdojo's (the flip hit the magic).
    pub numbered_unrecognisable: u64,
    /// netdojo's numbered datagrams corrupted into another number (which
    /// `udp serve` counts as damaged, or as a duplicate or a reordering:
    /// see [`crate::udp::tracker`]).
    pub numbered_renumbered: u64,
}

/// Runs the relay until `shutdown` resolves, then reports what it did.
pub async fn relay(
    listen: UdpSocket,
    to: SocketAddr,
    impairments: Impairments,
    seed: u64,
    reporter: Reporter,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let local = listen.local_addr()?;
    let any: SocketAddr = if to.is_ipv4() {
        (std::net::Ipv4Addr::LOCALHOST, 0).into()
    } else {
        (std::net::Ipv6Addr::LOCALHOST, 0).into()
    };
    let upstream = UdpSocket::bind(any)
        .await
        .with_context(|| format!("cannot bind {any} for the relay's side towards {to}"))?;
    upstream
        .connect(to)
        .await
        .with_context(|| format!("cannot connect the relay to {to}"))?;
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "listening",
            format!(
                "listening on {local} (UDP relay): every datagram goes on to {to} from {} through a link with {}; replies come back the same way; seed {seed}",
                upstream.local_addr()?,
                crate::report::lab::describe_link(&impairments)
            ),
        )
        .field("addr", local.to_string())
        .field("to", to.to_string())
        .field("seed", seed),
    );

    let mut link = Link::for_datagrams(impairments, seed);
    let start = tokio::time::Instant::now();
    let now_us = || start.elapsed().as_micros() as u64;
    let mut client: Option<SocketAddr> = None;
    // [towards --to, back to the client]
    let mut counts = [RelayCounts::default(); 2];
    let mut from_client = vec![0u8; RELAY_BUFFER];
    let mut from_server = vec![0u8; RELAY_BUFFER];
    tokio::pin!(shutdown);

    loop {
        let next = link.next_arrival_any();
        let wake = async {
            match next {
                Some(us) => tokio::time::sleep_until(start + Duration::from_micros(us)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            _ = wake => {
                let now = now_us();
                while let Some(d) = link.receive(Side::B, now) {
                    if upstream.send(&d).await.is_ok() {
                        counts[0].forwarded += 1;
                    }
                }
                while let Some(d) = link.receive(Side::A, now) {
                    if let Some(c) = client
                        && listen.send_to(&d, c).await.is_ok()
                    {
                        counts[1].forwarded += 1;
                    }
                }
            }
            got = listen.recv_from(&mut from_client) => match got {
                Ok((len, from)) => {
                    client = Some(from);
                    let now = now_us();
                    enter(&mut link, Side::A, now, &from_client[..len], &mut counts[0]);
                }
                Err(e) => pause_unless_icmp(&e).await,
            },
            got = upstream.recv(&mut from_server) => match got {
                Ok(len) => {
                    let now = now_us();
                    enter(&mut link, Side::B, now, &from_server[..len], &mut counts[1]);
                }
                Err(e) => pause_unless_icmp(&e).await,
            },
        }
    }

    for (i, c) in counts.iter().enumerate() {
        let (event, way, side) = if i == 0 {
            ("relay_forward", format!("towards {to}"), Side::A)
        } else {
            ("relay_back", "back to the sender".to_string(), Side::B)
        };
        let l = link.counts(side);
        reporter.emit(
            Observation::new(
                Layer::Transport,
                event,
                format!(
                    "{way}: {} datagrams in, {} lost on the link ({} of them netdojo's numbered datagrams, {} end markers), {} dropped for a full queue, {} sent on; of netdojo's {} numbered datagrams the link duplicated {}, held back {} for later ones to overtake, and corrupted {} ({} no longer recognisable as netdojo's, {} turned into another number)",
                    thousands(c.received),
                    thousands(c.lost),
                    thousands(c.numbered_lost),
                    thousands(c.end_markers_lost),
                    thousands(c.overflow),
                    thousands(c.forwarded),
                    thousands(l.numbered),
                    thousands(l.numbered_duplicated),
                    thousands(l.numbered_held_back),
                    thousands(l.numbered_corrupted),
                    thousands(c.numbered_unrecognisable),
                    thousands(c.numbered_renumbered),
                ),
            )
            .field("received", c.received)
            .field("lost", c.lost)
            .field("numbered_lost", c.numbered_lost)
            .field("end_markers_lost", c.end_markers_lost)
            .field("overflow", c.overflow)
            .field("forwarded", c.forwarded)
            .field("duplicated", l.duplicated)
            .field("reordered", l.reordered)
            .field("corrupted", l.corrupted)
            .field("numbered", l.numbered)
            .field("numbered_duplicated", l.numbered_duplicated)
            .field("numbered_held_back", l.numbered_held_back)
            .field("numbered_not_overtaken", l.numbered_not_overtaken)
            .field("numbered_corrupted", l.numbered_corrupted)
            .field("numbered_unrecognisable", c.numbered_unrecognisable)
            .field("numbered_renumbered", c.numbered_renumbered),
        );
    }
    Ok(())
}

/// A datagram enters the link from `side`, unless the relay's queue is full.
fn enter(link: &mut Link, side: Side, now: u64, datagram: &[u8], counts: &mut RelayCounts) {
    counts.received += 1;
    if link.in_flight() >= RELAY_MAX_IN_FLIGHT || link.transmitter_full(side, now) {
        counts.overflow += 1;
        return;
    }
    let fate = link.send(side, now, datagram.to_vec());
    let was = wire::decode(datagram);
    if fate.lost {
        counts.lost += 1;
        match was {
            Datagram::Numbered { .. } => counts.numbered_lost += 1,
            Datagram::End { .. } => counts.end_markers_lost += 1,
            Datagram::Other => {}
        }
    }
    if let (Some((byte, bit)), Datagram::Numbered { seq, .. }) = (fate.corrupted, was) {
        // What the receiver will make of it: the same flip, on a copy.
        let mut damaged = datagram.to_vec();
        damaged[byte] ^= 1 << bit;
        match wire::decode(&damaged) {
            Datagram::Numbered { seq: now_seq, .. } if now_seq == seq => {}
            Datagram::Numbered { .. } => counts.numbered_renumbered += 1,
            Datagram::End { .. } | Datagram::Other => counts.numbered_unrecognisable += 1,
        }
    }
}

/// ICMP "port unreachable" from a peer that is not there (yet) surfaces as
/// a receive error on Linux: harmless. Anything else pauses briefly.
async fn pause_unless_icmp(e: &std::io::Error) {
    if !matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
    ) {
        tokio::time::sleep(ERROR_PAUSE).await;
    }
}
