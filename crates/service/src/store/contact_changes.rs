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
    /// The account asked for its most changes in the window: nothing was written.
    OverBudget,
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

/// `This wasn't me` on a contact change.
#[derive(Debug, Clone)]
pub struct RevertChange<'a> {
    pub revert_hash: &'a TokenHash,
    /// A hash of a password nobody knows: the owner sets a new one by email.
    pub revoked_password_hash: &'a str,
    pub now: Timestamp,
}

/// What `This wasn't me` put back and took away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeReverted {
    pub account_id: AccountId,
    pub account_name: String,
    /// Each contact restored, with the value it has again. An email address another
    /// account verified meanwhile stays out.
    pub restored: Vec<(ContactKind, String)>,
    /// The email address the account had when the link was used.
    pub replaced_email: String,
    pub devices_removed: usize,
}

#[async_trait]
pub trait ContactChangeStore: Send + Sync {
    /// Records a change request, with the account row locked: only while the session that
    /// asked (`asker`) is live, within `budget` (fewer than `.0` requests of the account
    /// since `.1`, counted under the lock), and for an email address no other account has;
    /// any earlier change of the same contact still waiting is cancelled in the same
    /// transaction.
    async fn begin_contact_change(
        &self,
        change: &NewContactChange,
        asker: &TokenHash,
        budget: (u32, Timestamp),
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
    /// same transaction with the account row locked: undoes this change and every one applied
    /// after it whose own link still works (each contact gets back what it had before the
    /// earliest of them, dated now so it cools off like a new one), removes the MFA devices
    /// added since the change was asked for, ends sign-in attempts, recovery flows, device
    /// activations, emailed links and waiting changes, disables the password and signs out
    /// every session. `notices` builds the messages from what was undone; they and the audit
    /// record (its account and detail filled in here: only the token names them) commit with
    /// it. `None` (nothing written) for a used, expired or unknown token.
    async fn revert_contact_change(
        &self,
        revert: &RevertChange<'_>,
        notices: &(dyn for<'r> Fn(&'r ChangeReverted) -> Vec<NewOutboxMessage> + Send + Sync),
        audit: &AuditRecord,
    ) -> StoreResult<Option<ChangeReverted>>;

    /// Whether a revert token is live (for the page its link opens).
    async fn contact_revert_is_live(
        &self,
        revert_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<bool>;
}
