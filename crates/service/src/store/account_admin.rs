//! The operator's views of accounts and the switch that keeps an account out:
//! `latchkey account list`, `account show`, `account disable` and `account enable`.

use super::StoreResult;
use super::audit::AuditRecord;
use super::outbox::NewOutboxMessage;
use async_trait::async_trait;
use latchkey_domain::{AccountId, AccountStatus, EmailAddress, Timestamp};

/// One line of `latchkey account list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    pub id: AccountId,
    pub email: EmailAddress,
    pub name: String,
    pub status: AccountStatus,
    pub created_at: Timestamp,
    pub disabled_at: Option<Timestamp>,
    /// Active MFA devices.
    pub devices: i64,
    /// Sessions neither revoked, expired nor idle for too long at the time of the listing.
    pub live_sessions: i64,
    /// When the newest session was issued (the last sign-in), if any.
    pub last_sign_in_at: Option<Timestamp>,
}

/// A page of accounts, in email order.
#[derive(Debug, Clone, Copy)]
pub struct AccountPage<'a> {
    /// Only accounts whose address sorts after this one (the previous page's last).
    pub after: Option<&'a str>,
    pub limit: i64,
    /// Sessions count as live while they expire after this instant…
    pub now: Timestamp,
    /// …and were last seen after this one (the idle lifetime before `now`).
    pub seen_since: Timestamp,
}

#[async_trait]
pub trait AccountAdminStore: Send + Sync {
    async fn list_accounts(&self, page: &AccountPage<'_>) -> StoreResult<Vec<AccountSummary>>;

    /// Disables the account, all or nothing: marks it disabled, revokes every session, ends
    /// sign-in attempts, recoveries, enrolments, contact changes, verification calls and
    /// emailed links (password reset, sign-up) in progress, with the
    /// audit record and the owner's notice. Answers the sessions revoked; `None`, and nothing
    /// written, when it was already disabled (or does not exist).
    async fn disable_account(
        &self,
        account: &AccountId,
        now: Timestamp,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<Option<u64>>;

    /// Enables a disabled account, with the audit record and the owner's notice. `false`,
    /// and nothing written, when it was not disabled.
    async fn enable_account(
        &self,
        account: &AccountId,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
}
