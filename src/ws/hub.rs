//! The chat's shared state: who is connected, the rooms, each room's history.
//!
//! One `Hub` behind a mutex, held only for the time it takes to update a map
//! and hand frames to bounded per-client queues ([`Outbox`], never `.await`):
//! a slow client can never hold up a broadcast, and the lock is never held
//! while a socket is written. A broadcast is serialized once and the same
//! bytes are queued for every member.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tungstenite::Utf8Bytes;

pub use super::outbox::{Outbound, Outbox};

use super::limits::{
    HISTORY_BYTES_PER_ROOM, HISTORY_PER_ROOM, MAX_NAME_CHARS, MAX_ROOMS, MAX_ROOMS_PER_CLIENT,
    MAX_TEXT_CHARS, OUTBOUND_QUEUE,
};
use super::protocol::{ErrorCode, PresenceChange, ServerEvent, now_ms};

/// Room in a client's queue for a full replay on resume, on top of
/// [`OUTBOUND_QUEUE`]: every room it may rejoin, each with a whole history.
/// The queue allocates as it fills, so unused room costs nothing.
pub const REPLAY_ROOM: usize = MAX_ROOMS_PER_CLIENT * HISTORY_PER_ROOM + 8;

/// What the hub keeps of a connected client: where to queue its frames and
/// how to tell its session to close.
#[derive(Clone)]
pub struct ClientHandle {
    /// Tells this connection from a later one under the same name.
    pub connection: u64,
    /// Its frames, and the flags its session watches.
    pub outbox: Arc<Outbox>,
}

impl Default for ClientHandle {
    fn default() -> Self {
        ClientHandle::new()
    }
}

impl ClientHandle {
    /// A new handle with an empty queue; the writer takes `outbox` too.
    pub fn new() -> ClientHandle {
        static CONNECTIONS: AtomicU64 = AtomicU64::new(1);
        ClientHandle {
            connection: CONNECTIONS.fetch_add(1, Ordering::Relaxed),
            outbox: Arc::new(Outbox::new()),
        }
    }

    /// Queues a frame; a client already [`OUTBOUND_QUEUE`] behind is marked
    /// too slow instead, and the frame is not kept.
    pub fn send(&self, text: &Utf8Bytes) {
        if !self
            .outbox
            .push(Outbound::Text(text.clone()), OUTBOUND_QUEUE)
        {
            self.outbox.mark_slow();
        }
    }

    /// Queues a volatile frame only if the client is keeping up: like
    /// socket.io's volatile emit, it is dropped rather than queued behind.
    fn send_volatile(&self, text: &Utf8Bytes) {
        self.outbox
            .push(Outbound::Text(text.clone()), VOLATILE_BACKLOG);
    }

    /// Replayed history, queued right after `hello` (it fits: [`REPLAY_ROOM`]).
    fn send_replay(&self, text: Utf8Bytes) {
        if !self
            .outbox
            .push(Outbound::Text(text), OUTBOUND_QUEUE + REPLAY_ROOM)
        {
            self.outbox.mark_slow();
        }
    }
}

/// A volatile event (`typing`) goes only to a client with fewer frames than
/// this waiting: one that is behind has more useful things to read.
const VOLATILE_BACKLOG: usize = 4;

/// A message kept for recovery.
#[derive(Clone, Debug)]
struct Stored {
    id: u64,
    from: String,
    text: String,
    ts: u64,
}

impl Stored {
    /// What it counts against [`HISTORY_BYTES_PER_ROOM`].
    fn bytes(&self) -> usize {
        self.from.len() + self.text.len()
    }
}

#[derive(Default)]
struct Room {
    members: BTreeSet<String>,
    history: VecDeque<Stored>,
    /// The sum of `Stored::bytes` over `history`.
    history_bytes: usize,
    /// The id of the last message said here (0: none yet).
    last_id: u64,
}

/// What `resume` did in one room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resumed {
    pub room: String,
    pub after: u64,
    pub replayed: u64,
    pub lost: u64,
    /// The client's ids were from an earlier life of the room.
    pub restarted: bool,
}

/// All clients and rooms.
pub struct Hub {
    clients: HashMap<String, Client>,
    rooms: HashMap<String, Room>,
    recovery: bool,
    /// This server process, for `welcome`: ids seen on another are
    /// meaningless here.
    instance: String,
}

struct Client {
    handle: ClientHandle,
    /// Rooms this client is in → the room's last message id when it joined.
    rooms: BTreeMap<String, u64>,
    /// The token given in `welcome`; whoever shows it may take the name over.
    session: String,
}

/// What a successful `hello` got.
#[derive(Debug)]
pub struct Registered {
    /// The token to show in a later `hello` to take the name back.
    pub session: String,
    /// Whether an older connection of the same client was replaced.
    pub replaced_old: bool,
    /// The old connection's rooms, each with the last id the room had when
    /// it joined: where to resume a room the client never heard it was in
    /// (its confirmation was lost with the old connection).
    pub carried: BTreeMap<String, u64>,
}

/// A token nobody can guess: 128 random bits, in hex.
fn new_session_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Checks a user or room name: 1 to [`MAX_NAME_CHARS`] characters, no
/// control characters, no surrounding spaces.
pub fn check_name(what: &str, name: &str) -> Result<(), (ErrorCode, String)> {
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME_CHARS || name.trim() != name || name.chars().any(char::is_control) {
        return Err((
            ErrorCode::BadName,
            format!(
                "a {what} must be 1 to {MAX_NAME_CHARS} characters, without control characters or surrounding spaces"
            ),
        ));
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), (ErrorCode, String)> {
    let n = text.chars().count();
    if n > MAX_TEXT_CHARS {
        return Err((
            ErrorCode::TooLong,
            format!("a message may have at most {MAX_TEXT_CHARS} characters; this one has {n}"),
        ));
    }
    Ok(())
}

fn text_of(event: &ServerEvent) -> Utf8Bytes {
    Utf8Bytes::from(event.to_text())
}

type HubResult<T> = Result<T, (ErrorCode, String)>;

impl Hub {
    pub fn new(recovery: bool) -> Hub {
        Hub {
            clients: HashMap::new(),
            rooms: HashMap::new(),
            recovery,
            instance: format!("{:016x}", rand::random::<u64>()),
        }
    }

    /// This server process's id, sent in `welcome`.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Room names that exist now (at most 100, for the welcome).
    pub fn room_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.rooms.keys().cloned().collect();
        names.sort();
        names.truncate(100);
        names
    }

    /// Whether `connection` is the one `name` is registered with: after a
    /// session token took the name over, the old connection's events must
    /// not act for the new one.
    pub fn is_current(&self, name: &str, connection: u64) -> bool {
        self.clients
            .get(name)
            .is_some_and(|c| c.handle.connection == connection)
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Takes a name for a new client. A name in use is refused, unless the
    /// client shows the session token that connection was given: then it is
    /// the same client back on a new connection (a reload, a network that
    /// dropped before the server noticed), and the old connection is told
    /// to close and leaves its rooms.
    pub fn register(
        &mut self,
        name: &str,
        handle: ClientHandle,
        session: Option<&str>,
    ) -> HubResult<Registered> {
        check_name("name", name)?;
        let mut replaced_old = false;
        let mut carried = BTreeMap::new();
        if let Some(old) = self.clients.get(name) {
            if session.is_none_or(|s| s != old.session) {
                return Err((
                    ErrorCode::NameTaken,
                    format!("the name {name:?} is taken by someone connected; pick another"),
                ));
            }
            carried = old.rooms.clone();
            let old = old.handle.clone();
            self.unregister(name, old.connection);
            old.outbox.replaced.store(true, Ordering::Relaxed);
            old.outbox.kick.notify_one();
            replaced_old = true;
        }
        // Keep the token across connections, so every later reconnect works.
        let session = session
            .filter(|_| replaced_old)
            .map_or_else(new_session_token, str::to_string);
        self.clients.insert(
            name.to_string(),
            Client {
                handle,
                rooms: BTreeMap::new(),
                session: session.clone(),
            },
        );
        Ok(Registered {
            session,
            replaced_old,
            carried,
        })
    }

    /// Forgets a client's connection and leaves all its rooms; returns the
    /// rooms it was in. A connection already replaced by a newer one under
    /// the same name changes nothing.
    pub fn unregister(&mut self, name: &str, connection: u64) -> Vec<String> {
        if self
            .clients
            .get(name)
            .is_none_or(|c| c.handle.connection != connection)
        {
            return Vec::new();
        }
        let Some(client) = self.clients.remove(name) else {
            return Vec::new();
        };
        let rooms: Vec<String> = client.rooms.into_keys().collect();
        for room in &rooms {
            self.remove_member(room, name);
        }
        rooms
    }

    fn remove_member(&mut self, room: &str, name: &str) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        r.members.remove(name);
        let members: Vec<String> = r.members.iter().cloned().collect();
        let event = text_of(&ServerEvent::Presence {
            room: room.to_string(),
            name: name.to_string(),
            event: PresenceChange::Left,
            members,
        });
        self.broadcast(room, &event);
        let r = &self.rooms[room];
        if r.members.is_empty() && r.history.is_empty() {
            self.rooms.remove(room);
        }
    }

    /// Puts `name` in `room` (created if new) and tells its members. Returns
    /// the members after the join; joining twice changes nothing.
    pub fn join(&mut self, name: &str, room: &str) -> HubResult<Vec<String>> {
        check_name("room name", room)?;
        let Some(client) = self.clients.get(name) else {
            return Err(not_connected(name));
        };
        if client.rooms.contains_key(room) {
            // Already in: tell only the joiner again, so a client whose first
            // confirmation was lost still gets one.
            let members: Vec<String> = self.rooms[room].members.iter().cloned().collect();
            client.handle.send(&text_of(&ServerEvent::Presence {
                room: room.to_string(),
                name: name.to_string(),
                event: PresenceChange::Joined,
                members: members.clone(),
            }));
            return Ok(members);
        }
        if client.rooms.len() >= MAX_ROOMS_PER_CLIENT {
            return Err((
                ErrorCode::TooManyRooms,
                format!("a client may be in at most {MAX_ROOMS_PER_CLIENT} rooms at once"),
            ));
        }
        if !self.rooms.contains_key(room) && self.rooms.len() >= MAX_ROOMS {
            // Make room by forgetting an empty room's history, if there is one.
            let empty = self
                .rooms
                .iter()
                .find(|(_, r)| r.members.is_empty())
                .map(|(k, _)| k.clone());
            match empty {
                Some(k) => {
                    self.rooms.remove(&k);
                }
                None => {
                    return Err((
                        ErrorCode::TooManyRooms,
                        format!("the server has its limit of {MAX_ROOMS} rooms"),
                    ));
                }
            }
        }
        let r = self.rooms.entry(room.to_string()).or_default();
        r.members.insert(name.to_string());
        let members: Vec<String> = r.members.iter().cloned().collect();
        let joined_at = r.last_id;
        if let Some(c) = self.clients.get_mut(name) {
            c.rooms.insert(room.to_string(), joined_at);
        }
        let event = text_of(&ServerEvent::Presence {
            room: room.to_string(),
            name: name.to_string(),
            event: PresenceChange::Joined,
            members: members.clone(),
        });
        self.broadcast(room, &event);
        Ok(members)
    }

    /// Takes `name` out of `room` and tells the members left.
    pub fn leave(&mut self, name: &str, room: &str) -> HubResult<()> {
        let in_room = self
            .clients
            .get_mut(name)
            .is_some_and(|c| c.rooms.remove(room).is_some());
        if !in_room {
            return Err(not_in_room(room));
        }
        self.remove_member(room, name);
        Ok(())
    }

    /// Stores a message in the room's history and sends it to every member,
    /// the sender included. Returns its id.
    pub fn say(&mut self, name: &str, room: &str, text: &str) -> HubResult<u64> {
        check_text(text)?;
        let Some(r) = self
            .rooms
            .get_mut(room)
            .filter(|r| r.members.contains(name))
        else {
            return Err(not_in_room(room));
        };
        r.last_id += 1;
        let stored = Stored {
            id: r.last_id,
            from: name.to_string(),
            text: text.to_string(),
            ts: now_ms(),
        };
        let event = text_of(&message_event(room, &stored, false));
        let id = stored.id;
        r.history_bytes += stored.bytes();
        r.history.push_back(stored);
        while r.history.len() > HISTORY_PER_ROOM
            || (r.history_bytes > HISTORY_BYTES_PER_ROOM && r.history.len() > 1)
        {
            if let Some(old) = r.history.pop_front() {
                r.history_bytes -= old.bytes();
            }
        }
        self.broadcast(room, &event);
        Ok(id)
    }

    /// Sends a message to one client (and a copy to the sender).
    pub fn whisper(&mut self, from: &str, to: &str, text: &str) -> HubResult<()> {
        check_text(text)?;
        let Some(target) = self.clients.get(to) else {
            return Err((
                ErrorCode::NoSuchUser,
                format!("nobody called {to:?} is connected"),
            ));
        };
        let event = text_of(&ServerEvent::Whisper {
            from: from.to_string(),
            to: to.to_string(),
            text: text.to_string(),
            ts: now_ms(),
        });
        target.handle.send(&event);
        if from != to
            && let Some(sender) = self.clients.get(from)
        {
            sender.handle.send(&event);
        }
        Ok(())
    }

    /// Tells the room's other members that `name` is typing, volatile.
    pub fn typing(&mut self, name: &str, room: &str) -> HubResult<()> {
        let Some(r) = self.rooms.get(room).filter(|r| r.members.contains(name)) else {
            return Err(not_in_room(room));
        };
        let event = text_of(&ServerEvent::Typing {
            room: room.to_string(),
            name: name.to_string(),
        });
        for member in r.members.iter().filter(|m| *m != name) {
            if let Some(c) = self.clients.get(member) {
                c.handle.send_volatile(&event);
            }
        }
        Ok(())
    }

    /// Rejoins each room and queues, after a `resumed` event, the messages
    /// said there after the id the client last saw, marked replayed. Done
    /// under the hub's lock, so no live message can slip in between the
    /// replay and the join, or be sent twice.
    pub fn resume(
        &mut self,
        name: &str,
        last_seen: &BTreeMap<String, u64>,
        seen_on: Option<&str>,
    ) -> HubResult<Vec<Resumed>> {
        // Ids from another server process (this one restarted) count from
        // a different 1: none of them says what the client has seen here.
        let other_server = seen_on.is_some_and(|s| s != self.instance);
        let mut done = Vec::new();
        for (room, &seen) in last_seen.iter().take(MAX_ROOMS_PER_CLIENT) {
            self.join(name, room)?;
            let r = &self.rooms[room];
            // An id this room never gave out: it was forgotten while empty
            // (or the server restarted) and its ids started again.
            let restarted = other_server || seen > r.last_id;
            // Then all of this life of the room is new to the client; what
            // it missed of the earlier one cannot be counted.
            let after = if restarted { 0 } else { seen };
            let missed = r.last_id - after;
            let replay: Vec<&Stored> = if self.recovery {
                r.history.iter().filter(|m| m.id > after).collect()
            } else {
                Vec::new()
            };
            let resumed = Resumed {
                room: room.clone(),
                after,
                replayed: replay.len() as u64,
                lost: missed - replay.len() as u64,
                restarted,
            };
            let Some(handle) = self.clients.get(name).map(|c| &c.handle) else {
                return Err(not_connected(name));
            };
            handle.send_replay(text_of(&ServerEvent::Resumed {
                room: room.clone(),
                after,
                replayed: resumed.replayed,
                lost: resumed.lost,
                restarted,
            }));
            for m in replay {
                handle.send_replay(text_of(&message_event(room, m, true)));
            }
            done.push(resumed);
        }
        Ok(done)
    }

    /// Queues one frame for every member of `room`.
    fn broadcast(&self, room: &str, text: &Utf8Bytes) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        for member in &r.members {
            if let Some(c) = self.clients.get(member) {
                c.handle.send(text);
            }
        }
    }

    /// Every connected client's handle (for shutdown).
    pub fn handles(&self) -> Vec<ClientHandle> {
        self.clients.values().map(|c| c.handle.clone()).collect()
    }
}

/// For events from a connection whose name is no longer registered (it was
/// replaced, and its replacement has left too): the session is closing.
fn not_connected(name: &str) -> (ErrorCode, String) {
    (
        ErrorCode::HelloFirst,
        format!("{name} is not connected on this connection any more; say hello again"),
    )
}

fn not_in_room(room: &str) -> (ErrorCode, String) {
    (
        ErrorCode::NotInRoom,
        format!("you are not in the room {room:?}; join it first"),
    )
}

fn message_event(room: &str, m: &Stored, replayed: bool) -> ServerEvent {
    ServerEvent::Message {
        id: m.id,
        room: room.to_string(),
        from: m.from.clone(),
        text: m.text.clone(),
        ts: m.ts,
        replayed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(client: &ClientHandle) -> Vec<ServerEvent> {
        let mut out = Vec::new();
        while let Some(Outbound::Text(t)) = client.outbox.try_next() {
            out.push(serde_json::from_str(t.as_str()).unwrap());
        }
        out
    }

    #[test]
    fn a_resume_replays_exactly_what_was_missed_and_counts_what_history_lost() {
        let mut hub = Hub::new(true);
        let a = ClientHandle::new();
        let a_out = a.clone();
        hub.register("ada", a, None).unwrap();
        hub.join("ada", "lobby").unwrap();
        for i in 0..(HISTORY_PER_ROOM + 5) {
            hub.say("ada", "lobby", &format!("m{i}")).unwrap();
        }
        drain(&a_out);
        let b = ClientHandle::new();
        let b_out = b.clone();
        hub.register("bob", b, None).unwrap();
        let done = hub
            .resume("bob", &BTreeMap::from([("lobby".to_string(), 2)]), None)
            .unwrap();
        let missed = (HISTORY_PER_ROOM + 5 - 2) as u64;
        assert_eq!(done[0].replayed, HISTORY_PER_ROOM as u64);
        assert_eq!(done[0].lost, missed - HISTORY_PER_ROOM as u64);
        let events = drain(&b_out);
        assert!(matches!(events[0], ServerEvent::Presence { .. }));
        assert!(
            matches!(events[1], ServerEvent::Resumed { replayed, .. } if replayed == HISTORY_PER_ROOM as u64)
        );
        let ids: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Message {
                    id, replayed: true, ..
                } => Some(*id),
                _ => None,
            })
            .collect();
        let first = (HISTORY_PER_ROOM + 5 - HISTORY_PER_ROOM + 1) as u64;
        assert_eq!(
            ids,
            (first..=(HISTORY_PER_ROOM + 5) as u64).collect::<Vec<_>>()
        );
    }

    #[test]
    fn without_recovery_a_resume_only_counts() {
        let mut hub = Hub::new(false);
        let a = ClientHandle::new();
        hub.register("ada", a, None).unwrap();
        hub.join("ada", "r").unwrap();
        for _ in 0..3 {
            hub.say("ada", "r", "x").unwrap();
        }
        let b = ClientHandle::new();
        hub.register("bob", b, None).unwrap();
        let done = hub
            .resume("bob", &BTreeMap::from([("r".to_string(), 1)]), None)
            .unwrap();
        assert_eq!((done[0].replayed, done[0].lost), (0, 2));
    }

    #[test]
    fn names_are_unique_and_checked() {
        let mut hub = Hub::new(true);
        hub.register("ada", ClientHandle::new(), None).unwrap();
        assert_eq!(
            hub.register("ada", ClientHandle::new(), None)
                .unwrap_err()
                .0,
            ErrorCode::NameTaken
        );
        assert_eq!(
            hub.register("", ClientHandle::new(), None).unwrap_err().0,
            ErrorCode::BadName
        );
        assert_eq!(
            hub.register(" x", ClientHandle::new(), None).unwrap_err().0,
            ErrorCode::BadName
        );
        let c = ClientHandle::new();
        let id = c.connection;
        hub.register("cy", c, None).unwrap();
        hub.unregister("cy", id);
        hub.register("cy", ClientHandle::new(), None).unwrap();
    }

    #[test]
    fn the_session_token_takes_a_name_back_from_an_old_connection() {
        let mut hub = Hub::new(true);
        let old = ClientHandle::new();
        let old_id = old.connection;
        let replaced = old.outbox.clone();
        let token = hub.register("ada", old, None).unwrap().session;
        hub.join("ada", "lobby").unwrap();
        assert_eq!(
            hub.register("ada", ClientHandle::new(), Some("guess"))
                .unwrap_err()
                .0,
            ErrorCode::NameTaken
        );
        assert!(!replaced.replaced.load(Ordering::Relaxed));

        let new = ClientHandle::new();
        let new_id = new.connection;
        let got = hub.register("ada", new, Some(&token)).unwrap();
        assert!(got.replaced_old);
        assert_eq!(got.session, token, "the token stays the same");
        assert_eq!(got.carried, BTreeMap::from([("lobby".to_string(), 0)]));
        assert!(
            replaced.replaced.load(Ordering::Relaxed),
            "the old one is told"
        );
        // The old session ending later must not unregister the new one.
        assert!(hub.unregister("ada", old_id).is_empty());
        assert_eq!(hub.client_count(), 1);
        hub.join("ada", "lobby").unwrap();
        assert_eq!(hub.unregister("ada", new_id), ["lobby"]);
    }

    #[test]
    fn a_client_that_falls_behind_is_marked_too_slow_not_buffered() {
        let mut hub = Hub::new(true);
        let a = ClientHandle::new();
        let slow = a.outbox.clone();
        hub.register("ada", a, None).unwrap();
        hub.join("ada", "r").unwrap();
        for _ in 0..OUTBOUND_QUEUE {
            hub.say("ada", "r", "x").unwrap();
        }
        assert!(slow.is_too_slow());
    }

    #[test]
    fn ids_from_another_server_or_an_earlier_life_of_the_room_resume_from_the_start() {
        let mut hub = Hub::new(true);
        let a = ClientHandle::new();
        hub.register("ada", a, None).unwrap();
        hub.join("ada", "lobby").unwrap();
        hub.say("ada", "lobby", "one").unwrap();
        hub.say("ada", "lobby", "two").unwrap();
        let b = ClientHandle::new();
        let b_out = b.clone();
        hub.register("bob", b, None).unwrap();
        // bob saw message 7 on the server before this one.
        let done = hub
            .resume(
                "bob",
                &BTreeMap::from([("lobby".to_string(), 7)]),
                Some("a-server-that-restarted"),
            )
            .unwrap();
        assert_eq!(
            (
                done[0].after,
                done[0].replayed,
                done[0].lost,
                done[0].restarted
            ),
            (0, 2, 0, true)
        );
        let events = drain(&b_out);
        assert!(events.iter().any(|e| matches!(
            e,
            ServerEvent::Resumed {
                after: 0,
                restarted: true,
                ..
            }
        )));
        let replayed: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Message { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        assert_eq!(replayed, [1, 2]);

        // The same process's own ids are taken as they are.
        let instance = hub.instance().to_string();
        let c = ClientHandle::new();
        hub.register("cy", c, None).unwrap();
        let done = hub
            .resume(
                "cy",
                &BTreeMap::from([("lobby".to_string(), 1)]),
                Some(&instance),
            )
            .unwrap();
        assert_eq!(
            (done[0].after, done[0].replayed, done[0].restarted),
            (1, 1, false)
        );
    }

    #[test]
    fn a_room_forgotten_while_empty_starts_its_ids_again_and_a_resume_says_so() {
        let mut hub = Hub::new(true);
        hub.register("ada", ClientHandle::new(), None).unwrap();
        hub.join("ada", "lobby").unwrap();
        for _ in 0..3 {
            hub.say("ada", "lobby", "x").unwrap();
        }
        hub.unregister("ada", hub.clients["ada"].handle.connection);
        // What `join` does to an empty room when the server is at MAX_ROOMS.
        hub.rooms.remove("lobby");
        hub.register("ada", ClientHandle::new(), None).unwrap();
        let done = hub
            .resume("ada", &BTreeMap::from([("lobby".to_string(), 3)]), None)
            .unwrap();
        assert_eq!((done[0].after, done[0].restarted), (0, true));
    }

    #[test]
    fn long_messages_shorten_the_history_not_grow_it_and_a_resume_counts_them_lost() {
        let mut hub = Hub::new(true);
        hub.register("ada", ClientHandle::new(), None).unwrap();
        hub.join("ada", "lobby").unwrap();
        let long = "é".repeat(MAX_TEXT_CHARS); // 4,000 bytes
        for _ in 0..50 {
            hub.say("ada", "lobby", &long).unwrap();
        }
        let r = &hub.rooms["lobby"];
        assert!(
            r.history_bytes <= HISTORY_BYTES_PER_ROOM,
            "{}",
            r.history_bytes
        );
        assert_eq!(r.history.len(), HISTORY_BYTES_PER_ROOM / (long.len() + 3));
        assert_eq!(
            r.history_bytes,
            r.history.iter().map(Stored::bytes).sum::<usize>()
        );
        let kept = r.history.len() as u64;
        hub.register("bob", ClientHandle::new(), None).unwrap();
        let done = hub
            .resume("bob", &BTreeMap::from([("lobby".to_string(), 0)]), None)
            .unwrap();
        assert_eq!((done[0].replayed, done[0].lost), (kept, 50 - kept));
    }

    #[test]
    fn events_from_a_connection_that_is_no_longer_the_names_own_change_nothing() {
        let mut hub = Hub::new(true);
        let old = ClientHandle::new();
        let old_id = old.connection;
        let token = hub.register("ada", old, None).unwrap().session;
        let new = ClientHandle::new();
        let new_id = new.connection;
        hub.register("ada", new, Some(&token)).unwrap();
        // The old connection, not closed yet, still sends events.
        assert!(!hub.is_current("ada", old_id));
        assert!(hub.is_current("ada", new_id));
        // The new one leaves; the old one's join must not panic the hub
        // (a panic under the hub's lock would poison it for everyone).
        hub.unregister("ada", new_id);
        assert!(!hub.is_current("ada", old_id));
        assert!(hub.join("ada", "lobby").is_err());
        assert!(
            hub.resume("ada", &BTreeMap::from([("lobby".to_string(), 1)]), None)
                .is_err()
        );
    }
}
