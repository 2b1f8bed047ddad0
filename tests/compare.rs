//! `netdojo compare`: TCP against UDP through the same simulated link.
//!
//! The link is seeded and its clock is virtual, so these tests assert exact
//! facts: the same seed gives the same run, TCP delivers everything, UDP's
//! books balance, and tshark agrees with netdojo about what is in the capture.

mod common;

use common::{event, events, netdojo, peer, run_json};
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

#[test]
fn udp_lost_plus_delivered_is_sent_whatever_the_link_does() {
    for seed in 1..=10 {
        let link = Impairments {
            loss: 15.0,
            duplicate: 5.0,
            reorder: 5.0,
            corrupt: 5.0,
            jitter: Duration::from_millis(5),
            ..Impairments::default()
        };
        let r = sim::run(&scenario(link, seed, 200), Protocol::Udp, false);
        assert_eq!(r.delivered + r.lost, r.sent, "seed {seed}");
        assert_eq!(r.sent, 200);
        // Every message lost was lost by the link: dropped, or damaged and
        // then refused by a checksum.
        assert!(
            r.lost <= r.link.lost + r.link.corrupted,
            "seed {seed}: {r:?}"
        );
        // Copies the link made reach the application as duplicates (unless
        // the original was corrupted).
        assert!(r.duplicated <= r.link.duplicated);
    }
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

#[test]
fn the_capture_is_byte_identical_for_the_same_seed() {
    let dir = std::env::temp_dir().join(format!("netdojo-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, seed: &str| {
        let path = dir.join(name);
        let out = netdojo()
            .args(["--json", "compare", "--seed", seed, "--pcap"])
            .arg(&path)
            .output()
            .expect("run netdojo");
        assert!(out.status.success(), "{out:?}");
        std::fs::read(path).unwrap()
    };
    let a = write("a.pcapng", "5");
    assert_eq!(a, write("b.pcapng", "5"));
    assert_ne!(a, write("c.pcapng", "6"));
    // pcapng's section header block.
    assert_eq!(&a[..4], &[0x0A, 0x0D, 0x0D, 0x0A]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tshark_counts_the_same_retransmissions_as_netdojo() {
    let Some(tshark) = peer("tshark") else { return };
    let dir = std::env::temp_dir().join(format!("netdojo-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (seed, loss) in [(1, "10"), (2, "10"), (3, "20"), (4, "5")] {
        let path = dir.join(format!("seed{seed}.pcapng"));
        let (out, all) = run_json(&[
            "compare",
            "--seed",
            &seed.to_string(),
            "--loss",
            loss,
            "--pcap",
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{out:?}");
        let ours = result(&all, "tcp")["retransmissions"].as_u64().unwrap();
        let frames = result(&all, "tcp")["link_frames"].as_u64().unwrap()
            + result(&all, "udp")["link_frames"].as_u64().unwrap();
        let count = |filter: &str| {
            let out = std::process::Command::new(&tshark)
                .args([
                    "-r",
                    path.to_str().unwrap(),
                    "-Y",
                    filter,
                    "-T",
                    "fields",
                    "-e",
                    "frame.number",
                ])
                .output()
                .expect("run tshark");
            assert!(out.status.success(), "{out:?}");
            String::from_utf8_lossy(&out.stdout).lines().count() as u64
        };
        assert_eq!(
            count("frame"),
            frames,
            "seed {seed}: tshark read every frame"
        );
        assert_eq!(
            count("tcp.analysis.retransmission"),
            ours,
            "seed {seed}, loss {loss}%"
        );
        // Every frame the link lost is marked so in its comment.
        let lost = result(&all, "tcp")["link_drops"].as_u64().unwrap()
            + result(&all, "udp")["link_drops"].as_u64().unwrap();
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
fn the_relay_loses_exactly_what_udp_serve_counts() {
    use common::Server;
    let timeout = Duration::from_secs(20);
    let server = Server::start(&["udp", "serve", "--listen", "127.0.0.1:0"]);
    let to = server.addr.to_string();
    let relay = Server::start(&[
        "udp",
        "relay",
        "--listen",
        "127.0.0.1:0",
        "--to",
        &to,
        "--loss",
        "20",
        "--seed",
        "3",
        "--delay",
        "2ms",
    ]);
    let relay_addr = relay.addr.to_string();
    let (out, _) = run_json(&[
        "udp",
        "send",
        &relay_addr,
        "--count",
        "500",
        "--rate",
        "5000/s",
    ]);
    assert!(out.status.success(), "{out:?}");
    let summary = server.wait_for("sender_summary", timeout);
    let (status, rest) = relay.stop();
    assert!(status.success() || status.code().is_none(), "{status:?}");
    let forward = event(&rest, "relay_forward");
    let lost = summary["lost"].as_u64().unwrap();
    assert!(lost > 0, "20% loss lost nothing: {forward}");
    assert_eq!(
        lost,
        forward["numbered_lost"].as_u64().unwrap(),
        "{summary} {forward}"
    );
    assert_eq!(summary["received"].as_u64().unwrap() + lost, 500);
    assert_eq!(forward["overflow"], 0);
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
