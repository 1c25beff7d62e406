//! The outbox: messages queued in the transaction that caused them, delivered by a worker.

use async_trait::async_trait;
use latchkey_domain::Timestamp;
use latchkey_service::store::*;
use sqlx::Row;

use super::{Backend, CLAIM_OUTBOX, Tx, commit};
use crate::db_error;

pub(super) async fn insert_outbox(tx: &mut Tx, messages: &[NewOutboxMessage]) -> StoreResult<()> {
    for message in messages {
        sqlx::query(
            "INSERT INTO outbox (kind, recipient, payload, created_at, \
             next_attempt_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(message.kind)
        .bind(&message.recipient)
        .bind(&message.payload)
        .bind(message.created_at.0)
        .bind(message.created_at.0)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

#[async_trait]
impl OutboxStore for Backend {
    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<OutboxItem>> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(CLAIM_OUTBOX)
            .bind(lease_until.0)
            .bind(now.0)
            .bind(now.0)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        commit(tx).await?;
        let mut items = rows
            .iter()
            .map(|row| {
                Ok(OutboxItem {
                    id: row.try_get("id").map_err(db_error)?,
                    kind: row.try_get("kind").map_err(db_error)?,
                    recipient: row.try_get("recipient").map_err(db_error)?,
                    payload: row
                        .try_get::<Option<Vec<u8>>, _>("payload")
                        .map_err(db_error)?
                        .unwrap_or_default(),
                    attempts: row.try_get("attempts").map_err(db_error)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        items.sort_by_key(|item| item.id);
        Ok(items)
    }

    async fn complete_outbox(&self, id: i64, now: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbox SET delivered_at = $1, payload = NULL, \
             claimed_until = NULL WHERE id = $2",
        )
        .bind(now.0)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn fail_outbox(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let query = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE outbox SET last_error = $1, next_attempt_at = $2, \
                 claimed_until = NULL WHERE id = $3",
            )
            .bind(error)
            .bind(at.0)
            .bind(id),
            None => sqlx::query(
                "UPDATE outbox SET last_error = $1, failed_at = $2, payload = NULL, \
                 claimed_until = NULL WHERE id = $3",
            )
            .bind(error)
            .bind(now.0)
            .bind(id),
        };
        query.execute(&self.pool).await.map_err(db_error)?;
        Ok(())
    }

    async fn outbox_status(&self, limit: i64) -> StoreResult<Vec<OutboxStatus>> {
        let rows = sqlx::query(
            "SELECT id, kind, recipient, attempts, delivered_at, failed_at, \
             last_error FROM outbox ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(OutboxStatus {
                    id: row.try_get("id").map_err(db_error)?,
                    kind: row.try_get("kind").map_err(db_error)?,
                    recipient: row.try_get("recipient").map_err(db_error)?,
                    attempts: row.try_get("attempts").map_err(db_error)?,
                    delivered_at: row
                        .try_get::<Option<i64>, _>("delivered_at")
                        .map_err(db_error)?
                        .map(Timestamp),
                    failed_at: row
                        .try_get::<Option<i64>, _>("failed_at")
                        .map_err(db_error)?
                        .map(Timestamp),
                    last_error: row.try_get("last_error").map_err(db_error)?,
                })
            })
            .collect()
    }
}
