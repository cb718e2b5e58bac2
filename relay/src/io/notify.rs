//! Notifications from the media cores to their subscribers, without loss and without ever making a
//! core wait.
//!
//! Each subscriber (a control connection, the placement) has a queue of its own. A core appends to
//! every queue and goes on: the only wait is a short mutex around a `VecDeque` push, never the reader.
//!
//! A queue is bounded. When a subscriber falls `capacity` notifications behind, its queue is emptied
//! and its next [`Delivery`] is [`Delivery::Lagged`] instead of what it missed. That is a *resync
//! point*: a core changes its state before it publishes the notification about it, so whatever the
//! subscriber asks the relay after receiving `Lagged` (`DumpRoom`, `ListRooms`) already reflects every
//! notification it missed. Notifications published after the overflow stay queued and follow `Lagged`,
//! so nothing after the resync point is lost either; at worst they repeat what the dump shows, and
//! every notification is safe to apply twice (a `PeerClosed` about a peer already gone changes nothing).
//!
//! A subscriber whose reader is a thread of this process doing constant work per notification (the
//! placement) may use [`Capacity::Unbounded`]: what it holds is then bounded by what the cores publish
//! while it runs, which is at most one `PeerClosed` per peer plus a few notices per room.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};

use tokio::sync::Notify;

use crate::protocol::Notification;

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Notification(Notification),
    /// `missed` notifications were dropped from this subscriber's queue (it read too slowly); ask the
    /// relay for its state now to catch up (see the module documentation).
    Lagged {
        missed: u64,
    },
}

/// How many notifications a subscriber's queue holds before it is resynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    Bounded(usize),
    /// Only for in-process readers that never wait on anything slow.
    Unbounded,
}

/// Lag figures over every subscriber since the relay started (`notify_*` in the relay's stats).
#[derive(Debug, Default)]
pub struct NotifyCounters {
    /// Notifications published by the cores.
    pub published: AtomicU64,
    /// Times a subscriber's queue overflowed (each one a resync of that subscriber).
    pub lags: AtomicU64,
    /// Notifications dropped by those overflows (replaced by a resync).
    pub dropped: AtomicU64,
}

/// The publishing side, cloned into every core. Dropping the last clone ends every subscription.
#[derive(Clone)]
pub struct Notifier {
    hub: Arc<Hub>,
}

struct Hub {
    subscribers: Mutex<Vec<Weak<Slot>>>,
    counters: NotifyCounters,
}

struct Slot {
    capacity: Capacity,
    queue: Mutex<Queue>,
    /// Wakes an async reader.
    ready: Notify,
    /// Wakes a blocking reader.
    ready_blocking: Condvar,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Notification>,
    /// Dropped since the reader last heard `Lagged`.
    missed: u64,
    closed: bool,
}

impl Queue {
    fn take(&mut self) -> Option<Delivery> {
        if self.missed > 0 {
            return Some(Delivery::Lagged { missed: std::mem::take(&mut self.missed) });
        }
        self.items.pop_front().map(Delivery::Notification)
    }
}

/// One subscriber's end. Dropping it unsubscribes.
pub struct Subscription {
    slot: Arc<Slot>,
}

impl Default for Notifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Notifier {
    pub fn new() -> Self {
        Notifier { hub: Arc::new(Hub { subscribers: Mutex::default(), counters: NotifyCounters::default() }) }
    }

    pub fn subscribe(&self, capacity: Capacity) -> Subscription {
        let slot =
            Arc::new(Slot { capacity, queue: Mutex::default(), ready: Notify::new(), ready_blocking: Condvar::new() });
        let mut subscribers = self.hub.subscribers.lock().expect("subscribers lock");
        subscribers.retain(|s| s.strong_count() > 0);
        subscribers.push(Arc::downgrade(&slot));
        Subscription { slot }
    }

    /// Queues `notification` for every subscriber; never waits for one.
    pub fn publish(&self, notification: Notification) {
        let counters = &self.hub.counters;
        counters.published.fetch_add(1, Ordering::Relaxed);
        let subscribers = self.hub.subscribers.lock().expect("subscribers lock");
        for slot in subscribers.iter().filter_map(Weak::upgrade) {
            {
                let mut queue = slot.queue.lock().expect("notification queue lock");
                match slot.capacity {
                    Capacity::Bounded(capacity) if queue.items.len() >= capacity.max(1) => {
                        // This one and everything queued are covered by the resync the reader now does.
                        let dropped = queue.items.len() as u64 + 1;
                        queue.items.clear();
                        queue.missed += dropped;
                        counters.lags.fetch_add(1, Ordering::Relaxed);
                        counters.dropped.fetch_add(dropped, Ordering::Relaxed);
                    }
                    _ => queue.items.push_back(notification.clone()),
                }
            }
            slot.ready.notify_one();
            slot.ready_blocking.notify_one();
        }
    }

    pub fn counters(&self) -> &NotifyCounters {
        &self.hub.counters
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let subscribers = self.subscribers.get_mut().expect("subscribers lock");
        for slot in subscribers.iter().filter_map(Weak::upgrade) {
            slot.queue.lock().expect("notification queue lock").closed = true;
            slot.ready.notify_one();
            slot.ready_blocking.notify_one();
        }
    }
}

impl Subscription {
    /// The next delivery; `None` once the relay is gone and the queue is drained.
    pub async fn recv(&mut self) -> Option<Delivery> {
        loop {
            // Registered before looking, so a publish between the look and the wait is not missed.
            let ready = self.slot.ready.notified();
            {
                let mut queue = self.slot.queue.lock().expect("notification queue lock");
                if let Some(d) = queue.take() {
                    return Some(d);
                }
                if queue.closed {
                    return None;
                }
            }
            ready.await;
        }
    }

    /// [`Subscription::recv`] for a reader on its own thread.
    pub fn recv_blocking(&mut self) -> Option<Delivery> {
        let mut queue = self.slot.queue.lock().expect("notification queue lock");
        loop {
            if let Some(d) = queue.take() {
                return Some(d);
            }
            if queue.closed {
                return None;
            }
            queue = self.slot.ready_blocking.wait(queue).expect("notification queue lock");
        }
    }

    /// What is queued now, without waiting (tests, and readers that batch).
    pub fn try_recv(&mut self) -> Option<Delivery> {
        self.slot.queue.lock().expect("notification queue lock").take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(peer: u32) -> Notification {
        Notification::PeerClosed {
            room: "r".into(),
            peer: format!("p{peer}"),
            reason: "test".into(),
            ice_ufrag: String::new(),
        }
    }

    fn drain(s: &mut Subscription) -> Vec<Delivery> {
        std::iter::from_fn(|| s.try_recv()).collect()
    }

    #[test]
    fn a_reader_that_keeps_up_gets_everything_in_order() {
        let notifier = Notifier::new();
        let mut s = notifier.subscribe(Capacity::Bounded(4));
        for round in 0..10 {
            for i in 0..4 {
                notifier.publish(closed(round * 4 + i));
            }
            let got = drain(&mut s);
            let want: Vec<Delivery> = (0..4).map(|i| Delivery::Notification(closed(round * 4 + i))).collect();
            assert_eq!(got, want);
        }
        assert_eq!(notifier.counters().lags.load(Ordering::Relaxed), 0);
        assert_eq!(notifier.counters().published.load(Ordering::Relaxed), 40);
    }

    #[test]
    fn an_overflow_becomes_one_lagged_then_what_came_after() {
        let notifier = Notifier::new();
        let mut slow = notifier.subscribe(Capacity::Bounded(3));
        let mut fast = notifier.subscribe(Capacity::Unbounded);
        // 0, 1, 2 fill the queue; 3 overflows it (0..=3 dropped); 4, 5 are after the resync point.
        for i in 0..6 {
            notifier.publish(closed(i));
        }
        assert_eq!(
            drain(&mut slow),
            vec![Delivery::Lagged { missed: 4 }, Delivery::Notification(closed(4)), Delivery::Notification(closed(5))]
        );
        // The other subscriber is not affected.
        assert_eq!(drain(&mut fast).len(), 6);
        let c = notifier.counters();
        assert_eq!((c.lags.load(Ordering::Relaxed), c.dropped.load(Ordering::Relaxed)), (1, 4));
        // Overflows before the reader looks add up into one `Lagged`.
        for i in 0..10 {
            notifier.publish(closed(i));
        }
        assert_eq!(drain(&mut slow)[0], Delivery::Lagged { missed: 8 });
    }

    #[test]
    fn a_storm_from_several_threads_loses_nothing_unaccounted() {
        let notifier = Notifier::new();
        let mut s = notifier.subscribe(Capacity::Bounded(16));
        let publishers: Vec<_> = (0..4)
            .map(|t| {
                let n = notifier.clone();
                std::thread::spawn(move || (0..5_000).for_each(|i| n.publish(closed(t * 10_000 + i))))
            })
            .collect();
        let reader = std::thread::spawn(move || {
            let (mut received, mut missed) = (0u64, 0u64);
            while let Some(d) = s.recv_blocking() {
                match d {
                    Delivery::Notification(_) => received += 1,
                    Delivery::Lagged { missed: m } => missed += m,
                }
            }
            (received, missed)
        });
        for p in publishers {
            p.join().unwrap();
        }
        let published = notifier.counters().published.load(Ordering::Relaxed);
        let dropped = notifier.counters().dropped.load(Ordering::Relaxed);
        drop(notifier);
        let (received, missed) = reader.join().unwrap();
        // Every notification was either delivered or reported missed (and so covered by a resync).
        assert_eq!(received + missed, 20_000);
        assert_eq!((published, dropped), (20_000, missed));
    }

    #[tokio::test]
    async fn an_async_reader_wakes_for_a_publish_and_ends_with_the_notifier() {
        let notifier = Notifier::new();
        let mut s = notifier.subscribe(Capacity::Bounded(8));
        let reader = tokio::spawn(async move {
            let first = s.recv().await;
            let end = s.recv().await;
            (first, end)
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        notifier.publish(closed(1));
        drop(notifier);
        let (first, end) = reader.await.unwrap();
        assert_eq!(first, Some(Delivery::Notification(closed(1))));
        assert_eq!(end, None);
    }
}
