//! `netdojo ws serve` over real sockets: one port for the page and the
//! socket, the event protocol, recovery of missed messages, and every limit
//! a peer can hit (size, UTF-8, rate, clients, slowness, silence, garbage),
//! with the server still serving everyone else afterwards.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::Server;
use serde_json::{Value, json};
use tungstenite::Message;
use tungstenite::stream::MaybeTlsStream;

type Socket = tungstenite::WebSocket<MaybeTlsStream<TcpStream>>;

/// A chat client built on tungstenite, to drive the server precisely.
struct Client {
    ws: Socket,
}

impl Client {
    /// Connects and says hello; returns the client and the welcome.
    fn hello(addr: SocketAddr, hello: Value) -> (Client, Value) {
        let mut c = Client::connect(addr);
        c.emit(hello);
        let welcome = c.until(|e| e["type"] == "welcome" || e["type"] == "error");
        (c, welcome)
    }

    fn connect(addr: SocketAddr) -> Client {
        let (ws, _) = tungstenite::connect(format!("ws://{addr}/ws")).expect("connect");
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        }
        Client { ws }
    }

    /// Connects as `name` and joins `room`.
    fn join(addr: SocketAddr, name: &str, room: &str) -> Client {
        let (mut c, welcome) = Client::hello(addr, json!({"type": "hello", "name": name}));
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        c.emit(json!({"type": "join", "room": room}));
        c.until(|e| e["type"] == "presence" && e["name"] == name);
        c
    }

    fn emit(&mut self, event: Value) {
        self.ws.send(Message::text(event.to_string())).unwrap();
    }

    fn say(&mut self, room: &str, text: &str, ack: u64) -> Value {
        self.emit(json!({"type": "say", "room": room, "text": text, "ack": ack}));
        self.until(|e| e["type"] == "ack" && e["ack"] == ack)
    }

    /// The next event, skipping pings.
    fn next(&mut self) -> Value {
        loop {
            match self.ws.read().expect("read an event") {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Close(f) => panic!("closed: {f:?}"),
                _ => continue,
            }
        }
    }

    fn until(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        loop {
            let e = self.next();
            if want(&e) {
                return e;
            }
        }
    }
}

fn serve(extra: &[&str]) -> Server {
    let mut args = vec!["ws", "serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// The server still chats with a newcomer: it survived whatever came before.
fn still_serving(addr: SocketAddr) {
    let mut a = Client::join(addr, "newcomer", "after");
    let ack = a.say("after", "still here?", 1);
    assert!(ack["id"].as_u64().is_some(), "{ack}");
}

/// One HTTP/1.1 request on a fresh connection; the whole response.
fn http(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn one_port_serves_the_page_its_assets_and_the_upgrade() {
    let server = serve(&[]);
    let a = server.addr;
    let get = |path: &str| {
        http(
            a,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    };
    let page = get("/");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.to_ascii_lowercase()
            .contains("content-type: text/html")
    );
    assert!(page.contains("<script src=\"/app.js\">"));
    assert!(get("/app.js").contains("new WebSocket("));
    assert!(get("/style.css").starts_with("HTTP/1.1 200"));
    assert!(get("/nothing-here").starts_with("HTTP/1.1 404"));
    let post = http(
        a,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    // /ws without the upgrade headers is a plain bad request, not a socket.
    let plain = get("/ws");
    assert!(plain.starts_with("HTTP/1.1 400"), "{plain}");
    assert!(plain.contains("Sec-WebSocket-Key"));
    // The real upgrade answers with the accept derived from the key (RFC 6455's example).
    let up = http(
        a,
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert!(up.starts_with("HTTP/1.1 101"), "{up}");
    assert!(up.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{up}");
    server.stop();
}

#[test]
fn events_rooms_broadcast_acks_whispers_and_presence() {
    let server = serve(&[]);
    let mut ada = Client::join(server.addr, "ada", "lobby");
    let mut bob = Client::join(server.addr, "bob", "lobby");
    let p = ada.until(|e| e["type"] == "presence");
    assert_eq!(
        (p["name"].clone(), p["event"].clone(), p["members"].clone()),
        (json!("bob"), json!("joined"), json!(["ada", "bob"]))
    );

    // A say goes to every member, the sender included, then the ack.
    ada.emit(
        json!({"type": "say", "room": "lobby", "text": "<script>alert(1)</script>", "ack": 7}),
    );
    let own = ada.until(|e| e["type"] == "message");
    let ack = ada.until(|e| e["type"] == "ack");
    assert_eq!(ack, json!({"type": "ack", "ack": 7, "id": own["id"]}));
    let seen = bob.until(|e| e["type"] == "message");
    assert_eq!(seen["text"], "<script>alert(1)</script>", "text, untouched");
    assert_eq!(
        (seen["id"].as_u64(), seen["from"].as_str()),
        (Some(1), Some("ada"))
    );

    // Ids increase by one per room; another room starts at 1.
    assert_eq!(bob.say("lobby", "two", 1)["id"], 2);
    let mut cy = Client::join(server.addr, "cy", "kitchen");
    assert_eq!(cy.say("kitchen", "first here", 1)["id"], 1);

    // A whisper reaches one user and the sender's copy, not the room.
    ada.emit(json!({"type": "whisper", "to": "cy", "text": "psst", "ack": 8}));
    let w = cy.until(|e| e["type"] == "whisper");
    assert_eq!(
        (w["from"].as_str(), w["text"].as_str()),
        (Some("ada"), Some("psst"))
    );
    assert_eq!(
        ada.until(|e| e["type"] == "ack"),
        json!({"type": "ack", "ack": 8})
    );
    ada.emit(json!({"type": "whisper", "to": "nobody", "text": "x"}));
    assert_eq!(ada.until(|e| e["type"] == "error")["code"], "no_such_user");

    // Typing is passed to the others in the room, never back to the typist.
    bob.emit(json!({"type": "typing", "room": "lobby"}));
    let t = ada.until(|e| e["type"] == "typing" || e["type"] == "message");
    assert_eq!(
        (t["type"].as_str(), t["name"].as_str()),
        (Some("typing"), Some("bob"))
    );

    // Saying in a room one has not joined is refused; the connection stays.
    cy.emit(json!({"type": "say", "room": "lobby", "text": "hi"}));
    assert_eq!(cy.until(|e| e["type"] == "error")["code"], "not_in_room");

    // Leaving tells those who stay.
    bob.emit(json!({"type": "leave", "room": "lobby"}));
    let left = ada.until(|e| e["type"] == "presence");
    assert_eq!(
        (left["event"].as_str(), left["members"].clone()),
        (Some("left"), json!(["ada"]))
    );
    server.stop();
}

#[test]
fn hello_comes_first_names_are_unique_and_checked() {
    let server = serve(&[]);
    let mut early = Client::connect(server.addr);
    early.emit(json!({"type": "join", "room": "lobby"}));
    assert_eq!(early.next()["code"], "hello_first");

    let _ada = Client::join(server.addr, "ada", "lobby");
    let (mut again, refused) = Client::hello(server.addr, json!({"type": "hello", "name": "ada"}));
    assert_eq!(refused["code"], "name_taken", "{refused}");
    // A wrong session token does not take the name either.
    let (_, guessed) = Client::hello(
        server.addr,
        json!({"type": "hello", "name": "ada", "session": "00000000000000000000000000000000"}),
    );
    assert_eq!(guessed["code"], "name_taken");
    // The refused connection stays open and may pick another name.
    again.emit(json!({"type": "hello", "name": "ada2"}));
    assert_eq!(again.next()["type"], "welcome");
    for bad in ["", " padded", &"x".repeat(33), "tab\there"] {
        let (_, e) = Client::hello(server.addr, json!({"type": "hello", "name": bad}));
        assert_eq!(e["code"], "bad_name", "{bad:?}");
    }
    still_serving(server.addr);
    server.stop();
}

#[test]
fn bad_json_gets_an_error_event_and_the_connection_stays() {
    let server = serve(&[]);
    let mut ada = Client::join(server.addr, "ada", "lobby");
    for garbage in [
        "not json",
        "{\"type\":\"shout\",\"room\":\"lobby\"}",
        "{\"type\":\"say\",\"room\":\"lobby\"}",
        "[1,2,3]",
    ] {
        ada.ws.send(Message::text(garbage)).unwrap();
        let e = ada.until(|e| e["type"] == "error");
        assert_eq!(e["code"], "bad_event", "{garbage}: {e}");
    }
    ada.ws.send(Message::binary(vec![1u8, 2, 3])).unwrap();
    assert_eq!(ada.until(|e| e["type"] == "error")["code"], "bad_event");
    let long = "x".repeat(2_001);
    ada.emit(json!({"type": "say", "room": "lobby", "text": long}));
    assert_eq!(ada.until(|e| e["type"] == "error")["code"], "too_long");
    // Still connected, still chatting.
    assert_eq!(ada.say("lobby", "fine", 1)["id"], 1);
    server.stop();
}

/// A raw connection after a real upgrade, to send frames no library would.
struct RawFrames {
    s: TcpStream,
}

impl RawFrames {
    fn open(addr: SocketAddr) -> RawFrames {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"));
        RawFrames { s }
    }

    /// Writes one frame, masked with a fixed key unless `mask` is false.
    fn frame(&mut self, fin: bool, opcode: u8, payload: &[u8], mask: bool) {
        let mut f = vec![(u8::from(fin) << 7) | opcode];
        let m = if mask { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => f.push(m | n as u8),
            n if n <= 0xffff => {
                f.push(m | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(m | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let key = [0x12, 0x34, 0x56, 0x78];
        if mask {
            f.extend_from_slice(&key);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            f.extend_from_slice(payload);
        }
        self.s.write_all(&f).unwrap();
    }

    /// Reads server frames until a close; returns its code.
    fn close_code(&mut self) -> u16 {
        loop {
            let mut h = [0u8; 2];
            self.s.read_exact(&mut h).expect("a frame from the server");
            assert_eq!(h[1] & 0x80, 0, "a server never masks");
            let len = match h[1] & 0x7f {
                126 => {
                    let mut l = [0u8; 2];
                    self.s.read_exact(&mut l).unwrap();
                    u64::from(u16::from_be_bytes(l))
                }
                127 => {
                    let mut l = [0u8; 8];
                    self.s.read_exact(&mut l).unwrap();
                    u64::from_be_bytes(l)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0u8; len as usize];
            self.s.read_exact(&mut payload).unwrap();
            if h[0] & 0x0f == 8 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }
}

#[test]
fn oversize_invalid_utf8_and_malformed_frames_close_with_the_right_code() {
    let server = serve(&[]);
    let hello = json!({"type": "hello", "name": "raw"}).to_string();

    // 1009: a message over the 16 KiB limit, in one frame or in fragments.
    let mut big = RawFrames::open(server.addr);
    big.frame(true, 1, hello.as_bytes(), true);
    big.frame(true, 1, &vec![b'x'; 20_000], true);
    assert_eq!(big.close_code(), 1009);
    let mut pieces = RawFrames::open(server.addr);
    pieces.frame(false, 1, &vec![b'x'; 10_000], true);
    pieces.frame(true, 0, &vec![b'x'; 10_000], true);
    assert_eq!(pieces.close_code(), 1009);
    // A length field claiming 2^62 bytes is refused without waiting for them.
    let mut claims = RawFrames::open(server.addr);
    claims
        .s
        .write_all(&[0x81, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4])
        .unwrap();
    assert_eq!(claims.close_code(), 1009);

    // 1007: a text frame that is not UTF-8.
    let mut latin1 = RawFrames::open(server.addr);
    latin1.frame(true, 1, b"caf\xe9", true);
    assert_eq!(latin1.close_code(), 1007);

    // 1002: frames RFC 6455 forbids from a client.
    let mut unmasked = RawFrames::open(server.addr);
    unmasked.frame(true, 1, hello.as_bytes(), false);
    assert_eq!(unmasked.close_code(), 1002);
    let mut reserved = RawFrames::open(server.addr);
    reserved.frame(true, 3, b"?", true);
    assert_eq!(reserved.close_code(), 1002);

    // Garbage after the upgrade, and connections dropped mid-frame.
    for _ in 0..20 {
        let mut g = RawFrames::open(server.addr);
        g.s.write_all(&[0x81, 0x85, 1, 2]).unwrap(); // a header cut short
        drop(g);
    }
    let mut junk = TcpStream::connect(server.addr).unwrap();
    junk.write_all(&[
        0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, b'\r', b'\n', b'\r', b'\n',
    ])
    .unwrap();
    drop(junk);
    still_serving(server.addr);
    server.stop();
}

#[test]
fn a_client_over_the_rate_limit_is_warned_then_closed_with_1008() {
    let server = serve(&[]);
    let mut spam = Client::join(server.addr, "spam", "lobby");
    let mut warnings = 0;
    // 40 at once is the burst; the rest are over it.
    for i in 0..60 {
        spam.emit(json!({"type": "typing", "room": "lobby", "n": i}));
    }
    let code = loop {
        match spam.ws.read() {
            Ok(Message::Text(t)) => {
                let e: Value = serde_json::from_str(t.as_str()).unwrap();
                if e["code"] == "rate_limited" {
                    warnings += 1;
                }
            }
            Ok(Message::Close(Some(f))) => break u16::from(f.code),
            Ok(_) => continue,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(code, 1008);
    assert_eq!(warnings, 4, "RATE_STRIKES - 1 warnings before the close");
    still_serving(server.addr);
    server.stop();
}

#[test]
fn past_max_clients_the_upgrade_is_refused_with_http_503() {
    let server = serve(&["--max-clients", "2"]);
    let _a = Client::join(server.addr, "a", "r");
    let _b = Client::join(server.addr, "b", "r");
    match tungstenite::connect(format!("ws://{}/ws", server.addr)) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
        Err(e) => panic!("expected HTTP 503, got {e}"),
        Ok(_) => panic!("a third client was let in"),
    }
    // The page is still served: the limit is on sockets, not on HTTP.
    let page = http(
        server.addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(page.starts_with("HTTP/1.1 200"));
    drop(_a);
    // The slot comes back once a client leaves.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tungstenite::connect(format!("ws://{}/ws", server.addr)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the slot never came back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();
}

#[test]
fn a_peer_that_stops_answering_pings_is_dropped() {
    let server = serve(&["--heartbeat", "200ms", "--heartbeat-timeout", "600ms"]);
    // Says hello, then goes silent: never reads, so never answers a ping.
    let mut silent = RawFrames::open(server.addr);
    silent.frame(
        true,
        1,
        json!({"type": "hello", "name": "ghost"})
            .to_string()
            .as_bytes(),
        true,
    );
    let gone = server.wait_for("disconnected", Duration::from_secs(10));
    assert_eq!(gone["name"], "ghost");
    assert_eq!(gone["code"], 1001);
    assert!(gone["reason"].as_str().unwrap().contains("ping"), "{gone}");
    // A client that keeps reading answers every ping (tungstenite pongs by
    // itself as it reads) and stays.
    let mut alive = Client::join(server.addr, "alive", "r");
    if let MaybeTlsStream::Plain(s) = alive.ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
    }
    let mut pings = 0;
    let until = std::time::Instant::now() + Duration::from_millis(1_500);
    while std::time::Instant::now() < until {
        match alive.ws.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(Message::Close(f)) => panic!("an answering client was dropped: {f:?}"),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let _ = alive.ws.flush(); // the pong queued by the last read
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(pings >= 3, "pings every 200 ms: {pings}");
    if let MaybeTlsStream::Plain(s) = alive.ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    assert_eq!(alive.say("r", "still here", 1)["id"], 1);
    drop(silent);
    server.stop();
}

#[test]
fn a_resume_replays_exactly_what_was_missed_and_counts_what_history_lost() {
    let server = serve(&["--rate-limit", "0"]);
    let mut ada = Client::join(server.addr, "ada", "lobby");
    let mut bob = Client::join(server.addr, "bob", "lobby");
    ada.say("lobby", "before", 1);
    let last = bob.until(|e| e["type"] == "message")["id"]
        .as_u64()
        .unwrap();
    drop(bob);
    ada.until(|e| e["type"] == "presence" && e["event"] == "left");

    for i in 0..5 {
        ada.say("lobby", &format!("while away {i}"), 10 + i);
    }
    let (mut bob, _) = Client::hello(
        server.addr,
        json!({"type": "hello", "name": "bob", "resume": {"lobby": last}}),
    );
    let resumed = bob.until(|e| e["type"] == "resumed");
    assert_eq!(
        resumed,
        json!({"type": "resumed", "room": "lobby", "after": last, "replayed": 5, "lost": 0})
    );
    let replayed: Vec<Value> = (0..5)
        .map(|_| bob.until(|e| e["type"] == "message"))
        .collect();
    let texts: Vec<&str> = replayed
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        (0..5)
            .map(|i| format!("while away {i}"))
            .collect::<Vec<_>>()
    );
    assert!(replayed.iter().all(|m| m["replayed"] == true));
    let ids: Vec<u64> = replayed.iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (last + 1..=last + 5).collect::<Vec<_>>());
    // Then live again, not marked, and nothing twice.
    ada.say("lobby", "live", 99);
    let live = bob.until(|e| e["type"] == "message");
    assert_eq!(
        (live["id"].as_u64(), live.get("replayed")),
        (Some(last + 6), None)
    );
    drop(bob);
    ada.until(|e| e["type"] == "presence" && e["event"] == "left");

    // Away for more than the history holds (100): told how many are gone.
    for i in 0..105 {
        ada.say("lobby", &format!("flood {i}"), 1_000 + i);
    }
    let (mut bob, _) = Client::hello(
        server.addr,
        json!({"type": "hello", "name": "bob", "resume": {"lobby": last + 6}}),
    );
    let resumed = bob.until(|e| e["type"] == "resumed");
    assert_eq!(
        (resumed["replayed"].as_u64(), resumed["lost"].as_u64()),
        (Some(100), Some(5))
    );
    let first = bob.until(|e| e["type"] == "message");
    assert_eq!(first["text"], "flood 5", "the oldest kept one comes first");
    server.stop();
}

#[test]
fn without_recovery_a_returning_client_only_hears_how_much_it_missed() {
    let server = serve(&["--no-recovery"]);
    let mut ada = Client::join(server.addr, "ada", "lobby");
    for i in 0..3 {
        ada.say("lobby", &format!("m{i}"), i);
    }
    let (mut bob, _) = Client::hello(
        server.addr,
        json!({"type": "hello", "name": "bob", "resume": {"lobby": 0}}),
    );
    let resumed = bob.until(|e| e["type"] == "resumed");
    assert_eq!(
        (resumed["replayed"].as_u64(), resumed["lost"].as_u64()),
        (Some(0), Some(3))
    );
    ada.say("lobby", "live", 9);
    assert_eq!(bob.until(|e| e["type"] == "message")["text"], "live");
    server.stop();
}

/// Resident memory of a process, in KiB (Linux).
#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn a_reader_too_slow_to_keep_up_is_cut_off_and_memory_stays_bounded() {
    let server = serve(&["--rate-limit", "0"]);
    let pid = server.pid();
    // The slow one joins, then never reads a byte.
    let mut slow = RawFrames::open(server.addr);
    slow.frame(
        true,
        1,
        json!({"type": "hello", "name": "slow"})
            .to_string()
            .as_bytes(),
        true,
    );
    slow.frame(
        true,
        1,
        json!({"type": "join", "room": "lobby"})
            .to_string()
            .as_bytes(),
        true,
    );
    let joined = server.wait_for("join", Duration::from_secs(10));
    assert_eq!(joined["name"], "slow");
    let mut fast = Client::join(server.addr, "fast", "lobby");
    let before = rss_kib(pid);

    // 40 MB of messages, far more than the slow reader's socket buffers hold.
    let text = "y".repeat(2_000);
    let mut cut = None;
    for i in 0..20_000u64 {
        // One at a time, each acknowledged: the fast reader keeps up.
        fast.emit(json!({"type": "say", "room": "lobby", "text": text, "ack": i}));
        loop {
            let e = fast.next();
            if e["type"] == "presence" && e["name"] == "slow" && e["event"] == "left" {
                cut = Some(i);
            }
            if e["type"] == "ack" && e["ack"] == i {
                break;
            }
        }
        if cut.is_some() {
            break;
        }
    }
    let during = rss_kib(pid);
    let gone = server.wait_for("disconnected", Duration::from_secs(10));
    assert_eq!(
        (gone["name"].as_str(), gone["code"].as_u64()),
        (Some("slow"), Some(1008))
    );
    assert!(cut.is_some(), "the slow reader was never cut off");
    eprintln!(
        "server RSS: {before} KiB before, {during} KiB after {} messages of 2,000 bytes to a reader that never read",
        cut.unwrap()
    );
    assert!(
        during.saturating_sub(before) < 16 * 1024,
        "the server grew by {} KiB buffering for a slow reader",
        during - before
    );
    drop(slow);
    still_serving(server.addr);
    server.stop();
}

#[test]
fn five_hundred_clients_in_one_room_all_receive_a_broadcast() {
    const CLIENTS: usize = 500;
    let server = serve(&[]);
    let addr = server.addr;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let received = rt.block_on(async move {
        use futures_util::{SinkExt, StreamExt};
        let mut clients = Vec::new();
        for i in 0..CLIENTS {
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
                .await
                .expect("connect");
            let hello = json!({"type": "hello", "name": format!("c{i}")}).to_string();
            ws.send(Message::text(hello)).await.unwrap();
            let join = json!({"type": "join", "room": "hall"}).to_string();
            ws.send(Message::text(join)).await.unwrap();
            clients.push(ws);
        }
        // Each client reads until it has seen the broadcast.
        let (tx, mut rx) = tokio::sync::mpsc::channel(CLIENTS);
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(CLIENTS);
        for (i, mut ws) in clients.into_iter().enumerate() {
            let tx = tx.clone();
            let ready_tx = ready_tx.clone();
            tokio::spawn(async move {
                let me = format!("c{i}");
                while let Some(Ok(m)) = ws.next().await {
                    let Message::Text(t) = m else { continue };
                    let e: Value = serde_json::from_str(t.as_str()).unwrap();
                    if e["type"] == "presence" && e["name"] == me {
                        let _ = ready_tx.send(i).await;
                    }
                    if e["type"] == "message" && e["text"] == "to everyone" {
                        let _ = tx.send(i).await;
                        break;
                    }
                }
                // Keep the connection open until the test ends.
                std::future::pending::<()>().await;
            });
        }
        for _ in 0..CLIENTS {
            tokio::time::timeout(Duration::from_secs(60), ready_rx.recv())
                .await
                .expect("every client joined");
        }
        let (mut sender, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        for e in [
            json!({"type": "hello", "name": "sender"}),
            json!({"type": "join", "room": "hall"}),
            json!({"type": "say", "room": "hall", "text": "to everyone"}),
        ] {
            sender.send(Message::text(e.to_string())).await.unwrap();
        }
        let mut got = std::collections::BTreeSet::new();
        while got.len() < CLIENTS {
            match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
                Ok(Some(i)) => {
                    got.insert(i);
                }
                _ => break,
            }
        }
        got.len()
    });
    assert_eq!(received, CLIENTS);
    rt.shutdown_background();
    server.stop();
}
