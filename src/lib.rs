//! # netdojo: a networking course you can run
//!
//! Every subcommand runs a real, small network program on real sockets and
//! narrates what each layer of the OSI and TCP/IP models does while it runs.
//!
//! ## The layers, and where netdojo shows them
//!
//! | OSI | layer        | TCP/IP      | in netdojo                                  |
//! |-----|--------------|-------------|---------------------------------------------|
//! | 7   | Application  | Application | echoed lines, chat events, queue messages   |
//! | 6   | Presentation | Application | text or bytes: UTF-8, JSON, masking         |
//! | 5   | Session      | Application | WebSocket sessions, resume, heartbeats      |
//! | 4   | Transport    | Transport   | ports, handshake, stream vs datagram, FIN   |
//! | 3   | Network      | Internet    | addresses, ICMP "port unreachable"          |
//! | 2   | Data link    | Link        | frames in the inspector: MACs, VLAN, ARP    |
//! | 1   | Physical     | Link        | the lab's impaired link, bytes on the wire  |
//!
//! [`layer::Layer`] is that table in code.
//!
//! ## Layout
//!
//! Data flows one way: protocol code emits facts, `report` presents them.
//!
//! - [`layer`]: the layer table.
//! - [`report`]: [`report::Observation`] (a fact at a layer, with a sentence),
//!   and the views that show it: coloured narration or JSON lines. Pacing for
//!   a lecture (`--pace`, `--step`) lives there, never in protocol code.
//! - [`tcp`]: an echo server ([`tcp::serve`]), a client, and a narrated demo of
//!   the handshake, the byte stream, half-close and the kernel's `TCP_INFO`.
//! - [`udp`]: a receiver that counts loss, reordering and duplicates by
//!   sequence number ([`udp::serve`]), a sender, and a narrated demo.
//! - [`inspect`]: any frame opened layer by layer, from a capture file, hex,
//!   a built-in example or a live interface; its views are in `report::inspect`.
//! - [`lab`]: `netdojo compare`, TCP against UDP through one simulated lossy
//!   link between two smoltcp hosts, seeded and on a virtual clock; its views
//!   (table, sentences, ladder) are in `report::lab`.
//! - [`ws`]: WebSocket chat in the spirit of socket.io: page and socket on
//!   one port, rooms, acknowledgements, recovery of missed messages, and a
//!   tap that shows every frame.
//! - [`queue`]: a message broker that keeps each message until a consumer
//!   acknowledges it (groups, prefetch, redelivery), next to plain pub/sub;
//!   its messages live behind one trait, in memory, on disk or in Redis.
//! - [`tour`]: the whole course in one run; [`lesson`]: the lessons, embedded.
//! - [`cli`], [`app`], [`endpoint`], [`error`]: the command line, from
//!   arguments to exit code; `endpoint` also holds the accept loop the TCP
//!   servers share.
//!
//! Servers are library functions taking a bound listener and a shutdown
//! future, so tests bind `127.0.0.1:0` and stop them with a channel.

// Module docs name the private constants and functions that carry each
// limit and step; `cargo doc --document-private-items` shows them as links.
#![allow(rustdoc::private_intra_doc_links)]

pub mod app;
pub mod cli;
pub mod endpoint;
pub mod error;
pub mod inspect;
pub mod lab;
pub mod layer;
pub mod lesson;
pub mod queue;
pub mod report;
pub mod tcp;
pub mod tour;
pub mod udp;
pub mod ws;
