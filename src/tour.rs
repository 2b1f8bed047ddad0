//! `netdojo tour`: the course as one narrated, self-contained run.
//!
//! It needs no second terminal, no root and no network beyond loopback, so an
//! instructor can run it on a projector with `--pace 800ms` or `--step`.

use crate::layer::Layer;
use crate::report::{self, Observation, Reporter, thousands};
use crate::{lab, queue, tcp, udp, ws};

/// Runs every section in order, then a recap built from what was measured.
pub async fn run(reporter: &Reporter) -> anyhow::Result<()> {
    reporter.chapter(
        "netdojo tour · Layers",
        "Every network program talks through layers: each one adds its own header and trusts the one below.",
    );
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

    reporter.chapter(
        "netdojo tour · TCP",
        "TCP turns unreliable packets into a reliable, ordered stream of bytes between two programs.",
    );
    let tcp = tcp::demo::run(reporter).await?;

    reporter.chapter(
        "netdojo tour · UDP",
        "UDP hands single datagrams to the network: boundaries kept, no handshake, no promise of delivery.",
    );
    let udp = udp::demo::run(reporter).await?;

    reporter.chapter(
        "netdojo tour · TCP vs UDP under loss",
        "The same 200 messages through one simulated link that loses 10% of its frames: UDP loses what the link loses; TCP loses nothing, and pays in time.",
    );
    let scenario = lab::Scenario {
        link: lab::Impairments::default(),
        workload: lab::Workload::default(),
        seed: 1,
    };
    reporter.emit(report::lab::link_observation(&scenario));
    // Pure computation on a virtual clock: milliseconds, so it runs inline.
    let cmp = lab::compare(&scenario, false);
    for sentence in report::lab::conclusions(&cmp) {
        reporter.emit(Observation::new(Layer::Transport, "conclusion", sentence));
    }
    reporter.note("See the whole table with `netdojo compare`, every frame with `--trace`, a trend with `--sweep loss=0,5,10,20,30`.");

    reporter.chapter(
        "netdojo tour · WebSockets, events and recovery",
        "A WebSocket begins as an HTTP request on the web server's own port and becomes a full-duplex channel; events on it are routed by rooms, acknowledged, and recovered when a client misses them.",
    );
    let chat = ws::demo::run(reporter).await?;
    reporter.note("Open the chat yourself with `netdojo ws serve` and http://127.0.0.1:9001/, or watch any WebSocket server's frames with `netdojo ws tap`.");

    reporter.chapter(
        "netdojo tour · Message queues",
        "A broker between producers and consumers keeps each message until a consumer acknowledges it: nothing is missed while a consumer is away, and a crash before the ack means the message comes again.",
    );
    let mq = queue::demo::run(reporter).await?;
    reporter.note("Run a broker of your own with `netdojo queue serve`, on disk with `--data-dir`, or on Redis with `--redis`.");

    reporter.chapter("netdojo tour · Recap", "What this run measured.");
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
    reporter.emit(Observation::new(
        Layer::Transport,
        "recap",
        "the same loopback, two promises: TCP paid a handshake and flow control for delivering every byte in order; UDP paid nothing and promised nothing",
    ));
    reporter.note("Next: `netdojo lesson list` for the lessons behind each section.");
    Ok(())
}
