//! `netdojo ws serve`: one TCP port, two protocols. A browser's `GET /` gets
//! the chat page over plain HTTP; its script then asks for `GET /ws` with
//! `Upgrade: websocket`, and the same connection turns into a WebSocket:
//! exactly why socket.io attaches to an HTTP server.
//!
//! Each accepted connection is served by hyper. An upgraded one gets two
//! tasks: the session (reads frames, handles events, heartbeats, limits) and
//! its writer (drains the client's bounded queue into the socket).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::WebSocketStream;
use tungstenite::Message;
use tungstenite::error::{CapacityError, Error as WsError};
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{Role, WebSocketConfig};

use super::hub::{ClientHandle, Hub, Outbound, REPLAY_ROOM};
use super::limits::{
    HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT, HELLO_TIMEOUT, MAX_CLIENTS, MAX_MESSAGE_BYTES,
    OUTBOUND_QUEUE, RATE_BURST, RATE_PER_SEC, RATE_STRIKES, SHUTDOWN_GRACE,
};
use super::outbox::{CloseOnDrop, Outbox};
use super::protocol::{ClientEvent, ErrorCode, ServerEvent, close};
use crate::layer::Layer;
use crate::report::{Observation, Reporter};

/// The page, its script and its style, in the binary: no CDN, no files.
const PAGE_HTML: &str = include_str!("page/index.html");
const PAGE_JS: &str = include_str!("page/app.js");
const PAGE_CSS: &str = include_str!("page/style.css");

/// Bytes tungstenite reads from the socket at once, allocated for every
/// connection's whole life. Chat frames are a few hundred bytes (a bigger
/// one just takes several reads); its default, 128 KiB per connection,
/// would dominate an idle server's memory.
const READ_BUFFER_BYTES: usize = 1024;

/// How long, and how many bytes, a closing connection is read and discarded
/// while waiting for the client to close its side (see [`linger`]).
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;

/// Frames written to a socket between two flushes, when that many are
/// waiting; and the bytes tungstenite gathers before it writes on its own.
/// Its buffer grows only as a burst needs it.
const WRITE_BATCH: usize = 64;
const WRITE_BUFFER_BYTES: usize = 16 * 1024;

/// Most bytes one client's socket may have waiting in tungstenite's write
/// buffer; the bounded queue in front of it is the real limit.
const MAX_WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// What `ws serve` can be told.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Clients connected at once; beyond it HTTP 503.
    pub max_clients: usize,
    /// Whether resume replays missed messages (the demo turns it off).
    pub recovery: bool,
    /// How often the server pings each client.
    pub heartbeat_interval: Duration,
    /// Silence after which a client is dropped.
    pub heartbeat_timeout: Duration,
    /// Events per second a client may send on average (0: no limit).
    pub rate_per_sec: u32,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_clients: MAX_CLIENTS,
            recovery: true,
            heartbeat_interval: HEARTBEAT_INTERVAL,
            heartbeat_timeout: HEARTBEAT_TIMEOUT,
            rate_per_sec: RATE_PER_SEC,
        }
    }
}

/// Everything a connection needs, shared.
struct Shared {
    hub: Mutex<Hub>,
    slots: Arc<Semaphore>,
    options: ServeOptions,
    reporter: Reporter,
    shutdown: watch::Receiver<bool>,
}

impl Shared {
    /// The hub, locked. Nothing in the hub is meant to panic; if something
    /// did, the lock it poisoned would still guard a usable hub (at worst one
    /// change half made), and one broken session must not take the chat
    /// down for everyone by poisoning it.
    fn hub(&self) -> std::sync::MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Serves the page and the WebSocket on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    options: ServeOptions,
    reporter: Reporter,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "listening",
            format!(
                "listening on {local}: the page is at http://{local}/ and the WebSocket at ws://{local}/ws, on the same TCP port"
            ),
        )
        .field("addr", local.to_string()),
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        hub: Mutex::new(Hub::new(options.recovery)),
        slots: Arc::new(Semaphore::new(options.max_clients)),
        options,
        reporter: reporter.clone(),
        shutdown: stop_rx,
    });
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = crate::endpoint::accept(&listener, &reporter) => accepted,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(route(req, peer, shared)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
    let _ = stop_tx.send(true);
    let connected = shared.options.max_clients - shared.slots.available_permits();
    reporter.emit(
        Observation::new(
            Layer::Session,
            "shutdown",
            format!(
                "shutting down: {connected} client(s) get a close frame with code 1001 (going away)"
            ),
        )
        .field("clients", connected as u64),
    );
    let all = u32::try_from(shared.options.max_clients).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, shared.slots.acquire_many(all)).await;
    Ok(())
}

type HttpResponse = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> HttpResponse {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// One HTTP request: the page, its assets, or the upgrade.
fn route(mut req: Request<Incoming>, peer: SocketAddr, shared: Arc<Shared>) -> HttpResponse {
    let path = req.uri().path().to_string();
    if req.method() != Method::GET {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET is served here\n",
        );
    }
    if path != "/ws" {
        let found = match path.as_str() {
            "/" | "/index.html" => Some(("text/html; charset=utf-8", PAGE_HTML)),
            "/app.js" => Some(("text/javascript; charset=utf-8", PAGE_JS)),
            "/style.css" => Some(("text/css; charset=utf-8", PAGE_CSS)),
            _ => None,
        };
        let response = match found {
            Some((kind, body)) => respond(StatusCode::OK, kind, body),
            None => respond(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
        };
        shared.reporter.emit(
            Observation::new(
                Layer::Application,
                "http_request",
                format!("plain HTTP from {peer}: GET {path} → {}", response.status()),
            )
            .field("path", path)
            .field("status", response.status().as_u16())
            .detail(),
        );
        return response;
    }

    let headers = req.headers();
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .unwrap_or("")
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|k| k.to_str().ok())
        .map(str::to_string);
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    let (Some(key), true, true, true) = (
        key,
        version_ok,
        has_token(header::UPGRADE, "websocket"),
        has_token(header::CONNECTION, "upgrade"),
    ) else {
        return respond(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "a WebSocket upgrade needs Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Key and Sec-WebSocket-Version: 13\n",
        );
    };
    let Ok(permit) = shared.slots.clone().try_acquire_owned() else {
        shared.reporter.emit(
            Observation::new(
                Layer::Application,
                "refused",
                format!(
                    "refused the upgrade from {peer} with HTTP 503: {} clients are connected, the limit",
                    shared.options.max_clients
                ),
            )
            .field("peer", peer.to_string()),
        );
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "the chat is full; try again later\n",
        );
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    shared.reporter.emit(
        Observation::new(
            Layer::Application,
            "upgrade",
            format!(
                "{peer} asked for GET /ws with Upgrade: websocket and Sec-WebSocket-Key {key}; the server answers 101 Switching Protocols with Sec-WebSocket-Accept {accept} = base64(SHA-1(key + \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\")), proving it speaks WebSocket; from now on this TCP connection carries frames, not HTTP"
            ),
        )
        .field("peer", peer.to_string())
        .field("key", key.clone())
        .field("accept", accept.clone())
        .detail(),
    );
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .write_buffer_size(WRITE_BUFFER_BYTES)
            .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        // Split here, not in `session`: an async fn keeps its arguments in
        // its state for its whole life, and the whole WebSocketStream, moved
        // into the split halves at once, would sit there dead (about 600
        // bytes of every connection).
        let (sink, stream) = ws.split();
        session(sink, stream, peer, &shared).await;
        drop(permit);
    });
    let mut r = respond(StatusCode::SWITCHING_PROTOCOLS, "text/plain", Bytes::new());
    r.headers_mut().remove(header::CONTENT_TYPE);
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

/// Why a session ended, for the close frame and the narration.
struct Ending {
    code: u16,
    reason: String,
}

impl Ending {
    fn new(code: u16, reason: impl Into<String>) -> Ending {
        Ending {
            code,
            reason: reason.into(),
        }
    }
}

/// A token bucket: `rate` events per second on average, `burst` at once.
struct RateLimit {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
    strikes: u32,
}

impl RateLimit {
    fn new(rate: u32) -> RateLimit {
        RateLimit {
            tokens: f64::from(RATE_BURST),
            rate: f64::from(rate),
            burst: f64::from(RATE_BURST),
            last: Instant::now(),
            strikes: 0,
        }
    }

    fn allow(&mut self) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// One client, from the upgrade to the close.
async fn session(
    sink: futures_util::stream::SplitSink<Ws, Message>,
    mut stream: futures_util::stream::SplitStream<Ws>,
    peer: SocketAddr,
    shared: &Shared,
) {
    let reporter = &shared.reporter;
    let handle = ClientHandle::new();
    // However this session ends, its writer learns that no frame will come.
    let _closer = CloseOnDrop(handle.outbox.clone());
    let writer = tokio::spawn(write_frames(sink, handle.outbox.clone()));
    let mut name: Option<String> = None;
    let mut limit = RateLimit::new(shared.options.rate_per_sec);
    let mut shutdown = shared.shutdown.clone();
    let mut heartbeat = tokio::time::interval(shared.options.heartbeat_interval);
    heartbeat.tick().await;
    let mut last_heard = Instant::now();
    let hello_deadline = tokio::time::sleep(HELLO_TIMEOUT);
    tokio::pin!(hello_deadline);

    let ending: Ending = loop {
        let frame = tokio::select! {
            f = stream.next() => f,
            _ = handle.outbox.kick.notified() => {
                if handle.outbox.is_too_slow() {
                    break Ending::new(close::POLICY, "too slow: the server will not queue more for you");
                }
                if handle.outbox.replaced.load(Ordering::Relaxed) {
                    break Ending::new(close::GOING_AWAY, "replaced by a new connection of the same client");
                }
                continue;
            }
            _ = shutdown.changed() => break Ending::new(close::GOING_AWAY, "the server is shutting down"),
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > shared.options.heartbeat_timeout {
                    break Ending::new(close::GOING_AWAY, "no answer to the server's pings: presumed gone");
                }
                handle.outbox.push(Outbound::Ping, OUTBOUND_QUEUE);
                reporter.emit(Observation::new(Layer::Session, "ping",
                    format!("heartbeat: ping to {}", name.as_deref().unwrap_or("a client"))).detail());
                continue;
            }
            _ = &mut hello_deadline, if name.is_none() => {
                break Ending::new(close::POLICY, "no hello in time");
            }
        };
        last_heard = Instant::now();
        let msg = match frame {
            None => break Ending::new(1006, "the connection ended without a close frame"),
            Some(Ok(m)) => m,
            Some(Err(e)) => break ending_for_error(&e),
        };
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(b) => {
                send_error(
                    &handle,
                    ErrorCode::BadEvent,
                    format!(
                        "events are JSON in text frames; got a binary frame of {} bytes",
                        b.len()
                    ),
                );
                continue;
            }
            Message::Ping(_) | Message::Frame(_) => continue,
            Message::Pong(_) => {
                reporter.emit(
                    Observation::new(
                        Layer::Session,
                        "pong",
                        format!(
                            "heartbeat: pong from {}: still there",
                            name.as_deref().unwrap_or("a client")
                        ),
                    )
                    .detail(),
                );
                continue;
            }
            Message::Close(frame) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                break Ending::new(
                    code,
                    format!(
                        "the client closed{}",
                        if reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {reason}")
                        }
                    ),
                );
            }
        };
        reporter.emit(
            Observation::new(
                Layer::Presentation,
                "frame",
                format!(
                    "text frame of {} bytes from {}, valid UTF-8: {}",
                    text.len(),
                    name.as_deref().unwrap_or(&peer.to_string()),
                    text.as_str()
                ),
            )
            .field("bytes", text.len() as u64)
            .detail(),
        );
        if !limit.allow() {
            limit.strikes += 1;
            if limit.strikes >= RATE_STRIKES {
                break Ending::new(close::POLICY, "too many events too fast, after warnings");
            }
            send_error(
                &handle,
                ErrorCode::RateLimited,
                format!(
                    "more than {} events per second; this one was dropped (warning {} of {})",
                    shared.options.rate_per_sec,
                    limit.strikes,
                    RATE_STRIKES - 1
                ),
            );
            continue;
        }
        let event: ClientEvent = match serde_json::from_str(text.as_str()) {
            Ok(e) => e,
            Err(e) => {
                send_error(
                    &handle,
                    ErrorCode::BadEvent,
                    format!("not a known event: {e}"),
                );
                continue;
            }
        };
        match (&name, event) {
            (
                None,
                ClientEvent::Hello {
                    name: wanted,
                    session,
                    resume,
                    server: seen_on,
                },
            ) => {
                let registered = shared
                    .hub()
                    .register(&wanted, handle.clone(), session.as_deref());
                let registered = match registered {
                    Ok(r) => r,
                    Err((code, message)) => {
                        send_error(&handle, code, message);
                        continue;
                    }
                };
                if registered.replaced_old {
                    reporter.emit(
                        Observation::new(
                            Layer::Session,
                            "replaced",
                            format!("{wanted} came back on a new connection with its session token; the old connection is closed (the server had not yet seen it die)"),
                        )
                        .field("name", wanted.clone()),
                    );
                }
                let (rooms, clients, instance) = {
                    let hub = shared.hub();
                    (
                        hub.room_names(),
                        hub.client_count(),
                        hub.instance().to_string(),
                    )
                };
                send_event(
                    &handle,
                    &ServerEvent::Welcome {
                        name: wanted.clone(),
                        session: registered.session,
                        rooms,
                        history: super::limits::HISTORY_PER_ROOM,
                        heartbeat_secs: shared.options.heartbeat_interval.as_secs(),
                        server: instance,
                    },
                );
                reporter.emit(
                    Observation::new(
                        Layer::Session,
                        "hello",
                        format!("{wanted} connected from {peer} ({clients} connected)"),
                    )
                    .field("name", wanted.clone())
                    .field("peer", peer.to_string()),
                );
                // Rooms the replaced connection was in resume from where it
                // joined them, unless the client says what it saw there.
                let mut resume = resume;
                if !registered.carried.is_empty() {
                    let mut merged = registered.carried.clone();
                    merged.extend(resume.take().unwrap_or_default());
                    resume = Some(merged);
                }
                if let Some(resume) = resume {
                    let done = shared.hub().resume(&wanted, &resume, seen_on.as_deref());
                    match done {
                        Ok(done) => {
                            for r in done {
                                let sentence = if r.restarted {
                                    format!(
                                        "{wanted} resumed #{} with message ids from an earlier life of the room (this server restarted, or forgot the room while it was empty): replaying it from the start, {} replayed, {} lost (older than the history); what it missed before cannot be counted",
                                        r.room, r.replayed, r.lost
                                    )
                                } else {
                                    format!(
                                        "{wanted} resumed #{} after message {}: {} replayed, {} lost (older than the history)",
                                        r.room, r.after, r.replayed, r.lost
                                    )
                                };
                                reporter.emit(
                                    Observation::new(Layer::Session, "resumed", sentence)
                                        .field("name", wanted.clone())
                                        .field("room", r.room)
                                        .field("after", r.after)
                                        .field("replayed", r.replayed)
                                        .field("lost", r.lost)
                                        .field("restarted", r.restarted),
                                );
                            }
                        }
                        Err((code, message)) => send_error(&handle, code, message),
                    }
                }
                name = Some(wanted);
            }
            (None, other) => send_error(
                &handle,
                ErrorCode::HelloFirst,
                format!("say hello with your name before {}", other.kind()),
            ),
            (Some(_), ClientEvent::Hello { .. }) => send_error(
                &handle,
                ErrorCode::HelloFirst,
                "hello was already said on this connection",
            ),
            (Some(me), event) => handle_event(me, event, &handle, shared),
        }
    };

    if let Some(me) = &name {
        let rooms = shared.hub().unregister(me, handle.connection);
        reporter.emit(
            Observation::new(
                Layer::Session,
                "disconnected",
                format!(
                    "{me} disconnected ({}: {}); left {}",
                    ending.code,
                    ending.reason,
                    if rooms.is_empty() {
                        "no rooms".to_string()
                    } else {
                        rooms
                            .iter()
                            .map(|r| format!("#{r}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            )
            .field("name", me.clone())
            .field("code", ending.code)
            .field("reason", ending.reason.clone()),
        );
    } else {
        reporter.emit(
            Observation::new(
                Layer::Session,
                "disconnected",
                format!(
                    "{peer} disconnected before hello ({}: {})",
                    ending.code, ending.reason
                ),
            )
            .field("code", ending.code)
            .field("reason", ending.reason.clone())
            .detail(),
        );
    }
    // The close frame goes after whatever is queued (the writer sends a
    // slow client its close at once, instead of its backlog).
    let close_frame = (ending.code >= 1000 && ending.code != 1005 && ending.code != 1006)
        .then(|| Outbound::Close(ending.code, ending.reason.clone()));
    handle.outbox.close(close_frame);
    drop(handle);
    // A peer that reads nothing cannot even take its close frame: after the
    // grace period its socket is simply closed.
    let abort = writer.abort_handle();
    match tokio::time::timeout(SHUTDOWN_GRACE, writer).await {
        Ok(Ok(sink)) => {
            // Boxed: the closing phase is brief, and inline its state would
            // make every connection's task bigger for its whole life.
            if let Ok(ws) = sink.reunite(stream) {
                Box::pin(linger(ws)).await;
            }
        }
        Ok(Err(_)) => {}
        Err(_) => abort.abort(),
    }
}

/// After its close frame the server waits for the client to close too (RFC
/// 6455 §7.1.1) instead of closing TCP at once: closing with the client's
/// frames still unread makes the kernel answer with a reset, which can
/// destroy the close frame before the client reads it, so the client would
/// never learn why (1008, 1009...). So: send FIN, then read and discard
/// until the client's FIN, for a bounded time and a bounded number of bytes.
async fn linger(ws: Ws) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut io = ws.into_inner();
    let _ = io.shutdown().await;
    let drain = async {
        // On the heap, only now: a buffer in the future itself would cost
        // every connection 4 KiB for its whole life.
        let mut buf = vec![0u8; 4096];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

/// A chat event from a client who said hello.
fn handle_event(me: &str, event: ClientEvent, handle: &ClientHandle, shared: &Shared) {
    let reporter = &shared.reporter;
    let mut hub = shared.hub();
    if !hub.is_current(me, handle.connection) {
        // Replaced by a newer connection under the same name: this one is
        // being closed, and must not join, say or leave for the new one.
        return;
    }
    let result = match event {
        // The session answers a second hello itself; nothing to do here.
        ClientEvent::Hello { .. } => Ok(()),
        ClientEvent::Join { room } => hub.join(me, &room).map(|members| {
            reporter.emit(
                Observation::new(
                    Layer::Application,
                    "join",
                    format!(
                        "{me} joined #{room} ({} member{})",
                        members.len(),
                        if members.len() == 1 { "" } else { "s" }
                    ),
                )
                .field("name", me.to_string())
                .field("room", room)
                .field("members", members.len() as u64),
            );
        }),
        ClientEvent::Leave { room } => hub.leave(me, &room).map(|()| {
            reporter.emit(
                Observation::new(Layer::Application, "leave", format!("{me} left #{room}"))
                    .field("name", me.to_string())
                    .field("room", room),
            );
        }),
        ClientEvent::Say { room, text, ack } => hub.say(me, &room, &text).map(|id| {
            if let Some(ack) = ack {
                send_event(handle, &ServerEvent::Ack { ack, id: Some(id) });
            }
            reporter.emit(
                Observation::new(
                    Layer::Application,
                    "message",
                    format!(
                        "#{room} message {id} from {me}, stored and sent to the room{}",
                        if ack.is_some() { ", acknowledged" } else { "" }
                    ),
                )
                .field("room", room)
                .field("id", id)
                .field("from", me.to_string())
                .detail(),
            );
        }),
        ClientEvent::Whisper { to, text, ack } => hub.whisper(me, &to, &text).map(|()| {
            if let Some(ack) = ack {
                send_event(handle, &ServerEvent::Ack { ack, id: None });
            }
            reporter.emit(
                Observation::new(
                    Layer::Application,
                    "whisper",
                    format!("{me} whispered to {to}"),
                )
                .field("from", me.to_string())
                .field("to", to)
                .detail(),
            );
        }),
        ClientEvent::Typing { room } => hub.typing(me, &room),
    };
    drop(hub);
    if let Err((code, message)) = result {
        send_error(handle, code, message);
    }
}

fn send_event(handle: &ClientHandle, event: &ServerEvent) {
    // Answers to this client's own events; room for a replay, like history.
    handle.outbox.push(
        Outbound::Text(event.to_text().into()),
        OUTBOUND_QUEUE + REPLAY_ROOM,
    );
}

fn send_error(handle: &ClientHandle, code: ErrorCode, message: impl Into<String>) {
    send_event(
        handle,
        &ServerEvent::Error {
            code,
            message: message.into(),
        },
    );
}

/// The close code for a frame-level error from tungstenite.
fn ending_for_error(e: &WsError) -> Ending {
    match e {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => Ending::new(
            close::TOO_BIG,
            format!("a message of {size} bytes; the limit is {max_size}"),
        ),
        WsError::Capacity(e) => Ending::new(close::TOO_BIG, e.to_string()),
        WsError::Utf8(_) => Ending::new(close::INVALID_UTF8, "a text frame that is not UTF-8"),
        WsError::Protocol(p) => Ending::new(1002, format!("protocol error: {p}")),
        other => Ending::new(1006, format!("the connection failed: {other}")),
    }
}

/// Drains one client's queue into its socket until the queue ends or a
/// close frame is written. Frames already waiting are written together, up
/// to [`WRITE_BATCH`], and flushed once: under load, one system call carries
/// many frames instead of one each. Once the client is marked too slow, what
/// is still queued is skipped and the close (1008) goes next.
async fn write_frames(
    mut sink: futures_util::stream::SplitSink<Ws, Message>,
    outbox: Arc<Outbox>,
) -> futures_util::stream::SplitSink<Ws, Message> {
    'queue: while let Some(mut out) = outbox.next().await {
        let mut batch = 0;
        loop {
            if outbox.is_too_slow() && !matches!(out, Outbound::Close(..)) {
                out = Outbound::Close(
                    close::POLICY,
                    "too slow: the server will not queue more for you".to_string(),
                );
            }
            let result = match out {
                Outbound::Text(t) => sink.feed(Message::Text(t)).await,
                Outbound::Ping => sink.feed(Message::Ping(Bytes::new())).await,
                Outbound::Close(code, reason) => {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code: CloseCode::from(code),
                            reason: reason.into(),
                        })))
                        .await;
                    break 'queue;
                }
            };
            if result.is_err() {
                break 'queue;
            }
            batch += 1;
            match outbox.try_next() {
                Some(next) if batch < WRITE_BATCH => out = next,
                Some(next) => {
                    if sink.flush().await.is_err() {
                        break 'queue;
                    }
                    batch = 0;
                    out = next;
                }
                None => break,
            }
        }
        if sink.flush().await.is_err() {
            break;
        }
    }
    let _ = sink.close().await;
    sink
}
