//! The command line. The `///` comments here are the `--help` text, and
//! what the shell gets from it too: completion scripts and man pages, made
//! from the same definition so they can never disagree with `--help`.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::endpoint::Endpoint;

/// netdojo: real, small network programs that narrate what each layer does.
#[derive(Parser, Debug)]
#[command(
    name = "netdojo",
    version,
    propagate_version = true,
    after_help = "Examples:\n  netdojo tour                          the whole course, narrated\n  netdojo tcp demo --pace 800ms         TCP, slowly enough to explain\n  netdojo --json udp demo               the same facts as JSON lines\n  netdojo lesson 2                      read the TCP lesson"
)]
pub struct Cli {
    /// When to colour the output (NO_COLOR is honoured under auto).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    /// Print one JSON object per line instead of narration.
    #[arg(long, global = true)]
    pub json: bool,

    /// Pause this long after each narrated step (e.g. 800ms, 2s).
    #[arg(long, value_parser = parse_duration, default_value = "0s", global = true)]
    pub pace: Duration,

    /// Wait for Enter after each narrated step (for a lecture).
    #[arg(long, global = true)]
    pub step: bool,

    /// Show details too: every read, every datagram, every anomaly.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set.
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The whole course as one narrated, self-contained run.
    #[command(after_help = "Example:\n  netdojo tour --pace 800ms")]
    Tour {
        /// Only these sections, in the tour's order: layers, tcp, udp, loss,
        /// packets, websockets, events, queues (comma-separated).
        #[arg(long, value_name = "SECTION[,SECTION]", value_delimiter = ',', value_parser = parse_section)]
        only: Option<Vec<crate::tour::Section>>,
        /// List the sections and the lessons behind them, and stop.
        #[arg(long, conflicts_with = "only")]
        list: bool,
    },

    /// Read a lesson in the terminal: styled and paged on a terminal, the
    /// markdown as it is into a pipe or a file.
    #[command(
        after_help = "Examples:\n  netdojo lesson list\n  netdojo lesson 2                 styled, through $PAGER (default: less -R) when long\n  netdojo lesson 2 --plain         the markdown file itself\n  PAGER=cat netdojo lesson tcp     styled, without a pager"
    )]
    Lesson {
        /// `list`, or a lesson number.
        #[arg(default_value = "list")]
        which: String,
        /// Print the markdown as it is: no styling, no pager (what a pipe,
        /// `--color never` and NO_COLOR get anyway).
        #[arg(long)]
        plain: bool,
    },

    /// TCP: a reliable byte stream. Echo server, client, and a narrated demo.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  netdojo tcp demo                               the whole story in one process\n  netdojo tcp serve                              an echo server on 127.0.0.1:7000\n  netdojo tcp connect 127.0.0.1:7000 --send hi   a client, in another terminal"
    )]
    Tcp(TcpCommand),

    /// UDP: datagrams with boundaries and no promises. Receiver, sender, demo.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  netdojo udp demo                               the whole story in one process\n  netdojo udp serve                              a receiver on 127.0.0.1:7001\n  netdojo udp send 127.0.0.1:7001 --count 1000   numbered datagrams, in another terminal"
    )]
    Udp(UdpCommand),

    /// Open frames layer by layer: from a pcap/pcapng file, hex, a built-in
    /// example or a live interface.
    #[command(
        after_help = "Examples:\n  netdojo inspect --example tcp-syn --explain\n  netdojo inspect capture.pcap --summary --filter 'tcp and port 7000'\n  netdojo inspect --hex '45 00 00 1c ...' --hexdump\n  netdojo inspect capture.pcap --ladder 0\n  sudo netdojo inspect --live lo --count 10"
    )]
    Inspect(InspectArgs),

    /// TCP against UDP: the same messages through the same impaired link,
    /// side by side. The link is simulated (two real TCP/IP stacks, a seeded
    /// random number generator, a virtual clock), so a run takes milliseconds
    /// and the same seed gives the same numbers.
    #[command(
        after_help = "Examples:\n  netdojo compare                                  200 × 1,000 bytes, 10% loss, 20 ms each way\n  netdojo compare --loss 30 --seed 7               heavier loss, another roll of the dice\n  netdojo compare --messages 5 --trace --pace 1s   every frame as a ladder, for a lecture\n  netdojo compare --pcap lab.pcapng                every frame, for netdojo inspect or Wireshark\n  netdojo compare --real                           the kernel's own TCP and UDP, into a slow receiver\n  netdojo compare --sweep loss=0,1,5,10,20,30 --svg loss.svg   a trend over 5 seeds per value"
    )]
    Compare(CompareArgs),

    /// WebSocket chat in the spirit of socket.io: one port serves the web
    /// page and upgrades to a WebSocket; rooms, events, acknowledgements and
    /// recovery of missed messages.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  netdojo ws demo                                    server and scripted clients in one process\n  netdojo ws serve                                   then open http://127.0.0.1:9001/\n  netdojo ws chat ws://127.0.0.1:9001/ws --name ada  a terminal client, in another terminal"
    )]
    Ws(WsCommand),

    /// A message queue: producers and consumers decoupled by a broker that
    /// keeps each message until a consumer acknowledges it, next to plain
    /// pub/sub, which keeps nothing.
    #[command(
        subcommand,
        after_help = "Examples:\n  netdojo queue demo                            pub/sub against a queue, a crash and a redelivery\n  netdojo queue serve                           a broker on 127.0.0.1:9002, in memory\n  netdojo queue serve --data-dir ./q            ... on disk: stored means it survives kill -9\n  netdojo queue produce orders 'order 1' 'order 2'\n  netdojo queue consume orders --group billing"
    )]
    Queue(QueueCommand),

    /// Prints a completion script for a shell to stdout: Tab then completes
    /// netdojo's commands, flags and their values.
    #[command(
        after_help = "Examples (install once, then open a new shell):\n  bash:        netdojo completions bash > ~/.local/share/bash-completion/completions/netdojo\n  zsh:         netdojo completions zsh > ~/.zfunc/_netdojo\n               (and in ~/.zshrc, before compinit: fpath+=~/.zfunc)\n  fish:        netdojo completions fish > ~/.config/fish/completions/netdojo.fish\n  PowerShell:  netdojo completions powershell >> $PROFILE\n  elvish:      netdojo completions elvish >> ~/.config/elvish/rc.elv"
    )]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Prints netdojo's manual page (roff) to stdout, or writes one page per
    /// command into a directory.
    #[command(
        after_help = "Examples:\n  netdojo man | man -l -                     read it now\n  netdojo man --dir ~/.local/share/man/man1   netdojo.1, netdojo-tcp.1, netdojo-tcp-serve.1, ...\n  man netdojo-tcp-serve                       once the directory is on MANPATH"
    )]
    Man {
        /// Write `netdojo.1` and a page for every subcommand
        /// (`netdojo-tcp-serve.1`, ...) here, creating the directory if needed.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

/// `netdojo queue ...`.
#[derive(Subcommand, Debug)]
pub enum QueueCommand {
    /// The broker: named queues, consumer groups, acknowledgements,
    /// redelivery; and topics for plain pub/sub. One WebSocket per client.
    #[command(
        after_help = "Examples:\n  netdojo queue serve                                  in memory, on 127.0.0.1:9002\n  netdojo queue serve --data-dir ./queue-data          durable: survives kill -9\n  netdojo queue serve --redis redis://127.0.0.1:6379/  Redis Streams: several brokers, one queue\n  netdojo -v queue serve --ack-timeout 5s              every message stored, delivered, acknowledged"
    )]
    Serve(QueueServeArgs),

    /// Sends messages to a queue: the arguments, or else one per line of
    /// stdin. Each is reported once the broker has stored it.
    #[command(
        after_help = "Examples:\n  netdojo queue produce orders 'order 1' 'order 2'\n  seq 1 100 | netdojo queue produce orders\n  netdojo queue produce --topic news 'hello, whoever is listening'"
    )]
    Produce(QueueProduceArgs),

    /// Takes messages from a queue, one group's share, and acknowledges each
    /// after handling it.
    #[command(
        after_help = "Examples:\n  netdojo queue consume orders\n  netdojo queue consume orders --group billing --prefetch 1 --work 200ms\n  netdojo queue consume orders --crash-after 3     handle 3, then die before acknowledging the 3rd\n  netdojo queue consume --topic news               plain pub/sub: only what is published while connected"
    )]
    Consume(QueueConsumeArgs),

    /// What the broker holds: per queue and group, backlog, in flight,
    /// acknowledged, redelivered; and the consumers connected.
    #[command(after_help = "Example:\n  netdojo queue stats --broker 127.0.0.1:9002")]
    Stats {
        /// The broker's address.
        #[arg(long, default_value = "127.0.0.1:9002")]
        broker: Endpoint,
    },

    /// One process, side by side: plain pub/sub against a queue while a
    /// consumer is away; then a consumer that crashes before acknowledging,
    /// the redelivery, and why consumers must be idempotent.
    #[command(after_help = "Example:\n  netdojo queue demo --pace 800ms")]
    Demo,
}

/// `netdojo queue serve`.
#[derive(Args, Debug, Clone)]
pub struct QueueServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9002")]
    pub listen: Endpoint,
    /// Keep messages on disk here (an embedded crash-safe database): a
    /// message acknowledged to its producer survives the broker being killed.
    #[arg(long, value_name = "DIR", conflicts_with = "redis")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Keep messages in Redis Streams at this URL, so that several brokers
    /// can serve one queue.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// A message unacknowledged this long goes to another consumer.
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_positive_duration)]
    pub ack_timeout: Duration,
    /// Clients connected at once; the next gets HTTP 503.
    #[arg(long, default_value_t = crate::queue::limits::MAX_CLIENTS)]
    pub max_clients: usize,
}

/// `netdojo queue produce`.
#[derive(Args, Debug, Clone)]
pub struct QueueProduceArgs {
    /// The queue (kept until acknowledged).
    #[arg(required_unless_present = "topic", conflicts_with = "topic")]
    pub queue: Option<String>,
    /// The messages; without any, one per line of stdin.
    pub messages: Vec<String>,
    /// Publish to this pub/sub topic instead: only subscribers connected now get it.
    #[arg(long)]
    pub topic: Option<String>,
    /// The broker's address.
    #[arg(long, default_value = "127.0.0.1:9002")]
    pub broker: Endpoint,
}

/// `netdojo queue consume`.
#[derive(Args, Debug, Clone)]
pub struct QueueConsumeArgs {
    /// The queue.
    #[arg(required_unless_present = "topic", conflicts_with = "topic")]
    pub queue: Option<String>,
    /// The consumer group: within a group each message goes to one consumer;
    /// every group gets every message.
    #[arg(long, default_value = crate::queue::protocol::DEFAULT_GROUP)]
    pub group: String,
    /// Messages this consumer may hold unacknowledged at once.
    #[arg(long, default_value_t = crate::queue::limits::DEFAULT_PREFETCH)]
    pub prefetch: usize,
    /// Time spent handling each message before acknowledging it.
    #[arg(long, value_name = "DUR", default_value = "0", value_parser = parse_duration)]
    pub work: Duration,
    /// Stop after acknowledging this many messages.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Handle N messages, then exit abruptly before acknowledging the Nth:
    /// a crash after the work and before the ack, for demonstrations.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub crash_after: Option<u64>,
    /// Subscribe to this pub/sub topic instead of consuming a queue.
    #[arg(long)]
    pub topic: Option<String>,
    /// The broker's address.
    #[arg(long, default_value = "127.0.0.1:9002")]
    pub broker: Endpoint,
}

/// `netdojo ws ...`.
#[derive(Subcommand, Debug)]
pub enum WsCommand {
    /// The chat server: the page at `/` and the WebSocket at `/ws`, on one
    /// port. With -v it narrates the HTTP upgrade and every frame.
    #[command(
        after_help = "Examples:\n  netdojo ws serve                       then open http://127.0.0.1:9001/\n  netdojo -v ws serve --listen 127.0.0.1:0\n  netdojo ws chat ws://127.0.0.1:9001/ws --name ada"
    )]
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:9001")]
        listen: Endpoint,
        /// Clients connected at once; the next upgrade gets HTTP 503.
        #[arg(long, default_value_t = crate::ws::limits::MAX_CLIENTS, value_parser = clap::value_parser!(usize))]
        max_clients: usize,
        /// Do not replay missed messages on resume: a returning client is
        /// told how many it missed, and that is all.
        #[arg(long)]
        no_recovery: bool,
        /// Events per second one client may send on average (bursts of 40);
        /// 0 turns the limit off, for a benchmark's single sender.
        #[arg(long, value_name = "PER_SEC", default_value_t = crate::ws::limits::RATE_PER_SEC)]
        rate_limit: u32,
        /// How often the server pings each client (the session's heartbeat).
        #[arg(long, value_name = "DUR", default_value = "15s", value_parser = parse_positive_duration)]
        heartbeat: Duration,
        /// Silence after which a client is presumed gone and dropped; at
        /// least one heartbeat.
        #[arg(long, value_name = "DUR", default_value = "40s", value_parser = parse_positive_duration)]
        heartbeat_timeout: Duration,
    },

    /// A terminal chat client: lines from stdin go to the room; /join R,
    /// /leave R, /w NAME TEXT, /who, /quit. Reconnects by itself and
    /// recovers what it missed.
    #[command(
        after_help = "Examples:\n  netdojo ws chat ws://127.0.0.1:9001/ws --name ada\n  echo hello | netdojo ws chat ws://127.0.0.1:9001/ws --name bob --room lobby"
    )]
    Chat(WsChatArgs),

    /// Server and three scripted clients in one process: the upgrade, frames
    /// (masked from clients, not from the server), a room, a broadcast, an
    /// ack, a client that drops off and recovers what it missed, and the
    /// same without recovery.
    #[command(after_help = "Example:\n  netdojo ws demo --pace 800ms")]
    Demo,

    /// A transparent TCP proxy in front of any WebSocket server: prints the
    /// HTTP upgrade and every frame in both directions.
    #[command(
        after_help = "Example:\n  netdojo ws serve --listen 127.0.0.1:9001\n  netdojo ws tap --listen 127.0.0.1:9011 --upstream 127.0.0.1:9001\n  then open http://127.0.0.1:9011/"
    )]
    Tap {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:9011")]
        listen: Endpoint,
        /// The WebSocket server to forward to.
        #[arg(long)]
        upstream: Endpoint,
    },
}

/// `netdojo ws chat`.
#[derive(Args, Debug, Clone)]
pub struct WsChatArgs {
    /// The server's WebSocket URL, e.g. ws://127.0.0.1:9001/ws.
    pub url: String,
    /// Your name in the chat (unique among those connected).
    #[arg(long)]
    pub name: String,
    /// The room to join first.
    #[arg(long, default_value = "lobby")]
    pub room: String,
}

/// `netdojo compare`.
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// Chance that the link loses a frame, in percent (0 to 100).
    #[arg(long, value_name = "PCT", default_value = "10", value_parser = crate::lab::settings::parse_percent, allow_hyphen_values = true)]
    pub loss: f64,
    /// One-way delay of the link (e.g. 20ms, 0).
    #[arg(long, value_name = "DUR", default_value = "20ms", value_parser = crate::lab::settings::parse_delay, allow_hyphen_values = true)]
    pub delay: Duration,
    /// Extra delay per frame, from 0 up to this; never reorders by itself.
    #[arg(long, value_name = "DUR", default_value = "0", value_parser = crate::lab::settings::parse_delay, allow_hyphen_values = true)]
    pub jitter: Duration,
    /// Chance that a frame arrives twice, in percent.
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = crate::lab::settings::parse_percent, allow_hyphen_values = true)]
    pub duplicate: f64,
    /// Chance that a frame is held back and overtaken, in percent.
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = crate::lab::settings::parse_percent, allow_hyphen_values = true)]
    pub reorder: f64,
    /// Chance that one bit of a frame is flipped, in percent.
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = crate::lab::settings::parse_percent, allow_hyphen_values = true)]
    pub corrupt: f64,
    /// The link's rate (10mbit, 512kbit, 1gbit) or unlimited.
    #[arg(long, value_name = "RATE", default_value = "10mbit", value_parser = parse_bandwidth)]
    pub bandwidth: Bandwidth,
    /// Seed for every random choice: the same seed gives the same run
    /// (0 to 18,446,744,073,709,551,615).
    #[arg(long, value_name = "N", default_value = "1", value_parser = crate::lab::settings::parse_seed, allow_hyphen_values = true)]
    pub seed: u64,
    /// How many messages to send (1 to 100,000).
    #[arg(long, value_name = "N", default_value = "200", value_parser = crate::lab::settings::parse_messages, allow_hyphen_values = true)]
    pub messages: u64,
    /// Bytes per message (20 to 1,472: one message, one frame).
    #[arg(long, value_name = "BYTES", default_value = "1000", value_parser = crate::lab::settings::parse_message_size, allow_hyphen_values = true)]
    pub size: usize,
    /// Draw every frame on the link as a ladder between the two hosts.
    #[arg(long)]
    pub trace: bool,
    /// Save every frame that entered the link to a pcapng file; what the link
    /// did to each (lost, duplicated, ...) is in the frame's comment.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<std::path::PathBuf>,
    /// Use this machine's own TCP and UDP on 127.0.0.1 instead of the
    /// simulation, into a receiver slower than its sender: UDP loses what
    /// overflows its receive buffer, TCP makes the sender wait.
    #[arg(long, conflicts_with_all = ["loss", "delay", "jitter", "duplicate", "reorder", "corrupt", "bandwidth", "seed", "trace", "pcap"])]
    pub real: bool,
    /// Repeat the comparison over several values of one setting, e.g.
    /// loss=0,1,5,10,20,30 (any of loss, delay, jitter, duplicate, reorder,
    /// corrupt, bandwidth, messages, size), with --seeds seeds per value.
    #[arg(long, value_name = "PARAM=V1,V2,...", value_parser = crate::lab::sweep::parse_sweep, conflicts_with_all = ["trace", "pcap", "real"])]
    pub sweep: Option<crate::lab::sweep::Sweep>,
    /// Seeds per value of a sweep (from --seed on), 1 to 50.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=crate::lab::sweep::MAX_SEEDS), allow_hyphen_values = true, requires = "sweep")]
    pub seeds: u64,
    /// Also draw the sweep as an SVG chart, for slides.
    #[arg(long, value_name = "FILE.svg", requires = "sweep")]
    pub svg: Option<std::path::PathBuf>,
}

/// A link rate in bits per second; `None` is unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bandwidth(pub Option<u64>);

fn parse_bandwidth(s: &str) -> Result<Bandwidth, String> {
    crate::lab::settings::parse_bandwidth(s).map(Bandwidth)
}

/// `netdojo inspect`.
#[derive(Args, Debug, Clone, Default)]
pub struct InspectArgs {
    /// A pcap or pcapng file; `-` reads one from stdin.
    #[arg(conflicts_with_all = ["hex", "example", "live"])]
    pub file: Option<std::path::PathBuf>,
    /// One frame as hex ("45 00 ...", "45:00:...", or "4500..."), read as
    /// Ethernet unless it starts like an IP packet.
    #[arg(long, conflicts_with_all = ["example", "live"])]
    pub hex: Option<String>,
    /// A built-in example frame (`list` lists them).
    #[arg(long, value_name = "NAME", conflicts_with = "live")]
    pub example: Option<String>,
    /// Capture from a network interface (Linux; needs root or CAP_NET_RAW).
    #[arg(long, value_name = "IFACE")]
    pub live: Option<String>,
    /// Stop after this many frames.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Also save the frames read (or captured) to a pcap file.
    #[arg(long, value_name = "FILE.pcap")]
    pub write: Option<std::path::PathBuf>,
    /// Only frames matching this expression (see `netdojo lesson packets`):
    /// protocol names, `port N`, `host ADDR`, `and`, `or`, `not`, parentheses.
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// One line per frame, like tcpdump.
    #[arg(long, conflicts_with_all = ["hexdump", "follow", "ladder", "stats"])]
    pub summary: bool,
    /// The frame's bytes: offset, hex and ASCII, each byte coloured by layer.
    #[arg(long)]
    pub hexdump: bool,
    /// Add a sentence for a learner to every field.
    #[arg(long)]
    pub explain: bool,
    /// Reassemble TCP stream N (both directions), like "Follow TCP Stream".
    #[arg(long, value_name = "N", conflicts_with_all = ["ladder", "stats"])]
    pub follow: Option<u64>,
    /// Draw a ladder diagram of TCP stream N (default 0).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "0", conflicts_with = "stats")]
    pub ladder: Option<u64>,
    /// Protocol hierarchy and conversations, with packet and byte counts.
    #[arg(long)]
    pub stats: bool,
}

#[derive(Subcommand, Debug)]
pub enum TcpCommand {
    /// An echo server: every byte a client sends comes back.
    ///
    /// Reports each connection's handshake, bytes echoed, the client's
    /// half-close, the close, and (on Linux) what the kernel measured.
    #[command(
        after_help = "Example:\n  netdojo tcp serve --listen 127.0.0.1:7000\n  then, in another terminal: netdojo tcp connect 127.0.0.1:7000"
    )]
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:7000")]
        listen: Endpoint,
    },

    /// A client: sends lines, prints what comes back and each round-trip time.
    ///
    /// Lines come from --send, or from stdin (typed or piped).
    #[command(
        after_help = "Examples:\n  netdojo tcp connect 127.0.0.1:7000 --send hello --send world\n  echo hello | netdojo tcp connect 127.0.0.1:7000"
    )]
    Connect {
        /// The server's address.
        addr: Endpoint,
        /// A line to send (repeat for several); without it, stdin is read.
        #[arg(long, value_name = "TEXT")]
        send: Vec<String>,
    },

    /// Server and client in one process, narrated: handshake, stream without
    /// message boundaries, half-close, and what the kernel measured.
    #[command(after_help = "Example:\n  netdojo tcp demo --pace 800ms")]
    Demo,
}

#[derive(Subcommand, Debug)]
pub enum UdpCommand {
    /// A receiver that counts each sender's datagrams, and the lost, reordered
    /// and duplicated ones among netdojo's numbered datagrams.
    #[command(
        after_help = "Example:\n  netdojo udp serve --listen 127.0.0.1:7001\n  then: netdojo udp send 127.0.0.1:7001 --count 1000   or: nc -u 127.0.0.1 7001"
    )]
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:7001")]
        listen: Endpoint,
        /// Send every datagram back to its sender.
        #[arg(long)]
        echo: bool,
    },

    /// Sends numbered datagrams and summarises what was sent.
    #[command(
        after_help = "Example:\n  netdojo udp send 127.0.0.1:7001 --count 1000 --size 512 --rate 500/s"
    )]
    Send(UdpSendArgs),

    /// Receiver and sender in one process, narrated: boundaries kept, no
    /// handshake, an unreachable port, and a burst the kernel really drops.
    #[command(after_help = "Example:\n  netdojo udp demo --pace 800ms")]
    Demo,

    /// A lossy relay to put between two real UDP programs: every datagram
    /// crosses the same simulated link as `netdojo compare`, on the wall clock.
    #[command(
        after_help = "Example:\n  netdojo udp serve --listen 127.0.0.1:7001\n  netdojo udp relay --listen 127.0.0.1:7002 --to 127.0.0.1:7001 --loss 10 --delay 20ms\n  netdojo udp send 127.0.0.1:7002 --count 1000"
    )]
    Relay(UdpRelayArgs),
}

/// `netdojo udp relay`: where to listen, where to send, and the link's
/// impairments (none unless asked for).
#[derive(Args, Debug, Clone)]
pub struct UdpRelayArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7002")]
    pub listen: Endpoint,
    /// Where every datagram goes on to (a `netdojo udp serve`, say).
    #[arg(long)]
    pub to: Endpoint,
    /// Chance that the link loses a datagram, in percent (0 to 100).
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = crate::lab::settings::parse_percent, allow_hyphen_values = true)]
    pub loss: f64,
    /// One-way delay of the link (e.g. 20ms, 0).
    #[arg(long, value_name = "DUR", default_value = "0", value_parser = crate::lab::settings::parse_delay, allow_hyphen_values = true)]
    pub delay: Duration,
    /// Extra delay per datagram, from 0 up to this; never reorders by itself.
    #[arg(long, value_name = "DUR", default_value = "0", value_parser = crate::lab::settings::parse_delay, allow_hyphen_values = true)]
    pub jitter: Duration,
    /// Chance that a datagram arrives twice, in percent.
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = crate::lab::settings::parse_percent, allow_hyphen_values = true)]
    pub duplicate: f64,
    /// Chance that a datagram is held back and overtaken, in percent.
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = crate::lab::settings::parse_percent, allow_hyphen_values = true)]
    pub reorder: f64,
    /// Chance that one bit of a datagram is flipped, in percent (the relay
    /// sends it on with a fresh checksum: the receiver cannot tell).
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = crate::lab::settings::parse_percent, allow_hyphen_values = true)]
    pub corrupt: f64,
    /// The link's rate (10mbit, 512kbit, 1gbit) or unlimited.
    #[arg(long, value_name = "RATE", default_value = "unlimited", value_parser = parse_bandwidth)]
    pub bandwidth: Bandwidth,
    /// Seed for the link's random choices (0 to 18,446,744,073,709,551,615).
    #[arg(long, value_name = "N", default_value = "1", value_parser = crate::lab::settings::parse_seed, allow_hyphen_values = true)]
    pub seed: u64,
}

/// `netdojo udp send`.
#[derive(Args, Debug)]
pub struct UdpSendArgs {
    /// The receiver's address.
    pub addr: Endpoint,
    /// How many datagrams to send.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// Bytes per datagram (UDP payload), from 20 (netdojo's header) to 65,507.
    #[arg(long, default_value_t = 64, value_parser = parse_datagram_size)]
    pub size: usize,
    /// Datagrams per second (`500/s`, `500`) or `max`.
    #[arg(long, default_value = "1000/s", value_parser = parse_rate)]
    pub rate: Rate,
}

/// How fast `udp send` sends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// This many datagrams per second.
    PerSecond(u64),
    /// As fast as the kernel takes them.
    Max,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 800ms, 2s, 0)"))
}

fn parse_section(s: &str) -> Result<crate::tour::Section, String> {
    crate::tour::parse_section(s)
}

fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err("must be more than 0".to_string()),
        d => Ok(d),
    }
}

fn parse_rate(s: &str) -> Result<Rate, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    let n = s.strip_suffix("/s").unwrap_or(s);
    match n.parse::<u64>() {
        Ok(0) | Err(_) => Err(format!(
            "'{s}' is not a rate: use datagrams per second (like 500/s) or max"
        )),
        Ok(n) => Ok(Rate::PerSecond(n)),
    }
}

fn parse_datagram_size(s: &str) -> Result<usize, String> {
    let size: usize = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of bytes"))?;
    crate::udp::wire::check_payload_size(size)
}

/// The completion script for `shell`: what `netdojo completions SHELL` prints.
pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    use clap::CommandFactory;
    // Into memory first: clap_complete panics on a failed write, and a
    // closed stdout (`| head`) must end the program quietly.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "netdojo", &mut script);
    script
}

/// The top-level manual page, in roff: what `netdojo man` prints.
pub fn man_page() -> Vec<u8> {
    use clap::CommandFactory;
    let mut page = Vec::new();
    // Its list of commands points at their pages, and `help` has none.
    clap_mangen::Man::new(Cli::command().disable_help_subcommand(true))
        .render(&mut page)
        .expect("writing to memory cannot fail");
    page
}

/// Writes `netdojo.1` and one page per subcommand, named by its path
/// (`netdojo-tcp-serve.1`), into `dir`; returns the files written, the
/// program's page first.
pub fn write_man_pages(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    use clap::CommandFactory;
    fn write(
        cmd: &clap::Command,
        dir: &std::path::Path,
        written: &mut Vec<std::path::PathBuf>,
    ) -> std::io::Result<()> {
        // Every page's footer names the program, not the subcommand.
        let page = clap_mangen::Man::new(cmd.clone())
            .source(format!("netdojo {}", env!("CARGO_PKG_VERSION")));
        written.push(page.generate_to(dir)?);
        for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
            write(sub, dir, written)?;
        }
        Ok(())
    }
    std::fs::create_dir_all(dir)?;
    // Building gives each subcommand its display name (`netdojo-tcp-serve`),
    // which names its page; clap's own `help` subcommand gets none.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write(&cmd, dir, &mut written)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("max"), Ok(Rate::Max));
        assert_eq!(parse_rate("500/s"), Ok(Rate::PerSecond(500)));
        assert_eq!(parse_rate("500"), Ok(Rate::PerSecond(500)));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
    }
}
