//! The broker's command-line clients: `queue produce`, `queue consume` and
//! `queue stats`. Each is one WebSocket to the broker, speaking
//! [`super::protocol`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncBufReadExt;
use tokio_tungstenite::tungstenite::Message;

use super::protocol::{ClientEvent, ErrorCode, ServerEvent, check_name};
use super::store::now_ms;
use crate::cli::{QueueConsumeArgs, QueueProduceArgs};
use crate::error::UsageError;
use crate::layer::Layer;
use crate::report::{Observation, Reporter, thousands};

/// Publishes sent and not yet answered: enough to keep a durable store's
/// group commit busy, few enough that a full queue stops the producer soon.
const PRODUCE_WINDOW: usize = 64;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A connection to the broker, past its `welcome`.
pub struct Connection {
    ws: Ws,
    pub welcome: ServerEvent,
}

impl Connection {
    /// Connects to the broker at `addr` and reads its welcome.
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Connection> {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .map_err(|e| match e {
                tokio_tungstenite::tungstenite::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::ConnectionRefused =>
                {
                    anyhow::anyhow!(
                        "connection refused by {addr}: no broker is listening there (start one with netdojo queue serve)"
                    )
                }
                tokio_tungstenite::tungstenite::Error::Http(r) => {
                    anyhow::anyhow!("the broker at {addr} refused the connection: HTTP {}", r.status())
                }
                other => anyhow::anyhow!("cannot connect to the broker at {addr}: {other}"),
            })?;
        let mut c = Connection {
            ws,
            welcome: ServerEvent::Stats {
                queues: Vec::new(),
                consumers: Vec::new(),
            },
        };
        let welcome = c
            .next()
            .await?
            .ok_or_else(|| anyhow::anyhow!("the broker at {addr} closed before saying welcome"))?;
        anyhow::ensure!(
            matches!(welcome, ServerEvent::Welcome { .. }),
            "{addr} does not speak netdojo's queue protocol (its first event: {})",
            welcome.to_text()
        );
        c.welcome = welcome;
        Ok(c)
    }

    pub async fn send(&mut self, event: &ClientEvent) -> anyhow::Result<()> {
        self.ws
            .send(Message::text(event.to_text()))
            .await
            .map_err(|e| anyhow::anyhow!("the broker connection failed: {e}"))
    }

    /// The next event, or None when the broker closed the connection.
    pub async fn next(&mut self) -> anyhow::Result<Option<ServerEvent>> {
        loop {
            match self.ws.next().await {
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str(t.as_str()).map(Some).map_err(|e| {
                        anyhow::anyhow!("the broker sent an unknown event ({e}): {}", t.as_str())
                    });
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => anyhow::bail!("the broker connection failed: {e}"),
            }
        }
    }

    /// Closes the connection properly (a close frame, then TCP's FIN).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// `netdojo queue produce`.
pub async fn produce(args: &QueueProduceArgs, reporter: &Reporter) -> anyhow::Result<()> {
    let (name, is_topic) = match (&args.queue, &args.topic) {
        (_, Some(topic)) => (topic.clone(), true),
        (Some(queue), None) => (queue.clone(), false),
        (None, None) => return Err(UsageError("name a queue, or --topic".into()).into()),
    };
    check_name(if is_topic { "topic" } else { "queue" }, &name).map_err(UsageError)?;
    let addr = args.broker.resolve().await?;
    let mut conn = Connection::open(addr).await?;

    // The messages: the arguments, or stdin's lines as they come.
    let (tx, mut bodies) = tokio::sync::mpsc::channel::<String>(PRODUCE_WINDOW);
    let given = args.messages.clone();
    tokio::spawn(async move {
        if given.is_empty() {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).await.is_err() {
                    break;
                }
            }
        } else {
            for m in given {
                if tx.send(m).await.is_err() {
                    break;
                }
            }
        }
    });

    let started = Instant::now();
    let mut outstanding: BTreeMap<u64, String> = BTreeMap::new();
    let mut next_ref = 1;
    let mut input_done = false;
    let (mut stored, mut refused) = (0u64, 0u64);
    let mut receivers = 0u64;
    while !input_done || !outstanding.is_empty() {
        tokio::select! {
            body = bodies.recv(), if !input_done && outstanding.len() < PRODUCE_WINDOW => match body {
                Some(body) => {
                    let reference = next_ref;
                    next_ref += 1;
                    let event = ClientEvent::Publish {
                        queue: (!is_topic).then(|| name.clone()),
                        topic: is_topic.then(|| name.clone()),
                        body: body.clone(),
                        reference: Some(reference),
                    };
                    conn.send(&event).await?;
                    outstanding.insert(reference, body);
                }
                None => input_done = true,
            },
            answer = conn.next() => {
                let Some(answer) = answer? else {
                    anyhow::bail!("the broker closed the connection with {} message(s) unanswered: they may or may not be stored", outstanding.len());
                };
                match answer {
                    ServerEvent::Stored { reference, queue, id } => {
                        let body = reference.and_then(|r| outstanding.remove(&r)).unwrap_or_default();
                        stored += 1;
                        reporter.emit(
                            Observation::new(Layer::Application, "stored",
                                format!("{queue}/{id} stored: {}", preview(&body)))
                            .field("queue", queue)
                            .field("id", id.to_string())
                            .field("body", body),
                        );
                    }
                    ServerEvent::Published { reference, topic, receivers: n } => {
                        let body = reference.and_then(|r| outstanding.remove(&r)).unwrap_or_default();
                        stored += 1;
                        receivers += n as u64;
                        reporter.emit(
                            Observation::new(Layer::Application, "published",
                                format!("published to topic {topic}: {n} subscriber(s) connected now got it; nobody else ever will: {}", preview(&body)))
                            .field("topic", topic)
                            .field("receivers", n as u64)
                            .field("body", body),
                        );
                    }
                    ServerEvent::Error { code, message, reference } => {
                        let body = reference.and_then(|r| outstanding.remove(&r));
                        refused += 1;
                        reporter.emit(
                            Observation::new(Layer::Application, "refused",
                                format!("refused ({}): {message}", code_name(code)))
                            .field("code", code_name(code))
                            .field("body", body.unwrap_or_default()),
                        );
                        if body_less_error(code) {
                            anyhow::bail!("the broker refused: {message}");
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let elapsed = started.elapsed();
    reporter.emit(
        Observation::new(
            Layer::Application,
            "produced",
            if is_topic {
                format!(
                    "{} message(s) published to topic {name} in {}, received by {} subscriber(s) in all",
                    thousands(stored),
                    crate::report::duration(elapsed),
                    thousands(receivers)
                )
            } else {
                format!(
                    "{} message(s) stored in {name} in {}{}; each waits there until a consumer acknowledges it",
                    thousands(stored),
                    crate::report::duration(elapsed),
                    if refused > 0 {
                        format!(", {} refused", thousands(refused))
                    } else {
                        String::new()
                    }
                )
            },
        )
        .field("stored", stored)
        .field("refused", refused)
        .field("seconds", elapsed.as_secs_f64()),
    );
    conn.close().await;
    if refused > 0 {
        anyhow::bail!("{refused} message(s) were refused by the broker");
    }
    Ok(())
}

/// An error that is not about one message (it has no ref to match).
fn body_less_error(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::BadEvent)
}

fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn preview(body: &str) -> String {
    const MAX: usize = 80;
    if body.chars().count() <= MAX {
        format!("{body:?}")
    } else {
        format!("{:?}…", body.chars().take(MAX).collect::<String>())
    }
}

/// `netdojo queue consume`.
pub async fn consume(args: &QueueConsumeArgs, reporter: &Reporter) -> anyhow::Result<()> {
    if let Some(topic) = &args.topic {
        check_name("topic", topic).map_err(UsageError)?;
        return subscribe(args, topic, reporter).await;
    }
    let queue = args
        .queue
        .clone()
        .ok_or_else(|| UsageError("name a queue, or --topic".into()))?;
    check_name("queue", &queue).map_err(UsageError)?;
    check_name("group", &args.group).map_err(UsageError)?;
    let max = crate::queue::limits::MAX_PREFETCH;
    if args.prefetch == 0 || args.prefetch > max {
        return Err(UsageError(format!("--prefetch must be 1 to {max}")).into());
    }
    let addr = args.broker.resolve().await?;
    let mut conn = Connection::open(addr).await?;
    conn.send(&ClientEvent::Consume {
        queue: queue.clone(),
        group: Some(args.group.clone()),
        prefetch: Some(args.prefetch),
    })
    .await?;
    let mut handled = 0u64;
    let mut redelivered = 0u64;
    let mut shutdown = std::pin::pin!(crate::app::shutdown_signal());
    loop {
        let event = tokio::select! {
            e = conn.next() => e?,
            _ = &mut shutdown => {
                reporter.emit(Observation::new(Layer::Application, "stopping",
                    "stopping: whatever this consumer holds unacknowledged goes back to the queue for the next consumer"));
                break;
            }
        };
        let Some(event) = event else {
            anyhow::bail!("the broker closed the connection");
        };
        match event {
            ServerEvent::Consuming {
                queue,
                group,
                consumer,
                prefetch,
            } => reporter.emit(
                Observation::new(
                    Layer::Application,
                    "consuming",
                    format!("consuming {queue} as {consumer} in group {group}, at most {prefetch} unacknowledged at a time"),
                )
                .field("queue", queue)
                .field("group", group)
                .field("consumer", consumer),
            ),
            ServerEvent::Message {
                queue,
                id,
                body,
                stored_ms,
                delivery,
                redelivered: again,
                ..
            } => {
                handled += 1;
                if again {
                    redelivered += 1;
                }
                let waited = now_ms().saturating_sub(stored_ms);
                reporter.emit(
                    Observation::new(
                        Layer::Application,
                        "message",
                        format!(
                            "{queue}/{id}: {}{}",
                            preview(&body),
                            if again {
                                format!("  (delivery {delivery}: a redelivery; it may have been handled before)")
                            } else {
                                String::new()
                            }
                        ),
                    )
                    .field("queue", queue)
                    .field("id", id.to_string())
                    .field("body", body)
                    .field("delivery", delivery)
                    .field("redelivered", again)
                    .field("waited_ms", waited),
                );
                if !args.work.is_zero() {
                    tokio::time::sleep(args.work).await;
                }
                if args.crash_after == Some(handled) {
                    reporter.emit(
                        Observation::new(
                            Layer::Application,
                            "crash",
                            format!("handled {id}, and now crashing before acknowledging it (--crash-after {handled}): the broker still counts it as unacknowledged"),
                        )
                        .field("id", id.to_string()),
                    );
                    // No close frame, no ack: the process just ends.
                    std::process::exit(0);
                }
                conn.send(&ClientEvent::Ack { id }).await?;
                if args.count == Some(handled) {
                    break;
                }
            }
            ServerEvent::Error { code, message, .. } => {
                let code = code_name(code);
                if matches!(code.as_str(), "bad_name" | "bad_event" | "too_many" | "store_failed") {
                    anyhow::bail!("the broker refused: {message}");
                }
                reporter.emit(
                    Observation::new(Layer::Application, "error", format!("the broker says ({code}): {message}"))
                        .field("code", code),
                );
            }
            _ => {}
        }
    }
    reporter.emit(
        Observation::new(
            Layer::Application,
            "consumed",
            format!(
                "handled and acknowledged {} message(s), {} of them redeliveries",
                thousands(handled),
                thousands(redelivered)
            ),
        )
        .field("handled", handled)
        .field("redelivered", redelivered),
    );
    conn.close().await;
    Ok(())
}

/// `netdojo queue consume --topic`: plain pub/sub.
async fn subscribe(
    args: &QueueConsumeArgs,
    topic: &str,
    reporter: &Reporter,
) -> anyhow::Result<()> {
    let addr = args.broker.resolve().await?;
    let mut conn = Connection::open(addr).await?;
    conn.send(&ClientEvent::Subscribe {
        topic: topic.to_string(),
    })
    .await?;
    let mut received = 0u64;
    let mut shutdown = std::pin::pin!(crate::app::shutdown_signal());
    loop {
        let event = tokio::select! {
            e = conn.next() => e?,
            _ = &mut shutdown => break,
        };
        match event {
            None => anyhow::bail!("the broker closed the connection"),
            Some(ServerEvent::Subscribed { topic }) => reporter.emit(
                Observation::new(
                    Layer::Application,
                    "subscribed",
                    format!("subscribed to topic {topic}: what is published from now on, while connected; nothing is kept for later"),
                )
                .field("topic", topic),
            ),
            Some(ServerEvent::Event { topic, body }) => {
                received += 1;
                reporter.emit(
                    Observation::new(Layer::Application, "event", format!("{topic}: {}", preview(&body)))
                        .field("topic", topic)
                        .field("body", body),
                );
                if args.count == Some(received) {
                    break;
                }
            }
            Some(ServerEvent::Error { message, .. }) => anyhow::bail!("the broker refused: {message}"),
            Some(_) => {}
        }
    }
    conn.close().await;
    Ok(())
}

/// `netdojo queue stats`.
pub async fn stats(addr: SocketAddr, reporter: &Reporter) -> anyhow::Result<()> {
    let mut conn = Connection::open(addr).await?;
    conn.send(&ClientEvent::Stats).await?;
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    loop {
        let event = tokio::select! {
            e = conn.next() => e?,
            _ = &mut deadline => anyhow::bail!("the broker at {addr} did not answer stats"),
        };
        match event {
            Some(ServerEvent::Stats { queues, consumers }) => {
                crate::report::queue::stats(reporter, &conn.welcome, &queues, &consumers);
                break;
            }
            Some(ServerEvent::Error { message, .. }) => anyhow::bail!("the broker says: {message}"),
            Some(_) => continue,
            None => anyhow::bail!("the broker closed the connection"),
        }
    }
    conn.close().await;
    Ok(())
}
