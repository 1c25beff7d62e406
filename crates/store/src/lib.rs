//! The two implementations of latchkey's `Store` port: [`SqliteStore`] (the embedded
//! default) and [`PgStore`] (for production and for several instances sharing one database).
//!
//! Both run the same SQL, written once in `sql/` (one module per aggregate, compiled once
//! per backend); what differs (opening the database, the transaction mode, row locking in
//! the outbox claim) is spelled out in `sqlite.rs` and `postgres.rs`. Migrations live in
//! `migrations/{sqlite,postgres}/` under the same names. The contract tests in
//! `tests/contract/` run every behaviour against both.

mod change_feed;
mod columns;
mod postgres;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use latchkey_domain::audit_chain::ChainKey;
use latchkey_service::Store;
use latchkey_service::store::{DevStore, StoreError};

pub use postgres::PgStore;
pub use sqlite::{SqliteSettings, SqliteStore};

/// An opened database: the production port and the development one (the built-in mailbox
/// and phone) together. The wiring hands the service the first and, only when a built-in
/// provider is in use, the second (`Arc<dyn Database>` upcasts to either).
pub trait Database: Store + DevStore {}

impl<T: Store + DevStore> Database for T {}

/// A description of the opened database for start-up logs: backend, location and the
/// durability settings read back from it.
#[derive(Debug, Clone)]
pub struct StoreInfo {
    pub backend: &'static str,
    pub location: String,
    pub durability: String,
}

/// Opens the database named by `url` (`sqlite://…` or `postgres://…`) and applies pending
/// migrations. With no URL, an SQLite file in `data_dir` is used. `chain` is the key the
/// audit records are chained with (`ServerKey::audit_chain_key`).
pub async fn open(
    url: Option<&str>,
    data_dir: &Path,
    chain: ChainKey,
) -> Result<(Arc<dyn Database>, StoreInfo), StoreError> {
    match url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = PgStore::connect(url, chain).await?;
            let info = store.info().await?;
            Ok((Arc::new(store), info))
        }
        Some(url) if url.starts_with("sqlite:") => {
            let store = SqliteStore::open_url(url, chain).await?;
            let info = store.info().await?;
            Ok((Arc::new(store), info))
        }
        Some(other) => Err(StoreError::database(format!(
            "unsupported database URL {other:?}: use sqlite://PATH or postgres://…"
        ))),
        None => {
            let store = SqliteStore::open_file(&data_dir.join("latchkey.sqlite3"), chain).await?;
            let info = store.info().await?;
            Ok((Arc::new(store), info))
        }
    }
}

fn db_error(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        let which = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
        return StoreError::Conflict(if which.contains("email") {
            "email"
        } else if which.contains("accounts") {
            "account id"
        } else {
            "unique key"
        });
    }
    StoreError::database_from("query failed", error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_driver_error_is_kept_as_the_source() {
        let error = db_error(sqlx::Error::PoolTimedOut);
        assert_eq!(error.to_string(), "database error: query failed");
        let source = std::error::Error::source(&error).expect("the driver's error is kept");
        assert!(source.downcast_ref::<sqlx::Error>().is_some(), "{source:?}");
        // What latchkey found itself has no driver error under it.
        assert!(std::error::Error::source(&StoreError::database("bad URL")).is_none());
    }
}
