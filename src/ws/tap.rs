//! `netdojo ws tap`: a transparent TCP proxy that narrates WebSocket.
//!
//! For each client it accepts, the tap opens its own connection to the
//! upstream server and copies bytes both ways, unchanged, passing a
//! half-close on as a half-close. On the side it reads what crosses: the
//! HTTP requests and responses (httparse), the upgrade with its key and
//! accept (checked with tungstenite's `derive_accept_key`), then every
//! WebSocket frame in both directions ([`super::frames`]). Nothing it reads
//! can change what it forwards: narration is a copy, and anything it cannot
//! parse is reported once and then forwarded unread.
//!
//! It knows nothing of netdojo's chat, so it works in front of any
//! WebSocket server; the chat's events simply show up as JSON.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tungstenite::handshake::derive_accept_key;

use super::frames::{Decoded, FrameDecoder, Opcode, WireFrame};
use crate::layer::Layer;
use crate::report::{Observation, Reporter, duration, thousands, ws_frames};

/// Client connections proxied at once. Each holds two sockets (four file
/// descriptors' worth of kernel buffers with upstream's) and two relay
/// buffers; beyond it, clients wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 256;

/// Bytes read per `read()` in each direction. A chat frame is far smaller;
/// a page fits in a few reads.
pub const RELAY_BUFFER: usize = 16 * 1024;

/// The largest HTTP head (request or status line and headers) the tap reads.
/// Browsers send a few hundred bytes to a couple of KiB; past this the
/// direction is forwarded unread.
pub const MAX_HTTP_HEAD: usize = 16 * 1024;

/// Headers per HTTP head: httparse needs a fixed array.
const MAX_HEADERS: usize = 64;

/// Requests remembered while their responses are pending (pipelining).
const MAX_PENDING_REQUESTS: usize = 32;

/// After Ctrl-C, open connections get this long to finish before being cut.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Which way bytes are going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    /// `client_to_server` or `server_to_client`, in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Direction::ClientToServer => "client_to_server",
            Direction::ServerToClient => "server_to_client",
        }
    }

    /// `client → server`, in sentences.
    pub fn arrow(self) -> &'static str {
        match self {
            Direction::ClientToServer => "client → server",
            Direction::ServerToClient => "server → client",
        }
    }

    /// Who sends in this direction.
    pub fn sender(self) -> &'static str {
        match self {
            Direction::ClientToServer => "client",
            Direction::ServerToClient => "server",
        }
    }

    fn index(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 1,
        }
    }
}

/// What the tap has seen, across all connections: the demo reads it.
#[derive(Debug, Default)]
pub struct TapCounters {
    pub connections: AtomicU64,
    pub upgrades: AtomicU64,
    pub accepts_matched: AtomicU64,
    pub client_frames: AtomicU64,
    pub client_frames_masked: AtomicU64,
    pub server_frames: AtomicU64,
    pub server_frames_masked: AtomicU64,
    pub messages: AtomicU64,
    pub json_messages: AtomicU64,
    pub pings: AtomicU64,
    pub pongs: AtomicU64,
    pub closes: AtomicU64,
    /// Connections whose both directions are done (the "closed" line).
    pub connections_closed: AtomicU64,
    pub bytes_client_to_server: AtomicU64,
    pub bytes_server_to_client: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One HTTP head, request or response, as the tap read it.
#[derive(Clone, Debug)]
pub struct HttpHead {
    /// A request's method and path, or a response's status and reason.
    line: StartLine,
    /// The `1` of HTTP/1.1.
    pub version: u8,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Bytes up to and including the blank line.
    pub len: usize,
}

#[derive(Clone, Debug)]
enum StartLine {
    Request { method: String, path: String },
    Response { status: u16, reason: String },
}

impl HttpHead {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// Method and path of a request (empty for a response).
    pub fn request_line(&self) -> (&str, &str) {
        match &self.line {
            StartLine::Request { method, path } => (method, path),
            StartLine::Response { .. } => ("", ""),
        }
    }

    /// A response's status (0 for a request).
    pub fn status(&self) -> u16 {
        match &self.line {
            StartLine::Response { status, .. } => *status,
            StartLine::Request { .. } => 0,
        }
    }

    /// A response's reason phrase.
    pub fn reason(&self) -> &str {
        match &self.line {
            StartLine::Response { reason, .. } => reason,
            StartLine::Request { .. } => "",
        }
    }

    /// `Content-Length`, when present and a number.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }

    /// `Transfer-Encoding: chunked`.
    pub fn chunked(&self) -> bool {
        self.header_has_token("transfer-encoding", "chunked")
    }

    /// A request asking for WebSocket: `Upgrade: websocket` and
    /// `Connection: Upgrade`.
    pub fn is_websocket_upgrade(&self) -> bool {
        self.header_has_token("upgrade", "websocket")
            && self.header_has_token("connection", "upgrade")
    }

    /// Reads a request or response head at the start of `buf`: `Ok(None)`
    /// until the blank line has arrived.
    pub fn parse(dir: Direction, buf: &[u8]) -> Result<Option<HttpHead>, String> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let owned = |hs: &[httparse::Header<'_>]| {
            hs.iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect::<Vec<_>>()
        };
        match dir {
            Direction::ClientToServer => {
                let mut req = httparse::Request::new(&mut headers);
                match req.parse(buf).map_err(|e| e.to_string())? {
                    httparse::Status::Partial => Ok(None),
                    httparse::Status::Complete(len) => Ok(Some(HttpHead {
                        line: StartLine::Request {
                            method: req.method.unwrap_or("").to_string(),
                            path: req.path.unwrap_or("").to_string(),
                        },
                        version: req.version.unwrap_or(1),
                        headers: owned(req.headers),
                        len,
                    })),
                }
            }
            Direction::ServerToClient => {
                let mut res = httparse::Response::new(&mut headers);
                match res.parse(buf).map_err(|e| e.to_string())? {
                    httparse::Status::Partial => Ok(None),
                    httparse::Status::Complete(len) => Ok(Some(HttpHead {
                        line: StartLine::Response {
                            status: res.code.unwrap_or(0),
                            reason: res.reason.unwrap_or("").to_string(),
                        },
                        version: res.version.unwrap_or(1),
                        headers: owned(res.headers),
                        len,
                    })),
                }
            }
        }
    }
}

/// Proxies every connection on `listener` to `upstream`, narrating it, until
/// `shutdown`.
pub async fn run(
    listener: TcpListener,
    upstream: SocketAddr,
    reporter: Reporter,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    run_counting(
        listener,
        upstream,
        reporter,
        shutdown,
        Arc::new(TapCounters::default()),
    )
    .await
}

/// [`run`], adding what it sees to `counters`.
pub async fn run_counting(
    listener: TcpListener,
    upstream: SocketAddr,
    reporter: Reporter,
    shutdown: impl Future<Output = ()>,
    counters: Arc<TapCounters>,
) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "listening",
            format!(
                "listening on {local}, forwarding each connection to {upstream}: point a WebSocket client at the tap instead of the server, and every byte passes through unchanged while the tap shows what it means"
            ),
        )
        .field("addr", local.to_string())
        .field("upstream", upstream.to_string())
        .field("max_connections", MAX_CONNECTIONS),
    );

    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    let mut next_id: u64 = 1;
    tokio::pin!(shutdown);
    loop {
        if slots.available_permits() == 0 {
            reporter.emit(Observation::new(
                Layer::Transport,
                "at_capacity",
                format!("all {MAX_CONNECTIONS} connection slots are busy: new clients wait in the kernel's accept queue"),
            ).field("max_connections", MAX_CONNECTIONS));
        }
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot?,
            _ = &mut shutdown => break,
        };
        let (client, peer) = tokio::select! {
            accepted = crate::endpoint::accept(&listener, &reporter) => accepted,
            _ = &mut shutdown => break,
        };
        let id = next_id;
        next_id += 1;
        let reporter = reporter.clone();
        let counters = counters.clone();
        connections.spawn(async move {
            relay(client, peer, upstream, id, &reporter, &counters).await;
            drop(slot);
        });
        while connections.try_join_next().is_some() {}
    }

    while connections.try_join_next().is_some() {}
    let open = connections.len();
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "shutting_down",
            format!(
                "shutting down: no new connections; {open} open connection(s) get {} to finish",
                duration(SHUTDOWN_GRACE)
            ),
        )
        .field("open_connections", open),
    );
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    let cut = if drained.is_err() {
        let left = connections.len();
        connections.abort_all();
        left
    } else {
        0
    };
    let served = counters.connections.load(Ordering::Relaxed);
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "stopped",
            format!(
                "stopped: relayed {served} connection(s), {} WebSocket upgrade(s){}",
                counters.upgrades.load(Ordering::Relaxed),
                if cut > 0 {
                    format!("; {cut} connection(s) cut at the deadline")
                } else {
                    String::new()
                }
            ),
        )
        .field("connections", served)
        .field("upgrades", counters.upgrades.load(Ordering::Relaxed))
        .field("cut", cut),
    );
    Ok(())
}

/// Why one direction stopped relaying.
struct RelayError {
    dir: Direction,
    writing: bool,
    error: io::Error,
}

/// Relays one client to upstream and back until both directions close.
async fn relay(
    client: TcpStream,
    peer: SocketAddr,
    upstream: SocketAddr,
    id: u64,
    reporter: &Reporter,
    counters: &Arc<TapCounters>,
) {
    bump(&counters.connections);
    let server = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(e) => {
            reporter.emit(
                Observation::new(
                    Layer::Transport,
                    "upstream_error",
                    format!(
                        "#{id} {peer} connected, but the tap cannot reach {upstream} ({}): it closes the client's connection",
                        crate::tcp::server::describe_io_error(&e)
                    ),
                )
                .field("id", id)
                .field("peer", peer.to_string())
                .field("upstream", upstream.to_string())
                .field("error", e.to_string()),
            );
            return;
        }
    };
    let via = server
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "connection",
            format!(
                "#{id} {peer} connected; the tap opened its own TCP connection {via} → {upstream}: two connections, bytes copied between them unchanged"
            ),
        )
        .field("id", id)
        .field("peer", peer.to_string())
        .field("upstream", upstream.to_string())
        .field("via", via),
    );
    // A tap must not add delay: Nagle's algorithm would hold back small
    // frames waiting for an ACK.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);

    let narration = Mutex::new(Narration::new(id, reporter.clone(), counters.clone()));
    let (client_rd, client_wr) = client.into_split();
    let (server_rd, server_wr) = server.into_split();
    let ended = tokio::try_join!(
        pump(client_rd, server_wr, Direction::ClientToServer, &narration),
        pump(server_rd, client_wr, Direction::ServerToClient, &narration),
    );
    let mut narration = narration.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = &ended {
        let who = match (e.dir, e.writing) {
            (Direction::ClientToServer, false) | (Direction::ServerToClient, true) => "client",
            _ => "upstream server",
        };
        reporter.emit(
            Observation::new(
                Layer::Transport,
                "connection_error",
                format!(
                    "#{id} the {who}'s side failed ({}): the tap closes both connections",
                    crate::tcp::server::describe_io_error(&e.error)
                ),
            )
            .field("id", id)
            .field("side", who)
            .field("error", e.error.to_string()),
        );
    }
    narration.finish(ended.is_ok());
}

/// Copies `from` to `to` until EOF, then passes the half-close on.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    dir: Direction,
    narration: &Mutex<Narration>,
) -> Result<(), RelayError> {
    let mut buf = vec![0u8; RELAY_BUFFER];
    let fail = |writing, error| RelayError {
        dir,
        writing,
        error,
    };
    loop {
        let n = from.read(&mut buf).await.map_err(|e| fail(false, e))?;
        if n == 0 {
            narration.lock().unwrap_or_else(|e| e.into_inner()).eof(dir);
            // The peer may already be gone; its side's error is reported there.
            let _ = to.shutdown().await;
            return Ok(());
        }
        narration
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .feed(dir, &buf[..n]);
        to.write_all(&buf[..n]).await.map_err(|e| fail(true, e))?;
    }
}

/// How one direction's bytes are being read.
enum Phase {
    /// HTTP heads, each followed by `body_left` bytes of body to skip.
    Http { head: Vec<u8>, body_left: u64 },
    /// WebSocket frames, after the upgrade.
    Frames(FrameDecoder),
    /// Forwarded unread: not HTTP, not WebSocket, or a body of unknown length.
    Raw,
}

/// A request whose response has not arrived yet.
struct Pending {
    method: String,
    path: String,
    upgrade: bool,
    key: Option<String>,
}

/// Everything the tap knows about one connection, both directions.
struct Narration {
    id: u64,
    reporter: Reporter,
    counters: Arc<TapCounters>,
    phases: [Phase; 2],
    pending: VecDeque<Pending>,
    bytes: [u64; 2],
    frames: [u64; 2],
    messages: [u64; 2],
    explained_masking: [bool; 2],
    /// Whether a close frame went this way.
    closes: [bool; 2],
}

impl Narration {
    fn new(id: u64, reporter: Reporter, counters: Arc<TapCounters>) -> Self {
        let http = || Phase::Http {
            head: Vec::new(),
            body_left: 0,
        };
        Narration {
            id,
            reporter,
            counters,
            phases: [http(), http()],
            pending: VecDeque::new(),
            bytes: [0; 2],
            frames: [0; 2],
            messages: [0; 2],
            explained_masking: [false; 2],
            closes: [false; 2],
        }
    }

    /// Reads the next bytes going `dir`. Only reads: forwarding is separate.
    fn feed(&mut self, dir: Direction, mut bytes: &[u8]) {
        let i = dir.index();
        self.bytes[i] += bytes.len() as u64;
        let counter = match dir {
            Direction::ClientToServer => &self.counters.bytes_client_to_server,
            Direction::ServerToClient => &self.counters.bytes_server_to_client,
        };
        counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        while !bytes.is_empty() {
            let mut phase = std::mem::replace(&mut self.phases[i], Phase::Raw);
            let used = match &mut phase {
                Phase::Raw => bytes.len(),
                Phase::Frames(decoder) => {
                    let mut found = Vec::new();
                    decoder.feed(bytes, &mut found);
                    for d in &found {
                        self.decoded(dir, d);
                    }
                    bytes.len()
                }
                Phase::Http { head, body_left } if *body_left > 0 => {
                    let n = usize::try_from(*body_left).map_or(bytes.len(), |l| l.min(bytes.len()));
                    *body_left -= n as u64;
                    n
                }
                Phase::Http { head, .. } => {
                    let before = head.len();
                    let take = bytes.len().min(MAX_HTTP_HEAD - before);
                    head.extend_from_slice(&bytes[..take]);
                    match HttpHead::parse(dir, head) {
                        Ok(None) if head.len() < MAX_HTTP_HEAD => take,
                        Ok(None) => {
                            self.reporter.emit(ws_frames::not_http(
                                self.id,
                                dir,
                                &format!(
                                    "no blank line within {} bytes",
                                    thousands(MAX_HTTP_HEAD as u64)
                                ),
                                head,
                            ));
                            phase = Phase::Raw;
                            take
                        }
                        Err(reason) => {
                            self.reporter
                                .emit(ws_frames::not_http(self.id, dir, &reason, head));
                            phase = Phase::Raw;
                            take
                        }
                        Ok(Some(parsed)) => {
                            phase = self.head(dir, &parsed);
                            parsed.len - before
                        }
                    }
                }
            };
            self.phases[i] = phase;
            bytes = &bytes[used..];
        }
    }

    /// A complete HTTP head: narrate it, and say how the bytes after it read.
    fn head(&mut self, dir: Direction, head: &HttpHead) -> Phase {
        let id = self.id;
        match dir {
            Direction::ClientToServer => {
                let (method, path) = head.request_line();
                let upgrade = head.is_websocket_upgrade();
                if self.pending.len() == MAX_PENDING_REQUESTS {
                    self.pending.pop_front();
                }
                self.pending.push_back(Pending {
                    method: method.to_string(),
                    path: path.to_string(),
                    upgrade,
                    key: head.header("sec-websocket-key").map(str::to_string),
                });
                if upgrade {
                    self.reporter.emit(ws_frames::upgrade_request(id, head));
                    // A client sends frames only after the 101; if the server
                    // refuses, the client has nothing more to send.
                    return Phase::Frames(FrameDecoder::new());
                }
                self.reporter.emit(ws_frames::http_request(id, head));
                if head.chunked() {
                    self.reporter.emit(ws_frames::http_body_unmeasured(
                        id,
                        dir,
                        "a chunked request body",
                    ));
                    return Phase::Raw;
                }
                Phase::Http {
                    head: Vec::new(),
                    body_left: head.content_length().unwrap_or(0),
                }
            }
            Direction::ServerToClient => {
                let status = head.status();
                // 100 Continue and friends come before the real answer.
                if (100..200).contains(&status) && status != 101 {
                    return Phase::Http {
                        head: Vec::new(),
                        body_left: 0,
                    };
                }
                let request = self.pending.pop_front();
                if status == 101 && request.as_ref().is_none_or(|r| r.upgrade) {
                    let expected = request
                        .as_ref()
                        .and_then(|r| r.key.as_deref())
                        .map(|k| derive_accept_key(k.trim().as_bytes()));
                    let obs = ws_frames::upgrade_response(id, head, expected.as_deref());
                    bump(&self.counters.upgrades);
                    if obs.get("accept_matches") == Some(&true.into()) {
                        bump(&self.counters.accepts_matched);
                    }
                    self.reporter.emit(obs);
                    return Phase::Frames(FrameDecoder::new());
                }
                self.reporter.emit(ws_frames::http_response(
                    id,
                    head,
                    request
                        .as_ref()
                        .map(|r| (r.method.as_str(), r.path.as_str(), r.upgrade)),
                ));
                if let Some(r) = &request
                    && r.upgrade
                    && let Phase::Frames(d) = &self.phases[0]
                    && d.bytes() == 0
                {
                    // Refused: whatever the client sends next is not frames.
                    self.phases[0] = Phase::Raw;
                }
                let no_body = request.as_ref().is_some_and(|r| r.method == "HEAD")
                    || status == 204
                    || status == 304;
                if no_body {
                    return Phase::Http {
                        head: Vec::new(),
                        body_left: 0,
                    };
                }
                match head.content_length() {
                    Some(len) if !head.chunked() => Phase::Http {
                        head: Vec::new(),
                        body_left: len,
                    },
                    _ => {
                        let why = if head.chunked() {
                            "a chunked response body"
                        } else {
                            "a response body that lasts until the connection closes"
                        };
                        self.reporter
                            .emit(ws_frames::http_body_unmeasured(id, dir, why));
                        Phase::Raw
                    }
                }
            }
        }
    }

    /// One finding of a frame decoder.
    fn decoded(&mut self, dir: Direction, d: &Decoded) {
        let id = self.id;
        let i = dir.index();
        match d {
            Decoded::Frame(f) => {
                self.frames[i] += 1;
                self.count_frame(dir, f);
                let problem = match (dir, f.mask.is_some()) {
                    (Direction::ClientToServer, false) => {
                        Some("a client frame without a mask (clients must mask every frame)")
                    }
                    (Direction::ServerToClient, true) => {
                        Some("a masked server frame (servers must not mask)")
                    }
                    _ => None,
                };
                let other = 1 - i;
                let answers_close = f.opcode == Opcode::Close && self.closes[other];
                if f.opcode == Opcode::Close {
                    self.closes[i] = true;
                }
                self.reporter
                    .emit(ws_frames::frame(id, dir, f, problem, answers_close));
                if !self.explained_masking[i] && !f.wire_preview.is_empty() {
                    self.explained_masking[i] = true;
                    self.reporter.emit(ws_frames::masking(id, dir, f));
                }
            }
            Decoded::Message(m) => {
                self.messages[i] += 1;
                bump(&self.counters.messages);
                let obs = ws_frames::message(id, dir, m);
                if obs.get("json") == Some(&true.into()) {
                    bump(&self.counters.json_messages);
                }
                self.reporter.emit(obs);
            }
            other => {
                if let Some(obs) = ws_frames::decoder_finding(id, dir, other) {
                    self.reporter.emit(obs);
                }
            }
        }
    }

    fn count_frame(&self, dir: Direction, f: &WireFrame) {
        let c = &self.counters;
        match dir {
            Direction::ClientToServer => {
                bump(&c.client_frames);
                if f.mask.is_some() {
                    bump(&c.client_frames_masked);
                }
            }
            Direction::ServerToClient => {
                bump(&c.server_frames);
                if f.mask.is_some() {
                    bump(&c.server_frames_masked);
                }
            }
        }
        match f.opcode {
            Opcode::Ping => bump(&c.pings),
            Opcode::Pong => bump(&c.pongs),
            Opcode::Close => bump(&c.closes),
            _ => {}
        }
    }

    /// `dir` reached EOF: the sender half-closed.
    fn eof(&mut self, dir: Direction) {
        let i = dir.index();
        if let Phase::Http { head, body_left: 0 } = &self.phases[i]
            && !head.is_empty()
        {
            self.reporter.emit(ws_frames::not_http(
                self.id,
                dir,
                "the stream ended before the head's blank line",
                head,
            ));
        }
        if let Phase::Frames(decoder) = &mut self.phases[i]
            && let Some(d) = decoder.finish()
        {
            self.decoded(dir, &d);
        }
        self.reporter.emit(
            Observation::new(
                Layer::Transport,
                "half_close",
                format!(
                    "#{} the {} sent FIN after {} bytes; the tap passes it on with shutdown(Write)",
                    self.id,
                    dir.sender(),
                    thousands(self.bytes[i])
                ),
            )
            .field("id", self.id)
            .field("direction", dir.name())
            .field("bytes", self.bytes[i])
            .detail(),
        );
    }

    /// Both directions are done (or one failed).
    fn finish(&mut self, clean: bool) {
        let id = self.id;
        let c2s = Direction::ClientToServer.index();
        let s2c = Direction::ServerToClient.index();
        self.reporter.emit(
            Observation::new(
                Layer::Transport,
                "closed",
                format!(
                    "#{id} closed{}: {} bytes client → server in {} frame(s), {} bytes server → client in {} frame(s), every byte forwarded unchanged",
                    if clean { "" } else { " after an error" },
                    thousands(self.bytes[c2s]),
                    self.frames[c2s],
                    thousands(self.bytes[s2c]),
                    self.frames[s2c],
                ),
            )
            .field("id", id)
            .field("bytes_client_to_server", self.bytes[c2s])
            .field("bytes_server_to_client", self.bytes[s2c])
            .field("frames_client_to_server", self.frames[c2s])
            .field("frames_server_to_client", self.frames[s2c])
            .field("messages_client_to_server", self.messages[c2s])
            .field("messages_server_to_client", self.messages[s2c])
            .field("clean", clean),
        );
        bump(&self.counters.connections_closed);
    }
}
