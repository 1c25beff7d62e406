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

#[async_trait]
pub trait ServerKeyStore: Send + Sync {
    /// Records `fingerprint` if the database has none yet, and answers the one it holds
    /// (the same, unless another key was recorded first).
    async fn record_key_fingerprint(
        &self,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<RecordedKey>;
}
