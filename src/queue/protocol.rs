//! The broker's protocol: one JSON object per WebSocket text frame, its kind
//! in `"type"`, like the chat's (lesson 6). Documented in lesson 7.
//!
//! Client to broker:
//!
//! | type        | fields                                  | answer |
//! |-------------|-----------------------------------------|--------|
//! | `publish`   | `queue`, `body`, `ref?`                 | `stored {ref, queue, id}` once the store has it |
//! | `publish`   | `topic`, `body`, `ref?`                 | `published {ref, topic, receivers}`: plain pub/sub, kept nowhere |
//! | `consume`   | `queue`, `group?`, `prefetch?`          | `consuming {...}`, then `message` events, at most `prefetch` unacknowledged |
//! | `ack`       | `id`                                    | nothing; `error unknown_delivery` if `id` is not one this connection holds |
//! | `subscribe` | `topic`                                 | `subscribed {topic}`, then `event` for what is published while connected |
//! | `stats`     |                                         | `stats {queues, consumers}` |
//!
//! Broker to client: `welcome {broker, store, durable, ack_timeout_ms,
//! max_message_bytes}` first; `message {queue, group, id, body, stored_ms,
//! delivery, redelivered}`; `event {topic, body}`; `error {code, message,
//! ref?}`.

use serde::{Deserialize, Serialize};

use super::limits::MAX_NAME_CHARS;
use super::store::{MessageId, QueueStats};

/// The group a consumer joins when it names none.
pub const DEFAULT_GROUP: &str = "default";

/// An event a client sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientEvent {
    Publish {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queue: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        body: String,
        /// A number the client picks, echoed in the answer.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
    },
    Consume {
        queue: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefetch: Option<usize>,
    },
    Ack {
        id: MessageId,
    },
    Subscribe {
        topic: String,
    },
    Stats,
}

/// A consumer connected to this broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerInfo {
    pub queue: String,
    pub group: String,
    pub consumer: String,
    pub prefetch: usize,
    pub in_flight: usize,
}

/// An event the broker sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    Welcome {
        /// This broker's address.
        broker: String,
        /// Where messages are kept.
        store: String,
        /// Whether "stored" survives the broker being killed.
        durable: bool,
        ack_timeout_ms: u64,
        max_message_bytes: usize,
    },
    Stored {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
        queue: String,
        id: MessageId,
    },
    Published {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
        topic: String,
        /// Subscribers connected at that moment: the only ones who get it.
        receivers: usize,
    },
    Consuming {
        queue: String,
        group: String,
        consumer: String,
        prefetch: usize,
    },
    Subscribed {
        topic: String,
    },
    Message {
        queue: String,
        group: String,
        id: MessageId,
        body: String,
        stored_ms: u64,
        /// 1 the first time; more when it comes again.
        delivery: u64,
        redelivered: bool,
    },
    Event {
        topic: String,
        body: String,
    },
    Stats {
        queues: Vec<QueueStats>,
        /// Consumers connected to this broker (others may be on others).
        consumers: Vec<ConsumerInfo>,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
    },
}

/// Why the broker refused an event. The connection stays open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not one of the events above.
    BadEvent,
    /// A queue, group or topic name that is empty, too long or has other
    /// characters than letters, digits, `.`, `_` and `-`.
    BadName,
    /// A body over the size limit.
    TooBig,
    /// The queue holds its limit of messages.
    QueueFull,
    /// Too many queues, groups or clients.
    TooMany,
    /// An ack for an id this connection does not hold.
    UnknownDelivery,
    /// A second `consume` on one connection (one subscription each).
    AlreadyConsuming,
    /// An ack on a connection that is not consuming.
    NotConsuming,
    /// The store failed: nothing was done.
    StoreFailed,
}

impl ServerEvent {
    /// The JSON text sent in one frame.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("broker events always serialize")
    }
}

impl ClientEvent {
    /// The JSON text sent in one frame.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("client events always serialize")
    }
}

/// Checks a queue, group or topic name: 1 to [`MAX_NAME_CHARS`] characters
/// of `A-Z a-z 0-9 . _ -`, which every store can use as part of a key.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid {what} name: 1 to {MAX_NAME_CHARS} letters, digits, '.', '_' or '-'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_and_write_as_documented() {
        let e: ClientEvent =
            serde_json::from_str(r#"{"type":"publish","queue":"orders","body":"x","ref":3}"#)
                .unwrap();
        assert_eq!(
            e,
            ClientEvent::Publish {
                queue: Some("orders".into()),
                topic: None,
                body: "x".into(),
                reference: Some(3)
            }
        );
        let e: ClientEvent = serde_json::from_str(r#"{"type":"stats"}"#).unwrap();
        assert_eq!(e, ClientEvent::Stats);
        assert!(serde_json::from_str::<ClientEvent>(r#"{"type":"ack"}"#).is_err());
        let s = ServerEvent::Stored {
            reference: Some(3),
            queue: "orders".into(),
            id: MessageId("7".into()),
        };
        assert_eq!(
            s.to_text(),
            r#"{"type":"stored","ref":3,"queue":"orders","id":"7"}"#
        );
    }

    #[test]
    fn names_are_checked() {
        for good in ["orders", "a", "v1.parcels_eu-west", &"x".repeat(64)] {
            assert!(check_name("queue", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "has space",
            "slash/",
            "ünï",
            &"x".repeat(65),
            "a:b",
            "*",
        ] {
            assert!(check_name("queue", bad).is_err(), "{bad}");
        }
    }
}
