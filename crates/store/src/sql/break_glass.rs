//! The operator's break-glass commands: `account unblock-recovery` and `account reset-mfa`.

use async_trait::async_trait;
use latchkey_domain::AccountId;
use latchkey_service::store::*;
use sqlx::Row;

use super::accounts::{end_what_the_old_password_began, lock_account};
use super::audit::insert_audit;
use super::devices::end_open_activations;
use super::outbox::insert_outbox;
use super::{Backend, commit};
use crate::db_error;

#[async_trait]
impl BreakGlassStore for Backend {
    async fn unblock_recovery(
        &self,
        account: &AccountId,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        self.update_account_if(
            "UPDATE accounts SET recovery_blocked_at = NULL, recovery_block_since = NULL, \
             recovery_block_reset_at = NULL WHERE id = $1 AND recovery_blocked_at IS NOT NULL",
            account,
            outbox,
            audit,
        )
        .await
    }

    async fn reset_mfa(
        &self,
        reset: &MfaReset<'_>,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<MfaResetOutcome> {
        let MfaReset {
            account,
            devices,
            blocked,
            now,
        } = *reset;
        let mut tx = self.begin().await?;
        if !lock_account(&mut tx, account, now).await? {
            return Ok(MfaResetOutcome::NoAccount);
        }
        // What the notice describes must still be true under the lock.
        let mut active: Vec<String> =
            sqlx::query("SELECT id FROM mfa_devices WHERE account_id = $1 AND removed_at IS NULL")
                .bind(account.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| row.try_get("id").map_err(db_error))
                .collect::<StoreResult<_>>()?;
        let is_blocked = sqlx::query("SELECT recovery_blocked_at FROM accounts WHERE id = $1")
            .bind(account.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?
            .try_get::<Option<i64>, _>("recovery_blocked_at")
            .map_err(db_error)?
            .is_some();
        let mut expected: Vec<String> = devices.iter().map(|d| d.as_str().to_owned()).collect();
        active.sort();
        expected.sort();
        if active != expected || is_blocked != blocked {
            return Ok(MfaResetOutcome::Changed);
        }
        sqlx::query(
            "UPDATE hardware_tokens SET device_id = NULL WHERE device_id IN \
             (SELECT id FROM mfa_devices WHERE account_id = $1 AND removed_at IS NULL)",
        )
        .bind(account.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "UPDATE mfa_devices SET removed_at = $1, secret_sealed = NULL \
             WHERE account_id = $2 AND removed_at IS NULL",
        )
        .bind(now.0)
        .bind(account.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let sessions_revoked = super::sessions::revoke_sessions(&mut tx, account, now).await?;
        super::contact_changes::cancel_contact_changes(&mut tx, account, now).await?;
        // Nothing begun before the reset can be finished after it: not an
        // enrolment the old session started, nor a sign-in or recovery that
        // would end in a session the owner did not expect.
        end_open_activations(&mut tx, account, now).await?;
        end_what_the_old_password_began(&mut tx, account, now).await?;
        sqlx::query(
            "UPDATE accounts SET recovery_blocked_at = NULL, recovery_block_since = NULL, \
             recovery_block_reset_at = NULL WHERE id = $1",
        )
        .bind(account.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_outbox(&mut tx, outbox).await?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(MfaResetOutcome::Reset { sessions_revoked })
    }
}
