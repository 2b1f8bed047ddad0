//! The semantic suite every store must pass: ordering, work sharing within a
//! group, fan-out across groups, redelivery when a consumer leaves and when
//! an ack times out, acknowledgements, the prefetch bound, waiting, stats.
//!
//! Each check uses queues of its own (under `prefix`), so one store, even a
//! shared Redis, can run them all.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{Delivery, MessageId, Store};

const LONG: Duration = Duration::from_secs(30);
const NOW: Duration = Duration::ZERO;

/// Runs every check against a fresh store from `make`.
pub async fn suite<S: Store>(make: impl Fn() -> S) {
    let store = make();
    let prefix = format!("t{:08x}", rand::random::<u32>());
    run_all(&store, &prefix).await;
}

/// Runs every check against `store`, with queue names under `prefix`.
pub async fn run_all<S: Store>(store: &S, prefix: &str) {
    order_is_kept(store, &format!("{prefix}.order")).await;
    a_batch_is_stored_in_order(store, &format!("{prefix}.batch")).await;
    a_group_shares_the_work(store, &format!("{prefix}.share")).await;
    every_group_gets_every_message(store, &format!("{prefix}.fanout")).await;
    a_consumer_that_leaves_has_its_messages_redelivered(store, &format!("{prefix}.release")).await;
    an_ack_timeout_redelivers(store, &format!("{prefix}.timeout")).await;
    acks_are_checked(store, &format!("{prefix}.ack")).await;
    a_batch_of_acks_is_checked_one_by_one(store, &format!("{prefix}.acks")).await;
    at_most_max_are_handed_out(store, &format!("{prefix}.prefetch")).await;
    a_waiting_consumer_gets_what_arrives(store, &format!("{prefix}.wait")).await;
    stats_count_what_happened(store, &format!("{prefix}.stats")).await;
}

async fn fill<S: Store>(s: &S, q: &str, n: usize) -> Vec<MessageId> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(s.append(q, &format!("m{i}")).await.expect("append"));
    }
    ids
}

async fn take<S: Store>(s: &S, q: &str, g: &str, c: &str, max: usize) -> Vec<Delivery> {
    s.deliver(q, g, c, max, LONG, NOW).await.expect("deliver")
}

async fn ack_all<S: Store>(s: &S, q: &str, g: &str, ds: &[Delivery]) {
    for d in ds {
        assert!(s.ack(q, g, &d.id).await.expect("ack"), "ack {}", d.id);
    }
}

fn bodies(ds: &[Delivery]) -> Vec<&str> {
    ds.iter().map(|d| d.body.as_str()).collect()
}

async fn order_is_kept<S: Store>(s: &S, q: &str) {
    s.join_group(q, "g").await.unwrap();
    let ids = fill(s, q, 20).await;
    let mut sorted = ids.clone();
    sorted.sort_by(id_order);
    assert_eq!(
        ids, sorted,
        "ids increase in the order messages were stored"
    );
    let mut got = Vec::new();
    loop {
        let ds = take(s, q, "g", "c", 7).await;
        if ds.is_empty() {
            break;
        }
        assert!(ds.iter().all(|d| d.deliveries == 1 && !d.is_redelivery()));
        ack_all(s, q, "g", &ds).await;
        got.extend(ds);
    }
    assert_eq!(got.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(
        bodies(&got),
        (0..20).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
}

async fn a_batch_is_stored_in_order<S: Store>(s: &S, q: &str) {
    s.join_group(q, "g").await.unwrap();
    s.append(q, "before").await.unwrap();
    let batch: Vec<String> = (0..5).map(|i| format!("b{i}")).collect();
    let ids: Vec<MessageId> = s
        .append_batch(q, &batch)
        .await
        .into_iter()
        .map(|r| r.expect("append in a batch"))
        .collect();
    assert_eq!(ids.len(), 5);
    assert!(s.append_batch(q, &[]).await.is_empty());
    s.append(q, "after").await.unwrap();
    let got = take(s, q, "g", "c", 10).await;
    assert_eq!(
        bodies(&got),
        ["before", "b0", "b1", "b2", "b3", "b4", "after"]
    );
    let delivered: Vec<MessageId> = got[1..6].iter().map(|d| d.id.clone()).collect();
    assert_eq!(delivered, ids, "each body has the id its answer gave");
    ack_all(s, q, "g", &got).await;
}

/// Ids compare as numbers (memory, disk) or as "ms-seq" pairs (Redis).
fn id_order(a: &MessageId, b: &MessageId) -> std::cmp::Ordering {
    let key = |id: &MessageId| -> (u64, u64) {
        let mut parts = id.0.splitn(2, '-');
        let first = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let second = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (first, second)
    };
    key(a).cmp(&key(b))
}

async fn a_group_shares_the_work<S: Store>(s: &S, q: &str) {
    s.join_group(q, "workers").await.unwrap();
    fill(s, q, 30).await;
    let mut seen = BTreeSet::new();
    let mut per_consumer = [0usize; 3];
    'outer: loop {
        for (i, c) in ["w1", "w2", "w3"].into_iter().enumerate() {
            let ds = take(s, q, "workers", c, 4).await;
            if ds.is_empty() {
                break 'outer;
            }
            for d in &ds {
                assert!(seen.insert(d.id.clone()), "{} went to two workers", d.id);
            }
            per_consumer[i] += ds.len();
            ack_all(s, q, "workers", &ds).await;
        }
    }
    assert_eq!(seen.len(), 30, "each message to exactly one worker");
    assert!(per_consumer.iter().all(|&n| n > 0), "{per_consumer:?}");
}

async fn every_group_gets_every_message<S: Store>(s: &S, q: &str) {
    s.join_group(q, "billing").await.unwrap();
    fill(s, q, 5).await;
    // A group created after the messages still gets them.
    s.join_group(q, "shipping").await.unwrap();
    for g in ["billing", "shipping"] {
        let ds = take(s, q, g, "c", 100).await;
        assert_eq!(bodies(&ds), ["m0", "m1", "m2", "m3", "m4"], "group {g}");
        ack_all(s, q, g, &ds).await;
        assert!(take(s, q, g, "c", 100).await.is_empty());
    }
}

async fn a_consumer_that_leaves_has_its_messages_redelivered<S: Store>(s: &S, q: &str) {
    s.join_group(q, "g").await.unwrap();
    fill(s, q, 5).await;
    let first = take(s, q, "g", "gone", 3).await;
    assert_eq!(first.len(), 3);
    ack_all(s, q, "g", &first[..1]).await;
    assert_eq!(s.release(q, "g", "gone").await.unwrap(), 2);
    let again = take(s, q, "g", "next", 10).await;
    // The two it held come first, marked, then the two never delivered.
    assert_eq!(bodies(&again), ["m1", "m2", "m3", "m4"]);
    assert_eq!(
        again.iter().map(|d| d.deliveries).collect::<Vec<_>>(),
        [2, 2, 1, 1]
    );
    assert!(again[0].is_redelivery() && !again[2].is_redelivery());
    assert_eq!(again[0].id, first[1].id);
    // Releasing a consumer with nothing pending changes nothing.
    assert_eq!(s.release(q, "g", "nobody").await.unwrap(), 0);
    ack_all(s, q, "g", &again).await;
    assert_eq!(s.release(q, "g", "next").await.unwrap(), 0);
    assert!(
        take(s, q, "g", "c", 10).await.is_empty(),
        "acked: never again"
    );
}

async fn an_ack_timeout_redelivers<S: Store>(s: &S, q: &str) {
    let timeout = Duration::from_millis(300);
    s.join_group(q, "g").await.unwrap();
    fill(s, q, 2).await;
    let first = s.deliver(q, "g", "slow", 10, timeout, NOW).await.unwrap();
    assert_eq!(first.len(), 2);
    // Not yet due.
    assert!(
        s.deliver(q, "g", "other", 10, timeout, NOW)
            .await
            .unwrap()
            .is_empty()
    );
    // Waiting long enough, the other consumer gets them once they fall due.
    let mut again = Vec::new();
    for _ in 0..20 {
        again.extend(
            s.deliver(q, "g", "other", 10, timeout, Duration::from_millis(500))
                .await
                .unwrap(),
        );
        if again.len() >= 2 {
            break;
        }
    }
    assert_eq!(bodies(&again), ["m0", "m1"]);
    assert!(again.iter().all(|d| d.deliveries == 2));
    // The slow consumer's late ack still counts (once).
    assert!(s.ack(q, "g", &first[0].id).await.unwrap());
    assert!(!s.ack(q, "g", &first[0].id).await.unwrap());
    assert!(s.ack(q, "g", &again[1].id).await.unwrap());
}

async fn acks_are_checked<S: Store>(s: &S, q: &str) {
    s.join_group(q, "g").await.unwrap();
    let ids = fill(s, q, 2).await;
    // Not delivered yet: nothing to acknowledge.
    assert!(!s.ack(q, "g", &ids[0]).await.unwrap());
    let ds = take(s, q, "g", "c", 1).await;
    assert!(s.ack(q, "g", &ds[0].id).await.unwrap());
    assert!(!s.ack(q, "g", &ds[0].id).await.unwrap(), "twice");
    for bogus in ["", "abc", "999999999", "1-2-3", "99999999999999-0"] {
        assert!(
            !s.ack(q, "g", &MessageId(bogus.into())).await.unwrap(),
            "{bogus:?}"
        );
    }
    assert!(!s.ack(q, "nogroup", &ds[0].id).await.unwrap());
    assert!(!s.ack("no-such-queue", "g", &ds[0].id).await.unwrap());
}

async fn a_batch_of_acks_is_checked_one_by_one<S: Store>(s: &S, q: &str) {
    s.join_group(q, "g").await.unwrap();
    let ids = fill(s, q, 4).await;
    let ds = take(s, q, "g", "c", 3).await;
    assert!(s.ack_batch(q, "g", &[]).await.is_empty());
    let batch = [
        ds[0].id.clone(),
        MessageId("abc".into()),
        ids[3].clone(), // not delivered yet
        ds[1].id.clone(),
    ];
    let acked: Vec<bool> = s
        .ack_batch(q, "g", &batch)
        .await
        .into_iter()
        .map(|r| r.expect("ack in a batch"))
        .collect();
    assert_eq!(acked, [true, false, false, true]);
    let again: Vec<bool> = s
        .ack_batch(q, "g", &[ds[1].id.clone(), ds[2].id.clone()])
        .await
        .into_iter()
        .map(|r| r.expect("ack in a batch"))
        .collect();
    assert_eq!(again, [false, true], "twice, then the third");
    assert!(
        !s.ack_batch(q, "nogroup", &[ids[3].clone()]).await[0]
            .as_ref()
            .unwrap()
    );
    let rest = take(s, q, "g", "c", 10).await;
    assert_eq!(bodies(&rest), ["m3"]);
    ack_all(s, q, "g", &rest).await;
}

async fn at_most_max_are_handed_out<S: Store>(s: &S, q: &str) {
    s.join_group(q, "g").await.unwrap();
    fill(s, q, 10).await;
    assert_eq!(take(s, q, "g", "c", 3).await.len(), 3);
    assert_eq!(take(s, q, "g", "c", 1).await.len(), 1);
    assert_eq!(take(s, q, "g", "c", 100).await.len(), 6);
    assert!(take(s, q, "g", "c", 100).await.is_empty());
}

async fn a_waiting_consumer_gets_what_arrives<S: Store>(s: &S, q: &str) {
    s.join_group(q, "g").await.unwrap();
    // Nothing there: waits, returns nothing.
    assert!(
        s.deliver(q, "g", "c", 1, LONG, Duration::from_millis(100))
            .await
            .unwrap()
            .is_empty()
    );
    let (got, _) = tokio::join!(
        s.deliver(q, "g", "c", 5, LONG, Duration::from_secs(10)),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            s.append(q, "late").await.unwrap();
        }
    );
    assert_eq!(bodies(&got.unwrap()), ["late"]);
}

async fn stats_count_what_happened<S: Store>(s: &S, q: &str) {
    s.join_group(q, "a").await.unwrap();
    s.join_group(q, "b").await.unwrap();
    fill(s, q, 4).await;
    let a = take(s, q, "a", "c1", 3).await;
    ack_all(s, q, "a", &a[..2]).await;
    s.release(q, "a", "c1").await.unwrap();
    let again = take(s, q, "a", "c2", 1).await;
    assert!(again[0].is_redelivery());
    let all = s.stats().await.unwrap();
    let st = all
        .iter()
        .find(|x| x.queue == q)
        .expect("the queue in stats");
    assert_eq!(st.depth, 4, "b has acknowledged nothing");
    let ga = st.groups.iter().find(|g| g.group == "a").unwrap();
    assert_eq!(
        (ga.backlog, ga.in_flight, ga.acked, ga.redeliveries),
        (1, 1, 2, 1)
    );
    let gb = st.groups.iter().find(|g| g.group == "b").unwrap();
    assert_eq!((gb.backlog, gb.in_flight, gb.acked), (4, 0, 0));
}
