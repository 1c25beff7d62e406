//! Sign-in attempts: the password was right and a second factor is awaited.

use async_trait::async_trait;
use latchkey_domain::lockout::Settle;
use latchkey_domain::{AccountId, DeviceId, Timestamp};
use latchkey_service::TokenHash;
use latchkey_service::store::*;
use sqlx::Row;

use super::accounts::{SignInLock, lock_account_row, lock_for_sign_in};
use super::audit::insert_audit;
use super::recovery::lift_recovery_block;
use super::sessions::insert_session;
use super::throttles::{clear_attempt_source, settle};
use super::{Backend, Tx, commit, corrupt};
use crate::db_error;

#[async_trait]
impl SignInAttemptStore for Backend {
    async fn start_sign_in_attempt(
        &self,
        token_hash: &TokenHash,
        account: &AccountId,
        password_generation: i64,
        source: &str,
        now: Timestamp,
        expires_at: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        // Changed or disabled while the password was being checked: no attempt to finish.
        if lock_for_sign_in(&mut tx, account, password_generation).await? != SignInLock::Holds {
            return Ok(false);
        }
        settle(&mut tx, account.as_str(), source, Settle::Refund).await?;
        sqlx::query(
            "INSERT INTO sign_in_attempts (token_hash, account_id, created_at, expires_at, \
             source, failures_at_start) VALUES ($1, $2, $3, $4, $5, \
             COALESCE((SELECT failures FROM throttles WHERE subject = $6 AND source = $7), 0))",
        )
        .bind(token_hash.as_str())
        .bind(account.as_str())
        .bind(now.0)
        .bind(expires_at.0)
        .bind(source)
        .bind(account.as_str())
        .bind(source)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(true)
    }

    async fn sign_in_attempt(
        &self,
        token_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<SignInAttemptRecord>> {
        let row = sqlx::query(
            "SELECT account_id, created_at, expires_at, source, failures_at_start FROM sign_in_attempts \
             WHERE token_hash = $1 AND completed_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash.as_str())
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let account: String = row.try_get("account_id").map_err(db_error)?;
        Ok(Some(SignInAttemptRecord {
            account_id: AccountId::parse(&account)
                .ok_or_else(|| corrupt("account id", &account))?,
            created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
            expires_at: Timestamp(row.try_get("expires_at").map_err(db_error)?),
            source: row.try_get("source").map_err(db_error)?,
            failures_at_start: u32::try_from(
                row.try_get::<i64, _>("failures_at_start")
                    .map_err(db_error)?,
            )
            .unwrap_or(u32::MAX),
        }))
    }

    async fn complete_mfa_sign_in(
        &self,
        attempt: &TokenHash,
        device_id: &DeviceId,
        step: i64,
        session: &NewSession,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let now = session.created_at;
        let mut tx = self.begin().await?;
        // Locks in one order everywhere: the account row (as `This wasn't me` and a
        // reset take it, so a session cannot slip in while they run), then the
        // failure counter and the device (as reservations take them).
        lock_account_row(&mut tx, &session.account_id).await?;
        clear_attempt_source(&mut tx, attempt).await?;
        // The step is consumed only if it is later than every step used before:
        // a code, or any earlier one, is never accepted twice.
        let consumed = sqlx::query(
            "UPDATE mfa_devices SET last_used_step = $1, last_used_at = $2, \
             failed_attempts = 0 WHERE id = $3 AND account_id = $4 \
             AND removed_at IS NULL \
             AND (last_used_step IS NULL OR last_used_step < $5)",
        )
        .bind(step)
        .bind(now.0)
        .bind(device_id.as_str())
        .bind(session.account_id.as_str())
        .bind(step)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if consumed.rows_affected() != 1 {
            return Ok(false);
        }
        if !complete_attempt(&mut tx, attempt, &session.account_id, now).await? {
            return Ok(false);
        }
        issue_second_factor_session(tx, device_id, session, audit).await?;
        Ok(true)
    }
}

/// Marks a live sign-in attempt of the account completed; `false` if it expired, was
/// completed already, or is another account's.
pub(super) async fn complete_attempt(
    tx: &mut Tx,
    attempt: &TokenHash,
    account: &AccountId,
    now: Timestamp,
) -> StoreResult<bool> {
    let completed = sqlx::query(
        "UPDATE sign_in_attempts SET completed_at = $1 WHERE token_hash = $2 \
         AND account_id = $3 AND completed_at IS NULL AND expires_at > $4",
    )
    .bind(now.0)
    .bind(attempt.as_str())
    .bind(account.as_str())
    .bind(now.0)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(completed.rows_affected() == 1)
}

/// What every second factor's sign-in commits with its session: a device the owner had
/// before a `This wasn't me` lifts its block, the session, the audit line.
pub(super) async fn issue_second_factor_session(
    mut tx: Tx,
    device_id: &DeviceId,
    session: &NewSession,
    audit: &AuditRecord,
) -> StoreResult<()> {
    lift_recovery_block(&mut tx, &session.account_id, device_id.as_str()).await?;
    insert_session(&mut tx, session).await?;
    insert_audit(&mut tx, audit).await?;
    commit(tx).await
}
