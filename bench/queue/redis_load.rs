//! The load program of `bench/queue/run.sh`: messages per second through
//! `RedisStore` (append, deliver, ack), and through the plain commands it
//! stands for (XADD, XREADGROUP, XACK) sent with the same client library,
//! so the difference is what the store adds: its scripts, its checks, its
//! counters.
//!
//! Three timed phases, each over `--messages` messages split among
//! `--concurrency` tasks sharing one store (one multiplexed connection):
//! append them all; deliver them all (`--batch` per delivery, acks not yet
//! sent); ack them all. Prints one JSON line.
//!
//! ```text
//! cargo run --release --example queue_redis_load -- --url redis://127.0.0.1:6379/ --mode store
//! cargo run --release --example queue_redis_load -- --url redis://127.0.0.1:6379/ --mode raw --concurrency 50
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use netdojo::queue::store::redis::RedisStore;
use netdojo::queue::store::{MessageId, Store};
use redis::aio::MultiplexedConnection;
use redis::streams::StreamReadReply;
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// The Redis to load.
    #[arg(long)]
    url: String,
    /// Through RedisStore, or the plain commands.
    #[arg(long, value_enum, default_value_t = Mode::Store)]
    mode: Mode,
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Tasks producing, consuming and acknowledging at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Messages asked for per delivery (COUNT).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Body size, bytes.
    #[arg(long, default_value_t = 100)]
    body_bytes: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Store,
    Raw,
}

const QUEUE: &str = "bench";
const GROUP: &str = "g";
const LONG: Duration = Duration::from_secs(600);

/// One side of the comparison.
enum Client {
    Store(Box<RedisStore>),
    Raw {
        conn: MultiplexedConnection,
        key: String,
    },
}

impl Client {
    async fn append(&self, body: &str) -> String {
        match self {
            Client::Store(s) => s.append(QUEUE, body).await.expect("append").0,
            Client::Raw { conn, key } => redis::cmd("XADD")
                .arg(key)
                .arg("*")
                .arg("body")
                .arg(body)
                .arg("stored_ms")
                .arg(netdojo::queue::store::now_ms())
                .query_async(&mut conn.clone())
                .await
                .expect("XADD"),
        }
    }

    async fn deliver(&self, consumer: &str, max: usize) -> Vec<String> {
        match self {
            Client::Store(s) => s
                .deliver(QUEUE, GROUP, consumer, max, LONG, Duration::ZERO)
                .await
                .expect("deliver")
                .into_iter()
                .map(|d| d.id.0)
                .collect(),
            Client::Raw { conn, key } => {
                let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(GROUP)
                    .arg(consumer)
                    .arg("COUNT")
                    .arg(max)
                    .arg("STREAMS")
                    .arg(key)
                    .arg(">")
                    .query_async(&mut conn.clone())
                    .await
                    .expect("XREADGROUP");
                reply
                    .into_iter()
                    .flat_map(|r| r.keys)
                    .flat_map(|k| k.ids)
                    .map(|e| e.id)
                    .collect()
            }
        }
    }

    async fn ack(&self, id: String) {
        match self {
            Client::Store(s) => {
                assert!(s.ack(QUEUE, GROUP, &MessageId(id)).await.expect("ack"));
            }
            Client::Raw { conn, key } => {
                let n: i64 = redis::cmd("XACK")
                    .arg(key)
                    .arg(GROUP)
                    .arg(id)
                    .query_async(&mut conn.clone())
                    .await
                    .expect("XACK");
                assert_eq!(n, 1);
            }
        }
    }
}

/// Runs `work(task, share)` on `tasks` tasks; returns the seconds taken
/// and what they returned.
async fn timed<T, F, Fut>(tasks: usize, work: F) -> (f64, Vec<T>)
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks).map(|t| tokio::spawn(work(t))).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    (started.elapsed().as_secs_f64(), out)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let namespace = format!("netdojo-bench-{:08x}", rand::random::<u32>());
    let client = match args.mode {
        Mode::Store => {
            let store = RedisStore::connect_with_namespace(&args.url, &namespace)
                .await
                .unwrap_or_else(|e| {
                    eprintln!("error: {e}");
                    std::process::exit(1)
                });
            store.join_group(QUEUE, GROUP).await.expect("group");
            Client::Store(Box::new(store))
        }
        Mode::Raw => {
            let client = redis::Client::open(args.url.as_str()).expect("URL");
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("connect");
            let key = format!("{namespace}:q:{QUEUE}");
            let _: () = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&key)
                .arg(GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut conn)
                .await
                .expect("XGROUP CREATE");
            Client::Raw { conn, key }
        }
    };
    let client = Arc::new(client);
    let n = args.messages;
    let c = args.concurrency.max(1);
    let body = Arc::new("x".repeat(args.body_bytes));

    let (append_s, _) = timed(c, |t| {
        let (client, body) = (client.clone(), body.clone());
        async move {
            for _ in (t..n).step_by(c) {
                client.append(&body).await;
            }
        }
    })
    .await;

    let delivered = Arc::new(AtomicUsize::new(0));
    let (deliver_s, held) = timed(c, |t| {
        let (client, delivered) = (client.clone(), delivered.clone());
        let batch = args.batch;
        async move {
            let consumer = format!("c{t}");
            let mut ids = Vec::new();
            while delivered.load(Ordering::Relaxed) < n {
                let got = client.deliver(&consumer, batch).await;
                if got.is_empty() {
                    break;
                }
                delivered.fetch_add(got.len(), Ordering::Relaxed);
                ids.extend(got);
            }
            ids
        }
    })
    .await;
    let held: Vec<Vec<String>> = held;
    assert_eq!(
        held.iter().map(Vec::len).sum::<usize>(),
        n,
        "every message delivered"
    );

    let held = Arc::new(std::sync::Mutex::new(held));
    let (ack_s, _) = timed(c, |t| {
        let (client, held) = (client.clone(), held.clone());
        async move {
            let ids = std::mem::take(&mut held.lock().expect("lock")[t]);
            for id in ids {
                client.ack(id).await;
            }
        }
    })
    .await;

    // Leave the Redis as it was.
    let mut conn = redis::Client::open(args.url.as_str())
        .expect("URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{namespace}:*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .expect("DEL");
    }

    let per_s = |secs: f64| (n as f64 / secs).round();
    println!(
        "{}",
        json!({
            "mode": match args.mode { Mode::Store => "store", Mode::Raw => "raw" },
            "messages": n,
            "concurrency": c,
            "batch": args.batch,
            "body_bytes": args.body_bytes,
            "append_per_s": per_s(append_s),
            "deliver_per_s": per_s(deliver_s),
            "ack_per_s": per_s(ack_s),
        })
    );
}
