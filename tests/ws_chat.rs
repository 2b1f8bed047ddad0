//! `netdojo ws chat`, the terminal client, against the real server: piped
//! lines are said and acknowledged, whispers and /who work, and bad input
//! gets the right exit code and one line.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::{Server, json_lines, netdojo};

fn chat(url: &str, name: &str, input: &str) -> (std::process::Output, Vec<serde_json::Value>) {
    let mut child = netdojo()
        .args(["--json", "ws", "chat", url, "--name", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ws chat");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let events = json_lines(&out.stdout);
    (out, events)
}

fn events<'a>(all: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    all.iter().filter(|e| e["event"] == name).collect()
}

#[test]
fn piped_lines_are_said_acknowledged_and_seen_by_another_client() {
    let server = Server::start(&["ws", "serve", "--listen", "127.0.0.1:0"]);
    let url = format!("ws://{}/ws", server.addr);

    // bob stays connected (his stdin stays open) while ada says two lines.
    let mut bob = netdojo()
        .args(["--json", "ws", "chat", &url, "--name", "bob"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    server.wait_for("join", Duration::from_secs(10));

    let (out, ada) = chat(&url, "ada", "hello there\nsecond line\n/w bob psst\n/who\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let acks = events(&ada, "ack");
    assert_eq!(
        acks.len(),
        3,
        "two says and a whisper acknowledged: {ada:#?}"
    );
    let own: Vec<_> = events(&ada, "message")
        .iter()
        .map(|m| m["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(own, ["hello there", "second line"]);
    let who = &events(&ada, "who")[0];
    assert_eq!(who["members"], serde_json::json!(["ada", "bob"]));

    drop(bob.stdin.take());
    let out = bob.wait_with_output().unwrap();
    let bob_events = json_lines(&out.stdout);
    let seen: Vec<_> = events(&bob_events, "message")
        .iter()
        .map(|m| (m["from"].clone(), m["id"].as_u64().unwrap()))
        .collect();
    assert_eq!(seen, [("ada".into(), 1), ("ada".into(), 2)]);
    let whisper = &events(&bob_events, "whisper")[0];
    assert_eq!(whisper["message"], "psst");
    server.stop();
}

#[test]
fn a_taken_name_is_a_runtime_error_naming_it() {
    let server = Server::start(&["ws", "serve", "--listen", "127.0.0.1:0"]);
    let url = format!("ws://{}/ws", server.addr);
    let mut ada = netdojo()
        .args(["--json", "ws", "chat", &url, "--name", "ada"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    server.wait_for("join", Duration::from_secs(10));
    let (out, _) = chat(&url, "ada", "hi\n");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"ada\"") && err.contains("taken"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    drop(ada.stdin.take());
    let _ = ada.wait();
    server.stop();
}

#[test]
fn bad_urls_are_usage_errors_and_nobody_listening_is_a_runtime_error() {
    for url in [
        "http://127.0.0.1:9/ws",
        "wss://127.0.0.1:9/ws",
        "not a url",
        "ws:///ws",
    ] {
        let (out, _) = chat(url, "ada", "");
        assert_eq!(out.status.code(), Some(2), "{url}");
    }
    let (out, _) = chat(
        "ws://127.0.0.1:9001/ws",
        "bad name with a very long name over the limit",
        "",
    );
    assert_eq!(out.status.code(), Some(2));

    let port = common::free_port();
    let (out, _) = chat(&format!("ws://127.0.0.1:{port}/ws"), "ada", "hi\n");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused"), "{err}");
}

/// `netdojo ws chat` as NAME, through `proxy`; its input stays open until
/// the test drops it.
fn chat_through(proxy: &common::CutProxy, name: &str) -> std::process::Child {
    netdojo()
        .args([
            "--json",
            "ws",
            "chat",
            &format!("ws://{}/ws", proxy.addr),
            "--name",
            name,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ws chat")
}

/// A bare WebSocket client, for the other side of a conversation.
struct Raw {
    ws: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
}

impl Raw {
    fn connect(url: &str, name: &str, room: &str) -> Raw {
        let (ws, _) = tungstenite::connect(url).expect("raw client connects");
        // Pings every 15 s reset this, so it only catches a silent server.
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        }
        let mut raw = Raw { ws };
        raw.emit(serde_json::json!({"type": "hello", "name": name}));
        raw.until(|e| e["type"] == "welcome");
        raw.emit(serde_json::json!({"type": "join", "room": room}));
        raw.until(|e| e["type"] == "presence" && e["name"] == name);
        raw
    }

    fn emit(&mut self, event: serde_json::Value) {
        self.ws
            .send(tungstenite::Message::text(event.to_string()))
            .unwrap();
    }

    fn until(&mut self, want: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        loop {
            if let tungstenite::Message::Text(t) = self.ws.read().expect("raw client reads") {
                let e: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                if want(&e) {
                    return e;
                }
            }
        }
    }
}

#[test]
fn after_a_network_drop_the_client_reconnects_takes_its_name_back_and_recovers_exactly_what_it_missed()
 {
    let server = Server::start(&["ws", "serve", "--listen", "127.0.0.1:0"]);
    let proxy = common::CutProxy::start(server.addr);
    let mut bob = Raw::connect(&format!("ws://{}/ws", server.addr), "bob", "lobby");

    let mut ada = chat_through(&proxy, "ada");
    bob.until(|e| e["type"] == "presence" && e["name"] == "ada" && e["event"] == "joined");

    // The network drops: ada's client sees its connection end, the server
    // does not (its side of the proxy stays open). New connections fail.
    proxy.refuse(true);
    proxy.cut();
    for i in 1..=5 {
        bob.emit(serde_json::json!({"type": "say", "room": "lobby", "text": format!("missed {i}"), "ack": i}));
        bob.until(|e| e["type"] == "ack" && e["ack"] == i);
    }
    // Let ada's client fail at least one reconnect, then let it through.
    std::thread::sleep(Duration::from_millis(600));
    proxy.refuse(false);
    let replaced = server.wait_for("replaced", Duration::from_secs(15));
    assert_eq!(replaced["name"], "ada");
    bob.until(|e| e["type"] == "presence" && e["name"] == "ada" && e["event"] == "joined");
    bob.emit(serde_json::json!({"type": "say", "room": "lobby", "text": "welcome back", "ack": 6}));
    bob.until(|e| e["type"] == "ack" && e["ack"] == 6);
    std::thread::sleep(Duration::from_millis(300));

    drop(ada.stdin.take());
    let out = ada.wait_with_output().unwrap();
    assert!(out.status.success());
    let all = json_lines(&out.stdout);
    assert!(!events(&all, "disconnected").is_empty(), "{all:#?}");
    assert!(
        !events(&all, "reconnecting").is_empty(),
        "a reconnect was refused first: {all:#?}"
    );
    let resumed = &events(&all, "resumed")[0];
    assert_eq!(
        (
            resumed["after"].as_u64(),
            resumed["replayed"].as_u64(),
            resumed["lost"].as_u64()
        ),
        (Some(0), Some(5), Some(0))
    );
    let got: Vec<_> = events(&all, "message")
        .iter()
        .map(|m| (m["id"].as_u64().unwrap(), m["replayed"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (1, true),
            (2, true),
            (3, true),
            (4, true),
            (5, true),
            (6, false)
        ],
        "exactly the missed ones, in order, once each, then live again"
    );
    assert!(proxy.accepted() >= 2);
    server.stop();
}

#[test]
fn after_the_server_restarts_the_client_starts_counting_again_and_misses_nothing_new() {
    // Message ids start again at 1 in a new server process: a client that
    // resumed with the old ids would skip the new server's first messages
    // as "already seen".
    let old = Server::start(&["ws", "serve", "--listen", "127.0.0.1:0"]);
    let proxy = common::CutProxy::start(old.addr);
    let mut bob = Raw::connect(&format!("ws://{}/ws", old.addr), "bob", "lobby");
    let mut ada = chat_through(&proxy, "ada");
    bob.until(|e| e["type"] == "presence" && e["name"] == "ada" && e["event"] == "joined");
    for i in 1..=3 {
        bob.emit(serde_json::json!({"type": "say", "room": "lobby", "text": format!("old {i}"), "ack": i}));
        bob.until(|e| e["type"] == "ack" && e["ack"] == i);
    }
    std::thread::sleep(Duration::from_millis(300));

    // The server "restarts": a new process takes over, the old one stops.
    proxy.refuse(true);
    let new = Server::start(&["ws", "serve", "--listen", "127.0.0.1:0"]);
    proxy.set_upstream(new.addr);
    drop(bob);
    old.stop();
    let mut bob = Raw::connect(&format!("ws://{}/ws", new.addr), "bob", "lobby");
    for i in 1..=2 {
        bob.emit(serde_json::json!({"type": "say", "room": "lobby", "text": format!("new {i}"), "ack": i}));
        bob.until(|e| e["type"] == "ack" && e["ack"] == i);
    }
    proxy.refuse(false);
    let resumed = new.wait_for("resumed", Duration::from_secs(15));
    assert_eq!(resumed["restarted"], true, "{resumed}");
    bob.until(|e| e["type"] == "presence" && e["name"] == "ada" && e["event"] == "joined");
    for i in 3..=4 {
        bob.emit(serde_json::json!({"type": "say", "room": "lobby", "text": format!("new {i}"), "ack": i}));
        bob.until(|e| e["type"] == "ack" && e["ack"] == i);
    }
    std::thread::sleep(Duration::from_millis(300));

    drop(ada.stdin.take());
    let out = ada.wait_with_output().unwrap();
    assert!(out.status.success());
    let all = json_lines(&out.stdout);
    let resumed = &events(&all, "resumed")[0];
    assert_eq!(
        (
            resumed["after"].as_u64(),
            resumed["replayed"].as_u64(),
            resumed["restarted"].as_bool()
        ),
        (Some(0), Some(2), Some(true)),
        "{resumed}"
    );
    let got: Vec<_> = events(&all, "message")
        .iter()
        .map(|m| m["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        got,
        [
            "old 1", "old 2", "old 3", "new 1", "new 2", "new 3", "new 4"
        ],
        "every message of both servers, once each: {all:#?}"
    );
    new.stop();
}

#[test]
fn a_client_whose_input_ends_while_the_server_is_gone_stops_retrying() {
    let server = Server::start(&["ws", "serve", "--listen", "127.0.0.1:0"]);
    let url = format!("ws://{}/ws", server.addr);
    let mut ada = netdojo()
        .args(["--json", "ws", "chat", &url, "--name", "ada"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server.wait_for("join", Duration::from_secs(10));
    server.stop();
    // Let it notice and start retrying, then end its input.
    std::thread::sleep(Duration::from_millis(800));
    drop(ada.stdin.take());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while ada.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "still reconnecting after its input ended"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = ada.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = json_lines(&out.stdout);
    assert_eq!(events(&all, "input_ended").len(), 1, "{all:#?}");
}
