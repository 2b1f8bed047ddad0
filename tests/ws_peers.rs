//! The chat server with clients nobody here wrote: Python's `websockets`
//! library, and the server's own page in headless Chromium (playwright-core
//! driving Debian's /usr/bin/chromium).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Server;
use serde_json::Value;

fn tests_dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub)
}

/// Runs a peer script; its last stdout line is a JSON summary.
fn run(mut cmd: Command) -> Value {
    let out = cmd.output().expect("run the peer");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "peer failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("a JSON summary")
}

#[test]
fn a_python_websockets_client_joins_says_gets_acks_and_resumes() {
    let Some(python) = common::python_module("websockets") else {
        return;
    };
    let server = Server::start(&["ws", "serve", "--listen", "127.0.0.1:0"]);
    let mut cmd = Command::new(python);
    cmd.arg(tests_dir("py").join("chat_client.py"))
        .arg(format!("ws://{}/ws", server.addr));
    let summary = run(cmd);
    assert_eq!(summary["acked_id"], 1);
    assert_eq!(summary["resumed_after"], 1);
    assert_eq!(
        summary["replayed"],
        serde_json::json!([
            "while bob was away 0",
            "while bob was away 1",
            "while bob was away 2"
        ])
    );
    server.stop();
}

#[test]
fn two_chromium_pages_chat_render_markup_as_text_and_recover_after_coming_back() {
    let (Some(node), Some(_)) = (common::node_with_packages(), common::peer("chromium")) else {
        return;
    };
    let server = Server::start(&["ws", "serve", "--listen", "127.0.0.1:0"]);
    let mut cmd = Command::new(node);
    cmd.current_dir(tests_dir("js"))
        .arg("chat_browser.cjs")
        .arg(format!("http://{}/", server.addr));
    let summary = run(cmd);
    assert_eq!(summary["members"], serde_json::json!(["ada", "bob"]));
    assert_eq!(
        summary["script_ran"], false,
        "a <script> message must not run"
    );
    assert_eq!(summary["bold_elements"], 0, "markup is shown as text");
    assert_eq!(summary["ack_mark"], true);
    assert_eq!(summary["recovered"], 3, "{summary}");
    assert_eq!(summary["name_taken_after_reload"], 0);
    server.stop();
}

#[test]
fn chromium_pages_keep_every_message_when_the_server_restarts_under_them() {
    use std::io::{BufRead, Write};
    let (Some(node), Some(_)) = (common::node_with_packages(), common::peer("chromium")) else {
        return;
    };
    let old = Server::start(&["ws", "serve", "--listen", "127.0.0.1:0"]);
    let proxy = common::CutProxy::start(old.addr);
    let mut child = Command::new(node)
        .current_dir(tests_dir("js"))
        .arg("chat_restart.cjs")
        .arg(format!("http://{}/", proxy.addr))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start node");
    let mut stdin = child.stdin.take().unwrap();
    let mut last = String::new();
    let mut new = None;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == "restart" {
            // A new process takes the old one's place; every connection
            // through the proxy drops, as when a server is restarted.
            let server = Server::start(&["ws", "serve", "--listen", "127.0.0.1:0"]);
            proxy.set_upstream(server.addr);
            proxy.cut();
            new = Some(server);
            writeln!(stdin, "go").unwrap();
        } else {
            last = line;
        }
    }
    assert!(child.wait().unwrap().success(), "{last}");
    let summary: Value = serde_json::from_str(&last).expect("a JSON summary");
    assert_eq!(summary["old"], 4, "{summary}");
    assert_eq!(
        summary["new"],
        serde_json::json!(["new server 1", "new server 2", "new server 3"]),
        "the new server's ids 1 to 3 were ids bob had seen from the old one: {summary}"
    );
    assert_eq!(summary["restart_notices"], 1, "{summary}");
    drop(old);
    new.expect("the script asked for the restart").stop();
}
