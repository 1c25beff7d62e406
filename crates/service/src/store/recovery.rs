//! Recovery flows (sign in using alternative factors) and `This wasn't me`.

use super::StoreResult;
use super::audit::AuditRecord;
use super::outbox::NewOutboxMessage;
use super::sessions::NewSession;
use crate::secrets::TokenHash;
use async_trait::async_trait;
use latchkey_domain::DeviceId;
use latchkey_domain::recovery::RecoveryState;
use latchkey_domain::{AccountId, FlowId, Timestamp};

/// Whether a recovery flow could be completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Completed,
    /// The flow is not at its last step (any more).
    NotReady,
    /// Too many failures from the flow's source: the account must be reset by email first.
    Locked,
}

/// Whether a recovery flow could start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStart {
    Started,
    /// This sign-in attempt already started one.
    AlreadyStarted,
    /// The account has started as many flows as its budget allows, for now.
    OverBudget,
    /// Alternative factors are blocked on the account (`This wasn't me`).
    Blocked,
}

#[derive(Debug, Clone)]
pub struct NewRecoveryFlow {
    pub id: FlowId,
    /// The sign-in attempt that starts the flow: one flow per attempt.
    pub attempt_hash: TokenHash,
    /// The throttling source of that attempt; wrong digits count on it.
    pub source: String,
    /// Who started it (client address and browser), shown on the emailed link's page.
    pub started_from: String,
    pub started_agent: String,
    pub token_hash: TokenHash,
    pub account_id: AccountId,
    pub cancel_token_hash: TokenHash,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A new emailed link for a recovery flow, and the budget it must fit in.
#[derive(Debug, Clone, Copy)]
pub struct RecoveryEmail<'a> {
    pub flow_id: &'a FlowId,
    pub token_hash: &'a TokenHash,
    pub link_expires_at: Timestamp,
    pub max_emails: u32,
    pub now: Timestamp,
}

#[derive(Debug, Clone)]
pub struct RecoveryFlowRecord {
    pub id: FlowId,
    pub account_id: AccountId,
    pub state: RecoveryState,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub emails_sent: u32,
    pub email_token_expires_at: Option<Timestamp>,
    pub calls_placed: u32,
    pub source: String,
    pub completed_at: Option<Timestamp>,
    pub reported_at: Option<Timestamp>,
    pub started_from: String,
    pub started_agent: String,
    /// The hash of its `This wasn't me` token: a notice sent later in the flow carries the
    /// token that matches it, whichever key made it.
    pub cancel_token_hash: TokenHash,
}

/// `This wasn't me`, as the store applies it.
#[derive(Debug, Clone)]
pub struct RecoveryReport<'a> {
    pub flow_id: &'a FlowId,
    pub account: &'a AccountId,
    /// Links of flows that completed (or expired) longer ago than this no longer work.
    pub undo_window: latchkey_domain::Duration,
    /// Replaces the password, which whoever started the flow knew: a hash of random bytes,
    /// so only a reset by email gets the owner back in.
    pub revoked_password_hash: &'a str,
    pub now: Timestamp,
}

/// What `This wasn't me` undid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryUndone {
    /// Devices activated since the reported recovery began, now removed.
    pub devices_removed: Vec<DeviceId>,
    /// The moment from which devices were suspect: the block lifts only with an older one.
    pub since: Timestamp,
}

#[async_trait]
pub trait RecoveryStore: Send + Sync {
    /// Starts a flow for a sign-in attempt: at most one per attempt, and at most `budget.0`
    /// for the account since `budget.1`, counted with the account row locked.
    async fn create_recovery_flow(
        &self,
        flow: &NewRecoveryFlow,
        budget: (u32, Timestamp),
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<FlowStart>;

    async fn recovery_flow(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<RecoveryFlowRecord>>;

    /// The flow a live emailed link belongs to (without using it).
    async fn recovery_flow_by_email_token(
        &self,
        email_token_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<RecoveryFlowRecord>>;

    /// Stores a new email link for a flow still waiting for it (the earlier link stops
    /// working), within `max_emails`. `false` when the flow moved on, expired or is over budget.
    async fn record_recovery_email(
        &self,
        email: &RecoveryEmail<'_>,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Step 1 done: consumes the link. `false` if it was not the flow's live link.
    async fn verify_recovery_email(
        &self,
        flow_id: &FlowId,
        email_token_hash: &TokenHash,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Step 3: completes the flow, ends its sibling flows, signs out every other session of
    /// the account and issues the recovery session. Refused when the flow is not at step 3
    /// (replayed, expired), when the account's email address or phone number changed after
    /// `cooled_since` (still cooling off), or when its source's counter is at `hard_limit`
    /// (read under the counter's lock).
    async fn complete_recovery(
        &self,
        flow_id: &FlowId,
        cooled_since: Timestamp,
        hard_limit: u32,
        session: &NewSession,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<Completion>;

    /// `This wasn't me`, all or nothing: marks the flow reported (once, within its undo
    /// window), ends every live flow and every session of the account, removes every device
    /// activated since the suspect recovery began (and any flow completed since the reported
    /// one began: a sibling the intruder finished), invalidates pending enrolments, security-key
    /// ceremonies, sign-in attempts and reset links, replaces the password, and blocks
    /// alternative factors until the owner resets the password by email and signs in with an
    /// older device. `None` when the link is used, expired or unknown.
    async fn report_recovery(
        &self,
        report: &RecoveryReport<'_>,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<Option<RecoveryUndone>>;

    async fn recovery_flow_by_cancel_token(
        &self,
        cancel_token_hash: &TokenHash,
    ) -> StoreResult<Option<RecoveryFlowRecord>>;

    /// When alternative-factor sign-in was blocked by `This wasn't me`, if it still is.
    async fn recovery_blocked_at(&self, account: &AccountId) -> StoreResult<Option<Timestamp>>;
}
