//! PostgreSQL: for production and for several latchkey instances sharing one database.
//! Commits are synchronous (`synchronous_commit=on` is read back and required), and the
//! outbox claim locks rows with `FOR UPDATE SKIP LOCKED` so instances never deliver one
//! message twice at the same time.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};

use crate::change_feed::{ChangeSinks, PendingChanges};
use crate::{StoreInfo, db_error};
use latchkey_domain::AccountId;
use latchkey_domain::audit_chain::ChainKey;
use latchkey_service::store::StoreError;

#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    location: String,
    /// Who is told of this process's commits (`ChangeFeedStore::report_commits`).
    pub(crate) sinks: Arc<ChangeSinks>,
    /// The key each appended audit record is chained with (a subkey of the server key).
    chain: ChainKey,
}

/// A transaction, carrying the key the audit records it appends are chained with.
pub(crate) struct PgTx {
    inner: sqlx::Transaction<'static, sqlx::Postgres>,
    chain: ChainKey,
    /// The accounts this transaction changes, reported once it commits.
    changes: PendingChanges,
}

impl std::ops::Deref for PgTx {
    type Target = sqlx::PgConnection;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for PgTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl PgTx {
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

    pub(crate) fn chain_key(&self) -> &ChainKey {
        &self.chain
    }
}

impl PgStore {
    /// Connects to the database at `url`; `chain` is the key audit records are chained with.
    pub async fn connect(url: &str, chain: ChainKey) -> Result<Self, StoreError> {
        // Every statement sees what committed before it ran: appending to the audit chain
        // reads the head after taking the chain's lock, and a snapshot from before the lock
        // (REPEATABLE READ, if the database defaulted to it) would see a stale head.
        let options = PgConnectOptions::from_str(url)
            .map_err(db_error)?
            .options([("default_transaction_isolation", "read committed")]);
        let location = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(db_error)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::database_from("migrations failed", e))?;
        let store = Self {
            pool,
            location,
            chain,
            sinks: Arc::default(),
        };
        let commit = store.synchronous_commit().await?;
        if commit != "on" && commit != "remote_write" && commit != "remote_apply" {
            return Err(StoreError::database(format!(
                "PostgreSQL has synchronous_commit={commit}; latchkey needs it on, because a \
                 consumed token or a counted failure must be durable before the answer"
            )));
        }
        Ok(store)
    }

    async fn synchronous_commit(&self) -> Result<String, StoreError> {
        sqlx::query("SHOW synchronous_commit")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?
            .try_get(0)
            .map_err(db_error)
    }

    /// The connection pool, for tests that must go around the `Store` port (for example to
    /// prove the database itself refuses to edit the audit log).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn info(&self) -> Result<StoreInfo, StoreError> {
        Ok(StoreInfo {
            backend: "postgres",
            location: self.location.clone(),
            durability: format!("synchronous_commit={}", self.synchronous_commit().await?),
        })
    }

    pub(crate) async fn begin(&self) -> Result<PgTx, StoreError> {
        Ok(PgTx {
            inner: self.pool.begin().await.map_err(db_error)?,
            chain: self.chain.clone(),
            changes: PendingChanges::new(&self.sinks),
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
type Backend = PgStore;
type Db = sqlx::Postgres;
type Tx = PgTx;

/// Appends to the audit chain queue here: the lock is held from the append to the commit, so
/// two transactions never take the same place. (Each transaction appends last.)
const LOCK_AUDIT_CHAIN: Option<&str> = Some("SELECT pg_advisory_xact_lock(7403316381712045385)");

/// Leases due outbox messages, skipping rows another instance has locked.
const CLAIM_OUTBOX: &str = "UPDATE outbox SET claimed_until = $1, attempts = attempts + 1
        WHERE id IN (SELECT id FROM outbox
                     WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2
                       AND (claimed_until IS NULL OR claimed_until <= $3)
                     ORDER BY id LIMIT $4
                     FOR UPDATE SKIP LOCKED)
        RETURNING id, kind, recipient, payload, attempts";
