//! The server key's fingerprint: which key this database's sealed data, signed tokens and
//! audit chain belong to, so an instance started with another key refuses to start.

use super::StoreResult;
use async_trait::async_trait;
use latchkey_domain::Timestamp;

/// The fingerprint the database holds and when it was first recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedKey {
    pub fingerprint: String,
    pub recorded_at: Timestamp,
}

/// What became of a promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPromotion {
    Promoted,
    /// `to` is a key a rotation replaced: the database does not go back to it.
    Superseded,
    /// The recorded key is no longer `from` (another instance moved it meanwhile).
    Moved,
}

/// What the database said about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRecord {
    /// The fingerprint it holds (the caller's, if it had none yet).
    Recorded(RecordedKey),
    /// It holds none, and the key was generated just now while the database already has
    /// accounts: a key made on the spot cannot be the one they were sealed with.
    Unclaimed,
}

#[async_trait]
pub trait ServerKeyStore: Send + Sync {
    /// Records `fingerprint` if the database has none yet — unless the key is `fresh` (just
    /// generated) and the database already has accounts — and answers what it holds.
    async fn record_key_fingerprint(
        &self,
        fingerprint: &str,
        fresh: bool,
        now: Timestamp,
    ) -> StoreResult<KeyRecord>;

    /// Makes `to` the recorded key, only while `from` is and only if `to` was never
    /// replaced by a rotation (`from` is then recorded as replaced), with the audit record,
    /// in one transaction.
    async fn promote_key_fingerprint(
        &self,
        from: &str,
        to: &str,
        now: Timestamp,
        audit: &super::AuditRecord,
    ) -> StoreResult<KeyPromotion>;

    /// Whether a rotation replaced the key with this fingerprint.
    async fn key_superseded(&self, fingerprint: &str) -> StoreResult<bool>;

    /// The fingerprint the database records as current, if any.
    async fn current_key_fingerprint(&self) -> StoreResult<Option<String>>;
}
