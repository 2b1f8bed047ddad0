//! The queue in Redis Streams, so that several brokers on several machines
//! serve one queue: every piece of shared state is in Redis, none in a
//! broker. Two brokers pointed at one Redis are interchangeable; a consumer
//! may leave through one and its messages go out again through the other.
//!
//! ## Keys (under a namespace, `netdojo` unless told otherwise)
//!
//! - `NS:q:QUEUE`: the queue, a stream. Each entry has the fields `body`
//!   and `stored_ms`; its id, given by XADD, is the [`MessageId`].
//! - `NS:counts:QUEUE`: a hash of counters every broker sees the same:
//!   `acked:GROUP`, `redeliveries:GROUP`, and `claim-cursor:GROUP` (where
//!   the search for due messages goes on next time, see below).
//! - `NS:queues`: a set of queue names, for [`Store::stats`] and the
//!   [`MAX_QUEUES`] bound.
//!
//! ## Commands
//!
//! Each operation is one small Lua script (EVALSHA), so that what two
//! brokers do at the same moment cannot interleave inside it:
//!
//! - append: XLEN, then XADD unless the queue holds [`MAX_QUEUE_DEPTH`]
//!   messages. Check and add are one step, so brokers cannot overfill a
//!   queue between them. A batch ([`Store::append_batch`], one producer's
//!   pipelined messages) is one script: the same checks, one XADD each.
//! - join: XGROUP CREATE ... 0 MKSTREAM: the group starts at the oldest
//!   message kept, as the model says.
//! - deliver: released messages first (XPENDING of [`RELEASED`], XCLAIM),
//!   then XAUTOCLAIM with min-idle = the ack timeout for those that waited
//!   too long (either way the delivery counter in the pending list goes
//!   up, and XPENDING's times-delivered gives [`Delivery::deliveries`]);
//!   then XREADGROUP `>` for new ones (counter 1). With nothing to hand
//!   out, the broker waits in XREADGROUP ... BLOCK on a connection of its
//!   own (below).
//! - ack: XACK, and HINCRBY of `acked:GROUP` when it was pending. The acks
//!   a consumer sends together ([`Store::ack_batch`]) are one script: an
//!   XACK each, one HINCRBY.
//! - release: XPENDING for the consumer, then XCLAIM ... TIME 0 JUSTID of
//!   its messages to a placeholder consumer, [`RELEASED`], where the next
//!   delivery on any broker finds them without a search. "Last delivered
//!   at the Unix epoch" also makes them due for any ack timeout, should
//!   anything else look (XCLAIM's IDLE would do, but an IDLE larger than
//!   Redis's clock is silently reset to 0); JUSTID leaves their delivery
//!   counter alone (the claim that hands them out adds the one). The
//!   consumer is then deleted (XGROUP DELCONSUMER), so the group's
//!   consumer list does not grow with every connection ever made.
//!
//! ## Trimming
//!
//! A message every group has acknowledged is removed: XTRIM MINID to the
//! lowest id some group still needs (its oldest pending message, or the
//! one after its last-delivered-id). That asks every group (XINFO GROUPS,
//! XPENDING), so it runs on every [`TRIM_EVERY`]th ack of a group, when a
//! queue is full (before saying so) and in `stats`; not on each ack. A
//! queue with no group keeps everything.
//!
//! ## Connections
//!
//! One multiplexed connection carries every command from every task. A
//! blocking XREADGROUP cannot share it (Redis answers a connection's
//! commands in order, so everything behind the BLOCK would wait), so each
//! waiting consumer borrows a connection of its own from a pool of at most
//! [`MAX_BLOCKING_READS`]; past that it polls every [`POLL_INTERVAL`]. A
//! read blocks for at most [`POLL_INTERVAL`], after which the due messages
//! are looked for again: that bounds how late an ack timeout or a release
//! on another broker is noticed.
//!
//! ## What is not atomic between brokers
//!
//! - A consumer released while its broker is inside a blocking read may
//!   still be handed a message by that read; the message then waits for
//!   the ack timeout.
//! - The search for messages past their ack timeout looks at `10 × max`
//!   pending entries per delivery (up to [`CLAIM_ROUNDS`] times that when
//!   it would otherwise hand out nothing), going on from a cursor every
//!   broker shares: in a long pending list such a message may wait some
//!   deliveries to be found, and new messages may go out before it.
//!   (Released messages are not searched for: they go first, at once.)
//! - Counters and the stats read are snapshots; the two trims that two
//!   brokers may run at once are each atomic and agree.
//!
//! One Redis (with replicas if you like), not Redis Cluster: a script
//! touches a queue's stream, its counters and the registry, which Cluster
//! would put on different nodes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ::redis::aio::MultiplexedConnection;
use ::redis::streams::{StreamInfoGroupsReply, StreamReadReply};
use ::redis::{
    AsyncConnectionConfig, Client, ErrorKind, FromRedisValue, RedisError, ServerErrorKind, Value,
};
use tokio::sync::Semaphore;

use super::{Delivery, GroupStats, MessageId, QueueStats, Store, StoreError};
use crate::queue::limits::{
    MAX_GROUPS_PER_QUEUE, MAX_PREFETCH, MAX_QUEUE_DEPTH, MAX_QUEUES, POLL_INTERVAL,
};

/// The key prefix unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "netdojo";

/// Blocking reads one broker keeps open at once. Each holds a Redis
/// connection (a Redis client, a socket) for as long as its consumer waits;
/// a thousand idle consumers must not mean a thousand connections. Past
/// this, a waiting consumer looks again every [`POLL_INTERVAL`] instead.
pub const MAX_BLOCKING_READS: usize = 64;

/// The consumer that holds released messages until another takes them: a
/// name the broker does not give consumers.
pub const RELEASED: &str = "netdojo:released";

/// How long reaching Redis may take before the store says it cannot.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one command may take. The scripts are short and bounded; past
/// this Redis is stuck or unreachable, and the operation fails.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A group trims its queue on every this many acknowledgements: trimming
/// asks every group where it is, too much work for every ack. What it
/// leaves meanwhile is bounded by this, and a full queue trims at once.
const TRIM_EVERY: u64 = 64;

/// XAUTOCLAIM calls per delivery that would otherwise hand out nothing.
/// Each call looks at up to 10 × COUNT pending entries (Redis's bound) and
/// checks that each still exists in the stream, which costs about a
/// microsecond apiece: a delivery with messages to hand out makes one call,
/// one about to leave its consumer waiting makes up to this many, so a
/// delivery looks at no more than `10 × max × CLAIM_ROUNDS` entries however
/// long the pending list.
const CLAIM_ROUNDS: u32 = 8;

/// Pending entries a release moves per XCLAIM.
const RELEASE_BATCH: usize = 500;

/// Shared by every script: reading Redis's flat replies, comparing ids,
/// trimming, and the queue registry.
const LUA_HELPERS: &str = r#"
local function field(flat, name)
  for i = 1, #flat, 2 do
    if flat[i] == name then return flat[i + 1] end
  end
  return nil
end

local function parse_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

local function id_below(a, b)
  local am, as = parse_id(a)
  local bm, bs = parse_id(b)
  return am < bm or (am == bm and as < bs)
end

-- Removes the messages every group has acknowledged: those below the
-- lowest id some group still needs. No group: keeps everything.
local function trim(key)
  if redis.call('EXISTS', key) == 0 then return -1 end
  local groups = redis.call('XINFO', 'GROUPS', key)
  if #groups == 0 then return 0 end
  local floor = nil
  for _, g in ipairs(groups) do
    local need
    local pending = redis.call('XPENDING', key, field(g, 'name'))
    if pending[1] > 0 then
      need = pending[2]
    else
      local ms, seq = parse_id(field(g, 'last-delivered-id'))
      need = string.format('%.0f-%.0f', ms, seq + 1)
    end
    if floor == nil or id_below(need, floor) then floor = need end
  end
  return redis.call('XTRIM', key, 'MINID', floor)
end

local function register(registry, queue, max_queues)
  if redis.call('SISMEMBER', registry, queue) == 1 then return true end
  if redis.call('SCARD', registry) >= max_queues then return false end
  redis.call('SADD', registry, queue)
  return true
end
"#;

/// KEYS: stream, registry. ARGV: queue, body, max depth, max queues.
const LUA_APPEND: &str = r#"
if not register(KEYS[2], ARGV[1], tonumber(ARGV[4])) then return {'too-many-queues'} end
local max_depth = tonumber(ARGV[3])
local depth = redis.call('XLEN', KEYS[1])
if depth >= max_depth then
  trim(KEYS[1])
  depth = redis.call('XLEN', KEYS[1])
  if depth >= max_depth then return {'full', depth} end
end
local now = redis.call('TIME')
local ms = string.format('%.0f', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
local id = redis.call('XADD', KEYS[1], '*', 'body', ARGV[2], 'stored_ms', ms)
return {'ok', id}
"#;

/// KEYS: stream, registry. ARGV: queue, max depth, max queues, then one
/// body each. As LUA_APPEND once per body, in one script: one round trip
/// and one script run for a producer's pipelined messages. Returns
/// {'too-many-queues'}, or 'ok', id or 'full', depth for each body in turn.
const LUA_APPEND_BATCH: &str = r#"
if not register(KEYS[2], ARGV[1], tonumber(ARGV[3])) then return {'too-many-queues'} end
local max_depth = tonumber(ARGV[2])
local depth = redis.call('XLEN', KEYS[1])
local now = redis.call('TIME')
local ms = string.format('%.0f', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
local out, trimmed = {}, false
for i = 4, #ARGV do
  -- Nothing is acknowledged while a script runs: one trim is all it takes.
  if depth >= max_depth and not trimmed then
    trim(KEYS[1])
    trimmed = true
    depth = redis.call('XLEN', KEYS[1])
  end
  if depth >= max_depth then
    out[#out + 1] = 'full'
    out[#out + 1] = depth
  else
    out[#out + 1] = 'ok'
    out[#out + 1] = redis.call('XADD', KEYS[1], '*', 'body', ARGV[i], 'stored_ms', ms)
    depth = depth + 1
  end
end
return out
"#;

/// KEYS: stream, registry. ARGV: queue, group, max queues, max groups.
const LUA_JOIN: &str = r#"
if not register(KEYS[2], ARGV[1], tonumber(ARGV[3])) then return {'too-many-queues'} end
if redis.call('EXISTS', KEYS[1]) == 1 then
  local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
  for _, g in ipairs(groups) do
    if field(g, 'name') == ARGV[2] then return {'ok'} end
  end
  if #groups >= tonumber(ARGV[4]) then return {'too-many-groups'} end
end
redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[2], '0', 'MKSTREAM')
return {'ok'}
"#;

/// KEYS: stream, counts. ARGV: group, consumer, max, min idle (ms), rounds,
/// the placeholder consumer of released messages.
/// Returns {'nogroup'} or {'ok', id, body, stored_ms, deliveries, ...}.
const LUA_TAKE: &str = r#"
local group, consumer = ARGV[1], ARGV[2]
local max, rounds = tonumber(ARGV[3]), tonumber(ARGV[5])
local out = {'ok'}
local function push(entry, deliveries)
  local fields = entry[2] or {}
  out[#out + 1] = entry[1]
  out[#out + 1] = field(fields, 'body') or ''
  out[#out + 1] = field(fields, 'stored_ms') or string.match(entry[1], '^(%d+)')
  out[#out + 1] = deliveries
end

local seen, claimed = {}, 0

-- Released first: they wait under their own consumer, so they are found at
-- once however long the pending list.
local parked = redis.pcall('XPENDING', KEYS[1], group, '-', '+', max, ARGV[6])
if type(parked) == 'table' and parked.err then
  if string.find(parked.err, 'NOGROUP', 1, true) then return {'nogroup'} end
  return parked
end
if #parked > 0 then
  local times, take = {}, {'XCLAIM', KEYS[1], group, consumer, '0'}
  for _, p in ipairs(parked) do
    times[p[1]] = p[4]
    take[#take + 1] = p[1]
  end
  for _, entry in ipairs(redis.call(unpack(take))) do
    if entry then
      seen[entry[1]] = true
      claimed = claimed + 1
      push(entry, times[entry[1]] + 1)
    end
  end
end

-- Then those that waited longer than the ack timeout. XAUTOCLAIM goes on
-- from a cursor shared by every broker; each call looks at up to
-- 10 x COUNT pending entries.
local cursor_field = 'claim-cursor:' .. group
local from = redis.call('HGET', KEYS[2], cursor_field) or '0-0'
local cursor, wrapped = from, from == '0-0'
local function claim(calls)
  for _ = 1, calls do
    if claimed >= max then return nil end
    local r = redis.pcall('XAUTOCLAIM', KEYS[1], group, consumer, ARGV[4], cursor,
      'COUNT', max - claimed)
    if type(r) == 'table' and r.err then return r end
    cursor = r[1]
    for _, entry in ipairs(r[2]) do
      -- (false: a message deleted while pending, on Redis 6.2)
      if entry and not seen[entry[1]] then
        seen[entry[1]] = true
        claimed = claimed + 1
        local p = redis.call('XPENDING', KEYS[1], group, entry[1], entry[1], 1)
        push(entry, p[1][4])
      end
    end
    if cursor == '0-0' then
      if wrapped then return nil end
      wrapped = true
    end
  end
  return nil
end
local failed = claim(1)

-- Then new ones.
if not failed and claimed < max then
  local r = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', max - claimed,
    'STREAMS', KEYS[1], '>')
  if type(r) == 'table' and r.err then
    failed = r
  elseif r then
    for _, entry in ipairs(r[1][2]) do push(entry, 1) end
  end
end

-- Nothing at all: look further for due ones before the consumer waits.
if not failed and #out == 1 then failed = claim(rounds - 1) end
if failed then
  if string.find(failed.err, 'NOGROUP', 1, true) then return {'nogroup'} end
  return failed
end
if cursor ~= from then redis.call('HSET', KEYS[2], cursor_field, cursor) end
if claimed > 0 then redis.call('HINCRBY', KEYS[2], 'redeliveries:' .. group, claimed) end
return out
"#;

/// KEYS: stream, counts. ARGV: group, id, trim every.
const LUA_ACK: &str = r#"
local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if n == 1 then
  local acked = redis.call('HINCRBY', KEYS[2], 'acked:' .. ARGV[1], 1)
  if acked % tonumber(ARGV[3]) == 0 then trim(KEYS[1]) end
end
return n
"#;

/// KEYS: stream, counts. ARGV: group, trim every, then ids. As LUA_ACK
/// once per id, in one script; the counter goes up once, and the queue is
/// trimmed if it passed a multiple of trim-every. Returns 1 or 0 per id.
const LUA_ACK_BATCH: &str = r#"
local out, acked = {}, 0
for i = 3, #ARGV do
  local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  out[#out + 1] = n
  acked = acked + n
end
if acked > 0 then
  local total = redis.call('HINCRBY', KEYS[2], 'acked:' .. ARGV[1], acked)
  local every = tonumber(ARGV[2])
  if math.floor(total / every) > math.floor((total - acked) / every) then trim(KEYS[1]) end
end
return out
"#;

/// KEYS: stream. ARGV: group, consumer, placeholder consumer, batch.
const LUA_RELEASE: &str = r#"
local group, consumer, parked = ARGV[1], ARGV[2], ARGV[3]
if consumer == parked then return 0 end
local pending = redis.pcall('XPENDING', KEYS[1], group, '-', '+', ARGV[4], consumer)
if type(pending) == 'table' and pending.err then
  if string.find(pending.err, 'NOGROUP', 1, true) then return 0 end
  return pending
end
local released = 0
-- Bounded even if a claim were to leave an entry where it is.
for _ = 1, 10000 do
  if #pending == 0 then break end
  local claim = {'XCLAIM', KEYS[1], group, parked, '0'}
  for _, p in ipairs(pending) do claim[#claim + 1] = p[1] end
  claim[#claim + 1] = 'TIME'
  claim[#claim + 1] = '0'
  claim[#claim + 1] = 'JUSTID'
  redis.call(unpack(claim))
  released = released + #pending
  pending = redis.call('XPENDING', KEYS[1], group, '-', '+', ARGV[4], consumer)
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], group, consumer)
return released
"#;

/// KEYS: stream. Returns how many messages went, -1 if there is no stream.
const LUA_TRIM: &str = "return trim(KEYS[1])";

/// A script as Redis caches it: its source (sent again if Redis forgot
/// it) and its SHA-1 (what EVALSHA sends).
struct Script {
    source: String,
    sha: String,
}

struct Scripts {
    append: Script,
    append_batch: Script,
    join: Script,
    take: Script,
    ack: Script,
    ack_batch: Script,
    release: Script,
    trim: Script,
}

/// See the module documentation.
pub struct RedisStore {
    /// The URL with any password hidden: it goes into messages.
    url: String,
    namespace: String,
    client: Client,
    /// The connection every command but a blocking read uses; `None` after
    /// it broke, until the next operation connects again.
    shared: Mutex<Option<MultiplexedConnection>>,
    /// Connections for blocking reads, kept between reads (at most
    /// [`MAX_BLOCKING_READS`], one per permit).
    idle_readers: Mutex<Vec<MultiplexedConnection>>,
    readers: Semaphore,
    scripts: Scripts,
    /// [`MAX_QUEUE_DEPTH`]; smaller in tests.
    max_depth: usize,
}

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://HOST:PORT/DB`), keys under
    /// [`DEFAULT_NAMESPACE`].
    pub async fn connect(url: &str) -> Result<RedisStore, StoreError> {
        RedisStore::connect_with_namespace(url, DEFAULT_NAMESPACE).await
    }

    /// Connects to the Redis at `url`, keys under `namespace:`. Brokers
    /// that share queues use the same URL and namespace. Checks that the
    /// server answers and has the stream commands this store needs, and
    /// says in one line what is wrong otherwise.
    pub async fn connect_with_namespace(
        url: &str,
        namespace: &str,
    ) -> Result<RedisStore, StoreError> {
        let shown = redact(url);
        let client = Client::open(url).map_err(|e| {
            StoreError::Backend(format!("{shown:?} is not a Redis URL: {}", one_line(&e)))
        })?;
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&shared_config())
            .await
            .map_err(|e| {
                StoreError::Backend(format!("cannot reach Redis at {shown}: {}", one_line(&e)))
            })?;
        let fail = |what: &str, e: RedisError| {
            StoreError::Backend(format!("Redis at {shown}: {what}: {}", one_line(&e)))
        };
        let pong: String = ::redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| fail("no answer to PING", e))?;
        if pong != "PONG" {
            return Err(StoreError::Backend(format!(
                "{shown} answered PING with {pong:?}: is it Redis?"
            )));
        }
        let info: String = ::redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .map_err(|e| fail("INFO server", e))?;
        let version = info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or("of unknown version")
            .trim()
            .to_string();
        // XAUTOCLAIM (6.2) is the newest command used; with it come XTRIM
        // MINID and streams themselves (5.0).
        let probe: Value = ::redis::cmd("COMMAND")
            .arg("INFO")
            .arg("XAUTOCLAIM")
            .query_async(&mut conn)
            .await
            .map_err(|e| fail("COMMAND INFO", e))?;
        let has_autoclaim =
            matches!(&probe, Value::Array(v) if v.first().is_some_and(|c| *c != Value::Nil));
        if !has_autoclaim {
            return Err(StoreError::Backend(format!(
                "Redis at {shown} is {version}: netdojo needs Redis 6.2 or later \
                 (streams with XAUTOCLAIM)"
            )));
        }
        let mut load = async |body: &str| -> Result<Script, StoreError> {
            let source = format!("{LUA_HELPERS}\n{body}");
            let sha: String = ::redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(&source)
                .query_async(&mut conn)
                .await
                .map_err(|e| fail("SCRIPT LOAD", e))?;
            Ok(Script { source, sha })
        };
        let scripts = Scripts {
            append: load(LUA_APPEND).await?,
            append_batch: load(LUA_APPEND_BATCH).await?,
            join: load(LUA_JOIN).await?,
            take: load(LUA_TAKE).await?,
            ack: load(LUA_ACK).await?,
            ack_batch: load(LUA_ACK_BATCH).await?,
            release: load(LUA_RELEASE).await?,
            trim: load(LUA_TRIM).await?,
        };
        Ok(RedisStore {
            url: shown,
            namespace: namespace.to_string(),
            client,
            shared: Mutex::new(Some(conn)),
            idle_readers: Mutex::new(Vec::new()),
            readers: Semaphore::new(MAX_BLOCKING_READS),
            scripts,
            max_depth: MAX_QUEUE_DEPTH,
        })
    }

    fn stream_key(&self, queue: &str) -> String {
        format!("{}:q:{queue}", self.namespace)
    }

    fn counts_key(&self, queue: &str) -> String {
        format!("{}:counts:{queue}", self.namespace)
    }

    fn registry_key(&self) -> String {
        format!("{}:queues", self.namespace)
    }

    /// The shared connection, connecting again if the last one broke.
    async fn shared(&self) -> Result<MultiplexedConnection, StoreError> {
        if let Some(conn) = self.shared.lock().expect("connection lock").clone() {
            return Ok(conn);
        }
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&shared_config())
            .await
            .map_err(|e| {
                StoreError::Backend(format!(
                    "cannot reach Redis at {}: {}",
                    self.url,
                    one_line(&e)
                ))
            })?;
        *self.shared.lock().expect("connection lock") = Some(conn.clone());
        Ok(conn)
    }

    /// The error for a failed `what`; forgets the shared connection if the
    /// error says it is broken, so the next operation connects again.
    fn failed(&self, what: &str, e: RedisError) -> StoreError {
        if is_broken(&e) {
            self.shared.lock().expect("connection lock").take();
        }
        StoreError::Backend(format!("Redis at {}: {what}: {}", self.url, one_line(&e)))
    }

    /// Runs `script` by its SHA-1, or by its source if Redis forgot it
    /// (restarted, or SCRIPT FLUSH).
    async fn eval<T: FromRedisValue>(
        &self,
        what: &str,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T, StoreError> {
        let mut conn = self.shared().await?;
        let by_sha = ::redis::cmd("EVALSHA")
            .arg(&script.sha)
            .arg(keys.len())
            .arg(keys)
            .arg(args)
            .query_async::<T>(&mut conn)
            .await;
        let result = match by_sha {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                ::redis::cmd("EVAL")
                    .arg(&script.source)
                    .arg(keys.len())
                    .arg(keys)
                    .arg(args)
                    .query_async::<T>(&mut conn)
                    .await
            }
            other => other,
        };
        result.map_err(|e| self.failed(what, e))
    }

    /// New messages for `consumer`, waiting up to `block` on a connection
    /// of its own. Nothing if every blocking read is taken for that long.
    async fn wait_for_new(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, StoreError> {
        let started = Instant::now();
        let Ok(Ok(_permit)) = tokio::time::timeout(block, self.readers.acquire()).await else {
            return Ok(Vec::new());
        };
        // BLOCK 0 would wait forever.
        let block_ms = block.saturating_sub(started.elapsed()).as_millis() as u64;
        if block_ms == 0 {
            return Ok(Vec::new());
        }
        let popped = self.idle_readers.lock().expect("reader lock").pop();
        let mut conn = match popped {
            Some(conn) => conn,
            None => self
                .client
                .get_multiplexed_async_connection_with_config(&reader_config())
                .await
                .map_err(|e| {
                    StoreError::Backend(format!(
                        "cannot reach Redis at {}: {}",
                        self.url,
                        one_line(&e)
                    ))
                })?,
        };
        // If this future is dropped mid-read, `conn` goes with it: the
        // socket closes and Redis stops the read, instead of the next
        // borrower queueing behind it.
        let reply = ::redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(max)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(stream)
            .arg(">")
            .query_async::<Option<StreamReadReply>>(&mut conn)
            .await;
        match reply {
            Ok(reply) => {
                self.idle_readers.lock().expect("reader lock").push(conn);
                Ok(reply
                    .into_iter()
                    .flat_map(|r| r.keys)
                    .flat_map(|k| k.ids)
                    .map(|entry| Delivery {
                        stored_ms: entry
                            .get("stored_ms")
                            .unwrap_or_else(|| id_millis(&entry.id)),
                        body: entry.get("body").unwrap_or_default(),
                        id: MessageId(entry.id),
                        deliveries: 1,
                    })
                    .collect())
            }
            // The group went away while we waited.
            Err(e) if e.code() == Some("NOGROUP") => {
                self.idle_readers.lock().expect("reader lock").push(conn);
                Ok(Vec::new())
            }
            Err(e) => Err(StoreError::Backend(format!(
                "Redis at {}: waiting for messages: {}",
                self.url,
                one_line(&e)
            ))),
        }
    }
}

impl Store for RedisStore {
    fn describe(&self) -> String {
        format!(
            "in Redis Streams at {} (keys {}:*)",
            self.url, self.namespace
        )
    }

    /// The broker keeps nothing: a message stored is in Redis when the
    /// broker dies. (Whether it survives Redis restarting is Redis's
    /// persistence setting.)
    fn durable(&self) -> bool {
        true
    }

    async fn append(&self, queue: &str, body: &str) -> Result<MessageId, StoreError> {
        let reply: Vec<Value> = self
            .eval(
                "storing a message",
                &self.scripts.append,
                &[&self.stream_key(queue), &self.registry_key()],
                &[
                    queue,
                    body,
                    &self.max_depth.to_string(),
                    &MAX_QUEUES.to_string(),
                ],
            )
            .await?;
        let mut reply = reply.into_iter();
        let status = reply.next().map(string).unwrap_or_default();
        match status.as_str() {
            "ok" => Ok(MessageId(reply.next().map(string).unwrap_or_default())),
            "full" => Err(StoreError::Full {
                queue: queue.to_string(),
                depth: reply.next().map_or(0, number),
            }),
            "too-many-queues" => Err(StoreError::TooMany(format!(
                "Redis has its limit of {MAX_QUEUES} queues"
            ))),
            other => Err(self.unexpected("storing a message", other)),
        }
    }

    /// One script for the lot (see `LUA_APPEND_BATCH`): a producer's 64
    /// pipelined messages cost one round trip, not 64 in turn.
    async fn append_batch(
        &self,
        queue: &str,
        bodies: &[String],
    ) -> Vec<Result<MessageId, StoreError>> {
        if bodies.is_empty() {
            return Vec::new();
        }
        let (max_depth, max_queues) = (self.max_depth.to_string(), MAX_QUEUES.to_string());
        let mut args: Vec<&str> = Vec::with_capacity(3 + bodies.len());
        args.extend([queue, max_depth.as_str(), max_queues.as_str()]);
        args.extend(bodies.iter().map(String::as_str));
        let what = "storing messages";
        let reply: Vec<Value> = match self
            .eval(
                what,
                &self.scripts.append_batch,
                &[&self.stream_key(queue), &self.registry_key()],
                &args,
            )
            .await
        {
            Ok(reply) => reply,
            Err(e) => return every_one_failed(bodies.len(), e),
        };
        let mut reply = reply.into_iter();
        let mut out = Vec::with_capacity(bodies.len());
        for _ in bodies {
            let status = reply.next().map(string).unwrap_or_default();
            out.push(match status.as_str() {
                "ok" => Ok(MessageId(reply.next().map(string).unwrap_or_default())),
                "full" => Err(StoreError::Full {
                    queue: queue.to_string(),
                    depth: reply.next().map_or(0, number),
                }),
                "too-many-queues" => Err(StoreError::TooMany(format!(
                    "Redis has its limit of {MAX_QUEUES} queues"
                ))),
                other => Err(self.unexpected(what, other)),
            });
        }
        out
    }

    async fn join_group(&self, queue: &str, group: &str) -> Result<(), StoreError> {
        let reply: Vec<String> = self
            .eval(
                "creating a group",
                &self.scripts.join,
                &[&self.stream_key(queue), &self.registry_key()],
                &[
                    queue,
                    group,
                    &MAX_QUEUES.to_string(),
                    &MAX_GROUPS_PER_QUEUE.to_string(),
                ],
            )
            .await?;
        match reply.first().map(String::as_str).unwrap_or_default() {
            "ok" => Ok(()),
            "too-many-queues" => Err(StoreError::TooMany(format!(
                "Redis has its limit of {MAX_QUEUES} queues"
            ))),
            "too-many-groups" => Err(StoreError::TooMany(format!(
                "queue {queue:?} has its limit of {MAX_GROUPS_PER_QUEUE} groups"
            ))),
            other => Err(self.unexpected("creating a group", other)),
        }
    }

    async fn deliver(
        &self,
        queue: &str,
        group: &str,
        consumer: &str,
        max: usize,
        ack_timeout: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>, StoreError> {
        // COUNT 0 would mean "no limit" to Redis.
        let max = max.min(MAX_PREFETCH);
        if max == 0 {
            return Ok(Vec::new());
        }
        let (stream, counts) = (self.stream_key(queue), self.counts_key(queue));
        let (max_arg, min_idle) = (max.to_string(), ack_timeout.as_millis().to_string());
        let rounds = CLAIM_ROUNDS.to_string();
        let give_up = Instant::now() + wait;
        loop {
            let reply: Vec<Value> = self
                .eval(
                    "delivering",
                    &self.scripts.take,
                    &[&stream, &counts],
                    &[group, consumer, &max_arg, &min_idle, &rounds, RELEASED],
                )
                .await?;
            let mut reply = reply.into_iter();
            match reply.next().map(string).unwrap_or_default().as_str() {
                "ok" => {}
                "nogroup" => return Ok(Vec::new()),
                other => return Err(self.unexpected("delivering", other)),
            }
            let mut out = Vec::new();
            while let (Some(id), Some(body), Some(ms), Some(n)) =
                (reply.next(), reply.next(), reply.next(), reply.next())
            {
                out.push(Delivery {
                    id: MessageId(string(id)),
                    body: string(body),
                    stored_ms: number(ms),
                    deliveries: number(n),
                });
            }
            if !out.is_empty() {
                return Ok(out);
            }
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Vec::new());
            }
            let new = self
                .wait_for_new(&stream, group, consumer, max, left.min(POLL_INTERVAL))
                .await?;
            if !new.is_empty() {
                return Ok(new);
            }
        }
    }

    async fn ack(&self, queue: &str, group: &str, id: &MessageId) -> Result<bool, StoreError> {
        // Redis refuses a malformed id with an error; to the broker it is
        // just not a pending message.
        if !is_stream_id(&id.0) {
            return Ok(false);
        }
        let acked: i64 = self
            .eval(
                "acknowledging",
                &self.scripts.ack,
                &[&self.stream_key(queue), &self.counts_key(queue)],
                &[group, &id.0, &TRIM_EVERY.to_string()],
            )
            .await?;
        Ok(acked == 1)
    }

    /// One script for the lot (see `LUA_ACK_BATCH`): a consumer's acks that
    /// arrive together cost one round trip and one script run.
    async fn ack_batch(
        &self,
        queue: &str,
        group: &str,
        ids: &[MessageId],
    ) -> Vec<Result<bool, StoreError>> {
        // Malformed ids would make XACK fail the whole script; they are
        // simply not pending.
        let valid: Vec<&str> = ids
            .iter()
            .map(|id| id.0.as_str())
            .filter(|id| is_stream_id(id))
            .collect();
        if valid.is_empty() {
            return ids.iter().map(|_| Ok(false)).collect();
        }
        let every = TRIM_EVERY.to_string();
        let mut args: Vec<&str> = Vec::with_capacity(2 + valid.len());
        args.extend([group, every.as_str()]);
        args.extend(valid.iter().copied());
        let reply: Vec<i64> = match self
            .eval(
                "acknowledging",
                &self.scripts.ack_batch,
                &[&self.stream_key(queue), &self.counts_key(queue)],
                &args,
            )
            .await
        {
            Ok(reply) => reply,
            Err(e) => return every_one_failed(ids.len(), e),
        };
        let mut answers = reply.into_iter();
        ids.iter()
            .map(|id| Ok(is_stream_id(&id.0) && answers.next() == Some(1)))
            .collect()
    }

    async fn release(&self, queue: &str, group: &str, consumer: &str) -> Result<u64, StoreError> {
        self.eval(
            "releasing a consumer",
            &self.scripts.release,
            &[&self.stream_key(queue)],
            &[group, consumer, RELEASED, &RELEASE_BATCH.to_string()],
        )
        .await
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        let mut conn = self.shared().await?;
        let mut names: Vec<String> = ::redis::cmd("SMEMBERS")
            .arg(self.registry_key())
            .query_async(&mut conn)
            .await
            .map_err(|e| self.failed("listing queues", e))?;
        names.sort();
        let mut out = Vec::new();
        for name in names {
            let stream = self.stream_key(&name);
            // Trimmed first, so that `depth` counts only what some group
            // still needs.
            let trimmed: i64 = self
                .eval("trimming", &self.scripts.trim, &[&stream], &[])
                .await?;
            if trimmed < 0 {
                continue; // registered, but the stream was deleted by hand
            }
            let (depth, info, counts): (u64, StreamInfoGroupsReply, HashMap<String, String>) =
                ::redis::pipe()
                    .cmd("XLEN")
                    .arg(&stream)
                    .cmd("XINFO")
                    .arg("GROUPS")
                    .arg(&stream)
                    .cmd("HGETALL")
                    .arg(self.counts_key(&name))
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.failed("reading stats", e))?;
            let count = |what: &str, group: &str| -> u64 {
                counts
                    .get(&format!("{what}:{group}"))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            let mut groups: Vec<GroupStats> = info
                .groups
                .into_iter()
                .map(|g| GroupStats {
                    // Redis knows the lag unless entries were deleted from
                    // the middle of the stream (XDEL), which netdojo never
                    // does; then the best it can say is "up to everything".
                    backlog: g.lag.map_or(depth, |n| n as u64),
                    in_flight: g.pending as u64,
                    redeliveries: count("redeliveries", &g.name),
                    acked: count("acked", &g.name),
                    group: g.name,
                })
                .collect();
            groups.sort_by(|a, b| a.group.cmp(&b.group));
            out.push(QueueStats {
                queue: name,
                depth,
                groups,
            });
        }
        Ok(out)
    }
}

impl RedisStore {
    fn unexpected(&self, what: &str, reply: &str) -> StoreError {
        StoreError::Backend(format!(
            "Redis at {}: {what}: unexpected reply {reply:?}",
            self.url
        ))
    }
}

fn shared_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
}

/// A blocking read's answer takes up to [`POLL_INTERVAL`] by design.
fn reader_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(POLL_INTERVAL + RESPONSE_TIMEOUT))
}

/// Whether `e` means the connection is gone, not just this command.
fn is_broken(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() || e.is_timeout()
}

/// A Redis error on one line.
fn one_line(e: &RedisError) -> String {
    e.to_string().replace(['\r', '\n'], " ")
}

/// `url` with its password, if any, replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => format!("{scheme}://{userinfo}@{host}{path}"),
        },
        None => url.to_string(),
    }
}

/// Whether `id` has the form of a stream id, "MILLISECONDS-SEQUENCE".
fn is_stream_id(id: &str) -> bool {
    let number = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u64>().is_ok()
    };
    id.split_once('-')
        .is_some_and(|(ms, seq)| number(ms) && number(seq))
}

/// The milliseconds part of a stream id.
fn id_millis(id: &str) -> u64 {
    id.split('-')
        .next()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0)
}

fn string(v: Value) -> String {
    ::redis::from_redis_value(v).unwrap_or_default()
}

fn number(v: Value) -> u64 {
    ::redis::from_redis_value(v).unwrap_or_default()
}

/// One batch script failed: the same error for each item in it.
fn every_one_failed<T>(items: usize, e: StoreError) -> Vec<Result<T, StoreError>> {
    let why = match e {
        StoreError::Backend(why) => why,
        other => other.to_string(),
    };
    (0..items)
        .map(|_| Err(StoreError::Backend(why.clone())))
        .collect()
}

#[cfg(test)]
impl RedisStore {
    /// Deletes every key under this store's namespace (tests share a Redis
    /// in CI; each uses a namespace of its own).
    async fn forget_everything(&self) {
        let mut conn = self.shared().await.expect("connection");
        let pattern = format!("{}:*", self.namespace);
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .expect("SCAN");
            if !keys.is_empty() {
                let _: i64 = ::redis::cmd("DEL")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .expect("DEL");
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::process::{Child, Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const LONG: Duration = Duration::from_secs(30);

    /// A Redis for one test: `NETDOJO_REDIS_URL` if set (CI sets it), else
    /// a `redis-server` of its own on a free loopback port, stopped when
    /// this is dropped. `None` (the test skips) when there is no
    /// redis-server, unless `NETDOJO_REQUIRE_PEERS=1`.
    struct TestRedis {
        url: String,
        server: Option<Child>,
    }

    impl TestRedis {
        async fn get() -> Option<TestRedis> {
            if let Ok(url) = std::env::var("NETDOJO_REDIS_URL")
                && !url.is_empty()
            {
                return Some(TestRedis { url, server: None });
            }
            let required = std::env::var("NETDOJO_REQUIRE_PEERS").is_ok_and(|v| v == "1");
            for _ in 0..5 {
                // A port free a moment ago; if another process takes it
                // first, our server exits and the next port is tried.
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .expect("a free loopback port")
                    .port();
                let spawned = Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn();
                let server = match spawned {
                    Ok(server) => server,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        assert!(
                            !required,
                            "redis-server is not installed and NETDOJO_REQUIRE_PEERS=1 \
                             (apt-get install redis-server, or set NETDOJO_REDIS_URL)"
                        );
                        eprintln!(
                            "skipped: no redis-server (apt-get install redis-server) \
                             and NETDOJO_REDIS_URL is not set"
                        );
                        return None;
                    }
                    Err(e) => panic!("cannot start redis-server: {e}"),
                };
                let mut redis = TestRedis {
                    url: format!("redis://127.0.0.1:{port}/"),
                    server: Some(server),
                };
                if redis.is_ours().await {
                    return Some(redis);
                }
            }
            panic!("redis-server did not start on a free loopback port (5 tries)");
        }

        /// Waits until the server answers, and checks it is the one we
        /// started (its process id), not a stale one on the same port.
        async fn is_ours(&mut self) -> bool {
            let server = self.server.as_mut().expect("a server of our own");
            let pid = format!("process_id:{}", server.id());
            let client = Client::open(self.url.as_str()).expect("URL");
            for _ in 0..100 {
                if server.try_wait().ok().flatten().is_some() {
                    return false; // it exited: the port was taken
                }
                if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                    && let Ok(info) = ::redis::cmd("INFO")
                        .arg("server")
                        .query_async::<String>(&mut conn)
                        .await
                {
                    return info.lines().any(|l| l.trim() == pid);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }

        /// A store on this Redis, in a namespace no other test uses.
        async fn store(&self, namespace: &str) -> RedisStore {
            RedisStore::connect_with_namespace(&self.url, namespace)
                .await
                .expect("connect")
        }
    }

    impl Drop for TestRedis {
        fn drop(&mut self) {
            if let Some(server) = self.server.as_mut() {
                let _ = server.kill();
                let _ = server.wait();
            }
        }
    }

    fn namespace() -> String {
        format!("netdojo-test-{:08x}", rand::random::<u32>())
    }

    fn bodies(ds: &[Delivery]) -> Vec<&str> {
        ds.iter().map(|d| d.body.as_str()).collect()
    }

    #[tokio::test]
    async fn passes_the_semantic_suite() {
        let Some(redis) = TestRedis::get().await else {
            return;
        };
        let store = redis.store(&namespace()).await;
        let prefix = format!("t{:08x}", rand::random::<u32>());
        crate::queue::store::tests::run_all(&store, &prefix).await;
        store.forget_everything().await;
    }

    /// Two brokers, one Redis, one queue: the consumers of a group, spread
    /// over both brokers, get each message once between them; each of two
    /// groups gets every message.
    #[tokio::test]
    async fn two_brokers_share_a_queue() {
        let Some(redis) = TestRedis::get().await else {
            return;
        };
        let ns = namespace();
        let brokers = [
            Arc::new(redis.store(&ns).await),
            Arc::new(redis.store(&ns).await),
        ];
        let q = "orders";
        for g in ["billing", "shipping"] {
            brokers[0].join_group(q, g).await.unwrap();
        }
        brokers[1].join_group(q, "billing").await.unwrap(); // already there: fine
        const N: usize = 300;
        // Produced through both brokers while the consumers run.
        let producers: Vec<_> = (0..2)
            .map(|b| {
                let broker = brokers[b].clone();
                tokio::spawn(async move {
                    for i in (b..N).step_by(2) {
                        broker.append(q, &format!("m{i}")).await.unwrap();
                    }
                })
            })
            .collect();
        // (group, consumer, broker)
        let consumers = [
            ("billing", "b1", 0),
            ("billing", "b2", 0),
            ("billing", "b3", 1),
            ("billing", "b4", 1),
            ("shipping", "s1", 0),
            ("shipping", "s2", 1),
        ];
        // Each consumer stops when its group has had N between them (or a
        // generous minute has passed, and the counts below say what went
        // missing).
        let totals = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let give_up = Instant::now() + Duration::from_secs(60);
        let tasks: Vec<_> = consumers
            .into_iter()
            .map(|(g, c, b)| {
                let broker = brokers[b].clone();
                let totals = totals.clone();
                tokio::spawn(async move {
                    let total = &totals[usize::from(g == "shipping")];
                    let mut got = Vec::new();
                    while total.load(Ordering::SeqCst) < N && Instant::now() < give_up {
                        let ds = broker
                            .deliver(q, g, c, 7, LONG, Duration::from_millis(200))
                            .await
                            .unwrap();
                        total.fetch_add(ds.len(), Ordering::SeqCst);
                        for d in ds {
                            assert_eq!(d.deliveries, 1, "nothing timed out or left");
                            assert!(broker.ack(q, g, &d.id).await.unwrap());
                            got.push(d.body);
                        }
                    }
                    (g, b, got)
                })
            })
            .collect();
        for p in producers {
            p.await.unwrap();
        }
        let mut seen: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
        let mut per_broker = [[0usize; 2]; 2];
        for t in tasks {
            let (g, b, got) = t.await.unwrap();
            per_broker[usize::from(g == "shipping")][b] += got.len();
            for body in got {
                *seen.entry(g).or_default().entry(body).or_default() += 1;
            }
        }
        for g in ["billing", "shipping"] {
            let counts = &seen[g];
            assert_eq!(counts.len(), N, "group {g} got every message");
            assert!(counts.values().all(|&n| n == 1), "group {g}: each once");
        }
        assert!(
            per_broker.iter().flatten().all(|&n| n > 0),
            "both brokers served both groups: {per_broker:?}"
        );
        // Both brokers see the same counters, and everything acknowledged
        // by both groups is gone.
        for broker in &brokers {
            let stats = broker.stats().await.unwrap();
            let st = stats.iter().find(|s| s.queue == q).unwrap();
            assert_eq!(st.depth, 0);
            for g in &st.groups {
                assert_eq!((g.acked, g.backlog, g.in_flight), (N as u64, 0, 0), "{g:?}");
            }
        }
        brokers[0].forget_everything().await;
    }

    #[tokio::test]
    async fn a_consumer_released_on_one_broker_is_redelivered_through_the_other() {
        let Some(redis) = TestRedis::get().await else {
            return;
        };
        let ns = namespace();
        let (one, two) = (redis.store(&ns).await, redis.store(&ns).await);
        one.join_group("q", "g").await.unwrap();
        for i in 0..3 {
            one.append("q", &format!("m{i}")).await.unwrap();
        }
        let held = one
            .deliver("q", "g", "leaving", 10, LONG, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(bodies(&held), ["m0", "m1", "m2"]);
        // A consumer of the other broker is already waiting (nothing new
        // will come) when the first one leaves: the release reaches it.
        let (again, released) = tokio::join!(
            two.deliver("q", "g", "staying", 10, LONG, Duration::from_secs(10)),
            async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                one.release("q", "g", "leaving").await.unwrap()
            }
        );
        assert_eq!(released, 3);
        let again = again.unwrap();
        assert_eq!(bodies(&again), ["m0", "m1", "m2"]);
        assert!(again.iter().all(|d| d.deliveries == 2), "{again:?}");
        two.append("q", "m3").await.unwrap();
        let new = two
            .deliver("q", "g", "staying", 10, LONG, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(
            new.iter()
                .map(|d| (d.body.as_str(), d.deliveries))
                .collect::<Vec<_>>(),
            [("m3", 1)]
        );
        // The consumer that left is gone from the group; a late ack of a
        // message another now holds still counts, once.
        assert_eq!(one.release("q", "g", "leaving").await.unwrap(), 0);
        assert!(one.ack("q", "g", &held[0].id).await.unwrap());
        assert!(!two.ack("q", "g", &held[0].id).await.unwrap());
        // Both brokers read the same counters.
        for broker in [&one, &two] {
            let stats = broker.stats().await.unwrap();
            let g = &stats.iter().find(|s| s.queue == "q").unwrap().groups[0];
            assert_eq!(
                (g.redeliveries, g.acked, g.in_flight, g.backlog),
                (3, 1, 3, 0)
            );
        }
        one.forget_everything().await;
    }

    /// Released messages are not searched for in the pending list: behind
    /// thousands held by others, they still go out at the next delivery.
    #[tokio::test]
    async fn a_release_is_found_at_once_behind_a_long_pending_list() {
        let Some(redis) = TestRedis::get().await else {
            return;
        };
        let s = redis.store(&namespace()).await;
        s.join_group("q", "g").await.unwrap();
        let mut conn = s.shared().await.unwrap();
        let mut pipe = ::redis::pipe();
        for i in 0..2001 {
            pipe.cmd("XADD")
                .arg(s.stream_key("q"))
                .arg("*")
                .arg("body")
                .arg(format!("m{i}"))
                .ignore();
        }
        let () = pipe.query_async(&mut conn).await.unwrap();
        for _ in 0..2 {
            let busy = s.deliver("q", "g", "busy", MAX_PREFETCH, LONG, Duration::ZERO);
            assert_eq!(busy.await.unwrap().len(), MAX_PREFETCH);
        }
        let last = s.deliver("q", "g", "leaving", 1, LONG, Duration::ZERO);
        assert_eq!(bodies(&last.await.unwrap()), ["m2000"]);
        assert_eq!(s.release("q", "g", "leaving").await.unwrap(), 1);
        let again = s
            .deliver("q", "g", "next", 1, LONG, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(
            again
                .iter()
                .map(|d| (d.body.as_str(), d.deliveries))
                .collect::<Vec<_>>(),
            [("m2000", 2)]
        );
        s.forget_everything().await;
    }

    #[tokio::test]
    async fn an_ack_timeout_on_one_broker_redelivers_through_the_other() {
        let Some(redis) = TestRedis::get().await else {
            return;
        };
        let ns = namespace();
        let (one, two) = (redis.store(&ns).await, redis.store(&ns).await);
        let timeout = Duration::from_millis(300);
        one.join_group("q", "g").await.unwrap();
        two.append("q", "slow work").await.unwrap();
        let first = one
            .deliver("q", "g", "hung", 1, timeout, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(first.len(), 1);
        assert!(
            two.deliver("q", "g", "other", 1, timeout, Duration::ZERO)
                .await
                .unwrap()
                .is_empty(),
            "not due yet"
        );
        let again = two
            .deliver("q", "g", "other", 1, timeout, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(bodies(&again), ["slow work"]);
        assert_eq!(again[0].deliveries, 2);
        assert_eq!(again[0].id, first[0].id);
        // And back again, a third time, through the first broker.
        let third = one
            .deliver("q", "g", "hung", 1, timeout, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(third[0].deliveries, 3);
        assert!(two.ack("q", "g", &third[0].id).await.unwrap());
        assert!(!one.ack("q", "g", &first[0].id).await.unwrap());
        one.forget_everything().await;
    }

    #[tokio::test]
    async fn a_full_queue_refuses_until_every_group_has_acknowledged() {
        let Some(redis) = TestRedis::get().await else {
            return;
        };
        let mut store = redis.store(&namespace()).await;
        store.max_depth = 5;
        for i in 0..5 {
            store.append("q", &format!("m{i}")).await.unwrap();
        }
        // No group: nothing may be dropped, so it stays full.
        let full = store.append("q", "one too many").await.unwrap_err();
        assert!(matches!(full, StoreError::Full { depth: 5, .. }), "{full}");
        store.join_group("q", "a").await.unwrap();
        store.join_group("q", "b").await.unwrap();
        let a = store
            .deliver("q", "a", "c", 10, LONG, Duration::ZERO)
            .await
            .unwrap();
        for d in &a {
            store.ack("q", "a", &d.id).await.unwrap();
        }
        assert!(
            matches!(store.append("q", "x").await, Err(StoreError::Full { .. })),
            "b has not had them"
        );
        let b = store
            .deliver("q", "b", "c", 2, LONG, Duration::ZERO)
            .await
            .unwrap();
        for d in &b {
            store.ack("q", "b", &d.id).await.unwrap();
        }
        // Fewer than TRIM_EVERY acks: the full queue trims before refusing.
        store.append("q", "fits").await.unwrap();
        store.append("q", "fits too").await.unwrap();
        assert!(matches!(
            store.append("q", "x").await,
            Err(StoreError::Full { .. })
        ));
        store.forget_everything().await;
    }

    #[tokio::test]
    async fn a_batch_that_fills_the_queue_stores_what_fits() {
        let Some(redis) = TestRedis::get().await else {
            return;
        };
        let mut store = redis.store(&namespace()).await;
        store.max_depth = 3;
        store.append("q", "m0").await.unwrap();
        let bodies: Vec<String> = (1..5).map(|i| format!("m{i}")).collect();
        let results = store.append_batch("q", &bodies).await;
        assert_eq!(results.len(), 4);
        assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
        for r in &results[2..] {
            assert!(matches!(r, Err(StoreError::Full { depth: 3, .. })), "{r:?}");
        }
        store.forget_everything().await;
    }

    #[tokio::test]
    async fn acknowledged_messages_are_removed_once_every_group_has_them() {
        let Some(redis) = TestRedis::get().await else {
            return;
        };
        let s = redis.store(&namespace()).await;
        s.join_group("q", "a").await.unwrap();
        s.join_group("q", "b").await.unwrap();
        for i in 0..3 {
            s.append("q", &format!("m{i}")).await.unwrap();
        }
        let depth = async || s.stats().await.unwrap()[0].depth;
        let a = s
            .deliver("q", "a", "c1", 10, LONG, Duration::ZERO)
            .await
            .unwrap();
        for d in &a {
            assert!(s.ack("q", "a", &d.id).await.unwrap());
        }
        assert_eq!(depth().await, 3, "b has not had them");
        let b = s
            .deliver("q", "b", "c2", 10, LONG, Duration::ZERO)
            .await
            .unwrap();
        s.ack("q", "b", &b[0].id).await.unwrap();
        assert_eq!(depth().await, 2);
        for d in &b[1..] {
            s.ack("q", "b", &d.id).await.unwrap();
        }
        assert_eq!(depth().await, 0);
        // A group that joins now starts at the oldest message kept.
        s.append("q", "late").await.unwrap();
        s.join_group("q", "c").await.unwrap();
        let c = s
            .deliver("q", "c", "c3", 10, LONG, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(bodies(&c), ["late"]);
        let stats = s.stats().await.unwrap();
        let backlog: Vec<u64> = stats[0].groups.iter().map(|g| g.backlog).collect();
        assert_eq!(backlog, [1, 1, 0]);
        s.forget_everything().await;
    }

    /// More consumers wait at once than there are blocking reads: the rest
    /// poll, and every one is served.
    #[tokio::test]
    async fn many_waiting_consumers_are_all_served() {
        let Some(redis) = TestRedis::get().await else {
            return;
        };
        let s = Arc::new(redis.store(&namespace()).await);
        s.join_group("q", "g").await.unwrap();
        let n = MAX_BLOCKING_READS + 36;
        let waiting: Vec<_> = (0..n)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.deliver("q", "g", &format!("c{i}"), 1, LONG, Duration::from_secs(10))
                        .await
                        .unwrap()
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        for i in 0..n {
            s.append("q", &format!("m{i}")).await.unwrap();
        }
        let mut got = Vec::new();
        for w in waiting {
            got.extend(w.await.unwrap());
        }
        got.sort_by(|a, b| a.id.cmp(&b.id));
        got.dedup_by(|a, b| a.id == b.id);
        assert_eq!(got.len(), n, "each consumer got one, none twice");
        assert!(s.idle_readers.lock().unwrap().len() <= MAX_BLOCKING_READS);
        s.forget_everything().await;
    }

    /// A delivery abandoned mid-wait (its client went away) closes its
    /// blocking connection instead of leaving it stuck in the pool.
    #[tokio::test]
    async fn an_abandoned_wait_leaves_the_store_working() {
        let Some(redis) = TestRedis::get().await else {
            return;
        };
        let s = redis.store(&namespace()).await;
        s.join_group("q", "g").await.unwrap();
        let abandoned = tokio::time::timeout(
            Duration::from_millis(100),
            s.deliver("q", "g", "gone", 1, LONG, Duration::from_secs(10)),
        )
        .await;
        assert!(abandoned.is_err(), "it was still waiting");
        assert!(s.idle_readers.lock().unwrap().is_empty());
        let (got, _) = tokio::join!(
            s.deliver("q", "g", "here", 1, LONG, Duration::from_secs(5)),
            async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                s.append("q", "hello").await.unwrap();
            }
        );
        assert_eq!(bodies(&got.unwrap()), ["hello"]);
        s.forget_everything().await;
    }

    #[tokio::test]
    async fn a_queue_has_at_most_max_groups() {
        let Some(redis) = TestRedis::get().await else {
            return;
        };
        let s = redis.store(&namespace()).await;
        for i in 0..MAX_GROUPS_PER_QUEUE {
            s.join_group("q", &format!("g{i}")).await.unwrap();
        }
        s.join_group("q", "g0").await.unwrap();
        let err = s.join_group("q", "one more").await.unwrap_err();
        assert!(matches!(err, StoreError::TooMany(_)), "{err}");
        s.forget_everything().await;
    }

    #[tokio::test]
    async fn no_redis_is_one_line_naming_the_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let url = format!("redis://:secret@127.0.0.1:{port}/");
        let Err(err) = RedisStore::connect(&url).await else {
            panic!("nothing listens there");
        };
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Backend(_)));
        assert!(
            msg.contains(&format!("redis://:***@127.0.0.1:{port}/")),
            "{msg}"
        );
        assert!(!msg.contains("secret") && !msg.contains('\n'), "{msg}");
        let Err(err) = RedisStore::connect("http://127.0.0.1:1/").await else {
            panic!("not a Redis URL");
        };
        assert!(err.to_string().contains("http://127.0.0.1:1/"), "{err}");
    }

    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(
            redact("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(redact("redis://:pw@h:1/"), "redis://:***@h:1/");
        assert_eq!(redact("redis://user:p@ss@h:1"), "redis://user:***@h:1");
        assert_eq!(redact("rediss://user@h/2"), "rediss://user@h/2");
    }

    #[test]
    fn only_ms_seq_ids_reach_redis() {
        for ok in ["0-0", "1764620000000-0", "5-18446744073709551615"] {
            assert!(is_stream_id(ok), "{ok}");
        }
        for bogus in [
            "",
            "abc",
            "17",
            "1-2-3",
            "-1",
            "1-",
            "+1-0",
            "1-x",
            "99999999999999999999-0",
        ] {
            assert!(!is_stream_id(bogus), "{bogus}");
        }
    }
}
