//! Failure counters: every guessable check reserves on one before it runs.

use async_trait::async_trait;
use latchkey_domain::Timestamp;
use latchkey_domain::lockout::{FailureState, LockoutPolicy, Settle};
use latchkey_service::TokenHash;
use latchkey_service::store::*;
use sqlx::Row;

use super::{Backend, Tx, commit};
use crate::db_error;

/// Settles a reserved attempt on one failure counter (see `Settle`).
pub(super) async fn settle(
    tx: &mut Tx,
    subject: &str,
    source: &str,
    settle: Settle,
) -> StoreResult<()> {
    sqlx::query(match settle {
        Settle::Clear => {
            "UPDATE throttles SET failures = 0, last_failure_at = NULL \
                          WHERE subject = $1 AND source = $2"
        }
        Settle::Refund => {
            "UPDATE throttles SET failures = failures - 1 \
                           WHERE subject = $1 AND source = $2 AND failures > 0"
        }
    })
    .bind(subject)
    .bind(source)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Clears the failures of the source a sign-in attempt was made from: the
/// attempt ended in a session.
pub(super) async fn clear_attempt_source(tx: &mut Tx, attempt: &TokenHash) -> StoreResult<()> {
    sqlx::query(
        "UPDATE throttles SET failures = 0, last_failure_at = NULL \
         WHERE subject = (SELECT account_id FROM sign_in_attempts WHERE token_hash = $1) \
         AND source = (SELECT source FROM sign_in_attempts WHERE token_hash = $2)",
    )
    .bind(attempt.as_str())
    .bind(attempt.as_str())
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl ThrottleStore for Backend {
    async fn reserve_attempt(
        &self,
        attempt: &AttemptReservation<'_>,
        policy: &LockoutPolicy,
        now: Timestamp,
    ) -> StoreResult<Reservation> {
        let key = attempt.key;
        let mut tx = self.begin().await?;
        // The upsert takes the counter's row lock (PostgreSQL; SQLite's
        // BEGIN IMMEDIATE already serialises writers) and reads it in one step.
        let row = sqlx::query(
            "INSERT INTO throttles (subject, source, failures) VALUES ($1, $2, 0) \
             ON CONFLICT (subject, source) DO UPDATE SET failures = throttles.failures \
             RETURNING failures, last_failure_at",
        )
        .bind(&key.subject)
        .bind(&key.source)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        let state = FailureState {
            consecutive_failures: u32::try_from(
                row.try_get::<i64, _>("failures").map_err(db_error)?,
            )
            .unwrap_or(u32::MAX),
            last_failure_at: row
                .try_get::<Option<i64>, _>("last_failure_at")
                .map_err(db_error)?
                .map(Timestamp),
        };
        let next = match policy.reserve(state, attempt.judged, now) {
            Ok(next) => next,
            Err(refused) => return Ok(Reservation::Refused(refused)),
        };
        if let Some((account, device_id)) = attempt.device {
            let counted = sqlx::query(
                "UPDATE mfa_devices SET failed_attempts = failed_attempts + 1 \
                 WHERE id = $1 AND account_id = $2 AND removed_at IS NULL \
                 AND failed_attempts < $3",
            )
            .bind(device_id)
            .bind(account.as_str())
            .bind(i64::from(attempt.device_limit))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            if counted.rows_affected() != 1 {
                return Ok(Reservation::DeviceLocked);
            }
        }
        sqlx::query(
            "UPDATE throttles SET failures = $1, last_failure_at = $2 \
             WHERE subject = $3 AND source = $4",
        )
        .bind(i64::from(next.consecutive_failures))
        .bind(next.last_failure_at.map(|t| t.0))
        .bind(&key.subject)
        .bind(&key.source)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        commit(tx).await?;
        Ok(Reservation::Reserved {
            failures: next.consecutive_failures,
        })
    }

    async fn failure_counts(&self, subject: &str) -> StoreResult<Vec<(String, u32)>> {
        let rows = sqlx::query(
            "SELECT source, failures FROM throttles WHERE subject = $1 ORDER BY source",
        )
        .bind(subject)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let failures: i64 = row.try_get("failures").map_err(db_error)?;
                Ok((
                    row.try_get("source").map_err(db_error)?,
                    u32::try_from(failures).unwrap_or(u32::MAX),
                ))
            })
            .collect()
    }

    async fn purge_throttles(&self, unknown_before: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM throttles WHERE failures = 0 \
             OR (subject LIKE 'email:%' AND last_failure_at < $1)",
        )
        .bind(unknown_before.0)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn settle_attempt(&self, key: &ThrottleKey, how: Settle) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        settle(&mut tx, &key.subject, &key.source, how).await?;
        commit(tx).await
    }
}
