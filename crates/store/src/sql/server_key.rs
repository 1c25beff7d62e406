//! The server key's fingerprint, recorded once.

use async_trait::async_trait;
use latchkey_domain::Timestamp;
use latchkey_service::store::*;
use sqlx::Row;

use super::audit::insert_audit;
use super::{Backend, commit};
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
        audit: &AuditRecord,
    ) -> StoreResult<KeyPromotion> {
        let mut tx = self.begin().await?;
        // The row's lock first: two promotions queue here and the second sees the first.
        let done = sqlx::query(
            "UPDATE server_key SET fingerprint = $1, recorded_at = $2 \
             WHERE id = 1 AND fingerprint = $3",
        )
        .bind(to)
        .bind(now.0)
        .bind(from)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(KeyPromotion::Moved);
        }
        let replaced = sqlx::query("SELECT 1 AS one FROM superseded_keys WHERE fingerprint = $1")
            .bind(to)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        if replaced.is_some() {
            return Ok(KeyPromotion::Superseded);
        }
        sqlx::query(
            "INSERT INTO superseded_keys (fingerprint, superseded_at) VALUES ($1, $2) \
             ON CONFLICT (fingerprint) DO NOTHING",
        )
        .bind(from)
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(KeyPromotion::Promoted)
    }

    async fn key_superseded(&self, fingerprint: &str) -> StoreResult<bool> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM superseded_keys WHERE fingerprint = $1")
                .bind(fingerprint)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .is_some(),
        )
    }

    async fn current_key_fingerprint(&self) -> StoreResult<Option<String>> {
        sqlx::query("SELECT fingerprint FROM server_key WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .map(|row| row.try_get("fingerprint").map_err(db_error))
            .transpose()
    }
}
