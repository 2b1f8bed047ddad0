//! UDP over real sockets on loopback: `udp serve` against `nc -u`, against
//! `udp send` through a forwarder that loses, swaps and duplicates known
//! datagrams, and against garbage; `udp send`'s usage errors; the demo's facts.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::thread;
use std::time::Duration;

use common::{Server, event, events, netdojo, peer, run_json};
use netdojo::udp::wire::{self, Datagram};
use serde_json::Value;

/// Generous: two noisy cores may be slow, but never this slow.
const WAIT: Duration = Duration::from_secs(30);

fn serve(extra: &[&str]) -> Server {
    let mut args = vec!["udp", "serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// A socket of the test's own, on loopback, that gives up rather than hangs.
fn test_socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind a test socket");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

fn numbered(seq: u64, size: usize) -> Vec<u8> {
    let mut buf = vec![0u8; size];
    wire::encode_numbered(&mut buf, seq, wire::now_ns());
    buf
}

/// `netdojo --json udp send ADDR ARGS`, which must succeed; its events.
fn send(addr: SocketAddr, args: &[&str]) -> Vec<Value> {
    let addr = addr.to_string();
    let mut all = vec!["udp", "send", addr.as_str()];
    all.extend_from_slice(args);
    let (out, events) = run_json(&all);
    assert!(
        out.status.success(),
        "udp send failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    events
}

#[test]
fn text_from_nc_shows_up_as_an_application_layer_event() {
    let Some(nc) = peer("nc") else { return };
    let server = serve(&[]);
    let mut child = std::process::Command::new(nc)
        .args([
            "-u",
            "-w",
            "1",
            "127.0.0.1",
            &server.addr.port().to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run nc");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello from nc\n")
        .unwrap();
    let new = server.wait_for("new_sender", WAIT);
    let shown = server.wait_for("datagram", WAIT);
    let _ = child.wait();
    assert_eq!(shown["layer"], 7, "{shown}");
    assert_eq!(shown["encoding"], "utf-8");
    assert_eq!(shown["content"], "hello from nc\n");
    assert_eq!(shown["bytes"], 14);
    assert_eq!(shown["sender"], new["sender"]);
    let (status, rest) = server.stop();
    assert!(status.success(), "{status}");
    let summary = event(&rest, "sender_summary");
    assert_eq!(summary["reason"], "shutdown");
    assert_eq!(
        (summary["datagrams"].as_u64(), summary["other"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(event(&rest, "total")["datagrams"], 1);
}

/// What the forwarder does to the numbered datagrams passing through it.
#[derive(Default)]
struct Impairments {
    /// Never forwarded.
    drop: Vec<u64>,
    /// Forwarded, plus this many extra copies.
    duplicate: HashMap<u64, usize>,
    /// Held back, and forwarded right after the second number.
    hold_until_after: HashMap<u64, u64>,
}

/// A forwarder on 127.0.0.1:0 that passes datagrams to `server`, impaired
/// as planned; it stops after forwarding every end marker (or going quiet).
/// Returns its address and a handle giving how many datagrams it forwarded.
fn forwarder(server: SocketAddr, plan: Impairments) -> (SocketAddr, thread::JoinHandle<u64>) {
    let inbound = test_socket();
    inbound
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Like `udp serve`, a roomy buffer, so a forwarder thread kept off the
    // CPU for a while by other tests loses nothing the plan did not drop.
    grow_receive_buffer(&inbound);
    let outbound = test_socket();
    outbound.connect(server).unwrap();
    let addr = inbound.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        let mut held: HashMap<u64, Vec<u8>> = HashMap::new();
        let mut forwarded = 0u64;
        let mut ends = 0;
        let mut pass = |data: &[u8]| {
            outbound.send(data).expect("forward");
            forwarded += 1;
        };
        while let Ok(n) = inbound.recv(&mut buf) {
            let data = &buf[..n];
            match wire::decode(data) {
                Datagram::Numbered { seq, .. } => {
                    if plan.drop.contains(&seq) {
                        continue;
                    }
                    if plan.hold_until_after.contains_key(&seq) {
                        held.insert(seq, data.to_vec());
                        continue;
                    }
                    pass(data);
                    for _ in 0..plan.duplicate.get(&seq).copied().unwrap_or(0) {
                        pass(data);
                    }
                    for (late, after) in &plan.hold_until_after {
                        if *after == seq {
                            pass(&held.remove(late).expect("held before released"));
                        }
                    }
                }
                Datagram::End { .. } => {
                    pass(data);
                    ends += 1;
                    if ends == 3 {
                        break;
                    }
                }
                Datagram::Other => pass(data),
            }
        }
        forwarded
    });
    (addr, handle)
}

/// Asks for a 4 MiB receive buffer (the kernel may grant less).
fn grow_receive_buffer(socket: &UdpSocket) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let size: libc::c_int = 4 << 20;
        // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live
        // c_int, on a socket we own.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(unix))]
    let _ = socket;
}

#[test]
fn losses_swaps_and_duplicates_are_counted_exactly() {
    let server = serve(&[]);
    let plan = Impairments {
        // In the middle, a run of three, and three at the tail (only the end
        // marker can reveal those).
        drop: vec![10, 20, 21, 22, 500, 997, 998, 999],
        duplicate: HashMap::from([(100, 1), (101, 2)]),
        // A swap with the next one, and one overtaken by twenty.
        hold_until_after: HashMap::from([(300, 301), (600, 620)]),
    };
    let (via, forwarder) = forwarder(server.addr, plan);
    // 2,000/s: slow enough that loopback itself loses nothing even when the
    // server is descheduled for a while.
    let sent = send(
        via,
        &["--count", "1000", "--size", "64", "--rate", "2000/s"],
    );
    let send_summary = event(&sent, "send_summary");
    assert_eq!(send_summary["sent"], 1000);
    assert_eq!(send_summary["end_markers"], 3);
    assert_eq!(send_summary["refused"], 0);

    let summary = server.wait_for("sender_summary", WAIT);
    let forwarded = forwarder.join().unwrap();
    assert_eq!(forwarded, 1000 - 8 + 3 + 3, "data, duplicates, end markers");
    assert_eq!(summary["reason"], "end");
    assert_eq!(summary["expected"], 1000);
    assert_eq!(summary["received"], 1000 - 8);
    assert_eq!(summary["lost"], 8);
    assert_eq!(summary["reordered"], 2);
    assert_eq!(summary["duplicated"], 3);
    assert_eq!(summary["numbered"], 1000 - 8 + 3);
    assert_eq!(summary["datagrams"], 1000 - 8 + 3);
    assert_eq!(summary["bytes"], (1000 - 8 + 3) * 64);
    assert_eq!(summary["stale"], 0);
    let p50 = summary["latency_p50_us"].as_u64().expect("a latency");
    assert!(p50 <= summary["latency_max_us"].as_u64().unwrap());

    let (status, rest) = server.stop();
    assert!(status.success());
    assert!(
        events(&rest, "sender_summary").is_empty(),
        "summarised once: {rest:#?}"
    );
    let total = event(&rest, "total");
    assert_eq!(total["lost"], 8);
    assert_eq!(total["senders"], 1);
}

#[test]
fn gaps_reorders_and_duplicates_are_details_shown_with_verbose() {
    let server = serve(&["-v"]);
    let s = test_socket();
    for seq in [0, 2, 1, 1] {
        s.send_to(&numbered(seq, 20), server.addr).unwrap();
    }
    let gap = server.wait_for("gap", WAIT);
    assert_eq!(gap["seq"], 2);
    assert_eq!(server.wait_for("reordered", WAIT)["seq"], 1);
    assert_eq!(server.wait_for("duplicate", WAIT)["seq"], 1);
    // No end marker: the summary comes at shutdown, with what is known.
    let (_, rest) = server.stop();
    let summary = event(&rest, "sender_summary");
    assert_eq!(summary["reason"], "shutdown");
    assert_eq!(summary["expected"], Value::Null);
    assert_eq!(
        (summary["received"].as_u64(), summary["lost"].as_u64()),
        (Some(3), Some(0))
    );
}

#[test]
fn echo_sends_each_datagram_back_unchanged() {
    let server = serve(&["--echo"]);
    assert!(server.addr.port() != 0);
    let s = test_socket();
    let mut buf = vec![0u8; 65_536];
    for payload in [
        b"ping".to_vec(),
        Vec::new(),
        vec![0xab; 2000],
        numbered(7, 100),
    ] {
        s.send_to(&payload, server.addr).unwrap();
        let (n, from) = s.recv_from(&mut buf).expect("an echo within the timeout");
        assert_eq!(from, server.addr);
        assert_eq!(&buf[..n], &payload[..]);
    }
}

#[test]
fn garbage_empty_and_huge_datagrams_do_not_stop_the_server() {
    let server = serve(&[]);
    let garbage = test_socket();
    // Deterministic "random" bytes: a linear congruential generator.
    let mut state: u64 = 0x5eed;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let mut sent = 0u64;
    for _ in 0..50 {
        let len = (next() % 1500) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        garbage.send_to(&bytes, server.addr).unwrap();
        sent += 1;
    }
    for odd in [
        Vec::new(),
        Vec::new(),
        b"NDJ1short".to_vec(), // our magic, but no room for the header
        vec![0u8; 65_507],     // the largest UDP payload over IPv4
        b"NDJE".to_vec(),
    ] {
        garbage.send_to(&odd, server.addr).unwrap();
        sent += 1;
    }
    // A forged number near the top of the range, from a sender of its own.
    test_socket()
        .send_to(&numbered(u64::MAX - 5, 20), server.addr)
        .unwrap();

    // A well-behaved sender is still counted exactly.
    send(server.addr, &["--count", "100", "--rate", "2000/s"]);
    let summary = server.wait_for("sender_summary", WAIT);
    assert_eq!(summary["reason"], "end");
    assert_eq!(
        (summary["received"].as_u64(), summary["lost"].as_u64()),
        (Some(100), Some(0))
    );

    let (status, rest) = server.stop();
    assert!(status.success(), "{status}");
    let garbage_addr = garbage.local_addr().unwrap().to_string();
    let garbage_summary = events(&rest, "sender_summary")
        .into_iter()
        .find(|s| s["sender"] == garbage_addr.as_str())
        .expect("the garbage sender is summarised at shutdown");
    assert_eq!(garbage_summary["datagrams"], sent);
    assert_eq!(garbage_summary["other"], sent);
    let total = event(&rest, "total");
    assert_eq!(total["senders"], 3);
}

#[test]
fn the_largest_datagram_is_shown_cut_short_and_counted_whole() {
    let server = serve(&[]);
    test_socket()
        .send_to(&vec![b'x'; 65_507], server.addr)
        .unwrap();
    let shown = server.wait_for("datagram", WAIT);
    assert_eq!(shown["bytes"], 65_507);
    assert_eq!(shown["truncated"], true);
    assert!(shown["content"].as_str().unwrap().len() < 200);
}

#[test]
fn sizes_outside_udp_limits_are_usage_errors_naming_the_limit() {
    let out = netdojo()
        .args(["udp", "send", "127.0.0.1:9", "--size", "70000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("65,507"), "{stderr}");

    let out = netdojo()
        .args(["udp", "send", "127.0.0.1:9", "--size", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("20 bytes"), "{stderr}");
}

#[test]
fn a_port_in_use_is_a_runtime_error_that_names_it_and_suggests_port_zero() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    for command in ["serve", "relay"] {
        let mut args = vec!["udp", command, "--listen"];
        let listen = addr.to_string();
        args.push(&listen);
        // The relay needs somewhere to send; it never gets that far.
        args.extend_from_slice(if command == "relay" {
            &["--to", "127.0.0.1:9"][..]
        } else {
            &[]
        });
        let out = netdojo().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(
            stderr.contains(&format!(
                "port {} is already in use on 127.0.0.1",
                addr.port()
            )),
            "{stderr}"
        );
        assert!(stderr.contains("(try --listen 127.0.0.1:0)"), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: no listening line for a socket that was never bound"
        );
    }
    drop(taken);
}

#[test]
fn an_address_that_cannot_be_parsed_is_a_usage_error() {
    for bad in ["nonsense", "127.0.0.1", "127.0.0.1:99999"] {
        let out = netdojo().args(["udp", "send", bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(out.stdout.is_empty());
    }
    let out = netdojo()
        .args(["udp", "send", "127.0.0.1:9", "--rate", "fast"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sending_where_nobody_listens_is_reported_and_survived() {
    // A port that was just free: bound, then closed.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let all = send(addr, &["--count", "20", "--rate", "1000/s"]);
    let summary = event(&all, "send_summary");
    assert_eq!(summary["failed"], 0, "each refused datagram is sent again");
    assert_eq!(summary["sent"], 20);
    if cfg!(target_os = "linux") {
        // Linux reports ICMP port unreachable on a connected socket.
        let refused = event(&all, "refused");
        assert_eq!(refused["layer"], 3);
        assert!(summary["refused"].as_u64().unwrap() > 0, "{summary}");
    }
}

#[test]
fn ipv6_loopback_works_like_ipv4() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipping: no IPv6 loopback on this machine");
        return;
    }
    let server = Server::start(&["udp", "serve", "--listen", "[::1]:0"]);
    assert!(server.addr.is_ipv6());
    send(server.addr, &["--count", "50", "--rate", "2000/s"]);
    let summary = server.wait_for("sender_summary", WAIT);
    assert_eq!(
        (summary["received"].as_u64(), summary["lost"].as_u64()),
        (Some(50), Some(0))
    );
    assert!(summary["sender"].as_str().unwrap().starts_with("[::1]:"));
}

#[test]
fn the_demo_shows_boundaries_no_handshake_refusal_and_real_drops() {
    let (out, all) = run_json(&["udp", "demo"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let b = event(&all, "boundaries");
    assert_eq!(b["sent"], serde_json::json!([5, 300, 1400]));
    assert_eq!(
        b["received"], b["sent"],
        "three receives of exactly the sizes sent"
    );
    assert_eq!(b["kept"], true);
    let sizes: Vec<_> = events(&all, "received")
        .iter()
        .map(|e| e["bytes"].clone())
        .collect();
    assert_eq!(sizes, [5, 300, 1400]);

    assert_eq!(event(&all, "no_handshake")["datagrams_before_data"], 0);

    let unreachable = event(&all, "port_unreachable");
    if cfg!(target_os = "linux") {
        assert_eq!(unreachable["refused"], true, "{unreachable}");
        assert_eq!(unreachable["layer"], 3);
    }

    let burst = event(&all, "burst_received");
    let (sent, received, lost) = (
        burst["sent"].as_u64().unwrap(),
        burst["received"].as_u64().unwrap(),
        burst["lost"].as_u64().unwrap(),
    );
    assert_eq!(sent, 2000);
    assert!(
        lost > 0,
        "a small buffer read slowly must drop some: {burst}"
    );
    assert_eq!(received + lost, sent, "{burst}");

    assert!(
        events(&all, "refused").is_empty(),
        "the demo's own sockets never refuse each other"
    );

    // The sentences say what the counts say, not what usually happens.
    let expected = burst["expected"].as_u64().unwrap();
    assert_eq!(expected, 2000, "{burst}");
    let text = burst["text"].as_str().unwrap();
    let total = netdojo::report::thousands(expected);
    if burst["end_marker_seen"] == true {
        assert!(
            text.contains(&format!("the end marker said {total} were sent")),
            "{text}"
        );
    } else {
        assert!(
            text.contains(&format!("the demo told it {total} were sent")),
            "{text}"
        );
    }
    assert!(
        text.ends_with(&format!(
            "{} received + {} lost = {total} sent",
            netdojo::report::thousands(received),
            netdojo::report::thousands(lost)
        )),
        "{text}"
    );
    let sent_event = event(&all, "burst_sent");
    let text = sent_event["text"].as_str().unwrap();
    let clean = sent_event["refused"] == 0 && sent_event["failed"] == 0;
    assert_eq!(text.contains("every send() succeeded"), clean, "{text}");
    let read = sent_event["read_when_sender_done"].as_u64().unwrap();
    assert_eq!(
        text.contains("the sender did not wait for it"),
        read < sent,
        "{text}"
    );

    let kernel = event(&all, "kernel_drops");
    assert_eq!(kernel["available"], cfg!(target_os = "linux"));
    let summary = event(&all, "demo_summary");
    assert!(
        summary["text"].as_str().unwrap().contains(&format!(
            "{} of {total} lost",
            netdojo::report::thousands(lost)
        )),
        "{summary}"
    );
}

/// `udp send` → `udp relay` (with `impairments` and `--seed seed`) → `udp
/// serve`: 500 numbered datagrams of 64 bytes, at 5,000 a second. Returns
/// what `udp serve` counted and what the relay says it did towards it.
fn through_the_relay(seed: &str, impairments: &[&str]) -> (Value, Value) {
    let server = serve(&[]);
    let to = server.addr.to_string();
    let mut args = vec![
        "udp",
        "relay",
        "--listen",
        "127.0.0.1:0",
        "--to",
        &to,
        "--seed",
        seed,
    ];
    args.extend_from_slice(impairments);
    let relay = Server::start(&args);
    send(relay.addr, &["--count", "500", "--rate", "5000/s"]);
    let summary = server.wait_for("sender_summary", WAIT);
    let (status, rest) = relay.stop();
    assert!(status.success() || status.code().is_none(), "{status:?}");
    let forward = event(&rest, "relay_forward").clone();
    // Nothing is dropped between the programs themselves.
    assert_eq!(forward["overflow"], 0, "{forward}");
    assert_eq!(forward["numbered"], 500, "{forward}");
    (summary, forward)
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

#[test]
fn the_relay_loses_a_known_set_for_a_seed_and_udp_serve_counts_it() {
    let (summary, forward) = through_the_relay("3", &["--loss", "20", "--delay", "2ms"]);
    // 20% of 500 is 100 on average; seed 3 draws these.
    assert_eq!(n(&forward, "numbered_lost"), 111, "{forward}");
    assert_eq!(n(&summary, "lost"), 111, "{summary}");
    assert_eq!(n(&summary, "received"), 389, "{summary}");
    assert_eq!(summary["reason"], "end", "an end marker got through");
    assert_eq!(
        (n(&summary, "duplicated"), n(&summary, "reordered")),
        (0, 0),
        "{summary}"
    );
}

#[test]
fn the_relay_duplicates_and_reorders_a_known_set_for_a_seed() {
    let (summary, forward) = through_the_relay("4", &["--duplicate", "10", "--reorder", "10"]);
    let (copies, held) = (
        n(&forward, "numbered_duplicated"),
        n(&forward, "numbered_held_back"),
    );
    // 10% of 500 is 50 of each on average; seed 4 draws these.
    assert_eq!((copies, held), (52, 45), "{forward}");
    // Each held datagram went on right after a later one overtook it.
    assert_eq!(n(&forward, "numbered_not_overtaken"), 0, "{forward}");
    assert_eq!(n(&summary, "duplicated"), copies, "{summary}");
    assert_eq!(n(&summary, "reordered"), held, "{summary}");
    assert_eq!((n(&summary, "received"), n(&summary, "lost")), (500, 0));
}

#[test]
fn the_relay_corrupts_a_known_set_and_udp_serve_sees_only_some() {
    // Seed 2 flips bits in 14 datagrams, 4 of them in netdojo's magic and
    // none in the sequence number (a flipped number would be another
    // datagram, and a high bit would claim a huge gap).
    let (summary, forward) = through_the_relay("2", &["--corrupt", "2"]);
    let corrupted = n(&forward, "numbered_corrupted");
    let stranger = n(&forward, "numbered_unrecognisable");
    assert_eq!(
        (corrupted, stranger, n(&forward, "numbered_renumbered")),
        (14, 4, 0),
        "{forward}"
    );
    assert_eq!(n(&forward, "corrupted"), corrupted, "no end marker was hit");
    // The relay sent each on with a fresh checksum, so udp serve cannot
    // tell a damaged payload; only a flipped magic shows, as a datagram
    // that is not netdojo's, whose number is then missing.
    assert_eq!(n(&summary, "other"), stranger, "{summary}");
    assert_eq!(n(&summary, "lost"), stranger, "{summary}");
    assert_eq!(n(&summary, "received"), 500 - stranger, "{summary}");
}

#[test]
fn sequence_numbers_damaged_by_the_relay_give_sane_exact_counts() {
    // Seed 27 flips a bit in 17 datagrams at 2%, none of them an end
    // marker: 3 in netdojo's magic (strangers now), 3 in the sequence
    // number, and the rest in the send time or the padding, which nothing
    // reads. Of the sequence numbers, #92 and #306 get a high bit (about
    // 2^41 and 2^38): far ahead, held, and at the end marker beyond its
    // count, so damaged. #107 loses bit 5 and becomes #75, which had
    // arrived: a duplicate, as numbers alone must take it. Before the
    // tracker held leaps, #92's flip alone made "lost" about 2.2 trillion.
    let (summary, forward) = through_the_relay("27", &["--corrupt", "2"]);
    assert_eq!(
        (
            n(&forward, "numbered_corrupted"),
            n(&forward, "numbered_unrecognisable"),
            n(&forward, "numbered_renumbered"),
        ),
        (17, 3, 3),
        "{forward}"
    );
    assert_eq!(n(&forward, "corrupted"), 17, "no end marker was hit");
    assert_eq!(summary["reason"], "end", "{summary}");
    assert_eq!(n(&summary, "expected"), 500);
    assert_eq!(n(&summary, "other"), 3, "{summary}");
    assert_eq!(n(&summary, "numbered"), 497, "{summary}");
    assert_eq!(n(&summary, "damaged"), 2, "{summary}");
    assert_eq!(n(&summary, "duplicated"), 1, "{summary}");
    assert_eq!(n(&summary, "reordered"), 0, "{summary}");
    assert_eq!(n(&summary, "stale"), 0, "{summary}");
    // Every datagram whose own number did not arrive is lost: the 3
    // strangers' and the 3 renumbered ones'.
    assert_eq!(n(&summary, "lost"), 6, "{summary}");
    assert_eq!(n(&summary, "received"), 494, "{summary}");
    assert_eq!(
        n(&summary, "received") + n(&summary, "lost"),
        500,
        "the run adds up"
    );
    // Every numbered datagram that came is accounted for once.
    assert_eq!(
        n(&summary, "received") + n(&summary, "duplicated") + n(&summary, "damaged"),
        n(&summary, "numbered")
    );
}
