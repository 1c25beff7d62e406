//! Security keys: WebAuthn ceremonies (taken once), registration and sign-in.

use async_trait::async_trait;
use latchkey_domain::{AccountId, CeremonyId, DeviceId, Timestamp};
use latchkey_service::TokenHash;
use latchkey_service::store::*;
use sqlx::Row;

use super::accounts::{lock_account, lock_account_row};
use super::devices::{activate_device, active_device_count};
use super::sessions::session_is_live;
use super::sign_in_attempts::{complete_attempt, issue_second_factor_session};
use super::throttles::clear_attempt_source;
use super::{Backend, commit};
use crate::db_error;

#[async_trait]
impl WebAuthnStore for Backend {
    async fn create_ceremony(&self, ceremony: &NewCeremony) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (id, account_id, purpose, state_sealed, name, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(ceremony.id.as_str())
        .bind(ceremony.account_id.as_str())
        .bind(ceremony.purpose)
        .bind(&ceremony.state_sealed)
        .bind(&ceremony.name)
        .bind(ceremony.created_at.0)
        .bind(ceremony.expires_at.0)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        id: &CeremonyId,
        account: &AccountId,
        purpose: &str,
        now: Timestamp,
    ) -> StoreResult<Option<TakenCeremony>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "UPDATE webauthn_ceremonies SET used_at = $1 WHERE id = $2 AND account_id = $3 \
             AND purpose = $4 AND used_at IS NULL AND expires_at > $5 \
             RETURNING state_sealed, name",
        )
        .bind(now.0)
        .bind(id.as_str())
        .bind(account.as_str())
        .bind(purpose)
        .bind(now.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        commit(tx).await?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(TakenCeremony {
                state_sealed: row.try_get("state_sealed").map_err(db_error)?,
                name: row.try_get("name").map_err(db_error)?,
            })),
        }
    }

    async fn assign_security_key(
        &self,
        device: &NewDevice,
        credential_id: &str,
        max_devices: usize,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<AssignOutcome> {
        let mut tx = self.begin().await?;
        lock_account(&mut tx, &device.account_id, device.created_at).await?;
        if let Some(by) = &device.added_by
            && !session_is_live(&mut tx, &device.account_id, by, device.created_at).await?
        {
            return Ok(AssignOutcome::SessionEnded);
        }
        if active_device_count(&mut tx, &device.account_id).await? >= max_devices {
            return Ok(AssignOutcome::LimitReached);
        }
        activate_device(tx, device, Some(credential_id), outbox, audit).await
    }

    async fn complete_security_key_sign_in(
        &self,
        attempt: &TokenHash,
        device_id: &DeviceId,
        key_sealed: &[u8],
        counter: u32,
        session: &NewSession,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let now = session.created_at;
        let mut tx = self.begin().await?;
        // The account row, then the failure counter, as above.
        lock_account_row(&mut tx, &session.account_id).await?;
        clear_attempt_source(&mut tx, attempt).await?;
        if !complete_attempt(&mut tx, attempt, &session.account_id, now).await? {
            return Ok(false);
        }
        let updated = sqlx::query(
            "UPDATE mfa_devices SET secret_sealed = $1, last_used_at = $2, failed_attempts = 0, \
             sign_count = $3 WHERE id = $4 AND account_id = $5 AND removed_at IS NULL \
             AND (sign_count < $6 OR ($7 = 0 AND sign_count = 0))",
        )
        .bind(key_sealed)
        .bind(now.0)
        .bind(i64::from(counter))
        .bind(device_id.as_str())
        .bind(session.account_id.as_str())
        .bind(i64::from(counter))
        .bind(i64::from(counter))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        issue_second_factor_session(tx, device_id, session, audit).await?;
        Ok(true)
    }
}
