//! The outbox worker loop.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use latchkey_domain::{Duration, Timestamp};
use latchkey_service::outbox::{KIND_CALL, KIND_EMAIL, OutboxReader};
use latchkey_service::store::CallStatus;
use latchkey_service::store::OutboxItem;
use latchkey_service::{Clock, EmailSender, SendError, Store, StoreError, VoiceCaller};
use tokio::sync::{Notify, watch};

/// How long a worker may hold a message before another may take it, and how retries back off.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub lease: Duration,
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// Attempts after which a temporarily failing message is given up.
    pub max_attempts: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            lease: Duration::minutes(2),
            first_retry: Duration::seconds(15),
            max_retry: Duration::hours(1),
            max_attempts: 12,
        }
    }
}

impl RetryPolicy {
    /// When to try again after `attempts` failed attempts; `None` to give up.
    pub fn retry_at(&self, attempts: i64, now: Timestamp) -> Option<Timestamp> {
        if attempts >= self.max_attempts {
            return None;
        }
        let doublings = (attempts - 1).clamp(0, 20) as u32;
        let delay = self
            .first_retry
            .0
            .saturating_mul(1 << doublings)
            .min(self.max_retry.0);
        Some(now + Duration(delay))
    }
}

pub struct OutboxWorker {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    reader: OutboxReader,
    email: Arc<dyn EmailSender>,
    voice: Arc<dyn VoiceCaller>,
    signal: Arc<Notify>,
    policy: RetryPolicy,
}

impl OutboxWorker {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        reader: OutboxReader,
        email: Arc<dyn EmailSender>,
        voice: Arc<dyn VoiceCaller>,
        signal: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            clock,
            reader,
            email,
            voice,
            signal,
            policy: RetryPolicy::default(),
        }
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Delivers until `shutdown` turns true: immediately when a use case signals, and at
    /// least every `poll` for retries and for messages queued by other instances.
    pub async fn run(self, poll: StdDuration, mut shutdown: watch::Receiver<bool>) {
        loop {
            match self.deliver_due().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    error = %latchkey_service::error::error_chain(&e),
                    "outbox: cannot read the queue; will retry"
                ),
            }
            tokio::select! {
                _ = self.signal.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// One pass over what is due now. Returns how many messages were attempted.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let batch = self
            .store
            .claim_outbox(now, now + self.policy.lease, 16)
            .await?;
        for item in &batch {
            self.deliver(item).await?;
        }
        Ok(batch.len())
    }

    async fn deliver(&self, item: &OutboxItem) -> Result<(), StoreError> {
        let outcome = match item.kind.as_str() {
            KIND_EMAIL => match self.reader.email(&item.recipient, &item.payload) {
                Ok(email) => self.email.send(&email, item.id).await,
                Err(e) => Err(unreadable(e)),
            },
            KIND_CALL => match self.reader.call(&item.recipient, &item.payload) {
                Ok(call) => self.place_call(&call).await?,
                Err(e) => Err(unreadable(e)),
            },
            other => Err(SendError::Permanent(format!(
                "unknown message kind {other:?}"
            ))),
        };
        let now = self.clock.now();
        match outcome {
            Ok(()) => {
                tracing::info!(id = item.id, kind = %item.kind, "outbox: delivered");
                self.store.complete_outbox(item.id, now).await
            }
            Err(SendError::Temporary(error)) => {
                let retry_at = self.policy.retry_at(item.attempts, now);
                tracing::warn!(id = item.id, attempts = item.attempts, %error, gave_up = retry_at.is_none(), "outbox: delivery failed");
                self.store.fail_outbox(item.id, &error, retry_at, now).await
            }
            Err(SendError::Permanent(error)) => {
                tracing::error!(id = item.id, %error, "outbox: delivery failed permanently");
                self.store.fail_outbox(item.id, &error, None, now).await
            }
        }
    }
}

impl OutboxWorker {
    /// Places a queued verification call unless it stopped mattering (superseded by a newer
    /// call, or its code expired) — a retry never rings a phone for a dead request. The call
    /// is claimed in the database before the provider is asked, so it counts against the
    /// budgets even if a newer call supersedes it while it rings.
    async fn place_call(
        &self,
        call: &latchkey_service::OutgoingCall,
    ) -> Result<Result<(), SendError>, StoreError> {
        let call_id = latchkey_domain::CallId::new(call.call_id.as_str());
        if !self.store.claim_call(&call_id, self.clock.now()).await? {
            return Ok(Ok(()));
        }
        match self.voice.place_call(call).await {
            Ok(placed) => {
                self.store
                    .bind_call(&call_id, &placed.provider_call_id, self.clock.now())
                    .await?;
                Ok(Ok(()))
            }
            Err(SendError::Permanent(error)) => {
                self.store
                    .end_call(&call_id, CallStatus::Failed, self.clock.now())
                    .await?;
                Ok(Err(SendError::Permanent(error)))
            }
            // Certainly not placed (the provider was not reached): back to the queue.
            Err(temporary) => {
                self.store.release_call(&call_id).await?;
                Ok(Err(temporary))
            }
        }
    }
}

/// A payload that cannot be opened. Sealed under a key this instance does not hold yet (a
/// rotation in progress): another instance, or this one once restarted with the current key
/// file, opens it, so it is retried. Otherwise (the key was replaced, the row damaged) it
/// will never open: given up rather than retried forever.
fn unreadable(error: latchkey_service::outbox::ReadError) -> SendError {
    match error {
        latchkey_service::outbox::ReadError::UnknownKey => SendError::Temporary(error.to_string()),
        other => SendError::Permanent(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_end() {
        let policy = RetryPolicy::default();
        let now = Timestamp(1000);
        assert_eq!(policy.retry_at(1, now), Some(Timestamp(1015)));
        assert_eq!(policy.retry_at(2, now), Some(Timestamp(1030)));
        assert_eq!(policy.retry_at(11, now), Some(Timestamp(1000 + 3600)));
        assert_eq!(policy.retry_at(12, now), None);
    }
}
