//! `netdojo queue` over real sockets: the broker with each of its stores
//! (memory, disk, Redis) passes the same tests of ordering, work sharing,
//! fan-out, redelivery, ack timeouts and prefetch; the command-line clients
//! work against it; bad input is refused without losing anything; consumers
//! killed at random never lose a message.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Server, json_lines, netdojo};
use serde_json::{Value, json};
use tungstenite::Message;
use tungstenite::stream::MaybeTlsStream;

/// Where a broker under test keeps its messages.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Memory,
    Disk,
    Redis,
}

/// A broker under test, and what it needs cleaned up.
struct Broker {
    _server: Server,
    addr: SocketAddr,
    data_dir: Option<PathBuf>,
    /// Kept alive while the broker runs (dropped after it).
    _redis: Option<common::Redis>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "netdojo-queue-{tag}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts a broker of this kind, or None when its store is not available
/// here (Redis without a server: skipped, or failed under REQUIRE_PEERS).
fn broker(kind: Kind, extra: &[&str]) -> Option<Broker> {
    let mut args: Vec<String> = ["queue", "serve", "--listen", "127.0.0.1:0"]
        .map(String::from)
        .to_vec();
    let mut data_dir = None;
    let mut redis = None;
    match kind {
        Kind::Memory => {}
        Kind::Disk => {
            let dir = scratch_dir("disk");
            args.extend(["--data-dir".to_string(), dir.display().to_string()]);
            data_dir = Some(dir);
        }
        Kind::Redis => {
            let r = common::redis()?;
            args.extend(["--redis".to_string(), r.url.clone()]);
            redis = Some(r);
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&refs);
    let addr = server.addr;
    Some(Broker {
        _server: server,
        addr,
        data_dir,
        _redis: redis,
    })
}

/// A unique queue name, so tests sharing one Redis do not meet.
fn queue_name(tag: &str) -> String {
    format!("{tag}-{:08x}", rand::random::<u32>())
}

type Socket = tungstenite::WebSocket<MaybeTlsStream<TcpStream>>;

/// A broker client built on tungstenite, to drive the protocol precisely.
struct Client {
    ws: Socket,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let (ws, _) = tungstenite::connect(format!("ws://{addr}/")).expect("connect to broker");
        let mut c = Client { ws };
        c.timeout(Duration::from_secs(15));
        let welcome = c.next().expect("welcome");
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        c
    }

    fn timeout(&mut self, t: Duration) {
        if let MaybeTlsStream::Plain(s) = self.ws.get_ref() {
            s.set_read_timeout(Some(t)).unwrap();
        }
    }

    fn emit(&mut self, event: Value) {
        self.ws.send(Message::text(event.to_string())).unwrap();
    }

    /// The next event, or None if nothing came within the read timeout.
    fn next(&mut self) -> Option<Value> {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).unwrap()),
                Ok(Message::Close(f)) => panic!("the broker closed: {f:?}"),
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None;
                }
                Err(e) => panic!("reading from the broker: {e}"),
            }
        }
    }

    fn until(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        loop {
            let e = self.next().expect("an event before the timeout");
            if want(&e) {
                return e;
            }
        }
    }

    /// Publishes each body to `queue`, pipelined, and waits until all are stored.
    fn produce(&mut self, queue: &str, bodies: &[String]) -> Vec<String> {
        for (i, b) in bodies.iter().enumerate() {
            self.emit(json!({"type": "publish", "queue": queue, "body": b, "ref": i}));
        }
        let mut ids = BTreeMap::new();
        while ids.len() < bodies.len() {
            let e = self.until(|e| e["type"] == "stored" || e["type"] == "error");
            assert_eq!(e["type"], "stored", "{e}");
            ids.insert(
                e["ref"].as_u64().unwrap(),
                e["id"].as_str().unwrap().to_string(),
            );
        }
        ids.into_values().collect()
    }

    fn consume(&mut self, queue: &str, group: &str, prefetch: usize) {
        self.emit(json!({"type": "consume", "queue": queue, "group": group, "prefetch": prefetch}));
        self.until(|e| e["type"] == "consuming");
    }

    fn message(&mut self) -> Value {
        self.until(|e| e["type"] == "message")
    }

    fn ack(&mut self, m: &Value) {
        self.emit(json!({"type": "ack", "id": m["id"]}));
    }

    fn stats(&mut self) -> Value {
        self.emit(json!({"type": "stats"}));
        self.until(|e| e["type"] == "stats")
    }
}

fn bodies(n: usize, tag: &str) -> Vec<String> {
    (0..n).map(|i| format!("{tag} {i}")).collect()
}

/// The stats row of one queue and group.
fn group_stats(stats: &Value, queue: &str, group: &str) -> Value {
    stats["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == queue)
        .and_then(|q| {
            q["groups"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["group"] == group)
                .cloned()
        })
        .unwrap_or_else(|| panic!("no {queue}/{group} in {stats}"))
}

fn order_is_kept(kind: Kind) {
    let Some(b) = broker(kind, &[]) else { return };
    let q = queue_name("order");
    let mut p = Client::connect(b.addr);
    let sent = bodies(100, "m");
    let ids = p.produce(&q, &sent);
    let mut c = Client::connect(b.addr);
    c.consume(&q, "g", 10);
    let mut got = Vec::new();
    for _ in 0..100 {
        let m = c.message();
        assert_eq!(m["delivery"], 1);
        assert_eq!(m["redelivered"], false);
        c.ack(&m);
        got.push((
            m["id"].as_str().unwrap().to_string(),
            m["body"].as_str().unwrap().to_string(),
        ));
    }
    assert_eq!(got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(got.iter().map(|g| g.1.clone()).collect::<Vec<_>>(), sent);
}

fn a_group_shares_the_work_and_every_group_gets_everything(kind: Kind) {
    let Some(b) = broker(kind, &[]) else { return };
    let q = queue_name("share");
    let mut workers: Vec<Client> = (0..2)
        .map(|_| {
            let mut c = Client::connect(b.addr);
            c.consume(&q, "workers", 3);
            c
        })
        .collect();
    let mut audit = Client::connect(b.addr);
    audit.consume(&q, "audit", 50);
    let mut p = Client::connect(b.addr);
    p.produce(&q, &bodies(40, "job"));

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_worker = [0usize; 2];
    while seen.len() < 40 {
        let mut progress = false;
        for (i, w) in workers.iter_mut().enumerate() {
            w.timeout(Duration::from_millis(200));
            while let Some(e) = w.next() {
                if e["type"] != "message" {
                    continue;
                }
                *seen
                    .entry(e["body"].as_str().unwrap().to_string())
                    .or_default() += 1;
                per_worker[i] += 1;
                w.ack(&e);
                progress = true;
            }
        }
        assert!(
            progress || seen.len() == 40,
            "the workers stalled at {}",
            seen.len()
        );
    }
    assert!(
        seen.values().all(|&n| n == 1),
        "each job to exactly one worker: {seen:?}"
    );
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "both workers got some: {per_worker:?}"
    );

    let mut audited = BTreeSet::new();
    while audited.len() < 40 {
        let m = audit.message();
        audited.insert(m["body"].as_str().unwrap().to_string());
        audit.ack(&m);
    }
    assert_eq!(audited.len(), 40, "the other group got every message too");
}

fn a_consumer_that_disconnects_has_its_messages_redelivered(kind: Kind) {
    let Some(b) = broker(kind, &[]) else { return };
    let q = queue_name("release");
    let mut p = Client::connect(b.addr);
    p.produce(&q, &bodies(3, "x"));
    let mut first = Client::connect(b.addr);
    first.consume(&q, "g", 3);
    let held: Vec<Value> = (0..3).map(|_| first.message()).collect();
    first.ack(&held[0]);
    // Make sure the ack is processed before the connection goes.
    let st = first.stats();
    assert_eq!(group_stats(&st, &q, "g")["acked"], 1);
    drop(first);
    let mut second = Client::connect(b.addr);
    second.consume(&q, "g", 3);
    let again: Vec<Value> = (0..2).map(|_| second.message()).collect();
    assert_eq!(
        again.iter().map(|m| m["id"].clone()).collect::<Vec<_>>(),
        [held[1]["id"].clone(), held[2]["id"].clone()]
    );
    assert!(
        again
            .iter()
            .all(|m| m["delivery"] == 2 && m["redelivered"] == true)
    );
    for m in &again {
        second.ack(m);
    }
    let st = second.stats();
    let g = group_stats(&st, &q, "g");
    assert_eq!(
        (g["in_flight"].as_u64(), g["backlog"].as_u64()),
        (Some(0), Some(0)),
        "{g}"
    );
    assert_eq!(g["redeliveries"], 2);
}

fn an_ack_timeout_gives_the_message_to_another_consumer(kind: Kind) {
    let Some(b) = broker(kind, &["--ack-timeout", "600ms"]) else {
        return;
    };
    let q = queue_name("timeout");
    let mut p = Client::connect(b.addr);
    p.produce(&q, &bodies(1, "slow"));
    let mut hung = Client::connect(b.addr);
    hung.consume(&q, "g", 1);
    let m = hung.message();
    // It stays connected and never acknowledges: the broker gives up on it.
    let mut other = Client::connect(b.addr);
    other.consume(&q, "g", 1);
    let again = other.message();
    assert_eq!(again["id"], m["id"]);
    assert_eq!(again["delivery"], 2);
    other.ack(&again);
    // Its answer comes after that ack is done: the two acks arrive on two
    // connections, and nothing else orders them.
    other.stats();
    // The hung consumer's late ack finds it already acknowledged.
    hung.ack(&m);
    let e = hung.until(|e| e["type"] == "error");
    assert_eq!(e["code"], "unknown_delivery", "{e}");
}

fn prefetch_bounds_what_a_consumer_holds(kind: Kind) {
    let Some(b) = broker(kind, &[]) else { return };
    let q = queue_name("prefetch");
    let mut p = Client::connect(b.addr);
    p.produce(&q, &bodies(10, "p"));
    let mut c = Client::connect(b.addr);
    c.consume(&q, "g", 2);
    let m1 = c.message();
    let _m2 = c.message();
    // Two held: nothing more comes until one is acknowledged.
    c.timeout(Duration::from_millis(500));
    assert!(c.next().is_none(), "a third message despite prefetch 2");
    c.timeout(Duration::from_secs(15));
    let st = c.stats();
    let g = group_stats(&st, &q, "g");
    assert_eq!(
        (g["in_flight"].as_u64(), g["backlog"].as_u64()),
        (Some(2), Some(8)),
        "{g}"
    );
    let consumers = st["consumers"].as_array().unwrap();
    assert!(
        consumers
            .iter()
            .any(|x| x["queue"] == q.as_str() && x["in_flight"] == 2 && x["prefetch"] == 2)
    );
    c.ack(&m1);
    let m3 = c.message();
    assert_eq!(m3["body"], "p 2");
    c.timeout(Duration::from_millis(500));
    assert!(c.next().is_none(), "one ack, one more message");
}

macro_rules! for_each_store {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[test]
                fn memory() {
                    super::$test(super::Kind::Memory);
                }
                #[test]
                fn disk() {
                    super::$test(super::Kind::Disk);
                }
                #[test]
                fn redis() {
                    super::$test(super::Kind::Redis);
                }
            }
        )*
    };
}

for_each_store!(
    order_is_kept,
    a_group_shares_the_work_and_every_group_gets_everything,
    a_consumer_that_disconnects_has_its_messages_redelivered,
    an_ack_timeout_gives_the_message_to_another_consumer,
    prefetch_bounds_what_a_consumer_holds,
);

#[test]
fn the_command_line_produces_and_consumes() {
    let b = broker(Kind::Memory, &[]).unwrap();
    let broker_addr = b.addr.to_string();
    let (out, produced) = common::run_json(&[
        "queue",
        "produce",
        "orders",
        "order 1",
        "order 2",
        "order 3",
        "--broker",
        &broker_addr,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::events(&produced, "stored").len(), 3);
    assert_eq!(common::event(&produced, "produced")["stored"], 3);

    // Lines from stdin, as a pipe would give them.
    let mut child = netdojo()
        .args([
            "--json",
            "queue",
            "produce",
            "orders",
            "--broker",
            &broker_addr,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"order 4\norder 5\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(common::events(&json_lines(&out.stdout), "stored").len(), 2);

    let (out, consumed) = common::run_json(&[
        "queue",
        "consume",
        "orders",
        "--count",
        "5",
        "--broker",
        &broker_addr,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<_> = common::events(&consumed, "message")
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, ["order 1", "order 2", "order 3", "order 4", "order 5"]);

    let (out, stats) = common::run_json(&["queue", "stats", "--broker", &broker_addr]);
    assert!(out.status.success());
    let s = common::event(&stats, "stats");
    let g = group_stats(s, "orders", "default");
    assert_eq!(
        (
            g["acked"].as_u64(),
            g["backlog"].as_u64(),
            g["in_flight"].as_u64()
        ),
        (Some(5), Some(0), Some(0))
    );
}

#[test]
fn crash_after_leaves_the_message_for_the_next_consumer() {
    let b = broker(Kind::Memory, &[]).unwrap();
    let addr = b.addr.to_string();
    let (out, _) = common::run_json(&["queue", "produce", "pay", "a", "b", "c", "--broker", &addr]);
    assert!(out.status.success());
    let (out, first) = common::run_json(&[
        "queue",
        "consume",
        "pay",
        "--prefetch",
        "1",
        "--crash-after",
        "2",
        "--broker",
        &addr,
    ]);
    assert!(out.status.success());
    let seen: Vec<_> = common::events(&first, "message")
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, ["a", "b"]);
    assert!(common::event(&first, "crash")["id"].as_str().is_some());
    let (out, second) =
        common::run_json(&["queue", "consume", "pay", "--count", "2", "--broker", &addr]);
    assert!(out.status.success());
    let again: Vec<_> = common::events(&second, "message")
        .iter()
        .map(|m| {
            (
                m["body"].as_str().unwrap().to_string(),
                m["delivery"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        again,
        [("b".to_string(), 2), ("c".to_string(), 1)],
        "b was handled but never acknowledged"
    );
}

#[test]
fn pub_sub_reaches_only_those_connected() {
    let b = broker(Kind::Memory, &[]).unwrap();
    let mut early = Client::connect(b.addr);
    early.emit(json!({"type": "subscribe", "topic": "news"}));
    early.until(|e| e["type"] == "subscribed");
    let mut p = Client::connect(b.addr);
    p.emit(json!({"type": "publish", "topic": "news", "body": "one", "ref": 1}));
    assert_eq!(p.until(|e| e["type"] == "published")["receivers"], 1);
    assert_eq!(early.until(|e| e["type"] == "event")["body"], "one");
    drop(early);
    std::thread::sleep(Duration::from_millis(200));
    p.emit(json!({"type": "publish", "topic": "news", "body": "two", "ref": 2}));
    assert_eq!(p.until(|e| e["type"] == "published")["receivers"], 0);
    let mut late = Client::connect(b.addr);
    late.emit(json!({"type": "subscribe", "topic": "news"}));
    late.until(|e| e["type"] == "subscribed");
    late.timeout(Duration::from_millis(300));
    assert!(late.next().is_none(), "nothing is kept for a topic");
}

#[test]
fn bad_input_is_refused_nothing_is_lost_and_the_broker_keeps_serving() {
    let b = broker(Kind::Memory, &[]).unwrap();
    let q = queue_name("bad");
    let mut c = Client::connect(b.addr);
    c.produce(&q, &bodies(2, "kept"));

    let mut e = |event: Value| {
        c.emit(event);
        c.until(|e| e["type"] == "error")
    };
    let bad = e(json!({"type": "publish", "queue": "has space", "body": "x", "ref": 7}));
    assert_eq!(
        (bad["code"].as_str(), bad["ref"].as_u64()),
        (Some("bad_name"), Some(7))
    );
    let big = e(json!({"type": "publish", "queue": q, "body": "x".repeat(70_000), "ref": 8}));
    assert_eq!(big["code"], "too_big");
    assert_eq!(
        e(json!({"type": "publish", "body": "neither"}))["code"],
        "bad_event"
    );
    assert_eq!(
        e(json!({"type": "ack", "id": "1"}))["code"],
        "not_consuming"
    );
    assert_eq!(e(json!({"type": "shout"}))["code"], "bad_event");
    assert_eq!(
        e(json!({"type": "consume", "queue": q, "prefetch": 0}))["code"],
        "bad_event"
    );
    c.ws.send(Message::text("not json at all")).unwrap();
    assert_eq!(c.until(|e| e["type"] == "error")["code"], "bad_event");
    c.ws.send(Message::binary(vec![0u8, 1, 2])).unwrap();
    assert_eq!(c.until(|e| e["type"] == "error")["code"], "bad_event");
    // The two messages stored before all this are still there, in order.
    c.consume(&q, "g", 5);
    let m = c.message();
    assert_eq!(m["body"], "kept 0");
    c.ack(&m);
    assert_eq!(c.message()["body"], "kept 1");
    c.emit(json!({"type": "ack", "id": "999999"}));
    assert_eq!(
        c.until(|e| e["type"] == "error")["code"],
        "unknown_delivery"
    );
    c.emit(json!({"type": "ack", "id": m["id"]}));
    assert_eq!(
        c.until(|e| e["type"] == "error")["code"],
        "unknown_delivery",
        "acked twice"
    );
    c.emit(json!({"type": "consume", "queue": q}));
    assert_eq!(
        c.until(|e| e["type"] == "error")["code"],
        "already_consuming"
    );

    // A frame over the size limit closes that connection with 1009...
    let mut huge = Client::connect(b.addr);
    huge.ws.send(Message::text("y".repeat(300_000))).unwrap();
    let code = loop {
        match huge.ws.read() {
            Ok(Message::Close(Some(f))) => break u16::from(f.code),
            Ok(_) => continue,
            Err(e) => panic!("no close frame: {e}"),
        }
    };
    assert_eq!(code, 1009);
    // ...and garbage that is not WebSocket at all just ends its connection.
    use std::io::Write;
    let mut junk = TcpStream::connect(b.addr).unwrap();
    junk.write_all(b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
        .unwrap();
    drop(junk);
    // Everyone else carries on.
    let mut after = Client::connect(b.addr);
    after.produce(&q, &bodies(1, "after"));

    // The command line refuses bad names as usage errors.
    let out = netdojo()
        .args([
            "queue",
            "produce",
            "no good",
            "x",
            "--broker",
            &b.addr.to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = netdojo()
        .args([
            "queue",
            "consume",
            "q",
            "--prefetch",
            "0",
            "--broker",
            &b.addr.to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let port = common::free_port();
    let out = netdojo()
        .args([
            "queue",
            "produce",
            "q",
            "x",
            "--broker",
            &format!("127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused") && err.trim().lines().count() == 1,
        "{err}"
    );
}

/// Consumers killed with SIGKILL at random moments, 50 times, while 2,000
/// messages go through: every message is handled at least once, and at the
/// end nothing is left unacknowledged.
fn chaos(kind: Kind) {
    use rand::{RngExt, SeedableRng};
    let Some(b) = broker(kind, &[]) else { return };
    let q = queue_name("chaos");
    let addr = b.addr.to_string();
    let mut p = Client::connect(b.addr);
    let sent = bodies(2_000, "msg");
    p.produce(&q, &sent);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(240);
    while seen.len() < sent.len() || kills < 50 {
        assert!(
            Instant::now() < deadline,
            "chaos ran too long: {} seen, {kills} kills",
            seen.len()
        );
        let mut child = netdojo()
            .args([
                "--json",
                "queue",
                "consume",
                &q,
                "--group",
                "g",
                "--prefetch",
                "8",
                "--broker",
                &addr,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // 50 kills after 1 to 40 messages each: all of them during the run.
        let kill_after = if kills < 50 {
            rng.random_range(1..40)
        } else {
            usize::MAX
        };
        let mut handled = 0;
        while handled < kill_after {
            // Quiet for 3 s: nothing left to deliver to this consumer.
            let Ok(line) = lines.recv_timeout(Duration::from_secs(3)) else {
                break;
            };
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["event"] == "message" {
                *seen
                    .entry(v["body"].as_str().unwrap().to_string())
                    .or_default() += 1;
                handled += 1;
            }
        }
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGKILL);
        }
        let _ = child.wait();
        // What it printed before dying counts as handled too (it may also
        // have acknowledged it): read to the end of its output.
        for line in lines.iter() {
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["event"] == "message" {
                *seen
                    .entry(v["body"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
        if kill_after != usize::MAX {
            kills += 1;
        } else {
            break; // the last consumer ran until nothing more came
        }
    }
    if seen.len() != sent.len() {
        let mut c = Client::connect(b.addr);
        let st = c.stats();
        panic!(
            "every message handled at least once: {} of {}; kills {kills}; the broker says {}",
            seen.len(),
            sent.len(),
            group_stats(&st, &q, "g")
        );
    }
    let twice = seen.values().filter(|&&n| n > 1).count();
    eprintln!(
        "{kind:?}: {kills} consumers killed; {twice} of 2,000 messages handled more than once"
    );
    // Drain: whatever the last consumer held comes back and is acknowledged.
    let mut last = Client::connect(b.addr);
    last.consume(&q, "g", 100);
    last.timeout(Duration::from_secs(3));
    while let Some(e) = last.next() {
        if e["type"] == "message" {
            last.ack(&e);
        }
    }
    last.timeout(Duration::from_secs(15));
    let st = last.stats();
    let g = group_stats(&st, &q, "g");
    assert_eq!(
        (g["backlog"].as_u64(), g["in_flight"].as_u64()),
        (Some(0), Some(0)),
        "{g}"
    );
}

for_each_store!(chaos);

#[test]
fn the_demo_tells_pub_sub_from_a_queue_and_shows_the_duplicate() {
    let (out, events) = common::run_json(&["queue", "demo"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = common::event(&events, "summary");
    assert_eq!(s["pubsub_published"], 10);
    assert_eq!(s["pubsub_receivers"], 0);
    assert_eq!(s["pubsub_received_after_return"], 0);
    assert_eq!(s["queue_stored"], 10);
    assert_eq!(s["queue_received_after_return"], 10);
    assert_eq!(s["queue_in_order"], true);
    assert_eq!(s["redelivery_count"], 2);
    assert_eq!(s["naive_charges"], 2);
    assert_eq!(s["idempotent_charges"], 1);
}

/// A broker on disk is killed with SIGKILL while a producer is sending, and
/// started again on the same directory: every message it had answered
/// "stored" is there, and what it had not answered may or may not be.
#[test]
fn with_a_data_dir_no_stored_message_is_lost_when_the_broker_is_killed() {
    let dir = scratch_dir("crash");
    let data_dir = dir.display().to_string();
    let start = || {
        Server::start(&[
            "queue",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir,
        ])
    };
    let mut server = start();
    let q = "crash";
    let mut p = Client::connect(server.addr);
    let mut stored: BTreeMap<String, String> = BTreeMap::new();
    let mut sent = 0u64;
    // Keep 32 publishes in flight; kill the broker once 600 were stored.
    while stored.len() < 600 {
        while sent < stored.len() as u64 + 32 {
            p.emit(json!({"type": "publish", "queue": q, "body": format!("m{sent}"), "ref": sent}));
            sent += 1;
        }
        let e = p.until(|e| e["type"] == "stored");
        stored.insert(
            e["id"].as_str().unwrap().to_string(),
            format!("m{}", e["ref"]),
        );
    }
    server.kill9();
    drop(p);
    let server = start();
    let mut c = Client::connect(server.addr);
    c.consume(q, "g", 100);
    c.timeout(Duration::from_secs(3));
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    while let Some(e) = c.next() {
        if e["type"] == "message" {
            found.insert(
                e["id"].as_str().unwrap().to_string(),
                e["body"].as_str().unwrap().to_string(),
            );
            c.ack(&e);
        }
    }
    for (id, body) in &stored {
        assert_eq!(
            found.get(id),
            Some(body),
            "message {id} was stored, then lost in the crash"
        );
    }
    eprintln!(
        "{} stored before the kill, {} found after it ({} sent)",
        stored.len(),
        found.len(),
        sent
    );
    assert!(found.len() as u64 <= sent);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two brokers on one Redis serve one queue: within a group each message
/// goes to one consumer, whichever broker it is connected to; another group
/// gets them all.
#[test]
fn two_brokers_on_one_redis_share_a_queue() {
    let Some(redis) = common::redis() else { return };
    let start = || {
        Server::start(&[
            "queue",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--redis",
            &redis.url,
        ])
    };
    let (a, b) = (start(), start());
    let q = queue_name("shared");
    let mut g_on_a = Client::connect(a.addr);
    g_on_a.consume(&q, "g", 5);
    let mut g_on_b = Client::connect(b.addr);
    g_on_b.consume(&q, "g", 5);
    let mut h_on_b = Client::connect(b.addr);
    h_on_b.consume(&q, "h", 50);
    let mut p = Client::connect(a.addr);
    p.produce(&q, &bodies(200, "parcel"));

    let mut g_seen: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut quiet = 0;
    while g_seen.len() < 200 && quiet < 10 {
        let mut progress = false;
        for (name, c) in [("a", &mut g_on_a), ("b", &mut g_on_b)] {
            c.timeout(Duration::from_millis(200));
            while let Some(e) = c.next() {
                if e["type"] == "message" {
                    g_seen
                        .entry(e["body"].as_str().unwrap().to_string())
                        .or_default()
                        .push(name);
                    c.ack(&e);
                    progress = true;
                }
            }
        }
        quiet = if progress { 0 } else { quiet + 1 };
    }
    assert_eq!(g_seen.len(), 200, "group g got every parcel");
    assert!(
        g_seen.values().all(|v| v.len() == 1),
        "each parcel once in group g"
    );
    let via_a = g_seen.values().filter(|v| v[0] == "a").count();
    assert!(
        via_a > 0 && via_a < 200,
        "both brokers served group g: {via_a} through a"
    );
    let mut h_seen = BTreeSet::new();
    while h_seen.len() < 200 {
        let m = h_on_b.message();
        h_seen.insert(m["body"].as_str().unwrap().to_string());
        h_on_b.ack(&m);
    }
    // The consumer of g on broker b leaves: whatever of the next three it
    // took is delivered again through broker a.
    p.produce(&q, &bodies(3, "late"));
    drop(g_on_b);
    g_on_a.timeout(Duration::from_secs(15));
    let held: Vec<Value> = (0..3).map(|_| g_on_a.message()).collect();
    assert!(
        held.iter()
            .all(|m| m["body"].as_str().unwrap().starts_with("late"))
    );
}
