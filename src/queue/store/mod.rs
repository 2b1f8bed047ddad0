//! Where the broker keeps messages: one trait, three stores.
//!
//! - [`memory::MemoryStore`]: in this process; fast, gone when it stops.
//! - [`disk::DiskStore`]: an embedded crash-safe database (redb) under
//!   `--data-dir`: a message acknowledged to its producer survives `kill -9`.
//! - [`redis::RedisStore`]: Redis Streams under `--redis URL` (XADD, consumer
//!   groups, XACK, pending-entry claims), so that several brokers on several
//!   machines can serve one queue.
//!
//! The model is Redis Streams' (it is the one that scales to many brokers):
//! a queue is an append-only log of messages with increasing ids; a consumer
//! group has a cursor (the last message handed out) and a pending list (the
//! messages handed out and not yet acknowledged, each with its consumer and
//! its delivery count). Within a group each message goes to one consumer;
//! every group sees every message. A pending message becomes *due* again
//! when its consumer leaves ([`Store::release`]) or when it has waited
//! longer than the ack timeout; the next [`Store::deliver`] hands due
//! messages out first, with their delivery count increased.
//!
//! The same semantic tests run against all three (`tests.rs`).

pub mod disk;
pub mod memory;
pub mod redis;
#[cfg(test)]
pub mod tests;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A message's id in its queue: increasing in the order messages were
/// stored. Opaque to the broker: `"17"` in the memory and disk stores,
/// `"1764620000000-0"` (milliseconds-sequence) in Redis.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub String);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One message handed to one consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: MessageId,
    pub body: String,
    /// When the store accepted it, in milliseconds since the Unix epoch.
    pub stored_ms: u64,
    /// 1 the first time; more on each redelivery.
    pub deliveries: u64,
}

impl Delivery {
    /// Whether this message was handed out before (and not acknowledged).
    pub fn is_redelivery(&self) -> bool {
        self.deliveries > 1
    }
}

/// What a store knows about one consumer group of one queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStats {
    pub group: String,
    /// Messages not yet handed to anyone in this group.
    pub backlog: u64,
    /// Handed out, not yet acknowledged.
    pub in_flight: u64,
    /// Deliveries that were redeliveries, since the store started (memory)
    /// or since the group was created (disk, Redis).
    pub redeliveries: u64,
    /// Messages this group acknowledged.
    pub acked: u64,
}

/// What a store knows about one queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    pub queue: String,
    /// Messages kept: stored and not yet acknowledged by every group.
    pub depth: u64,
    pub groups: Vec<GroupStats>,
}

/// Why a store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The queue holds [`crate::queue::limits::MAX_QUEUE_DEPTH`] messages.
    #[error(
        "queue {queue:?} is full ({depth} messages waiting); try again when consumers have caught up"
    )]
    Full { queue: String, depth: u64 },
    /// Too many queues or groups.
    #[error("{0}")]
    TooMany(String),
    /// The store itself failed (disk, Redis): the operation did not happen.
    #[error("the store failed: {0}")]
    Backend(String),
}

/// How a store keeps messages. See the module documentation for the model.
///
/// Every method is safe to call concurrently from many connections.
pub trait Store: Send + Sync + 'static {
    /// Where messages are kept, as a phrase: "in memory (...)", "on disk, in
    /// the redb database PATH", "in Redis Streams at URL (...)".
    fn describe(&self) -> String;

    /// Whether a message acknowledged to its producer survives the broker
    /// being killed.
    fn durable(&self) -> bool;

    /// Stores `body` at the end of `queue` (created on first use) and
    /// returns its id, only once it is stored as durably as this store
    /// stores anything: the producer may be told "stored" after this.
    fn append(
        &self,
        queue: &str,
        body: &str,
    ) -> impl Future<Output = Result<MessageId, StoreError>> + Send;

    /// Stores several messages, in order, each with its own result, as
    /// [`Store::append`] would one by one. A store may do it in one durable
    /// commit (disk) or one round trip (Redis); the default does them in turn.
    fn append_batch(
        &self,
        queue: &str,
        bodies: &[String],
    ) -> impl Future<Output = Vec<Result<MessageId, StoreError>>> + Send {
        async move {
            let mut out = Vec::with_capacity(bodies.len());
            for body in bodies {
                out.push(self.append(queue, body).await);
            }
            out
        }
    }

    /// Makes sure `group` exists on `queue`. A new group starts at the
    /// queue's oldest message still kept: every group sees every message.
    fn join_group(
        &self,
        queue: &str,
        group: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `max` messages for `consumer` of `group`: first those due
    /// again (their consumer left, or they waited longer than `ack_timeout`
    /// unacknowledged), then new ones in id order. With nothing to hand out,
    /// waits up to `wait` for a message to arrive or fall due, then returns
    /// what there is (possibly nothing).
    fn deliver(
        &self,
        queue: &str,
        group: &str,
        consumer: &str,
        max: usize,
        ack_timeout: Duration,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Delivery>, StoreError>> + Send;

    /// Acknowledges `id` for `group`: it will not be delivered to this group
    /// again. Returns false if it was not pending in this group (never
    /// delivered, already acknowledged, or not an id at all).
    fn ack(
        &self,
        queue: &str,
        group: &str,
        id: &MessageId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Acknowledges several ids of `group`, each with its own answer, as
    /// [`Store::ack`] would one by one. A store may do it in one round trip
    /// (Redis); the default sends them all at once and waits for every one
    /// (so the disk store's writer can commit them together).
    fn ack_batch(
        &self,
        queue: &str,
        group: &str,
        ids: &[MessageId],
    ) -> impl Future<Output = Vec<Result<bool, StoreError>>> + Send {
        futures_util::future::join_all(ids.iter().map(move |id| self.ack(queue, group, id)))
    }

    /// `consumer` has gone: every message it holds unacknowledged is due
    /// for redelivery at once. Returns how many.
    fn release(
        &self,
        queue: &str,
        group: &str,
        consumer: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Every queue and group this store knows.
    fn stats(&self) -> impl Future<Output = Result<Vec<QueueStats>, StoreError>> + Send;
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
