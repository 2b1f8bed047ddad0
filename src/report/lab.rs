//! How `netdojo compare` shows what the lab measured: the link, the two
//! protocols side by side, sentences computed from the numbers, and (with
//! `--trace`) a ladder of every frame on the link.
//!
//! In JSON the link is one object (`"event":"link"`), each protocol another
//! (`"event":"result"`), each sentence a `"conclusion"`, each traced frame a
//! `"frame"`; people get a table and the same sentences instead.

use std::time::Duration;

use serde_json::Value;

use super::{Observation, Reporter, duration, thousands};
use crate::lab::link::{FrameKind, FrameRecord, Side};
use crate::lab::real::{REAL_PROCESSING, REAL_RCVBUF, REAL_SNDBUF, RealResult};
use crate::lab::settings::Impairments;
use crate::lab::sim::{ADDR_A, ADDR_B, MAX_VIRTUAL_TIME, Protocol, RunResult};
use crate::lab::sweep::{Param, Summary, SweepPoint, SweepValue, summarize};
use crate::lab::{Comparison, Scenario, Workload};
use crate::layer::Layer;

/// Shows the results of a comparison (the link was shown before the runs).
pub fn show(cmp: &Comparison, reporter: &Reporter, json: bool) {
    if json {
        for run in [&cmp.tcp, &cmp.udp] {
            let mut fields = result_fields(run);
            if run.protocol == Protocol::Tcp {
                fields.push((
                    "baseline_completion_ms",
                    ms(cmp.tcp_baseline_completion()).into(),
                ));
            }
            reporter.item("result", &fields, "");
        }
    } else {
        reporter.note(&table(&cmp.tcp, &cmp.udp));
    }
    for run in [&cmp.tcp, &cmp.udp] {
        if run.capped {
            reporter.emit(
                Observation::new(
                    Layer::Transport,
                    "capped",
                    format!(
                        "{} had not finished after {} of simulated time, where the lab stops: its figures are for what arrived until then",
                        run.protocol.name(),
                        humantime::format_duration(MAX_VIRTUAL_TIME)
                    ),
                )
                .field("protocol", run.protocol.name()),
            );
        }
    }
    for sentence in conclusions(cmp) {
        reporter.emit(Observation::new(Layer::Transport, "conclusion", sentence));
    }
}

/// The link settings as an observation at the physical layer.
pub fn link_observation(s: &Scenario) -> Observation {
    let l = &s.link;
    Observation::new(
        Layer::Physical,
        "link",
        format!(
            "{} messages of {} bytes from host A ({}) to host B ({}), once over TCP and once over UDP, through a simulated link: {}; seed {}",
            thousands(s.workload.messages),
            thousands(s.workload.size as u64),
            dotted(ADDR_A),
            dotted(ADDR_B),
            describe_link(l),
            s.seed
        ),
    )
    .field("messages", s.workload.messages)
    .field("size", s.workload.size)
    .field("loss_pct", l.loss)
    .field("delay_ms", ms(l.delay))
    .field("jitter_ms", ms(l.jitter))
    .field("duplicate_pct", l.duplicate)
    .field("reorder_pct", l.reorder)
    .field("corrupt_pct", l.corrupt)
    .field("bandwidth_bps", l.bandwidth)
    .field("seed", s.seed)
}

/// The link of a sweep: the base settings, and which one each value replaces.
pub fn sweep_link_observation(
    s: &Scenario,
    param: Param,
    values: &[SweepValue],
    seeds: u64,
) -> Observation {
    let mut obs = link_observation(s);
    let list: Vec<String> = values.iter().map(|v| value_label(param, v)).collect();
    obs.text.push_str(&format!(
        ". Sweeping {} over {}, with {seeds} seed{} per value (seeds {} to {}): each value replaces the setting above",
        param.name(),
        list.join(", "),
        plural(seeds),
        s.seed,
        s.seed.wrapping_add(seeds - 1)
    ));
    obs.field("sweep", param.name())
        .field("values", list)
        .field("seeds", seeds)
}

/// `10% loss, 20 ms delay each way, 10.0 Mbit/s`.
pub fn describe_link(l: &Impairments) -> String {
    let mut parts = vec![format!("{}% loss", pct(l.loss))];
    parts.push(format!("{} delay each way", short_duration(l.delay)));
    if !l.jitter.is_zero() {
        parts.push(format!("up to {} jitter", short_duration(l.jitter)));
    }
    for (value, what) in [
        (l.duplicate, "duplicated"),
        (l.reorder, "reordered"),
        (l.corrupt, "corrupted"),
    ] {
        if value > 0.0 {
            parts.push(format!("{}% {what}", pct(value)));
        }
    }
    parts.push(match l.bandwidth {
        Some(bps) => rate(bps as f64),
        None => "unlimited bandwidth".into(),
    });
    parts.join(", ")
}

/// The facts of one run, for JSON.
pub fn result_fields(r: &RunResult) -> Vec<(&'static str, Value)> {
    vec![
        ("protocol", r.protocol.name().to_lowercase().into()),
        ("sent", r.sent.into()),
        ("delivered", r.delivered.into()),
        ("lost", r.lost.into()),
        ("duplicated", r.duplicated.into()),
        ("out_of_order", r.out_of_order.into()),
        ("bytes_delivered", r.bytes_delivered.into()),
        ("completion_ms", ms(r.completion).into()),
        ("goodput_bps", r.goodput_bps().map(|b| b.round()).into()),
        ("latency_p50_ms", r.latency_p50.map(ms).into()),
        ("latency_p95_ms", r.latency_p95.map(ms).into()),
        ("latency_max_ms", r.latency_max.map(ms).into()),
        ("link_frames", r.link.frames.into()),
        ("link_drops", r.link.lost.into()),
        ("link_duplicated", r.link.duplicated.into()),
        ("link_reordered", r.link.reordered.into()),
        ("link_corrupted", r.link.corrupted.into()),
        ("retransmissions", r.retransmissions().into()),
        ("window_probes", r.window_probes().into()),
        ("capped", r.capped.into()),
    ]
}

/// The side-by-side table.
pub fn table(tcp: &RunResult, udp: &RunResult) -> String {
    let row = |label: &str, f: &dyn Fn(&RunResult) -> String| (label.to_string(), f(tcp), f(udp));
    let opt = |d: Option<Duration>| d.map_or("n/a".to_string(), duration);
    let rows = vec![
        row("messages delivered", &|r| {
            format!("{} of {}", thousands(r.delivered), thousands(r.sent))
        }),
        row("lost", &|r| thousands(r.lost)),
        row("duplicated", &|r| thousands(r.duplicated)),
        row("out of order", &|r| thousands(r.out_of_order)),
        row("bytes delivered", &|r| thousands(r.bytes_delivered)),
        row("completion time", &|r| duration(r.completion)),
        row("goodput", &|r| r.goodput_bps().map_or("n/a".into(), rate)),
        row("latency p50", &|r| opt(r.latency_p50)),
        row("latency p95", &|r| opt(r.latency_p95)),
        row("latency max", &|r| opt(r.latency_max)),
        row("packets on the link", &|r| thousands(r.link.frames)),
        row("link drops", &|r| thousands(r.link.lost)),
        row("TCP retransmissions", &|r| {
            r.retransmissions().map_or("n/a".into(), thousands)
        }),
    ];
    render_rows(
        rows.iter()
            .map(|(l, t, u)| (l.as_str(), t.clone(), u.clone()))
            .collect(),
    )
}

/// Rows of `label  TCP  UDP`, aligned, under a header.
fn render_rows(rows: Vec<(&str, String, String)>) -> String {
    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let w1 = rows
        .iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(0)
        .max(3);
    let mut out = format!("\n{:<w0$}   {:<w1$}   {}\n", "", "TCP", "UDP");
    for (label, t, u) in rows {
        let pad0 = w0 - label.chars().count();
        let pad1 = w1 - t.chars().count();
        out.push_str(&format!(
            "{label}{}   {t}{}   {u}\n",
            " ".repeat(pad0),
            " ".repeat(pad1)
        ));
    }
    out
}

/// Two or three sentences that say what the numbers mean, built from them.
pub fn conclusions(cmp: &Comparison) -> Vec<String> {
    let (tcp, udp) = (&cmp.tcp, &cmp.udp);
    let mut out = Vec::new();

    let mut s = if udp.lost == 0 {
        format!("UDP delivered all {} messages", thousands(udp.sent))
    } else {
        format!(
            "UDP lost {} of {} messages ({:.1}%)",
            thousands(udp.lost),
            thousands(udp.sent),
            udp.lost as f64 * 100.0 / udp.sent.max(1) as f64
        )
    };
    if udp.out_of_order > 0 {
        s.push_str(&if udp.lost == 0 {
            format!(", {} of them out of order", thousands(udp.out_of_order))
        } else {
            format!(", delivered {} out of order", thousands(udp.out_of_order))
        });
    }
    if udp.duplicated > 0 {
        let joint = if udp.out_of_order > 0 {
            ", and"
        } else {
            " and"
        };
        s.push_str(&format!(
            "{joint} handed the application {} duplicate{}",
            thousands(udp.duplicated),
            plural(udp.duplicated)
        ));
    }
    if udp.lost == 0 && udp.out_of_order == 0 && udp.duplicated == 0 {
        s.push_str(", in order and once each");
    }
    if udp.lost > 0 {
        s.push_str("; nothing was sent again, because UDP never retransmits");
    }
    out.push(s + ".");

    let base = cmp.tcp_baseline_completion();
    let mut s = if tcp.delivered == tcp.sent && tcp.lost == 0 && tcp.out_of_order == 0 {
        let mut s = format!("TCP delivered all {} in order", thousands(tcp.delivered));
        if tcp.completion > base {
            s.push_str(&format!(
                ", but finished {} later than on a clean link ({} against {})",
                duration(tcp.completion - base),
                duration(tcp.completion),
                duration(base)
            ));
        }
        s
    } else {
        format!(
            "TCP delivered {} of {} before the lab stopped",
            thousands(tcp.delivered),
            thousands(tcp.sent)
        )
    };
    if let Some(r) = tcp.retransmissions().filter(|&r| r > 0) {
        s.push_str(&format!(
            ", after {} retransmission{}",
            thousands(r),
            plural(r)
        ));
    }
    out.push(s + ".");

    if let (Some(t), Some(u)) = (tcp.latency_max, udp.latency_max)
        && t > u
        && tcp.retransmissions().unwrap_or(0) > 0
    {
        out.push(format!(
            "TCP's slowest message took {} to arrive, UDP's {}: a lost segment holds back every byte behind it until it is resent (head-of-line blocking), while UDP hands over whatever arrives.",
            duration(t),
            duration(u)
        ));
    }
    out
}

/// The setting of `--real`: who talks to whom, and how slow the receiver is.
pub fn real_setup_observation(workload: &Workload) -> Observation {
    Observation::new(
        Layer::Transport,
        "real_setup",
        format!(
            "{} messages of {} bytes over this machine's own TCP, then its own UDP, on 127.0.0.1, into a receiver that asks for a {}-byte receive buffer and spends {} on each message: slower than its sender (whose TCP send buffer is {} bytes, so that it feels the wait)",
            thousands(workload.messages),
            thousands(workload.size as u64),
            thousands(REAL_RCVBUF as u64),
            short_duration(REAL_PROCESSING),
            thousands(REAL_SNDBUF as u64)
        ),
    )
    .field("messages", workload.messages)
    .field("size", workload.size)
    .field("rcvbuf_requested", REAL_RCVBUF)
    .field("processing_ms", ms(REAL_PROCESSING))
}

/// Shows what the real kernel did, side by side.
pub fn show_real(tcp: &RealResult, udp: &RealResult, reporter: &Reporter, json: bool) {
    if json {
        for r in [tcp, udp] {
            let fields: Vec<(&str, Value)> = vec![
                ("mode", "real".into()),
                ("protocol", r.protocol.name().to_lowercase().into()),
                ("sent", r.sent.into()),
                ("delivered", r.delivered.into()),
                ("lost", r.lost.into()),
                ("duplicated", r.duplicated.into()),
                ("out_of_order", r.out_of_order.into()),
                ("bytes_delivered", r.bytes_delivered.into()),
                ("completion_ms", ms(r.completion).into()),
                ("sender_ms", ms(r.sender_time).into()),
                ("sender_waits", r.sender_waits.into()),
                ("rwnd_limited_us", r.rwnd_limited_us.into()),
                ("latency_p50_ms", r.latency_p50.map(ms).into()),
                ("latency_p95_ms", r.latency_p95.map(ms).into()),
                ("latency_max_ms", r.latency_max.map(ms).into()),
                ("rcvbuf", r.rcvbuf.into()),
                ("kernel_drops", r.kernel_drops.into()),
            ];
            reporter.item("result", &fields, "");
        }
    } else {
        let opt = |d: Option<Duration>| d.map_or("n/a".to_string(), duration);
        let goodput = |r: &RealResult| {
            let secs = r.completion.as_secs_f64();
            if secs > 0.0 {
                rate(r.bytes_delivered as f64 * 8.0 / secs)
            } else {
                "n/a".into()
            }
        };
        let kernel = |r: &RealResult| match (r.protocol, r.kernel_drops) {
            (Protocol::Tcp, _) => "n/a".to_string(),
            (_, Some(n)) => thousands(n),
            (_, None) => format!("not on {}", std::env::consts::OS),
        };
        let rows: Vec<(&str, String, String)> = vec![
            (
                "messages delivered",
                format!("{} of {}", thousands(tcp.delivered), thousands(tcp.sent)),
                format!("{} of {}", thousands(udp.delivered), thousands(udp.sent)),
            ),
            ("lost", thousands(tcp.lost), thousands(udp.lost)),
            (
                "duplicated",
                thousands(tcp.duplicated),
                thousands(udp.duplicated),
            ),
            (
                "out of order",
                thousands(tcp.out_of_order),
                thousands(udp.out_of_order),
            ),
            (
                "bytes delivered",
                thousands(tcp.bytes_delivered),
                thousands(udp.bytes_delivered),
            ),
            (
                "sender done after",
                duration(tcp.sender_time),
                duration(udp.sender_time),
            ),
            (
                "sender had to wait",
                times(tcp.sender_waits),
                times(udp.sender_waits),
            ),
            (
                "receiver done after",
                duration(tcp.completion),
                duration(udp.completion),
            ),
            ("goodput", goodput(tcp), goodput(udp)),
            ("latency p50", opt(tcp.latency_p50), opt(udp.latency_p50)),
            ("latency p95", opt(tcp.latency_p95), opt(udp.latency_p95)),
            ("latency max", opt(tcp.latency_max), opt(udp.latency_max)),
            (
                "receive buffer",
                thousands(tcp.rcvbuf as u64),
                thousands(udp.rcvbuf as u64),
            ),
            ("kernel drops (RcvbufErrors)", kernel(tcp), kernel(udp)),
        ];
        reporter.note(&render_rows(rows));
    }
    for sentence in real_conclusions(tcp, udp) {
        reporter.emit(Observation::new(Layer::Transport, "conclusion", sentence));
    }
}

/// What `--real` showed, in sentences built from its numbers.
pub fn real_conclusions(tcp: &RealResult, udp: &RealResult) -> Vec<String> {
    let mut out = Vec::new();
    let mut s = format!(
        "UDP's sender handed all {} datagrams to the kernel in {} and {}; the slow receiver read {}",
        thousands(udp.sent),
        duration(udp.sender_time),
        if udp.sender_waits == 0 {
            "never had to wait".to_string()
        } else {
            format!("had to wait {}", times(udp.sender_waits))
        },
        thousands(udp.delivered)
    );
    if udp.lost > 0 {
        s.push_str(&format!(
            ", and {} were lost without anyone being told",
            thousands(udp.lost)
        ));
        match udp.kernel_drops {
            Some(k) => s.push_str(&format!(
                " (the kernel's RcvbufErrors counter rose by {} meanwhile: datagrams dropped for a full receive buffer, counted for the whole machine)",
                thousands(k)
            )),
            None => s.push_str(&format!(
                " (the kernel's own drop counter is Linux's /proc/net/snmp: not available on {})",
                std::env::consts::OS
            )),
        }
    }
    out.push(s + ".");
    let mut s = if tcp.lost == 0 && tcp.out_of_order == 0 {
        format!("TCP delivered all {} in order", thousands(tcp.delivered))
    } else {
        format!(
            "TCP delivered {} of {}",
            thousands(tcp.delivered),
            thousands(tcp.sent)
        )
    };
    if tcp.sender_waits > 0 {
        s.push_str(&format!(
            ": when the receiver's buffer filled, its window closed and the kernel made the sender wait ({}",
            times(tcp.sender_waits)
        ));
        if let Some(us) = tcp.rwnd_limited_us {
            s.push_str(&format!(
                ", {} in all held back by the receiver's window, says TCP_INFO",
                duration(Duration::from_micros(us))
            ));
        }
        s.push_str(&format!(
            "), so writing took {} instead of UDP's {} (flow control)",
            duration(tcp.sender_time),
            duration(udp.sender_time)
        ));
    }
    out.push(s + ".");
    out
}

/// `once`, `twice`, `3 times`.
fn times(n: u64) -> String {
    match n {
        0 => "never".into(),
        1 => "once".into(),
        2 => "twice".into(),
        n => format!("{} times", thousands(n)),
    }
}

/// Says where the capture went and what is in it.
pub fn show_pcap_written(path: &std::path::Path, cmp: &Comparison, reporter: &Reporter) {
    let frames = cmp.tcp.frames.len() + cmp.udp.frames.len();
    reporter.emit(
        Observation::new(
            Layer::Physical,
            "pcap",
            format!(
                "saved {} frames to {} (pcapng: interface 0 is the TCP run, 1 the UDP run; what the link did to a frame is in its comment). Open it with `netdojo inspect {}` or Wireshark",
                thousands(frames as u64),
                path.display(),
                path.display()
            ),
        )
        .field("path", path.display().to_string())
        .field("frames", frames),
    );
}

/// Shows every frame of one run as a ladder between the two hosts.
pub fn show_trace(run: &RunResult, reporter: &Reporter) {
    reporter.section(
        &format!("{} over the link, frame by frame", run.protocol.name()),
        "A is the sender, B the receiver; each arrow is one frame entering the link at the time on the left. ✗ marks a frame the link lost.",
    );
    let mut isn = [None, None];
    for f in &run.frames {
        reporter.emit(frame_observation(f, run.protocol, &mut isn));
    }
}

/// Width of the ladder's arrow, in characters.
const ARROW: usize = 46;

fn frame_observation(
    f: &FrameRecord,
    protocol: Protocol,
    isn: &mut [Option<u32>; 2],
) -> Observation {
    let label = frame_label(f, isn);
    let mut notes = Vec::new();
    if f.retransmission {
        notes.push("retransmission".to_string());
    }
    if f.window_probe {
        notes.push("window probe".to_string());
    }
    match f.arrival_us {
        None => notes.push("lost".into()),
        Some(t) => notes.push(format!("arrives {}", time(t))),
    }
    if f.held_back {
        notes.push(format!(
            "held back {}",
            short_duration(crate::lab::link::REORDER_HOLD)
        ));
    }
    if f.duplicate_us.is_some() {
        notes.push("arrives twice".into());
    }
    if let Some((byte, bit)) = f.corrupted {
        notes.push(format!("bit {bit} of byte {byte} flipped"));
    }
    let lost = f.arrival_us.is_none();
    let body = format!("─{label}─");
    let fill = ARROW.saturating_sub(body.chars().count() + 1);
    let arrow = match (f.from, lost) {
        (Side::A, false) => format!("A {body}{}▶ B", "─".repeat(fill)),
        (Side::A, true) => format!("A {body}{}✗   ", "─".repeat(fill / 2)),
        (Side::B, false) => format!("A ◀{}{body} B", "─".repeat(fill)),
        (Side::B, true) => format!(
            "A {}✗{}{body} B",
            " ".repeat(fill - fill / 2),
            "─".repeat(fill / 2)
        ),
    };
    let layer = match f.kind {
        FrameKind::Arp => Layer::DataLink,
        _ => Layer::Transport,
    };
    Observation::new(
        layer,
        "frame",
        format!("{:>11}  {arrow}  {}", time(f.at_us), notes.join(", ")),
    )
    .field("run", protocol.name().to_lowercase())
    .field("id", f.id)
    .field("at_ms", f.at_us as f64 / 1000.0)
    .field("from", if f.from == Side::A { "A" } else { "B" })
    .field("bytes", f.len)
    .field("summary", label)
    .field("lost", lost)
    .field("arrival_ms", f.arrival_us.map(|t| t as f64 / 1000.0))
    .field("retransmission", f.retransmission)
    .field("window_probe", f.window_probe)
    .field("duplicated", f.duplicate_us.is_some())
    .field("held_back", f.held_back)
    .field("corrupted", f.corrupted.is_some())
}

/// `SYN seq=0`, `seq=1:1001 ack=1`, `ACK ack=1001 win=64240`, `UDP #5`.
/// Sequence numbers are relative to each side's first, as Wireshark shows.
fn frame_label(f: &FrameRecord, isn: &mut [Option<u32>; 2]) -> String {
    match &f.kind {
        FrameKind::Arp => "ARP".into(),
        FrameKind::Other => format!("{} bytes", f.len),
        FrameKind::Udp { payload, message } => match message {
            Some(m) => format!("UDP #{m} ({payload} B)"),
            None => format!("UDP ({payload} B)"),
        },
        FrameKind::Tcp {
            seq,
            ack,
            syn,
            fin,
            rst,
            has_ack,
            payload,
            ..
        } => {
            let me = if f.from == Side::A { 0 } else { 1 };
            if *syn {
                isn[me] = Some(*seq);
            }
            let rel = |v: u32, base: Option<u32>| v.wrapping_sub(base.unwrap_or(v));
            let mut flags = Vec::new();
            if *syn {
                flags.push("SYN");
            }
            if *fin {
                flags.push("FIN");
            }
            if *has_ack && !flags.is_empty() {
                flags.push("ACK");
            }
            if *rst {
                flags.push("RST");
            }
            let mut parts = Vec::new();
            if !flags.is_empty() {
                parts.push(flags.join(","));
            }
            let s = rel(*seq, isn[me]);
            if *payload > 0 {
                parts.push(format!("seq={}:{}", s, s + *payload as u32));
            } else if *syn || *fin {
                parts.push(format!("seq={s}"));
            }
            if *has_ack {
                parts.push(format!("ack={}", rel(*ack, isn[1 - me])));
            }
            parts.join(" ")
        }
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn time(us: u64) -> String {
    format!("{:.3} ms", us as f64 / 1000.0)
}

/// A setting: `20 ms`, `1.5 ms`, `2 s`.
fn short_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1000.0 && ms % 1000.0 == 0.0 {
        format!("{} s", ms / 1000.0)
    } else if ms.fract() == 0.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{} ms", (ms * 1000.0).round() / 1000.0)
    }
}

fn pct(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// `10 Mbit/s` for a round setting, `7.7 kbit/s` for a measurement.
fn rate(bps: f64) -> String {
    let (value, unit) = if bps >= 1e9 {
        (bps / 1e9, "Gbit/s")
    } else if bps >= 1e6 {
        (bps / 1e6, "Mbit/s")
    } else {
        (bps / 1e3, "kbit/s")
    };
    if value.fract() == 0.0 {
        format!("{value:.0} {unit}")
    } else if bps >= 1e9 {
        format!("{value:.2} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn dotted(a: [u8; 4]) -> String {
    std::net::Ipv4Addr::from(a).to_string()
}

/// The sweep's progress, on a terminal only: never in `--json`, never when
/// stdout is a file or a pipe (a script does not want bars in its input).
pub fn progress_bar(total: u64, json: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if json || !std::io::stdout().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs") {
        bar.set_style(style);
    }
    bar
}

/// `10%`, `20 ms`, `1mbit`: a sweep value with its unit.
fn value_label(param: Param, v: &SweepValue) -> String {
    match param.unit() {
        "%" => format!("{}%", pct(v.number)),
        "ms" => short_duration(Duration::from_secs_f64(v.number / 1e3)),
        _ => v.label.clone(),
    }
}

/// Shows a sweep: one row per value (JSON: one object per value), a chart
/// drawn with text, and what the trend says.
pub fn show_sweep(
    param: Param,
    points: &[SweepPoint],
    seeds: u64,
    reporter: &Reporter,
    json: bool,
) {
    let rows: Vec<(String, Summary, Summary)> = points
        .iter()
        .map(|p| {
            (
                value_label(param, &p.value),
                summarize(&p.tcp),
                summarize(&p.udp),
            )
        })
        .collect();
    if json {
        for (p, (_, t, u)) in points.iter().zip(&rows) {
            let mut fields: Vec<(&str, Value)> = vec![
                ("param", param.name().into()),
                ("value", p.value.label.clone().into()),
                ("seeds", seeds.into()),
            ];
            fields.extend([
                (
                    "tcp_completion_mean_ms",
                    round3(t.completion_mean_s * 1e3).into(),
                ),
                (
                    "tcp_completion_min_ms",
                    round3(t.completion_min_s * 1e3).into(),
                ),
                (
                    "tcp_completion_max_ms",
                    round3(t.completion_max_s * 1e3).into(),
                ),
                ("tcp_delivered_pct", round3(t.delivered_pct).into()),
                (
                    "tcp_retransmissions_mean",
                    round3(t.retransmissions_mean).into(),
                ),
                ("tcp_goodput_mean_bps", t.goodput_mean_bps.round().into()),
                ("tcp_capped_runs", t.capped.into()),
                (
                    "udp_completion_mean_ms",
                    round3(u.completion_mean_s * 1e3).into(),
                ),
                (
                    "udp_completion_max_ms",
                    round3(u.completion_max_s * 1e3).into(),
                ),
                ("udp_delivered_pct", round3(u.delivered_pct).into()),
                ("udp_lost_mean", round3(u.lost_mean).into()),
                ("udp_out_of_order_mean", round3(u.out_of_order_mean).into()),
                ("udp_goodput_mean_bps", u.goodput_mean_bps.round().into()),
            ]);
            reporter.item("sweep_point", &fields, "");
        }
    } else {
        reporter.note(&sweep_table(param, &rows, seeds));
        reporter.note(&sweep_chart(param, &rows));
    }
    for sentence in sweep_conclusions(param, &rows) {
        reporter.emit(Observation::new(Layer::Transport, "conclusion", sentence));
    }
}

fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

fn sweep_table(param: Param, rows: &[(String, Summary, Summary)], seeds: u64) -> String {
    let header = [
        param.name().to_string(),
        "TCP time (mean)".into(),
        "TCP time (min–max)".into(),
        "TCP retrans.".into(),
        "TCP goodput".into(),
        "UDP delivered".into(),
        "UDP out of order".into(),
    ];
    let mut lines: Vec<[String; 7]> = vec![header];
    for (label, t, u) in rows {
        let capped = if t.capped > 0 {
            format!(" ({} capped)", t.capped)
        } else {
            String::new()
        };
        lines.push([
            label.clone(),
            format!("{}{capped}", secs(t.completion_mean_s)),
            format!("{}–{}", secs(t.completion_min_s), secs(t.completion_max_s)),
            format!("{:.1}", t.retransmissions_mean),
            rate(t.goodput_mean_bps),
            format!("{:.1}%", u.delivered_pct),
            format!("{:.1}", u.out_of_order_mean),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("\nMeans over {seeds} seed{} per value:\n", plural(seeds));
    for l in &lines {
        let cells: Vec<String> = l
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

fn secs(s: f64) -> String {
    duration(Duration::from_secs_f64(s.max(0.0)))
}

/// Width of the terminal chart's longest bar, in characters.
const CHART_WIDTH: usize = 40;

fn sweep_chart(param: Param, rows: &[(String, Summary, Summary)]) -> String {
    let label_w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let max_t = rows
        .iter()
        .map(|r| r.1.completion_mean_s)
        .fold(0.0, f64::max);
    let bar = |v: f64, max: f64| {
        let n = if max > 0.0 {
            ((v / max) * CHART_WIDTH as f64).round() as usize
        } else {
            0
        };
        "█".repeat(n.min(CHART_WIDTH))
    };
    let mut out = format!("TCP completion time by {} (mean):\n", param.name());
    for (label, t, _) in rows {
        let pad = " ".repeat(label_w - label.chars().count());
        out.push_str(&format!(
            "  {label}{pad} │{} {}\n",
            bar(t.completion_mean_s, max_t),
            secs(t.completion_mean_s)
        ));
    }
    out.push_str(&format!(
        "\nUDP messages delivered by {} (mean):\n",
        param.name()
    ));
    for (label, _, u) in rows {
        let pad = " ".repeat(label_w - label.chars().count());
        out.push_str(&format!(
            "  {label}{pad} │{} {:.1}%\n",
            bar(u.delivered_pct, 100.0),
            u.delivered_pct
        ));
    }
    out
}

fn sweep_conclusions(param: Param, rows: &[(String, Summary, Summary)]) -> Vec<String> {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Vec::new();
    };
    if rows.len() < 2 {
        return Vec::new();
    }
    let tcp_all = rows.iter().all(|r| r.1.delivered_pct >= 100.0);
    let mut s = format!(
        "From {} = {} to {}, TCP's mean completion time went from {} to {}",
        param.name(),
        first.0,
        last.0,
        secs(first.1.completion_mean_s),
        secs(last.1.completion_mean_s)
    );
    if first.1.completion_mean_s > 0.0 {
        s.push_str(&format!(
            " (×{:.1})",
            last.1.completion_mean_s / first.1.completion_mean_s
        ));
    }
    if tcp_all {
        s.push_str(", and it delivered every message in every run");
    } else {
        let worst = rows
            .iter()
            .min_by(|a, b| a.1.delivered_pct.total_cmp(&b.1.delivered_pct))
            .unwrap_or(first);
        s.push_str(&format!(
            ", but it did not always deliver everything (at {} = {}, {:.1}% of messages)",
            param.name(),
            worst.0,
            worst.1.delivered_pct
        ));
        let capped: u64 = rows.iter().map(|r| r.1.capped).sum();
        let runs: u64 = rows.iter().map(|r| r.1.runs).sum();
        if capped > 0 {
            s.push_str(&format!(
                ": {} of {} runs stopped at the lab's time cap of {}",
                thousands(capped),
                thousands(runs),
                humantime::format_duration(MAX_VIRTUAL_TIME)
            ));
        } else {
            s.push_str(", though no run reached the lab's time cap");
        }
    }
    // The slowest single run, not the slowest value's mean.
    let udp_slowest = rows
        .iter()
        .map(|r| r.2.completion_max_s)
        .fold(0.0, f64::max);
    let udp = format!(
        "UDP's delivery went from {:.1}% to {:.1}% of messages, and no UDP run took longer than {}",
        first.2.delivered_pct,
        last.2.delivered_pct,
        secs(udp_slowest)
    );
    vec![s + ".", udp + "."]
}

/// Draws the sweep for slides: TCP's completion time (mean, with the range
/// over seeds) above, both protocols' delivery below.
pub fn write_svg(
    path: &std::path::Path,
    param: Param,
    points: &[SweepPoint],
) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let rows: Vec<(f64, String, Summary, Summary)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            // Unlimited bandwidth has no place on a numeric axis: then the
            // values are placed evenly, in the order given.
            let x = if points.iter().all(|p| p.value.number.is_finite()) {
                p.value.number
            } else {
                i as f64
            };
            (
                x,
                value_label(param, &p.value),
                summarize(&p.tcp),
                summarize(&p.udp),
            )
        })
        .collect();
    let x0 = rows.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
    let x1 = rows.iter().map(|r| r.0).fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1) = if x1 > x0 {
        (x0, x1)
    } else {
        (x0 - 1.0, x1 + 1.0)
    };
    let pad = (x1 - x0) * 0.05;
    let xr = (x0 - pad)..(x1 + pad);
    let labels: Vec<(f64, String)> = rows.iter().map(|r| (r.0, r.1.clone())).collect();
    let x_label = |x: &f64| {
        labels
            .iter()
            .find(|(v, _)| (v - x).abs() < 1e-9)
            .map_or(String::new(), |(_, l)| l.clone())
    };
    let x_desc = format!("{} ({})", param.name(), param.unit());
    let failed = |e: &dyn std::fmt::Display| anyhow::anyhow!("cannot draw {}: {e}", path.display());

    let root = SVGBackend::new(path, (900, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let (top, bottom) = root.split_vertically(350);

    let t_max = rows
        .iter()
        .map(|r| r.2.completion_max_s)
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.1;
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!(
                "TCP completion time by {} (mean, and range over seeds)",
                param.name()
            ),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(xr.clone(), 0f64..t_max)
        .map_err(|e| failed(&e))?;
    chart
        .configure_mesh()
        .x_labels(rows.len())
        .x_label_formatter(&x_label)
        .x_desc(x_desc.as_str())
        .y_desc("seconds")
        .draw()
        .map_err(|e| failed(&e))?;
    chart
        .draw_series(rows.iter().map(|r| {
            PathElement::new(
                vec![(r.0, r.2.completion_min_s), (r.0, r.2.completion_max_s)],
                BLUE.mix(0.4).stroke_width(6),
            )
        }))
        .map_err(|e| failed(&e))?;
    chart
        .draw_series(LineSeries::new(
            rows.iter().map(|r| (r.0, r.2.completion_mean_s)),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| failed(&e))?;
    chart
        .draw_series(
            rows.iter()
                .map(|r| Circle::new((r.0, r.2.completion_mean_s), 4, BLUE.filled())),
        )
        .map_err(|e| failed(&e))?;

    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            format!("Messages delivered by {} (mean)", param.name()),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(xr, 0f64..105f64)
        .map_err(|e| failed(&e))?;
    chart
        .configure_mesh()
        .x_labels(rows.len())
        .x_label_formatter(&x_label)
        .x_desc(x_desc.as_str())
        .y_desc("% delivered")
        .draw()
        .map_err(|e| failed(&e))?;
    for (name, color, pick) in [
        (
            "TCP",
            BLUE,
            (|r: &(f64, String, Summary, Summary)| r.2.delivered_pct) as fn(&_) -> f64,
        ),
        ("UDP", RED, |r| r.3.delivered_pct),
    ] {
        chart
            .draw_series(LineSeries::new(
                rows.iter().map(|r| (r.0, pick(r))),
                color.stroke_width(2),
            ))
            .map_err(|e| failed(&e))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                rows.iter()
                    .map(|r| Circle::new((r.0, pick(r)), 4, color.filled())),
            )
            .map_err(|e| failed(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))?;
    Ok(())
}

/// Says where the chart went.
pub fn show_svg_written(path: &std::path::Path, reporter: &Reporter) {
    reporter.emit(
        Observation::new(
            Layer::Transport,
            "svg",
            format!("drew the sweep to {}", path.display()),
        )
        .field("path", path.display().to_string()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(runs: u64, mean: f64, max: f64, delivered: f64, capped: u64) -> Summary {
        Summary {
            runs,
            completion_mean_s: mean,
            completion_min_s: 0.0,
            completion_max_s: max,
            delivered_pct: delivered,
            capped,
            ..Summary::default()
        }
    }

    #[test]
    fn udp_slowest_is_the_slowest_run_not_the_slowest_mean() {
        let tcp = summary(3, 1.0, 2.0, 100.0, 0);
        let rows = vec![
            // The largest mean, but not the slowest run.
            ("0".to_string(), tcp, summary(3, 0.150, 0.160, 100.0, 0)),
            ("10".to_string(), tcp, summary(3, 0.100, 0.250, 90.0, 0)),
        ];
        let said = sweep_conclusions(Param::Loss, &rows);
        assert!(
            said[1].ends_with("no UDP run took longer than 250.00 ms."),
            "{said:?}"
        );
        assert!(
            said[0].ends_with("delivered every message in every run."),
            "{said:?}"
        );
    }

    #[test]
    fn the_time_cap_is_blamed_only_when_runs_reached_it() {
        let udp = summary(2, 0.1, 0.1, 50.0, 0);
        let short = vec![
            ("0".to_string(), summary(2, 1.0, 1.0, 100.0, 0), udp),
            ("90".to_string(), summary(2, 9.0, 9.0, 75.0, 0), udp),
        ];
        let said = sweep_conclusions(Param::Loss, &short);
        assert!(!said[0].contains("stopped at"), "{said:?}");
        assert!(
            said[0].contains("at loss = 90, 75.0% of messages"),
            "{said:?}"
        );
        assert!(
            said[0].contains("no run reached the lab's time cap"),
            "{said:?}"
        );

        let capped = vec![
            ("0".to_string(), summary(2, 1.0, 1.0, 100.0, 0), udp),
            ("90".to_string(), summary(2, 9.0, 9.0, 60.0, 1), udp),
            ("100".to_string(), summary(2, 3600.0, 3600.0, 0.0, 2), udp),
        ];
        let said = sweep_conclusions(Param::Loss, &capped);
        assert!(
            said[0].contains("at loss = 100, 0.0% of messages"),
            "{said:?}"
        );
        assert!(
            said[0].contains(": 3 of 6 runs stopped at the lab's time cap of 1h"),
            "{said:?}"
        );
    }
}
