//! Verification calls: placed within budgets, claimed, bound to the provider's call, answered.

use super::StoreResult;
use super::audit::AuditRecord;
use super::outbox::NewOutboxMessage;
use async_trait::async_trait;
use latchkey_domain::{AccountId, CallId, Timestamp};

pub use latchkey_domain::calls::{CallLimit, CallPurpose, CallScope};

#[derive(Debug, Clone)]
pub struct NewCall {
    pub id: CallId,
    pub account_id: AccountId,
    pub purpose: CallPurpose,
    /// The recovery flow the call belongs to; for sign-up, the sign-up's own id.
    pub flow_id: String,
    pub to_number: String,
    /// The network of the client that asked for it (per-client budgets).
    pub client_network: String,
    /// HMAC of the 6-digit code under a server subkey: never the code itself.
    pub code_hash: String,
    pub code_expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// Whether a call was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPlacement {
    Placed,
    /// The recovery flow is no longer waiting for a call, or has placed its last one.
    FlowGone,
    /// A budget of this scope is spent; nothing was queued.
    OverBudget(CallScope),
}

pub use latchkey_domain::calls::CallStatus;

#[derive(Debug, Clone)]
pub struct CallRecord {
    pub id: CallId,
    pub account_id: AccountId,
    pub purpose: CallPurpose,
    pub flow_id: Option<String>,
    pub to_number: String,
    pub code_hash: String,
    pub code_expires_at: Timestamp,
    pub provider_call_id: Option<String>,
    pub status: CallStatus,
    pub digit_attempts: u32,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait CallStore: Send + Sync {
    /// The account's newest call for `purpose`.
    async fn latest_account_call(
        &self,
        account: &AccountId,
        purpose: CallPurpose,
    ) -> StoreResult<Option<CallRecord>>;

    /// Queues a verification call within every budget of `limits` (counted over calls of
    /// the same purpose, a call superseded before it rang not counting) and, for a recovery
    /// call, within `flow_cap` calls of its flow at step 2 — all checked and the call inserted
    /// in one transaction with the purpose's budgets locked. Earlier calls of the same flow
    /// (or sign-up) are superseded.
    async fn place_call(
        &self,
        call: &NewCall,
        flow_cap: Option<u32>,
        limits: &[CallLimit],
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<CallPlacement>;

    async fn call(&self, id: &CallId) -> StoreResult<Option<CallRecord>>;

    /// The flow's newest call.
    async fn latest_call(&self, flow_id: &str) -> StoreResult<Option<CallRecord>>;

    /// Claims a queued, unexpired call for dialling (`placed_at` is set, so it counts against
    /// the budgets from now on, even if a newer call supersedes it while it rings). `false`
    /// when it stopped mattering (superseded, expired) or another worker has it.
    async fn claim_call(&self, id: &CallId, now: Timestamp) -> StoreResult<bool>;

    /// Gives a claimed call back to the queue after a failure that certainly did not reach
    /// the provider (it will be retried, and counted again only once it is claimed again).
    async fn release_call(&self, id: &CallId) -> StoreResult<()>;

    /// The provider accepted a call: remember its id (Twilio's CallSid). `false` if the
    /// call is no longer queued or dialling (superseded, or already bound).
    async fn bind_call(
        &self,
        id: &CallId,
        provider_call_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// Ends a call that is not verified (status callback, failed placement).
    async fn end_call(&self, id: &CallId, status: CallStatus, now: Timestamp) -> StoreResult<()>;

    /// Counts one digit entry on a placed, unexpired call before it is checked: only if
    /// `expected` entries were counted so far (the prompt being answered) and fewer than
    /// `max`. `false` for a duplicate, a replay or a call past its attempts.
    async fn reserve_digit_attempt(
        &self,
        call_id: &CallId,
        expected: u32,
        max: u32,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// Records wrong digits on a call (already counted by `reserve_digit_attempt`): a failure
    /// on the counter of its recovery flow's source (sign-up calls have none), and the audit.
    async fn record_wrong_digits(
        &self,
        call_id: &CallId,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<()>;

    /// The right digits arrived on the placed call: the call is verified and its flow moves
    /// to the next step, together. `false` if either had already moved on.
    async fn verify_call(
        &self,
        call_id: &CallId,
        provider_call_id: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
}
