//! Fixtures shared by the test suites of several crates: a fresh database per test on each
//! backend, temporary directories that clean up after themselves, the fixed clock every
//! suite starts at, the records the store and delivery suites seed, and the built-in
//! mailbox's delivery worker (see [`fixtures`]).
//!
//! PostgreSQL tests need `LATCHKEY_TEST_POSTGRES_URL` (an account allowed to create
//! databases). When `LATCHKEY_TEST_REQUIRE_POSTGRES=1` — as the test command sets it — a
//! missing or unreachable server fails the test instead of quietly testing SQLite alone.

#![allow(
    clippy::expect_used,
    reason = "test fixtures: a broken fixture must fail the test that uses it, loudly"
)]

pub mod fixtures;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use latchkey_service::Store;
use latchkey_service::store::DevStore;
use latchkey_store::{PgStore, SqliteStore};

pub const POSTGRES_URL_VAR: &str = "LATCHKEY_TEST_POSTGRES_URL";
pub const REQUIRE_POSTGRES_VAR: &str = "LATCHKEY_TEST_REQUIRE_POSTGRES";

fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("OS randomness");
    latchkey_service::secrets::hex(&bytes)
}

/// A directory under the system temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("latchkey-test-{}", random_suffix()));
        std::fs::create_dir_all(&path).expect("create temporary directory");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One backend under test, with whatever keeps its database alive.
pub struct Backend {
    pub name: &'static str,
    pub store: Arc<dyn Store>,
    /// The same database's development port (the built-in mailbox and phone).
    pub dev: Arc<dyn DevStore>,
    pub sqlite: Option<SqliteStore>,
    pub postgres: Option<PgStore>,
    /// A URL that opens the same database again (to test reopening and several instances).
    pub url: String,
    _dir: Option<TempDir>,
}

impl Backend {
    /// Runs `statement` (one or several, `;`-separated) straight on the database, around the
    /// ports: for tests that act as whoever owns the database. Panics when it fails.
    pub async fn execute_raw(&self, statement: &str) {
        let sql = sqlx::AssertSqlSafe(statement.to_owned());
        match (&self.sqlite, &self.postgres) {
            (Some(s), _) => sqlx::raw_sql(sql).execute(s.pool()).await.map(drop),
            (_, Some(p)) => sqlx::raw_sql(sql).execute(p.pool()).await.map(drop),
            _ => unreachable!("a backend is SQLite or PostgreSQL"),
        }
        .unwrap_or_else(|e| panic!("{}: {statement}: {e}", self.name));
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

pub async fn sqlite_backend() -> Backend {
    let dir = TempDir::new();
    let path = dir.path().join("latchkey.sqlite3");
    let store = SqliteStore::open_file(&path, fixtures::server_key().audit_chain_key())
        .await
        .expect("open SQLite");
    Backend {
        name: "sqlite",
        store: Arc::new(store.clone()),
        dev: Arc::new(store.clone()),
        sqlite: Some(store),
        postgres: None,
        url: format!("sqlite://{}", path.display()),
        _dir: Some(dir),
    }
}

/// The PostgreSQL server to test against, if configured (see the module docs).
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var(REQUIRE_POSTGRES_VAR).as_deref() == Ok("1") {
                panic!(
                    "{REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_URL_VAR} is not set: the store \
                     contract must run against PostgreSQL"
                );
            }
            None
        }
    }
}

/// Creates a new, empty database on the test server and opens it.
pub async fn postgres_backend(admin_url: &str) -> Backend {
    use sqlx::Connection;
    let name = format!("latchkey_test_{}", random_suffix());
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(admin_url).expect("valid PostgreSQL URL");
    url.set_path(&name);
    let store = PgStore::connect(url.as_str(), fixtures::server_key().audit_chain_key())
        .await
        .expect("open PostgreSQL");
    Backend {
        name: "postgres",
        store: Arc::new(store.clone()),
        dev: Arc::new(store.clone()),
        sqlite: None,
        postgres: Some(store),
        url: url.to_string(),
        _dir: None,
    }
}

/// Every backend the contract must hold on: SQLite always, PostgreSQL when configured.
pub async fn backends() -> Vec<Backend> {
    let mut all = vec![sqlite_backend().await];
    if let Some(url) = postgres_admin_url() {
        all.push(postgres_backend(&url).await);
    }
    all
}
