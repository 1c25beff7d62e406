//! Sessions: issued after a password-only sign-in, looked up, touched and revoked.

use async_trait::async_trait;
use latchkey_domain::lockout::Settle;
use latchkey_domain::mfa::DeviceKind;
use latchkey_domain::session::SessionKind;
use latchkey_domain::{AccountId, Timestamp};
use latchkey_service::TokenHash;
use latchkey_service::store::*;
use sqlx::Row;

use super::accounts::{SignInLock, lock_enabled_account, lock_for_sign_in};
use super::audit::insert_audit;
use super::contact_changes::cancel_contact_changes;
use super::throttles::settle;
use super::{Backend, DbRow, Tx, commit, commit_if, corrupt};
use crate::db_error;

/// A `sessions` row (its `token_hash`, `account_id`, `kind`, `created_at`, `last_seen_at`,
/// `expires_at`, `revoked_at` and `mfa_device_id` columns) as a record.
pub(super) fn session_from_row(row: &DbRow) -> StoreResult<SessionRecord> {
    let account: String = row.try_get("account_id").map_err(db_error)?;
    let kind: String = row.try_get("kind").map_err(db_error)?;
    Ok(SessionRecord {
        token_hash: TokenHash(row.try_get("token_hash").map_err(db_error)?),
        account_id: AccountId::parse(&account).ok_or_else(|| corrupt("account id", &account))?,
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
    })
}

/// Inserts a session, revoking the one it replaces: every path that issues a
/// session rotates the browser's identifier. Refused with `AccountDisabled` (the
/// caller's transaction is dropped, so nothing of it is written) while an operator
/// has the account disabled: the check takes the account row's lock, so a disable
/// either waits for this session and then revokes it, or commits first and is seen.
pub(super) async fn insert_session(tx: &mut Tx, session: &NewSession) -> StoreResult<()> {
    if !lock_enabled_account(tx, &session.account_id).await? {
        return Err(StoreError::AccountDisabled);
    }
    if let Some(old) = &session.replaces {
        // The browser's previous session may be another account's: that one changes too.
        let owner: Option<String> = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL \
             RETURNING account_id",
        )
        .bind(session.created_at.0)
        .bind(old.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?
        .map(|row| row.try_get("account_id"))
        .transpose()
        .map_err(db_error)?;
        if let Some(owner) = owner.as_deref().and_then(AccountId::parse) {
            tx.note_change(&owner);
        }
    }
    sqlx::query(
        "INSERT INTO sessions (token_hash, account_id, kind, created_at, \
         last_seen_at, expires_at, client_addr, user_agent, mfa_device_id, public_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
    .bind(&session.public_id)
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

/// Revokes every live session of the account; answers how many there were.
pub(super) async fn revoke_sessions(
    tx: &mut Tx,
    account: &AccountId,
    now: Timestamp,
) -> StoreResult<u64> {
    super::stamp(
        tx,
        "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
        account,
        now,
    )
    .await
}

pub(super) async fn revoke_all_sessions(
    tx: &mut Tx,
    account: &AccountId,
    now: Timestamp,
) -> StoreResult<()> {
    revoke_sessions(tx, account, now).await?;
    cancel_contact_changes(tx, account, now).await
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
        match lock_for_sign_in(&mut tx, &session.account_id, password_generation).await? {
            SignInLock::Holds => {}
            SignInLock::PasswordChanged => return Ok(SessionStart::PasswordChanged),
            SignInLock::Disabled => return Err(StoreError::AccountDisabled),
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

    async fn account_sessions(
        &self,
        account: &AccountId,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionListing>> {
        let rows = sqlx::query(
            "SELECT s.public_id, s.token_hash, s.kind, s.created_at, s.last_seen_at, \
             s.expires_at, s.client_addr, s.user_agent, d.kind AS device_kind, \
             d.name AS device_name FROM sessions s \
             LEFT JOIN mfa_devices d ON d.id = s.mfa_device_id \
             WHERE s.account_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
             ORDER BY s.created_at DESC, s.token_hash LIMIT $3",
        )
        .bind(account.as_str())
        .bind(now.0)
        .bind(SESSION_LIST_LIMIT)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind").map_err(db_error)?;
                let device_kind: Option<String> = row.try_get("device_kind").map_err(db_error)?;
                let device_name: Option<String> = row.try_get("device_name").map_err(db_error)?;
                let mfa_device = match (device_kind, device_name) {
                    (Some(kind), Some(name)) => Some((
                        DeviceKind::parse(&kind).ok_or_else(|| corrupt("device kind", &kind))?,
                        name,
                    )),
                    _ => None,
                };
                Ok(SessionListing {
                    public_id: row.try_get("public_id").map_err(db_error)?,
                    token_hash: TokenHash(row.try_get("token_hash").map_err(db_error)?),
                    kind: SessionKind::parse(&kind)
                        .ok_or_else(|| corrupt("session kind", &kind))?,
                    created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
                    last_seen_at: Timestamp(row.try_get("last_seen_at").map_err(db_error)?),
                    expires_at: Timestamp(row.try_get("expires_at").map_err(db_error)?),
                    client_addr: row.try_get("client_addr").map_err(db_error)?,
                    user_agent: row.try_get("user_agent").map_err(db_error)?,
                    mfa_device,
                })
            })
            .collect()
    }

    async fn revoke_account_session(
        &self,
        account: &AccountId,
        public_id: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<Option<TokenHash>> {
        let mut tx = self.begin().await?;
        let revoked: Option<String> = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND public_id = $3 \
             AND revoked_at IS NULL AND expires_at > $4 RETURNING token_hash",
        )
        .bind(now.0)
        .bind(account.as_str())
        .bind(public_id)
        .bind(now.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?
        .map(|row| row.try_get("token_hash"))
        .transpose()
        .map_err(db_error)?;
        commit_if(tx, revoked.is_some(), &[], audit).await?;
        Ok(revoked.map(TokenHash))
    }

    async fn revoke_every_session(
        &self,
        account: &AccountId,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        // The account first, as every other change of its sessions and contacts does.
        super::accounts::lock_account_row(&mut tx, account).await?;
        let revoked = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL \
             AND expires_at > $3",
        )
        .bind(now.0)
        .bind(account.as_str())
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        cancel_contact_changes(&mut tx, account, now).await?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(revoked)
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
        let owner: Option<String> = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 \
             AND revoked_at IS NULL RETURNING account_id",
        )
        .bind(now.0)
        .bind(token_hash.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?
        .map(|row| row.try_get("account_id"))
        .transpose()
        .map_err(db_error)?;
        if let Some(owner) = owner.as_deref().and_then(AccountId::parse) {
            tx.note_change(&owner);
        }
        commit_if(tx, owner.is_some(), &[], audit).await
    }
}
