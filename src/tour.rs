//! `netdojo tour`: the course as one narrated, self-contained run.
//!
//! Eight sections, in the lessons' order. Each opens with the lesson's key
//! idea, runs the real demo, and closes with what to notice; a recap at the
//! end quotes what this run measured. It needs no second terminal, no root
//! and no network beyond loopback, so an instructor can run it on a
//! projector with `--pace 800ms` or `--step`, whole or `--only` some parts.

use crate::inspect::model::{Frame, LinkType};
use crate::layer::Layer;
use crate::report::{self, Observation, Reporter, thousands};
use crate::{inspect, lab, queue, tcp, udp, ws};

/// A part of the tour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Layers,
    Tcp,
    Udp,
    Loss,
    Packets,
    Websockets,
    Events,
    Queues,
}

impl Section {
    pub const ALL: [Section; 8] = [
        Section::Layers,
        Section::Tcp,
        Section::Udp,
        Section::Loss,
        Section::Packets,
        Section::Websockets,
        Section::Events,
        Section::Queues,
    ];

    /// What `--only` calls it.
    pub fn name(self) -> &'static str {
        match self {
            Section::Layers => "layers",
            Section::Tcp => "tcp",
            Section::Udp => "udp",
            Section::Loss => "loss",
            Section::Packets => "packets",
            Section::Websockets => "websockets",
            Section::Events => "events",
            Section::Queues => "queues",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Section::Layers => "Layers",
            Section::Tcp => "TCP",
            Section::Udp => "UDP",
            Section::Loss => "TCP vs UDP under loss",
            Section::Packets => "Packets, layer by layer",
            Section::Websockets => "WebSockets",
            Section::Events => "Events, rooms and recovery",
            Section::Queues => "Message queues",
        }
    }

    /// The lesson's key idea, said before the demo runs.
    pub fn idea(self) -> &'static str {
        match self {
            Section::Layers => {
                "Every network program talks through layers: each one adds its own header and trusts the one below."
            }
            Section::Tcp => {
                "TCP turns unreliable packets into a reliable, ordered stream of bytes between two programs."
            }
            Section::Udp => {
                "UDP hands single datagrams to the network: boundaries kept, no handshake, no promise of delivery."
            }
            Section::Loss => {
                "The same 200 messages through one simulated link that loses 10% of its frames: UDP loses what the link loses; TCP loses nothing, and pays in time."
            }
            Section::Packets => {
                "A packet is headers inside headers: each layer's header in front of the layer above's bytes. Here is one real frame of the loss lab, opened from the outside in."
            }
            Section::Websockets => {
                "A WebSocket begins as an HTTP request on the web server's own port, and becomes a full-duplex channel of small frames."
            }
            Section::Events => {
                "Events are routed by rooms and acknowledged; a client that was away gets back exactly what it missed, if the server kept it."
            }
            Section::Queues => {
                "A broker between producers and consumers keeps each message until a consumer acknowledges it: nothing is missed while a consumer is away, and a crash before the ack means the message comes again."
            }
        }
    }

    /// What to notice, said after it ran.
    pub fn notice(self) -> &'static str {
        match self {
            Section::Layers => {
                "What to notice: every line netdojo prints starts with the layer it happened at, L1 (bytes on a wire) to L7 (your program's messages)."
            }
            Section::Tcp => {
                "What to notice: the handshake was over before accept() returned, the two writes and the reads did not line up, and FIN only closed one direction. Lesson 2."
            }
            Section::Udp => {
                "What to notice: three datagrams in, three out, no connection; and the receiver, not the network, was what lost the burst. Lesson 3."
            }
            Section::Loss => {
                "What to notice: the same drops cost UDP messages and cost TCP time. Which one you want depends on whether late is worse than lost. Lesson 4."
            }
            Section::Packets => {
                "What to notice: each layer only reads its own header and hands the rest up; the addresses at L2, L3 and L4 are three different kinds. Lesson 8."
            }
            Section::Websockets => {
                "What to notice: one port served a page and then a socket; client frames were masked, server frames were not. Lesson 5."
            }
            Section::Events => {
                "What to notice: the recovered messages came with their ids, in order, once each; without the history they were simply gone. Lesson 6."
            }
            Section::Queues => {
                "What to notice: a topic forgets, a queue keeps; and a message can come twice, so the consumer must be able to tell. Lesson 7."
            }
        }
    }

    pub fn lesson(self) -> u32 {
        match self {
            Section::Layers => 1,
            Section::Tcp => 2,
            Section::Udp => 3,
            Section::Loss => 4,
            Section::Packets => 8,
            Section::Websockets => 5,
            Section::Events => 6,
            Section::Queues => 7,
        }
    }
}

/// Reads one of `--only`'s section names.
pub fn parse_section(word: &str) -> Result<Section, String> {
    Section::ALL
        .into_iter()
        .find(|s| s.name().eq_ignore_ascii_case(word.trim()))
        .ok_or_else(|| {
            format!(
                "there is no tour section {word:?}; the sections are {}",
                Section::ALL.map(Section::name).join(", ")
            )
        })
}

/// `netdojo tour --list`.
pub fn list(reporter: &Reporter) {
    for (i, s) in Section::ALL.into_iter().enumerate() {
        reporter.item(
            "section",
            &[
                ("number", (i + 1).into()),
                ("name", s.name().into()),
                ("title", s.title().into()),
                ("lesson", s.lesson().into()),
            ],
            &format!(
                "{:>2}  {:<11} {} (lesson {})",
                i + 1,
                s.name(),
                s.title(),
                s.lesson()
            ),
        );
    }
}

/// What each section measured, for the recap.
#[derive(Default)]
struct Measured {
    tcp: Option<tcp::demo::DemoFacts>,
    udp: Option<udp::demo::DemoFacts>,
    loss: Option<lab::Comparison>,
    packet: Option<PacketFacts>,
    chat: Option<ws::demo::DemoFacts>,
    queue: Option<queue::demo::DemoFacts>,
}

/// Runs the chosen sections in order (all of them for `None`), then a recap
/// built from what was measured.
pub async fn run(reporter: &Reporter, only: Option<&[Section]>) -> anyhow::Result<()> {
    let mut chosen: Vec<Section> = only.map_or(Section::ALL.to_vec(), <[Section]>::to_vec);
    chosen.sort();
    chosen.dedup();
    let wants = |s: Section| chosen.contains(&s);
    let open = |s: Section| {
        reporter.chapter(&format!("netdojo tour · {}", s.title()), s.idea());
    };
    let close = |s: Section| reporter.note(s.notice());
    let mut m = Measured::default();

    if wants(Section::Layers) {
        open(Section::Layers);
        layers(reporter);
        close(Section::Layers);
    }
    if wants(Section::Tcp) {
        open(Section::Tcp);
        m.tcp = Some(tcp::demo::run(reporter).await?);
        close(Section::Tcp);
    }
    if wants(Section::Udp) {
        open(Section::Udp);
        m.udp = Some(udp::demo::run(reporter).await?);
        close(Section::Udp);
    }
    // The lab's frames serve both the loss section and the packets section.
    let scenario = lab::Scenario {
        link: lab::Impairments::default(),
        workload: lab::Workload::default(),
        seed: 1,
    };
    if wants(Section::Loss) || wants(Section::Packets) {
        // Pure computation on a virtual clock: milliseconds, so inline.
        m.loss = Some(lab::compare(&scenario, wants(Section::Packets)));
    }
    if wants(Section::Loss) {
        open(Section::Loss);
        let cmp = m.loss.as_ref().expect("computed above");
        reporter.emit(report::lab::link_observation(&scenario));
        for sentence in report::lab::conclusions(cmp) {
            reporter.emit(Observation::new(Layer::Transport, "conclusion", sentence));
        }
        reporter.note("See the whole table with `netdojo compare`, every frame with `--trace`, a trend with `--sweep loss=0,5,10,20,30`.");
        close(Section::Loss);
    }
    if wants(Section::Packets) {
        open(Section::Packets);
        m.packet = packets(reporter, m.loss.as_ref().expect("computed above"));
        close(Section::Packets);
    }
    if wants(Section::Websockets) || wants(Section::Events) {
        // One demo, two halves: a silent reporter for a half not chosen.
        let (silent, _) = Reporter::recorder();
        let wire = if wants(Section::Websockets) {
            open(Section::Websockets);
            reporter
        } else {
            &silent
        };
        let events = if wants(Section::Events) {
            reporter
        } else {
            &silent
        };
        let between = || {
            if wants(Section::Websockets) {
                close(Section::Websockets);
            }
            if wants(Section::Events) {
                open(Section::Events);
            }
        };
        m.chat = Some(ws::demo::run_parts(wire, events, between).await?);
        if wants(Section::Events) {
            reporter.note("Open the chat yourself with `netdojo ws serve` and http://127.0.0.1:9001/, or watch any WebSocket server's frames with `netdojo ws tap`.");
            close(Section::Events);
        }
    }
    if wants(Section::Queues) {
        open(Section::Queues);
        m.queue = Some(queue::demo::run(reporter).await?);
        reporter.note("Run a broker of your own with `netdojo queue serve`, on disk with `--data-dir`, or on Redis with `--redis`.");
        close(Section::Queues);
    }

    recap(reporter, &chosen, &m);
    Ok(())
}

fn layers(reporter: &Reporter) {
    for layer in Layer::ALL {
        reporter.emit(
            Observation::new(
                layer,
                "layer",
                format!(
                    "{:<11} layer of TCP/IP · netdojo shows {}",
                    layer.tcpip_name(),
                    layer.shows()
                ),
            )
            .field("osi", layer.number())
            .field("name", layer.osi_name())
            .field("tcpip", layer.tcpip_name()),
        );
    }
}

/// What the packets section found in its frame.
struct PacketFacts {
    frame_bytes: usize,
    header_bytes: usize,
    payload_bytes: usize,
    layers: Vec<String>,
}

/// Opens the first TCP segment that carried a message in the loss lab.
fn packets(reporter: &Reporter, cmp: &lab::Comparison) -> Option<PacketFacts> {
    // Host A's frames carrying data are the large ones; a SYN or an ACK
    // would show fewer layers.
    let record = cmp
        .tcp
        .frames
        .iter()
        .filter(|f| f.from == lab::link::Side::A && !f.bytes.is_empty())
        .max_by_key(|f| (f.bytes.len(), std::cmp::Reverse(f.id)))?;
    let frame = Frame {
        number: record.id + 1,
        timestamp: None,
        link: LinkType::Ethernet,
        data: record.bytes.clone(),
        original_len: record.bytes.len(),
        comments: Vec::new(),
    };
    let d = inspect::dissect::dissect(&frame);
    let total = frame.data.len();
    let mut header_bytes = 0;
    let mut names = Vec::new();
    let mut headers = Vec::new();
    for view in &d.layers {
        let len = view.range.end.saturating_sub(view.range.start);
        let is_payload = view.layer == Layer::Application;
        if !is_payload {
            header_bytes += len;
            headers.push(view.protocol.to_string());
        }
        names.push(view.protocol.to_string());
        reporter.emit(
            Observation::new(
                view.layer,
                "frame_layer",
                format!(
                    "{}: {} ({} at bytes {}–{})",
                    view.protocol,
                    view.summary,
                    if is_payload {
                        format!("{len} bytes of data")
                    } else {
                        format!("a {len}-byte header")
                    },
                    view.range.start,
                    view.range.end.saturating_sub(1),
                ),
            )
            .field("protocol", view.protocol.to_string())
            .field("bytes", len as u64)
            .field("start", view.range.start as u64),
        );
    }
    let payload_bytes = total.saturating_sub(header_bytes);
    reporter.emit(
        Observation::new(
            Layer::Physical,
            "frame",
            format!(
                "frame {} of the lab's TCP run: {} bytes on the wire, {} of them headers ({}) around {} bytes of the application's data",
                frame.number,
                thousands(total as u64),
                header_bytes,
                headers.join(" + "),
                thousands(payload_bytes as u64),
            ),
        )
        .field("frame_bytes", total as u64)
        .field("header_bytes", header_bytes as u64)
        .field("payload_bytes", payload_bytes as u64)
        .field("layers", names.clone()),
    );
    reporter.note("Every field and every byte of frames like this one: `netdojo inspect --example tcp-data --explain --hexdump`, or `netdojo compare --pcap lab.pcapng` and `netdojo inspect lab.pcapng`.");
    Some(PacketFacts {
        frame_bytes: total,
        header_bytes,
        payload_bytes,
        layers: names,
    })
}

fn recap(reporter: &Reporter, chosen: &[Section], m: &Measured) {
    reporter.chapter("netdojo tour · Recap", "What this run measured.");
    if let Some(tcp) = &m.tcp {
        reporter.emit(
            Observation::new(
                Layer::Transport,
                "recap_tcp",
                format!(
                    "TCP: connected in one round trip before accept(); 2 small writes were read {}; 1 MiB arrived in {} reads and came back {}",
                    if tcp.small_reads.len() == 1 { "as one".to_string() } else { format!("as {}", tcp.small_reads.len()) },
                    thousands(tcp.large_reads.len() as u64),
                    if tcp.echo_intact { "intact" } else { "damaged" },
                ),
            )
            .field("small_reads", tcp.small_reads.len())
            .field("large_reads", tcp.large_reads.len())
            .field("echo_intact", tcp.echo_intact),
        );
    }
    if let Some(udp) = &m.udp {
        reporter.emit(
            Observation::new(
                Layer::Transport,
                "recap_udp",
                format!(
                    "UDP: {} datagrams came out as {} receives of the same sizes{}; {} a closed port; of a burst of {}, a slow receiver got {} and {} were lost, with nobody told",
                    udp.sizes_sent.len(),
                    udp.sizes_received.len(),
                    if udp.boundaries_kept() { "" } else { " (not this time!)" },
                    if udp.refused { "ICMP reported" } else { "nothing reported" },
                    thousands(udp.burst_sent),
                    thousands(udp.burst_received),
                    thousands(udp.burst_lost),
                ),
            )
            .field("boundaries_kept", udp.boundaries_kept())
            .field("refused", udp.refused)
            .field("burst_sent", udp.burst_sent)
            .field("burst_received", udp.burst_received)
            .field("burst_lost", udp.burst_lost),
        );
    }
    if let (Some(cmp), true) = (&m.loss, chosen.contains(&Section::Loss)) {
        reporter.emit(
            Observation::new(
                Layer::Transport,
                "recap_compare",
                format!(
                    "TCP vs UDP under 10% loss: UDP delivered {} of {} messages in {}; TCP delivered {} of {} in order, in {} instead of {} on a clean link, after {} retransmissions",
                    thousands(cmp.udp.delivered),
                    thousands(cmp.udp.sent),
                    report::duration(cmp.udp.completion),
                    thousands(cmp.tcp.delivered),
                    thousands(cmp.tcp.sent),
                    report::duration(cmp.tcp.completion),
                    report::duration(cmp.tcp_baseline_completion()),
                    thousands(cmp.tcp.link.tcp_retransmissions),
                ),
            )
            .field("udp_delivered", cmp.udp.delivered)
            .field("udp_lost", cmp.udp.lost)
            .field("tcp_delivered", cmp.tcp.delivered)
            .field("tcp_retransmissions", cmp.tcp.link.tcp_retransmissions)
            .field("sent", cmp.tcp.sent),
        );
    }
    if let Some(p) = &m.packet {
        reporter.emit(
            Observation::new(
                Layer::Physical,
                "recap_packets",
                format!(
                    "Packets: one frame of {} bytes was {} layers deep ({}); {} bytes of headers carried {} bytes of data",
                    thousands(p.frame_bytes as u64),
                    p.layers.len(),
                    p.layers.join(", "),
                    p.header_bytes,
                    thousands(p.payload_bytes as u64),
                ),
            )
            .field("frame_bytes", p.frame_bytes as u64)
            .field("header_bytes", p.header_bytes as u64)
            .field("layers", p.layers.clone()),
        );
    }
    if let Some(chat) = &m.chat {
        reporter.emit(
            Observation::new(
                Layer::Session,
                "recap_ws",
                format!(
                    "WebSockets: the page and the socket came from one port (HTTP {}, then {} upgrades); {} of {} client frames were masked and {} of {} server frames; a broadcast reached {} members; of {} messages sent while a client was away, {} when it returned; with recovery off, {} were simply missed",
                    chat.page_status,
                    chat.upgrades,
                    chat.client_frames_masked,
                    chat.client_frames,
                    chat.server_frames_masked,
                    chat.server_frames,
                    chat.broadcast_receivers,
                    chat.sent_while_away,
                    if chat.recovered_ids == chat.away_ids {
                        "all came back, in order, none twice,"
                    } else {
                        "not all came back"
                    },
                    chat.missed_without_recovery,
                ),
            )
            .field("client_frames_masked", chat.client_frames_masked)
            .field("server_frames_masked", chat.server_frames_masked)
            .field("sent_while_away", chat.sent_while_away)
            .field("recovered", chat.recovered_ids.len())
            .field("missed_without_recovery", chat.missed_without_recovery),
        );
    }
    if let Some(mq) = &m.queue {
        reporter.emit(
            Observation::new(
                Layer::Application,
                "recap_queue",
                format!(
                    "Message queues: a subscriber away from a topic got {} of {} events; a consumer away from a queue got {} of {}{}; a crash before the ack brought a message back as delivery {}, charged {} times by a naive consumer and {} by an idempotent one",
                    mq.pubsub_received_after_return,
                    mq.pubsub_published,
                    mq.queue_received_after_return,
                    mq.queue_stored,
                    if mq.queue_in_order { ", in order" } else { "" },
                    mq.redelivery_count,
                    mq.naive_charges,
                    mq.idempotent_charges,
                ),
            )
            .field("pubsub_received_after_return", mq.pubsub_received_after_return as u64)
            .field("queue_received_after_return", mq.queue_received_after_return as u64)
            .field("queue_stored", mq.queue_stored as u64)
            .field("naive_charges", mq.naive_charges)
            .field("idempotent_charges", mq.idempotent_charges),
        );
    }
    if m.tcp.is_some() && m.udp.is_some() {
        reporter.emit(Observation::new(
            Layer::Transport,
            "recap",
            "the same loopback, two promises: TCP paid a handshake and flow control for delivering every byte in order; UDP paid nothing and promised nothing",
        ));
    }
    reporter.note("Next: `netdojo lesson list` for the lessons behind each section, `netdojo tour --list` for its parts.");
}
