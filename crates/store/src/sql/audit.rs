//! The audit log: appended to, never edited.

use async_trait::async_trait;
use latchkey_domain::audit_chain::{Legacy, Previous};
use latchkey_domain::{AccountId, Timestamp};
use latchkey_service::store::*;
use sqlx::Row;

use super::accounts::lock_account_row;
use super::outbox::insert_outbox;
use super::{Backend, Db, DbRow, LOCK_AUDIT_CHAIN, Tx, commit};
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

/// How many records are outside the chain, and their highest row id: all of them, or
/// those before row `start` (where the chain begins).
async fn legacy<'c, E>(db: E, start: Option<i64>) -> StoreResult<Legacy>
where
    E: sqlx::Executor<'c, Database = Db>,
{
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS max_row FROM audit_log \
         WHERE seq IS NULL AND id < $1",
    )
    .bind(start.unwrap_or(i64::MAX))
    .fetch_one(db)
    .await
    .map_err(db_error)?;
    Ok(Legacy {
        count: row.try_get("n").map_err(db_error)?,
        max_row: row.try_get("max_row").map_err(db_error)?,
    })
}

/// Appends `audit` to the chain: the next place after the head, MACed over the head's MAC.
/// Every transaction calls this last, just before committing, because on PostgreSQL it
/// holds the chain's lock (`LOCK_AUDIT_CHAIN`) until then and appends queue on it; on
/// SQLite the write transaction already has the database to itself.
pub(super) async fn insert_audit(tx: &mut Tx, audit: &AuditRecord) -> StoreResult<()> {
    // Every change to an account writes its audit record: what this process keeps in memory
    // about the account is dropped when the transaction commits.
    if let Some(account) = &audit.account_id {
        tx.note_change(account);
    }
    if let Some(lock) = LOCK_AUDIT_CHAIN {
        sqlx::query(lock)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    let head = sqlx::query(
        "SELECT seq, chain_mac FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error)?;
    let (seq, previous) = match head {
        Some(row) => {
            let seq: i64 = row.try_get("seq").map_err(db_error)?;
            // A MAC someone removed chains as empty; verification names that record.
            let mac: Option<Vec<u8>> = row.try_get("chain_mac").map_err(db_error)?;
            (seq + 1, Ok(mac.unwrap_or_default()))
        }
        // The first record: it covers every record written before the chain existed.
        None => (1, Err(legacy(&mut **tx, None).await?)),
    };
    let previous = match &previous {
        Ok(mac) => Previous::Mac(mac),
        Err(legacy) => Previous::Start(*legacy),
    };
    let mac = tx.chain_key().link(previous, &audit.linked(seq));
    sqlx::query(
        "INSERT INTO audit_log (at, account_id, client_addr, user_agent, event, \
         outcome, detail, seq, chain_mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(audit.at.0)
    .bind(audit.account_id.as_ref().map(|id| id.as_str().to_owned()))
    .bind(&audit.client_addr)
    .bind(&audit.user_agent)
    .bind(&audit.event)
    .bind(&audit.outcome)
    .bind(&audit.detail)
    .bind(seq)
    .bind(mac.as_slice())
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

    async fn audit_events(&self, query: &AuditQuery<'_>) -> StoreResult<Vec<AuditEntry>> {
        let mut sql = sqlx::QueryBuilder::<Db>::new(
            "SELECT id, at, account_id, client_addr, user_agent, event, outcome, detail \
             FROM audit_log WHERE 1 = 1",
        );
        if let Some(account) = query.account {
            sql.push(" AND account_id = ")
                .push_bind(account.as_str().to_owned());
        }
        if !query.events.is_empty() {
            sql.push(" AND event IN (");
            let mut list = sql.separated(", ");
            for event in query.events {
                list.push_bind((*event).to_owned());
            }
            sql.push(")");
        }
        if let Some(since) = query.since {
            sql.push(" AND at >= ").push_bind(since.0);
        }
        if let Some(until) = query.until {
            sql.push(" AND at < ").push_bind(until.0);
        }
        if let Some(row) = query.before_row {
            sql.push(" AND id < ").push_bind(row);
        }
        sql.push(" ORDER BY id DESC LIMIT ").push_bind(query.limit);
        let rows = sql.build().fetch_all(&self.pool).await.map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    row: row.try_get("id").map_err(db_error)?,
                    record: audit_from_row(row)?,
                })
            })
            .collect()
    }

    async fn audit_chain_page(
        &self,
        (seq, row): (i64, i64),
        limit: i64,
    ) -> StoreResult<Vec<ChainedAudit>> {
        let rows = sqlx::query(
            "SELECT id, seq, chain_mac, at, account_id, client_addr, user_agent, event, \
             outcome, detail FROM audit_log WHERE seq > $1 OR (seq = $2 AND id > $3) \
             ORDER BY seq, id LIMIT $4",
        )
        .bind(seq)
        .bind(seq)
        .bind(row)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(ChainedAudit {
                    row: row.try_get("id").map_err(db_error)?,
                    seq: row.try_get("seq").map_err(db_error)?,
                    mac: row
                        .try_get::<Option<Vec<u8>>, _>("chain_mac")
                        .map_err(db_error)?
                        .unwrap_or_default(),
                    record: audit_from_row(row)?,
                })
            })
            .collect()
    }

    async fn unchained_audit(&self) -> StoreResult<UnchainedAudit> {
        let start: Option<i64> =
            sqlx::query("SELECT MIN(id) AS start FROM audit_log WHERE seq IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?
                .try_get("start")
                .map_err(db_error)?;
        let before_chain = legacy(&self.pool, start).await?;
        let first_after_start = match start {
            Some(start) => {
                sqlx::query("SELECT MIN(id) AS after FROM audit_log WHERE seq IS NULL AND id > $1")
                    .bind(start)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)?
                    .try_get("after")
                    .map_err(db_error)?
            }
            None => None,
        };
        Ok(UnchainedAudit {
            before_chain,
            first_after_start,
        })
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
