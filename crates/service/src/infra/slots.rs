//! Who goes next when requests wait for one of a few slots: the hashing slots (as many as
//! cores) and, on SQLite, the single turn to write. Waiters are served in order of arrival,
//! except that requests from a known device (one that has completed a sign-in to the same
//! account before, see [`crate::priority`]) go first.
//!
//! This is what keeps a returning user's sign-in fast while thousands of addresses each spend
//! their allowance of attempts on unknown emails: the flood's checks and writes still run, at
//! full speed, but never ahead of a known device's. A first sign-in from a new device waits
//! with everyone else, so the priority reveals nothing about whether an email has an account.
//!
//! Each queue is bounded ([`QueueLimits`]). Past the bound a waiter is refused at once instead
//! of waiting: a queue that only grows turns a flood into minutes of latency for everyone in
//! it and memory for every waiting request, while a prompt "busy, retry in a moment" lets
//! clients back off. The known-device queue has a bound of its own, far above the normal one,
//! so a flood of new devices can never fill it. A refused waiter holds no slot and leaves no
//! waiter behind. (The write turn is unbounded: its waiters are already bounded by the
//! hashing queue and the admission buckets in front of it.)

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

pub use crate::priority::Priority;

/// How many checks may wait for a slot, per slot, in each queue.
///
/// The normal bound caps how long a check can wait: a slot finishes one OWASP-strength
/// Argon2id hash in about 10–20 ms (BENCHMARKS.md: 90–110 hashes a second on 2 cores), so 64
/// waiting per slot is at most about 1.3 s of queue. The 256-address flood of the benchmark
/// keeps about one check per address in flight, 128 per slot on 2 cores: past the bound half
/// of it is now refused rather than queued. Known devices are few (each is a browser that
/// completed a sign-in, with an admission bucket of its own) and must never be turned away
/// because of a flood, so their bound is 16 times larger and only a flood of known devices —
/// of accounts whose passwords the attacker holds — could reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    pub normal_per_slot: usize,
    pub known_device_per_slot: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            normal_per_slot: 64,
            known_device_per_slot: 1024,
        }
    }
}

/// The queue for this priority is full: the check was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// How many checks wait in each queue, for logs, metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    pub free_slots: usize,
    pub known_device: usize,
    pub normal: usize,
}

#[derive(Debug)]
pub struct Slots {
    state: Mutex<State>,
    known_device_limit: usize,
    normal_limit: usize,
}

#[derive(Debug)]
struct State {
    free: usize,
    known_device: VecDeque<oneshot::Sender<()>>,
    normal: VecDeque<oneshot::Sender<()>>,
}

impl State {
    fn queue(&mut self, priority: Priority) -> &mut VecDeque<oneshot::Sender<()>> {
        match priority {
            Priority::KnownDevice => &mut self.known_device,
            Priority::Normal => &mut self.normal,
        }
    }
}

/// A slot held; it goes to the next waiter when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.release();
    }
}

/// A waiter that gave up (its request was cancelled) hands on a slot it was given meanwhile.
struct Waiting {
    receiver: Option<oneshot::Receiver<()>>,
    slots: Arc<Slots>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            receiver.close();
            if receiver.try_recv().is_ok() {
                self.slots.release();
            }
        }
    }
}

impl Slots {
    /// One slot with queues that never refuse: a turn (SQLite's one writer).
    pub fn turn() -> Arc<Self> {
        Self::new(
            1,
            QueueLimits {
                normal_per_slot: usize::MAX,
                known_device_per_slot: usize::MAX,
            },
        )
    }

    pub fn new(slots: usize, limits: QueueLimits) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                free: slots,
                known_device: VecDeque::new(),
                normal: VecDeque::new(),
            }),
            known_device_limit: limits.known_device_per_slot.saturating_mul(slots),
            normal_limit: limits.normal_per_slot.saturating_mul(slots),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn limit(&self, priority: Priority) -> usize {
        match priority {
            Priority::KnownDevice => self.known_device_limit,
            Priority::Normal => self.normal_limit,
        }
    }

    /// Whether a check of this priority would start or be queued now. A hint for refusing
    /// before any other work is done; [`acquire`](Self::acquire) decides.
    pub fn has_room(&self, priority: Priority) -> bool {
        let mut state = self.lock();
        state.free > 0 || self.room_in_queue(&mut state, priority)
    }

    /// Whether the queue has room. Waiters that gave up stay queued until a release reaches
    /// them; when the queue looks full they are dropped first, so they never refuse anyone.
    fn room_in_queue(&self, state: &mut State, priority: Priority) -> bool {
        let limit = self.limit(priority);
        let queue = state.queue(priority);
        if queue.len() >= limit {
            queue.retain(|sender| !sender.is_closed());
        }
        queue.len() < limit
    }

    /// A slot now, a place in the queue, or `QueueFull` at once.
    pub async fn acquire(self: &Arc<Self>, priority: Priority) -> Result<Slot, QueueFull> {
        let receiver = {
            let mut state = self.lock();
            if state.free > 0 {
                state.free -= 1;
                return Ok(Slot {
                    slots: Arc::clone(self),
                });
            }
            if !self.room_in_queue(&mut state, priority) {
                return Err(QueueFull);
            }
            let (sender, receiver) = oneshot::channel();
            state.queue(priority).push_back(sender);
            receiver
        };
        let mut waiting = Waiting {
            receiver: Some(receiver),
            slots: Arc::clone(self),
        };
        let handed_over = match waiting.receiver.as_mut() {
            Some(receiver) => receiver.await.is_ok(),
            None => false,
        };
        waiting.receiver = None;
        debug_assert!(handed_over, "senders are only dropped after sending");
        Ok(Slot {
            slots: Arc::clone(self),
        })
    }

    fn release(&self) {
        let mut state = self.lock();
        loop {
            let next = match state.known_device.pop_front() {
                Some(sender) => Some(sender),
                None => state.normal.pop_front(),
            };
            match next {
                // A waiter that has gone away refuses the slot; offer it to the next.
                Some(sender) => {
                    if sender.send(()).is_ok() {
                        return;
                    }
                }
                None => {
                    state.free += 1;
                    return;
                }
            }
        }
    }

    pub fn depth(&self) -> QueueDepth {
        let state = self.lock();
        QueueDepth {
            free_slots: state.free,
            known_device: state.known_device.len(),
            normal: state.normal.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    fn limits(normal_per_slot: usize, known_device_per_slot: usize) -> QueueLimits {
        QueueLimits {
            normal_per_slot,
            known_device_per_slot,
        }
    }

    /// (free slots, known-device waiters, normal waiters).
    fn waiting(slots: &Slots) -> (usize, usize, usize) {
        let depth = slots.depth();
        (depth.free_slots, depth.known_device, depth.normal)
    }

    /// Yields until `check` holds: the waiters are other tasks on this runtime.
    async fn until(slots: &Slots, check: impl Fn((usize, usize, usize)) -> bool) {
        while !check(waiting(slots)) {
            tokio::task::yield_now().await;
        }
    }

    /// Polls `acquire` once: a refusal must be ready at once, without waiting for anything.
    fn acquire_now(slots: &Arc<Slots>, priority: Priority) -> Poll<Result<Slot, QueueFull>> {
        let mut acquiring = std::pin::pin!(slots.acquire(priority));
        acquiring
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    }

    fn spawn_waiter(
        slots: &Arc<Slots>,
        priority: Priority,
        label: &str,
        order: &Arc<Mutex<Vec<String>>>,
    ) -> tokio::task::JoinHandle<()> {
        let (slots, order, label) = (Arc::clone(slots), Arc::clone(order), label.to_owned());
        tokio::spawn(async move {
            let _slot = slots.acquire(priority).await.expect("queued, not refused");
            order.lock().unwrap().push(label);
        })
    }

    /// Queues `count` waiters of `priority`, labelled `"{prefix} {n}"`, one at a time, each
    /// seen waiting before the next arrives, so their order of arrival is known.
    async fn queue_waiters(
        slots: &Arc<Slots>,
        priority: Priority,
        prefix: &str,
        count: usize,
        order: &Arc<Mutex<Vec<String>>>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        for n in 0..count {
            tasks.push(spawn_waiter(
                slots,
                priority,
                &format!("{prefix} {n}"),
                order,
            ));
            until(slots, |(_, known, normal)| match priority {
                Priority::KnownDevice => known == n + 1,
                Priority::Normal => normal == n + 1,
            })
            .await;
        }
        tasks
    }

    #[tokio::test]
    async fn a_known_device_is_served_before_earlier_normal_waiters() {
        let slots = Slots::new(1, QueueLimits::default());
        let held = slots.acquire(Priority::Normal).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let tasks = queue_waiters(&slots, Priority::Normal, "normal", 3, &order).await;
        let known = spawn_waiter(&slots, Priority::KnownDevice, "known", &order);
        until(&slots, |(_, known, _)| known == 1).await;
        drop(held);
        known.await.unwrap();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["known", "normal 0", "normal 1", "normal 2"]
        );
        assert_eq!(waiting(&slots), (1, 0, 0));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_the_refusal_holds_nothing() {
        // Two slots, so the bounds are two normal and four known-device waiters.
        let slots = Slots::new(2, limits(1, 2));
        let held = [
            slots.acquire(Priority::Normal).await.unwrap(),
            slots.acquire(Priority::Normal).await.unwrap(),
        ];
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = queue_waiters(&slots, Priority::Normal, "normal", 2, &order).await;
        assert!(!slots.has_room(Priority::Normal));
        assert!(matches!(
            acquire_now(&slots, Priority::Normal),
            Poll::Ready(Err(QueueFull))
        ));
        assert_eq!(waiting(&slots), (0, 0, 2), "the refusal left no waiter");
        tasks.extend(queue_waiters(&slots, Priority::KnownDevice, "known", 4, &order).await);
        assert!(matches!(
            acquire_now(&slots, Priority::KnownDevice),
            Poll::Ready(Err(QueueFull))
        ));
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(order.lock().unwrap().len(), 6, "every queued check ran");
        assert_eq!(waiting(&slots), (2, 0, 0), "every slot came back");
        assert!(slots.has_room(Priority::Normal));
    }

    #[tokio::test]
    async fn a_known_device_is_admitted_while_the_normal_queue_is_full() {
        let slots = Slots::new(1, limits(1, 1));
        let held = slots.acquire(Priority::Normal).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let normal = spawn_waiter(&slots, Priority::Normal, "normal", &order);
        until(&slots, |(_, _, normal)| normal == 1).await;
        assert!(matches!(
            acquire_now(&slots, Priority::Normal),
            Poll::Ready(Err(QueueFull))
        ));
        assert!(slots.has_room(Priority::KnownDevice));
        let known = spawn_waiter(&slots, Priority::KnownDevice, "known", &order);
        until(&slots, |(_, known, _)| known == 1).await;
        drop(held);
        known.await.unwrap();
        normal.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["known", "normal"]);
        assert_eq!(waiting(&slots), (1, 0, 0));
    }

    #[tokio::test]
    async fn waiters_that_gave_up_never_fill_the_queue() {
        let slots = Slots::new(1, limits(1, 1));
        let held = slots.acquire(Priority::Normal).await.unwrap();
        let gave_up = tokio::spawn({
            let slots = Arc::clone(&slots);
            async move {
                let _slot = slots.acquire(Priority::Normal).await;
            }
        });
        until(&slots, |(_, _, normal)| normal == 1).await;
        gave_up.abort();
        let _ = gave_up.await;
        // Its entry is still queued, but it no longer counts against the bound.
        assert!(slots.has_room(Priority::Normal));
        let order = Arc::new(Mutex::new(Vec::new()));
        let waiter = spawn_waiter(&slots, Priority::Normal, "after", &order);
        until(&slots, |(_, _, normal)| normal == 1).await;
        drop(held);
        waiter.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["after"]);
        assert_eq!(waiting(&slots), (1, 0, 0));
    }

    #[tokio::test]
    async fn a_cancelled_waiter_does_not_lose_the_slot() {
        let slots = Slots::new(1, QueueLimits::default());
        let held = slots.acquire(Priority::Normal).await.unwrap();
        let waiter = {
            let slots = Arc::clone(&slots);
            tokio::spawn(async move {
                let _slot = slots.acquire(Priority::Normal).await;
            })
        };
        until(&slots, |(_, _, normal)| normal == 1).await;
        waiter.abort();
        let _ = waiter.await;
        drop(held);
        // The slot is free again: acquiring it does not wait.
        let again = tokio::time::timeout(Duration::from_secs(5), slots.acquire(Priority::Normal))
            .await
            .expect("the slot came back")
            .unwrap();
        drop(again);
        assert_eq!(waiting(&slots), (1, 0, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn never_more_holders_than_slots() {
        let slots = Slots::new(3, QueueLimits::default());
        let holding = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for n in 0..64 {
            let slots = Arc::clone(&slots);
            let holding = Arc::clone(&holding);
            let most = Arc::clone(&most);
            tasks.push(tokio::spawn(async move {
                let priority = if n % 3 == 0 {
                    Priority::KnownDevice
                } else {
                    Priority::Normal
                };
                let _slot = slots.acquire(priority).await.unwrap();
                let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                holding.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= 3);
        assert_eq!(waiting(&slots), (3, 0, 0));
    }
}
