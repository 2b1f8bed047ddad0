//! The load client of `bench/queue/broker.sh`: the broker end to end
//! (`netdojo queue serve` with any store, over its WebSocket protocol), and
//! the same work done directly on Redis with XADD / XREADGROUP / XACK as the
//! peer baseline, with the same producers, consumers, counts and sizes.
//!
//! Two tests, each printing one JSON line on stdout:
//!
//! - `throughput` (produce, then consume): `--producers P` connections
//!   publish `--messages N` messages of `--body-bytes S` between them, each
//!   keeping `--window W` publishes unanswered (counting `stored` answers;
//!   for Redis, W XADDs in flight on the connection). Then `--consumers C`
//!   connections in one group, with `--prefetch`, consume and ack all N.
//!   The consume phase ends when every ack has been taken by the store: each
//!   consumer sends `stats` after its last ack, and the broker answers a
//!   connection's events in order (for Redis: the last XACK's reply).
//! - `latency`: the consumers connect first; then the producers publish N
//!   messages at `--rate` messages per second between them. Each body starts
//!   with its send time; the consumer records send → receive. Also the
//!   producer's send → `stored` (the XADD reply for Redis).
//!
//! ```text
//! cargo run --release --example queue_load -- --target broker --addr 127.0.0.1:7070 --label memory
//! cargo run --release --example queue_load -- --target redis --url redis://127.0.0.1:6379/ --test latency
//! ```
//!
//! Load client and server share this machine's cores: the client's own cost
//! is in every figure, the same code on both sides of a comparison.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use futures_util::{FutureExt, SinkExt, StreamExt};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use redis::streams::StreamReadReply;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Parser)]
struct Args {
    /// What to load: the broker at `--addr`, or the Redis at `--url` directly.
    #[arg(long, value_enum)]
    target: Target,
    #[arg(long, value_enum, default_value_t = Test::Throughput)]
    test: Test,
    /// The broker, HOST:PORT.
    #[arg(long)]
    addr: Option<String>,
    /// The Redis, redis://HOST:PORT/.
    #[arg(long)]
    url: Option<String>,
    #[arg(long, default_value_t = 4)]
    producers: usize,
    #[arg(long, default_value_t = 4)]
    consumers: usize,
    /// Messages in all (the broker's queue holds at most 100,000).
    #[arg(long, default_value_t = 50_000)]
    messages: usize,
    /// Body size, bytes (at least 16: the send time).
    #[arg(long, default_value_t = 100)]
    body_bytes: usize,
    /// Publishes (XADDs) unanswered per producer connection.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Unacknowledged messages per consumer (XREADGROUP COUNT for Redis).
    #[arg(long, default_value_t = 64)]
    prefetch: usize,
    /// Latency test: messages per second, all producers together.
    #[arg(long, default_value_t = 2_000)]
    rate: u64,
    /// Copied into the JSON line: which store the broker runs with.
    #[arg(long, default_value = "")]
    label: String,
    /// A run taking longer than this fails instead of hanging.
    #[arg(long, default_value_t = 120)]
    limit_s: u64,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Target {
    Broker,
    Redis,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Test {
    Throughput,
    Latency,
}

const GROUP: &str = "g";

/// The digits of the send time at the start of every body.
const STAMP_DIGITS: usize = 16;

static START: OnceLock<Instant> = OnceLock::new();

/// When the last of the messages arrived ([`now_us`]): the latency test's
/// rate is over first send to last receipt, not to the consumers' exits.
static LAST_RECEIVED_US: AtomicU64 = AtomicU64::new(0);

/// Microseconds since this program started: one clock for sender and
/// receiver, as both are here.
fn now_us() -> u64 {
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

fn body(sent_us: u64, bytes: usize) -> String {
    let mut b = format!("{sent_us:0STAMP_DIGITS$}");
    b.extend(std::iter::repeat_n('x', bytes.saturating_sub(STAMP_DIGITS)));
    b
}

fn stamp(body: &str) -> Option<u64> {
    body.get(..STAMP_DIGITS)?.parse().ok()
}

fn fail(what: impl std::fmt::Display) -> ! {
    eprintln!("error: {what}");
    std::process::exit(1)
}

/// The N messages split among `parts`: the share of part `i`.
fn share(n: usize, parts: usize, i: usize) -> usize {
    n / parts + usize::from(i < n % parts)
}

/// When message `i` of a producer sending `per_s` a second is due.
fn due(started: Instant, per_s: f64, i: usize) -> Instant {
    started + Duration::from_secs_f64(i as f64 / per_s)
}

/// What one side saw.
#[derive(Default)]
struct Seen {
    /// Microseconds, one per message.
    latencies: Vec<u64>,
    redelivered: u64,
}

// ---------------------------------------------------------------- broker

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The broker's events, as much of them as this client reads.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    body: Option<Cow<'a, str>>,
    #[serde(default)]
    delivery: Option<u64>,
    #[serde(default, rename = "ref")]
    reference: Option<u64>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
}

async fn open(addr: &str) -> (Ws, Value) {
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/"), None, true)
            .await
            .unwrap_or_else(|e| fail(format!("connecting to the broker at {addr}: {e}")));
    let welcome = match ws.next().await {
        Some(Ok(Message::Text(t))) => serde_json::from_str::<Value>(t.as_str()).ok(),
        _ => None,
    };
    match welcome {
        Some(w) if w["type"] == "welcome" => (ws, w),
        _ => fail(format!("{addr} did not say welcome")),
    }
}

fn text(m: Message) -> Option<tokio_tungstenite::tungstenite::Utf8Bytes> {
    match m {
        Message::Text(t) => Some(t),
        Message::Close(c) => fail(format!("the broker closed the connection: {c:?}")),
        _ => None,
    }
}

/// One producer connection: `count` publishes, at most `window`
/// unanswered, paced at `per_s` if given. Returns send → stored times.
async fn broker_produce(
    addr: String,
    queue: Arc<String>,
    count: usize,
    args: Arc<Args>,
    per_s: Option<f64>,
) -> Seen {
    let (ws, _) = open(&addr).await;
    let (mut sink, mut stream) = ws.split();
    let window = Arc::new(Semaphore::new(args.window));
    let answers = {
        let window = window.clone();
        tokio::spawn(async move {
            let mut seen = Seen::default();
            while seen.latencies.len() < count {
                let Some(frame) = stream.next().await else {
                    fail("the broker closed a producer's connection")
                };
                let frame = frame.unwrap_or_else(|e| fail(format!("producer connection: {e}")));
                let Some(t) = text(frame) else { continue };
                let e: Incoming = serde_json::from_str(t.as_str())
                    .unwrap_or_else(|e| fail(format!("unreadable event ({e}): {t}")));
                match e.kind.as_ref() {
                    "stored" => {
                        // The ref is the send time.
                        let sent = e.reference.unwrap_or_default();
                        seen.latencies.push(now_us().saturating_sub(sent));
                        window.add_permits(1);
                    }
                    "error" => fail(format!(
                        "the broker refused a publish: {}",
                        e.message.unwrap_or_default()
                    )),
                    _ => {}
                }
            }
            seen
        })
    };
    let started = Instant::now();
    for i in 0..count {
        if let Some(per_s) = per_s {
            let at = due(started, per_s, i);
            if at > Instant::now() {
                let _ = sink.flush().await;
                tokio::time::sleep_until(at.into()).await;
            }
        }
        let permit = match window.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                sink.flush()
                    .await
                    .unwrap_or_else(|e| fail(format!("sending: {e}")));
                window.acquire().await.expect("window")
            }
        };
        permit.forget();
        let sent = now_us();
        let frame = format!(
            r#"{{"type":"publish","queue":"{queue}","body":"{}","ref":{sent}}}"#,
            body(sent, args.body_bytes)
        );
        sink.feed(Message::text(frame))
            .await
            .unwrap_or_else(|e| fail(format!("sending: {e}")));
    }
    sink.flush()
        .await
        .unwrap_or_else(|e| fail(format!("sending: {e}")));
    let seen = answers.await.expect("producer task");
    let _ = sink.close().await;
    seen
}

/// A consumer connection that has joined the group.
async fn broker_join(addr: String, queue: Arc<String>, prefetch: usize) -> Ws {
    let (mut ws, _) = open(&addr).await;
    let consume = json!({"type": "consume", "queue": *queue, "group": GROUP, "prefetch": prefetch});
    ws.send(Message::text(consume.to_string()))
        .await
        .unwrap_or_else(|e| fail(format!("sending: {e}")));
    while let Some(frame) = ws.next().await {
        let Some(t) = text(frame.unwrap_or_else(|e| fail(e))) else {
            continue;
        };
        let e: Incoming =
            serde_json::from_str(t.as_str()).unwrap_or_else(|e| fail(format!("{e}: {t}")));
        match e.kind.as_ref() {
            "consuming" => return ws,
            "error" => fail(format!(
                "the broker refused to consume: {}",
                e.message.unwrap_or_default()
            )),
            _ => {}
        }
    }
    fail("the broker closed a consumer's connection")
}

/// Receives and acks until `received` reaches `total` (on any consumer),
/// then asks for `stats`: its answer comes after every ack sent before.
async fn broker_consume(
    ws: Ws,
    received: Arc<AtomicUsize>,
    total: usize,
    done: watch::Sender<bool>,
) -> Seen {
    let mut finished = done.subscribe();
    let (mut sink, mut stream) = ws.split();
    let mut seen = Seen::default();
    loop {
        let frame = match stream.next().now_or_never() {
            Some(f) => f,
            None => {
                sink.flush()
                    .await
                    .unwrap_or_else(|e| fail(format!("sending acks: {e}")));
                tokio::select! {
                    f = stream.next() => f,
                    _ = finished.wait_for(|d| *d) => break,
                }
            }
        };
        let Some(frame) = frame else {
            fail("the broker closed a consumer's connection")
        };
        let Some(t) = text(frame.unwrap_or_else(|e| fail(e))) else {
            continue;
        };
        let e: Incoming =
            serde_json::from_str(t.as_str()).unwrap_or_else(|e| fail(format!("{e}: {t}")));
        match e.kind.as_ref() {
            "message" => {
                let at = now_us();
                if let Some(sent) = e.body.as_deref().and_then(stamp) {
                    seen.latencies.push(at.saturating_sub(sent));
                }
                if e.delivery.unwrap_or(1) > 1 {
                    seen.redelivered += 1;
                }
                let id = e.id.unwrap_or_default();
                sink.feed(Message::text(format!(r#"{{"type":"ack","id":"{id}"}}"#)))
                    .await
                    .unwrap_or_else(|e| fail(format!("sending an ack: {e}")));
                if received.fetch_add(1, Ordering::Relaxed) + 1 == total {
                    LAST_RECEIVED_US.store(at, Ordering::Relaxed);
                    let _ = done.send(true);
                }
            }
            "error" => fail(format!(
                "the broker said: {}",
                e.message.unwrap_or_default()
            )),
            _ => {}
        }
    }
    sink.send(Message::text(r#"{"type":"stats"}"#))
        .await
        .unwrap_or_else(|e| fail(format!("sending: {e}")));
    while let Some(frame) = stream.next().await {
        let Some(t) = text(frame.unwrap_or_else(|e| fail(e))) else {
            continue;
        };
        if t.as_str().starts_with(r#"{"type":"stats""#) {
            let _ = sink.close().await;
            return seen;
        }
    }
    fail("the broker closed before answering stats")
}

/// The group's `acked` count, from `stats` on a new connection.
async fn broker_acked(addr: &str, queue: &str) -> u64 {
    let (mut ws, _) = open(addr).await;
    ws.send(Message::text(r#"{"type":"stats"}"#))
        .await
        .unwrap_or_else(|e| fail(e));
    while let Some(frame) = ws.next().await {
        let Some(t) = text(frame.unwrap_or_else(|e| fail(e))) else {
            continue;
        };
        let v: Value = serde_json::from_str(t.as_str()).unwrap_or_default();
        if v["type"] != "stats" {
            continue;
        }
        let _ = ws.close(None).await;
        return v["queues"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|q| q["queue"] == queue)
            .flat_map(|q| q["groups"].as_array().cloned().unwrap_or_default())
            .filter(|g| g["group"] == GROUP)
            .map(|g| g["acked"].as_u64().unwrap_or(0))
            .sum();
    }
    0
}

// ---------------------------------------------------------------- Redis

async fn redis_connect(client: &redis::Client) -> MultiplexedConnection {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(10)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap_or_else(|e| fail(format!("connecting to Redis: {e}")))
}

/// One producer connection: `count` XADDs, `window` in flight at once,
/// paced at `per_s` if given. Returns send → reply times.
async fn redis_produce(
    client: redis::Client,
    key: Arc<String>,
    count: usize,
    args: Arc<Args>,
    per_s: Option<f64>,
) -> Seen {
    let conn = redis_connect(&client).await;
    let started = Instant::now();
    let bytes = args.body_bytes;
    let latencies = futures_util::stream::iter(0..count)
        .then(|i| async move {
            if let Some(per_s) = per_s {
                tokio::time::sleep_until(due(started, per_s, i).into()).await;
            }
        })
        .map(|()| {
            let (mut conn, key) = (conn.clone(), key.clone());
            async move {
                let sent = now_us();
                let _: String = redis::cmd("XADD")
                    .arg(&*key)
                    .arg("*")
                    .arg("body")
                    .arg(body(sent, bytes))
                    .arg("stored_ms")
                    .arg(netdojo::queue::store::now_ms())
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_else(|e| fail(format!("XADD: {e}")));
                now_us().saturating_sub(sent)
            }
        })
        .buffer_unordered(args.window)
        .collect()
        .await;
    Seen {
        latencies,
        redelivered: 0,
    }
}

/// One consumer: XREADGROUP COUNT prefetch (blocking up to 100 ms in the
/// latency test), then an XACK per message, all sent at once; until
/// `total` are received. In the throughput test an empty read also ends
/// it: everything has been handed out.
async fn redis_consume(
    client: redis::Client,
    key: Arc<String>,
    name: String,
    args: Arc<Args>,
    received: Arc<AtomicUsize>,
    total: usize,
) -> Seen {
    let conn = redis_connect(&client).await;
    let mut seen = Seen::default();
    while received.load(Ordering::Relaxed) < total {
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP")
            .arg(GROUP)
            .arg(&name)
            .arg("COUNT")
            .arg(args.prefetch);
        if args.test == Test::Latency {
            read.arg("BLOCK").arg(100);
        }
        read.arg("STREAMS").arg(&*key).arg(">");
        let reply: Option<StreamReadReply> = read
            .query_async(&mut conn.clone())
            .await
            .unwrap_or_else(|e| fail(format!("XREADGROUP: {e}")));
        let at = now_us();
        let ids: Vec<_> = reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .map(|entry| {
                let body: String = entry.get("body").unwrap_or_default();
                if let Some(sent) = stamp(&body) {
                    seen.latencies.push(at.saturating_sub(sent));
                }
                entry.id
            })
            .collect();
        if ids.is_empty() {
            if args.test == Test::Throughput {
                break;
            }
            continue;
        }
        let n = ids.len();
        let acks = ids.into_iter().map(|id| {
            let (mut conn, key) = (conn.clone(), key.clone());
            async move {
                let acked: i64 = redis::cmd("XACK")
                    .arg(&*key)
                    .arg(GROUP)
                    .arg(id)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_else(|e| fail(format!("XACK: {e}")));
                assert_eq!(acked, 1, "XACK of a pending message");
            }
        });
        futures_util::future::join_all(acks).await;
        let before = received.fetch_add(n, Ordering::Relaxed);
        if before < total && before + n >= total {
            LAST_RECEIVED_US.store(at, Ordering::Relaxed);
        }
    }
    seen
}

// ---------------------------------------------------------------- the run

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(mut latencies: Vec<u64>) -> Value {
    latencies.sort_unstable();
    json!({
        "p50_us": percentile(&latencies, 50.0),
        "p99_us": percentile(&latencies, 99.0),
        "max_us": latencies.last().copied().unwrap_or(0),
    })
}

async fn join_all<T: Send + 'static>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

/// Seconds from `started` ([`now_us`]) to the last message's receipt.
fn since(started: u64) -> f64 {
    LAST_RECEIVED_US
        .load(Ordering::Relaxed)
        .saturating_sub(started) as f64
        / 1e6
}

fn merge(seen: Vec<Seen>) -> (Vec<u64>, u64) {
    let redelivered = seen.iter().map(|s| s.redelivered).sum();
    (
        seen.into_iter().flat_map(|s| s.latencies).collect(),
        redelivered,
    )
}

async fn run(args: Arc<Args>) -> Value {
    now_us();
    let n = args.messages;
    let (p, c) = (args.producers.max(1), args.consumers.max(1));
    let tag = format!("bench-{:08x}", rand::random::<u32>());
    let paced = (args.test == Test::Latency).then_some(args.rate as f64 / p as f64);
    let received = Arc::new(AtomicUsize::new(0));
    let mut out = json!({
        "target": match args.target { Target::Broker => "broker", Target::Redis => "redis" },
        "label": args.label,
        "test": match args.test { Test::Throughput => "throughput", Test::Latency => "latency" },
        "messages": n,
        "producers": p,
        "consumers": c,
        "body_bytes": args.body_bytes,
        "window": args.window,
        "prefetch": args.prefetch,
    });

    match args.target {
        Target::Broker => {
            let addr = args
                .addr
                .clone()
                .unwrap_or_else(|| fail("--target broker needs --addr"));
            let (_, welcome) = open(&addr).await;
            out["store"] = welcome["store"].clone();
            out["durable"] = welcome["durable"].clone();
            let queue = Arc::new(tag);
            let (done, _) = watch::channel(false);
            let produce = |i| {
                tokio::spawn(broker_produce(
                    addr.clone(),
                    queue.clone(),
                    share(n, p, i),
                    args.clone(),
                    paced,
                ))
            };
            let join = || {
                let joins: Vec<_> = (0..c)
                    .map(|_| tokio::spawn(broker_join(addr.clone(), queue.clone(), args.prefetch)))
                    .collect();
                join_all(joins)
            };
            let consume = |ws| tokio::spawn(broker_consume(ws, received.clone(), n, done.clone()));
            match args.test {
                Test::Throughput => {
                    let started = Instant::now();
                    let stored = join_all((0..p).map(produce).collect()).await;
                    let produce_s = started.elapsed().as_secs_f64();
                    let started = Instant::now();
                    let consumers = join().await;
                    let seen = join_all(consumers.into_iter().map(consume).collect()).await;
                    let consume_s = started.elapsed().as_secs_f64();
                    out["produce_per_s"] = json!((n as f64 / produce_s).round());
                    out["consume_per_s"] = json!((n as f64 / consume_s).round());
                    out["stored"] = summary(merge(stored).0);
                    out["redelivered"] = json!(merge(seen).1);
                }
                Test::Latency => {
                    let consumers = join().await;
                    let started = now_us();
                    let handles: Vec<_> = consumers.into_iter().map(consume).collect();
                    let stored = join_all((0..p).map(produce).collect()).await;
                    let (latencies, redelivered) = merge(join_all(handles).await);
                    let secs = since(started);
                    out["rate"] = json!(args.rate);
                    out["achieved_per_s"] = json!((n as f64 / secs).round());
                    out["stored"] = summary(merge(stored).0);
                    out["end_to_end"] = summary(latencies);
                    out["redelivered"] = json!(redelivered);
                }
            }
            out["acked"] = json!(broker_acked(&addr, &queue).await);
        }
        Target::Redis => {
            let url = args
                .url
                .clone()
                .unwrap_or_else(|| fail("--target redis needs --url"));
            let client = redis::Client::open(url.as_str()).unwrap_or_else(|e| fail(e));
            let mut admin = redis_connect(&client).await;
            let key = Arc::new(format!("netdojo-bench:{tag}"));
            let _: () = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&*key)
                .arg(GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut admin)
                .await
                .unwrap_or_else(|e| fail(format!("XGROUP CREATE: {e}")));
            let produce = |i| {
                tokio::spawn(redis_produce(
                    client.clone(),
                    key.clone(),
                    share(n, p, i),
                    args.clone(),
                    paced,
                ))
            };
            let consume = |i| {
                tokio::spawn(redis_consume(
                    client.clone(),
                    key.clone(),
                    format!("c{i}"),
                    args.clone(),
                    received.clone(),
                    n,
                ))
            };
            match args.test {
                Test::Throughput => {
                    let started = Instant::now();
                    let stored = join_all((0..p).map(produce).collect()).await;
                    let produce_s = started.elapsed().as_secs_f64();
                    let started = Instant::now();
                    join_all((0..c).map(consume).collect()).await;
                    let consume_s = started.elapsed().as_secs_f64();
                    out["produce_per_s"] = json!((n as f64 / produce_s).round());
                    out["consume_per_s"] = json!((n as f64 / consume_s).round());
                    out["stored"] = summary(merge(stored).0);
                    out["redelivered"] = json!(0);
                }
                Test::Latency => {
                    let handles: Vec<_> = (0..c).map(consume).collect();
                    let started = now_us();
                    let stored = join_all((0..p).map(produce).collect()).await;
                    let (latencies, _) = merge(join_all(handles).await);
                    let secs = since(started);
                    out["rate"] = json!(args.rate);
                    out["achieved_per_s"] = json!((n as f64 / secs).round());
                    out["stored"] = summary(merge(stored).0);
                    out["end_to_end"] = summary(latencies);
                    out["redelivered"] = json!(0);
                }
            }
            out["acked"] = json!(received.load(Ordering::Relaxed));
            let _: i64 = redis::cmd("DEL")
                .arg(&*key)
                .query_async(&mut admin)
                .await
                .unwrap_or(0);
        }
    }
    if out["acked"] != json!(n) {
        fail(format!("not every message was acknowledged: {out}"));
    }
    out
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    if args.body_bytes < STAMP_DIGITS {
        fail(format!("--body-bytes must be at least {STAMP_DIGITS}"));
    }
    let limit = Duration::from_secs(args.limit_s);
    match tokio::time::timeout(limit, run(args)).await {
        Ok(line) => println!("{line}"),
        Err(_) => fail(format!("the run took longer than {limit:?}")),
    }
}
