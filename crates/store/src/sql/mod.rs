//! The SQL latchkey runs, written once for both backends, one module per aggregate.
//!
//! This folder is compiled twice: `sqlite.rs` and `postgres.rs` each include it as their
//! `sql` module (`#[path = "sql/mod.rs"]`), where `super::Backend`, `super::Db` and
//! `super::Tx` name that backend's store, database and transaction, and `super::CLAIM_OUTBOX`
//! is the one statement that must differ. The SQL is plain Rust that rustfmt formats and
//! the compiler type-checks once per backend, without a macro or generic bounds.
//!
//! Every statement uses `$n` placeholders (understood by SQLite and PostgreSQL alike), each
//! number appearing once and in order, and only types both backends map the same way
//! (`TEXT`/`String`, 64-bit integers, `BLOB`/`BYTEA`).

mod account_admin;
mod accounts;
mod audit;
mod break_glass;
mod calls;
mod contact_changes;
mod dev;
mod devices;
mod hardware_tokens;
mod identity;
mod oidc_clients;
mod oidc_grants;
mod oidc_keys;
mod outbox;
mod recovery;
mod sealed;
mod server_key;
mod sessions;
mod sign_in_attempts;
mod throttles;
mod webauthn;

use latchkey_service::store::{AuditRecord, NewOutboxMessage, StoreError, StoreResult};

use crate::db_error;

use super::{Backend, CLAIM_OUTBOX, Db, LOCK_AUDIT_CHAIN, Tx};

/// A row of this backend, as the row readers take it.
type DbRow = <Db as sqlx::Database>::Row;

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

impl Backend {
    /// The record a unique key names, if any: `query` selects by the key, `read` reads the
    /// row.
    async fn one<T>(
        &self,
        query: &'static str,
        key: &str,
        read: fn(&DbRow) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        sqlx::query(query)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(read)
            .transpose()
    }
}

/// Runs one account-wide statement whose `$1` is the instant and `$2` the account (ending,
/// revoking or cancelling what the account has under way) and answers how many rows it
/// changed.
async fn stamp(
    tx: &mut Tx,
    statement: &'static str,
    account: &latchkey_domain::AccountId,
    now: latchkey_domain::Timestamp,
) -> StoreResult<u64> {
    tx.note_change(account);
    Ok(sqlx::query(statement)
        .bind(now.0)
        .bind(account.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db_error)?
        .rows_affected())
}

/// Counts an account's rows since an instant for a budget — `$1` the account, `$2` the
/// instant, the count named `n` — read with the account row already locked.
async fn count_since(
    tx: &mut Tx,
    statement: &'static str,
    account: &latchkey_domain::AccountId,
    since: latchkey_domain::Timestamp,
) -> StoreResult<i64> {
    use sqlx::Row;
    sqlx::query(statement)
        .bind(account.as_str())
        .bind(since.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_error)?
        .try_get("n")
        .map_err(db_error)
}

impl Backend {
    /// One conditional update of an account's row (`$1` the account) and, when it took, the
    /// change's messages and audit record; answers whether it took.
    async fn update_account_if(
        &self,
        statement: &'static str,
        account: &latchkey_domain::AccountId,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(statement)
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        commit_if(tx, done.rows_affected() == 1, outbox, audit).await
    }
}

async fn commit(tx: Tx) -> StoreResult<()> {
    tx.commit().await.map_err(db_error)
}

/// The end of a conditional change: when its guarded write took (`changed`), the change's
/// messages and audit record are written and everything commits; otherwise nothing is
/// (dropping the transaction rolls it back). Answers `changed`.
async fn commit_if(
    mut tx: Tx,
    changed: bool,
    outbox: &[NewOutboxMessage],
    audit: &AuditRecord,
) -> StoreResult<bool> {
    if !changed {
        return Ok(false);
    }
    outbox::insert_outbox(&mut tx, outbox).await?;
    audit::insert_audit(&mut tx, audit).await?;
    commit(tx).await?;
    Ok(true)
}
