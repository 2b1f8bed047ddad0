//! The message queue's views: `netdojo queue stats` as a table for people
//! and one object for scripts.

use serde_json::json;

use super::{Reporter, thousands};
use crate::queue::protocol::{ConsumerInfo, ServerEvent};
use crate::queue::store::QueueStats;

/// Shows what a broker holds: a row per queue and group, then its consumers.
pub fn stats(
    reporter: &Reporter,
    welcome: &ServerEvent,
    queues: &[QueueStats],
    consumers: &[ConsumerInfo],
) {
    let (broker, store) = match welcome {
        ServerEvent::Welcome { broker, store, .. } => (broker.as_str(), store.as_str()),
        _ => ("?", "?"),
    };
    let mut text = format!("broker {broker}, messages kept {store}\n\n");
    if queues.is_empty() {
        text.push_str("no queues yet\n");
    } else {
        text.push_str(&format!(
            "{:<20} {:>7}  {:<16} {:>8} {:>9} {:>7} {:>9} {:>11}\n",
            "queue", "kept", "group", "backlog", "in flight", "acked", "consumers", "redelivered"
        ));
        for q in queues {
            let mut first = true;
            let name = |first: bool| {
                if first {
                    q.queue.clone()
                } else {
                    String::new()
                }
            };
            let kept = |first: bool| {
                if first {
                    thousands(q.depth)
                } else {
                    String::new()
                }
            };
            if q.groups.is_empty() {
                text.push_str(&format!(
                    "{:<20} {:>7}  {:<16}\n",
                    q.queue,
                    thousands(q.depth),
                    "(no group yet)"
                ));
            }
            for g in &q.groups {
                let here = consumers
                    .iter()
                    .filter(|c| c.queue == q.queue && c.group == g.group)
                    .count();
                text.push_str(&format!(
                    "{:<20} {:>7}  {:<16} {:>8} {:>9} {:>7} {:>9} {:>11}\n",
                    name(first),
                    kept(first),
                    g.group,
                    thousands(g.backlog),
                    thousands(g.in_flight),
                    thousands(g.acked),
                    here,
                    thousands(g.redeliveries)
                ));
                first = false;
            }
        }
    }
    if !consumers.is_empty() {
        text.push_str("\nconsumers on this broker:\n");
        for c in consumers {
            text.push_str(&format!(
                "  {:<24} {}/{}, holding {} of at most {}\n",
                c.consumer, c.queue, c.group, c.in_flight, c.prefetch
            ));
        }
    }
    text.push_str(
        "\nkept: stored and not yet acknowledged by every group; backlog: not yet handed to anyone in the group; in flight: handed out, not yet acknowledged",
    );
    reporter.item(
        "stats",
        &[
            ("broker", json!(broker)),
            ("store", json!(store)),
            ("queues", json!(queues)),
            ("consumers", json!(consumers)),
        ],
        &text,
    );
}
