//! Where the inspector's frames come from, checked against the tools that
//! made the formats: files netdojo writes are read back byte for byte and by
//! tshark and tcpdump; pcapng written by Wireshark's own tools reads the
//! same; a broken file says where it broke, after the frames before it; hex
//! in every spelling; and a live capture on loopback when we may.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{events, netdojo, peer, run_json};
use etherparse::PacketBuilder;
use netdojo::inspect::model::{Frame, LinkType};
use netdojo::inspect::source::pcap::open_path;
use netdojo::inspect::source::{PcapWriter, SourceError};

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netdojo-sources-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Varied Ethernet frames: TCP, UDP, ICMP, IPv6, and one cut by a snap length.
fn sample_frames() -> Vec<Frame> {
    let start = Duration::from_secs(1_700_000_000);
    let mut frames = Vec::new();
    let mut push = |data: Vec<u8>, original_len: usize| {
        let n = frames.len() as u64;
        frames.push(Frame {
            number: n + 1,
            timestamp: Some(start + Duration::from_micros(1_000 * n + 7)),
            link: LinkType::Ethernet,
            original_len,
            data,
            comments: Vec::new(),
        });
    };
    let mac_a = [2, 0, 0, 0, 0, 1];
    let mac_b = [2, 0, 0, 0, 0, 2];
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let mut buf = Vec::new();
    PacketBuilder::ethernet2(mac_a, mac_b)
        .ipv4(a, b, 64)
        .tcp(40000, 80, 1000, 64240)
        .syn()
        .write(&mut buf, &[])
        .unwrap();
    push(buf.clone(), buf.len());
    buf.clear();
    PacketBuilder::ethernet2(mac_b, mac_a)
        .ipv4(b, a, 63)
        .udp(53, 5353)
        .write(&mut buf, b"not really dns")
        .unwrap();
    push(buf.clone(), buf.len());
    buf.clear();
    PacketBuilder::ethernet2(mac_a, mac_b)
        .ipv4(a, b, 64)
        .icmpv4_echo_request(7, 1)
        .write(&mut buf, &[0xab; 56])
        .unwrap();
    push(buf.clone(), buf.len());
    buf.clear();
    let (a6, b6) = ([0xfd; 16], [0xfe; 16]);
    PacketBuilder::ethernet2(mac_a, mac_b)
        .ipv6(a6, b6, 64)
        .tcp(40001, 443, 5, 1000)
        .ack(9)
        .write(&mut buf, &[b'x'; 1400])
        .unwrap();
    // Captured with a snap length of 96: the wire had all of it.
    push(buf[..96].to_vec(), buf.len());
    frames
}

fn write_pcap(path: &Path, frames: &[Frame]) {
    let mut w = PcapWriter::create(path).expect("create pcap");
    for f in frames {
        w.write_frame(f).expect("write frame");
    }
    w.finish().expect("finish pcap");
}

/// Every frame netdojo's sources read from the file, and the error that
/// ended them, if any.
fn read_frames(path: &Path) -> (Vec<Frame>, Option<SourceError>) {
    let mut source = match open_path(path) {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut frames = Vec::new();
    while let Some(next) = source.next_frame() {
        match next {
            Ok(f) => frames.push(f),
            Err(e) => return (frames, Some(e)),
        }
    }
    (frames, None)
}

/// Frames equal in what a pcap keeps (timestamps to the microsecond).
fn assert_same_frames(got: &[Frame], want: &[Frame]) {
    assert_eq!(got.len(), want.len(), "frame count");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.number, w.number);
        assert_eq!(g.link, w.link, "link of frame {}", w.number);
        assert_eq!(g.data, w.data, "bytes of frame {}", w.number);
        assert_eq!(
            g.original_len, w.original_len,
            "length of frame {}",
            w.number
        );
        let micros = |f: &Frame| f.timestamp.map(|t| t.as_micros());
        assert_eq!(micros(g), micros(w), "time of frame {}", w.number);
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run command")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `tshark -T fields` for each frame of a file (stderr, where tshark warns
/// about running as root, is left out).
fn tshark_fields(tshark: &Path, file: &Path, fields: &[&str]) -> Vec<String> {
    let mut cmd = Command::new(tshark);
    cmd.args(["-n", "-r"]).arg(file).args(["-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = run(&mut cmd);
    assert!(out.status.success(), "tshark failed: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_pcap_read_and_written_again_is_the_same_file() {
    let dir = scratch("rewrite");
    let (input, output) = (dir.join("in.pcap"), dir.join("out.pcap"));
    write_pcap(&input, &sample_frames());
    let out = run(netdojo()
        .args(["inspect", "--summary"])
        .arg(&input)
        .arg("--write")
        .arg(&output));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&output).unwrap(),
        std::fs::read(&input).unwrap()
    );
    assert_same_frames(&read_frames(&output).0, &sample_frames());
}

#[test]
fn tshark_and_tcpdump_read_what_netdojo_writes() {
    let dir = scratch("peers-read");
    let file = dir.join("sample.pcap");
    let frames = sample_frames();
    write_pcap(&file, &frames);
    if let Some(tshark) = peer("tshark") {
        let rows = tshark_fields(
            &tshark,
            &file,
            &["frame.len", "frame.cap_len", "frame.time_epoch", "eth.type"],
        );
        let want: Vec<String> = frames
            .iter()
            .map(|f| {
                let t = f.timestamp.unwrap();
                let ether_type = u16::from_be_bytes([f.data[12], f.data[13]]);
                format!(
                    "{}\t{}\t{}.{:06}000\t0x{ether_type:04x}",
                    f.original_len,
                    f.data.len(),
                    t.as_secs(),
                    t.subsec_micros()
                )
            })
            .collect();
        assert_eq!(rows, want);
    }
    if let Some(tcpdump) = peer("tcpdump") {
        let out = run(Command::new(tcpdump)
            .env("TZ", "UTC")
            .args(["-S", "-nn", "-r"])
            .arg(&file));
        assert!(out.status.success(), "tcpdump: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.lines().count(), frames.len(), "{text}");
        assert!(
            text.contains("10.0.0.1.40000 > 10.0.0.2.80: Flags [S]"),
            "{text}"
        );
        assert!(
            stderr(&out).contains("link-type EN10MB"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn pcapng_written_by_wireshark_tools_reads_like_the_pcap() {
    let (Some(editcap), Some(tshark)) = (peer("editcap"), peer("tshark")) else {
        return;
    };
    let dir = scratch("pcapng");
    let pcap = dir.join("in.pcap");
    let frames = sample_frames();
    write_pcap(&pcap, &frames);

    let by_editcap = dir.join("editcap.pcapng");
    let out = run(Command::new(&editcap)
        .args(["-F", "pcapng"])
        .arg(&pcap)
        .arg(&by_editcap));
    assert!(out.status.success(), "{}", stderr(&out));
    let (got, err) = read_frames(&by_editcap);
    assert!(err.is_none(), "{err:?}");
    assert_same_frames(&got, &frames);

    let by_tshark = dir.join("tshark.pcapng");
    let out = run(Command::new(&tshark)
        .arg("-r")
        .arg(&pcap)
        .args(["-F", "pcapng", "-w"])
        .arg(&by_tshark));
    assert!(out.status.success(), "{}", stderr(&out));
    let (got, err) = read_frames(&by_tshark);
    assert!(err.is_none(), "{err:?}");
    assert_same_frames(&got, &frames);

    // Through the binary, pcapng in, pcap out: the same file we started from.
    let back = dir.join("back.pcap");
    let out = run(netdojo()
        .args(["inspect", "--summary"])
        .arg(&by_tshark)
        .arg("--write")
        .arg(&back));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&pcap).unwrap());
}

#[test]
fn nanosecond_pcap_keeps_its_nanoseconds() {
    let Some(editcap) = peer("editcap") else {
        return;
    };
    let dir = scratch("nsec");
    let pcap = dir.join("in.pcap");
    let frames = sample_frames();
    write_pcap(&pcap, &frames);
    let nsec = dir.join("nsec.pcap");
    let out = run(Command::new(&editcap)
        .args(["-F", "nsecpcap"])
        .arg(&pcap)
        .arg(&nsec));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&nsec).unwrap()[..4], [0x4d, 0x3c, 0xb2, 0xa1]);
    let (got, err) = read_frames(&nsec);
    assert!(err.is_none(), "{err:?}");
    assert_same_frames(&got, &frames);
}

#[test]
fn pcapng_with_two_link_types_gives_each_frame_its_own() {
    let Some(mergecap) = peer("mergecap") else {
        return;
    };
    let dir = scratch("two-links");
    let ethernet = dir.join("eth.pcap");
    let raw = dir.join("raw.pcap");
    let eth_frames = sample_frames();
    write_pcap(&ethernet, &eth_frames);
    // The same packets without their Ethernet header, an hour later.
    let raw_frames: Vec<Frame> = eth_frames
        .iter()
        .map(|f| Frame {
            number: f.number + eth_frames.len() as u64,
            timestamp: f.timestamp.map(|t| t + Duration::from_secs(3600)),
            link: LinkType::RawIp,
            data: f.data[14..].to_vec(),
            original_len: f.original_len - 14,
            comments: Vec::new(),
        })
        .collect();
    write_pcap(&raw, &raw_frames);
    let merged = dir.join("merged.pcapng");
    let out = run(Command::new(mergecap)
        .args(["-F", "pcapng", "-w"])
        .arg(&merged)
        .arg(&ethernet)
        .arg(&raw));
    assert!(out.status.success(), "{}", stderr(&out));

    let (got, err) = read_frames(&merged);
    assert!(err.is_none(), "{err:?}");
    let want: Vec<Frame> = eth_frames.into_iter().chain(raw_frames).collect();
    assert_same_frames(&got, &want);

    // A classic pcap holds one link type: writing both is refused, clearly.
    let out = run(netdojo()
        .args(["inspect", "--summary"])
        .arg(&merged)
        .arg("--write")
        .arg(dir.join("mixed.pcap")));
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.contains("cannot write frame 5 to") && text.contains("one link type"),
        "{text}"
    );
}

#[test]
fn a_file_that_is_not_a_capture_names_its_first_bytes() {
    // The netdojo binary itself: an ELF program.
    let out = run(netdojo().arg("inspect").arg(env!("CARGO_BIN_EXE_netdojo")));
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.starts_with(
            "error: not a pcap or pcapng file: the first 4 bytes (at byte offset 0) are 7f 45 4c 46 (expected "
        ),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");

    let out = run(netdojo().arg("inspect").arg("/nonexistent/capture.pcap"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot open capture /nonexistent/capture.pcap"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_pcap_cut_mid_record_shows_the_frames_before_it_then_fails() {
    let dir = scratch("cut-pcap");
    let file = dir.join("cut.pcap");
    let frames = sample_frames();
    write_pcap(&file, &frames);
    let mut bytes = std::fs::read(&file).unwrap();
    // The last record starts where the file would end without it.
    let last = frames.last().unwrap();
    let last_at = bytes.len() - 16 - last.data.len();
    bytes.truncate(last_at + 16 + 30);
    std::fs::write(&file, &bytes).unwrap();

    let saved = dir.join("saved.pcap");
    let out = run(netdojo()
        .args(["inspect", "--summary"])
        .arg(&file)
        .arg("--write")
        .arg(&saved));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim_end(),
        format!(
            "error: capture ends mid-record at byte offset {last_at}: record header says {} bytes, 30 present",
            last.data.len()
        )
    );
    let (got, err) = read_frames(&saved);
    assert!(err.is_none(), "{err:?}");
    assert_same_frames(&got, &frames[..frames.len() - 1]);
}

/// Byte offsets of a little-endian pcapng file's packet blocks.
fn packet_block_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let kind = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if kind == 6 {
            offsets.push(at);
        }
        at += len.max(12);
    }
    offsets
}

#[test]
fn a_pcapng_cut_mid_block_names_the_block() {
    let Some(editcap) = peer("editcap") else {
        return;
    };
    let dir = scratch("cut-pcapng");
    let pcap = dir.join("in.pcap");
    let frames = sample_frames();
    write_pcap(&pcap, &frames);
    let ng = dir.join("cut.pcapng");
    let out = run(Command::new(&editcap)
        .args(["-F", "pcapng"])
        .arg(&pcap)
        .arg(&ng));
    assert!(out.status.success(), "{}", stderr(&out));
    let mut bytes = std::fs::read(&ng).unwrap();
    let last_at = *packet_block_offsets(&bytes).last().expect("packet blocks");
    let block_len = u32::from_le_bytes(bytes[last_at + 4..last_at + 8].try_into().unwrap());
    bytes.truncate(last_at + 40);
    std::fs::write(&ng, &bytes).unwrap();

    let saved = dir.join("saved.pcap");
    let out = run(netdojo()
        .args(["inspect", "--summary"])
        .arg(&ng)
        .arg("--write")
        .arg(&saved));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim_end(),
        format!(
            "error: capture ends mid-record at byte offset {last_at}: block header says {block_len} bytes, 40 present"
        )
    );
    assert_same_frames(&read_frames(&saved).0, &frames[..frames.len() - 1]);
}

#[test]
fn an_absurd_record_length_is_an_error_not_an_allocation() {
    let dir = scratch("absurd");
    let file = dir.join("absurd.pcap");
    let frames = sample_frames();
    write_pcap(&file, &frames[..1]);
    let mut bytes = std::fs::read(&file).unwrap();
    let second_at = bytes.len();
    bytes.extend([
        0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f,
    ]);
    std::fs::write(&file, &bytes).unwrap();
    let out = run(netdojo().args(["inspect", "--summary"]).arg(&file));
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.starts_with(&format!(
            "error: record at byte offset {second_at} says 2147483647 bytes, more than the 262144-byte limit"
        )),
        "{text}"
    );
}

#[test]
fn a_dash_reads_the_capture_from_stdin() {
    let dir = scratch("stdin");
    let (input, output) = (dir.join("in.pcap"), dir.join("out.pcap"));
    write_pcap(&input, &sample_frames());
    let mut child = netdojo()
        .args(["inspect", "--summary", "-", "--write"])
        .arg(&output)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start netdojo");
    let bytes = std::fs::read(&input).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Dribble it, as a pipe from another program would.
    for chunk in bytes.chunks(100) {
        stdin.write_all(chunk).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&output).unwrap(), bytes);
}

const IPV4_HEADER: &str = "45 00 00 14 00 01 40 00 40 06 00 00 7f 00 00 01 7f 00 00 01";

#[test]
fn hex_in_every_spelling_is_the_same_frame() {
    let dir = scratch("hex");
    let compact: String = IPV4_HEADER.split(' ').collect();
    let spellings = [
        IPV4_HEADER.to_string(),
        IPV4_HEADER.replace(' ', ":"),
        IPV4_HEADER.replace(' ', "-"),
        compact.clone(),
        format!("0x{compact}"),
        IPV4_HEADER
            .split(' ')
            .map(|b| format!("0x{b}"))
            .collect::<Vec<_>>()
            .join(", "),
        format!("{}\n{}", &IPV4_HEADER[..29], &IPV4_HEADER[30..]),
    ];
    let mut files = Vec::new();
    for (i, text) in spellings.iter().enumerate() {
        let file = dir.join(format!("hex{i}.pcap"));
        let out = run(netdojo()
            .args(["inspect", "--summary", "--hex", text, "--write"])
            .arg(&file));
        assert!(out.status.success(), "{text:?}: {}", stderr(&out));
        files.push(std::fs::read(&file).unwrap());
    }
    assert!(files.windows(2).all(|w| w[0] == w[1]));
    let (frames, _) = read_frames(&dir.join("hex0.pcap"));
    assert_eq!(frames.len(), 1);
    assert_eq!(
        frames[0].link,
        LinkType::RawIp,
        "a lone IPv4 header is read as IP"
    );
    assert_eq!(frames[0].data.len(), 20);
    if let Some(tshark) = peer("tshark") {
        let rows = tshark_fields(&tshark, &dir.join("hex0.pcap"), &["ip.src", "ip.ttl"]);
        assert_eq!(rows, ["127.0.0.1\t64"]);
    }

    // Starting with an Ethernet header, it is Ethernet.
    let file = dir.join("eth.pcap");
    let eth = format!("02 00 00 00 00 02 02 00 00 00 00 01 08 00 {IPV4_HEADER}");
    let out = run(netdojo()
        .args(["inspect", "--summary", "--hex", &eth, "--write"])
        .arg(&file));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(read_frames(&file).0[0].link, LinkType::Ethernet);
}

#[test]
fn bad_hex_is_a_usage_error_pointing_at_the_place() {
    for (text, expect) in [
        ("45 00 zz", "'z' (character 7) is not a hex digit"),
        (
            "45 000 14",
            "\"000\" (from character 4) has an odd number of digits",
        ),
        ("", "no bytes given"),
    ] {
        let out = run(netdojo().args(["inspect", "--hex", text]));
        assert_eq!(out.status.code(), Some(2), "{text:?}");
        let err = stderr(&out);
        assert!(
            err.starts_with("error: --hex: ") && err.contains(expect),
            "{text:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn nothing_to_inspect_or_an_unknown_example_is_a_usage_error() {
    let out = run(netdojo().arg("inspect"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("nothing to inspect"),
        "{}",
        stderr(&out)
    );
    let out = run(netdojo().args(["inspect", "--example", "no-such-example"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown example \"no-such-example\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unknown_interface_lists_the_real_ones() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let out = run(netdojo().args(["inspect", "--live", "no-such-if0"]));
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.starts_with("error: no network interface named \"no-such-if0\"; this machine has: "),
        "{text}"
    );
    assert!(text.contains("lo"), "{text}");
}

/// Whether this process may open a packet socket (root or CAP_NET_RAW).
#[cfg(target_os = "linux")]
fn may_capture() -> bool {
    // SAFETY: plain socket(2) probe, closed right away.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    if fd < 0 {
        eprintln!("skipping: live capture needs root or CAP_NET_RAW");
        return false;
    }
    // SAFETY: closing the descriptor we just opened.
    unsafe { libc::close(fd) };
    true
}

#[cfg(not(target_os = "linux"))]
fn may_capture() -> bool {
    eprintln!("skipping: live capture is Linux only");
    false
}

/// Makes loopback traffic (TCP connections to a listener we own) until the
/// deadline or until `done` says stop.
fn loopback_traffic_until(deadline: Instant, mut done: impl FnMut() -> bool) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    while Instant::now() < deadline && !done() {
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.write_all(b"hello, loopback");
            let _ = listener.accept();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn live_capture_on_loopback_counts_and_writes() {
    if !may_capture() {
        return;
    }
    let dir = scratch("live");
    let file = dir.join("live.pcap");
    let mut child = netdojo()
        .args([
            "--json", "inspect", "--live", "lo", "--count", "6", "--write",
        ])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start capture");
    loopback_traffic_until(Instant::now() + Duration::from_secs(30), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (frames, err) = read_frames(&file);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames.len(), 6);
    for f in &frames {
        // Loopback frames carry an Ethernet header with zero addresses.
        assert_eq!(f.link, LinkType::Ethernet);
        assert_eq!(f.data.get(..12), Some(&[0u8; 12][..]), "frame {}", f.number);
        assert!(f.timestamp.is_some());
    }
    if let Some(tshark) = peer("tshark") {
        assert_eq!(tshark_fields(&tshark, &file, &["frame.number"]).len(), 6);
    }
}

#[test]
fn live_capture_ends_cleanly_on_ctrl_c() {
    if !may_capture() {
        return;
    }
    let dir = scratch("live-int");
    let file = dir.join("live.pcap");
    let child = netdojo()
        .args(["inspect", "--summary", "--live", "lo", "--write"])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start capture");
    // Traffic for a while (some of it before the socket is open), then Ctrl-C.
    loopback_traffic_until(Instant::now() + Duration::from_secs(2), || false);
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (frames, err) = read_frames(&file);
    assert!(err.is_none(), "{err:?}");
    assert!(!frames.is_empty(), "captured nothing");
}

#[test]
fn live_capture_without_privilege_says_what_is_missing() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let exe = env!("CARGO_BIN_EXE_netdojo");
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        // Root drops to nobody, which loses every capability.
        let Some(setpriv) = peer("setpriv") else {
            return;
        };
        let mut c = Command::new(setpriv);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", exe]);
        c
    } else if may_capture() {
        eprintln!("skipping: this user has CAP_NET_RAW and cannot drop it here");
        return;
    } else {
        Command::new(exe)
    };
    let out = run(cmd.env("NO_COLOR", "1").args(["inspect", "--live", "lo"]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: live capture needs root or CAP_NET_RAW (EPERM from socket(AF_PACKET)); \
         try: sudo netdojo inspect --live lo\n"
    );
}

#[test]
fn the_json_view_shows_the_frames_before_a_cut_then_fails() {
    let dir = scratch("json-cut");
    let file = dir.join("cut.pcap");
    let frames = sample_frames();
    write_pcap(&file, &frames);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.truncate(bytes.len() - 10);
    std::fs::write(&file, &bytes).unwrap();
    let (out, lines) = run_json(&["inspect", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("capture ends mid-record at byte offset "),
        "{}",
        stderr(&out)
    );
    let shown: Vec<&serde_json::Value> = events(&lines, "frame");
    let numbers: Vec<u64> = shown.iter().filter_map(|v| v["frame"].as_u64()).collect();
    assert_eq!(numbers, [1, 2, 3]);
}

#[test]
fn the_json_view_gives_each_frame_of_a_pcapng_its_link_and_lengths() {
    let Some(mergecap) = peer("mergecap") else {
        return;
    };
    let dir = scratch("json-links");
    let ethernet = dir.join("eth.pcap");
    let raw = dir.join("raw.pcap");
    let frames = sample_frames();
    write_pcap(&ethernet, &frames[3..]);
    let raw_frame = Frame {
        number: 1,
        timestamp: Some(Duration::from_secs(1_800_000_000)),
        link: LinkType::RawIp,
        data: IPV4_HEADER
            .split(' ')
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect(),
        original_len: 20,
        comments: Vec::new(),
    };
    write_pcap(&raw, &[raw_frame]);
    let merged = dir.join("merged.pcapng");
    let out = run(Command::new(mergecap)
        .args(["-F", "pcapng", "-w"])
        .arg(&merged)
        .arg(&ethernet)
        .arg(&raw));
    assert!(out.status.success(), "{}", stderr(&out));
    let (out, lines) = run_json(&["inspect", merged.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = events(&lines, "frame");
    let facts: Vec<(&str, u64, u64)> = shown
        .iter()
        .map(|v| {
            (
                v["link"].as_str().unwrap_or_default(),
                v["captured_len"].as_u64().unwrap_or_default(),
                v["original_len"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    // The snap-length-cut IPv6 frame, then the raw IPv4 header.
    assert_eq!(facts, [("ethernet", 96, 1474), ("raw_ip", 20, 20)]);
}
