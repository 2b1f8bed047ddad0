//! UDP: datagrams that keep their boundaries and carry no promise of delivery.
//!
//! - [`wire`]: netdojo's numbered datagram (magic, sequence number, send time)
//!   and the end marker that says how many were sent.
//! - [`tracker`]: pure bookkeeping: from the numbers that arrived, what was
//!   lost, reordered or duplicated.
//! - [`serve`]: a receiver that keeps one account per sender address, with a
//!   [`tracker::SequenceTracker`] and a [`latency::LatencyHistogram`] each;
//!   anything that is not netdojo's is shown as text or hex ([`preview`]).
//! - [`sender`]: numbered datagrams at a chosen rate, paced from the start.
//! - [`demo`]: both in one process, narrated: boundaries, no handshake, an
//!   unreachable port, and a burst the kernel really drops.

pub mod demo;
pub mod latency;
pub mod preview;
pub mod sender;
pub mod server;
pub mod tracker;
pub mod wire;

pub use server::{ServeOptions, serve};
