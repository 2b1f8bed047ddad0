//! The TCP echo server, client and demo, over real loopback sockets, with
//! peers nobody here wrote (nc, socat).

mod common;

use std::io::{BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Server, event, events, free_port, netdojo, peer, run_json};

const WAIT: Duration = Duration::from_secs(20);

/// Bytes that are not text: every value, in an order that is not periodic in
/// small powers of two.
fn binary_payload(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// Runs a peer program with `input` on stdin and returns its stdout.
fn pipe_through(program: &std::path::Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start peer");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&input).unwrap();
    });
    let out = child.wait_with_output().expect("peer output");
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "{program:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn nc_gets_back_exactly_what_it_sent_including_a_mebibyte_of_binary() {
    let Some(nc) = peer("nc") else { return };
    let server = Server::start(&["tcp", "serve", "--listen", "127.0.0.1:0"]);
    let port = server.addr.port().to_string();

    let text = b"hello from nc\nsecond line\n";
    assert_eq!(pipe_through(&nc, &["-N", "127.0.0.1", &port], text), text);

    let payload = binary_payload(1 << 20);
    let echoed = pipe_through(&nc, &["-N", "127.0.0.1", &port], &payload);
    assert_eq!(echoed.len(), payload.len());
    assert!(echoed == payload, "the echoed mebibyte differs");

    let closed = server.wait_for("closed", WAIT);
    assert_eq!(closed["bytes_echoed"], text.len());
    let closed = server.wait_for("closed", WAIT);
    assert_eq!(closed["bytes_echoed"], 1 << 20);
}

#[test]
fn socat_gets_back_exactly_what_it_sent() {
    let Some(socat) = peer("socat") else { return };
    let server = Server::start(&["tcp", "serve", "--listen", "127.0.0.1:0"]);
    let target = format!("TCP:{}", server.addr);
    let payload = binary_payload(1 << 20);
    let echoed = pipe_through(&socat, &["-t", "5", "-", &target], &payload);
    assert!(
        echoed == payload,
        "socat's echo differs ({} bytes back)",
        echoed.len()
    );
}

#[test]
fn the_server_reports_accept_half_close_close_and_the_kernels_view() {
    let server = Server::start(&["tcp", "serve", "--listen", "127.0.0.1:0"]);
    let mut client = TcpStream::connect(server.addr).unwrap();
    let local = client.local_addr().unwrap();
    client.write_all(b"abc").unwrap();
    let mut back = [0u8; 3];
    client.read_exact(&mut back).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the server closes after our FIN");

    let accepted = server.wait_for("accepted", WAIT);
    assert_eq!(accepted["layer"], 4);
    assert_eq!(accepted["peer"], local.to_string());
    assert_eq!(accepted["local"], server.addr.to_string());
    let half = server.wait_for("half_close", WAIT);
    assert_eq!(half["bytes"], 3);
    let closed = server.wait_for("closed", WAIT);
    assert_eq!(closed["bytes_echoed"], 3);
    if cfg!(target_os = "linux") {
        let info = server.wait_for("tcp_info", WAIT);
        assert!(info["snd_mss"].as_u64().unwrap() > 0);
        assert!(info["rtt_us"].is_u64());
    }
    let (status, rest) = server.stop();
    assert!(status.success(), "graceful stop exits 0");
    let stopped = event(&rest, "stopped");
    assert_eq!(stopped["connections"], 1);
    assert_eq!(stopped["bytes_echoed"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_clients_each_echo_64_kib() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const CLIENTS: usize = 200;
    const EACH: usize = 64 * 1024;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reporter, recorder) = netdojo::report::Reporter::recorder();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(netdojo::tcp::serve(listener, reporter, async {
        let _ = stop_rx.await;
    }));

    let mut clients = tokio::task::JoinSet::new();
    for i in 0..CLIENTS {
        clients.spawn(async move {
            let payload: Vec<u8> = (0..EACH).map(|j| ((i * 7 + j) % 256) as u8).collect();
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut rd, mut wr) = stream.into_split();
            let sent = payload.clone();
            let writer = tokio::spawn(async move {
                wr.write_all(&sent).await.unwrap();
                wr.shutdown().await.unwrap();
            });
            let mut back = Vec::with_capacity(EACH);
            rd.read_to_end(&mut back).await.unwrap();
            writer.await.unwrap();
            assert!(back == payload, "client {i} got a different echo");
        });
    }
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
    stop_tx.send(()).unwrap();
    server.await.unwrap().unwrap();

    let closed = recorder.events("closed");
    assert_eq!(closed.len(), CLIENTS);
    assert!(
        closed
            .iter()
            .all(|o| o.get("bytes_echoed") == Some(&(EACH as u64).into()))
    );
    let stopped = recorder.events("stopped");
    assert_eq!(
        stopped[0].get("connections"),
        Some(&(CLIENTS as u64).into())
    );
}

#[test]
fn garbage_and_abrupt_disconnects_do_not_stop_the_server() {
    let server = Server::start(&["tcp", "serve", "--listen", "127.0.0.1:0"]);
    for _ in 0..5 {
        let mut rude = TcpStream::connect(server.addr).unwrap();
        rude.write_all(&binary_payload(100_000)).unwrap();
        // Close without reading the echo: the kernel answers with RST.
        socket2::SockRef::from(&rude)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(rude);
    }
    // Connect and vanish without a byte.
    drop(TcpStream::connect(server.addr).unwrap());

    let mut polite = TcpStream::connect(server.addr).unwrap();
    polite.write_all(b"still there?\n").unwrap();
    polite.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    polite.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"still there?\n");
    let mut server = server;
    assert!(server.is_running());
}

#[test]
fn connect_talks_to_socat_and_times_each_line() {
    let Some(socat) = peer("socat") else { return };
    let port = free_port();
    let mut echo = Command::new(socat)
        .args([
            &format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"),
            "PIPE",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "socat did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let addr = format!("127.0.0.1:{port}");

    let (out, all) = run_json(&[
        "tcp", "connect", &addr, "--send", "hello", "--send", "wörld",
    ]);
    let connected = event(&all, "connected");
    assert_eq!(connected["peer"], addr);
    assert!(connected["local_port"].as_u64().unwrap() > 0);
    let replies = events(&all, "reply");
    let lines: Vec<_> = replies
        .iter()
        .map(|r| r["line"].as_str().unwrap())
        .collect();
    assert_eq!(lines, ["hello", "wörld"]);
    assert!(replies.iter().all(|r| r["rtt_us"].is_u64()));
    assert_eq!(event(&all, "half_close")["lines"], 2);
    event(&all, "server_closed");
    assert!(out.status.success());

    // Lines from a pipe, as `echo hi | netdojo tcp connect ...` would send.
    let mut child = netdojo()
        .args(["--json", "tcp", "connect", &addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo\nthree\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let all = common::json_lines(&out.stdout);
    let lines: Vec<_> = events(&all, "reply")
        .iter()
        .map(|r| r["line"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(lines, ["one", "two", "three"]);
    let _ = echo.kill();
    let _ = echo.wait();
}

#[test]
fn connect_says_clearly_when_the_server_closes_first() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut line = [0u8; 3];
        conn.read_exact(&mut line).unwrap();
        conn.write_all(b"bye now\n").unwrap();
        // Closing with nothing unread sends FIN (with unread data it would
        // be RST, which the client reports as a reset).
    });
    let (out, all) = run_json(&["tcp", "connect", &addr.to_string(), "--send", "hi"]);
    server.join().unwrap();
    event(&all, "server_closed");
    assert!(events(&all, "reply").iter().any(|r| r["line"] == "bye now"));
    assert!(out.status.success());
}

/// A one-shot server: accepts, reads one line, echoes it if asked, closes.
/// Its thread returns the line it read.
fn one_line_server(echo: bool) -> (std::net::SocketAddr, std::thread::JoinHandle<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(&conn).read_line(&mut line).unwrap();
        if echo {
            conn.write_all(line.as_bytes()).unwrap();
        }
        // Closing with nothing unread sends a FIN.
        line
    });
    (addr, server)
}

#[test]
fn connect_exits_when_the_server_closes_while_it_waits_for_stdin() {
    // Echoed first, the close comes while the client is back reading stdin;
    // not echoed, while it waits for the reply. Either way it must go.
    for echo in [true, false] {
        let (addr, server) = one_line_server(echo);
        let mut child = netdojo()
            .args(["--json", "tcp", "connect", &addr.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"only line\n").unwrap();
        stdin.flush().unwrap();
        assert_eq!(server.join().unwrap(), "only line\n");

        // stdin stays open: the client must notice the close by itself.
        let deadline = std::time::Instant::now() + WAIT;
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("echo {echo}: tcp connect still waits for stdin after the server closed");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        assert!(
            out.status.success(),
            "echo {echo}: {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let all = common::json_lines(&out.stdout);
        let closed = event(&all, "server_closed");
        assert_eq!(closed["bytes_received"], if echo { 10 } else { 0 });
        let replies: Vec<_> = events(&all, "reply")
            .iter()
            .map(|r| r["line"].clone())
            .collect();
        assert_eq!(replies.len(), usize::from(echo), "echo {echo}: {replies:?}");
        let exiting = event(&all, "exiting");
        assert_eq!(exiting["lines"], 1);
        assert!(
            exiting["text"]
                .as_str()
                .unwrap()
                .contains("without waiting for more input"),
            "{exiting}"
        );
        assert!(
            events(&all, "half_close").is_empty(),
            "echo {echo}: {all:?}"
        );
    }
}

#[test]
fn the_demo_reports_what_really_happened() {
    let (out, all) = run_json(&["tcp", "demo"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let connected = event(&all, "connected");
    if cfg!(unix) {
        // Observed with poll(2) on the listening socket, before accept().
        assert_eq!(connected["before_accept"], true, "{connected}");
        assert!(
            event(&all, "accepted")["text"]
                .as_str()
                .unwrap()
                .contains("already established"),
        );
    } else {
        assert!(connected["before_accept"].is_null(), "{connected}");
    }

    let small = event(&all, "small_reads");
    let reads: u64 = small["reads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(
        reads, 12,
        "the two writes' 12 bytes, however they were read"
    );

    let large = event(&all, "large_reads");
    let sizes = large["sizes"].as_array().unwrap();
    let total: u64 = sizes.iter().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(total, 1 << 20);
    assert_eq!(large["reads"], sizes.len());
    assert!(sizes.len() > 1, "a mebibyte never fits one read");
    // However many write() calls the kernel needed, together they took the
    // whole mebibyte, each call some of it, and the text says how many.
    let write = event(&all, "large_write");
    let taken: Vec<u64> = write["write_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(taken.iter().sum::<u64>(), 1 << 20, "{write}");
    assert!(taken.iter().all(|&n| n > 0), "{write}");
    assert_eq!(write["write_calls"], taken.len(), "{write}");
    let text = write["text"].as_str().unwrap();
    if taken.len() == 1 {
        assert!(text.contains("a single write() call"), "{text}");
    } else {
        assert!(
            text.contains(&format!("in {} write() calls", taken.len())),
            "{text}"
        );
    }
    assert_eq!(
        event(&all, "summary")["large_write_calls"],
        taken.len(),
        "the summary counts the same calls"
    );
    assert_eq!(event(&all, "echo_checked")["intact"], true);

    let after = event(&all, "after_half_close");
    assert!(
        after["bytes"].as_u64().unwrap() > 4,
        "the echo of bye and the server's last line"
    );
    if cfg!(target_os = "linux") {
        let info = event(&all, "tcp_info");
        assert!(info["cwnd_segments"].as_u64().unwrap() > 0);
    }
    let summary = event(&all, "summary");
    assert_eq!(summary["echo_intact"], true);
    for line in &all {
        assert!(line["event"].is_string(), "every line has an event: {line}");
    }
}

#[test]
fn the_demo_in_a_closed_pipe_ends_quietly() {
    let mut child = netdojo()
        .args(["tcp", "demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout); // like `| head -c 16`
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit status {:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_port_in_use_is_a_runtime_error_that_names_it_and_suggests_port_zero() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = netdojo()
        .args(["tcp", "serve", "--listen", &addr.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&format!(
            "port {} is already in use on 127.0.0.1",
            addr.port()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("--listen 127.0.0.1:0"), "{stderr}");
}

#[test]
fn an_unparsable_address_is_a_usage_error() {
    for bad in ["nonsense", "127.0.0.1:99999", "1.2.3.4"] {
        let out = netdojo().args(["tcp", "connect", bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let out = netdojo()
            .args(["tcp", "serve", "--listen", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
}

#[test]
fn connecting_to_a_closed_port_says_connection_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = netdojo()
        .args([
            "tcp",
            "connect",
            &format!("127.0.0.1:{port}"),
            "--send",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn ipv6_loopback_works_like_ipv4() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipping: this machine has no IPv6 loopback");
        return;
    }
    let server = Server::start(&["tcp", "serve", "--listen", "[::1]:0"]);
    assert!(server.addr.is_ipv6());
    let (out, all) = run_json(&["tcp", "connect", &server.addr.to_string(), "--send", "six"]);
    assert!(out.status.success());
    assert_eq!(events(&all, "reply")[0]["line"], "six");
}
