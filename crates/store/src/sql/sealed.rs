//! Sealed values, a page at a time, and their re-sealing under the current key.

use async_trait::async_trait;
use latchkey_service::store::*;
use sqlx::Row;

use super::Backend;
use crate::db_error;

/// The table, key column and sealed column of a kind (the outbox's key is a number).
fn columns(kind: SealedKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        SealedKind::MfaDevice => ("mfa_devices", "id", "secret_sealed"),
        SealedKind::Enrollment => ("mfa_enrollments", "id", "secret_sealed"),
        SealedKind::HardwareToken => ("hardware_tokens", "serial", "secret_sealed"),
        SealedKind::SecurityKeyCeremony => ("webauthn_ceremonies", "id", "state_sealed"),
        SealedKind::Outbox => ("outbox", "id", "payload"),
        SealedKind::OidcSigningKey => ("oidc_signing_keys", "kid", "private_sealed"),
    }
}

#[async_trait]
impl SealedStore for Backend {
    async fn sealed_page(
        &self,
        kind: SealedKind,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<SealedRow>> {
        let rows = match kind {
            SealedKind::Outbox => {
                let after: i64 = after.and_then(|a| a.parse().ok()).unwrap_or(i64::MIN);
                sqlx::query(
                    "SELECT id, kind, recipient, payload FROM outbox \
                     WHERE payload IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| {
                    Ok(SealedRow {
                        key: row.try_get::<i64, _>("id").map_err(db_error)?.to_string(),
                        bound_to: vec![
                            row.try_get("kind").map_err(db_error)?,
                            row.try_get("recipient").map_err(db_error)?,
                        ],
                        sealed: row.try_get("payload").map_err(db_error)?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?
            }
            _ => {
                let (table, key, column) = columns(kind);
                let sql = format!(
                    "SELECT {key} AS k, {column} AS s FROM {table} \
                     WHERE {column} IS NOT NULL AND {key} > $1 ORDER BY {key} LIMIT $2"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(after.unwrap_or(""))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?
                    .iter()
                    .map(|row| {
                        Ok(SealedRow {
                            key: row.try_get("k").map_err(db_error)?,
                            bound_to: Vec::new(),
                            sealed: row.try_get("s").map_err(db_error)?,
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?
            }
        };
        Ok(rows)
    }

    async fn reseal(
        &self,
        kind: SealedKind,
        key: &str,
        old: &[u8],
        new: &[u8],
    ) -> StoreResult<bool> {
        let (table, key_column, column) = columns(kind);
        let sql =
            format!("UPDATE {table} SET {column} = $1 WHERE {key_column} = $2 AND {column} = $3");
        let update = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(new);
        // The outbox's key is a number: bound as one, so both backends compare it as one.
        let update = match kind {
            SealedKind::Outbox => match key.parse::<i64>() {
                Ok(id) => update.bind(id),
                Err(_) => return Ok(false),
            },
            _ => update.bind(key),
        };
        let done = update
            .bind(old)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }
}
