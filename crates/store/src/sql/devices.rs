//! Virtual MFA devices: enrolment, activation within the cap, resync and removal.

use async_trait::async_trait;
use latchkey_domain::mfa::DeviceKind;
use latchkey_domain::totp::{TotpAlgorithm, TotpParams};
use latchkey_domain::{AccountId, DeviceId, EnrollmentId, Timestamp};
use latchkey_service::TokenHash;
use latchkey_service::store::*;
use sqlx::Row;

use super::accounts::lock_account;
use super::audit::insert_audit;
use super::outbox::insert_outbox;
use super::sessions::session_is_live;
use super::{Backend, DbRow, Tx, commit, commit_if, corrupt};
use crate::db_error;

/// Device activations still open end (an enrolment's codes, a security key's
/// ceremony): one begun by whoever held the account a moment ago cannot be finished
/// after the owner took it back.
/// Removes the account's devices activated at or after `since` (their secrets erased, their
/// hardware tokens freed): what an undo takes back of what an intruder added. Their ids.
pub(super) async fn remove_devices_since(
    tx: &mut Tx,
    account: &AccountId,
    since: i64,
    now: Timestamp,
) -> StoreResult<Vec<String>> {
    let removed: Vec<String> = sqlx::query(
        "UPDATE mfa_devices SET removed_at = $1, secret_sealed = NULL \
         WHERE account_id = $2 AND removed_at IS NULL AND created_at >= $3 RETURNING id",
    )
    .bind(now.0)
    .bind(account.as_str())
    .bind(since)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?
    .iter()
    .map(|row| row.try_get("id").map_err(db_error))
    .collect::<StoreResult<_>>()?;
    for device in &removed {
        sqlx::query("UPDATE hardware_tokens SET device_id = NULL WHERE device_id = $1")
            .bind(device)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    Ok(removed)
}

pub(super) async fn end_open_activations(
    tx: &mut Tx,
    account: &AccountId,
    now: Timestamp,
) -> StoreResult<()> {
    for statement in [
        "UPDATE mfa_enrollments SET completed_at = $1 WHERE account_id = $2 AND completed_at IS NULL",
        "UPDATE webauthn_ceremonies SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL",
    ] {
        sqlx::query(statement)
            .bind(now.0)
            .bind(account.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

pub(super) async fn active_device_count(tx: &mut Tx, account: &AccountId) -> StoreResult<usize> {
    let count: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM mfa_devices WHERE account_id = $1 AND removed_at IS NULL",
    )
    .bind(account.as_str())
    .fetch_one(&mut **tx)
    .await
    .map_err(db_error)?
    .try_get("n")
    .map_err(db_error)?;
    Ok(count as usize)
}

pub(super) fn device_from_row(row: &DbRow) -> StoreResult<DeviceRecord> {
    let account: String = row.try_get("account_id").map_err(db_error)?;
    let kind: String = row.try_get("kind").map_err(db_error)?;
    let algorithm: String = row.try_get("algorithm").map_err(db_error)?;
    let digits: i64 = row.try_get("digits").map_err(db_error)?;
    let failed: i64 = row.try_get("failed_attempts").map_err(db_error)?;
    Ok(DeviceRecord {
        id: DeviceId::new(row.try_get::<String, _>("id").map_err(db_error)?),
        account_id: AccountId::parse(&account).ok_or_else(|| corrupt("account id", &account))?,
        kind: DeviceKind::parse(&kind).ok_or_else(|| corrupt("device kind", &kind))?,
        name: row.try_get("name").map_err(db_error)?,
        secret_sealed: row
            .try_get::<Option<Vec<u8>>, _>("secret_sealed")
            .map_err(db_error)?
            .unwrap_or_default(),
        params: TotpParams {
            algorithm: TotpAlgorithm::parse(&algorithm)
                .ok_or_else(|| corrupt("algorithm", &algorithm))?,
            digits: u32::try_from(digits).map_err(|_| corrupt("digits", &digits.to_string()))?,
            period: row.try_get("period").map_err(db_error)?,
        },
        drift_steps: row.try_get("drift_steps").map_err(db_error)?,
        last_used_step: row.try_get("last_used_step").map_err(db_error)?,
        failed_attempts: u32::try_from(failed).unwrap_or(u32::MAX),
        created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
        last_used_at: row
            .try_get::<Option<i64>, _>("last_used_at")
            .map_err(db_error)?
            .map(Timestamp),
        serial: row.try_get("serial").map_err(db_error)?,
    })
}

/// The end of every device activation, once its own checks passed: the device (refused if
/// its name, or a security key's credential, is taken), the owner's notice, the audit line.
pub(super) async fn activate_device(
    mut tx: Tx,
    device: &NewDevice,
    credential_id: Option<&str>,
    outbox: &[NewOutboxMessage],
    audit: &AuditRecord,
) -> StoreResult<AssignOutcome> {
    if !insert_device(&mut tx, device, credential_id).await? {
        return Ok(AssignOutcome::NameTaken);
    }
    insert_outbox(&mut tx, outbox).await?;
    insert_audit(&mut tx, audit).await?;
    commit(tx).await?;
    Ok(AssignOutcome::Assigned)
}

/// Inserts an MFA device. `Ok(false)` when a unique rule (an active device's name, a
/// security key's credential id) refuses it.
async fn insert_device(
    tx: &mut Tx,
    device: &NewDevice,
    credential_id: Option<&str>,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "INSERT INTO mfa_devices (id, account_id, kind, name, secret_sealed, algorithm, \
         digits, period, last_used_step, created_at, serial, credential_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(device.id.as_str())
    .bind(device.account_id.as_str())
    .bind(device.kind.as_str())
    .bind(&device.name)
    .bind(&device.secret_sealed)
    .bind(device.params.algorithm.as_str())
    .bind(i64::from(device.params.digits))
    .bind(device.params.period)
    .bind(device.last_used_step)
    .bind(device.created_at.0)
    .bind(device.serial.as_deref())
    .bind(credential_id)
    .execute(&mut **tx)
    .await;
    match result {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(db_error(e)),
    }
}

#[async_trait]
impl DeviceStore for Backend {
    async fn mfa_devices(&self, account: &AccountId) -> StoreResult<Vec<DeviceRecord>> {
        let rows = sqlx::query(
            "SELECT id, account_id, kind, name, secret_sealed, algorithm, digits, period, \
             drift_steps, last_used_step, failed_attempts, created_at, last_used_at, serial \
             FROM mfa_devices WHERE account_id = $1 AND removed_at IS NULL \
             ORDER BY created_at, id",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(device_from_row).collect()
    }

    async fn create_enrollment(&self, enrollment: &NewEnrollment) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO mfa_enrollments (id, account_id, kind, secret_sealed, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(enrollment.id.as_str())
        .bind(enrollment.account_id.as_str())
        .bind(enrollment.kind.as_str())
        .bind(&enrollment.secret_sealed)
        .bind(enrollment.created_at.0)
        .bind(enrollment.expires_at.0)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn enrollment(
        &self,
        id: &EnrollmentId,
        account: &AccountId,
        now: Timestamp,
    ) -> StoreResult<Option<EnrollmentRecord>> {
        let row = sqlx::query(
            "SELECT id, account_id, kind, secret_sealed, expires_at FROM mfa_enrollments \
             WHERE id = $1 AND account_id = $2 AND completed_at IS NULL AND expires_at > $3",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("kind").map_err(db_error)?;
        Ok(Some(EnrollmentRecord {
            id: EnrollmentId::new(row.try_get::<String, _>("id").map_err(db_error)?),
            account_id: account.clone(),
            kind: DeviceKind::parse(&kind).ok_or_else(|| corrupt("device kind", &kind))?,
            secret_sealed: row.try_get("secret_sealed").map_err(db_error)?,
            expires_at: Timestamp(row.try_get("expires_at").map_err(db_error)?),
        }))
    }

    async fn assign_device(
        &self,
        enrollment_id: &EnrollmentId,
        device: &NewDevice,
        max_devices: usize,
        now: Timestamp,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<AssignOutcome> {
        let mut tx = self.begin().await?;
        lock_account(&mut tx, &device.account_id, now).await?;
        if let Some(by) = &device.added_by
            && !session_is_live(&mut tx, &device.account_id, by, now).await?
        {
            return Ok(AssignOutcome::SessionEnded);
        }
        if active_device_count(&mut tx, &device.account_id).await? >= max_devices {
            return Ok(AssignOutcome::LimitReached);
        }
        let done = sqlx::query(
            "UPDATE mfa_enrollments SET completed_at = $1 WHERE id = $2 \
             AND account_id = $3 AND completed_at IS NULL AND expires_at > $4",
        )
        .bind(now.0)
        .bind(enrollment_id.as_str())
        .bind(device.account_id.as_str())
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(AssignOutcome::EnrollmentGone);
        }
        activate_device(tx, device, None, outbox, audit).await
    }

    async fn resync_device(
        &self,
        account: &AccountId,
        device_id: &DeviceId,
        later_step: i64,
        drift_steps: i64,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE mfa_devices SET drift_steps = $1, last_used_step = $2, \
             failed_attempts = 0 WHERE id = $3 AND account_id = $4 \
             AND removed_at IS NULL \
             AND (last_used_step IS NULL OR last_used_step < $5)",
        )
        .bind(drift_steps)
        .bind(later_step)
        .bind(device_id.as_str())
        .bind(account.as_str())
        .bind(later_step)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        commit_if(tx, done.rows_affected() == 1, outbox, audit).await
    }

    async fn remove_device(
        &self,
        account: &AccountId,
        device_id: &DeviceId,
        by: &TokenHash,
        now: Timestamp,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<Option<usize>> {
        let mut tx = self.begin().await?;
        lock_account(&mut tx, account, now).await?;
        if !session_is_live(&mut tx, account, by, now).await? {
            return Ok(None);
        }
        let done = sqlx::query(
            "UPDATE mfa_devices SET removed_at = $1, secret_sealed = NULL \
             WHERE id = $2 AND account_id = $3 AND removed_at IS NULL",
        )
        .bind(now.0)
        .bind(device_id.as_str())
        .bind(account.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        tx.note_change(account);
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE mfa_device_id = $2 \
             AND account_id = $3 AND revoked_at IS NULL",
        )
        .bind(now.0)
        .bind(device_id.as_str())
        .bind(account.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        super::contact_changes::cancel_contact_changes(&mut tx, account, now).await?;
        sqlx::query("UPDATE hardware_tokens SET device_id = NULL WHERE device_id = $1")
            .bind(device_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let remaining = active_device_count(&mut tx, account).await?;
        insert_outbox(&mut tx, outbox).await?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(Some(remaining))
    }
}
