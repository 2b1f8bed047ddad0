//! The crash-safe store: an embedded database (redb) in one file under
//! `--data-dir`. A message acknowledged to its producer survives `kill -9`
//! of the broker, and a broker that starts again carries on where the old
//! one stopped.
//!
//! # Tables
//!
//! Queues and groups get small numeric ids, so the big tables have short
//! fixed-width keys:
//!
//! | table      | key                          | value                                        |
//! |------------|------------------------------|----------------------------------------------|
//! | `meta`     | `"next_qid"`, `"next_gid"`   | the next queue / group id to hand out         |
//! | `queues`   | queue name                   | (qid, next message id, first kept id)         |
//! | `groups`   | (qid, group name)            | (gid, cursor, in flight, redeliveries, acked) |
//! | `messages` | (qid, message id)            | (stored ms, body)                             |
//! | `pending`  | (gid, message id)            | (deliveries, delivered at, consumer)          |
//! | `due`      | (gid, delivered at, msg id)  | ()                                            |
//!
//! Message ids are dense from the first one kept, as in the memory store,
//! so a queue's depth is `next id - first kept`: no counting. `due` orders
//! each group's pending messages by when they were handed out, so finding
//! the ones whose ack timeout has passed is one range read, not a scan.
//! So due messages go out longest-held first (released ones before all),
//! in id order within one delivery; the memory store goes by id alone.
//! "Delivered at" is milliseconds since this store was opened (plus one);
//! 0 means released, due now. Every pending message is released when the
//! store opens, so times from an earlier process never mix with ours, and a
//! wall clock that jumps cannot make a message due early or late.
//!
//! # Durability and group commit
//!
//! One writer thread owns every write transaction. Callers send it an
//! operation on a bounded channel and await its answer; it takes everything
//! waiting (up to [`MAX_BATCH`]), applies it in one transaction, commits
//! once, and only then answers each caller. A batch holding an append (or a
//! new group) commits with `Durability::Immediate` (an fsync), so `append`
//! returns only once its message is on disk, and 64 producers appending at
//! once share one fsync instead of paying 64.
//!
//! Deliveries, acks and releases alone commit with `Durability::None`: redb
//! keeps them in memory, and the next durable commit (an append, or at most
//! [`FLUSH_AFTER`] later) writes them out. After a crash redb returns to its
//! last durable commit, which holds every message any producer was told was
//! stored; what is lost is at most the last second of deliveries and acks,
//! and their messages are simply delivered again. A crash can cause
//! redelivery, never loss.
//!
//! # Memory
//!
//! Nothing loads a queue: each operation reads the few rows it needs, redb's
//! page cache is capped at [`CACHE_BYTES`], and the writer's channel and
//! batch are bounded. What stays in memory is one wake-up [`Notify`] per
//! queue (at most [`MAX_QUEUES`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table,
    TableDefinition, WriteTransaction,
};
use tokio::sync::{Notify, mpsc, oneshot};

use super::{Delivery, GroupStats, MessageId, QueueStats, Store, StoreError, now_ms};
use crate::queue::limits::{MAX_GROUPS_PER_QUEUE, MAX_QUEUE_DEPTH, MAX_QUEUES};

/// The database file inside the data directory.
pub const FILE_NAME: &str = "netdojo-queue.redb";

/// Operations waiting for the writer. A full channel makes callers wait
/// (back-pressure) instead of queueing without bound; with messages of up
/// to 64 KiB this holds at most 16 MiB.
const WRITER_QUEUE: usize = 256;

/// Most operations applied in one transaction: the most producers one fsync
/// answers, and a bound on how much one transaction holds in memory.
const MAX_BATCH: usize = 256;

/// redb's page cache (its default is 1 GiB). Hot pages are the tails of the
/// logs and the pending lists; the rest can be read again from disk.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Longest a non-durable commit (deliveries, acks, releases) waits for a
/// durable one: bounds the redeliveries a crash can cause, and the pages
/// redb cannot reuse until a durable commit.
const FLUSH_AFTER: Duration = Duration::from_secs(1);

/// Pending messages released per transaction when the store opens, so a
/// huge pending list is not one huge transaction.
const RELEASE_CHUNK: usize = 10_000;

/// (qid, next message id, first kept id): see [`QueueRow`].
type QueueValue = (u64, u64, u64);
/// (gid, cursor, in flight, redeliveries, acked): see [`GroupRow`].
type GroupValue = (u64, u64, u64, u64, u64);

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const QUEUES: TableDefinition<&str, QueueValue> = TableDefinition::new("queues");
const GROUPS: TableDefinition<(u64, &str), GroupValue> = TableDefinition::new("groups");
const MESSAGES: TableDefinition<(u64, u64), (u64, &str)> = TableDefinition::new("messages");
const PENDING: TableDefinition<(u64, u64), (u64, u64, &str)> = TableDefinition::new("pending");
const DUE: TableDefinition<(u64, u64, u64), ()> = TableDefinition::new("due");

/// "Delivered at" of a released message: due now, whatever the ack timeout.
const RELEASED: u64 = 0;

/// See the module documentation.
pub struct DiskStore {
    dir: PathBuf,
    db: Arc<Database>,
    /// To the writer thread; `None` only while dropping.
    ops: Option<mpsc::Sender<Op>>,
    writer: Option<JoinHandle<()>>,
    wakers: Arc<Wakers>,
}

/// One [`Notify`] per existing queue, woken when a message arrives or is
/// released. Queues are never deleted, so this holds at most [`MAX_QUEUES`].
type Wakers = Mutex<HashMap<String, Arc<Notify>>>;

impl DiskStore {
    /// Opens the store in `dir` (created if needed), creating the database
    /// file on first use. Every message that was handed out and not
    /// acknowledged is released: its consumer went with the old process.
    pub fn open(dir: impl AsRef<Path>) -> Result<DiskStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(FILE_NAME);
        // redb's debug builds panic on some damage that release builds
        // report as `Corrupted`: either way the user gets one line.
        let (db, queues) = std::panic::catch_unwind(|| open_database(&path))
            .unwrap_or_else(|panic| Err(StoreError::Backend(damaged(&path, &*panic))))?;
        let wakers: Arc<Wakers> = Arc::new(Mutex::new(
            queues
                .into_iter()
                .map(|name| (name, Arc::new(Notify::new())))
                .collect(),
        ));
        let db = Arc::new(db);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot start the disk writer: {e}")))?;
        let (ops, rx) = mpsc::channel(WRITER_QUEUE);
        let writer = Writer {
            db: db.clone(),
            path: path.clone(),
            opened: Instant::now(),
            wakers: wakers.clone(),
            unflushed_since: None,
        };
        let writer = std::thread::Builder::new()
            .name("netdojo-disk-writer".into())
            .spawn(move || runtime.block_on(writer.run(rx)))
            .map_err(|e| StoreError::Backend(format!("cannot start the disk writer: {e}")))?;
        Ok(DiskStore {
            dir,
            db,
            ops: Some(ops),
            writer: Some(writer),
            wakers,
        })
    }

    /// The database file this store keeps its messages in.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    async fn call(&self, request: Request) -> Result<Outcome, StoreError> {
        let stopped = || StoreError::Backend("the disk store's writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        let ops = self.ops.as_ref().ok_or_else(stopped)?;
        ops.send(Op { request, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    fn waker(&self, queue: &str) -> Option<Arc<Notify>> {
        self.wakers.lock().expect("wakers lock").get(queue).cloned()
    }
}

impl Drop for DiskStore {
    /// Lets the writer finish what it was sent, make it durable and close the
    /// file, so that the directory can be opened again at once.
    fn drop(&mut self) {
        self.ops.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Opens or creates the database, makes sure every table exists, releases
/// what the old process's consumers held, and lists the queues.
fn open_database(path: &Path) -> Result<(Database, Vec<String>), StoreError> {
    let db = Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create(path)
        .map_err(|e| open_error(path, e))?;
    let fail = |e: redb::Error| StoreError::Backend(format!("{}: {e}", path.display()));
    create_tables(&db).map_err(fail)?;
    release_all_pending(&db).map_err(fail)?;
    let queues = queue_names(&db).map_err(fail)?;
    Ok((db, queues))
}

/// What a panic inside redb means: the file is damaged.
fn damaged(path: &Path, panic: &(dyn std::any::Any + Send)) -> String {
    let why = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("the database panicked");
    format!("{} is damaged: {why}", path.display())
}

/// One line naming the file, for the CLI to print.
fn open_error(path: &Path, e: redb::DatabaseError) -> StoreError {
    let path = path.display();
    StoreError::Backend(match e {
        redb::DatabaseError::DatabaseAlreadyOpen => {
            format!("{path} is in use by another broker (it is locked)")
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(e)) => {
            format!("cannot open {path}: {e}")
        }
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(why)) => {
            format!("{path} is damaged: {why}")
        }
        e => format!("cannot open {path}: {e}"),
    })
}

fn create_tables(db: &Database) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    Tables::open(&txn)?;
    txn.commit()?;
    Ok(())
}

/// Makes every pending message due: the consumers that held them belonged
/// to the process that had the file before. Delivery counts are kept.
fn release_all_pending(db: &Database) -> Result<u64, redb::Error> {
    let mut released = 0;
    let mut from = (0, 0);
    loop {
        let txn = db.begin_write()?;
        let mut held = Vec::new();
        {
            let mut t = Tables::open(&txn)?;
            for entry in t.pending.range(from..)? {
                let (key, value) = entry?;
                let (gid, id) = key.value();
                let (deliveries, at, consumer) = value.value();
                from = (gid, id);
                if at != RELEASED {
                    held.push(((gid, id), (deliveries, at, consumer.to_string())));
                    if held.len() == RELEASE_CHUNK {
                        break;
                    }
                }
            }
            for ((gid, id), (deliveries, at, consumer)) in &held {
                t.pending
                    .insert((*gid, *id), (*deliveries, RELEASED, consumer.as_str()))?;
                t.due.remove((*gid, *at, *id))?;
                t.due.insert((*gid, RELEASED, *id), ())?;
            }
        }
        txn.commit()?;
        released += held.len() as u64;
        if held.len() < RELEASE_CHUNK {
            return Ok(released);
        }
    }
}

fn queue_names(db: &Database) -> Result<Vec<String>, redb::Error> {
    let txn = db.begin_read()?;
    let queues = txn.open_table(QUEUES)?;
    let mut names = Vec::new();
    for entry in queues.range::<&str>(..)? {
        names.push(entry?.0.value().to_string());
    }
    Ok(names)
}

/// A queue's row in `queues`.
#[derive(Clone, Copy)]
struct QueueRow {
    qid: u64,
    /// The id the next message gets (ids start at 1).
    next_id: u64,
    /// The oldest message kept; `next_id` when none is.
    first_kept: u64,
}

impl QueueRow {
    fn from_value((qid, next_id, first_kept): QueueValue) -> QueueRow {
        QueueRow {
            qid,
            next_id,
            first_kept,
        }
    }

    fn value(&self) -> QueueValue {
        (self.qid, self.next_id, self.first_kept)
    }

    fn depth(&self) -> u64 {
        self.next_id - self.first_kept
    }
}

/// A group's row in `groups`.
#[derive(Clone, Copy)]
struct GroupRow {
    gid: u64,
    /// The highest id handed out in this group (first kept - 1: none yet).
    cursor: u64,
    /// Entries in `pending` for this group.
    in_flight: u64,
    redeliveries: u64,
    acked: u64,
}

impl GroupRow {
    fn from_value((gid, cursor, in_flight, redeliveries, acked): GroupValue) -> GroupRow {
        GroupRow {
            gid,
            cursor,
            in_flight,
            redeliveries,
            acked,
        }
    }

    fn value(&self) -> GroupValue {
        (
            self.gid,
            self.cursor,
            self.in_flight,
            self.redeliveries,
            self.acked,
        )
    }

    fn stats(&self, name: &str, queue: &QueueRow) -> GroupStats {
        GroupStats {
            group: name.to_string(),
            backlog: (queue.next_id - 1).saturating_sub(self.cursor),
            in_flight: self.in_flight,
            redeliveries: self.redeliveries,
            acked: self.acked,
        }
    }
}

/// Every table, open in one write transaction.
struct Tables<'txn> {
    meta: Table<'txn, &'static str, u64>,
    queues: Table<'txn, &'static str, QueueValue>,
    groups: Table<'txn, (u64, &'static str), GroupValue>,
    messages: Table<'txn, (u64, u64), (u64, &'static str)>,
    pending: Table<'txn, (u64, u64), (u64, u64, &'static str)>,
    due: Table<'txn, (u64, u64, u64), ()>,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Tables<'txn>, redb::TableError> {
        Ok(Tables {
            meta: txn.open_table(META)?,
            queues: txn.open_table(QUEUES)?,
            groups: txn.open_table(GROUPS)?,
            messages: txn.open_table(MESSAGES)?,
            pending: txn.open_table(PENDING)?,
            due: txn.open_table(DUE)?,
        })
    }

    fn queue(&self, name: &str) -> Result<Option<QueueRow>, redb::StorageError> {
        Ok(self
            .queues
            .get(name)?
            .map(|v| QueueRow::from_value(v.value())))
    }

    fn group(&self, qid: u64, name: &str) -> Result<Option<GroupRow>, redb::StorageError> {
        Ok(self
            .groups
            .get((qid, name))?
            .map(|v| GroupRow::from_value(v.value())))
    }

    /// The queue and the group, if both exist.
    fn queue_group(
        &self,
        queue: &str,
        group: &str,
    ) -> Result<Option<(QueueRow, GroupRow)>, redb::StorageError> {
        let Some(q) = self.queue(queue)? else {
            return Ok(None);
        };
        Ok(self.group(q.qid, group)?.map(|g| (q, g)))
    }

    fn put_queue(&mut self, name: &str, q: &QueueRow) -> Result<(), redb::StorageError> {
        self.queues.insert(name, q.value())?;
        Ok(())
    }

    fn put_group(&mut self, qid: u64, name: &str, g: &GroupRow) -> Result<(), redb::StorageError> {
        self.groups.insert((qid, name), g.value())?;
        Ok(())
    }

    /// Takes the next value of a counter in `meta` (counters start at 1).
    fn next(&mut self, counter: &str) -> Result<u64, redb::StorageError> {
        let value = self.meta.get(counter)?.map_or(1, |v| v.value());
        self.meta.insert(counter, value + 1)?;
        Ok(value)
    }

    fn delivery(
        &self,
        qid: u64,
        id: u64,
        deliveries: u64,
    ) -> Result<Option<Delivery>, redb::StorageError> {
        Ok(self.messages.get((qid, id))?.map(|v| {
            let (stored_ms, body) = v.value();
            Delivery {
                id: MessageId(id.to_string()),
                body: body.to_string(),
                stored_ms,
                deliveries,
            }
        }))
    }

    /// The oldest message `gid` still holds unacknowledged.
    fn first_pending(&self, gid: u64) -> Result<Option<u64>, redb::StorageError> {
        match self.pending.range((gid, 0)..=(gid, u64::MAX))?.next() {
            Some(entry) => Ok(Some(entry?.0.value().1)),
            None => Ok(None),
        }
    }

    /// Marks a pending message as held by `consumer` since `at`.
    fn hold(
        &mut self,
        gid: u64,
        id: u64,
        deliveries: u64,
        at: u64,
        consumer: &str,
    ) -> Result<(), redb::StorageError> {
        self.pending.insert((gid, id), (deliveries, at, consumer))?;
        self.due.insert((gid, at, id), ())?;
        Ok(())
    }

    /// Gets `queue`'s row, creating the queue if there is room for it.
    fn queue_or_create(
        &mut self,
        name: &str,
        batch: &mut Batch,
    ) -> Result<Result<QueueRow, StoreError>, redb::StorageError> {
        if let Some(q) = self.queue(name)? {
            return Ok(Ok(q));
        }
        if self.queues.len()? >= MAX_QUEUES as u64 {
            return Ok(Err(StoreError::TooMany(format!(
                "the broker has its limit of {MAX_QUEUES} queues"
            ))));
        }
        let q = QueueRow {
            qid: self.next("next_qid")?,
            next_id: 1,
            first_kept: 1,
        };
        self.put_queue(name, &q)?;
        batch.created.insert(name.to_string());
        batch.changed = true;
        batch.durable = true;
        Ok(Ok(q))
    }

    /// Forgets the messages every group of the queue has acknowledged.
    fn trim(&mut self, name: &str, mut q: QueueRow) -> Result<(), redb::StorageError> {
        let mut groups = Vec::new();
        for entry in self.groups.range((q.qid, "")..(q.qid + 1, ""))? {
            groups.push(GroupRow::from_value(entry?.1.value()));
        }
        let mut keep_from = None::<u64>;
        for g in &groups {
            let first = self.first_pending(g.gid)?.unwrap_or(g.cursor + 1);
            keep_from = Some(keep_from.map_or(first, |k| k.min(first)));
        }
        let Some(keep_from) = keep_from else {
            return Ok(()); // no group: everything is kept
        };
        if keep_from > q.first_kept {
            self.messages
                .retain_in((q.qid, q.first_kept)..(q.qid, keep_from), |_, _| false)?;
            q.first_kept = keep_from;
            self.put_queue(name, &q)?;
        }
        Ok(())
    }
}

/// What callers ask the writer.
enum Request {
    Append {
        queue: String,
        body: String,
    },
    JoinGroup {
        queue: String,
        group: String,
    },
    Deliver {
        queue: String,
        group: String,
        consumer: String,
        max: usize,
        ack_timeout: Duration,
    },
    Ack {
        queue: String,
        group: String,
        id: u64,
    },
    Release {
        queue: String,
        group: String,
        consumer: String,
    },
}

/// What the writer answers, one variant per request.
enum Outcome {
    Stored(MessageId),
    Joined,
    Delivered {
        messages: Vec<Delivery>,
        /// Whether the queue and group exist, so that waiting makes sense.
        exists: bool,
        /// With nothing handed out: how soon a held message falls due.
        next_due: Option<Duration>,
    },
    Acked(bool),
    Released(u64),
}

struct Op {
    request: Request,
    reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

/// What a batch did, beyond its answers.
#[derive(Default)]
struct Batch {
    /// It stored a message or a group: commit with an fsync.
    durable: bool,
    /// It changed anything: commit (else abort, which costs nothing).
    changed: bool,
    /// Queues it created: they get a waker once committed.
    created: HashSet<String>,
    /// Queues whose waiting consumers have something new once committed.
    wake: HashSet<String>,
}

/// The thread that owns every write transaction. See the module docs.
struct Writer {
    db: Arc<Database>,
    path: PathBuf,
    /// "Delivered at" times count from here.
    opened: Instant,
    wakers: Arc<Wakers>,
    /// When the oldest commit not yet durable was made.
    unflushed_since: Option<Instant>,
}

impl Writer {
    async fn run(mut self, mut ops: mpsc::Receiver<Op>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let received = match self.unflushed_since {
                Some(since) => {
                    let flush_at = since + FLUSH_AFTER;
                    match tokio::time::timeout_at(
                        flush_at.into(),
                        ops.recv_many(&mut batch, MAX_BATCH),
                    )
                    .await
                    {
                        Ok(n) => n,
                        Err(_) => {
                            self.flush();
                            continue;
                        }
                    }
                }
                None => ops.recv_many(&mut batch, MAX_BATCH).await,
            };
            if received == 0 {
                break; // every sender is gone: the store was dropped
            }
            self.commit(std::mem::take(&mut batch));
        }
        self.flush();
    }

    /// Makes the non-durable commits so far durable. A failure here shows
    /// up again, as an error, on the next operation.
    fn flush(&mut self) {
        if self.unflushed_since.is_none() {
            return;
        }
        let flushed = self
            .db
            .begin_write()
            .map_err(redb::Error::from)
            .and_then(|txn| txn.commit().map_err(redb::Error::from));
        if flushed.is_ok() {
            self.unflushed_since = None;
        }
    }

    /// Applies `ops` in one transaction, commits once, then answers each.
    fn commit(&mut self, ops: Vec<Op>) {
        let (requests, replies): (Vec<Request>, Vec<_>) =
            ops.into_iter().map(|op| (op.request, op.reply)).unzip();
        let mut batch = Batch::default();
        // A panic inside redb (a damaged page) fails this batch, not the
        // writer: the callers get an error naming the file.
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.apply_all(&requests, &mut batch)
                .map_err(|e| format!("{}: {e}", self.path.display()))
        }))
        .unwrap_or_else(|panic| Err(damaged(&self.path, &*panic)));
        match applied {
            Ok(outcomes) => {
                let mut wakers = self.wakers.lock().expect("wakers lock");
                for name in batch.created {
                    wakers.entry(name).or_default();
                }
                for name in &batch.wake {
                    if let Some(w) = wakers.get(name) {
                        w.notify_waiters();
                    }
                }
                drop(wakers);
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(why) => {
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Backend(why.clone())));
                }
            }
        }
    }

    fn apply_all(
        &mut self,
        requests: &[Request],
        batch: &mut Batch,
    ) -> Result<Vec<Result<Outcome, StoreError>>, redb::Error> {
        let mut txn = self.db.begin_write()?;
        let mut outcomes = Vec::with_capacity(requests.len());
        {
            let mut t = Tables::open(&txn)?;
            for request in requests {
                outcomes.push(self.apply(&mut t, request, batch)?);
            }
        }
        if !batch.changed {
            txn.abort()?;
            return Ok(outcomes);
        }
        let overdue = self
            .unflushed_since
            .is_some_and(|since| since.elapsed() >= FLUSH_AFTER);
        let durable = batch.durable || overdue;
        if !durable {
            txn.set_durability(Durability::None)?;
        }
        txn.commit()?;
        if durable {
            self.unflushed_since = None;
        } else {
            self.unflushed_since.get_or_insert_with(Instant::now);
        }
        Ok(outcomes)
    }

    /// Milliseconds since the store opened, plus one (0 means released).
    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn apply(
        &self,
        t: &mut Tables,
        request: &Request,
        batch: &mut Batch,
    ) -> Result<Result<Outcome, StoreError>, redb::StorageError> {
        Ok(match request {
            Request::Append { queue, body } => append(t, queue, body, batch)?.map(Outcome::Stored),
            Request::JoinGroup { queue, group } => {
                join_group(t, queue, group, batch)?.map(|()| Outcome::Joined)
            }
            Request::Deliver {
                queue,
                group,
                consumer,
                max,
                ack_timeout,
            } => Ok(deliver(
                t,
                self.now(),
                queue,
                group,
                consumer,
                *max,
                *ack_timeout,
                batch,
            )?),
            Request::Ack { queue, group, id } => {
                Ok(Outcome::Acked(ack(t, queue, group, *id, batch)?))
            }
            Request::Release {
                queue,
                group,
                consumer,
            } => Ok(Outcome::Released(release(
                t, queue, group, consumer, batch,
            )?)),
        })
    }
}

fn append(
    t: &mut Tables,
    queue: &str,
    body: &str,
    batch: &mut Batch,
) -> Result<Result<MessageId, StoreError>, redb::StorageError> {
    let mut q = match t.queue_or_create(queue, batch)? {
        Ok(q) => q,
        Err(e) => return Ok(Err(e)),
    };
    if q.depth() >= MAX_QUEUE_DEPTH as u64 {
        return Ok(Err(StoreError::Full {
            queue: queue.to_string(),
            depth: q.depth(),
        }));
    }
    batch.changed = true;
    batch.durable = true;
    let id = q.next_id;
    t.messages.insert((q.qid, id), (now_ms(), body))?;
    q.next_id += 1;
    t.put_queue(queue, &q)?;
    if !batch.wake.contains(queue) {
        batch.wake.insert(queue.to_string());
    }
    Ok(Ok(MessageId(id.to_string())))
}

fn join_group(
    t: &mut Tables,
    queue: &str,
    group: &str,
    batch: &mut Batch,
) -> Result<Result<(), StoreError>, redb::StorageError> {
    let q = match t.queue_or_create(queue, batch)? {
        Ok(q) => q,
        Err(e) => return Ok(Err(e)),
    };
    if t.group(q.qid, group)?.is_some() {
        return Ok(Ok(()));
    }
    batch.changed = true;
    batch.durable = true;
    let groups = t.groups.range((q.qid, "")..(q.qid + 1, ""))?.count();
    if groups >= MAX_GROUPS_PER_QUEUE {
        return Ok(Err(StoreError::TooMany(format!(
            "queue {queue:?} has its limit of {MAX_GROUPS_PER_QUEUE} groups"
        ))));
    }
    let g = GroupRow {
        gid: t.next("next_gid")?,
        // Start just before the oldest message kept.
        cursor: q.first_kept - 1,
        in_flight: 0,
        redeliveries: 0,
        acked: 0,
    };
    t.put_group(q.qid, group, &g)?;
    Ok(Ok(()))
}

#[allow(clippy::too_many_arguments)]
fn deliver(
    t: &mut Tables,
    now: u64,
    queue: &str,
    group: &str,
    consumer: &str,
    max: usize,
    ack_timeout: Duration,
    batch: &mut Batch,
) -> Result<Outcome, redb::StorageError> {
    let Some((q, mut g)) = t.queue_group(queue, group)? else {
        return Ok(Outcome::Delivered {
            messages: Vec::new(),
            exists: false,
            next_due: None,
        });
    };
    let timeout = u64::try_from(ack_timeout.as_millis()).unwrap_or(u64::MAX);
    // Held since `cutoff` or earlier (or released): due again.
    let cutoff = now.saturating_sub(timeout);
    let mut due = Vec::new();
    for entry in t
        .due
        .range((g.gid, 0, 0)..=(g.gid, cutoff, u64::MAX))?
        .take(max)
    {
        let (_, at, id) = entry?.0.value();
        due.push((id, at));
    }
    // The longest-held come first (released ones before all); handed out in
    // id order within one delivery.
    due.sort_unstable();
    let mut out = Vec::new();
    let mut handed = 0;
    for (id, at) in due {
        t.due.remove((g.gid, at, id))?;
        let deliveries = t.pending.get((g.gid, id))?.map_or(0, |v| v.value().0) + 1;
        t.hold(g.gid, id, deliveries, now, consumer)?;
        g.redeliveries += 1;
        handed += 1;
        out.extend(t.delivery(q.qid, id, deliveries)?);
    }
    // Then new ones, in id order.
    while handed < max && g.cursor + 1 < q.next_id {
        g.cursor += 1;
        g.in_flight += 1;
        t.hold(g.gid, g.cursor, 1, now, consumer)?;
        handed += 1;
        out.extend(t.delivery(q.qid, g.cursor, 1)?);
    }
    if handed > 0 {
        batch.changed = true;
        t.put_group(q.qid, group, &g)?;
    }
    let mut next_due = None;
    if handed == 0 {
        let later = (g.gid, cutoff + 1, 0)..=(g.gid, u64::MAX, u64::MAX);
        if let Some(entry) = t.due.range(later)?.next() {
            let (_, at, _) = entry?.0.value();
            next_due = Some(Duration::from_millis(at.saturating_add(timeout) - now));
        }
    }
    Ok(Outcome::Delivered {
        messages: out,
        exists: true,
        next_due,
    })
}

fn ack(
    t: &mut Tables,
    queue: &str,
    group: &str,
    id: u64,
    batch: &mut Batch,
) -> Result<bool, redb::StorageError> {
    let Some((q, mut g)) = t.queue_group(queue, group)? else {
        return Ok(false);
    };
    let Some(at) = t.pending.remove((g.gid, id))?.map(|v| v.value().1) else {
        return Ok(false);
    };
    batch.changed = true;
    t.due.remove((g.gid, at, id))?;
    g.in_flight -= 1;
    g.acked += 1;
    t.put_group(q.qid, group, &g)?;
    // Only the group's oldest pending message holds the queue's tail back.
    if t.first_pending(g.gid)?.is_none_or(|first| id < first) {
        t.trim(queue, q)?;
    }
    Ok(true)
}

fn release(
    t: &mut Tables,
    queue: &str,
    group: &str,
    consumer: &str,
    batch: &mut Batch,
) -> Result<u64, redb::StorageError> {
    let Some((_, g)) = t.queue_group(queue, group)? else {
        return Ok(0);
    };
    let mut held = Vec::new();
    for entry in t.pending.range((g.gid, 0)..=(g.gid, u64::MAX))? {
        let (key, value) = entry?;
        let (deliveries, at, holder) = value.value();
        if holder == consumer && at != RELEASED {
            held.push((key.value().1, deliveries, at));
        }
    }
    for &(id, deliveries, at) in &held {
        t.due.remove((g.gid, at, id))?;
        t.hold(g.gid, id, deliveries, RELEASED, consumer)?;
    }
    if !held.is_empty() {
        batch.changed = true;
        batch.wake.insert(queue.to_string());
    }
    Ok(held.len() as u64)
}

fn unexpected() -> StoreError {
    StoreError::Backend("the disk store's writer answered the wrong question".into())
}

impl Store for DiskStore {
    fn describe(&self) -> String {
        format!("on disk, in the redb database {}", self.path().display())
    }

    fn durable(&self) -> bool {
        true
    }

    async fn append(&self, queue: &str, body: &str) -> Result<MessageId, StoreError> {
        let request = Request::Append {
            queue: queue.to_string(),
            body: body.to_string(),
        };
        match self.call(request).await? {
            Outcome::Stored(id) => Ok(id),
            _ => Err(unexpected()),
        }
    }

    /// All of them sent to the writer before waiting for any answer, so
    /// that one producer's pipelined messages share a durable commit.
    async fn append_batch(
        &self,
        queue: &str,
        bodies: &[String],
    ) -> Vec<Result<MessageId, StoreError>> {
        let stopped = || StoreError::Backend("the disk store's writer has stopped".into());
        let mut answers = Vec::with_capacity(bodies.len());
        for body in bodies {
            let (reply, answer) = oneshot::channel();
            let request = Request::Append {
                queue: queue.to_string(),
                body: body.clone(),
            };
            let sent = match self.ops.as_ref() {
                Some(ops) => ops.send(Op { request, reply }).await.is_ok(),
                None => false,
            };
            answers.push(sent.then_some(answer));
        }
        let mut out = Vec::with_capacity(answers.len());
        for answer in answers {
            out.push(match answer {
                Some(rx) => match rx.await {
                    Ok(Ok(Outcome::Stored(id))) => Ok(id),
                    Ok(Ok(_)) => Err(unexpected()),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(stopped()),
                },
                None => Err(stopped()),
            });
        }
        out
    }

    async fn join_group(&self, queue: &str, group: &str) -> Result<(), StoreError> {
        let request = Request::JoinGroup {
            queue: queue.to_string(),
            group: group.to_string(),
        };
        match self.call(request).await? {
            Outcome::Joined => Ok(()),
            _ => Err(unexpected()),
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
        let start = Instant::now();
        let give_up = start.checked_add(wait).unwrap_or(start + FOREVER);
        loop {
            // Listen before asking, so that an append committed after the
            // writer looked still wakes us.
            let waker = self.waker(queue);
            let mut notified = pin!(waker.as_deref().map(Notify::notified));
            if let Some(n) = notified.as_mut().as_pin_mut() {
                n.enable();
            }
            let request = Request::Deliver {
                queue: queue.to_string(),
                group: group.to_string(),
                consumer: consumer.to_string(),
                max,
                ack_timeout,
            };
            let Outcome::Delivered {
                messages,
                exists,
                next_due,
            } = self.call(request).await?
            else {
                return Err(unexpected());
            };
            if !messages.is_empty() || !exists {
                return Ok(messages);
            }
            let now = Instant::now();
            if now >= give_up {
                return Ok(Vec::new());
            }
            let until = next_due
                .and_then(|d| now.checked_add(d))
                .map_or(give_up, |d| d.min(give_up));
            match notified.as_mut().as_pin_mut() {
                Some(n) => {
                    tokio::select! {
                        _ = n => {}
                        _ = tokio::time::sleep_until(until.into()) => {}
                    }
                }
                // The queue was created after we looked for its waker.
                None => continue,
            }
        }
    }

    async fn ack(&self, queue: &str, group: &str, id: &MessageId) -> Result<bool, StoreError> {
        let Ok(id) = id.0.parse::<u64>() else {
            return Ok(false);
        };
        let request = Request::Ack {
            queue: queue.to_string(),
            group: group.to_string(),
            id,
        };
        match self.call(request).await? {
            Outcome::Acked(acked) => Ok(acked),
            _ => Err(unexpected()),
        }
    }

    async fn release(&self, queue: &str, group: &str, consumer: &str) -> Result<u64, StoreError> {
        let request = Request::Release {
            queue: queue.to_string(),
            group: group.to_string(),
            consumer: consumer.to_string(),
        };
        match self.call(request).await? {
            Outcome::Released(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        let db = self.db.clone();
        let path = self.path();
        tokio::task::spawn_blocking(move || read_stats(&db))
            .await
            .map_err(|e| StoreError::Backend(format!("reading stats: {e}")))?
            .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))
    }
}

/// A `wait` too long to add to an instant still ends some day.
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// Every queue and group, read from one snapshot (sorted by name, as redb
/// keeps them).
fn read_stats(db: &Database) -> Result<Vec<QueueStats>, redb::Error> {
    let txn = db.begin_read()?;
    let queues = txn.open_table(QUEUES)?;
    let groups = txn.open_table(GROUPS)?;
    let mut out = Vec::new();
    for entry in queues.range::<&str>(..)? {
        let (name, row) = entry?;
        let q = QueueRow::from_value(row.value());
        let mut stats = QueueStats {
            queue: name.value().to_string(),
            depth: q.depth(),
            groups: Vec::new(),
        };
        for entry in groups.range((q.qid, "")..(q.qid + 1, ""))? {
            let (key, row) = entry?;
            let g = GroupRow::from_value(row.value());
            stats.groups.push(g.stats(key.value().1, &q));
        }
        out.push(stats);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory under the system's temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(what: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "netdojo-disk-{what}-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ));
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn passes_the_semantic_suite() {
        let dir = TempDir::new("suite");
        crate::queue::store::tests::suite(|| DiskStore::open(&dir.0).expect("open")).await;
    }

    #[tokio::test]
    async fn acknowledged_messages_are_forgotten_once_every_group_has_them() {
        let dir = TempDir::new("retention");
        let s = DiskStore::open(&dir.0).unwrap();
        for i in 0..3 {
            s.append("q", &format!("m{i}")).await.unwrap();
        }
        s.join_group("q", "a").await.unwrap();
        s.join_group("q", "b").await.unwrap();
        let a = s
            .deliver("q", "a", "c1", 10, LONG, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(a.len(), 3, "groups joined later still see what was kept");
        for d in &a {
            assert!(s.ack("q", "a", &d.id).await.unwrap());
        }
        assert_eq!(s.stats().await.unwrap()[0].depth, 3, "b has not had them");
        let b = s
            .deliver("q", "b", "c2", 10, LONG, Duration::ZERO)
            .await
            .unwrap();
        // Acknowledging out of order: the oldest still holds the others back.
        s.ack("q", "b", &b[1].id).await.unwrap();
        assert_eq!(s.stats().await.unwrap()[0].depth, 3);
        s.ack("q", "b", &b[0].id).await.unwrap();
        assert_eq!(s.stats().await.unwrap()[0].depth, 1);
        s.ack("q", "b", &b[2].id).await.unwrap();
        assert_eq!(s.stats().await.unwrap()[0].depth, 0);
        // Ids go on from where they were.
        assert_eq!(s.append("q", "m3").await.unwrap().0, "4");
    }

    #[tokio::test]
    async fn reopening_keeps_messages_cursors_and_pending_as_released() {
        let dir = TempDir::new("reopen");
        {
            let s = DiskStore::open(&dir.0).unwrap();
            s.join_group("q", "g").await.unwrap();
            s.join_group("q", "other").await.unwrap();
            for i in 0..6 {
                s.append("q", &format!("m{i}")).await.unwrap();
            }
            s.append("no-group", "kept").await.unwrap();
            let first = s
                .deliver("q", "g", "c1", 3, LONG, Duration::ZERO)
                .await
                .unwrap();
            assert!(s.ack("q", "g", &first[0].id).await.unwrap());
            assert_eq!(s.release("q", "g", "c1").await.unwrap(), 2);
            // m1 goes out a second time, to c2, which is still holding it
            // when the broker stops; m2 is waiting, released.
            let again = s
                .deliver("q", "g", "c2", 1, LONG, Duration::ZERO)
                .await
                .unwrap();
            assert_eq!((again[0].body.as_str(), again[0].deliveries), ("m1", 2));
        }
        let s = DiskStore::open(&dir.0).unwrap();
        let stats = s.stats().await.unwrap();
        assert_eq!(
            stats
                .iter()
                .map(|q| (q.queue.as_str(), q.depth))
                .collect::<Vec<_>>(),
            [("no-group", 1), ("q", 6)]
        );
        let groups = &stats[1].groups;
        assert_eq!(
            groups
                .iter()
                .map(|g| (
                    g.group.as_str(),
                    g.backlog,
                    g.in_flight,
                    g.acked,
                    g.redeliveries
                ))
                .collect::<Vec<_>>(),
            [("g", 3, 2, 1, 1), ("other", 6, 0, 0, 0)]
        );
        // What the old process's consumers held is due at once, counted.
        let ds = s
            .deliver("q", "g", "c3", 10, LONG, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(
            ds.iter()
                .map(|d| (d.body.as_str(), d.deliveries))
                .collect::<Vec<_>>(),
            [("m1", 3), ("m2", 2), ("m3", 1), ("m4", 1), ("m5", 1)]
        );
        assert_eq!(s.append("q", "m6").await.unwrap().0, "7");
        let other = s
            .deliver("q", "other", "c", 100, LONG, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(other.len(), 7);
    }

    /// Set in the child of [`acknowledged_messages_survive_kill_9`]: the
    /// data directory it appends to.
    const CRASH_CHILD_DIR: &str = "NETDOJO_DISK_CRASH_CHILD_DIR";

    /// The child: producers append as fast as they can and print each id
    /// once `append` has returned, until the parent kills the process.
    #[cfg(unix)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "the child process of acknowledged_messages_survive_kill_9"]
    async fn crash_child_appends_until_killed() {
        use std::io::Write;
        let Some(dir) = std::env::var_os(CRASH_CHILD_DIR) else {
            return;
        };
        let store = Arc::new(DiskStore::open(dir).unwrap());
        let mut producers = tokio::task::JoinSet::new();
        for p in 0..8 {
            let store = store.clone();
            producers.spawn(async move {
                for i in 0.. {
                    let body = format!("p{p}-{i}");
                    let id = store.append("crash", &body).await.unwrap();
                    // Fails once the parent is gone: then this child ends too.
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "stored {id} {body}").unwrap();
                    out.flush().unwrap();
                }
            });
        }
        producers.join_next().await;
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn acknowledged_messages_survive_kill_9() {
        use std::io::BufRead;
        use std::process::{Command, Stdio};

        /// Kills the child even if an assertion fails first.
        struct Killed(std::process::Child);
        impl Killed {
            fn kill_9(&mut self) {
                // SIGKILL: no destructor, no flush, no clean close of the file.
                unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGKILL) };
                let _ = self.0.wait();
            }
        }
        impl Drop for Killed {
            fn drop(&mut self) {
                self.kill_9();
            }
        }

        let dir = TempDir::new("crash");
        let mut child = Killed(
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "queue::store::disk::tests::crash_child_appends_until_killed",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CRASH_CHILD_DIR, &dir.0)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut lines = std::io::BufReader::new(child.0.stdout.take().unwrap()).lines();
        let mut stored = Vec::new();
        let read = |lines: &mut std::io::Lines<_>, stored: &mut Vec<(String, String)>, until| {
            while stored.len() < until {
                let Some(line) = lines.next() else { break };
                let line: String = line.unwrap();
                if let Some(rest) = line.strip_prefix("stored ") {
                    let (id, body) = rest.split_once(' ').unwrap();
                    stored.push((id.to_string(), body.to_string()));
                }
            }
        };
        read(&mut lines, &mut stored, 300);
        assert_eq!(stored.len(), 300, "the child stopped early");
        child.kill_9();
        // Lines the child wrote before it died were acknowledged too.
        read(&mut lines, &mut stored, usize::MAX);

        let s = DiskStore::open(&dir.0).unwrap();
        s.join_group("crash", "check").await.unwrap();
        let mut kept = HashMap::new();
        loop {
            let ds = s
                .deliver("crash", "check", "c", 1000, LONG, Duration::ZERO)
                .await
                .unwrap();
            if ds.is_empty() {
                break;
            }
            kept.extend(ds.into_iter().map(|d| (d.id.0, d.body)));
        }
        for (id, body) in &stored {
            assert_eq!(
                kept.get(id),
                Some(body),
                "message {id} was acknowledged, then lost"
            );
        }
        assert!(kept.len() >= stored.len());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_all_succeed_and_are_ordered() {
        let dir = TempDir::new("concurrent");
        let s = Arc::new(DiskStore::open(&dir.0).unwrap());
        s.join_group("q", "g").await.unwrap();
        let mut producers = tokio::task::JoinSet::new();
        for p in 0..64 {
            let s = s.clone();
            producers.spawn(async move {
                let mut ids = Vec::new();
                for i in 0..20 {
                    let body = format!("p{p}-{i}");
                    let id: u64 = s.append("q", &body).await.unwrap().0.parse().unwrap();
                    ids.push((id, body));
                }
                ids
            });
        }
        let mut sent = HashMap::new();
        while let Some(ids) = producers.join_next().await {
            let ids = ids.unwrap();
            assert!(
                ids.windows(2).all(|w| w[0].0 < w[1].0),
                "one producer's order kept"
            );
            sent.extend(ids);
        }
        assert_eq!(sent.len(), 64 * 20, "every append got its own id");
        let mut got = Vec::new();
        loop {
            let ds = s
                .deliver("q", "g", "c", 500, LONG, Duration::ZERO)
                .await
                .unwrap();
            if ds.is_empty() {
                break;
            }
            got.extend(ds);
        }
        let ids: Vec<u64> = got.iter().map(|d| d.id.0.parse().unwrap()).collect();
        assert_eq!(ids, (1..=64 * 20).collect::<Vec<_>>(), "dense, in order");
        assert!(
            got.iter()
                .all(|d| sent[&d.id.0.parse::<u64>().unwrap()] == d.body)
        );
    }

    #[tokio::test]
    async fn limits_are_those_of_the_memory_store() {
        use futures_util::future::join_all;
        let dir = TempDir::new("limits");
        let s = DiskStore::open(&dir.0).unwrap();
        // Many at once, so that they share commits.
        let names: Vec<String> = (0..MAX_GROUPS_PER_QUEUE).map(|i| format!("g{i}")).collect();
        let groups = join_all(names.iter().map(|g| s.join_group("q", g))).await;
        assert!(groups.iter().all(Result::is_ok));
        assert!(matches!(
            s.join_group("q", "one-more").await,
            Err(StoreError::TooMany(_))
        ));
        s.join_group("q", "g0")
            .await
            .expect("an existing group is not a new one");

        let names: Vec<String> = (1..MAX_QUEUES).map(|i| format!("q{i}")).collect();
        let queues = join_all(names.iter().map(|q| s.join_group(q, "g"))).await;
        assert!(queues.iter().all(Result::is_ok));
        assert!(matches!(
            s.append("one-more", "m").await,
            Err(StoreError::TooMany(_))
        ));
        assert!(matches!(
            s.join_group("one-more", "g").await,
            Err(StoreError::TooMany(_))
        ));
        assert_eq!(s.stats().await.unwrap().len(), MAX_QUEUES);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_appends_until_consumers_catch_up() {
        use futures_util::stream::{self, StreamExt};
        let dir = TempDir::new("full");
        let s = DiskStore::open(&dir.0).unwrap();
        s.join_group("q", "g").await.unwrap();
        // Many at once, so that they share commits.
        let stored = stream::iter(0..MAX_QUEUE_DEPTH)
            .map(|i| s.append("q", if i % 2 == 0 { "even" } else { "odd" }))
            .buffer_unordered(MAX_BATCH)
            .filter(|r| std::future::ready(r.is_ok()))
            .count()
            .await;
        assert_eq!(stored, MAX_QUEUE_DEPTH);
        let full = s.append("q", "one more").await;
        assert!(
            matches!(full, Err(StoreError::Full { depth, .. }) if depth == MAX_QUEUE_DEPTH as u64),
            "{full:?}"
        );
        let ds = s
            .deliver("q", "g", "c", 1, LONG, Duration::ZERO)
            .await
            .unwrap();
        assert!(
            matches!(s.append("q", "m").await, Err(StoreError::Full { .. })),
            "held, not acked"
        );
        s.ack("q", "g", &ds[0].id).await.unwrap();
        s.append("q", "room for one").await.unwrap();
    }

    #[tokio::test]
    async fn a_second_broker_on_the_same_directory_is_refused() {
        let dir = TempDir::new("locked");
        let _first = DiskStore::open(&dir.0).unwrap();
        let Err(StoreError::Backend(why)) = DiskStore::open(&dir.0) else {
            panic!("opened twice");
        };
        assert!(why.contains(FILE_NAME) && why.contains("in use"), "{why}");
    }

    #[tokio::test]
    async fn a_damaged_file_or_a_bad_directory_is_one_clear_error() {
        let dir = TempDir::new("damaged");
        std::fs::create_dir_all(&dir.0).unwrap();
        std::fs::write(dir.0.join(FILE_NAME), vec![0x5a; 64 * 1024]).unwrap();
        let Err(StoreError::Backend(why)) = DiskStore::open(&dir.0) else {
            panic!("opened garbage");
        };
        assert!(why.contains(FILE_NAME) && !why.contains('\n'), "{why}");

        let not_a_dir = dir.0.join("plain-file");
        std::fs::write(&not_a_dir, "x").unwrap();
        let Err(StoreError::Backend(why)) = DiskStore::open(&not_a_dir) else {
            panic!("a file is not a directory");
        };
        assert!(why.contains("plain-file") && !why.contains('\n'), "{why}");
    }

    #[tokio::test]
    async fn damage_inside_the_file_is_an_error_naming_it_not_a_crash() {
        use futures_util::future::join_all;
        let dir = TempDir::new("damaged-inside");
        {
            let s = DiskStore::open(&dir.0).unwrap();
            s.join_group("q", "g").await.unwrap();
            let body = "y".repeat(200);
            join_all((0..2000).map(|_| s.append("q", &body))).await;
        }
        let path = dir.0.join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        let len = bytes.len();
        for at in [len / 2, 2 * len / 3] {
            bytes[at..at + 512].iter_mut().for_each(|b| *b ^= 0xff);
        }
        std::fs::write(&path, &bytes).unwrap();
        let names_the_file = |e: StoreError| {
            let why = e.to_string();
            assert!(why.contains(FILE_NAME) && !why.contains('\n'), "{why}");
        };
        // Where the damage is found depends on the layout: at open, or
        // when a message is read. Either way: an error, and the broker runs.
        match DiskStore::open(&dir.0) {
            Err(e) => names_the_file(e),
            Ok(s) => {
                if let Err(e) = s.deliver("q", "g", "c", 5000, LONG, Duration::ZERO).await {
                    names_the_file(e);
                }
                s.stats().await.map_err(names_the_file).ok();
            }
        }
    }

    /// `cargo test --release --lib durable_append_rate -- --ignored --nocapture`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement, not a test"]
    async fn durable_append_rate() {
        let dir = TempDir::new("rate");
        let s = Arc::new(DiskStore::open(&dir.0).unwrap());
        let body = "x".repeat(100);
        let n = 1_000;
        let start = Instant::now();
        for _ in 0..n {
            s.append("one", &body).await.unwrap();
        }
        let one = n as f64 / start.elapsed().as_secs_f64();

        let (producers, each) = (64, 200);
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..producers {
            let (s, body) = (s.clone(), body.clone());
            tasks.spawn(async move {
                for _ in 0..each {
                    s.append("many", &body).await.unwrap();
                }
            });
        }
        tasks.join_all().await;
        let many = (producers * each) as f64 / start.elapsed().as_secs_f64();
        println!("durable appends of 100 bytes at {}", dir.0.display());
        println!("  one at a time: {one:>8.0}/s");
        println!("  64 concurrent: {many:>8.0}/s ({:.1}x)", many / one);
    }
}
