//! `netdojo queue serve`: the broker. One WebSocket per client; JSON events
//! (see [`super::protocol`]); messages kept by a [`Store`].
//!
//! Per connection there is a reader (this task), a writer draining a bounded
//! queue into the socket, and, once the client consumes, a delivery task
//! that asks the store for messages whenever the consumer has room under its
//! prefetch. Room is a semaphore: a permit per message the consumer may
//! hold unacknowledged, given back by each ack. When the connection ends the
//! delivery task is stopped first and then the store is told the consumer
//! is gone, so everything it held is redelivered to someone else.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::limits::{
    ACK_TIMEOUT, DEFAULT_PREFETCH, MAX_CLIENTS, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES, MAX_PREFETCH,
    OUTBOUND_QUEUE, POLL_INTERVAL,
};
use super::protocol::{
    ClientEvent, ConsumerInfo, DEFAULT_GROUP, ErrorCode, ServerEvent, check_name,
};
use super::store::{Delivery, MessageId, Store, StoreError};
use crate::layer::Layer;
use crate::report::{Observation, Reporter};

/// How long a client has to complete the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Publishes one connection hands the store at once (in order), so a
/// durable store can commit them together.
const PUBLISH_BATCH: usize = 64;

/// Acks one connection hands the store at once: those already received
/// when the first is read. A consumer holds at most its prefetch, so this
/// only bounds one batch's futures.
const ACK_BATCH: usize = 64;

/// Publishes waiting for the store on one connection; a producer that sends
/// faster than the store stores waits for its answers (back-pressure).
const PUBLISH_QUEUE: usize = 256;

/// Waits before asking a failing store again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// What `queue serve` can be told.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Unacknowledged longer than this, a message goes to another consumer.
    pub ack_timeout: Duration,
    /// Clients connected at once; beyond it HTTP 503.
    pub max_clients: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            ack_timeout: ACK_TIMEOUT,
            max_clients: MAX_CLIENTS,
        }
    }
}

type Outbox = mpsc::Sender<Message>;

/// Ids delivered on one connection and not yet acknowledged.
type Held = Arc<Mutex<HashSet<MessageId>>>;

/// What all connections share.
struct Shared<S> {
    store: Arc<S>,
    options: ServeOptions,
    reporter: Reporter,
    addr: SocketAddr,
    /// Topic → its subscribers (connection id, outbox): plain pub/sub.
    topics: Mutex<HashMap<String, Vec<(u64, Outbox)>>>,
    /// Consumers on this broker, for `stats`.
    consumers: Mutex<HashMap<u64, (ConsumerInfo, Held)>>,
    shutdown: watch::Receiver<bool>,
}

/// Serves the broker on `listener` until `shutdown`.
pub async fn serve<S: Store>(
    listener: TcpListener,
    store: Arc<S>,
    options: ServeOptions,
    reporter: Reporter,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    reporter.emit(
        Observation::new(
            Layer::Application,
            "listening",
            format!(
                "listening on {addr}: a message broker over WebSocket (ws://{addr}/); messages are kept {}{}",
                store.describe(),
                if store.durable() {
                    ", and a producer is told \"stored\" only once the message would survive this broker being killed"
                } else {
                    ""
                }
            ),
        )
        .field("addr", addr.to_string())
        .field("store", store.describe())
        .field("durable", store.durable()),
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(options.max_clients));
    let shared = Arc::new(Shared {
        store,
        options,
        reporter: reporter.clone(),
        addr,
        topics: Mutex::new(HashMap::new()),
        consumers: Mutex::new(HashMap::new()),
        shutdown: stop_rx,
    });
    let next_id = AtomicU64::new(1);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = crate::endpoint::accept(&listener, &reporter) => accepted,
        };
        let _ = stream.set_nodelay(true);
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let permit = slots.clone().try_acquire_owned().ok();
        let shared = shared.clone();
        tokio::spawn(async move {
            let full = permit.is_none();
            let Some(ws) = handshake(stream, full).await else {
                if full {
                    shared.reporter.emit(Observation::new(
                        Layer::Application,
                        "refused",
                        format!(
                            "refused {peer} with HTTP 503: {} clients are connected, the limit",
                            shared.options.max_clients
                        ),
                    ));
                }
                return;
            };
            connection(ws, id, peer, &shared).await;
            drop(permit);
        });
    }
    let _ = stop_tx.send(true);
    reporter.emit(Observation::new(
        Layer::Application,
        "shutdown",
        "shutting down: every client gets a close frame (1001); unacknowledged messages stay in the store for the next broker",
    ));
    let all = u32::try_from(shared.options.max_clients).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(2), slots.acquire_many(all)).await;
    Ok(())
}

type Ws = WebSocketStream<TcpStream>;

/// The WebSocket handshake, refused with 503 when the broker is full.
async fn handshake(stream: TcpStream, full: bool) -> Option<Ws> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    // The callback's types are tungstenite's; its error is an HTTP response.
    #[allow(clippy::result_large_err)]
    let check = move |_req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        if full {
            let mut refused =
                ErrorResponse::new(Some("the broker is full; try again later\n".into()));
            *refused.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return Err(refused);
        }
        Ok(resp)
    };
    let accept = tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config));
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
        Ok(Ok(ws)) if !full => Some(ws),
        _ => None,
    }
}

fn event(e: &ServerEvent) -> Message {
    Message::text(e.to_text())
}

fn error(code: ErrorCode, message: impl Into<String>, reference: Option<u64>) -> Message {
    event(&ServerEvent::Error {
        code,
        message: message.into(),
        reference,
    })
}

/// One publish waiting for the store.
struct Publish {
    queue: String,
    body: String,
    reference: Option<u64>,
}

/// A connection that consumes.
struct Consumer {
    queue: String,
    group: String,
    name: String,
    permits: Arc<Semaphore>,
    held: Held,
    task: tokio::task::JoinHandle<()>,
}

/// One client, from the handshake to the close.
async fn connection<S: Store>(ws: Ws, id: u64, peer: SocketAddr, shared: &Arc<Shared<S>>) {
    let reporter = &shared.reporter;
    let (sink, mut stream) = ws.split();
    let (outbox, rx) = mpsc::channel::<Message>(OUTBOUND_QUEUE);
    let writer = tokio::spawn(write_frames(sink, rx));
    let _ = outbox.try_send(event(&ServerEvent::Welcome {
        broker: shared.addr.to_string(),
        store: shared.store.describe(),
        durable: shared.store.durable(),
        ack_timeout_ms: shared.options.ack_timeout.as_millis() as u64,
        max_message_bytes: MAX_MESSAGE_BYTES,
    }));
    reporter.emit(
        Observation::new(
            Layer::Session,
            "connected",
            format!("{peer} connected (client #{id})"),
        )
        .field("peer", peer.to_string())
        .field("client", id)
        .detail(),
    );

    // Publishes go through a task of their own, in order, so that the store
    // can take several at once while this task keeps reading.
    let (publish_tx, publish_rx) = mpsc::channel::<Publish>(PUBLISH_QUEUE);
    let publisher = tokio::spawn(store_publishes(shared.clone(), publish_rx, outbox.clone()));
    let mut consumer: Option<Consumer> = None;
    let mut shutdown = shared.shutdown.clone();
    // A frame read while gathering acks that was not an ack: next in line.
    let mut ahead = None;
    let close = loop {
        let frame = match ahead.take() {
            Some(f) => f,
            None => tokio::select! {
                // Frames already here first: an ack that arrived is not dropped
                // because shutdown was noticed in the same instant.
                biased;
                f = stream.next() => f,
                _ = shutdown.changed() => break Some((1001, "the broker is shutting down")),
            },
        };
        let text = match frame {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Binary(_))) => {
                let _ = outbox.try_send(error(
                    ErrorCode::BadEvent,
                    "events are JSON in text frames",
                    None,
                ));
                continue;
            }
            Some(Ok(Message::Close(_))) | None => break None,
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                use tokio_tungstenite::tungstenite::Error as E;
                break match e {
                    E::Capacity(_) => Some((1009, "a message over the broker's size limit")),
                    E::Utf8(_) => Some((1007, "a text frame that is not UTF-8")),
                    E::Protocol(_) => Some((1002, "a WebSocket protocol error")),
                    _ => None,
                };
            }
        };
        let incoming = match serde_json::from_str::<ClientEvent>(text.as_str()) {
            Ok(e) => e,
            Err(e) => {
                let _ = outbox.try_send(error(
                    ErrorCode::BadEvent,
                    format!("not a known event: {e}"),
                    None,
                ));
                continue;
            }
        };
        match incoming {
            ClientEvent::Publish {
                queue,
                topic,
                body,
                reference,
            } => {
                if body.len() > MAX_MESSAGE_BYTES {
                    let _ = outbox.try_send(error(
                        ErrorCode::TooBig,
                        format!(
                            "a body of {} bytes; the limit is {MAX_MESSAGE_BYTES}",
                            body.len()
                        ),
                        reference,
                    ));
                    continue;
                }
                match (queue, topic) {
                    (Some(queue), None) => {
                        if let Err(m) = check_name("queue", &queue) {
                            let _ = outbox.try_send(error(ErrorCode::BadName, m, reference));
                            continue;
                        }
                        let p = Publish {
                            queue,
                            body,
                            reference,
                        };
                        if publish_tx.send(p).await.is_err() {
                            break None;
                        }
                    }
                    (None, Some(topic)) => {
                        if let Err(m) = check_name("topic", &topic) {
                            let _ = outbox.try_send(error(ErrorCode::BadName, m, reference));
                            continue;
                        }
                        let receivers = publish_to_topic(shared, &topic, &body);
                        let _ = outbox.try_send(event(&ServerEvent::Published {
                            reference,
                            topic,
                            receivers,
                        }));
                    }
                    _ => {
                        let _ = outbox.try_send(error(
                            ErrorCode::BadEvent,
                            "publish needs exactly one of queue (kept until acknowledged) or topic (pub/sub, kept nowhere)",
                            reference,
                        ));
                    }
                }
            }
            ClientEvent::Consume {
                queue,
                group,
                prefetch,
            } => {
                if consumer.is_some() {
                    let _ = outbox.try_send(error(
                        ErrorCode::AlreadyConsuming,
                        "this connection already consumes; open another for another queue",
                        None,
                    ));
                    continue;
                }
                match start_consumer(shared, id, queue, group, prefetch, &outbox).await {
                    Ok(c) => consumer = Some(c),
                    Err((code, m)) => {
                        let _ = outbox.try_send(error(code, m, None));
                    }
                }
            }
            ClientEvent::Ack { id: msg } => {
                let Some(c) = &consumer else {
                    let _ = outbox.try_send(error(
                        ErrorCode::NotConsuming,
                        "ack on a connection that does not consume",
                        None,
                    ));
                    continue;
                };
                // The acks already received go to the store together, so
                // that it can take them in one commit (disk) or one round
                // trip (Redis) instead of one after the other. Anything else
                // read meanwhile is handled next, after them, as before.
                let mut acks = vec![msg];
                while acks.len() < ACK_BATCH {
                    let Some(f) = stream.next().now_or_never() else {
                        break;
                    };
                    match &f {
                        Some(Ok(Message::Text(t))) => match serde_json::from_str(t.as_str()) {
                            Ok(ClientEvent::Ack { id }) => acks.push(id),
                            _ => {
                                ahead = Some(f);
                                break;
                            }
                        },
                        _ => {
                            ahead = Some(f);
                            break;
                        }
                    }
                }
                ack_all(shared, c, acks, &outbox).await;
            }
            ClientEvent::Subscribe { topic } => {
                if let Err(m) = check_name("topic", &topic) {
                    let _ = outbox.try_send(error(ErrorCode::BadName, m, None));
                    continue;
                }
                shared
                    .topics
                    .lock()
                    .expect("topics lock")
                    .entry(topic.clone())
                    .or_default()
                    .push((id, outbox.clone()));
                reporter.emit(
                    Observation::new(
                        Layer::Application,
                        "subscribed",
                        format!("{peer} subscribed to topic {topic}: it gets what is published there while it is connected, and nothing else"),
                    )
                    .field("topic", topic.clone()),
                );
                let _ = outbox.try_send(event(&ServerEvent::Subscribed { topic }));
            }
            ClientEvent::Stats => {
                let queues = match shared.store.stats().await {
                    Ok(q) => q,
                    Err(e) => {
                        let _ = outbox.try_send(error(ErrorCode::StoreFailed, e.to_string(), None));
                        continue;
                    }
                };
                let consumers = shared
                    .consumers
                    .lock()
                    .expect("consumers lock")
                    .values()
                    .map(|(info, held)| ConsumerInfo {
                        in_flight: held.lock().expect("held lock").len(),
                        ..info.clone()
                    })
                    .collect();
                let _ = outbox.try_send(event(&ServerEvent::Stats { queues, consumers }));
            }
        }
    };

    // Stop delivering first, so nothing more is handed to this consumer,
    // then tell the store it is gone: what it held goes to someone else.
    drop(publish_tx);
    let _ = publisher.await;
    if let Some(c) = consumer {
        c.task.abort();
        let _ = c.task.await;
        shared.consumers.lock().expect("consumers lock").remove(&id);
        let held = c.held.lock().expect("held lock").len();
        // A read the store was already blocked in (Redis's XREADGROUP
        // BLOCK) may still hand this consumer messages after it stopped
        // listening; once such a read must be over, release again, so they
        // do not wait for the ack timeout.
        let (store, queue, group, name) = (
            shared.store.clone(),
            c.queue.clone(),
            c.group.clone(),
            c.name.clone(),
        );
        tokio::spawn(async move {
            tokio::time::sleep(POLL_INTERVAL + Duration::from_millis(200)).await;
            let _ = store.release(&queue, &group, &name).await;
        });
        match shared.store.release(&c.queue, &c.group, &c.name).await {
            Ok(released) => reporter.emit(
                Observation::new(
                    Layer::Application,
                    "consumer_left",
                    if released > 0 {
                        format!(
                            "{} left {}/{} holding {released} unacknowledged message(s): they will be delivered again, to the next consumer of the group",
                            c.name, c.queue, c.group
                        )
                    } else {
                        format!("{} left {}/{}, holding nothing", c.name, c.queue, c.group)
                    },
                )
                .field("queue", c.queue.clone())
                .field("group", c.group.clone())
                .field("consumer", c.name.clone())
                .field("released", released)
                .field("held", held as u64),
            ),
            Err(e) => reporter.emit(Observation::new(
                Layer::Application,
                "store_error",
                format!("could not release {}'s messages ({e}); they come back after the ack timeout", c.name),
            )),
        }
    }
    shared
        .topics
        .lock()
        .expect("topics lock")
        .retain(|_, subs| {
            subs.retain(|(sub, _)| *sub != id);
            !subs.is_empty()
        });
    if let Some((code, reason)) = close {
        let _ = outbox.try_send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        })));
    }
    drop(outbox);
    let abort = writer.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), writer)
        .await
        .is_err()
    {
        abort.abort();
    }
    reporter.emit(
        Observation::new(
            Layer::Session,
            "disconnected",
            format!("{peer} disconnected (client #{id})"),
        )
        .field("client", id)
        .detail(),
    );
}

/// Hands publishes to the store in order, several at a time, and answers
/// each one: `stored` only once the store has it.
async fn store_publishes<S: Store>(
    shared: Arc<Shared<S>>,
    mut rx: mpsc::Receiver<Publish>,
    outbox: Outbox,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < PUBLISH_BATCH {
            match rx.try_recv() {
                Ok(p) if p.queue == batch[0].queue => batch.push(p),
                Ok(p) => {
                    store_batch(&shared, std::mem::take(&mut batch), &outbox).await;
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        store_batch(&shared, batch, &outbox).await;
    }
}

async fn store_batch<S: Store>(shared: &Shared<S>, batch: Vec<Publish>, outbox: &Outbox) {
    let Some(queue) = batch.first().map(|p| p.queue.clone()) else {
        return;
    };
    let bodies: Vec<String> = batch.iter().map(|p| p.body.clone()).collect();
    let results = shared.store.append_batch(&queue, &bodies).await;
    for (p, result) in batch.into_iter().zip(results) {
        let answer = match result {
            Ok(id) => {
                if shared.reporter.wants_detail() {
                    shared.reporter.emit(
                        Observation::new(
                            Layer::Application,
                            "stored",
                            format!(
                                "stored {queue}/{id} ({} bytes); the producer is told it can forget it",
                                p.body.len()
                            ),
                        )
                        .field("queue", queue.clone())
                        .field("id", id.to_string())
                        .detail(),
                    );
                }
                event(&ServerEvent::Stored {
                    reference: p.reference,
                    queue: queue.clone(),
                    id,
                })
            }
            Err(e) => error(store_error_code(&e), e.to_string(), p.reference),
        };
        if outbox.send(answer).await.is_err() {
            return;
        }
    }
}

fn store_error_code(e: &StoreError) -> ErrorCode {
    match e {
        StoreError::Full { .. } => ErrorCode::QueueFull,
        StoreError::TooMany(_) => ErrorCode::TooMany,
        StoreError::Backend(_) => ErrorCode::StoreFailed,
    }
}

/// Acknowledges `ids` for consumer `c`, in the store all at once; answers
/// as one ack at a time would: an id this connection does not hold (or
/// already acknowledged, also earlier in `ids`) is an error and is not sent.
async fn ack_all<S: Store>(shared: &Shared<S>, c: &Consumer, ids: Vec<MessageId>, outbox: &Outbox) {
    let mut valid: Vec<MessageId> = Vec::with_capacity(ids.len());
    {
        let held = c.held.lock().expect("held lock");
        for msg in ids {
            if !held.contains(&msg) || valid.contains(&msg) {
                let _ = outbox.try_send(error(
                    ErrorCode::UnknownDelivery,
                    format!("message {msg} was not delivered on this connection, or is already acknowledged"),
                    None,
                ));
            } else {
                valid.push(msg);
            }
        }
    }
    let results = shared.store.ack_batch(&c.queue, &c.group, &valid).await;
    {
        let mut held = c.held.lock().expect("held lock");
        for msg in &valid {
            held.remove(msg);
        }
    }
    // All the room at once, so the next delivery asks for that many.
    c.permits.add_permits(valid.len());
    for (msg, acked) in valid.into_iter().zip(results) {
        match acked {
            Ok(true) if !shared.reporter.wants_detail() => {}
            Ok(true) => shared.reporter.emit(
                Observation::new(
                    Layer::Application,
                    "acked",
                    format!(
                        "{} acknowledged {}/{msg}: done with it for group {}",
                        c.name, c.queue, c.group
                    ),
                )
                .field("queue", c.queue.clone())
                .field("group", c.group.clone())
                .field("id", msg.to_string())
                .detail(),
            ),
            Ok(false) => {
                let _ = outbox.try_send(error(
                    ErrorCode::UnknownDelivery,
                    format!("message {msg} had already been acknowledged in group {} (it waited past the ack timeout and was redelivered)", c.group),
                    None,
                ));
            }
            Err(e) => {
                let _ = outbox.try_send(error(ErrorCode::StoreFailed, e.to_string(), None));
            }
        }
    }
}

/// Sends `body` to the topic's subscribers connected now; returns how many.
/// A subscriber too slow to take it misses it: this is pub/sub.
fn publish_to_topic<S>(shared: &Shared<S>, topic: &str, body: &str) -> usize {
    let frame = event(&ServerEvent::Event {
        topic: topic.to_string(),
        body: body.to_string(),
    });
    let topics = shared.topics.lock().expect("topics lock");
    let receivers = topics.get(topic).map_or(0, |subs| {
        subs.iter()
            .filter(|(_, outbox)| outbox.try_send(frame.clone()).is_ok())
            .count()
    });
    shared.reporter.emit(
        Observation::new(
            Layer::Application,
            "published",
            format!("published to topic {topic}: {receivers} subscriber(s) connected got it; it is kept nowhere"),
        )
        .field("topic", topic.to_string())
        .field("receivers", receivers as u64)
        .detail(),
    );
    receivers
}

/// `consume`: joins the group and starts the delivery task.
async fn start_consumer<S: Store>(
    shared: &Arc<Shared<S>>,
    id: u64,
    queue: String,
    group: Option<String>,
    prefetch: Option<usize>,
    outbox: &Outbox,
) -> Result<Consumer, (ErrorCode, String)> {
    let group = group.unwrap_or_else(|| DEFAULT_GROUP.to_string());
    check_name("queue", &queue).map_err(|m| (ErrorCode::BadName, m))?;
    check_name("group", &group).map_err(|m| (ErrorCode::BadName, m))?;
    let prefetch = prefetch.unwrap_or(DEFAULT_PREFETCH);
    if prefetch == 0 || prefetch > MAX_PREFETCH {
        return Err((
            ErrorCode::BadEvent,
            format!("prefetch must be 1 to {MAX_PREFETCH}; got {prefetch}"),
        ));
    }
    shared
        .store
        .join_group(&queue, &group)
        .await
        .map_err(|e| (store_error_code(&e), e.to_string()))?;
    // Unique across brokers sharing one Redis: a random suffix.
    let name = format!("{group}-{:08x}", rand::random::<u32>());
    let permits = Arc::new(Semaphore::new(prefetch));
    let held: Held = Arc::new(Mutex::new(HashSet::new()));
    shared.consumers.lock().expect("consumers lock").insert(
        id,
        (
            ConsumerInfo {
                queue: queue.clone(),
                group: group.clone(),
                consumer: name.clone(),
                prefetch,
                in_flight: 0,
            },
            held.clone(),
        ),
    );
    let _ = outbox
        .send(event(&ServerEvent::Consuming {
            queue: queue.clone(),
            group: group.clone(),
            consumer: name.clone(),
            prefetch,
        }))
        .await;
    shared.reporter.emit(
        Observation::new(
            Layer::Application,
            "consumer_joined",
            format!("{name} consumes {queue} in group {group}, at most {prefetch} unacknowledged at a time"),
        )
        .field("queue", queue.clone())
        .field("group", group.clone())
        .field("consumer", name.clone())
        .field("prefetch", prefetch as u64),
    );
    let task = tokio::spawn(deliver_loop(
        shared.clone(),
        queue.clone(),
        group.clone(),
        name.clone(),
        permits.clone(),
        held.clone(),
        outbox.clone(),
    ));
    Ok(Consumer {
        queue,
        group,
        name,
        permits,
        held,
        task,
    })
}

/// Asks the store for as many messages as the consumer has room for, sends
/// them, and waits for room again. Runs until aborted.
async fn deliver_loop<S: Store>(
    shared: Arc<Shared<S>>,
    queue: String,
    group: String,
    name: String,
    permits: Arc<Semaphore>,
    held: Held,
    outbox: Outbox,
) {
    loop {
        let Ok(first) = permits.acquire().await else {
            return;
        };
        first.forget();
        let extra = permits.available_permits();
        let extra = match permits.try_acquire_many(extra as u32) {
            Ok(p) if extra > 0 => {
                p.forget();
                extra
            }
            _ => 0,
        };
        let room = 1 + extra;
        let got = shared
            .store
            .deliver(
                &queue,
                &group,
                &name,
                room,
                shared.options.ack_timeout,
                POLL_INTERVAL,
            )
            .await;
        let deliveries = match got {
            Ok(d) => d,
            Err(e) => {
                permits.add_permits(room);
                let _ = outbox.try_send(error(ErrorCode::StoreFailed, e.to_string(), None));
                tokio::time::sleep(STORE_RETRY).await;
                continue;
            }
        };
        let mut unused = room - deliveries.len();
        for d in deliveries {
            // Redelivered to the same consumer after an ack timeout: it
            // already holds a permit for it.
            if !held.lock().expect("held lock").insert(d.id.clone()) {
                unused += 1;
            }
            narrate_delivery(&shared.reporter, &queue, &group, &name, &d);
            let frame = event(&ServerEvent::Message {
                queue: queue.clone(),
                group: group.clone(),
                id: d.id.clone(),
                body: d.body,
                stored_ms: d.stored_ms,
                delivery: d.deliveries,
                redelivered: d.deliveries > 1,
            });
            if outbox.send(frame).await.is_err() {
                return;
            }
        }
        permits.add_permits(unused);
    }
}

fn narrate_delivery(reporter: &Reporter, queue: &str, group: &str, name: &str, d: &Delivery) {
    // A first delivery is a detail: not worth building unless shown.
    if !d.is_redelivery() && !reporter.wants_detail() {
        return;
    }
    let obs = if d.is_redelivery() {
        Observation::new(
            Layer::Application,
            "redelivered",
            format!(
                "{queue}/{} delivered again to {name} (delivery {}): its last consumer left or never acknowledged it",
                d.id, d.deliveries
            ),
        )
    } else {
        Observation::new(
            Layer::Application,
            "delivered",
            format!("{queue}/{} delivered to {name} in group {group}", d.id),
        )
        .detail()
    };
    reporter.emit(
        obs.field("queue", queue.to_string())
            .field("group", group.to_string())
            .field("consumer", name.to_string())
            .field("id", d.id.to_string())
            .field("delivery", d.deliveries),
    );
}

/// Drains one client's queue into its socket, several frames per flush.
async fn write_frames(
    mut sink: futures_util::stream::SplitSink<Ws, Message>,
    mut rx: mpsc::Receiver<Message>,
) {
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(m) = next.take() {
            let closing = m.is_close();
            if sink.feed(m).await.is_err() {
                return;
            }
            if closing {
                let _ = sink.flush().await;
                let _ = sink.close().await;
                return;
            }
            next = rx.try_recv().ok();
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}
