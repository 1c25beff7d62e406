//! The audit log: appended to, never edited.

use super::StoreResult;
use super::outbox::NewOutboxMessage;
use async_trait::async_trait;
use latchkey_domain::{AccountId, Timestamp};

/// One line of the audit log. Never holds a secret: tokens appear only as hashes, if at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: Timestamp,
    pub account_id: Option<AccountId>,
    pub client_addr: String,
    pub user_agent: String,
    pub event: String,
    pub outcome: String,
    pub detail: String,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, audit: &AuditRecord) -> StoreResult<()>;

    /// Appends `audit` with its messages unless a record of the same account, event and
    /// detail exists since `since` (counted with the account row locked): "once a day"
    /// notices. `false`, and nothing written, when one does.
    async fn append_audit_once(
        &self,
        audit: &AuditRecord,
        since: Timestamp,
        outbox: &[NewOutboxMessage],
    ) -> StoreResult<bool>;

    /// The newest `limit` audit records, newest first; only those of `account` when given.
    async fn recent_audit(
        &self,
        account: Option<&AccountId>,
        limit: i64,
    ) -> StoreResult<Vec<AuditRecord>>;

    /// An audit record with the messages it causes (a refused code and, for a replayed one,
    /// the owner's notice), committed together.
    async fn append_audit_with_outbox(
        &self,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<()>;
}
