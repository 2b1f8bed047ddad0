//! Conversations in a capture: `--follow`, `--ladder`, `--stats`.
//!
//! Two kinds of capture:
//! - a deterministic one built here, frame by frame with etherparse, with
//!   fixed times: an HTTP-like exchange with a segment that arrives out of
//!   order, a duplicate ACK, a retransmission, a segment the capture missed,
//!   data after a half-close; then a refused connection and a UDP exchange.
//!   Its ladder and follow views are snapshots (`tests/snapshots/`; set
//!   `UPDATE_SNAPSHOTS=1` to rewrite them after a deliberate change);
//! - a real one of `netdojo tcp demo` on loopback, taken with tcpdump when
//!   running as root.
//!
//! Both are checked against tshark: the bytes each way of "Follow TCP
//! Stream", the stream numbers, the retransmission and duplicate-ACK marks,
//! and the conversation counts.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{json_lines, netdojo, peer};
use etherparse::PacketBuilder;
use serde_json::Value;

// ---- building captures ----

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];
const OTHER: [u8; 4] = [10, 0, 0, 3];
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// The capture's first frame time: fixed, so snapshots do not move.
const T0_SECS: u32 = 1_700_000_000;

/// Frames with their time (microseconds after T0), written as a classic pcap.
#[derive(Default)]
struct Capture {
    frames: Vec<(u64, Vec<u8>)>,
}

impl Capture {
    /// Adds a frame one millisecond after the last.
    fn push(&mut self, frame: Vec<u8>) {
        self.push_after(1000, frame);
    }

    /// Adds a frame `micros` after the last (the first at T0).
    fn push_after(&mut self, micros: u64, frame: Vec<u8>) {
        let t = self.frames.last().map_or(0, |(t, _)| t + micros);
        self.frames.push((t, frame));
    }

    fn write(&self, path: &Path) {
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
        for (t, data) in &self.frames {
            out.extend_from_slice(&(T0_SECS + (t / 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&((t % 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
        }
        std::fs::write(path, out).expect("write pcap");
    }
}

/// One TCP connection's endpoints.
#[derive(Clone, Copy)]
struct Conn {
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
}

/// Flags of a segment, as letters: S(YN) A(CK) P(SH) F(IN) R(ST).
fn tcp(conn: Conn, from_client: bool, flags: &str, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let ((src, sport), (dst, dport), (smac, dmac)) = if from_client {
        (conn.client, conn.server, (CLIENT_MAC, SERVER_MAC))
    } else {
        (conn.server, conn.client, (SERVER_MAC, CLIENT_MAC))
    };
    let window = match (from_client, flags.contains('S')) {
        (true, true) => 64240,
        (false, true) => 65160,
        (true, false) => 502,
        (false, false) => 509,
    };
    let mut b = PacketBuilder::ethernet2(smac, dmac)
        .ipv4(src, dst, 64)
        .tcp(sport, dport, seq, window);
    for flag in flags.chars() {
        b = match flag {
            'S' => b.syn(),
            'A' => b.ack(ack),
            'P' => b.psh(),
            'F' => b.fin(),
            'R' => b.rst(),
            other => panic!("unknown flag {other}"),
        };
    }
    let mut frame = Vec::new();
    b.write(&mut frame, payload).expect("build frame");
    frame
}

fn udp(src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ipv4(src.0, dst.0, 64)
        .udp(src.1, dst.1)
        .write(&mut frame, payload)
        .expect("build frame");
    frame
}

const REQUEST: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: dojo\r\n\r\n";
const RESPONSE_1: &[u8] = b"HTTP/1.1 200 OK\r\n";
const RESPONSE_2: &[u8] = b"Content-Length: 6\r\n\r\n";
const RESPONSE_3: &[u8] = b"hello\n";
const POST_1: &[u8] = b"POST /log HTTP/1.1\r\n";
/// Sent, but not in the capture.
const POST_2: &[u8] = b"Content-Length: 4\r\n\r\n";
const POST_3: &[u8] = b"ping";
/// The server's last words, after the client's FIN.
const BYE: &[u8] = b"bye\n";

const MAIN: Conn = Conn {
    client: (CLIENT, 50000),
    server: (SERVER, 8080),
};
const REFUSED: Conn = Conn {
    client: (CLIENT, 50001),
    server: (SERVER, 8081),
};

/// The deterministic capture: stream 0 is the story, stream 1 a refused
/// connection, then a UDP exchange. Frame numbers are in the comments.
fn story() -> Capture {
    let (c, s) = (1000u32, 5000u32);
    let len = |b: &[u8]| b.len() as u32;
    let c1 = c + 1 + len(REQUEST);
    let c2 = c1 + len(POST_1) + len(POST_2) + len(POST_3);
    let s1 = s + 1 + len(RESPONSE_1);
    let s2 = s1 + len(RESPONSE_2);
    let s3 = s2 + len(RESPONSE_3);

    let mut cap = Capture::default();
    let m = MAIN;
    cap.push(tcp(m, true, "S", c, 0, b"")); // 1
    cap.push(tcp(m, false, "SA", s, c + 1, b"")); // 2
    // A 12 ms handshake: tshark calls a segment that fills a hole within one
    // handshake round trip of the highest one "out of order", and later a
    // "retransmission"; frame 10 is 2 ms after frame 8, so both agree.
    cap.push_after(11_000, tcp(m, true, "A", c + 1, s + 1, b"")); // 3
    cap.push(tcp(m, true, "PA", c + 1, s + 1, REQUEST)); // 4
    cap.push(tcp(m, false, "A", s + 1, c1, b"")); // 5
    cap.push(tcp(m, false, "PA", s + 1, c1, RESPONSE_1)); // 6
    cap.push(tcp(m, true, "A", c1, s1, b"")); // 7: the original ACK
    cap.push(tcp(m, false, "PA", s2, c1, RESPONSE_3)); // 8: ahead of RESPONSE_2
    cap.push(tcp(m, true, "A", c1, s1, b"")); // 9: duplicate ACK
    cap.push(tcp(m, false, "PA", s1, c1, RESPONSE_2)); // 10: out of order
    cap.push(tcp(m, true, "A", c1, s3, b"")); // 11
    cap.push(tcp(m, false, "PA", s2, c1, RESPONSE_3)); // 12: retransmission
    cap.push(tcp(m, true, "PA", c1, s3, POST_1)); // 13
    let p3 = c1 + len(POST_1) + len(POST_2);
    cap.push(tcp(m, true, "PA", p3, s3, POST_3)); // 14: POST_2 was not captured
    cap.push(tcp(m, false, "A", s3, c2, b"")); // 15: acknowledges all of it
    cap.push(tcp(m, true, "FA", c2, s3, b"")); // 16: half-close
    cap.push(tcp(m, false, "PA", s3, c2 + 1, BYE)); // 17: data after the client's FIN
    cap.push(tcp(m, true, "A", c2 + 1, s3 + len(BYE), b"")); // 18
    cap.push(tcp(m, false, "FA", s3 + len(BYE), c2 + 1, b"")); // 19
    cap.push(tcp(m, true, "A", c2 + 1, s3 + len(BYE) + 1, b"")); // 20
    cap.push(tcp(REFUSED, true, "S", 77, 0, b"")); // 21
    cap.push(tcp(REFUSED, false, "RA", 0, 78, b"")); // 22
    cap.push(udp((CLIENT, 5353), (OTHER, 9999), b"ping")); // 23
    cap.push(udp((OTHER, 9999), (CLIENT, 5353), b"pong!")); // 24
    cap
}

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "netdojo-conversations-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn join(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The story written to a scratch directory (kept while the guard lives).
fn story_pcap(name: &str) -> (Scratch, PathBuf) {
    let dir = Scratch::new(name);
    let path = dir.join("story.pcap");
    story().write(&path);
    (dir, path)
}

// ---- running netdojo and tshark ----

fn inspect(file: &Path, args: &[&str]) -> std::process::Output {
    netdojo()
        .arg("inspect")
        .arg(file)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run netdojo inspect")
}

fn inspect_ok(file: &Path, args: &[&str]) -> String {
    let out = inspect(file, args);
    assert!(
        out.status.success(),
        "netdojo inspect {} {args:?} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn inspect_json(file: &Path, args: &[&str]) -> Vec<Value> {
    let out = netdojo()
        .arg("--json")
        .arg("inspect")
        .arg(file)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run netdojo inspect");
    assert!(
        out.status.success(),
        "netdojo --json inspect {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&out.stdout)
}

fn tshark(tshark: &Path, file: &Path, args: &[&str]) -> String {
    let out = Command::new(tshark)
        .arg("-n")
        .arg("-r")
        .arg(file)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run tshark");
    assert!(out.status.success(), "tshark {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Compares with a checked-in snapshot, or rewrites it with UPDATE_SNAPSHOTS=1.
fn assert_snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {} (UPDATE_SNAPSHOTS=1 writes it)",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "{name} differs from its snapshot (UPDATE_SNAPSHOTS=1 rewrites it)"
    );
}

/// The bytes each way of our `--follow N --json`: (client → server, server → client).
fn followed_bytes(events: &[Value]) -> (Vec<u8>, Vec<u8>) {
    let mut sides = (Vec::new(), Vec::new());
    for e in events.iter().filter(|e| e["event"] == "follow_chunk") {
        let bytes = match (e["text"].as_str(), e["hex"].as_str()) {
            (Some(text), _) => text.as_bytes().to_vec(),
            (None, Some(hex)) => unhex(hex),
            _ => panic!("chunk without bytes: {e}"),
        };
        match e["direction"].as_str() {
            Some("client_to_server") => sides.0.extend(bytes),
            Some("server_to_client") => sides.1.extend(bytes),
            other => panic!("direction {other:?}"),
        }
    }
    sides
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// tshark's "Follow TCP Stream" bytes each way, as (from node 0, from node
/// 1), and node 0's address.
fn tshark_follow(tshark_bin: &Path, file: &Path, stream: u64) -> (String, Vec<u8>, Vec<u8>) {
    let text = tshark(
        tshark_bin,
        file,
        &["-q", "-z", &format!("follow,tcp,raw,{stream}")],
    );
    let mut node0 = String::new();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for line in text.lines() {
        if let Some(addr) = line.strip_prefix("Node 0: ") {
            node0 = addr.trim().to_string();
        } else if let Some(hex) = line.strip_prefix('\t') {
            b.push(unhex(hex.trim()));
        } else if !line.is_empty() && line.bytes().all(|c| c.is_ascii_hexdigit()) {
            a.push(unhex(line.trim()));
        }
    }
    (node0, without_gap_notes(a), without_gap_notes(b))
}

/// tshark writes a hole in the stream into the data itself, as a chunk
/// "[N bytes missing in capture file]" and a NUL; ours is a separate event.
/// Drops those chunks, keeping the real bytes.
fn without_gap_notes(chunks: Vec<Vec<u8>>) -> Vec<u8> {
    chunks
        .into_iter()
        .filter(|c| {
            let text = String::from_utf8_lossy(c);
            !(text.starts_with('[') && text.ends_with("missing in capture file]\0"))
        })
        .flatten()
        .collect()
}

/// Checks that our follow of `stream` has exactly tshark's bytes each way.
fn assert_follow_matches_tshark(tshark_bin: &Path, file: &Path, stream: u64) -> (Vec<u8>, Vec<u8>) {
    let events = inspect_json(file, &["--follow", &stream.to_string()]);
    let (ours_c, ours_s) = followed_bytes(&events);
    let summary = events
        .iter()
        .find(|e| e["event"] == "follow_summary")
        .expect("summary");
    let client = summary["client"].as_str().unwrap();
    let (node0, a, b) = tshark_follow(tshark_bin, file, stream);
    let (theirs_c, theirs_s) = if node0 == client { (a, b) } else { (b, a) };
    assert_eq!(ours_c.len(), theirs_c.len(), "client → server byte count");
    assert!(
        ours_c == theirs_c,
        "client → server bytes differ from tshark's"
    );
    assert_eq!(ours_s.len(), theirs_s.len(), "server → client byte count");
    assert!(
        ours_s == theirs_s,
        "server → client bytes differ from tshark's"
    );
    (ours_c, ours_s)
}

/// Frames tshark's display filter selects.
fn tshark_frames(tshark_bin: &Path, file: &Path, filter: &str) -> Vec<u64> {
    tshark(
        tshark_bin,
        file,
        &["-Y", filter, "-T", "fields", "-e", "frame.number"],
    )
    .lines()
    .filter_map(|l| l.trim().parse().ok())
    .collect()
}

/// Our ladder rows of `stream`, in JSON.
fn ladder_rows(file: &Path, stream: u64) -> Vec<Value> {
    inspect_json(file, &["--ladder", &stream.to_string()])
        .into_iter()
        .filter(|e| e["event"] == "ladder_segment")
        .collect()
}

/// Frames of our ladder carrying `mark`.
fn marked(rows: &[Value], mark: &str) -> Vec<u64> {
    rows.iter()
        .filter(|r| {
            r["marks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["mark"] == mark)
        })
        .map(|r| r["frame"].as_u64().unwrap())
        .collect()
}

// ---- the deterministic capture ----

#[test]
fn ladder_of_the_story_matches_its_snapshot() {
    let (_dir, file) = story_pcap("ladder-snapshot");
    // `--ladder` without a number is stream 0.
    let text = inspect_ok(&file, &["--ladder"]);
    assert_snapshot("ladder_story_stream0.txt", &text);
}

#[test]
fn follow_of_the_story_matches_its_snapshot() {
    let (_dir, file) = story_pcap("follow-snapshot");
    let text = inspect_ok(&file, &["--follow", "0"]);
    assert_snapshot("follow_story_stream0.txt", &text);
}

#[test]
fn follow_puts_the_bytes_in_order_and_names_the_gap() {
    let (_dir, file) = story_pcap("follow-json");
    let events = inspect_json(&file, &["--follow", "0"]);
    let (client, server) = followed_bytes(&events);
    assert_eq!(client, [REQUEST, POST_1, POST_3].concat());
    assert_eq!(server, [RESPONSE_1, RESPONSE_2, RESPONSE_3, BYE].concat());

    // The request, then the response (out-of-order segment put back), as they alternated.
    let order: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["event"] == "follow_chunk" || e["event"] == "follow_gap")
        .map(|e| {
            (
                e["event"].as_str().unwrap(),
                e["direction"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("follow_chunk", "client_to_server"),
            ("follow_chunk", "server_to_client"),
            ("follow_chunk", "client_to_server"),
            ("follow_gap", "client_to_server"),
            ("follow_chunk", "client_to_server"),
            ("follow_chunk", "server_to_client"),
        ]
    );
    let gap = events.iter().find(|e| e["event"] == "follow_gap").unwrap();
    assert_eq!(gap["bytes"], POST_2.len());
    assert_eq!(gap["offset"], REQUEST.len() + POST_1.len());

    let summary = events
        .iter()
        .find(|e| e["event"] == "follow_summary")
        .unwrap();
    assert_eq!(summary["client"], "10.0.0.1:50000");
    assert_eq!(summary["server"], "10.0.0.2:8080");
    let s2c = &summary["server_to_client"];
    assert_eq!(s2c["retransmitted_segments"], 1);
    assert_eq!(s2c["retransmitted_bytes"], RESPONSE_3.len());
    assert_eq!(s2c["out_of_order_segments"], 1);
    assert_eq!(s2c["fin"], true);
    let c2s = &summary["client_to_server"];
    assert_eq!(c2s["missing_bytes"], POST_2.len());
    assert_eq!(c2s["fin"], true);
}

#[test]
fn ladder_marks_retransmission_duplicate_ack_and_the_rest() {
    let (_dir, file) = story_pcap("ladder-json");
    let rows = ladder_rows(&file, 0);
    assert_eq!(rows.len(), 20);
    assert_eq!(marked(&rows, "retransmission"), [12]);
    assert_eq!(marked(&rows, "duplicate_ack"), [9]);
    assert_eq!(marked(&rows, "out_of_order"), [10]);
    assert_eq!(marked(&rows, "previous_segment_not_captured"), [8, 14]);
    let dup = &rows[8]["marks"][0];
    assert_eq!(
        (dup["number"].as_u64(), dup["of_frame"].as_u64()),
        (Some(1), Some(7))
    );

    let brief: Vec<(u64, &str, u64, Option<u64>, u64)> = rows
        .iter()
        .take(4)
        .map(|r| {
            (
                r["frame"].as_u64().unwrap(),
                r["kind"].as_str().unwrap(),
                r["seq"].as_u64().unwrap(),
                r["ack"].as_u64(),
                r["len"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        brief,
        [
            (1, "handshake", 0, None, 0),
            (2, "handshake", 0, Some(1), 0),
            (3, "handshake", 1, Some(1), 0),
            (4, "data", 1, Some(1), REQUEST.len() as u64),
        ]
    );
    assert_eq!(rows[15]["kind"], "fin");
    assert_eq!(rows[16]["direction"], "server_to_client");
    assert_eq!(rows[16]["kind"], "data");

    let refused = ladder_rows(&file, 1);
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[1]["kind"], "reset");
    assert_eq!(refused[1]["flags"], serde_json::json!(["RST", "ACK"]));
}

#[test]
fn a_stream_that_is_not_there_is_an_error_that_says_how_many_there_are() {
    let (_dir, file) = story_pcap("missing-stream");
    for view in ["--follow", "--ladder"] {
        let out = inspect(&file, &[view, "7"]);
        assert_eq!(out.status.code(), Some(1), "{view}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(
                "there is no TCP stream 7 in this capture: it has 2 TCP streams, numbered 0 to 1"
            ),
            "{view}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{view} printed before failing");
    }
}

#[test]
fn stats_count_the_hierarchy_and_the_conversations() {
    let (_dir, file) = story_pcap("stats");
    let events = inspect_json(&file, &["--stats"]);
    let totals = events
        .iter()
        .find(|e| e["event"] == "stats_totals")
        .unwrap();
    assert_eq!(totals["frames"], 24);
    assert_eq!(totals["duration"], 0.033);

    let protocol = |path: &str| {
        events
            .iter()
            .find(|e| e["event"] == "stats_protocol" && e["path"] == path)
            .unwrap_or_else(|| panic!("no {path} in {events:#?}"))
    };
    assert_eq!(protocol("eth")["frames"], 24);
    assert_eq!(protocol("eth.ip")["frames"], 24);
    assert_eq!(protocol("eth.ip.tcp")["frames"], 22);
    assert_eq!(protocol("eth.ip.udp")["frames"], 2);

    let tcp: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "stats_conversation" && e["kind"] == "tcp")
        .collect();
    assert_eq!(tcp.len(), 2);
    assert_eq!(tcp[0]["stream"], 0);
    assert_eq!(tcp[0]["a_to_b"]["frames"], 11);
    assert_eq!(tcp[0]["b_to_a"]["frames"], 9);
    let udp: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "stats_conversation" && e["kind"] == "udp")
        .collect();
    assert_eq!(udp.len(), 1);
    assert_eq!(udp[0]["a"], "10.0.0.1:5353");
    assert_eq!(udp[0]["a_to_b"]["bytes"], 46);
    assert_eq!(udp[0]["b_to_a"]["bytes"], 47);
}

// ---- against tshark ----

#[test]
fn follow_agrees_with_tshark_on_the_story() {
    let Some(tshark_bin) = peer("tshark") else {
        return;
    };
    let (_dir, file) = story_pcap("follow-tshark");
    let (client, server) = assert_follow_matches_tshark(&tshark_bin, &file, 0);
    assert_eq!(client.len(), REQUEST.len() + POST_1.len() + POST_3.len());
    assert_eq!(
        server.len(),
        RESPONSE_1.len() + RESPONSE_2.len() + RESPONSE_3.len() + BYE.len()
    );
    assert_follow_matches_tshark(&tshark_bin, &file, 1);
}

#[test]
fn ladder_marks_agree_with_tshark() {
    let Some(tshark_bin) = peer("tshark") else {
        return;
    };
    let (_dir, file) = story_pcap("ladder-tshark");
    let rows = ladder_rows(&file, 0);
    // tshark marks a retransmission of bytes already acknowledged as
    // "spurious", which is also a retransmission.
    assert_eq!(
        marked(&rows, "retransmission"),
        tshark_frames(&tshark_bin, &file, "tcp.analysis.retransmission")
    );
    assert_eq!(
        marked(&rows, "duplicate_ack"),
        tshark_frames(&tshark_bin, &file, "tcp.analysis.duplicate_ack")
    );
    assert_eq!(
        marked(&rows, "out_of_order"),
        tshark_frames(&tshark_bin, &file, "tcp.analysis.out_of_order")
    );
    assert_eq!(
        marked(&rows, "previous_segment_not_captured"),
        tshark_frames(&tshark_bin, &file, "tcp.analysis.lost_segment")
    );
    // Relative numbers as tshark shows them.
    let theirs = tshark(
        &tshark_bin,
        &file,
        &[
            "-Y",
            "tcp.stream == 0",
            "-T",
            "fields",
            "-e",
            "tcp.seq",
            "-e",
            "tcp.ack",
            "-e",
            "tcp.len",
        ],
    );
    let ours: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{}\t{}\t{}",
                r["seq"],
                r["ack"].as_u64().unwrap_or(0),
                r["len"]
            )
        })
        .collect();
    assert_eq!(ours, theirs.lines().collect::<Vec<_>>());
}

/// Per stream: (frames, bytes) each way, keyed by the sender's address.
type StreamCounts = BTreeMap<u64, BTreeMap<String, (u64, u64)>>;

fn tshark_tcp_counts(tshark_bin: &Path, file: &Path) -> StreamCounts {
    let text = tshark(
        tshark_bin,
        file,
        &[
            "-Y",
            "tcp",
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "ip.src",
            "-e",
            "tcp.srcport",
            "-e",
            "frame.len",
        ],
    );
    let mut counts = StreamCounts::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [stream, ip, port, len] = f[..] else {
            panic!("tshark line {line:?}");
        };
        let e = counts
            .entry(stream.parse().unwrap())
            .or_default()
            .entry(format!("{ip}:{port}"))
            .or_default();
        e.0 += 1;
        e.1 += len.parse::<u64>().unwrap();
    }
    counts
}

fn our_tcp_counts(file: &Path) -> StreamCounts {
    let events = inspect_json(file, &["--stats"]);
    let mut counts = StreamCounts::new();
    for c in events
        .iter()
        .filter(|e| e["event"] == "stats_conversation" && e["kind"] == "tcp")
    {
        let stream = c["stream"].as_u64().unwrap();
        let sides = counts.entry(stream).or_default();
        for (who, dir) in [("a", "a_to_b"), ("b", "b_to_a")] {
            let frames = c[dir]["frames"].as_u64().unwrap();
            if frames > 0 {
                sides.insert(
                    c[who].as_str().unwrap().to_string(),
                    (frames, c[dir]["bytes"].as_u64().unwrap()),
                );
            }
        }
    }
    counts
}

#[test]
fn stats_agree_with_tshark() {
    let Some(tshark_bin) = peer("tshark") else {
        return;
    };
    let (_dir, file) = story_pcap("stats-tshark");
    assert_eq!(our_tcp_counts(&file), tshark_tcp_counts(&tshark_bin, &file));

    // The top of the protocol hierarchy (tshark's names for the application
    // layer differ: it guesses by port).
    let phs = tshark(&tshark_bin, &file, &["-q", "-z", "io,phs"]);
    let events = inspect_json(&file, &["--stats"]);
    for (path, name) in [
        ("eth", "eth"),
        ("eth.ip", "ip"),
        ("eth.ip.tcp", "tcp"),
        ("eth.ip.udp", "udp"),
    ] {
        let ours = events
            .iter()
            .find(|e| e["event"] == "stats_protocol" && e["path"] == path)
            .unwrap();
        let line = phs
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {phs}"));
        let expected = format!("frames:{} bytes:{}", ours["frames"], ours["bytes"]);
        assert!(
            line.ends_with(&expected),
            "{path}: ours {expected}, tshark {line}"
        );
    }
}

#[test]
fn stream_numbers_agree_with_tshark_when_ports_are_reused() {
    let Some(tshark_bin) = peer("tshark") else {
        return;
    };
    // Three connections on the same endpoints, one after the other (each
    // closed before the next SYN), interleaved with another connection.
    let other = Conn {
        client: (OTHER, 40000),
        server: (SERVER, 22),
    };
    let mut cap = Capture::default();
    cap.push(tcp(other, true, "S", 9, 0, b""));
    for (i, isn) in [100u32, 5000, 90000].into_iter().enumerate() {
        cap.push(tcp(MAIN, true, "S", isn, 0, b""));
        cap.push(tcp(MAIN, false, "SA", 7, isn + 1, b""));
        cap.push(tcp(MAIN, true, "PA", isn + 1, 8, b"x"));
        if i == 1 {
            cap.push(tcp(other, false, "SA", 300, 10, b""));
        }
        cap.push(tcp(MAIN, true, "FA", isn + 2, 8, b""));
        cap.push(tcp(MAIN, false, "FA", 8, isn + 3, b""));
        // A retransmitted SYN of the same connection is not a new stream.
        if i == 0 {
            cap.push(tcp(MAIN, true, "S", isn, 0, b""));
        }
    }
    let dir = Scratch::new("reuse");
    let path = dir.join("reuse.pcap");
    cap.write(&path);

    let theirs = tshark(
        &tshark_bin,
        &path,
        &["-T", "fields", "-e", "frame.number", "-e", "tcp.stream"],
    );
    let mut expected: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for line in theirs.lines() {
        let (frame, stream) = line.split_once('\t').unwrap();
        expected
            .entry(stream.parse().unwrap())
            .or_default()
            .push(frame.parse().unwrap());
    }
    assert_eq!(expected.len(), 4);
    for (stream, frames) in expected {
        let ours: Vec<u64> = ladder_rows(&path, stream)
            .iter()
            .map(|r| r["frame"].as_u64().unwrap())
            .collect();
        assert_eq!(ours, frames, "stream {stream}");
    }
}

// ---- a real capture of `netdojo tcp demo` ----

/// Runs `netdojo tcp demo` while tcpdump captures loopback; returns the
/// demo's packets only (by its server port) as a pcap.
fn capture_demo(dir: &Scratch) -> Option<PathBuf> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        // CI runs as root with every peer required: a capture that cannot
        // happen there is a broken CI, not a reason to pass.
        if std::env::var("NETDOJO_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!(
                "capturing on lo needs root, and NETDOJO_REQUIRE_PEERS=1 requires this test to run"
            );
        }
        eprintln!("skipping: capturing on lo needs root (CI runs this test as root)");
        return None;
    }
    let tcpdump = peer("tcpdump")?;
    let all = dir.join("lo.pcap");
    let mut dump = Command::new(&tcpdump)
        // Immediate mode: without it, packets wait in the kernel's ring
        // buffer for up to a second, and stopping tcpdump loses them. A
        // 64 MiB buffer: the demo's megabyte each way arrives in 64 KiB
        // loopback segments faster than tcpdump writes.
        .args([
            "-i",
            "lo",
            "--immediate-mode",
            "-U",
            "-s",
            "0",
            "-B",
            "65536",
            "-w",
        ])
        .arg(&all)
        .args(["tcp and host 127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tcpdump");
    // tcpdump says "listening on lo" once its socket is open.
    let mut stderr = std::io::BufReader::new(dump.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).expect("tcpdump stderr");
    assert!(line.contains("listening"), "tcpdump said: {line}");

    let demo = netdojo()
        .args(["--json", "tcp", "demo"])
        .stdin(Stdio::null())
        .output()
        .expect("run the demo");
    assert!(demo.status.success(), "tcp demo failed");
    let events = json_lines(&demo.stdout);
    let server = events
        .iter()
        .find(|e| e["event"] == "listening")
        .and_then(|e| e["addr"].as_str())
        .expect("the demo says where it listens")
        .to_string();
    let port = server.rsplit(':').next().unwrap().to_string();

    // Let tcpdump write the last packets (until the file stops growing),
    // then stop it like Ctrl-C.
    let mut size = 0;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(500));
        let now = std::fs::metadata(&all).map(|m| m.len()).unwrap_or(0);
        if now == size && now > 0 {
            break;
        }
        size = now;
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(dump.id() as libc::pid_t, libc::SIGINT);
    }
    dump.wait().expect("tcpdump exits");

    let demo_only = dir.join("demo.pcap");
    let status = Command::new(&tcpdump)
        .arg("-r")
        .arg(&all)
        .arg("-w")
        .arg(&demo_only)
        .arg(format!("tcp port {port}"))
        .stderr(Stdio::null())
        .status()
        .expect("tcpdump -r");
    assert!(status.success());
    Some(demo_only)
}

#[test]
fn follow_and_ladder_of_a_real_tcp_demo_capture() {
    let dir = Scratch::new("demo");
    let Some(file) = capture_demo(&dir) else {
        return;
    };

    // What the demo sends: two small writes, 1 MiB, "bye"; the server echoes
    // all of it and adds a line after the client's FIN.
    let large: Vec<u8> = (0..1usize << 20).map(|i| (i % 251) as u8).collect();
    let sent = [b"hello world\n" as &[u8], &large, b"bye\n"].concat();
    let echoed = [&sent[..], b"server: got your FIN; I can still send\n"].concat();

    let events = inspect_json(&file, &["--follow", "0"]);
    let (client, server) = followed_bytes(&events);
    assert!(
        client == sent,
        "client → server: {} bytes, expected {}",
        client.len(),
        sent.len()
    );
    assert!(server == echoed, "server → client: {} bytes", server.len());
    let summary = events
        .iter()
        .find(|e| e["event"] == "follow_summary")
        .unwrap();
    assert_eq!(summary["client_to_server"]["missing_bytes"], 0);
    assert_eq!(summary["client_to_server"]["fin"], true);
    assert_eq!(summary["server_to_client"]["fin"], true);

    // The ladder: the handshake with relative numbers, and both FINs.
    let rows = ladder_rows(&file, 0);
    let handshake: Vec<String> = rows
        .iter()
        .take(3)
        .map(|r| {
            format!(
                "{} {} {} {}",
                r["direction"], r["flags"], r["seq"], r["ack"]
            )
        })
        .collect();
    assert_eq!(
        handshake,
        [
            r#""client_to_server" ["SYN"] 0 null"#,
            r#""server_to_client" ["SYN","ACK"] 0 1"#,
            r#""client_to_server" ["ACK"] 1 1"#,
        ]
    );
    assert!(rows.iter().take(3).all(|r| r["kind"] == "handshake"));
    let fins: Vec<&str> = rows
        .iter()
        .filter(|r| r["kind"] == "fin")
        .map(|r| r["direction"].as_str().unwrap())
        .collect();
    assert_eq!(fins, ["client_to_server", "server_to_client"]);
    let summary = inspect_json(&file, &["--ladder", "0"])
        .into_iter()
        .find(|e| e["event"] == "ladder_summary")
        .unwrap();
    // Bytes in segments: retransmitted ones count again (loopback can fill
    // the receiver's window, and the demo does).
    assert!(summary["client_to_server"]["bytes"].as_u64() >= Some(sent.len() as u64));
    assert!(summary["server_to_client"]["bytes"].as_u64() >= Some(echoed.len() as u64));

    // The human ladder's first rows, with times and ports made stable: the
    // handshake is the same on every run.
    let text = inspect_ok(&file, &["--ladder"]);
    let stable: Vec<String> = text
        .lines()
        .filter(|l| l.contains("· handshake"))
        .map(|l| {
            let arrow = l.find(['├', '│']).unwrap_or(0);
            let numbers = l.find("  seq").unwrap_or(l.len());
            // Keep the arrow and the relative numbers; windows depend on the kernel.
            let nums = &l[numbers..];
            let nums = nums.split(" win").next().unwrap_or(nums);
            format!("{}{}", &l[arrow..numbers], nums)
        })
        .collect();
    assert_snapshot("ladder_tcp_demo_handshake.txt", &(stable.join("\n") + "\n"));

    if let Some(tshark_bin) = peer("tshark") {
        assert_follow_matches_tshark(&tshark_bin, &file, 0);
        assert_eq!(our_tcp_counts(&file), tshark_tcp_counts(&tshark_bin, &file));
    }
}
