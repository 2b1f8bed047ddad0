//! Every limit of the message broker, each with the reason it exists.
//! Nothing a producer or consumer does can make the broker's memory grow
//! past these; a full queue pushes back on its producers instead.

use std::time::Duration;

/// Largest message body, in bytes. Queue messages are small documents (an
/// order, an event); a bigger one is refused with an error, not stored.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Largest WebSocket message a client may send: a body plus its JSON
/// envelope and escaping. Past it the connection is closed with 1009.
pub const MAX_FRAME_BYTES: usize = 2 * MAX_MESSAGE_BYTES + 1024;

/// Messages a queue keeps before producers are told it is full. A queue
/// nobody consumes must not grow without bound; "full" is back-pressure the
/// producer can see and act on.
pub const MAX_QUEUE_DEPTH: usize = 100_000;

/// Queues on one broker (in the memory and disk stores).
pub const MAX_QUEUES: usize = 1_000;

/// Consumer groups per queue: each one keeps its own cursor and in-flight set.
pub const MAX_GROUPS_PER_QUEUE: usize = 64;

/// Unacknowledged messages one consumer may hold (`--prefetch`'s ceiling).
pub const MAX_PREFETCH: usize = 1_000;

/// Default `--prefetch`: enough to keep a consumer busy while its acks travel.
pub const DEFAULT_PREFETCH: usize = 10;

/// How long a delivered message may stay unacknowledged before it is given
/// to another consumer (`--ack-timeout`'s default): a consumer that hangs
/// without disconnecting must not hold messages forever.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Clients connected at once; past it the upgrade is refused with HTTP 503.
pub const MAX_CLIENTS: usize = 1_024;

/// Longest queue, group or topic name: a name, not a payload.
pub const MAX_NAME_CHARS: usize = 64;

/// Events waiting to be written to one client. Deliveries are bounded by
/// prefetch, so only a client that stops reading fills this: it is closed.
pub const OUTBOUND_QUEUE: usize = 2 * MAX_PREFETCH + 64;

/// How long a waiting consumer sleeps in the store before looking again,
/// at most (an append wakes it sooner). Bounds how late an ack timeout is
/// noticed, and how long a Redis read blocks.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
