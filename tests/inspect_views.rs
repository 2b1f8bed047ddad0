//! The inspector's frame views and its filter, through the real binary: the
//! tree a learner reads top to bottom, the hex dump coloured by layer, the
//! one-line summary, the JSON a script reads, and `--filter`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use common::{json_lines, netdojo};
use serde_json::Value;

/// Runs `netdojo ARGS` (colour off, via NO_COLOR) and returns its output.
fn run(args: &[&str]) -> Output {
    netdojo()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run netdojo")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

/// The built-in examples' names, from `--example list`.
fn example_names() -> Vec<String> {
    stdout(&run(&["inspect", "--example", "list"]))
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// One example frame as JSON, with its bytes (`--hexdump` adds `hex`).
fn example_json(name: &str) -> Value {
    let out = run(&["--json", "inspect", "--example", name, "--hexdump"]);
    let mut frames = json_lines(stdout(&out).as_bytes());
    assert_eq!(frames.len(), 1, "{name}: one frame");
    frames.remove(0)
}

fn bytes_of(frame: &Value) -> Vec<u8> {
    let hex = frame["hex"].as_str().expect("hex with --hexdump");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// A classic pcap (Ethernet) of these frames, one microsecond apart.
fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut file = Vec::new();
    file.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    file.extend_from_slice(&2u16.to_le_bytes());
    file.extend_from_slice(&4u16.to_le_bytes());
    file.extend_from_slice(&0i32.to_le_bytes());
    file.extend_from_slice(&0u32.to_le_bytes());
    file.extend_from_slice(&65535u32.to_le_bytes());
    file.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (i, data) in frames.iter().enumerate() {
        let len = u32::try_from(data.len()).expect("small frame");
        file.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        file.extend_from_slice(&u32::try_from(i % 1_000_000).unwrap().to_le_bytes());
        file.extend_from_slice(&len.to_le_bytes());
        file.extend_from_slice(&len.to_le_bytes());
        file.extend_from_slice(data);
    }
    std::fs::write(path, file).expect("write pcap");
}

/// A scratch file for this test (each test removes its own).
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "netdojo-inspect-views-{}-{name}",
        std::process::id()
    ))
}

/// Every Ethernet example, in one capture, and the examples' names in order.
fn examples_pcap(name: &str) -> (PathBuf, Vec<String>) {
    let mut names = Vec::new();
    let mut frames = Vec::new();
    for example in example_names() {
        let frame = example_json(&example);
        if frame["link"] == "ethernet" {
            frames.push(bytes_of(&frame));
            names.push(example);
        }
    }
    let path = scratch(name);
    write_pcap(&path, &frames);
    (path, names)
}

#[test]
fn the_tree_reads_from_link_to_application() {
    let text = stdout(&run(&["inspect", "--example", "tcp-data"]));
    let badges = [
        "[L2 Data link · Link] Ethernet II",
        "[L3 Network · Internet] IPv4",
        "[L4 Transport · Transport] TCP",
        "[L7 Application · Application] HTTP",
    ];
    let positions: Vec<usize> = badges
        .iter()
        .map(|b| {
            text.find(b)
                .unwrap_or_else(|| panic!("{b} missing in:\n{text}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "order: {positions:?}\n{text}"
    );
    assert!(text.starts_with("Frame 1"), "{text}");
    // Fields are indented under their layer; meanings only with --explain.
    assert!(text.contains("\n    TTL "), "{text}");
    assert!(
        !text.contains(" — "),
        "no sentences without --explain:\n{text}"
    );
    let explained = stdout(&run(&["inspect", "--example", "tcp-data", "--explain"]));
    assert!(explained.contains("[22..23)"), "{explained}");
    assert!(explained.contains(" — hops left"), "{explained}");
}

#[test]
fn a_truncated_frame_shows_what_parsed_then_where_it_stopped() {
    let text = stdout(&run(&["inspect", "--example", "truncated"]));
    let ip = text
        .find("[L3 Network · Internet] IPv4")
        .expect("IPv4 parsed");
    let stop = text
        .find("truncated at L4 Transport: TCP header needs 20 bytes, 7 present")
        .unwrap_or_else(|| panic!("stop line missing:\n{text}"));
    assert!(ip < stop);
}

#[test]
fn no_colour_means_no_escape_codes_and_the_hex_dump_marks_layers_instead() {
    for args in [
        vec![
            "--color",
            "never",
            "inspect",
            "--example",
            "tcp-data",
            "--hexdump",
            "--explain",
        ],
        vec!["inspect", "--example", "tcp-data", "--hexdump", "--explain"],
    ] {
        let never = netdojo()
            .env_remove("NO_COLOR")
            .args(&args)
            .output()
            .expect("run");
        let no_color = netdojo().args(&args).output().expect("run");
        for out in [never, no_color] {
            let text = stdout(&out);
            assert!(!text.contains('\x1b'), "escape code in:\n{text}");
            assert!(
                text.contains("layers: L2 Ethernet II [0..14) · L3 IPv4 [14..34)"),
                "{text}"
            );
            // Under the first line of bytes, each byte's layer number.
            assert!(
                text.contains("\n      2  2  2  2  2  2  2  2   2  2  2  2  2  2  3  3\n"),
                "{text}"
            );
        }
    }
}

#[test]
fn colour_always_paints_the_hex_dump_by_layer() {
    let out = netdojo()
        .env_remove("NO_COLOR")
        .args([
            "--color",
            "always",
            "inspect",
            "--example",
            "tcp-data",
            "--hexdump",
        ])
        .output()
        .expect("run");
    let text = stdout(&out);
    // Ethernet's bytes in cyan, the first IPv4 bytes in green (Layer::color).
    assert!(
        text.contains("\n0000  \x1b[36m00 00 5e 00 53 14"),
        "Ethernet bytes not cyan:\n{text:?}"
    );
    assert!(
        text.contains("\x1b[32m45 00"),
        "IPv4 bytes not green:\n{text:?}"
    );
    assert!(
        text.contains("\x1b[1;32m[L3 Network · Internet]"),
        "{text:?}"
    );
    // Colour replaces the marker rows; the legend's ranges stay.
    assert!(!text.contains("\n      2  2"), "{text:?}");
    assert!(text.contains("L2 Ethernet II [0..14)"), "{text:?}");
}

#[test]
fn summary_lines_look_like_tcpdump() {
    let line = |example: &str| {
        let text = stdout(&run(&["inspect", "--example", example, "--summary"]));
        assert_eq!(text.lines().count(), 1, "{example}: {text}");
        text.trim_end().to_owned()
    };
    let syn = line("tcp-syn");
    assert!(syn.starts_with("1  "), "{syn}");
    assert!(
        syn.contains("192.0.2.10:51000 → 198.51.100.20:80  TCP [SYN] seq=3141592653 win="),
        "{syn}"
    );
    assert!(syn.ends_with("len=0"), "{syn}");
    assert!(!syn.contains("ack="), "no ack without ACK: {syn}");
    let syn_ack = line("tcp-syn-ack");
    assert!(
        syn_ack.contains("TCP [SYN, ACK] seq=2718281828 ack=3141592654 win="),
        "{syn_ack}"
    );
    let dns = line("udp-dns-query");
    assert!(dns.contains(":53  UDP len="), "{dns}");
    assert!(dns.ends_with("DNS query A www.example.com"), "{dns}");
    let arp = line("arp-request");
    assert!(
        arp.contains("→ ff:ff:ff:ff:ff:ff  ARP who-has 192.0.2.1 tell 192.0.2.10"),
        "{arp}"
    );
    let ping = line("icmp-echo");
    assert!(ping.contains("ICMP echo request id="), "{ping}");
    assert!(
        line("ipv6-udp").contains("[2001:db8::10]:"),
        "IPv6 in brackets"
    );
    assert!(line("vlan-tagged").ends_with("vlan=100"));
    assert!(line("truncated").ends_with("[truncated at L4 Transport]"));
}

#[test]
fn json_is_one_object_per_frame_and_layer_ranges_tile_the_frame() {
    for name in example_names() {
        let frame = example_json(&name);
        assert_eq!(frame["event"], "frame");
        assert_eq!(frame["frame"], 1);
        let captured = frame["captured_len"].as_u64().expect("captured_len");
        assert_eq!(
            bytes_of(&frame).len() as u64,
            captured,
            "{name}: hex is the frame"
        );
        let layers = frame["layers"].as_array().expect("layers");
        assert!(!layers.is_empty(), "{name}");
        let mut next = 0;
        let mut previous_layer = 0;
        for layer in layers {
            let range = layer["range"].as_array().expect("range");
            let (start, end) = (range[0].as_u64().unwrap(), range[1].as_u64().unwrap());
            assert_eq!(
                start, next,
                "{name}: {} does not start where the last ended",
                layer["protocol"]
            );
            assert!(start <= end && end <= captured, "{name}: {range:?}");
            next = end;
            let number = layer["layer"].as_u64().expect("layer number");
            assert!(number >= previous_layer, "{name}: layers go up the stack");
            previous_layer = number;
            assert!(layer["layer_name"].is_string() && layer["summary"].is_string());
            for field in layer["fields"].as_array().expect("fields") {
                let r = field["range"].as_array().expect("field range");
                let (a, b) = (r[0].as_u64().unwrap(), r[1].as_u64().unwrap());
                assert!(
                    start <= a && a <= b && b <= end,
                    "{name}: field {field} outside its layer"
                );
                assert!(
                    field["name"].is_string()
                        && field["value"].is_string()
                        && field["meaning"].is_string()
                );
            }
        }
    }
    let truncated = example_json("truncated");
    assert_eq!(truncated["stop"]["layer"], 4);
    assert_eq!(truncated["stop"]["snap_length"], false);
    assert_eq!(
        truncated["stop"]["reason"],
        "TCP header needs 20 bytes, 7 present"
    );
    assert_eq!(example_json("tcp-syn")["stop"], Value::Null);
}

#[test]
fn filters_keep_the_frames_they_name() {
    let (pcap, names) = examples_pcap("all.pcap");
    let pcap = pcap.to_str().expect("UTF-8 path");
    let kept = |expr: &str| -> Vec<String> {
        let text = stdout(&run(&["inspect", pcap, "--summary", "--filter", expr]));
        text.lines()
            .map(|l| {
                let n: usize = l.split_whitespace().next().unwrap().parse().unwrap();
                names[n - 1].clone()
            })
            .collect()
    };
    let all = kept("eth");
    assert_eq!(all, names, "every frame is Ethernet");
    assert_eq!(kept("arp"), ["arp-request"]);
    assert_eq!(kept("vlan 100"), ["vlan-tagged"]);
    assert_eq!(kept("dns"), ["udp-dns-query"]);
    assert_eq!(kept("icmp or icmpv6"), ["icmp-echo", "icmpv6-echo"]);
    assert_eq!(kept("tcp port 80 and syn"), ["tcp-syn", "tcp-syn-ack"]);
    assert_eq!(kept("tcp and dst port 80 and fin"), ["tcp-fin"]);
    assert_eq!(kept("src port 80"), ["tcp-syn-ack", "http-response"]);
    assert_eq!(kept("ip6 and udp"), ["ipv6-udp"]);
    assert_eq!(kept("host 2001:db8::20 and not icmpv6"), ["ipv6-udp"]);
    assert_eq!(kept("frag"), ["ipv4-fragment"]);
    let not_ip = kept("not (ip or ipv6)");
    assert_eq!(not_ip, ["arp-request"]);
    let tcp = kept("tcp");
    let udp = kept("udp");
    let either = kept("tcp || udp");
    assert_eq!(either.len(), tcp.len() + udp.len());
    assert!(kept("port 1").is_empty());
    // The tree view filters the same way.
    let tree = stdout(&run(&["inspect", pcap, "--filter", "arp"]));
    assert_eq!(
        tree.matches("\nFrame ").count() + usize::from(tree.starts_with("Frame ")),
        1
    );
    // JSON too.
    let json = json_lines(stdout(&run(&["--json", "inspect", pcap, "--filter", "dns"])).as_bytes());
    assert_eq!(json.len(), 1);
    let _ = std::fs::remove_file(pcap);
}

#[test]
fn a_bad_filter_is_a_usage_error_pointing_at_the_word() {
    for (expr, expected) in [
        (
            "tcp prot 80",
            r#"error: bad filter: unknown word "prot" at position 5 (expected a protocol, port N, host ADDR, not, or "(")"#,
        ),
        (
            "(tcp or udp",
            r#"error: bad filter: "(" at position 1 is never closed"#,
        ),
        (
            "tcp and",
            r#"error: bad filter: "and" at position 5 needs something after it"#,
        ),
        (
            "port 70000",
            "error: bad filter: port 70000 at position 6 is out of range (0-65535)",
        ),
        (
            "host 10.0.0.300",
            r#"error: bad filter: "10.0.0.300" at position 6 is not an IPv4 or IPv6 address"#,
        ),
    ] {
        let out = run(&["inspect", "--example", "tcp-syn", "--filter", expr]);
        assert_eq!(out.status.code(), Some(2), "{expr}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with(expected), "{expr}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(out.stdout.is_empty(), "nothing printed before the error");
    }
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let frame = bytes_of(&example_json("tcp-data"));
    // Far more than the pipe's and the writer's buffers hold.
    let frames = vec![frame; 20_000];
    let path = scratch("long.pcap");
    write_pcap(&path, &frames);
    for view in [&["--summary"][..], &[][..], &["--hexdump"][..]] {
        let mut child = netdojo()
            .arg("inspect")
            .arg(&path)
            .args(view)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start netdojo");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("first line");
        // Dropping the reader closes the pipe, as `head -1` does.
        assert!(
            first.starts_with('1') || first.starts_with("Frame 1"),
            "{first}"
        );
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{view:?}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{view:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn frames_from_stdin_are_numbered_and_timed_from_the_first() {
    let frame = bytes_of(&example_json("tcp-syn"));
    let path = scratch("three.pcap");
    write_pcap(&path, &[frame.clone(), frame.clone(), frame]);
    let bytes = std::fs::read(&path).expect("read pcap");
    let _ = std::fs::remove_file(&path);
    let mut child = netdojo()
        .args(["inspect", "-", "--summary"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&bytes)
        .expect("write");
    let text = stdout(&child.wait_with_output().expect("wait"));
    let starts: Vec<&str> = text.lines().map(|l| &l[..11]).collect();
    assert_eq!(starts, ["1  0.000000", "2  0.000001", "3  0.000002"]);
}
