//! A message queue: producers and consumers decoupled by a broker that keeps
//! each message until it is acknowledged.
//!
//! - [`store`]: where messages are kept, behind one trait: in memory, on
//!   disk (redb, crash-safe), or in Redis Streams (several brokers, one queue).
//! - [`limits`]: every bound, with its reason.

pub mod client;
pub mod demo;
pub mod limits;
pub mod protocol;
pub mod server;
pub mod store;

use std::sync::Arc;

use crate::cli::QueueServeArgs;
use crate::report::Reporter;

/// `netdojo queue serve`: binds, opens the store the flags name, serves.
pub async fn run_serve(args: &QueueServeArgs, reporter: Reporter) -> anyhow::Result<()> {
    let listener = args.listen.bind_tcp().await?;
    let options = server::ServeOptions {
        ack_timeout: args.ack_timeout,
        max_clients: args.max_clients,
    };
    let shutdown = crate::app::shutdown_signal();
    match (&args.data_dir, &args.redis) {
        (None, None) => {
            let store = Arc::new(store::memory::MemoryStore::new());
            server::serve(listener, store, options, reporter, shutdown).await
        }
        (Some(dir), None) => {
            let store = store::disk::DiskStore::open(dir).map_err(|e| {
                anyhow::anyhow!("cannot open the queue store in {}: {e}", dir.display())
            })?;
            server::serve(listener, Arc::new(store), options, reporter, shutdown).await
        }
        (None, Some(url)) => {
            let store = store::redis::RedisStore::connect(url)
                .await
                .map_err(|e| anyhow::anyhow!("cannot use Redis at {url}: {e}"))?;
            server::serve(listener, Arc::new(store), options, reporter, shutdown).await
        }
        (Some(_), Some(_)) => Err(crate::error::UsageError(
            "--data-dir and --redis are two places to keep messages; choose one".into(),
        )
        .into()),
    }
}
