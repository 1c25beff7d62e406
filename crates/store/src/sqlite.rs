//! SQLite: the embedded default. One file in the data directory, in WAL mode with
//! `synchronous=FULL` (a commit is on disk before the response leaves), write transactions
//! started with `BEGIN IMMEDIATE` so they wait on `busy_timeout` instead of failing.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::{StoreInfo, db_error};
use latchkey_service::store::StoreError;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The pragmas read back after opening, proving the settings took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    pub journal_mode: String,
    pub synchronous: i64,
    pub busy_timeout_ms: i64,
    pub foreign_keys: i64,
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    location: String,
}

impl SqliteStore {
    pub async fn open_file(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::open(options, path.display().to_string()).await
    }

    pub async fn open_url(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url).map_err(db_error)?;
        Self::open(options, url.to_owned()).await
    }

    async fn open(options: SqliteConnectOptions, location: String) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(db_error)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migrations failed: {e}")))?;
        let store = Self { pool, location };
        let settings = store.settings().await?;
        if settings.journal_mode != "wal" || settings.synchronous != 2 || settings.foreign_keys != 1
        {
            return Err(StoreError::Database(format!(
                "SQLite did not accept the durability settings latchkey needs: {settings:?}"
            )));
        }
        Ok(store)
    }

    pub async fn settings(&self) -> Result<SqliteSettings, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let journal_mode: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?
            .try_get(0)
            .map_err(db_error)?;
        let mut read = async |pragma: &'static str| -> Result<i64, StoreError> {
            sqlx::query(pragma)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_error)?
                .try_get::<i64, _>(0)
                .map_err(db_error)
        };
        let synchronous = read("PRAGMA synchronous").await?;
        let busy_timeout_ms = read("PRAGMA busy_timeout").await?;
        let foreign_keys = read("PRAGMA foreign_keys").await?;
        Ok(SqliteSettings {
            journal_mode: journal_mode.to_lowercase(),
            synchronous,
            busy_timeout_ms,
            foreign_keys,
        })
    }

    /// The connection pool, for tests that must go around the `Store` port (for example to
    /// prove the database itself refuses to edit the audit log).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn info(&self) -> Result<StoreInfo, StoreError> {
        let s = self.settings().await?;
        Ok(StoreInfo {
            backend: "sqlite",
            location: self.location.clone(),
            durability: format!(
                "journal_mode={} synchronous={} busy_timeout={}ms foreign_keys={}",
                s.journal_mode,
                if s.synchronous == 2 {
                    "FULL".to_owned()
                } else {
                    s.synchronous.to_string()
                },
                s.busy_timeout_ms,
                s.foreign_keys
            ),
        })
    }

    /// Write transactions take the write lock up front: upgrading a read transaction to a
    /// write in WAL mode fails with SQLITE_BUSY without honouring the busy timeout.
    pub(crate) async fn begin(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)
    }
}

crate::queries::sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    claim_outbox = "UPDATE outbox SET claimed_until = $1, attempts = attempts + 1
        WHERE id IN (SELECT id FROM outbox
                     WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2
                       AND (claimed_until IS NULL OR claimed_until <= $3)
                     ORDER BY id LIMIT $4)
        RETURNING id, kind, recipient, payload, attempts"
);
