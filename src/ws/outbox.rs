//! One client's outbound frames: the queue between the hub, which must never
//! wait, and the client's writer task, which waits for the socket.
//!
//! A bounded queue with the flags the session watches. It allocates nothing
//! until a frame is queued and gives a burst's memory back once it has been
//! written, so an idle connection costs a few hundred bytes here rather than
//! a channel's preallocated block of slots (tokio's bounded channel
//! allocates 32 slots per channel up front: 1.3 KiB of a chat connection's
//! 6.7 KiB, measured with massif, before this module replaced it).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;
use tungstenite::Utf8Bytes;

/// A frame on its way to one client.
#[derive(Debug)]
pub enum Outbound {
    Text(Utf8Bytes),
    Ping,
    Close(u16, String),
}

/// Queue capacity (in frames) above which an emptied queue frees its
/// memory. Below it the buffer is kept, so a busy client does not allocate
/// for every burst; above it an idle client would keep a burst's worth.
const KEEP_CAPACITY: usize = 32;

#[derive(Default)]
struct Queue {
    frames: VecDeque<Outbound>,
    /// No frame will be added any more: the writer ends once it has
    /// written what is queued.
    closed: bool,
}

/// A client's queue and the flags that tell its session to end.
#[derive(Default)]
pub struct Outbox {
    queue: Mutex<Queue>,
    /// Wakes the writer when a frame is queued or the queue is closed.
    ready: Notify,
    /// Set when the client fell too far behind; its session closes it with
    /// 1008, and its writer sends the close frame instead of the backlog.
    pub too_slow: AtomicBool,
    /// Set when the same client (same session token) connected again; its
    /// session closes this older connection with 1001.
    pub replaced: AtomicBool,
    /// Wakes the session when `too_slow` or `replaced` is set.
    pub kick: Notify,
}

impl Outbox {
    pub fn new() -> Outbox {
        Outbox::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue half
        // updated (every change is one VecDeque call), so a poisoned lock
        // is still a good queue.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Frames queued and not yet taken by the writer.
    pub fn len(&self) -> usize {
        self.lock().frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `frame` if fewer than `limit` are waiting and the queue is
    /// open; says whether it did.
    pub fn push(&self, frame: Outbound, limit: usize) -> bool {
        {
            let mut q = self.lock();
            if q.closed || q.frames.len() >= limit {
                return false;
            }
            q.frames.push_back(frame);
        }
        self.ready.notify_one();
        true
    }

    /// Closes the queue, after `last` if given: it goes in whatever the
    /// queue holds (a close frame must not be refused for lack of room).
    pub fn close(&self, last: Option<Outbound>) {
        {
            let mut q = self.lock();
            if q.closed {
                return;
            }
            if let Some(frame) = last {
                q.frames.push_back(frame);
            }
            q.closed = true;
        }
        self.ready.notify_one();
    }

    /// The next frame if one is queued, without waiting.
    pub fn try_next(&self) -> Option<Outbound> {
        let mut q = self.lock();
        let frame = q.frames.pop_front();
        if q.frames.is_empty() && q.frames.capacity() > KEEP_CAPACITY {
            q.frames = VecDeque::new();
        }
        frame
    }

    /// The next frame, waiting for one; `None` once the queue is closed and
    /// everything in it has been taken. For one consumer, the writer.
    pub async fn next(&self) -> Option<Outbound> {
        loop {
            // `notify_one` keeps a permit when nobody waits, so a frame
            // queued between this check and the wait is not missed.
            if let Some(frame) = self.try_next() {
                return Some(frame);
            }
            if self.lock().closed {
                return None;
            }
            self.ready.notified().await;
        }
    }

    /// Marks the client too slow and wakes its session, once.
    pub fn mark_slow(&self) {
        if !self.too_slow.swap(true, Ordering::Relaxed) {
            self.kick.notify_one();
        }
    }

    pub fn is_too_slow(&self) -> bool {
        self.too_slow.load(Ordering::Relaxed)
    }
}

/// Closes an outbox when dropped, so that its writer ends even if the
/// session that owns it ends in an unusual way (a task aborted at shutdown).
pub struct CloseOnDrop(pub std::sync::Arc<Outbox>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn text(s: &str) -> Outbound {
        Outbound::Text(Utf8Bytes::from(s.to_string()))
    }

    #[test]
    fn it_refuses_past_its_limit_and_after_closing_but_takes_the_last_frame() {
        let o = Outbox::new();
        assert!(o.push(text("a"), 2));
        assert!(o.push(text("b"), 2));
        assert!(!o.push(text("c"), 2), "full");
        o.close(Some(Outbound::Close(1008, "bye".into())));
        assert!(!o.push(text("d"), 10), "closed");
        assert_eq!(o.len(), 3, "the close frame went in over the limit");
        assert!(matches!(o.try_next(), Some(Outbound::Text(t)) if t.as_str() == "a"));
        assert!(matches!(o.try_next(), Some(Outbound::Text(t)) if t.as_str() == "b"));
        assert!(matches!(o.try_next(), Some(Outbound::Close(1008, _))));
        assert!(o.try_next().is_none());
    }

    #[test]
    fn an_emptied_queue_gives_a_burst_back_and_keeps_a_small_buffer() {
        let o = Outbox::new();
        assert_eq!(o.lock().frames.capacity(), 0, "nothing until a frame");
        for _ in 0..200 {
            o.push(Outbound::Ping, 1000);
        }
        while o.try_next().is_some() {}
        assert_eq!(o.lock().frames.capacity(), 0);
        o.push(Outbound::Ping, 1000);
        o.try_next();
        assert!(o.lock().frames.capacity() <= KEEP_CAPACITY);
        assert!(o.lock().frames.capacity() > 0, "a small buffer is kept");
    }

    #[tokio::test]
    async fn the_writer_wakes_for_each_frame_and_ends_after_the_close() {
        let o = Arc::new(Outbox::new());
        let writer = {
            let o = o.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(f) = o.next().await {
                    got.push(f);
                }
                got
            })
        };
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert!(o.push(Outbound::Ping, 10));
        }
        drop(CloseOnDrop(o.clone()));
        let got = tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .expect("the writer ends")
            .unwrap();
        assert_eq!(got.len(), 3);
    }
}
