//! Contact changes: a new email address or phone number requested, proven, applied, and put
//! back by the old contact's `This wasn't me`.

use super::StoreResult;
use super::audit::AuditRecord;
use super::outbox::NewOutboxMessage;
use crate::secrets::TokenHash;
use async_trait::async_trait;
use latchkey_domain::contact_change::ContactKind;
use latchkey_domain::{AccountId, Timestamp};

#[derive(Debug, Clone)]
pub struct NewContactChange {
    pub id: String,
    pub account_id: AccountId,
    pub kind: ContactKind,
    /// The new address or number, in its stored form.
    pub new_value: String,
    /// For an email address: the hash of the link token sent to it.
    pub proof_hash: Option<TokenHash>,
    pub requested_from: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactChangeRecord {
    pub id: String,
    pub account_id: AccountId,
    pub kind: ContactKind,
    pub new_value: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// For a phone number: when its verification call got the right digits.
    pub verified_at: Option<Timestamp>,
}

/// What became of a change request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeStart {
    /// Waiting for its proof; any earlier change of the same contact was cancelled.
    Started,
    /// The session that asked was signed out meanwhile: nothing was written.
    SessionGone,
    /// Another account has this email address.
    EmailTaken,
}

/// Applying a proven change.
#[derive(Debug, Clone)]
pub struct ApplyChange<'a> {
    pub change_id: &'a str,
    pub account_id: &'a AccountId,
    /// The contact's value the caller saw (and addressed its notice to): the change applies
    /// only over it.
    pub expected_old: &'a str,
    /// For an email address: the hash of the link token that proves it.
    pub proof_hash: Option<&'a TokenHash>,
    pub revert_hash: &'a TokenHash,
    pub revert_expires_at: Timestamp,
    pub now: Timestamp,
}

/// What applying a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeApplied {
    Applied,
    /// Not waiting any more (applied, replaced, cancelled, expired), not proven, or the
    /// contact changed since the caller read it: nothing was written.
    Gone,
    /// Another account took the email address meanwhile: nothing was written.
    EmailTaken,
}

/// What `This wasn't me` put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeReverted {
    pub account_id: AccountId,
    /// Each contact restored, with the value it has again.
    pub restored: Vec<(ContactKind, String)>,
}

#[async_trait]
pub trait ContactChangeStore: Send + Sync {
    /// Records a change request, with the account row locked: only while the session that
    /// asked (`asker`) is live, and for an email address no other account has; any earlier
    /// change of the same contact still waiting is cancelled in the same transaction.
    async fn begin_contact_change(
        &self,
        change: &NewContactChange,
        asker: &TokenHash,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<ChangeStart>;

    /// The account's change of `kind` still waiting at `now`.
    async fn pending_contact_change(
        &self,
        account: &AccountId,
        kind: ContactKind,
        now: Timestamp,
    ) -> StoreResult<Option<ContactChangeRecord>>;

    /// The waiting email change a link token (hashed) proves.
    async fn contact_change_by_proof(
        &self,
        proof_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<ContactChangeRecord>>;

    /// Applies a waiting, proven, unexpired change in one transaction with the account row
    /// locked: the contact takes the new value (verified, and dated for the cooling-off),
    /// the change keeps what it replaced and the hash of its `This wasn't me` token, and the
    /// notice and the audit record are written.
    async fn apply_contact_change(
        &self,
        apply: &ApplyChange<'_>,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<ChangeApplied>;

    /// `This wasn't me`: consumes the revert token (once, before it expires) and, in the
    /// same transaction, undoes every applied change of the account whose own link still
    /// works (each contact gets back what it had before the earliest of them, with its old
    /// date), signs out every session and cancels every contact change still waiting. The
    /// audit record (its account filled in here: only the token names it) and `outbox` are
    /// written with it. `None` (nothing written) for a used, expired or unknown token.
    async fn revert_contact_change(
        &self,
        revert_hash: &TokenHash,
        now: Timestamp,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<Option<ChangeReverted>>;

    /// Whether a revert token is live (for the page its link opens).
    async fn contact_revert_is_live(
        &self,
        revert_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<bool>;
}
