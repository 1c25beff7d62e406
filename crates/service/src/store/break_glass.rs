//! The operator's break-glass commands: `account unblock-recovery` and `account reset-mfa`.

use super::StoreResult;
use super::audit::AuditRecord;
use super::outbox::NewOutboxMessage;
use async_trait::async_trait;
use latchkey_domain::DeviceId;
use latchkey_domain::{AccountId, Timestamp};

/// An operator's `account reset-mfa`, with what the operator's notice was written about.
#[derive(Debug, Clone, Copy)]
pub struct MfaReset<'a> {
    pub account: &'a AccountId,
    /// The ids of the account's active devices, in any order.
    pub devices: &'a [DeviceId],
    /// Whether alternative factors are blocked by `This wasn't me`.
    pub blocked: bool,
    pub now: Timestamp,
}

/// The outcome of [`BreakGlassStore::reset_mfa`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaResetOutcome {
    Reset {
        /// Live sessions of the account that were signed out.
        sessions_revoked: u64,
    },
    /// The account's devices or block are no longer what was expected: nothing was changed,
    /// read again and retry.
    Changed,
    /// There is no such account.
    NoAccount,
}

#[async_trait]
pub trait BreakGlassStore: Send + Sync {
    /// Operator break-glass (`latchkey account unblock-recovery`): lifts a `This wasn't me`
    /// block — the whole of it, including the reset it was waiting for — with the audit record
    /// and the owner's notice. `false`, and nothing written, when the account is not blocked.
    async fn unblock_recovery(
        &self,
        account: &AccountId,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Operator break-glass (`latchkey account reset-mfa`), all or nothing: removes every
    /// active MFA device (kept as records with `removed_at`, secrets erased, hardware tokens
    /// back in the inventory), revokes every session, voids pending enrolments, security-key
    /// ceremonies, sign-in attempts and live recovery flows, and lifts the recovery block;
    /// the password is left as it is. Applied only while the account's devices and block are
    /// still what `reset` expects (read with the account row locked), so the owner's notice
    /// names exactly what was removed.
    async fn reset_mfa(
        &self,
        reset: &MfaReset<'_>,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<MfaResetOutcome>;
}
