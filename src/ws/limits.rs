//! Every limit of the chat server, each with the reason it exists. Nothing a
//! client does can make the server's memory grow past these.

use std::time::Duration;

/// Largest WebSocket message accepted (after reassembling fragments). A chat
/// line is a few hundred bytes; anything bigger is closed with 1009.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// Longest `text` in `say`/`whisper`, in characters: long enough for a
/// paragraph, short enough that history stays small.
pub const MAX_TEXT_CHARS: usize = 2_000;

/// Longest user or room name, in characters; shown in every line.
pub const MAX_NAME_CHARS: usize = 32;

/// Messages each room keeps for recovery. A client away for longer than this
/// many messages is told how many it lost.
pub const HISTORY_PER_ROOM: usize = 100;

/// Bytes of text (sender and message) each room's history may hold, whatever
/// the count: 100 chat lines of a few hundred bytes fit, and a room flooded
/// with 2,000-character messages keeps fewer of them (at least one). Without
/// it, history alone could reach MAX_ROOMS × HISTORY_PER_ROOM × 8 KB (up to
/// 4 bytes a character): 800 MB; with it, at most 64 MiB.
pub const HISTORY_BYTES_PER_ROOM: usize = 64 * 1024;

/// Rooms on the server; an empty room without history is forgotten.
pub const MAX_ROOMS: usize = 1_000;

/// Rooms one client may be in at once.
pub const MAX_ROOMS_PER_CLIENT: usize = 32;

/// Clients connected at once (default of `--max-clients`). Beyond it the
/// upgrade is refused with HTTP 503 before any WebSocket exists.
pub const MAX_CLIENTS: usize = 4_096;

/// Events waiting to be written to one client. A client that lets this many
/// pile up is too slow to keep up: it is closed with 1008, not buffered.
pub const OUTBOUND_QUEUE: usize = 256;

/// Events per second a client may emit on average, and the burst above it.
pub const RATE_PER_SEC: u32 = 20;
pub const RATE_BURST: u32 = 40;

/// `rate_limited` errors after which the connection is closed with 1008.
pub const RATE_STRIKES: u32 = 5;

/// How often the server pings each client.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);

/// Silence after which a client is considered dead and dropped.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(40);

/// Time a client has to finish the HTTP request and send `hello`.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long Ctrl-C waits for clients to receive their close frame.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
