//! `netdojo ws chat`: a terminal client for `netdojo ws serve`.
//!
//! Lines from stdin are said to the current room; `/join R`, `/leave R`,
//! `/w NAME TEXT`, `/who` and `/quit` do the rest. The client remembers the
//! last message id it saw in each room; when the connection drops it
//! reconnects with backoff and says `hello {resume: {room: id}}`, so the
//! server replays exactly what it missed, and ids already seen are skipped.
//! When stdin ends (piped input), it waits for the acks of what it said,
//! closes with 1000 and exits.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use colored::{Color, Colorize};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::hub::check_name;
use super::protocol::{ClientEvent, ErrorCode, PresenceChange, ServerEvent, close};
use crate::cli::WsChatArgs;
use crate::error::UsageError;
use crate::layer::Layer;
use crate::report::{Observation, Reporter};

/// First wait before reconnecting; doubled after each failure up to
/// [`BACKOFF_MAX`], with up to half again of random jitter so that many
/// clients dropped at once do not all come back in the same millisecond.
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How long to wait, once stdin has ended, for the server to acknowledge
/// what was said before closing anyway.
const ACK_WAIT: Duration = Duration::from_secs(3);

/// Lines of stdin read ahead of the connection.
const INPUT_QUEUE: usize = 64;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Everything the client remembers across connections.
struct State {
    name: String,
    /// The server's token for our name, from `welcome`: shown again on
    /// reconnect, it takes the name back from our own dead connection.
    session: Option<String>,
    /// The `server` of the last `welcome`: the ids in `last_seen` are
    /// that server process's.
    server: Option<String>,
    room: String,
    /// Rooms we asked to be in: rejoined on every connection, whether or
    /// not the server's confirmation arrived before the last one dropped.
    wanted: BTreeSet<String>,
    /// Room → the last message id seen there (rooms the server confirmed).
    last_seen: BTreeMap<String, u64>,
    members: BTreeMap<String, Vec<String>>,
    /// Ack numbers said and not yet acknowledged → the room it was said in
    /// (none for a whisper).
    pending: BTreeMap<u64, Option<String>>,
    next_ack: u64,
    stdin_done: bool,
}

/// How one connection ended.
enum End {
    /// `/quit`, or stdin ended and the acks came: exit 0.
    Done,
    /// The connection was lost or the server went away: reconnect.
    Lost(String),
}

/// Runs the terminal client until `/quit` or the end of stdin.
pub async fn run(args: &WsChatArgs, reporter: &Reporter) -> anyhow::Result<()> {
    check_url(&args.url)?;
    check_name("name", &args.name).map_err(|(_, m)| UsageError(format!("--name: {m}")))?;
    check_name("room name", &args.room).map_err(|(_, m)| UsageError(format!("--room: {m}")))?;

    let (line_tx, mut lines) = mpsc::channel::<String>(INPUT_QUEUE);
    tokio::spawn(async move {
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = stdin.next_line().await {
            if line_tx.send(line).await.is_err() {
                break;
            }
        }
    });

    let mut state = State {
        name: args.name.clone(),
        session: None,
        server: None,
        room: args.room.clone(),
        wanted: BTreeSet::from([args.room.clone()]),
        last_seen: BTreeMap::new(),
        members: BTreeMap::new(),
        pending: BTreeMap::new(),
        next_ack: 1,
        stdin_done: false,
    };
    let mut backoff = BACKOFF_START;
    let mut first = true;
    // Messages said whose ack never came (their connection dropped first).
    let mut unacknowledged = 0;
    loop {
        // Input over while disconnected: there is nothing left to say.
        if !first && (state.stdin_done || (lines.is_closed() && lines.is_empty())) {
            if unacknowledged > 0 {
                anyhow::bail!(
                    "the input ended while disconnected from {}; {unacknowledged} message(s) were never acknowledged",
                    args.url
                );
            }
            reporter.emit(Observation::new(
                Layer::Session,
                "input_ended",
                "the input ended while disconnected: nothing left to say, so no reconnect",
            ));
            return Ok(());
        }
        let ws = match tokio_tungstenite::connect_async(args.url.as_str()).await {
            Ok((ws, _)) => ws,
            Err(e) if first => {
                anyhow::bail!("cannot connect to {}: {}", args.url, describe(&e));
            }
            Err(e) => {
                let wait = jittered(backoff);
                reporter.emit(Observation::new(
                    Layer::Session,
                    "reconnecting",
                    format!(
                        "cannot reconnect ({}); trying again in {:.1} s",
                        describe(&e),
                        wait.as_secs_f64()
                    ),
                ));
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = BACKOFF_START;
        match connection(ws, &args.url, first, &mut state, &mut lines, reporter).await? {
            End::Done => return Ok(()),
            End::Lost(why) => {
                if !state.pending.is_empty() {
                    reporter.emit(
                        Observation::new(
                            Layer::Application,
                            "unacknowledged",
                            format!(
                                "{} message(s) had no ack when the connection dropped: the server may or may not have stored them, and this client does not send them again (at most once)",
                                state.pending.len()
                            ),
                        )
                        .field("count", state.pending.len()),
                    );
                    unacknowledged += state.pending.len();
                    state.pending.clear();
                }
                let wait = jittered(backoff);
                reporter.emit(
                    Observation::new(
                        Layer::Session,
                        "disconnected",
                        format!(
                            "{why}; reconnecting in {:.1} s and resuming where we left off",
                            wait.as_secs_f64()
                        ),
                    )
                    .field("reason", why.clone()),
                );
                tokio::time::sleep(wait).await;
            }
        }
        first = false;
    }
}

/// `ws://host:port/path` only: the chat is plain WebSocket on a local network.
fn check_url(url: &str) -> Result<(), UsageError> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| UsageError(format!("{url:?} is not a URL; try ws://127.0.0.1:9001/ws")))?;
    match uri.scheme_str() {
        Some("ws") => {}
        Some("wss") => {
            return Err(UsageError(format!(
                "{url}: wss:// (WebSocket over TLS) is not supported; netdojo's server speaks ws://"
            )));
        }
        _ => {
            return Err(UsageError(format!(
                "{url:?} must start with ws://, e.g. ws://127.0.0.1:9001/ws"
            )));
        }
    }
    if uri.host().is_none() {
        return Err(UsageError(format!(
            "{url:?} has no host; try ws://127.0.0.1:9001/ws"
        )));
    }
    Ok(())
}

fn describe(e: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused: nothing is listening there".to_string()
        }
        Error::Http(resp) => format!(
            "the server answered HTTP {} instead of upgrading",
            resp.status()
        ),
        other => other.to_string(),
    }
}

fn jittered(d: Duration) -> Duration {
    d + d.mul_f64(rand::random::<f64>() / 2.0)
}

/// A name in a colour of its own, the same every time; the name itself
/// carries the meaning, so nothing is lost without colour.
fn paint(name: &str) -> String {
    const PALETTE: [Color; 6] = [
        Color::BrightCyan,
        Color::BrightGreen,
        Color::BrightYellow,
        Color::BrightMagenta,
        Color::BrightBlue,
        Color::BrightRed,
    ];
    let h = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    name.color(PALETTE[h as usize % PALETTE.len()])
        .bold()
        .to_string()
}

async fn send(ws: &mut Ws, event: &ClientEvent) -> Result<(), String> {
    ws.send(Message::text(event.to_text()))
        .await
        .map_err(|e| format!("sending failed: {e}"))
}

/// One connection: hello (with resume after the first), then events both ways.
async fn connection(
    mut ws: Ws,
    url: &str,
    first: bool,
    state: &mut State,
    lines: &mut mpsc::Receiver<String>,
    reporter: &Reporter,
) -> anyhow::Result<End> {
    // Resume the rooms we were confirmed in, after the last id seen there.
    let resume = (!first && !state.last_seen.is_empty()).then(|| state.last_seen.clone());
    if let Err(e) = send(
        &mut ws,
        &ClientEvent::Hello {
            name: state.name.clone(),
            session: state.session.clone(),
            server: resume.as_ref().and(state.server.clone()),
            resume,
        },
    )
    .await
    {
        return Ok(End::Lost(e));
    }
    let mut welcomed = false;
    // Input waits until the server has said hello back and we are in the
    // rooms we asked for: so piped lines go where meant.
    let mut ready = false;
    let ack_deadline = tokio::time::sleep(Duration::from_secs(86_400));
    tokio::pin!(ack_deadline);
    loop {
        tokio::select! {
            line = lines.recv(), if ready && !state.stdin_done => match line {
                Some(line) => {
                    if let Some(end) = command(&mut ws, &line, state, reporter).await {
                        return Ok(end);
                    }
                }
                None => {
                    state.stdin_done = true;
                    if state.pending.is_empty() {
                        return Ok(goodbye(&mut ws).await);
                    }
                    ack_deadline.as_mut().reset(tokio::time::Instant::now() + ACK_WAIT);
                }
            },
            _ = &mut ack_deadline, if state.stdin_done => {
                reporter.emit(Observation::new(Layer::Application, "unacknowledged",
                    format!("{} message(s) were not acknowledged within {ACK_WAIT:?}: the server may not have stored them", state.pending.len())));
                return Ok(goodbye(&mut ws).await);
            }
            frame = ws.next() => {
                let msg = match frame {
                    None => return Ok(End::Lost("the connection ended without a close frame".into())),
                    Some(Err(e)) => return Ok(End::Lost(format!("the connection failed: {e}"))),
                    Some(Ok(m)) => m,
                };
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Close(frame) => {
                        let (code, reason) = frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
                        return match code {
                            close::POLICY | close::TOO_BIG | close::INVALID_UTF8 => {
                                anyhow::bail!("the server closed the connection with {code}: {reason}")
                            }
                            _ => Ok(End::Lost(format!("the server closed the connection ({code}: {reason})"))),
                        };
                    }
                    _ => continue,
                };
                let Ok(event) = serde_json::from_str::<ServerEvent>(text.as_str()) else {
                    reporter.emit(Observation::new(Layer::Presentation, "unknown_event",
                        format!("the server sent something that is not a known event: {}", text.as_str())).detail());
                    continue;
                };
                if let ServerEvent::Presence { name, event: PresenceChange::Joined, .. } = &event
                    && *name == state.name
                {
                    ready = true;
                }
                if let ServerEvent::Welcome { session, server, .. } = &event {
                    welcomed = true;
                    state.session = Some(session.clone());
                    state.server = Some(server.clone());
                    // Rooms asked for but never confirmed (the first
                    // connection, or one that dropped before the answer):
                    // a plain join, with no history to replay.
                    let unconfirmed: Vec<String> = state
                        .wanted
                        .iter()
                        .filter(|r| !state.last_seen.contains_key(*r))
                        .cloned()
                        .collect();
                    ready = unconfirmed.is_empty();
                    for room in unconfirmed {
                        if let Err(e) = send(&mut ws, &ClientEvent::Join { room }).await {
                            return Ok(End::Lost(e));
                        }
                    }
                }
                if let ServerEvent::Error { code: ErrorCode::NameTaken | ErrorCode::BadName, message } = &event
                    && !welcomed
                {
                    let host = url.trim_start_matches("ws://").split('/').next().unwrap_or(url);
                    anyhow::bail!("name {:?} is refused by {host}: {message}", state.name);
                }
                show(&event, state, reporter, first);
                if state.stdin_done && state.pending.is_empty() {
                    return Ok(goodbye(&mut ws).await);
                }
            }
        }
    }
}

/// Closes with 1000 and waits briefly for the server's close in return.
async fn goodbye(ws: &mut Ws) -> End {
    let _ = ws
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
    End::Done
}

/// One line of input: a command or a message. Returns how the connection
/// ends, if it does.
async fn command(ws: &mut Ws, line: &str, state: &mut State, reporter: &Reporter) -> Option<End> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return None;
    }
    let mut words = line.splitn(3, ' ');
    let event = match (words.next().unwrap_or(""), words.next(), words.next()) {
        ("/quit", _, _) => return Some(goodbye(ws).await),
        ("/join", Some(room), None) => {
            state.room = room.to_string();
            state.wanted.insert(room.to_string());
            ClientEvent::Join {
                room: room.to_string(),
            }
        }
        ("/leave", Some(room), None) => {
            state.wanted.remove(room);
            if state.room == room
                && let Some(other) = state.wanted.iter().next()
            {
                state.room = other.clone(); // say goes to a room we are still in
            }
            ClientEvent::Leave {
                room: room.to_string(),
            }
        }
        ("/w", Some(to), Some(text)) => {
            let ack = state.next_ack;
            state.next_ack += 1;
            state.pending.insert(ack, None);
            ClientEvent::Whisper {
                to: to.to_string(),
                text: text.to_string(),
                ack: Some(ack),
            }
        }
        ("/who", None, None) => {
            let members = state.members.get(&state.room).cloned().unwrap_or_default();
            reporter.emit(
                Observation::new(
                    Layer::Application,
                    "who",
                    format!(
                        "#{}: {}",
                        state.room,
                        if members.is_empty() {
                            "nobody yet".to_string()
                        } else {
                            members
                                .iter()
                                .map(|m| paint(m))
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                )
                .field("room", state.room.clone())
                .field("members", members),
            );
            return None;
        }
        (cmd, _, _) if cmd.starts_with('/') => {
            reporter.emit(Observation::new(Layer::Application, "usage",
                "commands: /join ROOM, /leave ROOM, /w NAME TEXT, /who, /quit; anything else is said to the room"));
            return None;
        }
        _ => {
            let ack = state.next_ack;
            state.next_ack += 1;
            state.pending.insert(ack, Some(state.room.clone()));
            ClientEvent::Say {
                room: state.room.clone(),
                text: line.to_string(),
                ack: Some(ack),
            }
        }
    };
    send(ws, &event).await.err().map(End::Lost)
}

/// Shows one server event and updates what the client remembers.
fn show(event: &ServerEvent, state: &mut State, reporter: &Reporter, first: bool) {
    let obs = match event {
        ServerEvent::Welcome { name, history, .. } => Observation::new(
            Layer::Session,
            "welcome",
            if first {
                format!("connected as {}; each room keeps its last {history} messages for whoever misses them", paint(name))
            } else {
                format!("reconnected as {}", paint(name))
            },
        )
        .field("name", name.clone()),
        ServerEvent::Message { id, room, from, text, replayed, .. } => {
            let seen = state.last_seen.entry(room.clone()).or_insert(0);
            if *id <= *seen {
                return; // already shown: a replay overlapping what we saw
            }
            *seen = *id;
            Observation::new(
                Layer::Application,
                "message",
                format!("#{room} {}: {text}{}", paint(from), if *replayed { "  (recovered)" } else { "" }),
            )
            .field("room", room.clone())
            .field("id", *id)
            .field("from", from.clone())
            .field("message", text.clone())
            .field("replayed", *replayed)
        }
        ServerEvent::Ack { ack, id } => {
            let room = state.pending.remove(ack).flatten();
            Observation::new(
                Layer::Application,
                "ack",
                match (id, room) {
                    (Some(id), Some(room)) => format!("✓ the server stored your message as #{room} message {id}"),
                    (Some(id), None) => format!("✓ the server stored your message as message {id}"),
                    (None, _) => "✓ whisper delivered".to_string(),
                },
            )
            .field("ack", *ack)
            .field("id", id.unwrap_or(0))
        }
        ServerEvent::Whisper { from, to, text, .. } => Observation::new(
            Layer::Application,
            "whisper",
            format!("{} → {} (whisper): {text}", paint(from), paint(to)),
        )
        .field("from", from.clone())
        .field("to", to.clone())
        .field("message", text.clone()),
        ServerEvent::Presence { room, name, event, members } => {
            state.members.insert(room.clone(), members.clone());
            if *name == state.name && *event == PresenceChange::Left {
                state.last_seen.remove(room);
            } else if *name == state.name {
                state.last_seen.entry(room.clone()).or_insert(0);
            }
            let verb = match event {
                PresenceChange::Joined => "joined",
                PresenceChange::Left => "left",
            };
            Observation::new(
                Layer::Application,
                "presence",
                format!("{} {verb} #{room}; here: {}", paint(name), members.iter().map(|m| paint(m)).collect::<Vec<_>>().join(", ")),
            )
            .field("room", room.clone())
            .field("name", name.clone())
            .field("change", verb)
            .field("members", members.clone())
        }
        ServerEvent::Resumed { room, after, replayed, lost, restarted } => {
            // The replay that follows counts from the server's `after`: after
            // a restart, ids start again at 1 and ours mean nothing there.
            state.last_seen.insert(room.clone(), *after);
            let too_old = if *lost > 0 {
                format!("; {lost} too old to recover (older than the room's history)")
            } else {
                String::new()
            };
            Observation::new(
                Layer::Session,
                "resumed",
                if *restarted {
                    format!("back in #{room}, but the server has restarted (or forgot the room while it was empty) since we were here: its message ids start again, and whatever was said after our last message is gone; recovering {replayed} message(s) said since{too_old}")
                } else {
                    format!("back in #{room} after message {after}: recovering {replayed} missed message(s){too_old}")
                },
            )
            .field("room", room.clone())
            .field("after", *after)
            .field("replayed", *replayed)
            .field("lost", *lost)
            .field("restarted", *restarted)
        }
        ServerEvent::Typing { room, name } => Observation::new(
            Layer::Application,
            "typing",
            format!("{} is typing in #{room}", paint(name)),
        )
        .detail(),
        ServerEvent::Error { code, message } => Observation::new(
            Layer::Application,
            "error",
            format!("the server refused that: {message}"),
        )
        .field("code", serde_json::to_value(code).unwrap_or_default()),
    };
    reporter.emit(obs);
}
