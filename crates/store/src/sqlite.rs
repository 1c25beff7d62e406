//! SQLite: the embedded default. One file in the data directory, in WAL mode with
//! `synchronous=FULL` (a commit is on disk before the response leaves), write transactions
//! started with `BEGIN IMMEDIATE` so they wait on `busy_timeout` instead of failing.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::change_feed::{ChangeSinks, PendingChanges};
use crate::{StoreInfo, db_error};
use latchkey_domain::AccountId;
use latchkey_domain::audit_chain::ChainKey;
use latchkey_service::slots::{Slot, Slots};
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
    /// Whose turn it is to write. SQLite has one writer at a time; left to itself, a writer
    /// that finds the lock taken sleeps and retries (the busy handler), so under a flood of
    /// writes a sign-in's transaction loses the race again and again. Waiting here instead
    /// serves this process's writers in order of arrival, a known device's request first
    /// (`latchkey_service::priority`): under the unknown-email flood of the benchmark about
    /// 300 write transactions a second queue here, and a returning user's sign-in would
    /// otherwise wait behind every one of them at each of its writes.
    writer: Arc<Slots>,
    /// Who is told of this process's commits (`ChangeFeedStore::report_commits`).
    pub(crate) sinks: Arc<ChangeSinks>,
    /// The key each appended audit record is chained with (a subkey of the server key).
    chain: ChainKey,
}

/// A write transaction, holding this process's turn to write until it ends.
pub(crate) struct SqliteTx {
    inner: sqlx::Transaction<'static, sqlx::Sqlite>,
    chain: ChainKey,
    /// The accounts this transaction changes, reported once it commits.
    changes: PendingChanges,
    _turn: Slot,
}

impl std::ops::Deref for SqliteTx {
    type Target = sqlx::SqliteConnection;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for SqliteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl SqliteTx {
    /// Commits, then tells this process's change sinks which accounts changed, before the
    /// caller hears whether it committed.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        let committed = self.inner.commit().await;
        self.changes.report();
        committed
    }

    /// Notes that this transaction changes `account`.
    pub(crate) fn note_change(&mut self, account: &AccountId) {
        self.changes.note(account);
    }

    /// The key the audit records this transaction appends are chained with.
    pub(crate) fn chain_key(&self) -> &ChainKey {
        &self.chain
    }
}

impl SqliteStore {
    /// Opens (creating it if needed) the database file at `path`; `chain` is the key audit
    /// records are chained with.
    pub async fn open_file(path: &Path, chain: ChainKey) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::open(options, path.display().to_string(), chain).await
    }

    pub async fn open_url(url: &str, chain: ChainKey) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url).map_err(db_error)?;
        Self::open(options, url.to_owned(), chain).await
    }

    async fn open(
        options: SqliteConnectOptions,
        location: String,
        chain: ChainKey,
    ) -> Result<Self, StoreError> {
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
            .map_err(|e| StoreError::database_from("migrations failed", e))?;
        let store = Self {
            pool,
            location,
            writer: Slots::turn(),
            chain,
            sinks: Arc::default(),
        };
        let settings = store.settings().await?;
        if settings.journal_mode != "wal" || settings.synchronous != 2 || settings.foreign_keys != 1
        {
            return Err(StoreError::database(format!(
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
    pub(crate) async fn begin(&self) -> Result<SqliteTx, StoreError> {
        let turn = self
            .writer
            .acquire(latchkey_service::priority::current())
            .await
            .map_err(|_| StoreError::database("the write queue refused a writer"))?;
        let inner = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        Ok(SqliteTx {
            inner,
            chain: self.chain.clone(),
            changes: PendingChanges::new(&self.sinks),
            _turn: turn,
        })
    }
}

/// The shared SQL (`sql/`), compiled for this backend.
#[path = "sql/mod.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "the shared SQL is compiled once per backend on purpose (see sql/mod.rs)"
)]
mod sql;

/// What the shared SQL runs on here.
type Backend = SqliteStore;
type Db = sqlx::Sqlite;
type Tx = SqliteTx;

/// Leases due outbox messages (only one writer runs at a time, so no row locks are needed).
/// Appends to the audit chain need no lock of their own: a write transaction already holds
/// the database's one write lock.
const LOCK_AUDIT_CHAIN: Option<&str> = None;

const CLAIM_OUTBOX: &str = "UPDATE outbox SET claimed_until = $1, attempts = attempts + 1
        WHERE id IN (SELECT id FROM outbox
                     WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2
                       AND (claimed_until IS NULL OR claimed_until <= $3)
                     ORDER BY id LIMIT $4)
        RETURNING id, kind, recipient, payload, attempts";

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_service::priority::{self, Priority};
    use std::sync::Mutex;

    /// The write turn serves a known device's request before writers that queued earlier,
    /// and the others in the order they came.
    #[tokio::test]
    async fn a_known_device_writes_before_writers_that_queued_earlier() {
        let dir = std::env::temp_dir().join(format!(
            "latchkey-write-turn-{}-{}",
            std::process::id(),
            latchkey_service::secrets::hex(&latchkey_service::secrets::random_bytes::<8>())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open_file(&dir.join("turn.db"), ChainKey::from_bytes([1; 32]))
            .await
            .unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));

        let held = store.begin().await.unwrap();
        let mut writers = Vec::new();
        for (queued, (name, urgency)) in [
            ("first", Priority::Normal),
            ("second", Priority::Normal),
            ("known device", Priority::KnownDevice),
        ]
        .into_iter()
        .enumerate()
        {
            let (store_, order) = (store.clone(), order.clone());
            writers.push(tokio::spawn(priority::scope(async move {
                priority::raise(urgency);
                let tx = store_.begin().await.unwrap();
                order.lock().unwrap().push(name);
                tx.commit().await.unwrap();
            })));
            // Wait until this writer is in the queue before the next one arrives.
            while {
                let depth = store.writer.depth();
                depth.normal + depth.known_device <= queued
            } {
                tokio::task::yield_now().await;
            }
        }
        let SqliteTx { inner, _turn, .. } = held;
        inner.rollback().await.unwrap();
        drop(_turn);
        for writer in writers {
            writer.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["known device", "first", "second"]);
        store.pool.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
