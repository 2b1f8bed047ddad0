//! WebSocket chat in the spirit of socket.io: one port serves the web page
//! over HTTP and upgrades `/ws` to a WebSocket; JSON events, rooms, broadcast,
//! acknowledgements, and recovery of the messages a client missed.
//!
//! - [`protocol`]: the events, as documented in lesson 6.
//! - [`limits`]: every bound, with its reason.
//! - [`server`]: `netdojo ws serve`; [`chat`]: the terminal client;
//!   [`demo`]: server and three scripted clients in one process;
//!   [`tap`]: a proxy that shows the upgrade and every frame, read by
//!   [`frames`], a wire-level frame decoder.

pub mod chat;
pub mod demo;
pub mod frames;
pub mod hub;
pub mod limits;
pub mod outbox;
pub mod protocol;
pub mod server;
pub mod tap;
