//! The server key's fingerprint, recorded once.

use async_trait::async_trait;
use latchkey_domain::Timestamp;
use latchkey_service::store::*;
use sqlx::Row;

use super::Backend;
use crate::db_error;

#[async_trait]
impl ServerKeyStore for Backend {
    async fn record_key_fingerprint(
        &self,
        fingerprint: &str,
        fresh: bool,
        now: Timestamp,
    ) -> StoreResult<KeyRecord> {
        let read = || async {
            let row = sqlx::query("SELECT fingerprint, recorded_at FROM server_key WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
            row.map(|row| {
                Ok(RecordedKey {
                    fingerprint: row.try_get("fingerprint").map_err(db_error)?,
                    recorded_at: Timestamp(row.try_get("recorded_at").map_err(db_error)?),
                })
            })
            .transpose()
        };
        if fresh && read().await?.is_none() {
            let has_accounts = sqlx::query("SELECT 1 AS one FROM accounts LIMIT 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .is_some();
            if has_accounts {
                return Ok(KeyRecord::Unclaimed);
            }
        }
        // Two instances starting at once: the first insert wins, both read the same row.
        sqlx::query(
            "INSERT INTO server_key (id, fingerprint, recorded_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(fingerprint)
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        match read().await? {
            Some(recorded) => Ok(KeyRecord::Recorded(recorded)),
            None => Err(StoreError::database(
                "the server key's fingerprint was not recorded",
            )),
        }
    }

    async fn promote_key_fingerprint(
        &self,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE server_key SET fingerprint = $1, recorded_at = $2 \
             WHERE id = 1 AND fingerprint = $3",
        )
        .bind(to)
        .bind(now.0)
        .bind(from)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }
}
