//! `netdojo ws tap`: a proxy that forwards every byte unchanged and shows
//! the HTTP upgrade and each WebSocket frame. First against a scripted peer
//! whose bytes we choose (so forwarding can be compared byte for byte), then
//! between a Python `websockets` client and server nobody here wrote.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use netdojo::report::{Observation, Reporter};
use netdojo::ws::frames::apply_mask;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// RFC 6455 §1.3's example: this key must be answered with this accept.
const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn frame(fin: bool, opcode: u8, key: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
    let m = if key.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(m | n as u8),
        n @ 126..=0xFFFF => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mut body = payload.to_vec();
    if let Some(k) = key {
        out.extend_from_slice(&k);
        apply_mask(&mut body, k);
    }
    out.extend_from_slice(&body);
    out
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// What the scripted client sends after its request, and the server after its 101.
struct Script {
    client: Vec<Vec<u8>>,
    server: Vec<u8>,
}

/// Runs the tap in this process between a scripted client and server, and
/// returns what each end received and what the tap observed.
async fn through_tap(script: Script) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>, Vec<Observation>) {
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    let server_reply = script.server.clone();
    let server = tokio::spawn(async move {
        let (mut s, _) = upstream.accept().await.unwrap();
        // Read the request head, answer the upgrade, then send the script
        // while reading everything the client sends until its FIN.
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "request head");
            got.extend_from_slice(&buf[..n]);
        }
        let mut sent = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {RFC_ACCEPT}\r\n\r\n"
        )
        .into_bytes();
        sent.extend_from_slice(&server_reply);
        let (mut rd, mut wr) = s.into_split();
        let write = async {
            // In small pieces: the tap must not care how reads are cut.
            for piece in sent.chunks(7) {
                wr.write_all(piece).await.unwrap();
            }
            wr.shutdown().await.unwrap();
        };
        let read = async {
            rd.read_to_end(&mut got).await.unwrap();
        };
        tokio::join!(write, read);
        (got, sent)
    });

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tap_addr = listener.local_addr().unwrap();
    let (reporter, recorder) = Reporter::recorder();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let tap = tokio::spawn(netdojo::ws::tap::run(
        listener,
        upstream_addr,
        reporter,
        async move {
            let _ = stop_rx.await;
        },
    ));

    let client = tokio::net::TcpStream::connect(tap_addr).await.unwrap();
    let (mut rd, mut wr) = client.into_split();
    let mut sent = format!(
        "GET /chat HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {RFC_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    for part in &script.client {
        sent.extend_from_slice(part);
    }
    let write = async {
        for piece in sent.chunks(5) {
            wr.write_all(piece).await.unwrap();
        }
        wr.shutdown().await.unwrap();
    };
    let mut received = Vec::new();
    let read = async {
        rd.read_to_end(&mut received).await.unwrap();
    };
    tokio::join!(write, read);
    let (server_got, server_sent) = server.await.unwrap();
    // Let the tap report the connection's end, then stop it.
    for _ in 0..200 {
        if !recorder.events("closed").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_tx.send(()).unwrap();
    tap.await.unwrap().unwrap();
    (
        sent,
        server_got,
        server_sent,
        received,
        recorder.observations(),
    )
}

fn of<'a>(obs: &'a [Observation], event: &str) -> Vec<&'a Observation> {
    obs.iter().filter(|o| o.event == event).collect()
}

fn field<'a>(o: &'a Observation, name: &str) -> &'a Value {
    o.get(name)
        .unwrap_or_else(|| panic!("{} has no {name}: {o:?}", o.event))
}

#[tokio::test]
async fn bytes_pass_unchanged_and_every_frame_is_read() {
    let key = Some([0x37, 0xfa, 0x21, 0x3d]);
    let big = vec![b'x'; 300];
    let script = Script {
        client: vec![
            frame(
                true,
                1,
                key,
                br#"{"type":"say","room":"lobby","text":"hi"}"#,
            ),
            frame(false, 1, key, b"frag"),
            frame(true, 9, key, b"still there?"),
            frame(true, 0, key, b"mented"),
            frame(true, 8, key, &close_payload(1000, "bye")),
        ],
        server: [
            frame(true, 1, None, b"Hello"),
            frame(true, 2, None, &big),
            frame(true, 10, None, b"still there?"),
            frame(true, 8, None, &close_payload(1000, "bye")),
        ]
        .concat(),
    };
    let (client_sent, server_got, server_sent, client_got, obs) = through_tap(script).await;
    assert_eq!(server_got, client_sent, "client → server bytes unchanged");
    assert_eq!(client_got, server_sent, "server → client bytes unchanged");

    let req = of(&obs, "upgrade_request");
    assert_eq!(req.len(), 1);
    assert_eq!(field(req[0], "sec_websocket_key"), RFC_KEY);
    assert_eq!(field(req[0], "path"), "/chat");
    let res = of(&obs, "upgrade_response");
    assert_eq!(field(res[0], "sec_websocket_accept"), RFC_ACCEPT);
    assert_eq!(field(res[0], "expected_accept"), RFC_ACCEPT);
    assert_eq!(field(res[0], "accept_matches"), true);

    let frames = of(&obs, "ws_frame");
    let (client, server): (Vec<&Observation>, Vec<&Observation>) = frames
        .into_iter()
        .partition(|o| field(o, "direction") == "client_to_server");
    assert_eq!(client.len(), 5);
    assert_eq!(server.len(), 4);
    assert!(client.iter().all(|o| field(o, "masked") == true
        && field(o, "mask_key") == "37fa213d"
        && o.get("problem").is_none()));
    assert!(server.iter().all(|o| field(o, "masked") == false));
    let opcodes: Vec<_> = client.iter().map(|o| field(o, "opcode").clone()).collect();
    assert_eq!(opcodes, ["text", "text", "ping", "continuation", "close"]);
    assert_eq!(field(client[1], "fin"), false);
    assert_eq!(field(server[1], "length_encoding"), "16-bit");
    assert_eq!(field(server[1], "payload_len"), 300);
    assert_eq!(field(server[1], "header_len"), 4);
    assert_eq!(field(client[0], "header_len"), 6);
    assert_eq!(field(client[2], "data"), "still there?");
    assert_eq!(field(client[4], "close_code"), 1000);
    assert_eq!(field(client[4], "close_reason"), "bye");

    let messages = of(&obs, "ws_message");
    let texts: Vec<_> = messages
        .iter()
        .filter_map(|o| o.get("payload_text").and_then(Value::as_str))
        .collect();
    assert!(texts.contains(&"fragmented"), "{texts:?}");
    let json = messages
        .iter()
        .find(|o| o.get("json") == Some(&Value::Bool(true)))
        .expect("the say event read as JSON");
    assert_eq!(field(json, "event_type"), "say");
    assert_eq!(json.layer.number(), 7);
    let masking = of(&obs, "ws_masking");
    assert_eq!(masking.len(), 2, "explained once per direction");

    let closed = of(&obs, "closed");
    assert_eq!(field(closed[0], "frames_client_to_server"), 5);
    assert_eq!(
        field(closed[0], "bytes_client_to_server"),
        client_sent.len() as u64
    );
}

#[tokio::test]
async fn garbage_after_the_upgrade_is_reported_and_still_forwarded() {
    let script = Script {
        client: vec![
            frame(true, 1, Some([1, 2, 3, 4]), b"ok"),
            b"\xff\xfe this is not a frame".to_vec(),
            vec![0xAB; 50_000],
        ],
        server: [
            frame(true, 1, None, b"ok"),
            // A frame that claims far more than will ever come.
            vec![0x82, 127, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3],
        ]
        .concat(),
    };
    let (client_sent, server_got, server_sent, client_got, obs) = through_tap(script).await;
    assert_eq!(server_got, client_sent);
    assert_eq!(client_got, server_sent);
    let garbage = of(&obs, "not_websocket");
    assert_eq!(garbage.len(), 1, "{obs:#?}");
    assert_eq!(field(garbage[0], "direction"), "client_to_server");
    let large = of(&obs, "ws_large_frame");
    assert_eq!(field(large[0], "payload_len"), 1u64 << 62);
    let cut = of(&obs, "ws_truncated");
    assert_eq!(field(cut[0], "received"), 3);
}

// ---- against Python's websockets, through the binary ----

const ECHO_SERVER: &str = r#"
import asyncio, sys
from websockets.asyncio.server import serve
async def echo(ws):
    async for m in ws:
        await ws.send(m)
async def main():
    async with serve(echo, "127.0.0.1", 0, compression=None) as s:
        print(s.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
"#;

const CLIENT: &str = r#"
import asyncio, sys, json
from websockets.asyncio.client import connect
async def main(url):
    got = []
    async with connect(url, compression=None) as ws:
        await ws.send('{"type":"say","room":"lobby","text":"hi"}')
        got.append(await ws.recv())
        await ws.send(["frag", "men", "ted"])
        got.append(await ws.recv())
        await (await ws.ping(b"abc"))
        await ws.send(bytes(range(200)))
        got.append((await ws.recv()).hex())
        await ws.close(1000, "bye")
    print(json.dumps(got))
asyncio.run(main(sys.argv[1]))
"#;

/// Python 3 with `websockets`, or None (skip) unless peers are required.
fn python_websockets() -> Option<std::path::PathBuf> {
    let python = common::peer("python3")?;
    let ok = Command::new(&python)
        .args(["-c", "import websockets.asyncio.server"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("NETDOJO_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!(
                "Python websockets is required (NETDOJO_REQUIRE_PEERS=1) but cannot be imported"
            );
        }
        eprintln!("skipping: Python websockets is not installed");
        return None;
    }
    Some(python)
}

struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python_echo_server(python: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(python)
        .args(["-c", ECHO_SERVER])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("start the Python echo server");
    let mut out = child.stdout.take().unwrap();
    let mut port = String::new();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        port.push(byte[0] as char);
    }
    let port: u16 = port
        .trim()
        .parse()
        .expect("the echo server printed its port");
    (Child(child), format!("127.0.0.1:{port}"))
}

/// Every event the tap printed until connection `id` closed.
fn until_closed(tap: &common::Server, id: u64) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let v = tap
            .next_event(Duration::from_secs(20))
            .expect("the tap reports until the connection closes");
        let done = v["event"] == "closed" && v["id"] == id;
        seen.push(v);
        if done {
            return seen;
        }
    }
}

#[test]
fn python_client_and_server_through_the_tap() {
    let Some(python) = python_websockets() else {
        return;
    };
    let (_server, upstream) = python_echo_server(&python);
    let tap = common::Server::start(&[
        "ws",
        "tap",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
    ]);

    let out = Command::new(&python)
        .args(["-c", CLIENT, &format!("ws://{}/", tap.addr)])
        .output()
        .expect("run the Python client");
    assert!(
        out.status.success(),
        "client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<String> = serde_json::from_slice(&out.stdout).expect("client output");
    let all_bytes: String = (0u8..200).map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        got,
        [
            r#"{"type":"say","room":"lobby","text":"hi"}"#,
            "fragmented",
            all_bytes.as_str()
        ],
        "echoed through the tap unchanged"
    );

    let events = until_closed(&tap, 1);
    let req = common::event(&events, "upgrade_request");
    assert_eq!(req["sec_websocket_version"], "13");
    assert!(
        req["sec_websocket_key"]
            .as_str()
            .is_some_and(|k| k.len() == 24)
    );
    let res = common::event(&events, "upgrade_response");
    assert_eq!(res["status"], 101);
    assert_eq!(res["accept_matches"], true);

    let frames = common::events(&events, "ws_frame");
    let client: Vec<_> = frames
        .iter()
        .filter(|f| f["direction"] == "client_to_server")
        .collect();
    let server: Vec<_> = frames
        .iter()
        .filter(|f| f["direction"] == "server_to_client")
        .collect();
    assert!(
        client
            .iter()
            .all(|f| f["masked"] == true && f["mask_key"].as_str().is_some_and(|k| k.len() == 8))
    );
    assert!(server.iter().all(|f| f["masked"] == false));
    let keys: std::collections::HashSet<_> = client.iter().map(|f| f["mask_key"].clone()).collect();
    assert!(keys.len() > 1, "a fresh key per frame");
    assert!(
        client
            .iter()
            .any(|f| f["opcode"] == "ping" && f["data"] == "abc")
    );
    assert!(
        server
            .iter()
            .any(|f| f["opcode"] == "pong" && f["data"] == "abc")
    );
    assert!(client.iter().any(|f| f["opcode"] == "continuation"));
    for side in [&client, &server] {
        let close = side
            .iter()
            .find(|f| f["opcode"] == "close")
            .expect("a close each way");
        assert_eq!(close["close_code"], 1000);
        assert_eq!(close["close_reason"], "bye");
    }
    let fragmented = common::events(&events, "ws_message")
        .into_iter()
        .find(|m| m["direction"] == "client_to_server" && m["payload_text"] == "fragmented")
        .unwrap_or_else(|| panic!("the fragmented message, reassembled: {events:#?}"));
    assert!(fragmented["frames"].as_u64().unwrap() >= 3);
    let json = common::events(&events, "ws_message")
        .into_iter()
        .filter(|m| m["json"] == true && m["event_type"] == "say")
        .count();
    assert_eq!(json, 2, "the say event, each way");
    let closed = common::event(&events, "closed");
    assert_eq!(closed["clean"], true);
    drop(tap);
}

#[test]
fn garbage_into_the_tap_is_reported_and_the_tap_keeps_serving() {
    let Some(python) = python_websockets() else {
        return;
    };
    let (_server, upstream) = python_echo_server(&python);
    let tap = common::Server::start(&[
        "ws",
        "tap",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
    ]);

    let mut raw = std::net::TcpStream::connect(tap.addr).unwrap();
    raw.write_all(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1 not HTTP at all\r\n\r\n")
        .unwrap();
    raw.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    let events = until_closed(&tap, 1);
    let not_http = common::event(&events, "not_http");
    assert_eq!(not_http["direction"], "client_to_server");

    // The same tap still relays a real client.
    let out = Command::new(&python)
        .args(["-c", CLIENT, &format!("ws://{}/", tap.addr)])
        .output()
        .expect("run the Python client");
    assert!(
        out.status.success(),
        "client after garbage: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = until_closed(&tap, 2);
    assert_eq!(
        common::event(&events, "upgrade_response")["accept_matches"],
        true
    );
    let (status, _) = tap.stop();
    assert!(status.success(), "the tap exits cleanly: {status:?}");
}

#[test]
fn an_unreachable_upstream_is_one_line_not_a_crash() {
    // A port nobody listens on: bind, note it, close.
    let port = common::free_port();
    let upstream = format!("127.0.0.1:{port}");
    let tap = common::Server::start(&[
        "ws",
        "tap",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
    ]);
    let mut c = std::net::TcpStream::connect(tap.addr).unwrap();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    let e = tap.wait_for("upstream_error", Duration::from_secs(20));
    assert_eq!(e["upstream"], upstream);
    let (status, _) = tap.stop();
    assert!(status.success());
}

#[tokio::test]
async fn a_page_and_an_upgrade_share_one_port_and_one_connection() {
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    let page = "<p>the chat page</p>";
    let server = tokio::spawn(async move {
        let (mut s, _) = upstream.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let mut answered = 0;
        // Answer the page, then the upgrade, as each head completes.
        while answered < 2 {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
            let heads = got.windows(4).filter(|w| *w == b"\r\n\r\n").count();
            while answered < heads {
                let reply = if answered == 0 {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{page}",
                        page.len()
                    )
                } else {
                    format!(
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {RFC_ACCEPT}\r\n\r\n"
                    )
                };
                s.write_all(reply.as_bytes()).await.unwrap();
                answered += 1;
            }
        }
        s.shutdown().await.unwrap();
        let _ = s.read_to_end(&mut got).await;
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tap_addr = listener.local_addr().unwrap();
    let (reporter, recorder) = Reporter::recorder();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let tap = tokio::spawn(netdojo::ws::tap::run(
        listener,
        upstream_addr,
        reporter,
        async move {
            let _ = stop_rx.await;
        },
    ));
    let mut c = tokio::net::TcpStream::connect(tap_addr).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.ends_with(page.as_bytes()) {
        let n = c.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    c.write_all(format!("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {RFC_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n").as_bytes()).await.unwrap();
    c.shutdown().await.unwrap();
    let _ = c.read_to_end(&mut got).await;
    server.await.unwrap();
    for _ in 0..200 {
        if !recorder.events("closed").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_tx.send(()).unwrap();
    tap.await.unwrap().unwrap();
    let obs = recorder.observations();
    let req = of(&obs, "http_request");
    assert_eq!(field(req[0], "method"), "GET");
    assert_eq!(field(req[0], "path"), "/");
    let res = of(&obs, "http_response");
    assert_eq!(field(res[0], "status"), 200);
    assert_eq!(field(res[0], "content_length"), page.len() as u64);
    assert_eq!(field(res[0], "content_type"), "text/html");
    assert_eq!(field(res[0], "path"), "/");
    let up = of(&obs, "upgrade_request");
    assert_eq!(field(up[0], "path"), "/ws");
    assert_eq!(
        field(of(&obs, "upgrade_response")[0], "accept_matches"),
        true
    );
    assert!(of(&obs, "not_http").is_empty() && of(&obs, "not_websocket").is_empty());
}
