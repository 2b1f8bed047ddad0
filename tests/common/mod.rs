//! The test harness: run the real binary, start servers on port 0, find peers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// The netdojo binary under test, with colour off.
pub fn netdojo() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_netdojo"));
    cmd.env("NO_COLOR", "1");
    cmd
}

/// Runs `netdojo --json ARGS` to completion and parses its stdout.
pub fn run_json(args: &[&str]) -> (std::process::Output, Vec<Value>) {
    let out = netdojo()
        .arg("--json")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run netdojo");
    let events = json_lines(&out.stdout);
    (out, events)
}

/// Parses NDJSON, panicking on a line that is not JSON (our JSON view must
/// never print anything else).
pub fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The events with this name.
pub fn events<'a>(all: &'a [Value], name: &str) -> Vec<&'a Value> {
    all.iter().filter(|v| v["event"] == name).collect()
}

/// The one event with this name; panics if there is not exactly one.
pub fn event<'a>(all: &'a [Value], name: &str) -> &'a Value {
    let found = events(all, name);
    assert_eq!(found.len(), 1, "expected one {name:?} event in {all:#?}");
    found[0]
}

/// A netdojo server running as a child process, started with `--json` and
/// `--listen 127.0.0.1:0`; its address is read from its first line.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `netdojo --json ARGS` (ARGS must include `--listen ...:0`).
    pub fn start(args: &[&str]) -> Server {
        let mut child = netdojo()
            .arg("--json")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start netdojo server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("server printed its first line");
        let v: Value = serde_json::from_str(&first).expect("first line is JSON");
        assert_eq!(v["event"], "listening", "first line: {first}");
        let addr = v["addr"]
            .as_str()
            .expect("addr")
            .parse()
            .expect("addr parses");
        Server { child, addr, lines }
    }

    /// The next event the server printed, waiting up to `timeout`.
    pub fn next_event(&self, timeout: Duration) -> Option<Value> {
        let line = self.lines.recv_timeout(timeout).ok()?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
    }

    /// Waits for an event with this name, returning it and skipping others.
    pub fn wait_for(&self, name: &str, timeout: Duration) -> Value {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.next_event(left) {
                Some(v) if v["event"] == name => return v,
                Some(_) => continue,
                None => panic!("no {name:?} event within {timeout:?}"),
            }
        }
    }

    /// The server's process id (to read its memory, say).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL: no shutdown, no flush, as a crash.
    pub fn kill9(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Asks the server to stop (SIGTERM, like Ctrl-C), waits, and returns the
    /// exit status and every event it printed after the ones already read.
    pub fn stop(mut self) -> (std::process::ExitStatus, Vec<Value>) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety concerns.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let status = self.child.wait().expect("wait for server");
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            rest.push(
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")),
            );
        }
        (status, rest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A peer program nobody here wrote (nc, socat, ...). Missing, it skips the
/// test, unless NETDOJO_REQUIRE_PEERS=1 (set by .ci/run), where it fails it.
pub fn peer(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("NETDOJO_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("peer program {name} is required (NETDOJO_REQUIRE_PEERS=1) but not on PATH");
        }
        eprintln!("skipping: peer program {name} is not installed");
    }
    found
}

/// A free UDP or TCP port on 127.0.0.1 for a peer that cannot bind port 0 and
/// report it (socat). There is a small race; tests verify the peer bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A TCP proxy in front of a server that can fail the way a network does:
/// `cut()` closes every client's side while keeping the server's side open
/// (so the server does not notice, as after a dropped Wi-Fi), and while
/// `refuse(true)` is on, new connections are closed as soon as they arrive.
pub struct CutProxy {
    pub addr: SocketAddr,
    state: std::sync::Arc<std::sync::Mutex<CutState>>,
}

#[derive(Default)]
struct CutState {
    /// Where new connections go: another server can take over.
    upstream: Option<SocketAddr>,
    clients: Vec<std::net::TcpStream>,
    /// Kept open on purpose after a cut: the server must not see a close.
    upstreams: Vec<std::net::TcpStream>,
    refusing: bool,
    accepted: usize,
}

impl CutProxy {
    pub fn start(upstream: SocketAddr) -> CutProxy {
        use std::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let state = std::sync::Arc::new(std::sync::Mutex::new(CutState {
            upstream: Some(upstream),
            ..CutState::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let mut st = shared.lock().unwrap();
                if st.refusing {
                    drop(client);
                    continue;
                }
                let Some(Ok(server)) = st.upstream.map(TcpStream::connect) else {
                    continue;
                };
                st.accepted += 1;
                st.clients.push(client.try_clone().unwrap());
                st.upstreams.push(server.try_clone().unwrap());
                drop(st);
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_in, &mut s_out);
                });
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_in, &mut c_out);
                    let _ = c_out.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        CutProxy { addr, state }
    }

    /// Closes every client connection; the server's side stays open.
    pub fn cut(&self) {
        for c in self.state.lock().unwrap().clients.drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    /// While on, connections are accepted and closed at once.
    pub fn refuse(&self, on: bool) {
        self.state.lock().unwrap().refusing = on;
    }

    /// New connections go to `upstream` from now on (a restarted server).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.state.lock().unwrap().upstream = Some(upstream);
    }

    /// Connections forwarded so far.
    pub fn accepted(&self) -> usize {
        self.state.lock().unwrap().accepted
    }
}

/// A Python module a test needs (websockets, scapy): present, or the test
/// skips, unless NETDOJO_REQUIRE_PEERS=1, where it fails.
pub fn python_module(module: &str) -> Option<PathBuf> {
    let python = peer("python3")?;
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("NETDOJO_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!(
                "python3 module {module} is required (NETDOJO_REQUIRE_PEERS=1): pip3 install {module}"
            );
        }
        eprintln!("skipping: python3 module {module} is not installed");
        return None;
    }
    Some(python)
}

/// node with the npm packages of tests/js installed (`npm ci` there).
pub fn node_with_packages() -> Option<PathBuf> {
    let node = peer("node")?;
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js/node_modules/playwright-core");
    if !dir.is_dir() {
        if std::env::var("NETDOJO_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!(
                "tests/js has no node_modules (NETDOJO_REQUIRE_PEERS=1): run npm ci in tests/js"
            );
        }
        eprintln!("skipping: tests/js has no node_modules; run npm ci there");
        return None;
    }
    Some(node)
}

/// A Redis for a test: `NETDOJO_REDIS_URL` if set (CI starts one), else a
/// `redis-server` of the test's own on a free loopback port, stopped when
/// the returned guard drops. Without either: skip, or fail under
/// NETDOJO_REQUIRE_PEERS=1.
pub struct Redis {
    pub url: String,
    child: Option<Child>,
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn redis() -> Option<Redis> {
    if let Ok(url) = std::env::var("NETDOJO_REDIS_URL") {
        return Some(Redis { url, child: None });
    }
    let server = peer("redis-server")?;
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new(&server)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break; // the port was taken after all: try another
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Redis {
                    url: format!("redis://127.0.0.1:{port}/"),
                    child: Some(child),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("redis-server did not start");
}
