//! The outbox: messages queued in the transaction that caused them, delivered by a worker.

use super::StoreResult;
use async_trait::async_trait;
use latchkey_domain::Timestamp;

/// A message queued for delivery. The payload is sealed (encrypted) by the service because
/// it may carry a link with a live token.
#[derive(Debug, Clone)]
pub struct NewOutboxMessage {
    pub kind: &'static str,
    pub recipient: String,
    pub payload: Vec<u8>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub payload: Vec<u8>,
    /// Attempts so far, including the one this claim starts.
    pub attempts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStatus {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub attempts: i64,
    pub delivered_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Leases up to `limit` due messages until `lease_until`, counting an attempt for each.
    /// A message whose lease runs out (its worker died) becomes due again.
    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<OutboxItem>>;

    /// Marks a message delivered and erases its payload.
    async fn complete_outbox(&self, id: i64, now: Timestamp) -> StoreResult<()>;

    /// Records a failed attempt: retry at `retry_at`, or give up for good when `None`
    /// (the payload is then erased too).
    async fn fail_outbox(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()>;

    async fn outbox_status(&self, limit: i64) -> StoreResult<Vec<OutboxStatus>>;
}
