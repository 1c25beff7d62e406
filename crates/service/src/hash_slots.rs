//! Who hashes next. There are as many hashing slots as cores; when all are busy, waiting
//! password checks are served in order of arrival, except that sign-ins from a known device
//! (one that has completed a sign-in to the same account before) go first.
//!
//! This is what keeps a returning user's sign-in fast while thousands of addresses each spend
//! their allowance of attempts on unknown emails: the flood's checks still run, at full
//! speed, but never ahead of a known device's. A first sign-in from a new device waits with
//! everyone else, so the priority reveals nothing about whether an email has an account.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// The queue a password check waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Normal,
    /// The request carried a valid known-device token for the email it signs in as.
    KnownDevice,
}

#[derive(Debug)]
pub(crate) struct HashSlots {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    free: usize,
    known_device: VecDeque<oneshot::Sender<()>>,
    normal: VecDeque<oneshot::Sender<()>>,
}

/// A slot held; it goes to the next waiter when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<HashSlots>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.release();
    }
}

/// A waiter that gave up (its request was cancelled) hands on a slot it was given meanwhile.
struct Waiting {
    receiver: Option<oneshot::Receiver<()>>,
    slots: Arc<HashSlots>,
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

impl HashSlots {
    pub fn new(slots: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                free: slots,
                known_device: VecDeque::new(),
                normal: VecDeque::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn acquire(self: &Arc<Self>, priority: Priority) -> Slot {
        let receiver = {
            let mut state = self.lock();
            if state.free > 0 {
                state.free -= 1;
                return Slot {
                    slots: Arc::clone(self),
                };
            }
            let (sender, receiver) = oneshot::channel();
            match priority {
                Priority::KnownDevice => state.known_device.push_back(sender),
                Priority::Normal => state.normal.push_back(sender),
            }
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
        Slot {
            slots: Arc::clone(self),
        }
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

    #[cfg(test)]
    fn waiting(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (state.free, state.known_device.len(), state.normal.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Yields until `check` holds: the waiters are other tasks on this runtime.
    async fn until(slots: &HashSlots, check: impl Fn((usize, usize, usize)) -> bool) {
        while !check(slots.waiting()) {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_known_device_is_served_before_earlier_normal_waiters() {
        let slots = HashSlots::new(1);
        let held = slots.acquire(Priority::Normal).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for n in 0..3 {
            let waiter = Arc::clone(&slots);
            let order = Arc::clone(&order);
            tasks.push(tokio::spawn(async move {
                let _slot = waiter.acquire(Priority::Normal).await;
                order.lock().unwrap().push(format!("normal {n}"));
            }));
            until(&slots, |(_, _, normal)| normal == n + 1).await;
        }
        let known = {
            let slots = Arc::clone(&slots);
            let order = Arc::clone(&order);
            tokio::spawn(async move {
                let _slot = slots.acquire(Priority::KnownDevice).await;
                order.lock().unwrap().push("known".to_owned());
            })
        };
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
        assert_eq!(slots.waiting(), (1, 0, 0));
    }

    #[tokio::test]
    async fn a_cancelled_waiter_does_not_lose_the_slot() {
        let slots = HashSlots::new(1);
        let held = slots.acquire(Priority::Normal).await;
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
            .expect("the slot came back");
        drop(again);
        assert_eq!(slots.waiting(), (1, 0, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn never_more_holders_than_slots() {
        let slots = HashSlots::new(3);
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
                let _slot = slots.acquire(priority).await;
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
        assert_eq!(slots.waiting(), (3, 0, 0));
    }
}
