//! The operator's views of accounts, and `account disable` / `account enable`.

use async_trait::async_trait;
use latchkey_domain::{AccountId, AccountStatus, EmailAddress, Timestamp};
use latchkey_service::store::*;
use sqlx::Row;

use super::accounts::{end_what_the_old_password_began, kill_unused_links};
use super::audit::insert_audit;
use super::devices::end_open_activations;
use super::outbox::insert_outbox;
use super::sessions::revoke_sessions;
use super::{Backend, DbRow, commit, corrupt, stamp};
use crate::db_error;

fn summary_from_row(row: &DbRow) -> StoreResult<AccountSummary> {
    let id: String = row.try_get("id").map_err(db_error)?;
    let email: String = row.try_get("email").map_err(db_error)?;
    let status: String = row.try_get("status").map_err(db_error)?;
    Ok(AccountSummary {
        id: AccountId::parse(&id).ok_or_else(|| corrupt("account id", &id))?,
        email: EmailAddress::parse(&email).map_err(|_| corrupt("email", &email))?,
        name: row.try_get("name").map_err(db_error)?,
        status: AccountStatus::parse(&status).ok_or_else(|| corrupt("account status", &status))?,
        created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
        disabled_at: row
            .try_get::<Option<i64>, _>("disabled_at")
            .map_err(db_error)?
            .map(Timestamp),
        devices: row.try_get("devices").map_err(db_error)?,
        live_sessions: row.try_get("live_sessions").map_err(db_error)?,
        last_sign_in_at: row
            .try_get::<Option<i64>, _>("last_sign_in_at")
            .map_err(db_error)?
            .map(Timestamp),
    })
}

#[async_trait]
impl AccountAdminStore for Backend {
    async fn list_accounts(&self, page: &AccountPage<'_>) -> StoreResult<Vec<AccountSummary>> {
        // Every address sorts after the empty string: the first page needs no second query.
        sqlx::query(
            "SELECT a.id, a.email, a.name, a.status, a.created_at, a.disabled_at, \
             (SELECT COUNT(*) FROM mfa_devices d \
              WHERE d.account_id = a.id AND d.removed_at IS NULL) AS devices, \
             (SELECT COUNT(*) FROM sessions s WHERE s.account_id = a.id \
              AND s.revoked_at IS NULL AND s.expires_at > $1 AND s.last_seen_at > $2) \
              AS live_sessions, \
             (SELECT MAX(s.created_at) FROM sessions s WHERE s.account_id = a.id) \
              AS last_sign_in_at \
             FROM accounts a WHERE a.email > $3 ORDER BY a.email LIMIT $4",
        )
        .bind(page.now.0)
        .bind(page.seen_since.0)
        .bind(page.after.unwrap_or(""))
        .bind(page.limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(summary_from_row)
        .collect()
    }

    async fn disable_account(
        &self,
        account: &AccountId,
        now: Timestamp,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<Option<u64>> {
        let mut tx = self.begin().await?;
        // Takes the account row's lock: a session insert under way (which locks the row
        // to check `disabled_at`) either committed before, and is revoked below, or waits
        // and then sees the account disabled.
        let disabled = stamp(
            &mut tx,
            "UPDATE accounts SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL",
            account,
            now,
        )
        .await?;
        if disabled != 1 {
            return Ok(None);
        }
        let revoked = revoke_sessions(&mut tx, account, now).await?;
        // A reset link mailed before the disable must not set a password during it.
        kill_unused_links(&mut tx, account, now).await?;
        // A verification call under way must not prove anything for the account now.
        stamp(
            &mut tx,
            "UPDATE calls SET status = 'ended', ended_at = $1 WHERE account_id = $2 \
             AND status IN ('queued', 'dialling', 'placed')",
            account,
            now,
        )
        .await?;
        end_open_activations(&mut tx, account, now).await?;
        // Sign-ins waiting for a code, recoveries and contact changes.
        end_what_the_old_password_began(&mut tx, account, now).await?;
        insert_outbox(&mut tx, outbox).await?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(Some(revoked))
    }

    async fn enable_account(
        &self,
        account: &AccountId,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        self.update_account_if(
            "UPDATE accounts SET disabled_at = NULL WHERE id = $1 AND disabled_at IS NOT NULL",
            account,
            outbox,
            audit,
        )
        .await
    }
}
