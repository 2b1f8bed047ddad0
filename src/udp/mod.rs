//! UDP: datagrams that keep their boundaries and carry no promise of delivery.
//!
//! - [`wire`]: netdojo's numbered datagram (magic, sequence number, send time).
//! - [`serve`]: a receiver that counts, per sender, what arrived, and what was
//!   lost, reordered or duplicated on the way.
//! - [`sender`]: sends numbered datagrams at a chosen rate.
//! - [`demo`]: both in one process, narrated.

pub mod demo;
pub mod sender;
pub mod server;
pub mod wire;

pub use server::{ServeOptions, serve};
