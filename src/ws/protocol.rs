//! The chat's event protocol: one JSON object per WebSocket text frame, its
//! kind in `"type"`, in the spirit of socket.io's `emit(event, data)`.
//!
//! Client to server:
//!
//! | type      | fields                              | meaning                                   |
//! |-----------|-------------------------------------|-------------------------------------------|
//! | `hello`   | `name`, `session?`, `resume?`       | first event: who I am; `session` is the token an earlier `welcome` gave, to take the name back from a connection the server has not yet seen die; `resume` maps each room to the last message id seen, to rejoin it and get what was missed |
//! | `join`    | `room`                              | enter a room (created on first join)       |
//! | `leave`   | `room`                              | leave it                                   |
//! | `say`     | `room`, `text`, `ack?`              | a message to everyone in the room; with `ack`, the server answers `ack` once it stored it |
//! | `whisper` | `to`, `text`, `ack?`                | a message to one user, not kept in history |
//! | `typing`  | `room`                              | volatile: dropped, not queued, when a receiver is busy |
//!
//! Server to client:
//!
//! | type       | fields                                             |
//! |------------|----------------------------------------------------|
//! | `welcome`  | `name`, `session`, `rooms`, `history`, `heartbeat_secs` |
//! | `message`  | `id`, `room`, `from`, `text`, `ts`, `replayed?`      |
//! | `whisper`  | `from`, `to`, `text`, `ts`                          |
//! | `typing`   | `room`, `name`                                      |
//! | `ack`      | `ack`, `id?` (the stored message's id; none for a whisper) |
//! | `presence` | `room`, `name`, `event` (`joined` or `left`), `members` |
//! | `resumed`  | `room`, `after`, `replayed`, `lost`                  |
//! | `error`    | `code`, `message`                                   |
//!
//! Message ids start at 1 and increase by one per room, so a gap is visible
//! and "the last id I saw" is all a client needs to resume. `ts` is
//! milliseconds since the Unix epoch. On resume the server sends `resumed`
//! first (how many messages follow and how many are gone: older than the
//! room's history), then those messages in order with `"replayed": true`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An event a client emits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientEvent {
    Hello {
        name: String,
        /// The token of an earlier `welcome`: proves this is the same
        /// client coming back, so it may replace its old connection.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
        /// Room → the last message id this client saw there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<BTreeMap<String, u64>>,
        /// The `server` of the `welcome` those ids came from. Message ids
        /// start again at 1 in a restarted server, so ids seen on another
        /// one say nothing about what was missed here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<String>,
    },
    Join {
        room: String,
    },
    Leave {
        room: String,
    },
    Say {
        room: String,
        text: String,
        /// A number the client picks; echoed back in `ack`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ack: Option<u64>,
    },
    Whisper {
        to: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ack: Option<u64>,
    },
    Typing {
        room: String,
    },
}

/// Whether a member arrived or went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceChange {
    Joined,
    Left,
}

/// An event the server emits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    Welcome {
        name: String,
        /// A secret for this name: sent back in a later `hello`, it takes
        /// the name over from a connection that is dead but not yet closed.
        session: String,
        /// Rooms that exist now, so a client can offer them.
        rooms: Vec<String>,
        /// How many messages each room keeps for recovery.
        history: usize,
        heartbeat_secs: u64,
        /// This server process, chosen at random when it starts: message
        /// ids are only comparable between welcomes with the same `server`.
        server: String,
    },
    Message {
        id: u64,
        room: String,
        from: String,
        text: String,
        ts: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        replayed: bool,
    },
    Whisper {
        from: String,
        to: String,
        text: String,
        ts: u64,
    },
    Typing {
        room: String,
        name: String,
    },
    Ack {
        ack: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    Presence {
        room: String,
        name: String,
        event: PresenceChange,
        members: Vec<String>,
    },
    Resumed {
        room: String,
        /// The last id the client said it saw.
        after: u64,
        /// How many missed messages follow, marked `replayed`.
        replayed: u64,
        /// How many it missed that the history no longer holds.
        lost: u64,
        /// The ids the client saw came from an earlier life of this room (the
        /// server restarted, or forgot the room while nobody was in it): the
        /// replay starts at the room's first message still kept (`after` is
        /// 0), and what the client missed before cannot be counted.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        restarted: bool,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// Why the server refused an event. The connection stays open unless the
/// close code says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not one of the events above.
    BadEvent,
    /// Anything before `hello`, or a second `hello`.
    HelloFirst,
    /// Someone connected has this name.
    NameTaken,
    /// A name or room that is empty, too long, or has control characters.
    BadName,
    /// A text longer than the limit.
    TooLong,
    /// `say`/`typing`/`leave` in a room the client has not joined.
    NotInRoom,
    /// Too many rooms (for the server, or for this client).
    TooManyRooms,
    /// `whisper` to nobody connected under that name.
    NoSuchUser,
    /// Too many events too fast; keep going and the connection is closed.
    RateLimited,
}

impl ServerEvent {
    /// The event's `type`, for narration.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerEvent::Welcome { .. } => "welcome",
            ServerEvent::Message { .. } => "message",
            ServerEvent::Whisper { .. } => "whisper",
            ServerEvent::Typing { .. } => "typing",
            ServerEvent::Ack { .. } => "ack",
            ServerEvent::Presence { .. } => "presence",
            ServerEvent::Resumed { .. } => "resumed",
            ServerEvent::Error { .. } => "error",
        }
    }

    /// The JSON text sent in one frame.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("server events always serialize")
    }
}

impl ClientEvent {
    /// The event's `type`, for narration.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientEvent::Hello { .. } => "hello",
            ClientEvent::Join { .. } => "join",
            ClientEvent::Leave { .. } => "leave",
            ClientEvent::Say { .. } => "say",
            ClientEvent::Whisper { .. } => "whisper",
            ClientEvent::Typing { .. } => "typing",
        }
    }

    /// The JSON text sent in one frame.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("client events always serialize")
    }
}

/// Close codes the server uses (RFC 6455 §7.4.1), named for what they mean here.
pub mod close {
    /// Normal closure: the client said goodbye.
    pub const NORMAL: u16 = 1000;
    /// Going away: the server is shutting down, or a heartbeat went unanswered.
    pub const GOING_AWAY: u16 = 1001;
    /// Invalid data for the type: a text frame that is not UTF-8.
    pub const INVALID_UTF8: u16 = 1007;
    /// Policy violation: too slow to keep up, or rate limit abused.
    pub const POLICY: u16 = 1008;
    /// Message too big.
    pub const TOO_BIG: u16 = 1009;
}

/// Milliseconds since the Unix epoch, for `ts`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_events_read_as_documented() {
        let e: ClientEvent =
            serde_json::from_str(r#"{"type":"hello","name":"ada","resume":{"lobby":7}}"#).unwrap();
        assert_eq!(
            e,
            ClientEvent::Hello {
                name: "ada".into(),
                session: None,
                resume: Some(BTreeMap::from([("lobby".into(), 7)])),
                server: None,
            }
        );
        let e: ClientEvent =
            serde_json::from_str(r#"{"type":"say","room":"lobby","text":"hi","ack":3}"#).unwrap();
        assert_eq!(e.kind(), "say");
        assert!(serde_json::from_str::<ClientEvent>(r#"{"type":"shout","room":"x"}"#).is_err());
        assert!(
            serde_json::from_str::<ClientEvent>(r#"{"type":"join","room":"x","extra":1}"#).is_err()
        );
    }

    #[test]
    fn server_events_write_as_documented() {
        let m = ServerEvent::Message {
            id: 1,
            room: "lobby".into(),
            from: "ada".into(),
            text: "<script>".into(),
            ts: 5,
            replayed: false,
        };
        assert_eq!(
            m.to_text(),
            r#"{"type":"message","id":1,"room":"lobby","from":"ada","text":"<script>","ts":5}"#
        );
        let e = ServerEvent::Error {
            code: ErrorCode::NameTaken,
            message: "x".into(),
        };
        assert!(e.to_text().contains(r#""code":"name_taken""#));
        let p = ServerEvent::Presence {
            room: "r".into(),
            name: "n".into(),
            event: PresenceChange::Left,
            members: vec![],
        };
        assert!(p.to_text().contains(r#""event":"left""#));
        let back: ServerEvent = serde_json::from_str(&m.to_text()).unwrap();
        assert_eq!(back, m);
    }
}
