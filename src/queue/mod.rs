//! A message queue: producers and consumers decoupled by a broker that keeps
//! each message until it is acknowledged.
//!
//! - [`store`]: where messages are kept, behind one trait: in memory, on
//!   disk (redb, crash-safe), or in Redis Streams (several brokers, one queue).
//! - [`limits`]: every bound, with its reason.

pub mod limits;
pub mod store;
