//! The hardware OATH token inventory and the devices bound to it.

use async_trait::async_trait;
use latchkey_domain::totp::{TotpAlgorithm, TotpParams};
use latchkey_domain::{AccountId, Timestamp};
use latchkey_service::store::*;
use sqlx::Row;

use super::accounts::lock_account;
use super::audit::insert_audit;
use super::devices::{activate_device, active_device_count};
use super::sessions::session_is_live;
use super::{Backend, DbRow, commit, corrupt};
use crate::db_error;

pub(super) fn token_from_row(row: &DbRow) -> StoreResult<HardwareTokenRecord> {
    let algorithm: String = row.try_get("algorithm").map_err(db_error)?;
    let digits: i64 = row.try_get("digits").map_err(db_error)?;
    let account: Option<String> = row.try_get("account_id").map_err(db_error)?;
    Ok(HardwareTokenRecord {
        serial: row.try_get("serial").map_err(db_error)?,
        manufacturer: row.try_get("manufacturer").map_err(db_error)?,
        params: TotpParams {
            algorithm: TotpAlgorithm::parse(&algorithm)
                .ok_or_else(|| corrupt("algorithm", &algorithm))?,
            digits: u32::try_from(digits).map_err(|_| corrupt("digits", &digits.to_string()))?,
            period: row.try_get("period").map_err(db_error)?,
        },
        secret_sealed: row.try_get("secret_sealed").map_err(db_error)?,
        imported_at: Timestamp(row.try_get("imported_at").map_err(db_error)?),
        device_id: row
            .try_get::<Option<String>, _>("device_id")
            .map_err(db_error)?
            .map(latchkey_domain::DeviceId::new),
        account_id: account.as_deref().and_then(AccountId::parse),
    })
}

#[async_trait]
impl HardwareTokenStore for Backend {
    async fn import_tokens(
        &self,
        tokens: &[NewHardwareToken],
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for token in tokens {
            let inserted = sqlx::query(
                "INSERT INTO hardware_tokens (serial, manufacturer, algorithm, digits, period, \
                 secret_sealed, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&token.serial)
            .bind(token.manufacturer.as_deref())
            .bind(token.params.algorithm.as_str())
            .bind(i64::from(token.params.digits))
            .bind(token.params.period)
            .bind(&token.secret_sealed)
            .bind(token.imported_at.0)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::Conflict("serial"));
                }
                Err(e) => return Err(db_error(e)),
            }
        }
        insert_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn hardware_tokens(&self) -> StoreResult<Vec<HardwareTokenRecord>> {
        let rows = sqlx::query(
            "SELECT t.serial, t.manufacturer, t.algorithm, t.digits, t.period, t.secret_sealed, \
             t.imported_at, t.device_id, d.account_id FROM hardware_tokens t \
             LEFT JOIN mfa_devices d ON d.id = t.device_id ORDER BY t.serial",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(token_from_row).collect()
    }

    async fn hardware_token(&self, serial: &str) -> StoreResult<Option<HardwareTokenRecord>> {
        self.one(
            "SELECT t.serial, t.manufacturer, t.algorithm, t.digits, t.period, t.secret_sealed, \
             t.imported_at, t.device_id, d.account_id FROM hardware_tokens t \
             LEFT JOIN mfa_devices d ON d.id = t.device_id WHERE t.serial = $1",
            serial,
            token_from_row,
        )
        .await
    }

    async fn assign_hardware_device(
        &self,
        device: &NewDevice,
        max_devices: usize,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<AssignOutcome> {
        let now = device.created_at;
        let serial = device.serial.as_deref().unwrap_or_default();
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
        let bound = sqlx::query(
            "UPDATE hardware_tokens SET device_id = $1 WHERE serial = $2 AND device_id IS NULL",
        )
        .bind(device.id.as_str())
        .bind(serial)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if bound.rows_affected() != 1 {
            return Ok(AssignOutcome::TokenUnavailable);
        }
        activate_device(tx, device, None, outbox, audit).await
    }
}
