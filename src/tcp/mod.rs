//! TCP: a reliable, ordered byte stream between two ports.
//!
//! - [`serve`]: an echo server for many clients at once.
//! - [`client`]: sends lines and times each echo.
//! - [`demo`]: both in one process, narrated.
//! - [`info`]: what the kernel knows about a connection (`TCP_INFO`).

pub mod client;
pub mod demo;
pub mod info;
pub mod server;

pub use server::{MAX_CONNECTIONS, serve};
