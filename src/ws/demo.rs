//! `netdojo ws demo`: the chat server and three scripted clients (ada, bob,
//! cy) in one process, every byte between them passing through an
//! in-process [`tap`](super::tap) so the wire is shown, not described.
//!
//! What a student should see:
//! 1. one port serves both the page (plain HTTP) and the socket (an HTTP
//!    request that upgrades): the key, and the accept derived from it;
//! 2. frames: client frames masked with a fresh key, server frames not;
//! 3. emit and on: a room, a broadcast to everyone in it, an ack;
//! 4. a client drops off, messages are sent while it is away, it comes back
//!    with "the last id I saw" and receives exactly those, replayed;
//! 5. the same with recovery off: the messages are simply missed.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::protocol::{ClientEvent, PresenceChange, ServerEvent};
use super::server::{ServeOptions, serve};
use super::tap::{TapCounters, run_counting};
use crate::layer::Layer;
use crate::report::{Observation, Pacing, Reporter, Sink};

/// The room everyone joins.
const ROOM: &str = "lobby";

/// Messages sent while cy is away.
pub const SENT_WHILE_AWAY: usize = 3;

/// How long any expected event may take before the demo gives up: loopback
/// answers in microseconds, so this only matters if something is broken.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Events a scripted client sets aside while it waits for another: more
/// than the demo ever sends one client.
const MAX_ASIDE: usize = 256;

/// What the demo found, for the tour's recap and for tests.
#[derive(Clone, Debug, Default)]
pub struct DemoFacts {
    /// The page's HTTP status, on the same port as the socket.
    pub page_status: u16,
    /// Upgrades seen by the tap, and how many accepts matched their key.
    pub upgrades: u64,
    pub accepts_matched: u64,
    /// Frames the tap saw each way, and how many were masked.
    pub client_frames: u64,
    pub client_frames_masked: u64,
    pub server_frames: u64,
    pub server_frames_masked: u64,
    /// Clients that received the broadcast (the sender included).
    pub broadcast_receivers: usize,
    /// Acks the senders received.
    pub acks: u64,
    /// Messages sent while cy was away (each run).
    pub sent_while_away: u64,
    /// With recovery: the ids cy was away for, and the ids replayed to it.
    pub away_ids: Vec<u64>,
    pub recovered_ids: Vec<u64>,
    /// With recovery off: how many cy received again, and how many it missed.
    pub replayed_without_recovery: u64,
    pub missed_without_recovery: u64,
}

impl DemoFacts {
    /// Exactly the messages sent while away came back, in order, once each.
    pub fn recovered_exactly(&self) -> bool {
        !self.away_ids.is_empty() && self.recovered_ids == self.away_ids
    }
}

/// Passes observations on to the demo's reporter while open: the tap shows
/// the wire for the first client's handshake and events, then stays quiet
/// (it keeps counting) so three chatting clients do not drown the story.
struct Gate {
    to: Reporter,
    open: Arc<AtomicBool>,
}

impl Sink for Gate {
    fn observe(&self, obs: &Observation) -> std::io::Result<()> {
        if self.open.load(Ordering::Relaxed) {
            self.to.emit(obs.clone());
        }
        Ok(())
    }
    fn section(&self, _: &str, _: &str) -> std::io::Result<()> {
        Ok(())
    }
    fn note(&self, _: &str) -> std::io::Result<()> {
        Ok(())
    }
}

/// A server behind a tap, both stopped when dropped.
struct Stage {
    tap_addr: std::net::SocketAddr,
    counters: Arc<TapCounters>,
    stop: Vec<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Stage {
    async fn start(recovery: bool, tap_reporter: Reporter) -> anyhow::Result<Stage> {
        let server_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind 127.0.0.1:0 for the demo's server")?;
        let server_addr = server_listener.local_addr()?;
        let tap_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind 127.0.0.1:0 for the demo's tap")?;
        let tap_addr = tap_listener.local_addr()?;
        // The server narrates too, but the tap already shows the wire: its
        // own story would repeat it, so it goes to a recorder nobody reads.
        let (quiet, _) = Reporter::recorder();
        let options = ServeOptions {
            recovery,
            ..ServeOptions::default()
        };
        let counters = Arc::new(TapCounters::default());
        let (server_stop, server_stopped) = tokio::sync::oneshot::channel::<()>();
        let (tap_stop, tap_stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(server_listener, options, quiet, async move {
            let _ = server_stopped.await;
        }));
        let tap = tokio::spawn(run_counting(
            tap_listener,
            server_addr,
            tap_reporter,
            async move {
                let _ = tap_stopped.await;
            },
            counters.clone(),
        ));
        Ok(Stage {
            tap_addr,
            counters,
            stop: vec![tap_stop, server_stop],
            tasks: vec![tap, server],
        })
    }

    /// Waits (at most [`EVENT_TIMEOUT`]) until the tap has reported `n`
    /// connections closed. Only the order of the narration depends on it, so
    /// a tap that is slower still lets the demo go on.
    async fn closed(&self, n: u64) {
        let done = || self.counters.connections_closed.load(Ordering::Relaxed) >= n;
        let wait = async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        let _ = tokio::time::timeout(EVENT_TIMEOUT, wait).await;
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.tap_addr)
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        for stop in self.stop.drain(..) {
            let _ = stop.send(());
        }
        for task in self.tasks.drain(..) {
            task.await.context("a demo task panicked")??;
        }
        Ok(())
    }
}

/// One scripted chat client.
struct Client {
    name: &'static str,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every chat message it received: (id, replayed).
    messages: Vec<(u64, bool)>,
    /// The last id it saw in the room.
    last_seen: u64,
    /// Events received but not yet asked for.
    aside: VecDeque<ServerEvent>,
}

impl Client {
    async fn connect(
        url: &str,
        name: &'static str,
        resume: Option<u64>,
    ) -> anyhow::Result<(Client, ServerEvent)> {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .with_context(|| format!("{name} cannot connect to {url}"))?;
        let mut client = Client {
            name,
            ws,
            messages: Vec::new(),
            last_seen: resume.unwrap_or(0),
            aside: VecDeque::new(),
        };
        client
            .emit(&ClientEvent::Hello {
                session: None,
                name: name.into(),
                resume: resume.map(|id| BTreeMap::from([(ROOM.to_string(), id)])),
                server: None,
            })
            .await?;
        let welcome = client
            .until(|e| matches!(e, ServerEvent::Welcome { .. }).then(|| e.clone()))
            .await?;
        Ok((client, welcome))
    }

    async fn emit(&mut self, event: &ClientEvent) -> anyhow::Result<()> {
        self.ws
            .send(Message::text(event.to_text()))
            .await
            .with_context(|| format!("{} cannot send {}", self.name, event.kind()))
    }

    /// The first event `want` picks, among those already received and set
    /// aside or those still to come, remembering every message. Events it
    /// does not pick are set aside, so the order the server sends them in
    /// (welcome before resumed, ack before or after the broadcast) does not
    /// matter.
    async fn until<T>(&mut self, want: impl FnMut(&ServerEvent) -> Option<T>) -> anyhow::Result<T> {
        let name = self.name;
        self.until_within(EVENT_TIMEOUT, want)
            .await?
            .with_context(|| {
                format!("{name} waited {EVENT_TIMEOUT:?} for an event that did not come")
            })
    }

    /// [`Client::until`], giving up after `wait` with `None`.
    async fn until_within<T>(
        &mut self,
        wait: Duration,
        mut want: impl FnMut(&ServerEvent) -> Option<T>,
    ) -> anyhow::Result<Option<T>> {
        if let Some(at) = self.aside.iter().position(|e| want(e).is_some())
            && let Some(event) = self.aside.remove(at)
        {
            return Ok(want(&event));
        }
        let name = self.name;
        let read = async {
            loop {
                let Some(msg) = self.ws.next().await else {
                    bail!("{name}'s connection closed while waiting");
                };
                let msg = msg.with_context(|| format!("{name}'s connection failed"))?;
                let Message::Text(text) = msg else { continue };
                let event: ServerEvent = serde_json::from_str(text.as_str())
                    .with_context(|| format!("{name} received an event it cannot read: {text}"))?;
                if let ServerEvent::Message { id, replayed, .. } = &event {
                    self.messages.push((*id, *replayed));
                    self.last_seen = self.last_seen.max(*id);
                }
                if let ServerEvent::Error { code, message } = &event {
                    bail!("the server refused {name}: {code:?}: {message}");
                }
                if let Some(found) = want(&event) {
                    return Ok(found);
                }
                if self.aside.len() == MAX_ASIDE {
                    self.aside.pop_front();
                }
                self.aside.push_back(event);
            }
        };
        match tokio::time::timeout(wait, read).await {
            Ok(found) => found.map(Some),
            Err(_) => Ok(None),
        }
    }

    async fn join(&mut self) -> anyhow::Result<Vec<String>> {
        self.emit(&ClientEvent::Join { room: ROOM.into() }).await?;
        let me = self.name;
        self.until(|e| match e {
            ServerEvent::Presence {
                name,
                event: PresenceChange::Joined,
                members,
                ..
            } if name == me => Some(members.clone()),
            _ => None,
        })
        .await
    }

    /// Says `text` with an ack number; returns the stored message's id.
    async fn say(&mut self, text: &str, ack: u64) -> anyhow::Result<u64> {
        self.emit(&ClientEvent::Say {
            room: ROOM.into(),
            text: text.into(),
            ack: Some(ack),
        })
        .await?;
        self.until(|e| match e {
            ServerEvent::Ack { ack: a, id } if *a == ack => Some(id.unwrap_or(0)),
            _ => None,
        })
        .await
    }

    /// Waits for the message with this id.
    async fn receive(&mut self, want: u64) -> anyhow::Result<()> {
        if self.messages.iter().any(|(id, _)| *id == want) {
            return Ok(());
        }
        self.until(|e| matches!(e, ServerEvent::Message { id, .. } if *id == want).then_some(()))
            .await
    }

    async fn close(mut self) -> anyhow::Result<()> {
        self.ws.close(None).await.ok();
        // Read until the server's close arrives and the connection ends.
        let drain = async { while let Some(Ok(_)) = self.ws.next().await {} };
        let _ = tokio::time::timeout(EVENT_TIMEOUT, drain).await;
        Ok(())
    }
}

/// Runs the demo on `127.0.0.1:0`.
pub async fn run(reporter: &Reporter) -> anyhow::Result<DemoFacts> {
    run_parts(reporter, reporter, || {}).await
}

/// The demo in its two halves: the wire (the upgrade, frames, masking)
/// narrated to `wire`, then the chat (rooms, broadcast, missed events,
/// recovery) to `events`, with `between` called in between. The tour gives
/// each half a chapter, or runs one half silently for `--only`.
pub async fn run_parts(
    wire: &Reporter,
    events: &Reporter,
    between: impl FnOnce(),
) -> anyhow::Result<DemoFacts> {
    let reporter = wire;
    let mut facts = DemoFacts::default();
    let wire_open = Arc::new(AtomicBool::new(true));
    let tap_reporter = Reporter::new(
        Arc::new(Gate {
            to: reporter.clone(),
            open: wire_open.clone(),
        }),
        true,
        Pacing::none(),
    );
    // The heading first: the tap says "listening" from a task of its own,
    // and that line belongs under it.
    reporter.section(
        "1. One port: a page, then an upgrade",
        "socket.io attaches to an HTTP server because a WebSocket starts life as an HTTP request. The same port serves the page and, after a 101, the socket. A tap between client and server shows every byte.",
    );
    let stage = Stage::start(true, tap_reporter).await?;
    facts.page_status = get_page(stage.tap_addr).await?;
    // The page's connection is over for the client once it has read the
    // page; the tap reports it closed a moment later. Wait for that line, so
    // that the story reads "#1 closed" before "#2 connected" on every run.
    stage.closed(1).await;
    let (mut ada, _) = Client::connect(&stage.url(), "ada", None).await?;
    ada.join().await?;

    reporter.section(
        "2. Frames: clients mask, servers do not",
        "Each event is one JSON text frame. Client frames carry a fresh 4-byte key XORed over the payload; server frames go as they are.",
    );
    let first = ada.say("hello, is anyone here?", 1).await?;
    facts.acks += 1;
    wire_open.store(false, Ordering::Relaxed);
    reporter.emit(
        Observation::new(
            Layer::Application,
            "acked",
            format!("ada emitted \"say\" with ack 1; the server stored it as message {first} in {ROOM} and answered \"ack\": ada knows it arrived (the terminal client shows ✓)"),
        )
        .field("ack", 1)
        .field("id", first),
    );
    reporter.note("(From here on the tap keeps counting frames but stops printing them.)");

    between();
    let reporter = events;

    reporter.section(
        "3. A room and a broadcast",
        "emit sends an event; the server decides who receives it. Everyone in the room gets a \"say\", the sender included.",
    );
    let (mut bob, _) = Client::connect(&stage.url(), "bob", None).await?;
    bob.join().await?;
    let (mut cy, _) = Client::connect(&stage.url(), "cy", None).await?;
    let members = cy.join().await?;
    reporter.emit(
        Observation::new(
            Layer::Application,
            "room",
            format!(
                "bob and cy joined {ROOM}; the server sent \"presence\" to each member: {} are in the room",
                members.join(", ")
            ),
        )
        .field("room", ROOM)
        .field("members", members.clone()),
    );
    let id = bob.say("hi all", 2).await?;
    facts.acks += 1;
    ada.receive(id).await?;
    cy.receive(id).await?;
    facts.broadcast_receivers = 3;
    reporter.emit(
        Observation::new(
            Layer::Application,
            "broadcast",
            format!("bob emitted one \"say\"; the server stored it as message {id} and sent one \"message\" frame to each of the 3 members, and an \"ack\" to bob"),
        )
        .field("id", id)
        .field("receivers", 3),
    );

    reporter.section(
        "4. A client misses events, and recovers them",
        "cy drops off. Messages sent meanwhile are not lost on the server: each room keeps a numbered history. cy comes back saying \"the last id I saw in lobby\", and the server replays what came after.",
    );
    let (away, recovered) = away_and_back(&stage, reporter, &mut ada, &mut bob, cy, true).await?;
    facts.sent_while_away = away.len() as u64;
    facts.away_ids = away;
    facts.recovered_ids = recovered;
    ada.close().await?;
    bob.close().await?;
    let counts = &stage.counters;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    facts.upgrades = load(&counts.upgrades);
    facts.accepts_matched = load(&counts.accepts_matched);
    facts.client_frames = load(&counts.client_frames);
    facts.client_frames_masked = load(&counts.client_frames_masked);
    facts.server_frames = load(&counts.server_frames);
    facts.server_frames_masked = load(&counts.server_frames_masked);
    stage.stop().await?;

    reporter.section(
        "5. The same, with recovery off",
        "A server without history (or a client that does not say what it saw) can only deliver what happens while a client is connected.",
    );
    let (quiet, _) = Reporter::recorder();
    let stage = Stage::start(false, quiet).await?;
    let (mut ada, _) = Client::connect(&stage.url(), "ada", None).await?;
    ada.join().await?;
    let (mut bob, _) = Client::connect(&stage.url(), "bob", None).await?;
    bob.join().await?;
    let (mut cy, _) = Client::connect(&stage.url(), "cy", None).await?;
    cy.join().await?;
    let id = ada.say("hello again", 1).await?;
    cy.receive(id).await?;
    let (away, recovered) = away_and_back(&stage, reporter, &mut ada, &mut bob, cy, false).await?;
    facts.replayed_without_recovery = recovered.len() as u64;
    facts.missed_without_recovery = (away.len() - recovered.len()) as u64;
    ada.close().await?;
    bob.close().await?;
    stage.stop().await?;

    summary(reporter, &facts);
    Ok(facts)
}

/// cy leaves, ada and bob say [`SENT_WHILE_AWAY`] messages, cy comes back
/// resuming from the last id it saw. Returns the ids sent while it was away
/// and the ids it received on its return.
async fn away_and_back(
    stage: &Stage,
    reporter: &Reporter,
    ada: &mut Client,
    bob: &mut Client,
    cy: Client,
    recovery: bool,
) -> anyhow::Result<(Vec<u64>, Vec<u64>)> {
    let last_seen = cy.last_seen;
    cy.close().await?;
    // The server must have let cy go before cy can take its name again.
    ada.until(|e| {
        matches!(e, ServerEvent::Presence { name, event: PresenceChange::Left, .. } if name == "cy")
            .then_some(())
    })
    .await?;
    reporter.emit(
        Observation::new(
            Layer::Session,
            "dropped",
            format!("cy's connection closed; the last message it saw in {ROOM} was {last_seen}. ada got \"presence\": cy left"),
        )
        .field("name", "cy")
        .field("last_seen", last_seen)
        .field("recovery", recovery),
    );

    let mut away = Vec::new();
    for n in 1..=SENT_WHILE_AWAY {
        let (who, text) = if n % 2 == 1 {
            (&mut *ada, format!("while cy is away, {n}"))
        } else {
            (&mut *bob, format!("still away? {n}"))
        };
        let id = who.say(&text, 10 + n as u64).await?;
        away.push(id);
    }
    for id in &away {
        ada.receive(*id).await?;
        bob.receive(*id).await?;
    }
    reporter.emit(
        Observation::new(
            Layer::Application,
            "sent_while_away",
            format!(
                "ada and bob said {} messages ({}) while cy was away; both received each one, cy could not",
                away.len(),
                ids(&away)
            ),
        )
        .field("ids", away.clone())
        .field("recovery", recovery),
    );

    let (mut cy, _) = Client::connect(&stage.url(), "cy", Some(last_seen)).await?;
    let resumed = |e: &ServerEvent| match e {
        ServerEvent::Resumed { replayed, lost, .. } => Some((*replayed, *lost)),
        _ => None,
    };
    // With recovery on, "resumed" must come. With it off, the server may
    // say how many were lost, or nothing at all: a moment's silence is
    // then the answer.
    let (replayed, lost) = if recovery {
        cy.until(resumed).await?
    } else {
        let silence = Duration::from_millis(200);
        cy.until_within(silence, resumed)
            .await?
            .unwrap_or((0, away.len() as u64))
    };
    // Every message is recorded as it is read, whoever was waiting for what.
    while (cy.messages.len() as u64) < replayed {
        cy.until(|e| matches!(e, ServerEvent::Message { .. }).then_some(()))
            .await?;
    }
    let got: Vec<u64> = cy.messages.iter().map(|(id, _)| *id).collect();
    let all_replayed = cy.messages.iter().all(|(_, r)| *r);
    let text = if recovery {
        format!(
            "cy came back with hello {{resume: {{{ROOM}: {last_seen}}}}}; the server answered \"resumed\" ({replayed} to replay, {lost} lost), then replayed {} marked \"replayed\": {}. {}",
            got.len(),
            ids(&got),
            if got == away {
                "Exactly the messages it missed, in order, none twice"
            } else {
                "Not the messages it missed!"
            }
        )
    } else {
        format!(
            "cy came back with the same resume, but this server keeps no history for it: \"resumed\" says {replayed} replayed, {lost} lost. {} messages were simply missed",
            away.len() - got.len()
        )
    };
    reporter.emit(
        Observation::new(Layer::Session, "resumed", text)
            .field("recovery", recovery)
            .field("after", last_seen)
            .field("replayed", got.clone())
            .field("lost", lost)
            .field("all_marked_replayed", all_replayed),
    );
    cy.close().await?;
    Ok((away, got))
}

/// Fetches `/` over plain HTTP through the tap; returns the status.
async fn get_page(addr: std::net::SocketAddr) -> anyhow::Result<u16> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: netdojo-demo\r\nConnection: close\r\n\r\n")
        .await?;
    let mut page = Vec::new();
    // The page is a few KiB; a bound keeps a broken server from filling memory.
    tokio::time::timeout(EVENT_TIMEOUT, (&mut s).take(1 << 20).read_to_end(&mut page))
        .await
        .context("the page did not arrive")??;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut res = httparse::Response::new(&mut headers);
    res.parse(&page)
        .context("the page's response is not HTTP")?;
    Ok(res.code.unwrap_or(0))
}

fn ids(ids: &[u64]) -> String {
    let v: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn summary(reporter: &Reporter, f: &DemoFacts) {
    reporter.emit(
        Observation::new(
            Layer::Application,
            "summary",
            "WebSockets in one run: an HTTP request that becomes a full-duplex channel, frames masked one way only, events routed by rooms and acknowledged, and missed events recovered from a numbered history — or lost without it",
        )
        .field("page_status", f.page_status)
        .field("upgrades", f.upgrades)
        .field("accepts_matched", f.accepts_matched)
        .field("client_frames", f.client_frames)
        .field("client_frames_masked", f.client_frames_masked)
        .field("server_frames", f.server_frames)
        .field("server_frames_masked", f.server_frames_masked)
        .field("broadcast_receivers", f.broadcast_receivers)
        .field("acks", f.acks)
        .field("sent_while_away", f.sent_while_away)
        .field("recovered", f.recovered_ids.len())
        .field("recovered_exactly", f.recovered_exactly())
        .field("replayed_without_recovery", f.replayed_without_recovery)
        .field("missed_without_recovery", f.missed_without_recovery)
        .with_fields_shown(),
    );
}
