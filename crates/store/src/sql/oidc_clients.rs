//! `OidcClientStore`: the applications operators register.

use async_trait::async_trait;
use latchkey_domain::Timestamp;
use latchkey_service::TokenHash;
use latchkey_service::store::*;
use sqlx::Row;

use super::audit::insert_audit;
use super::{Backend, DbRow, commit, commit_if};
use crate::db_error;

/// The columns `client_from_row` reads, in the order the insert binds them.
macro_rules! columns {
    () => {
        "id, name, secret_hash, redirect_uris, post_logout_redirect_uris, id_token_alg, \
         first_party, refresh_tokens, allow_recovery, created_at"
    };
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn client_from_row(row: &DbRow) -> StoreResult<OidcClientRecord> {
    let flag = |name: &str| -> StoreResult<bool> {
        Ok(row.try_get::<i64, _>(name).map_err(db_error)? != 0)
    };
    Ok(OidcClientRecord {
        id: row.try_get("id").map_err(db_error)?,
        name: row.try_get("name").map_err(db_error)?,
        secret_hash: row
            .try_get::<Option<String>, _>("secret_hash")
            .map_err(db_error)?
            .map(TokenHash),
        redirect_uris: lines(
            &row.try_get::<String, _>("redirect_uris")
                .map_err(db_error)?,
        ),
        post_logout_redirect_uris: lines(
            &row.try_get::<String, _>("post_logout_redirect_uris")
                .map_err(db_error)?,
        ),
        id_token_alg: row.try_get("id_token_alg").map_err(db_error)?,
        first_party: flag("first_party")?,
        refresh_tokens: flag("refresh_tokens")?,
        allow_recovery: flag("allow_recovery")?,
        created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
    })
}

#[async_trait]
impl OidcClientStore for Backend {
    async fn insert_oidc_client(
        &self,
        client: &OidcClientRecord,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(concat!(
            "INSERT INTO oidc_clients (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&client.id)
        .bind(&client.name)
        .bind(client.secret_hash.as_ref().map(TokenHash::as_str))
        .bind(client.redirect_uris.join("\n"))
        .bind(client.post_logout_redirect_uris.join("\n"))
        .bind(&client.id_token_alg)
        .bind(i64::from(client.first_party))
        .bind(i64::from(client.refresh_tokens))
        .bind(i64::from(client.allow_recovery))
        .bind(client.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn oidc_client(&self, id: &str) -> StoreResult<Option<OidcClientRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM oidc_clients WHERE id = $1 AND removed_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(client_from_row)
        .transpose()
    }

    async fn oidc_clients(&self) -> StoreResult<Vec<OidcClientRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM oidc_clients WHERE removed_at IS NULL ORDER BY created_at, name, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(client_from_row)
        .collect()
    }

    async fn remove_oidc_client(
        &self,
        id: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let removed = sqlx::query(
            "UPDATE oidc_clients SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL",
        )
        .bind(now.0)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let owners = sqlx::query(
            "UPDATE oidc_tokens SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL \
             RETURNING account_id",
        )
        .bind(now.0)
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        super::oidc_grants::note_token_owners(&mut tx, &owners)?;
        commit_if(tx, removed.rows_affected() == 1, &[], audit).await
    }

    async fn set_oidc_client_secret(
        &self,
        id: &str,
        secret_hash: &TokenHash,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "UPDATE oidc_clients SET secret_hash = $1 \
             WHERE id = $2 AND removed_at IS NULL AND secret_hash IS NOT NULL",
        )
        .bind(secret_hash.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        commit_if(tx, changed.rows_affected() == 1, &[], audit).await
    }
}
