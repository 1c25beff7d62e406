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

    /// Makes `to` the recorded key, only while `from` is: a rotation completed by one
    /// instance is not undone by another that still holds the older file. `false` when the
    /// recorded key is not `from`.
    async fn promote_key_fingerprint(
        &self,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
}
