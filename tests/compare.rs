//! `netdojo compare`: TCP against UDP through the same simulated link.
//!
//! The link is seeded and its clock is virtual, so these tests assert exact
//! facts: the same seed gives the same run, TCP delivers everything, UDP's
//! books balance, and tshark agrees with netdojo about what is in the capture.

mod common;

use common::{event, events, netdojo, peer, run_json};
use netdojo::lab::link::{FrameKind, Side};
use netdojo::lab::settings::{Impairments, Scenario, Workload};
use netdojo::lab::sim::{self, Protocol};
use std::time::Duration;

fn scenario(link: Impairments, seed: u64, messages: u64) -> Scenario {
    Scenario {
        link,
        workload: Workload {
            messages,
            size: 1000,
        },
        seed,
    }
}

fn result<'a>(all: &'a [serde_json::Value], protocol: &str) -> &'a serde_json::Value {
    events(all, "result")
        .into_iter()
        .find(|r| r["protocol"] == protocol)
        .unwrap_or_else(|| panic!("no {protocol} result in {all:#?}"))
}

#[test]
fn the_same_seed_gives_the_same_run_and_another_seed_another() {
    let run = |args: &[&str]| {
        let out = netdojo().args(args).output().expect("run netdojo");
        assert!(out.status.success(), "{out:?}");
        out.stdout
    };
    let a = run(&["compare", "--seed", "7"]);
    assert_eq!(a, run(&["compare", "--seed", "7"]));
    assert_ne!(a, run(&["compare", "--seed", "8"]));
    let j = run(&[
        "--json",
        "compare",
        "--seed",
        "7",
        "--duplicate",
        "2",
        "--reorder",
        "2",
        "--corrupt",
        "2",
        "--jitter",
        "5ms",
    ]);
    assert_eq!(
        j,
        run(&[
            "--json",
            "compare",
            "--seed",
            "7",
            "--duplicate",
            "2",
            "--reorder",
            "2",
            "--corrupt",
            "2",
            "--jitter",
            "5ms"
        ])
    );
}

#[test]
fn the_default_run_reports_both_protocols_and_the_link() {
    let (out, all) = run_json(&["compare"]);
    assert!(out.status.success(), "{out:?}");
    let link = event(&all, "link");
    assert_eq!(link["layer"], 1);
    assert_eq!(link["loss_pct"], 10.0);
    assert_eq!(link["delay_ms"], 20.0);
    assert_eq!(
        (link["messages"].as_u64(), link["size"].as_u64()),
        (Some(200), Some(1000))
    );
    let tcp = result(&all, "tcp");
    let udp = result(&all, "udp");
    assert_eq!(tcp["delivered"], 200);
    assert_eq!(tcp["out_of_order"], 0);
    assert!(tcp["retransmissions"].as_u64().unwrap() > 0);
    assert!(udp["retransmissions"].is_null());
    assert!(
        udp["lost"].as_u64().unwrap() > 0,
        "10% loss lost nothing: {udp}"
    );
    assert!(
        tcp["completion_ms"].as_f64() > tcp["baseline_completion_ms"].as_f64(),
        "{tcp}"
    );
    // The sentences quote the numbers above.
    let said: Vec<&str> = events(&all, "conclusion")
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    let udp_lost = udp["lost"].as_u64().unwrap();
    assert!(
        said[0].starts_with(&format!("UDP lost {udp_lost} of 200 messages")),
        "{said:?}"
    );
    assert!(
        said[1].starts_with("TCP delivered all 200 in order"),
        "{said:?}"
    );
    assert!(
        said[1].contains(&format!("after {} retransmissions", tcp["retransmissions"])),
        "{said:?}"
    );
}

#[test]
fn tcp_delivers_every_byte_in_order_up_to_30_percent_loss() {
    for loss in [1.0, 10.0, 20.0, 30.0] {
        for seed in 1..=8 {
            let link = Impairments {
                loss,
                ..Impairments::default()
            };
            let r = sim::run(&scenario(link, seed, 50), Protocol::Tcp, false);
            assert!(!r.capped, "loss {loss} seed {seed} hit the time cap");
            assert_eq!(
                (r.delivered, r.lost, r.out_of_order, r.duplicated),
                (50, 0, 0, 0),
                "loss {loss} seed {seed}"
            );
            assert_eq!(r.bytes_delivered, 50_000);
        }
    }
}

#[test]
fn with_no_impairment_both_deliver_everything() {
    let links = [
        Impairments::none(),
        Impairments {
            loss: 0.0,
            jitter: Duration::from_millis(15),
            ..Impairments::default()
        },
    ];
    for link in links {
        for seed in 1..=5 {
            for protocol in [Protocol::Tcp, Protocol::Udp] {
                let r = sim::run(&scenario(link.clone(), seed, 100), protocol, false);
                assert_eq!(
                    (
                        r.delivered,
                        r.lost,
                        r.out_of_order,
                        r.duplicated,
                        r.link.lost
                    ),
                    (100, 0, 0, 0, 0),
                    "{protocol:?} seed {seed} over {link:?}"
                );
                assert_eq!(r.retransmissions().unwrap_or(0), 0);
            }
        }
    }
}

/// Distinct numbered messages that reached host B undamaged, by the link's
/// own record of each frame, and their payload bytes.
fn delivered_by_the_link(r: &sim::RunResult) -> (u64, u64) {
    let mut seen = std::collections::BTreeMap::new();
    for f in &r.frames {
        if let FrameKind::Udp {
            payload,
            message: Some(m),
        } = f.kind
            && f.from == Side::A
            && f.arrival_us.is_some()
            && f.corrupted.is_none()
        {
            seen.insert(m, payload as u64);
        }
    }
    (seen.len() as u64, seen.values().sum())
}

#[test]
fn udp_loses_exactly_the_messages_the_link_dropped() {
    // The receiver's count (gaps in the sequence numbers) against the link's
    // (the frames it chose to drop): two independent books.
    let mut lost_any = false;
    for seed in 1..=10 {
        for loss in [5.0, 15.0, 30.0] {
            let link = Impairments {
                loss,
                ..Impairments::default()
            };
            let r = sim::run(&scenario(link, seed, 200), Protocol::Udp, true);
            assert_eq!(r.link.numbered, 200, "seed {seed}: every message entered");
            assert_eq!(
                r.lost, r.link.numbered_lost,
                "seed {seed} loss {loss}: lost by UDP vs dropped by the link"
            );
            assert_eq!(r.link.numbered_lost, r.link.lost, "only messages are lost");
            let (delivered, bytes) = delivered_by_the_link(&r);
            assert_eq!((r.delivered, r.bytes_delivered), (delivered, bytes));
            lost_any |= r.lost > 0;
        }
    }
    assert!(lost_any);
}

#[test]
fn a_corrupted_udp_message_is_a_lost_one() {
    for seed in 1..=10 {
        let link = Impairments {
            loss: 10.0,
            corrupt: 10.0,
            ..Impairments::default()
        };
        let r = sim::run(&scenario(link, seed, 200), Protocol::Udp, true);
        assert!(r.link.numbered_corrupted > 0, "seed {seed}");
        // The checksums refuse every corrupted frame, so the application
        // misses exactly the dropped and the damaged ones.
        assert_eq!(
            r.lost,
            r.link.numbered_lost + r.link.numbered_corrupted,
            "seed {seed}: {r:?}"
        );
        let (delivered, bytes) = delivered_by_the_link(&r);
        assert_eq!((r.delivered, r.bytes_delivered), (delivered, bytes));
    }
}

#[test]
fn udp_hands_over_every_copy_and_every_late_message_the_link_made() {
    for seed in 1..=10 {
        let link = Impairments {
            loss: 0.0,
            duplicate: 5.0,
            ..Impairments::default()
        };
        let r = sim::run(&scenario(link, seed, 200), Protocol::Udp, false);
        assert_eq!((r.delivered, r.lost), (200, 0), "seed {seed}");
        assert_eq!(r.duplicated, r.link.numbered_duplicated, "seed {seed}");
        let link = Impairments {
            loss: 0.0,
            reorder: 5.0,
            ..Impairments::default()
        };
        let r = sim::run(&scenario(link, seed, 200), Protocol::Udp, true);
        assert_eq!((r.delivered, r.lost), (200, 0), "seed {seed}");
        // A held-back message is late if a later one arrived before it.
        let late = r
            .frames
            .iter()
            .filter(|f| f.held_back)
            .filter(|held| {
                r.frames.iter().any(|f| {
                    f.id > held.id
                        && f.from == Side::A
                        && f.arrival_us.is_some()
                        && f.arrival_us < held.arrival_us
                })
            })
            .count() as u64;
        assert_eq!(r.out_of_order, late, "seed {seed}");
        assert!(r.link.numbered_held_back >= late);
    }
}

#[test]
fn tcp_delivers_every_byte_it_read() {
    let link = Impairments {
        loss: 20.0,
        ..Impairments::default()
    };
    let r = sim::run(&scenario(link, 2, 37), Protocol::Tcp, false);
    assert_eq!(r.bytes_delivered, 37_000);
    // A link that loses everything delivers nothing, and says so in bytes.
    let link = Impairments {
        loss: 100.0,
        ..Impairments::default()
    };
    let r = sim::run(&scenario(link, 2, 5), Protocol::Tcp, false);
    assert_eq!((r.capped, r.bytes_delivered), (true, 0));
}

#[test]
fn corruption_is_caught_by_checksums_and_tcp_repairs_it() {
    let link = Impairments {
        loss: 0.0,
        corrupt: 10.0,
        ..Impairments::default()
    };
    let tcp = sim::run(&scenario(link.clone(), 3, 100), Protocol::Tcp, false);
    assert!(tcp.link.corrupted > 0);
    assert_eq!((tcp.delivered, tcp.out_of_order), (100, 0));
    assert!(tcp.retransmissions().unwrap() > 0);
    let udp = sim::run(&scenario(link, 3, 100), Protocol::Udp, false);
    // No corrupted message reaches the application: it is lost instead.
    assert!(udp.lost > 0 && udp.lost <= udp.link.corrupted, "{udp:?}");
}

#[test]
fn bad_input_is_a_usage_error_naming_the_flag() {
    for (args, flag) in [
        (&["compare", "--loss", "101"][..], "--loss"),
        (&["compare", "--loss", "-1"][..], "--loss"),
        (&["compare", "--delay", "-5ms"][..], "--delay"),
        (&["compare", "--messages", "0"][..], "--messages"),
        (&["compare", "--size", "1500"][..], "--size"),
        (&["compare", "--bandwidth", "fast"][..], "--bandwidth"),
        (&["compare", "--seed", "-1"][..], "--seed"),
        (&["compare", "--seed", "18446744073709551616"][..], "--seed"),
        (
            &["compare", "--sweep", "loss=1", "--seeds", "-1"][..],
            "--seeds",
        ),
        (
            &["udp", "relay", "--to", "127.0.0.1:9", "--seed", "-1"][..],
            "--seed",
        ),
    ] {
        let out = netdojo().args(args).output().expect("run netdojo");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        if flag == "--seed" {
            assert!(
                stderr.contains("from 0 to 18,446,744,073,709,551,615"),
                "{args:?}: {stderr}"
            );
        }
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn the_trace_shows_every_frame_that_entered_the_link() {
    let (out, all) = run_json(&["compare", "--messages", "10", "--trace", "--seed", "3"]);
    assert!(out.status.success(), "{out:?}");
    for protocol in ["tcp", "udp"] {
        let frames: Vec<_> = events(&all, "frame")
            .into_iter()
            .filter(|f| f["run"] == protocol)
            .collect();
        let r = result(&all, protocol);
        assert_eq!(frames.len() as u64, r["link_frames"].as_u64().unwrap());
        let lost = frames.iter().filter(|f| f["lost"] == true).count() as u64;
        assert_eq!(lost, r["link_drops"].as_u64().unwrap());
        let retrans = frames
            .iter()
            .filter(|f| f["retransmission"] == true)
            .count() as u64;
        assert_eq!(retrans, r["retransmissions"].as_u64().unwrap_or(0));
    }
}

/// Every impairment at once, on a short run: each kind of fate appears.
const EVERY_IMPAIRMENT: [&str; 16] = [
    "--messages",
    "30",
    "--loss",
    "10",
    "--delay",
    "20ms",
    "--jitter",
    "5ms",
    "--duplicate",
    "5",
    "--reorder",
    "5",
    "--corrupt",
    "5",
    "--bandwidth",
    "2mbit",
];

/// `netdojo compare ARGS --seed SEED --pcap FILE`: the file's bytes.
fn capture(dir: &std::path::Path, name: &str, seed: &str, args: &[&str]) -> Vec<u8> {
    let path = dir.join(name);
    let out = netdojo()
        .args(["--json", "compare", "--seed", seed])
        .args(args)
        .arg("--pcap")
        .arg(&path)
        .output()
        .expect("run netdojo");
    assert!(out.status.success(), "{out:?}");
    std::fs::read(path).unwrap()
}

/// A capture as text a reviewer can read in a diff: its size and CRC-32,
/// then one line per frame (interface, time, length, CRC-32 of its bytes,
/// the link's comment).
fn describe_capture(bytes: &[u8]) -> String {
    use pcap_parser::pcapng::Block;
    use pcap_parser::{PcapBlockOwned, PcapNGSlice};
    let mut out = format!(
        "{} bytes, crc32 {:08x}\n",
        bytes.len(),
        crc32fast::hash(bytes)
    );
    for block in PcapNGSlice::from_slice(bytes).expect("a pcapng section") {
        if let PcapBlockOwned::NG(Block::EnhancedPacket(epb)) = block.expect("a block") {
            let comment = epb
                .options
                .iter()
                .find(|o| o.code.0 == 1)
                .map(|o| String::from_utf8_lossy(&o.value).into_owned())
                .unwrap_or_default();
            let us = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
            let line = format!(
                "if{} {:>10} us {:>4} B {:08x} {comment}",
                epb.if_id,
                us,
                epb.origlen,
                crc32fast::hash(&epb.data[..epb.caplen as usize])
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

#[test]
fn the_capture_is_a_snapshot_of_its_seed_and_another_seed_changes_it() {
    let dir = std::env::temp_dir().join(format!("netdojo-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = capture(&dir, "a.pcapng", "11", &EVERY_IMPAIRMENT);
    // pcapng's section header block.
    assert_eq!(&a[..4], &[0x0A, 0x0D, 0x0D, 0x0A]);
    assert_eq!(a, capture(&dir, "b.pcapng", "11", &EVERY_IMPAIRMENT));
    let text = describe_capture(&a);
    for fate in [
        "lost by",
        "duplicated by",
        "held back",
        "flipped on the link",
    ] {
        assert!(
            text.contains(fate),
            "seed 11 shows no frame {fate}:\n{text}"
        );
    }
    assert_snapshot("compare_every_impairment_seed11.pcapng.txt", &text);
    for other in ["12", "13"] {
        let c = capture(&dir, "c.pcapng", other, &EVERY_IMPAIRMENT);
        assert_ne!(a, c, "seed {other}");
        assert_ne!(text, describe_capture(&c), "seed {other}");
    }
    // The default link too.
    let d = capture(&dir, "d.pcapng", "5", &[]);
    assert_eq!(d, capture(&dir, "e.pcapng", "5", &[]));
    assert_ne!(d, capture(&dir, "f.pcapng", "6", &[]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Compares with a checked-in snapshot, or rewrites it with UPDATE_SNAPSHOTS=1.
fn assert_snapshot(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
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

/// What tshark's TCP analysis says of each frame of a capture, by frame
/// number: the names of the `tcp.analysis` flags it set.
fn tshark_analysis(tshark: &std::path::Path, file: &std::path::Path) -> Vec<(u64, Vec<String>)> {
    const FLAGS: [&str; 6] = [
        "retransmission",
        "fast_retransmission",
        "spurious_retransmission",
        "out_of_order",
        "keep_alive",
        "zero_window_probe",
    ];
    let mut cmd = std::process::Command::new(tshark);
    cmd.arg("-r")
        .arg(file)
        .args(["-o", "tcp.analyze_sequence_numbers:TRUE"])
        .args(["-Y", "tcp", "-T", "fields", "-E", "separator=|"])
        .args(["-e", "frame.number"]);
    for flag in FLAGS {
        cmd.args(["-e", &format!("tcp.analysis.{flag}")]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let mut cells = line.split('|');
            let number = cells.next().unwrap().parse().expect("a frame number");
            let set = cells
                .zip(FLAGS)
                .filter(|(cell, _)| !cell.is_empty())
                .map(|(_, flag)| flag.to_string())
                .collect();
            (number, set)
        })
        .collect()
}

/// netdojo's view of every TCP frame of a run against tshark's, frame by
/// frame, on the capture netdojo wrote. The mapping (see
/// `netdojo::lab::link::SegmentRole`): netdojo's retransmissions are exactly
/// the frames tshark marks `retransmission` (fast and spurious ones
/// included) or `out_of_order`; a zero-window probe is never one, and every
/// frame tshark calls a keep-alive or a zero-window probe is one of netdojo's
/// probes. Returns (retransmissions, probes, tshark's out-of-order frames,
/// tshark's keep-alives).
fn compare_with_tshark(
    tshark: &std::path::Path,
    dir: &std::path::Path,
    run: &sim::RunResult,
    what: &str,
) -> (u64, u64, u64, u64) {
    let path = dir.join(format!("{}.pcapng", what.replace([' ', '%', ','], "_")));
    netdojo::lab::pcap::write(&path, &[run]).unwrap();
    let analysis = tshark_analysis(tshark, &path);
    let tcp_frames = run
        .frames
        .iter()
        .filter(|f| matches!(f.kind, FrameKind::Tcp { .. }))
        .count();
    assert_eq!(
        analysis.len(),
        tcp_frames,
        "{what}: tshark read every segment"
    );
    let (mut retrans, mut probes, mut ooo, mut keep_alive) = (0, 0, 0, 0);
    for (number, flags) in &analysis {
        // Frame numbers count from 1; the capture holds this run alone.
        let ours = &run.frames[*number as usize - 1];
        let has = |f: &str| flags.iter().any(|x| x == f);
        let tshark_says_resent = has("retransmission") || has("out_of_order");
        assert_eq!(
            ours.retransmission, tshark_says_resent,
            "{what}: frame {number} ({:?}): netdojo {}, tshark {flags:?}",
            ours.kind, ours.retransmission
        );
        if has("fast_retransmission") || has("spurious_retransmission") {
            assert!(has("retransmission"), "{what}: frame {number}: {flags:?}");
        }
        if has("keep_alive") || has("zero_window_probe") {
            assert!(ours.window_probe, "{what}: frame {number}: {flags:?}");
        }
        if ours.window_probe {
            assert!(!ours.retransmission);
            assert!(
                matches!(ours.kind, FrameKind::Tcp { payload: 1, .. }),
                "{what}: frame {number}: a probe is one byte"
            );
        }
        retrans += u64::from(ours.retransmission);
        probes += u64::from(ours.window_probe);
        ooo += u64::from(has("out_of_order"));
        keep_alive += u64::from(has("keep_alive"));
    }
    assert_eq!(retrans, run.retransmissions().unwrap(), "{what}");
    assert_eq!(probes, run.window_probes().unwrap(), "{what}");
    (retrans, probes, ooo, keep_alive)
}

fn tshark_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("netdojo-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn tshark_agrees_frame_by_frame_on_what_tcp_sent_again() {
    let Some(tshark) = peer("tshark") else { return };
    let dir = tshark_dir("tshark-loss");
    let mut totals = std::collections::BTreeMap::new();
    for loss in [5.0, 10.0, 20.0, 30.0] {
        for seed in 1..=8 {
            let link = Impairments {
                loss,
                ..Impairments::default()
            };
            let run = sim::run(&scenario(link, seed, 200), Protocol::Tcp, true);
            let what = format!("seed {seed} loss {loss}%");
            totals.insert(
                (seed, loss as u64),
                compare_with_tshark(&tshark, &dir, &run, &what),
            );
        }
    }
    // The runs where tshark's names differ from netdojo's, pinned: at seed 3
    // and 30% loss the handshake took seconds, so tshark calls 84 resent
    // segments "out-of-order"; at seed 4 and 20% the window closed and its
    // reopening was lost, so one byte was probed three times (two of them
    // tshark's "keep-alives"); at seed 5 and 20% one probe, and a segment
    // that carried its byte again.
    assert_eq!(totals[&(3, 30)], (228, 0, 84, 0));
    assert_eq!(totals[&(4, 20)], (243, 3, 0, 2));
    assert_eq!(totals[&(5, 20)], (112, 1, 0, 0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tshark_agrees_frame_by_frame_with_every_impairment_on() {
    let Some(tshark) = peer("tshark") else { return };
    let dir = tshark_dir("tshark-all");
    for seed in 1..=8 {
        for loss in [5.0, 15.0] {
            let link = Impairments {
                loss,
                duplicate: 3.0,
                reorder: 3.0,
                corrupt: 3.0,
                jitter: Duration::from_millis(5),
                ..Impairments::default()
            };
            let run = sim::run(&scenario(link, seed, 200), Protocol::Tcp, true);
            let what = format!("seed {seed} loss {loss}% and the rest");
            compare_with_tshark(&tshark, &dir, &run, &what);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_numbers_netdojo_prints_are_the_capture_it_saves() {
    // What a student sees, end to end: the binary's JSON against tshark on
    // the file the same command wrote.
    let Some(tshark) = peer("tshark") else { return };
    let dir = tshark_dir("tshark-cli");
    for (seed, loss) in [("3", "30"), ("4", "20")] {
        let path = dir.join(format!("seed{seed}.pcapng"));
        let (out, all) = run_json(&[
            "compare",
            "--seed",
            seed,
            "--loss",
            loss,
            "--pcap",
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{out:?}");
        let tcp = result(&all, "tcp");
        let udp = result(&all, "udp");
        let analysis = tshark_analysis(&tshark, &path);
        let flagged = |names: &[&str]| {
            analysis
                .iter()
                .filter(|(_, f)| f.iter().any(|x| names.contains(&x.as_str())))
                .count() as u64
        };
        assert_eq!(
            flagged(&["retransmission", "out_of_order"]),
            tcp["retransmissions"].as_u64().unwrap(),
            "seed {seed}, loss {loss}%"
        );
        assert!(flagged(&["keep_alive"]) <= tcp["window_probes"].as_u64().unwrap());
        // Every frame is in the file, and every frame the link lost is
        // marked so in its comment.
        let count = |filter: &str| {
            let out = std::process::Command::new(&tshark)
                .arg("-r")
                .arg(&path)
                .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
                .output()
                .expect("run tshark");
            assert!(out.status.success(), "{out:?}");
            String::from_utf8_lossy(&out.stdout).lines().count() as u64
        };
        let frames = tcp["link_frames"].as_u64().unwrap() + udp["link_frames"].as_u64().unwrap();
        assert_eq!(count("frame"), frames);
        let lost = tcp["link_drops"].as_u64().unwrap() + udp["link_drops"].as_u64().unwrap();
        assert_eq!(count("frame.comment contains \"lost by the link\""), lost);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn real_kernel_udp_overflows_and_tcp_makes_the_sender_wait() {
    let (out, all) = run_json(&["compare", "--real", "--messages", "300"]);
    assert!(out.status.success(), "{out:?}");
    let tcp = result(&all, "tcp");
    let udp = result(&all, "udp");
    assert_eq!(tcp["mode"], "real");
    let n =
        |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"));
    // TCP: everything, in order, and the sender was held back: its writes
    // found no room in the kernel and had to wait, because the receiver's
    // window was closed (which Linux's TCP_INFO says in so many words).
    assert_eq!(
        (n(tcp, "delivered"), n(tcp, "lost"), n(tcp, "out_of_order")),
        (300, 0, 0)
    );
    assert_eq!(n(tcp, "bytes_delivered"), 300_000);
    assert!(n(tcp, "sender_waits") > 0, "{tcp}");
    if cfg!(target_os = "linux") {
        assert!(n(tcp, "rwnd_limited_us") > 0, "{tcp}");
    } else {
        assert!(tcp["rwnd_limited_us"].is_null());
    }
    // UDP: the receiver missed some, and only the receiver knows.
    let (delivered, lost) = (n(udp, "delivered"), n(udp, "lost"));
    assert!(
        delivered < 300 && lost > 0,
        "a slow receiver lost nothing: {udp}"
    );
    assert_eq!(delivered + lost, 300, "{udp}");
    assert_eq!(n(udp, "bytes_delivered"), delivered * 1000);
    assert_eq!(udp["duplicated"], 0, "loopback never duplicates");
    assert!(udp["rwnd_limited_us"].is_null(), "UDP has no window");
    // Every datagram of ours that was lost was dropped by the kernel for a
    // full buffer; the counter is machine-wide, so it may count more.
    if cfg!(target_os = "linux") {
        assert!(n(udp, "kernel_drops") >= lost, "{udp}");
    } else {
        assert!(udp["kernel_drops"].is_null());
    }
}

#[test]
fn real_mode_refuses_the_simulated_links_flags() {
    let out = netdojo()
        .args(["compare", "--real", "--loss", "5"])
        .output()
        .expect("run netdojo");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--loss"));
}

#[test]
fn a_sweep_reports_one_point_per_value_and_draws_a_chart() {
    let svg = std::env::temp_dir().join(format!("netdojo-sweep-{}.svg", std::process::id()));
    let out = netdojo()
        .args([
            "--json",
            "compare",
            "--messages",
            "30",
            "--seeds",
            "3",
            "--sweep",
            "loss=0,10,20",
            "--svg",
        ])
        .arg(&svg)
        .output()
        .expect("run netdojo");
    assert!(out.status.success(), "{out:?}");
    // No progress bar when stdout is not a terminal, and nothing but JSON.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = common::json_lines(&out.stdout);
    let points = events(&all, "sweep_point");
    let values: Vec<&str> = points
        .iter()
        .map(|p| p["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["0", "10", "20"]);
    for p in &points {
        assert_eq!(p["seeds"], 3);
        assert_eq!(p["tcp_delivered_pct"], 100.0, "{p}");
    }
    assert_eq!(points[0]["udp_delivered_pct"], 100.0);
    assert!(points[2]["udp_delivered_pct"].as_f64() < Some(100.0));
    let said = conclusions(&all);
    assert!(
        said[0].ends_with("and it delivered every message in every run."),
        "{said:?}"
    );
    assert!(
        said[1].ends_with(&format!(
            "no UDP run took longer than {}.",
            slowest_udp(&points)
        )),
        "{said:?}"
    );
    let drawn = std::fs::read_to_string(&svg).expect("the chart was written");
    assert!(drawn.contains("<svg") && drawn.contains("TCP completion time"));
    let _ = std::fs::remove_file(&svg);
    // The same sweep twice gives the same numbers.
    let (_, again) = run_json(&[
        "compare",
        "--messages",
        "30",
        "--seeds",
        "3",
        "--sweep",
        "loss=0,10,20",
    ]);
    assert_eq!(events(&again, "sweep_point"), points);
}

fn conclusions(all: &[serde_json::Value]) -> Vec<String> {
    events(all, "conclusion")
        .iter()
        .map(|c| c["text"].as_str().unwrap().to_string())
        .collect()
}

/// The slowest single UDP run of a sweep, as the sentences print a time.
fn slowest_udp(points: &[&serde_json::Value]) -> String {
    let ms = points
        .iter()
        .map(|p| p["udp_completion_max_ms"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(ms < 1000.0, "this sweep's UDP runs take milliseconds");
    format!("{ms:.2} ms")
}

#[test]
fn a_sweep_blames_the_time_cap_only_for_runs_that_reached_it() {
    let (out, all) = run_json(&[
        "compare",
        "--messages",
        "5",
        "--seeds",
        "2",
        "--sweep",
        "loss=0,100",
    ]);
    assert!(out.status.success(), "{out:?}");
    let points = events(&all, "sweep_point");
    assert_eq!(points[1]["tcp_capped_runs"], 2, "{}", points[1]);
    let said = conclusions(&all);
    assert!(
        said[0].ends_with(
            "but it did not always deliver everything (at loss = 100%, 0.0% of messages): 2 of 4 runs stopped at the lab's time cap of 1h."
        ),
        "{said:?}"
    );
    assert!(
        said[1].ends_with(&format!(
            "no UDP run took longer than {}.",
            slowest_udp(&points)
        )),
        "{said:?}"
    );
}

#[test]
fn a_sweep_over_an_unknown_parameter_is_a_usage_error() {
    for (args, needle) in [
        (&["compare", "--sweep", "speed=1,2"][..], "--sweep"),
        (&["compare", "--sweep", "loss=5,200"][..], "--sweep"),
        (&["compare", "--seeds", "3"][..], "--sweep"),
        (
            &["compare", "--sweep", "loss=1", "--seeds", "0"][..],
            "--seeds",
        ),
    ] {
        let out = netdojo().args(args).output().expect("run netdojo");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn a_link_that_loses_everything_stops_at_the_time_cap_and_says_so() {
    let (out, all) = run_json(&["compare", "--loss", "100", "--messages", "10"]);
    assert!(out.status.success(), "{out:?}");
    let tcp = result(&all, "tcp");
    assert_eq!(
        (tcp["capped"].as_bool(), tcp["delivered"].as_u64()),
        (Some(true), Some(0))
    );
    let udp = result(&all, "udp");
    assert_eq!(
        (udp["capped"].as_bool(), udp["lost"].as_u64()),
        (Some(false), Some(10))
    );
    let capped = event(&all, "capped");
    assert_eq!(capped["protocol"], "TCP");
    assert!(capped["text"].as_str().unwrap().contains("1h"), "{capped}");
}
