//! `OidcKeyStore`: the keys ID tokens are signed with.

use async_trait::async_trait;
use latchkey_domain::Timestamp;
use latchkey_service::store::*;
use sqlx::Row;

use super::audit::insert_audit;
use super::{Backend, DbRow, commit_if};
use crate::db_error;

fn key_from_row(row: &DbRow) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.try_get("kid").map_err(db_error)?,
        alg: row.try_get("alg").map_err(db_error)?,
        private_sealed: row.try_get("private_sealed").map_err(db_error)?,
        public_jwk: row.try_get("public_jwk").map_err(db_error)?,
        created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
        active_from: Timestamp(row.try_get("active_from").map_err(db_error)?),
        retired_at: row
            .try_get::<Option<i64>, _>("retired_at")
            .map_err(db_error)?
            .map(Timestamp),
    })
}

#[async_trait]
impl OidcKeyStore for Backend {
    async fn oidc_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        sqlx::query(
            "SELECT kid, alg, private_sealed, public_jwk, created_at, active_from, retired_at \
             FROM oidc_signing_keys WHERE retired_at IS NULL ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(key_from_row)
        .collect()
    }

    async fn insert_oidc_signing_keys(
        &self,
        keys: &[SigningKeyRecord],
        only_if_none: bool,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        // The audit chain's lock (PostgreSQL) or the write lock (SQLite) orders two
        // instances starting at once: the second sees the first's keys here.
        insert_audit(&mut tx, audit).await?;
        if only_if_none {
            let existing: i64 = sqlx::query("SELECT COUNT(*) AS n FROM oidc_signing_keys")
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?
                .try_get("n")
                .map_err(db_error)?;
            if existing > 0 {
                return Ok(false);
            }
        }
        for key in keys {
            sqlx::query(
                "INSERT INTO oidc_signing_keys \
                 (kid, alg, private_sealed, public_jwk, created_at, active_from, retired_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL)",
            )
            .bind(&key.kid)
            .bind(&key.alg)
            .bind(&key.private_sealed)
            .bind(&key.public_jwk)
            .bind(key.created_at.0)
            .bind(key.active_from.0)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        super::commit(tx).await?;
        Ok(true)
    }

    async fn retire_oidc_signing_key(
        &self,
        kid: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let retired = sqlx::query(
            "UPDATE oidc_signing_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL",
        )
        .bind(now.0)
        .bind(kid)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        commit_if(tx, retired.rows_affected() == 1, &[], audit).await
    }
}
