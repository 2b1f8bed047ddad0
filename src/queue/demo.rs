//! `netdojo queue demo`: a broker and its clients in one process, telling
//! lesson 7's story with real connections:
//!
//! 1. plain pub/sub: a subscriber that is away misses what is published;
//! 2. a queue: a consumer that is away gets everything when it returns;
//! 3. a consumer that crashes after the work and before the ack: the message
//!    is delivered again, the work happens twice, unless the consumer is
//!    idempotent.
//!
//! Everything it says comes from what the broker answered.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::client::Connection;
use super::protocol::{ClientEvent, ServerEvent};
use super::server::{self, ServeOptions};
use super::store::memory::MemoryStore;
use crate::layer::Layer;
use crate::report::{Observation, Reporter};

/// Orders the producer sends while the consumer is away.
const ORDERS: usize = 10;

/// How long the returning subscriber listens for anything of what it missed.
const LISTEN_AFTER_RETURN: Duration = Duration::from_millis(300);

/// How long any one step may take before the demo gives up.
const STEP_LIMIT: Duration = Duration::from_secs(10);

/// What the demo saw, for the tour's recap and the tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DemoFacts {
    /// Orders published on the topic while the subscriber was away.
    pub pubsub_published: usize,
    /// Subscribers that received them (at the moment of publishing).
    pub pubsub_receivers: usize,
    /// Of those, how many the subscriber got after coming back.
    pub pubsub_received_after_return: usize,
    /// Orders stored in the queue while the consumer was away.
    pub queue_stored: usize,
    /// Of those, how many the consumer got when it came back.
    pub queue_received_after_return: usize,
    /// Whether they came in the order they were stored.
    pub queue_in_order: bool,
    /// The message that was handled, not acknowledged, and delivered again.
    pub redelivered_id: String,
    /// Its delivery count the second time.
    pub redelivery_count: u64,
    /// How many times a naive consumer charged the card for it.
    pub naive_charges: u64,
    /// How many times an idempotent consumer charged for its order.
    pub idempotent_charges: u64,
}

/// Runs the demo and returns what it saw.
pub async fn run(reporter: &Reporter) -> anyhow::Result<DemoFacts> {
    // The first part's heading comes before the broker starts: the broker
    // says "listening" from a task of its own, and that line belongs under it.
    reporter.section(
        "1. Pub/sub: only those listening",
        "A topic passes each event to the subscribers connected at that moment, and keeps nothing. Fast and simple; a subscriber that is away misses what happened meanwhile.",
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let broker_reporter = reporter.clone();
    let broker = tokio::spawn(async move {
        server::serve(
            listener,
            Arc::new(MemoryStore::new()),
            ServeOptions::default(),
            broker_reporter,
            async {
                let _ = stop_rx.await;
            },
        )
        .await
    });
    let result = tokio::time::timeout(10 * STEP_LIMIT, story(addr, reporter)).await;
    let _ = stop_tx.send(());
    let _ = broker.await;
    match result {
        Ok(facts) => facts,
        Err(_) => anyhow::bail!("the queue demo took too long; the broker did not answer"),
    }
}

async fn story(addr: SocketAddr, reporter: &Reporter) -> anyhow::Result<DemoFacts> {
    let mut facts = DemoFacts::default();
    pubsub(addr, reporter, &mut facts).await?;
    queue(addr, reporter, &mut facts).await?;
    crash(addr, reporter, &mut facts).await?;
    reporter.emit(
        Observation::new(
            Layer::Application,
            "summary",
            format!(
                "pub/sub delivered {} of {} orders to a subscriber that was away; the queue delivered {} of {}; a crash before the ack made the broker deliver payments/{} again, and a naive consumer charged {} times where an idempotent one charged {}",
                facts.pubsub_received_after_return,
                facts.pubsub_published,
                facts.queue_received_after_return,
                facts.queue_stored,
                facts.redelivered_id,
                facts.naive_charges,
                facts.idempotent_charges,
            ),
        )
        .field("pubsub_published", facts.pubsub_published as u64)
        .field("pubsub_receivers", facts.pubsub_receivers as u64)
        .field("pubsub_received_after_return", facts.pubsub_received_after_return as u64)
        .field("queue_stored", facts.queue_stored as u64)
        .field("queue_received_after_return", facts.queue_received_after_return as u64)
        .field("queue_in_order", facts.queue_in_order)
        .field("redelivered_id", facts.redelivered_id.clone())
        .field("redelivery_count", facts.redelivery_count)
        .field("naive_charges", facts.naive_charges)
        .field("idempotent_charges", facts.idempotent_charges)
        .with_fields_shown(),
    );
    Ok(facts)
}

/// The next event that `pick` accepts, skipping others, within the step limit.
async fn expect<T>(
    conn: &mut Connection,
    what: &str,
    pick: impl Fn(ServerEvent) -> Option<T>,
) -> anyhow::Result<T> {
    let found = tokio::time::timeout(STEP_LIMIT, async {
        loop {
            match conn.next().await? {
                Some(e) => {
                    if let Some(t) = pick(e) {
                        return Ok(t);
                    }
                }
                None => anyhow::bail!("the broker closed the connection while waiting for {what}"),
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| anyhow::bail!("no {what} from the broker"))
}

async fn publish(
    conn: &mut Connection,
    queue: Option<&str>,
    topic: Option<&str>,
    body: &str,
) -> anyhow::Result<ServerEvent> {
    conn.send(&ClientEvent::Publish {
        queue: queue.map(str::to_string),
        topic: topic.map(str::to_string),
        body: body.to_string(),
        reference: None,
    })
    .await?;
    expect(conn, "an answer to publish", |e| match e {
        e @ (ServerEvent::Stored { .. }
        | ServerEvent::Published { .. }
        | ServerEvent::Error { .. }) => Some(e),
        _ => None,
    })
    .await
}

fn order(i: usize) -> String {
    format!("order-{i}: 1 × pizza margherita")
}

async fn pubsub(
    addr: SocketAddr,
    reporter: &Reporter,
    facts: &mut DemoFacts,
) -> anyhow::Result<()> {
    let mut screen = Connection::open(addr).await?;
    screen
        .send(&ClientEvent::Subscribe {
            topic: "orders".into(),
        })
        .await?;
    expect(&mut screen, "subscribed", |e| {
        matches!(e, ServerEvent::Subscribed { .. }).then_some(())
    })
    .await?;
    let mut till = Connection::open(addr).await?;
    publish(&mut till, None, Some("orders"), &order(0)).await?;
    let got = expect(&mut screen, "the event", |e| match e {
        ServerEvent::Event { body, .. } => Some(body),
        _ => None,
    })
    .await?;
    reporter.emit(Observation::new(
        Layer::Application,
        "pubsub_live",
        format!("the kitchen screen is subscribed to topic \"orders\" and gets {got:?} as it is published"),
    ));

    drop(screen); // it goes away: a closed laptop, a restart
    // Let the broker see it go before publishing.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut receivers = 0;
    for i in 1..=ORDERS {
        if let ServerEvent::Published { receivers: n, .. } =
            publish(&mut till, None, Some("orders"), &order(i)).await?
        {
            receivers += n;
        }
    }
    facts.pubsub_published = ORDERS;
    facts.pubsub_receivers = receivers;
    reporter.emit(
        Observation::new(
            Layer::Application,
            "pubsub_away",
            format!("the screen is away; the till publishes {ORDERS} orders: the broker answers each with \"receivers: 0\" ({receivers} in all) and keeps none"),
        )
        .field("published", ORDERS as u64)
        .field("receivers", receivers as u64),
    );

    let mut screen = Connection::open(addr).await?;
    screen
        .send(&ClientEvent::Subscribe {
            topic: "orders".into(),
        })
        .await?;
    expect(&mut screen, "subscribed", |e| {
        matches!(e, ServerEvent::Subscribed { .. }).then_some(())
    })
    .await?;
    let mut after = 0;
    let listen = tokio::time::sleep(LISTEN_AFTER_RETURN);
    tokio::pin!(listen);
    loop {
        tokio::select! {
            e = screen.next() => match e? {
                Some(ServerEvent::Event { .. }) => after += 1,
                Some(_) => {}
                None => break,
            },
            _ = &mut listen => break,
        }
    }
    facts.pubsub_received_after_return = after;
    reporter.emit(
        Observation::new(
            Layer::Application,
            "pubsub_back",
            format!("the screen subscribes again and listens for {} ms: {after} of the {ORDERS} orders arrive. They are gone: nobody kept them", LISTEN_AFTER_RETURN.as_millis()),
        )
        .field("received", after as u64),
    );
    screen.close().await;
    till.close().await;
    settle().await;
    Ok(())
}

async fn consume(
    conn: &mut Connection,
    queue: &str,
    group: &str,
    prefetch: usize,
) -> anyhow::Result<()> {
    conn.send(&ClientEvent::Consume {
        queue: queue.into(),
        group: Some(group.into()),
        prefetch: Some(prefetch),
    })
    .await?;
    expect(conn, "consuming", |e| {
        matches!(e, ServerEvent::Consuming { .. }).then_some(())
    })
    .await
}

/// A delivered message: id, body, delivery count.
async fn next_message(conn: &mut Connection) -> anyhow::Result<(String, String, u64)> {
    expect(conn, "a message", |e| match e {
        ServerEvent::Message {
            id, body, delivery, ..
        } => Some((id.0, body, delivery)),
        _ => None,
    })
    .await
}

async fn queue(addr: SocketAddr, reporter: &Reporter, facts: &mut DemoFacts) -> anyhow::Result<()> {
    reporter.section(
        "2. A queue: kept until acknowledged",
        "The broker stores each message and hands it to a consumer of each group when one is there; it forgets it only once the consumer says it is done.",
    );
    let mut kitchen = Connection::open(addr).await?;
    consume(&mut kitchen, "orders", "kitchen", 10).await?;
    kitchen.close().await; // it goes away, as the screen did
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut till = Connection::open(addr).await?;
    let mut ids = Vec::new();
    for i in 1..=ORDERS {
        match publish(&mut till, Some("orders"), None, &order(i)).await? {
            ServerEvent::Stored { id, .. } => ids.push(id.0),
            other => anyhow::bail!("the broker did not store an order: {}", other.to_text()),
        }
    }
    facts.queue_stored = ids.len();
    reporter.emit(
        Observation::new(
            Layer::Application,
            "queue_away",
            format!(
                "the kitchen is away; the till sends the same {ORDERS} orders to queue \"orders\": each answered \"stored\" (ids {} to {}), and they wait in the broker",
                ids.first().map_or("?", String::as_str),
                ids.last().map_or("?", String::as_str)
            ),
        )
        .field("stored", ids.len() as u64),
    );

    let mut kitchen = Connection::open(addr).await?;
    consume(&mut kitchen, "orders", "kitchen", 10).await?;
    let mut got = Vec::new();
    while got.len() < ids.len() {
        let (id, _body, _) = next_message(&mut kitchen).await?;
        kitchen
            .send(&ClientEvent::Ack {
                id: super::store::MessageId(id.clone()),
            })
            .await?;
        got.push(id);
    }
    facts.queue_received_after_return = got.len();
    facts.queue_in_order = got == ids;
    reporter.emit(
        Observation::new(
            Layer::Application,
            "queue_back",
            format!(
                "the kitchen consumes again: all {} orders arrive{}, and each ack lets the broker forget one",
                got.len(),
                if facts.queue_in_order {
                    ", in the order they were stored"
                } else {
                    " (not in order!)"
                }
            ),
        )
        .field("received", got.len() as u64)
        .field("in_order", facts.queue_in_order),
    );
    kitchen.close().await;
    till.close().await;
    settle().await;
    Ok(())
}

async fn crash(addr: SocketAddr, reporter: &Reporter, facts: &mut DemoFacts) -> anyhow::Result<()> {
    reporter.section(
        "3. A crash between the work and the ack",
        "At least once: a message not acknowledged is delivered again. So a consumer that did the work and died before saying so will see it twice, and must be able to tell.",
    );
    let mut till = Connection::open(addr).await?;
    let charge = "order-11: charge 12.50 EUR to card 4242";
    publish(&mut till, Some("payments"), None, charge).await?;

    // The first billing worker takes it, charges the card, and dies.
    let mut worker = Connection::open(addr).await?;
    consume(&mut worker, "payments", "billing", 1).await?;
    let (id, body, first) = next_message(&mut worker).await?;
    let mut charges = 1u64;
    reporter.emit(
        Observation::new(
            Layer::Application,
            "crash",
            format!("billing worker A gets payments/{id} (delivery {first}): {body:?}, charges the card, and crashes before its ack leaves"),
        )
        .field("id", id.clone()),
    );
    drop(worker);
    settle().await;

    // The next worker is naive: it does whatever it is given.
    let mut naive = Connection::open(addr).await?;
    consume(&mut naive, "payments", "billing", 1).await?;
    let (again_id, _, delivery) = next_message(&mut naive).await?;
    if again_id == id {
        charges += 1;
    }
    naive
        .send(&ClientEvent::Ack {
            id: super::store::MessageId(again_id.clone()),
        })
        .await?;
    facts.redelivered_id = again_id.clone();
    facts.redelivery_count = delivery;
    facts.naive_charges = charges;
    reporter.emit(
        Observation::new(
            Layer::Application,
            "redelivered",
            format!("the broker saw A's connection end with payments/{id} unacknowledged and gives it to worker B: delivery {delivery}. B charges the card again: the customer paid {charges} times"),
        )
        .field("id", again_id)
        .field("delivery", delivery)
        .field("charges", charges),
    );
    naive.close().await;
    // Gone before the next order exists, or it would take that one too.
    settle().await;

    // The same again, with a consumer that remembers what it has done.
    let charge = "order-12: charge 8.00 EUR to card 4242";
    publish(&mut till, Some("payments"), None, charge).await?;
    let mut done: HashSet<String> = HashSet::new();
    let mut worker = Connection::open(addr).await?;
    consume(&mut worker, "payments", "billing", 1).await?;
    let (id, body, _) = next_message(&mut worker).await?;
    let key = order_key(&body);
    done.insert(key.clone()); // recorded with the work, atomically, in real life
    let mut charges = 1u64;
    drop(worker);
    settle().await;
    let mut careful = Connection::open(addr).await?;
    consume(&mut careful, "payments", "billing", 1).await?;
    let (again_id, again_body, delivery) = next_message(&mut careful).await?;
    let skipped = !done.insert(order_key(&again_body));
    if !skipped {
        charges += 1;
    }
    careful
        .send(&ClientEvent::Ack {
            id: super::store::MessageId(again_id.clone()),
        })
        .await?;
    facts.idempotent_charges = charges;
    reporter.emit(
        Observation::new(
            Layer::Application,
            "idempotent",
            format!(
                "with {key}: A charged and crashed again; payments/{id} came back as delivery {delivery}, and this time the worker looked up {key} among the orders it had already charged: {}",
                if skipped {
                    "found, so it only acknowledged. One charge: the consumer is idempotent"
                } else {
                    "not found, so it charged again"
                }
            ),
        )
        .field("key", key)
        .field("charges", charges),
    );
    careful.close().await;
    till.close().await;
    settle().await;
    Ok(())
}

/// Gives the broker a moment to see closed connections go, so that its
/// narration of them comes before the next part of the story.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// The business key of a message: what makes "the same order" the same.
fn order_key(body: &str) -> String {
    body.split(':').next().unwrap_or(body).trim().to_string()
}
