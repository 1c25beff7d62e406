//! The audit log: appended to, never edited.

use super::StoreResult;
use super::outbox::NewOutboxMessage;
use async_trait::async_trait;
use latchkey_domain::audit_chain::Legacy;
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

/// Which audit records an event-history query asks for, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery<'a> {
    /// Only this account's records.
    pub account: Option<&'a AccountId>,
    /// Only these events (every event when empty).
    pub events: &'a [&'a str],
    /// Only records at or after this instant.
    pub since: Option<Timestamp>,
    /// Only records before this instant.
    pub until: Option<Timestamp>,
    /// Only records older than this row (the previous page's last `row`).
    pub before_row: Option<i64>,
    pub limit: i64,
}

/// An audit record with the row it is in, which pages of history continue from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub row: i64,
    pub record: AuditRecord,
}

/// A record of the chain as stored, for `latchkey audit verify`: its place, its MAC and the
/// row it is in (to name it when it is not what was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedAudit {
    pub row: i64,
    pub seq: i64,
    pub mac: Vec<u8>,
    pub record: AuditRecord,
}

/// The records outside the chain: those from before it began (written before the chain
/// existed, which its first record covers) and the first one after it began, which latchkey
/// never writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnchainedAudit {
    pub before_chain: Legacy,
    pub first_after_start: Option<i64>,
}

impl AuditRecord {
    /// What the chain's MAC covers of this record at place `seq` (the store computes the MAC
    /// on append, `latchkey audit verify` checks it).
    pub fn linked(&self, seq: i64) -> latchkey_domain::audit_chain::Linked<'_> {
        latchkey_domain::audit_chain::Linked {
            seq,
            at: self.at.0,
            account_id: self.account_id.as_ref().map(|id| id.as_str()),
            client_addr: &self.client_addr,
            user_agent: &self.user_agent,
            event: &self.event,
            outcome: &self.outcome,
            detail: &self.detail,
        }
    }
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
    /// The records `query` asks for, newest first.
    async fn audit_events(&self, query: &AuditQuery<'_>) -> StoreResult<Vec<AuditEntry>>;

    /// Up to `limit` chained records after the record at (`seq`, `row`), in chain order (ties
    /// in row order, so a duplicated place is seen).
    async fn audit_chain_page(
        &self,
        after: (i64, i64),
        limit: i64,
    ) -> StoreResult<Vec<ChainedAudit>>;

    async fn unchained_audit(&self) -> StoreResult<UnchainedAudit>;

    async fn append_audit_with_outbox(
        &self,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<()>;
}
