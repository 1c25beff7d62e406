//! The audit log: appended to, never edited.

use async_trait::async_trait;
use latchkey_domain::{AccountId, Timestamp};
use latchkey_service::store::*;
use sqlx::Row;

use super::accounts::lock_account_row;
use super::outbox::insert_outbox;
use super::{Backend, DbRow, Tx, commit};
use crate::db_error;

pub(super) fn audit_from_row(row: &DbRow) -> StoreResult<AuditRecord> {
    let account: Option<String> = row.try_get("account_id").map_err(db_error)?;
    Ok(AuditRecord {
        at: Timestamp(row.try_get("at").map_err(db_error)?),
        account_id: account.as_deref().and_then(AccountId::parse),
        client_addr: row.try_get("client_addr").map_err(db_error)?,
        user_agent: row.try_get("user_agent").map_err(db_error)?,
        event: row.try_get("event").map_err(db_error)?,
        outcome: row.try_get("outcome").map_err(db_error)?,
        detail: row.try_get("detail").map_err(db_error)?,
    })
}

pub(super) async fn insert_audit(tx: &mut Tx, audit: &AuditRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, account_id, client_addr, user_agent, event, \
         outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(audit.at.0)
    .bind(audit.account_id.as_ref().map(|id| id.as_str().to_owned()))
    .bind(&audit.client_addr)
    .bind(&audit.user_agent)
    .bind(&audit.event)
    .bind(&audit.outcome)
    .bind(&audit.detail)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl AuditStore for Backend {
    async fn append_audit_once(
        &self,
        audit: &AuditRecord,
        since: Timestamp,
        outbox: &[NewOutboxMessage],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        if let Some(account) = &audit.account_id {
            lock_account_row(&mut tx, account).await?;
        }
        let seen: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM audit_log WHERE account_id = $1 \
             AND event = $2 AND detail = $3 AND at >= $4",
        )
        .bind(audit.account_id.as_ref().map(|a| a.as_str().to_owned()))
        .bind(&audit.event)
        .bind(&audit.detail)
        .bind(since.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?
        .try_get("n")
        .map_err(db_error)?;
        if seen > 0 {
            return Ok(false);
        }
        insert_outbox(&mut tx, outbox).await?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(true)
    }

    async fn append_audit(&self, audit: &AuditRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn recent_audit(
        &self,
        account: Option<&AccountId>,
        limit: i64,
    ) -> StoreResult<Vec<AuditRecord>> {
        let rows = match account {
            Some(account) => {
                sqlx::query(
                    "SELECT at, account_id, client_addr, user_agent, event, outcome, \
                 detail FROM audit_log WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(account.as_str())
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(
                    "SELECT at, account_id, client_addr, user_agent, event, outcome, \
                 detail FROM audit_log ORDER BY id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(db_error)?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn append_audit_with_outbox(
        &self,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_outbox(&mut tx, outbox).await?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await
    }
}
