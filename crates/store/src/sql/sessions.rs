//! Sessions: issued after a password-only sign-in, looked up, touched and revoked.

use async_trait::async_trait;
use latchkey_domain::lockout::Settle;
use latchkey_domain::session::SessionKind;
use latchkey_domain::{AccountId, Timestamp};
use latchkey_service::TokenHash;
use latchkey_service::store::*;
use sqlx::Row;

use super::accounts::same_password;
use super::audit::insert_audit;
use super::throttles::settle;
use super::{Backend, Tx, commit, commit_if, corrupt};
use crate::db_error;

/// Inserts a session, revoking the one it replaces: every path that issues a
/// session rotates the browser's identifier.
pub(super) async fn insert_session(tx: &mut Tx, session: &NewSession) -> StoreResult<()> {
    if let Some(old) = &session.replaces {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(session.created_at.0)
        .bind(old.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    }
    sqlx::query(
        "INSERT INTO sessions (token_hash, account_id, kind, created_at, \
         last_seen_at, expires_at, client_addr, user_agent, mfa_device_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(session.token_hash.as_str())
    .bind(session.account_id.as_str())
    .bind(session.kind.as_str())
    .bind(session.created_at.0)
    .bind(session.created_at.0)
    .bind(session.expires_at.0)
    .bind(&session.client_addr)
    .bind(&session.user_agent)
    .bind(
        session
            .mfa_device_id
            .as_ref()
            .map(latchkey_domain::DeviceId::as_str),
    )
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Whether the session that asked for a change is still live, read with the
/// account row already locked (see `lock_account_row`): a request under way when
/// `This wasn't me` revoked every session must not finish after it.
pub(super) async fn session_is_live(
    tx: &mut Tx,
    account: &AccountId,
    session: &TokenHash,
    now: Timestamp,
) -> StoreResult<bool> {
    let live = sqlx::query(
        "SELECT 1 AS live FROM sessions WHERE token_hash = $1 AND account_id = $2 \
         AND revoked_at IS NULL AND expires_at > $3",
    )
    .bind(session.as_str())
    .bind(account.as_str())
    .bind(now.0)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(live.is_some())
}

pub(super) async fn revoke_all_sessions(
    tx: &mut Tx,
    account: &AccountId,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL")
        .bind(now.0)
        .bind(account.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl SessionStore for Backend {
    async fn start_session(
        &self,
        session: &NewSession,
        password_generation: i64,
        source: &str,
        audit: &AuditRecord,
    ) -> StoreResult<SessionStart> {
        let mut tx = self.begin().await?;
        if !same_password(&mut tx, &session.account_id, password_generation).await? {
            return Ok(SessionStart::PasswordChanged);
        }
        let blocked: Option<i64> =
            sqlx::query("SELECT recovery_blocked_at FROM accounts WHERE id = $1")
                .bind(session.account_id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?
                .try_get("recovery_blocked_at")
                .map_err(db_error)?;
        if blocked.is_some() {
            return Ok(SessionStart::Blocked);
        }
        settle(&mut tx, session.account_id.as_str(), source, Settle::Clear).await?;
        insert_session(&mut tx, session).await?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(SessionStart::Started)
    }

    async fn session(&self, token_hash: &TokenHash) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT token_hash, account_id, kind, created_at, last_seen_at, \
             expires_at, revoked_at, mfa_device_id FROM sessions WHERE token_hash = $1",
        )
        .bind(token_hash.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let account: String = row.try_get("account_id").map_err(db_error)?;
        let kind: String = row.try_get("kind").map_err(db_error)?;
        Ok(Some(SessionRecord {
            token_hash: TokenHash(row.try_get("token_hash").map_err(db_error)?),
            account_id: AccountId::parse(&account)
                .ok_or_else(|| corrupt("account id", &account))?,
            kind: SessionKind::parse(&kind).ok_or_else(|| corrupt("session kind", &kind))?,
            created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
            last_seen_at: Timestamp(row.try_get("last_seen_at").map_err(db_error)?),
            expires_at: Timestamp(row.try_get("expires_at").map_err(db_error)?),
            revoked_at: row
                .try_get::<Option<i64>, _>("revoked_at")
                .map_err(db_error)?
                .map(Timestamp),
            mfa_device_id: row
                .try_get::<Option<String>, _>("mfa_device_id")
                .map_err(db_error)?
                .map(latchkey_domain::DeviceId::new),
        }))
    }

    async fn touch_session(&self, token_hash: &TokenHash, now: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2 \
             AND last_seen_at < $3",
        )
        .bind(now.0)
        .bind(token_hash.as_str())
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn revoke_session(
        &self,
        token_hash: &TokenHash,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 \
             AND revoked_at IS NULL",
        )
        .bind(now.0)
        .bind(token_hash.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        commit_if(tx, done.rows_affected() == 1, &[], audit).await
    }
}
