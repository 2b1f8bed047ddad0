//! The default store: everything in this process's memory, behind one
//! mutex held only for map updates (never across an `.await`). Fast, and
//! gone when the broker stops: "stored" here means "the broker has it".

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::{Delivery, GroupStats, MessageId, QueueStats, Store, StoreError, now_ms};
use crate::queue::limits::{MAX_GROUPS_PER_QUEUE, MAX_QUEUE_DEPTH, MAX_QUEUES};

/// See the module documentation.
#[derive(Default)]
pub struct MemoryStore {
    queues: Mutex<HashMap<String, Queue>>,
}

struct Queue {
    /// The id the next message gets (ids start at 1).
    next_id: u64,
    /// Messages kept, in id order: everything some group has not
    /// acknowledged yet (all of them while the queue has no group).
    messages: VecDeque<Stored>,
    groups: BTreeMap<String, Group>,
    /// Woken when a message arrives or falls due.
    changed: Arc<Notify>,
}

struct Stored {
    id: u64,
    body: String,
    stored_ms: u64,
}

#[derive(Default)]
struct Group {
    /// The highest id handed out in this group (0: none yet).
    cursor: u64,
    /// Handed out and not acknowledged, by id.
    pending: BTreeMap<u64, Pending>,
    redeliveries: u64,
    acked: u64,
}

struct Pending {
    consumer: String,
    deliveries: u64,
    delivered_at: Instant,
    /// Its consumer left: due now, whatever the ack timeout.
    released: bool,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl Default for Queue {
    fn default() -> Queue {
        Queue {
            next_id: 1, // ids start at 1
            messages: VecDeque::new(),
            groups: BTreeMap::new(),
            changed: Arc::new(Notify::new()),
        }
    }
}

impl Queue {
    /// Forgets the messages every group has acknowledged.
    fn trim(&mut self) {
        if self.groups.is_empty() {
            return;
        }
        let keep_from = self
            .groups
            .values()
            .map(|g| {
                g.pending
                    .first_key_value()
                    .map_or(g.cursor + 1, |(&id, _)| id)
            })
            .min()
            .unwrap_or(0);
        while self.messages.front().is_some_and(|m| m.id < keep_from) {
            self.messages.pop_front();
        }
    }
}

/// The kept message with this id. Ids are dense from the first one kept, so
/// this is an index, not a search.
fn find(messages: &VecDeque<Stored>, id: u64) -> Option<&Stored> {
    let first = messages.front()?.id;
    messages
        .get(usize::try_from(id.checked_sub(first)?).ok()?)
        .filter(|m| m.id == id)
}

fn delivery(m: &Stored, deliveries: u64) -> Delivery {
    Delivery {
        id: MessageId(m.id.to_string()),
        body: m.body.clone(),
        stored_ms: m.stored_ms,
        deliveries,
    }
}

impl Store for MemoryStore {
    fn describe(&self) -> String {
        "in memory (this process; gone when it stops)".to_string()
    }

    fn durable(&self) -> bool {
        false
    }

    async fn append(&self, queue: &str, body: &str) -> Result<MessageId, StoreError> {
        let mut queues = self.queues.lock().expect("store lock");
        if !queues.contains_key(queue) && queues.len() >= MAX_QUEUES {
            return Err(StoreError::TooMany(format!(
                "the broker has its limit of {MAX_QUEUES} queues"
            )));
        }
        let q = queues.entry(queue.to_string()).or_default();
        if q.messages.len() >= MAX_QUEUE_DEPTH {
            return Err(StoreError::Full {
                queue: queue.to_string(),
                depth: q.messages.len() as u64,
            });
        }
        let id = q.next_id;
        q.next_id += 1;
        q.messages.push_back(Stored {
            id,
            body: body.to_string(),
            stored_ms: now_ms(),
        });
        q.changed.notify_waiters();
        Ok(MessageId(id.to_string()))
    }

    async fn join_group(&self, queue: &str, group: &str) -> Result<(), StoreError> {
        let mut queues = self.queues.lock().expect("store lock");
        if !queues.contains_key(queue) && queues.len() >= MAX_QUEUES {
            return Err(StoreError::TooMany(format!(
                "the broker has its limit of {MAX_QUEUES} queues"
            )));
        }
        let q = queues.entry(queue.to_string()).or_default();
        if !q.groups.contains_key(group) {
            if q.groups.len() >= MAX_GROUPS_PER_QUEUE {
                return Err(StoreError::TooMany(format!(
                    "queue {queue:?} has its limit of {MAX_GROUPS_PER_QUEUE} groups"
                )));
            }
            // Start just before the oldest message kept.
            let cursor = q.messages.front().map_or(q.next_id - 1, |m| m.id - 1);
            q.groups.insert(
                group.to_string(),
                Group {
                    cursor,
                    ..Group::default()
                },
            );
        }
        Ok(())
    }

    async fn deliver(
        &self,
        queue: &str,
        group: &str,
        consumer: &str,
        max: usize,
        ack_timeout: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>, StoreError> {
        let give_up = Instant::now() + wait;
        loop {
            let (changed, next_due) = {
                let mut queues = self.queues.lock().expect("store lock");
                let Some(Queue {
                    next_id,
                    messages,
                    groups,
                    changed,
                }) = queues.get_mut(queue)
                else {
                    return Ok(Vec::new());
                };
                let Some(g) = groups.get_mut(group) else {
                    return Ok(Vec::new());
                };
                let now = Instant::now();
                let mut out = Vec::new();
                // Due again first: released, or unacknowledged too long.
                let mut next_due: Option<Instant> = None;
                for (&id, p) in g.pending.iter_mut() {
                    if out.len() == max {
                        break;
                    }
                    let deadline = p.delivered_at + ack_timeout;
                    if !p.released && deadline > now {
                        next_due = Some(next_due.map_or(deadline, |d| d.min(deadline)));
                        continue;
                    }
                    p.consumer = consumer.to_string();
                    p.deliveries += 1;
                    p.delivered_at = now;
                    p.released = false;
                    g.redeliveries += 1;
                    if let Some(m) = find(messages, id) {
                        out.push(delivery(m, p.deliveries));
                    }
                }
                // Then new ones, in id order.
                while out.len() < max && g.cursor + 1 < *next_id {
                    g.cursor += 1;
                    g.pending.insert(
                        g.cursor,
                        Pending {
                            consumer: consumer.to_string(),
                            deliveries: 1,
                            delivered_at: now,
                            released: false,
                        },
                    );
                    if let Some(m) = find(messages, g.cursor) {
                        out.push(delivery(m, 1));
                    }
                }
                if !out.is_empty() {
                    return Ok(out);
                }
                (changed.clone(), next_due)
            };
            let now = Instant::now();
            if now >= give_up {
                return Ok(Vec::new());
            }
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Look once more: something may have arrived between the lock
            // being released and the waiter being registered.
            if self.has_work(queue, group, ack_timeout) {
                continue;
            }
            let until = next_due.map_or(give_up, |d| d.min(give_up));
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(until.into()) => {}
            }
        }
    }

    async fn ack(&self, queue: &str, group: &str, id: &MessageId) -> Result<bool, StoreError> {
        let Ok(id) = id.0.parse::<u64>() else {
            return Ok(false);
        };
        let mut queues = self.queues.lock().expect("store lock");
        let Some(q) = queues.get_mut(queue) else {
            return Ok(false);
        };
        let Some(g) = q.groups.get_mut(group) else {
            return Ok(false);
        };
        if g.pending.remove(&id).is_none() {
            return Ok(false);
        }
        g.acked += 1;
        q.trim();
        Ok(true)
    }

    async fn release(&self, queue: &str, group: &str, consumer: &str) -> Result<u64, StoreError> {
        let mut queues = self.queues.lock().expect("store lock");
        let Some(q) = queues.get_mut(queue) else {
            return Ok(0);
        };
        let Some(g) = q.groups.get_mut(group) else {
            return Ok(0);
        };
        let mut released = 0;
        for p in g.pending.values_mut() {
            if p.consumer == consumer && !p.released {
                p.released = true;
                released += 1;
            }
        }
        if released > 0 {
            q.changed.notify_waiters();
        }
        Ok(released)
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        let queues = self.queues.lock().expect("store lock");
        let mut out: Vec<QueueStats> = queues
            .iter()
            .map(|(name, q)| QueueStats {
                queue: name.clone(),
                depth: q.messages.len() as u64,
                groups: q
                    .groups
                    .iter()
                    .map(|(gname, g)| GroupStats {
                        group: gname.clone(),
                        backlog: (q.next_id - 1).saturating_sub(g.cursor),
                        in_flight: g.pending.len() as u64,
                        redeliveries: g.redeliveries,
                        acked: g.acked,
                    })
                    .collect(),
            })
            .collect();
        out.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(out)
    }
}

impl MemoryStore {
    /// Whether `deliver` would hand something out right now.
    fn has_work(&self, queue: &str, group: &str, ack_timeout: Duration) -> bool {
        let queues = self.queues.lock().expect("store lock");
        let Some(q) = queues.get(queue) else {
            return false;
        };
        let Some(g) = q.groups.get(group) else {
            return false;
        };
        let now = Instant::now();
        g.cursor + 1 < q.next_id
            || g.pending
                .values()
                .any(|p| p.released || p.delivered_at + ack_timeout <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_the_semantic_suite() {
        crate::queue::store::tests::suite(MemoryStore::new).await;
    }

    #[tokio::test]
    async fn acknowledged_messages_are_forgotten_once_every_group_has_them() {
        let s = MemoryStore::new();
        s.join_group("q", "a").await.unwrap();
        s.join_group("q", "b").await.unwrap();
        for i in 0..3 {
            s.append("q", &format!("m{i}")).await.unwrap();
        }
        let t = Duration::from_secs(30);
        let a = s
            .deliver("q", "a", "c1", 10, t, Duration::ZERO)
            .await
            .unwrap();
        for d in &a {
            assert!(s.ack("q", "a", &d.id).await.unwrap());
        }
        assert_eq!(s.stats().await.unwrap()[0].depth, 3, "b has not had them");
        let b = s
            .deliver("q", "b", "c2", 10, t, Duration::ZERO)
            .await
            .unwrap();
        s.ack("q", "b", &b[0].id).await.unwrap();
        assert_eq!(s.stats().await.unwrap()[0].depth, 2);
        for d in &b[1..] {
            s.ack("q", "b", &d.id).await.unwrap();
        }
        assert_eq!(s.stats().await.unwrap()[0].depth, 0);
    }
}
