//! The load client of `bench/ws/run.sh`: drives `netdojo ws serve` and a
//! socket.io server (bench/ws/socketio_server.cjs) with the same Rust code, so
//! the two are compared in one run. Only the framing of an event differs:
//!
//! - netdojo: `{"type":"say","room":"bench","text":"..."}` in a text frame;
//! - socket.io (Engine.IO 4 over a WebSocket): `42["say",{...}]`, after the
//!   server's open packet `0{...}` and the namespace connect `40`; the server's
//!   pings (`2`) are answered with pongs (`3`).
//!
//! Modes (each prints one JSON line on stdout):
//!
//! - `fanout`: `--clients N` join one room; one of them sends `--messages M`
//!   messages, keeping at most `--window W` of its own in flight (it waits for
//!   its own copy of the broadcast). Every client timestamps what it receives:
//!   deliveries per second and latency percentiles.
//! - `idle`: `--clients N` connect, say hello and stay idle; the server's
//!   resident memory (`--pid`) is read before and after, per connection.
//!
//! ```text
//! cargo run --release --example ws_load -- fanout --kind netdojo --url ws://127.0.0.1:9001/ws
//! cargo run --release --example ws_load -- idle --kind socketio --url ws://127.0.0.1:3000 --pid 1234
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The room every client joins.
const ROOM: &str = "bench";

/// How long a run may take before it gives up and reports what it has.
const RUN_LIMIT: Duration = Duration::from_secs(60);

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    Fanout {
        #[arg(long)]
        kind: Kind,
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 100)]
        clients: usize,
        #[arg(long, default_value_t = 2_000)]
        messages: u64,
        #[arg(long, default_value_t = 32)]
        window: u64,
    },
    Idle {
        #[arg(long)]
        kind: Kind,
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 2_000)]
        clients: usize,
        /// The server's process id, to read its memory.
        #[arg(long)]
        pid: u32,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    Netdojo,
    Socketio,
}

impl Kind {
    /// The URL to connect to for a server address written as `ws://host:port`.
    fn url(self, base: &str) -> String {
        match self {
            Kind::Netdojo => base.to_string(),
            Kind::Socketio => format!(
                "{}/socket.io/?EIO=4&transport=websocket",
                base.trim_end_matches('/')
            ),
        }
    }

    /// One event as this server expects it.
    fn frame(self, event: &str, data: Value) -> Message {
        match self {
            Kind::Netdojo => {
                let mut v = data;
                v["type"] = json!(event);
                Message::text(v.to_string())
            }
            Kind::Socketio => Message::text(format!("42{}", json!([event, data]))),
        }
    }
}

/// The fields of a received event the fan-out reads, borrowed from the
/// frame: deserializing into a `Value` (a map and a string per field) cost
/// the client more CPU than the server spent delivering the frame, on the
/// same two cores.
#[derive(serde::Deserialize)]
struct Received<'a> {
    #[serde(rename = "type", default)]
    kind: Option<&'a str>,
    #[serde(default)]
    text: Option<&'a str>,
}

impl Kind {
    /// The send time in a `message` event's text, or `None` for any other
    /// frame.
    fn message_sent_at(self, frame: &str) -> Option<u64> {
        let text = match self {
            Kind::Netdojo => {
                let r: Received = serde_json::from_str(frame).ok()?;
                (r.kind == Some("message")).then_some(r.text)??
            }
            Kind::Socketio => {
                let body = frame.strip_prefix("42")?;
                let (event, r): (&str, Received) = serde_json::from_str(body).ok()?;
                (event == "message").then_some(r.text)??
            }
        };
        text.parse().ok()
    }
}

/// Connects and says hello; for socket.io, the Engine.IO and namespace
/// handshakes first. Returns once the server has answered.
async fn connect(kind: Kind, url: &str, name: &str) -> anyhow::Result<Ws> {
    let (mut ws, _) = tokio_tungstenite::connect_async(kind.url(url)).await?;
    match kind {
        Kind::Netdojo => {
            ws.send(kind.frame("hello", json!({ "name": name })))
                .await?;
            wait_for(&mut ws, kind, |t| t.contains("\"welcome\"")).await?;
        }
        Kind::Socketio => {
            wait_for(&mut ws, kind, |t| t.starts_with('0')).await?;
            ws.send(Message::text("40")).await?;
            wait_for(&mut ws, kind, |t| t.starts_with("40")).await?;
            ws.send(kind.frame("hello", json!({ "name": name })))
                .await?;
        }
    }
    Ok(ws)
}

/// Reads until a text frame satisfies `done`, answering socket.io pings.
async fn wait_for(ws: &mut Ws, kind: Kind, done: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    while let Some(msg) = ws.next().await {
        if let Message::Text(t) = msg? {
            if kind == Kind::Socketio && t.as_str() == "2" {
                ws.send(Message::text("3")).await?;
            } else if done(t.as_str()) {
                return Ok(());
            }
        }
    }
    anyhow::bail!("the server closed the connection during the handshake")
}

/// Microseconds since the run's start, as carried in a message's text.
fn micros(start: Instant) -> u64 {
    start.elapsed().as_micros() as u64
}

async fn fanout(
    kind: Kind,
    url: &str,
    clients: usize,
    messages: u64,
    window: u64,
) -> anyhow::Result<Value> {
    let start = Instant::now();
    let mut sockets = Vec::with_capacity(clients);
    for i in 0..clients {
        let mut ws = connect(kind, url, &format!("c{i}")).await?;
        ws.send(kind.frame("join", json!({ "room": ROOM }))).await?;
        sockets.push(ws);
    }
    // Let the join announcements (presence) drain before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (latency_tx, mut latency_rx) = mpsc::unbounded_channel::<Vec<u64>>();
    let own_received = Arc::new(AtomicU64::new(0));
    let notify = Arc::new(tokio::sync::Notify::new());
    let cut = Arc::new(AtomicU64::new(0));
    let mut sender = None;
    for (i, ws) in sockets.into_iter().enumerate() {
        let (write, mut read) = ws.split();
        let write = Arc::new(tokio::sync::Mutex::new(write));
        if i == 0 {
            sender = Some(write.clone());
        }
        let latency_tx = latency_tx.clone();
        let own_received = own_received.clone();
        let notify = notify.clone();
        let cut = cut.clone();
        tokio::spawn(async move {
            let mut lat = Vec::with_capacity(messages as usize);
            let deadline = tokio::time::sleep(RUN_LIMIT);
            tokio::pin!(deadline);
            while (lat.len() as u64) < messages {
                let msg = tokio::select! {
                    m = read.next() => m,
                    _ = &mut deadline => None,
                };
                let Some(Ok(msg)) = msg else {
                    cut.fetch_add(1, Ordering::Relaxed);
                    break;
                };
                let Message::Text(t) = msg else { continue };
                if kind == Kind::Socketio && t.as_str() == "2" {
                    let _ = write.lock().await.send(Message::text("3")).await;
                    continue;
                }
                let Some(sent) = kind.message_sent_at(t.as_str()) else {
                    continue;
                };
                lat.push(micros(start).saturating_sub(sent));
                if i == 0 {
                    own_received.fetch_add(1, Ordering::Release);
                    notify.notify_one();
                }
            }
            let _ = latency_tx.send(lat);
        });
    }
    drop(latency_tx);
    let sender = sender.expect("at least one client");

    let begin = Instant::now();
    for k in 0..messages {
        while k >= own_received.load(Ordering::Acquire) + window {
            if tokio::time::timeout(RUN_LIMIT, notify.notified())
                .await
                .is_err()
            {
                anyhow::bail!(
                    "no progress for {RUN_LIMIT:?}: the sender's own messages stopped coming back"
                );
            }
        }
        let text = micros(start).to_string();
        sender
            .lock()
            .await
            .send(kind.frame("say", json!({ "room": ROOM, "text": text })))
            .await?;
    }
    let mut all = Vec::new();
    while let Some(lat) = latency_rx.recv().await {
        all.extend(lat);
    }
    let elapsed = begin.elapsed();
    all.sort_unstable();
    let pct = |p: f64| -> u64 {
        if all.is_empty() {
            0
        } else {
            all[((all.len() - 1) as f64 * p) as usize]
        }
    };
    let expected = messages * clients as u64;
    Ok(json!({
        "mode": "fanout",
        "clients": clients,
        "messages": messages,
        "delivered": all.len(),
        "expected": expected,
        "clients_cut": cut.load(Ordering::Relaxed),
        "seconds": elapsed.as_secs_f64(),
        "deliveries_per_sec": all.len() as f64 / elapsed.as_secs_f64(),
        "latency_p50_us": pct(0.50),
        "latency_p99_us": pct(0.99),
        "latency_max_us": all.last().copied().unwrap_or(0),
    }))
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for pid {pid}"))
}

async fn idle(kind: Kind, url: &str, clients: usize, pid: u32) -> anyhow::Result<Value> {
    // One connection first, so both servers have loaded what a first client
    // needs (Node compiles code lazily) before the baseline.
    let warm = connect(kind, url, "warm").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid)?;
    let mut held = Vec::with_capacity(clients);
    for i in 0..clients {
        held.push(connect(kind, url, &format!("idle{i}")).await?);
    }
    // Keep answering socket.io's pings so no connection is dropped, and let
    // the server settle.
    let mut readers = Vec::new();
    for ws in held {
        readers.push(tokio::spawn(async move {
            let mut ws = ws;
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(t) = msg
                    && kind == Kind::Socketio
                    && t.as_str() == "2"
                {
                    let _ = ws.send(Message::text("3")).await;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(pid)?;
    drop(warm);
    Ok(json!({
        "mode": "idle",
        "clients": clients,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_connection": (after.saturating_sub(before)) as f64 / clients as f64,
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let out = match Args::parse().mode {
        Mode::Fanout {
            kind,
            url,
            clients,
            messages,
            window,
        } => fanout(kind, &url, clients, messages, window).await?,
        Mode::Idle {
            kind,
            url,
            clients,
            pid,
        } => idle(kind, &url, clients, pid).await?,
    };
    println!("{out}");
    Ok(())
}
