//! Bulk accounts for the benchmark, written straight into latchkey's database.
//!
//! A million accounts cannot go through sign-up (each would cost an Argon2 hash and an
//! email), so they are inserted in large batches: every account active, with both contacts
//! verified and one virtual MFA device, all sharing one password hash (a PHC string carries
//! its own salt, so one hash verifies for every row) and one TOTP secret, sealed per device
//! with the server key exactly as latchkey seals it. The smoke run in the test suite signs
//! in with these rows, so a schema change that breaks the seeder fails the tests.

use std::fmt::Write as _;
use std::ops::Range;

use anyhow::Context;
use latchkey_domain::totp::{self, TotpParams};
use latchkey_service::{Clock, HashParams, PasswordHasher, Sealer, ServerKey, SystemClock};
use sqlx::{AssertSqlSafe, PgPool, SqlitePool};

/// Every seeded account's password.
pub(super) const PASSWORD: &str = "correct horse battery staple, benchmarked";
/// Every seeded device's TOTP secret (20 bytes, as latchkey issues).
pub(super) const TOTP_SECRET: &[u8; 20] = b"latchkey-bench-totp!";

/// Seeded account number `i`.
#[derive(Debug, Clone)]
pub(super) struct BenchAccount {
    pub email: String,
    pub device_id: String,
}

impl BenchAccount {
    pub(super) fn new(i: u64) -> Self {
        Self {
            email: email(i),
            device_id: device_id(i),
        }
    }

    /// The code to enter and its time step: the device's current code, or, when that step
    /// was already used by this account, the next one (within the one-step clock skew every
    /// TOTP verifier allows, latchkey included), so one account can sign in twice in 30 s.
    pub(super) fn code(&self, used_step: Option<i64>) -> (String, i64) {
        let now = SystemClock.now().0;
        let params = TotpParams::VIRTUAL;
        let step = (now / params.period).max(used_step.map_or(i64::MIN, |s| s + 1));
        let code = format!(
            "{:0width$}",
            totp::code_at(TOTP_SECRET, params, step),
            width = params.digits as usize
        );
        (code, step)
    }
}

fn account_id(i: u64) -> String {
    format!("{:012}", 900_000_000_000 + i)
}

fn email(i: u64) -> String {
    format!("bench{i}@bench.example")
}

fn device_id(i: u64) -> String {
    format!("mfa-bench{i}")
}

pub(super) enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

pub(super) struct Seeder {
    db: Database,
    sealer: Sealer,
    password_hash: String,
    now: i64,
}

impl Seeder {
    pub(super) async fn new(db: Database, key: &ServerKey) -> anyhow::Result<Self> {
        let hasher = PasswordHasher::new(HashParams::default(), 1)?;
        let password_hash = hasher.hash(PASSWORD).await?;
        let now = SystemClock.now().0;
        Ok(Self {
            db,
            // The label latchkey's service seals MFA secrets under.
            sealer: key.sealer("mfa-secret"),
            password_hash,
            now,
        })
    }

    /// Inserts accounts `range` (and their devices), in batches.
    pub(super) async fn seed(&self, range: Range<u64>) -> anyhow::Result<()> {
        const BATCH: u64 = 2_000;
        // SQLite commits a batch of batches at once: its cost is the fsync, not the rows.
        const PER_TRANSACTION: u64 = 25;
        let mut start = range.start;
        while start < range.end {
            let mut script = String::from("BEGIN;\n");
            for _ in 0..PER_TRANSACTION {
                if start >= range.end {
                    break;
                }
                let end = (start + BATCH).min(range.end);
                self.batch_sql(start..end, &mut script);
                start = end;
            }
            script.push_str("COMMIT;\n");
            let run = match &self.db {
                Database::Sqlite(pool) => sqlx::raw_sql(AssertSqlSafe(script))
                    .execute(pool)
                    .await
                    .map(|_| ()),
                Database::Postgres(pool) => sqlx::raw_sql(AssertSqlSafe(script))
                    .execute(pool)
                    .await
                    .map(|_| ()),
            };
            run.context("seeding accounts")?;
        }
        Ok(())
    }

    /// Leaves the database as an operator leaves it after a bulk import: statistics
    /// refreshed, and the import's writes out of the way — on PostgreSQL the rows vacuumed
    /// (visibility map and hint bits set) and checkpointed, on SQLite the WAL checkpointed.
    /// Otherwise the measurement that follows times the import's deferred writes (a
    /// checkpoint of about a gigabyte of WAL running through it) rather than lookups in a
    /// large database.
    pub(super) async fn settle(&self) -> anyhow::Result<()> {
        match &self.db {
            Database::Sqlite(pool) => {
                sqlx::raw_sql("ANALYZE").execute(pool).await?;
                sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(pool)
                    .await?;
            }
            Database::Postgres(pool) => {
                sqlx::raw_sql("VACUUM (ANALYZE)").execute(pool).await?;
                sqlx::raw_sql("CHECKPOINT").execute(pool).await.context(
                    "CHECKPOINT after seeding: the benchmark's role needs pg_checkpoint \
                     (PostgreSQL 15 or later; scripts/ensure-postgres grants it to \
                     latchkey_test) or to be a superuser",
                )?;
            }
        }
        Ok(())
    }

    fn blob_literal(&self, bytes: &[u8]) -> String {
        let hex = latchkey_service::secrets::hex(bytes);
        match self.db {
            Database::Sqlite(_) => format!("X'{hex}'"),
            Database::Postgres(_) => format!("'\\x{hex}'::bytea"),
        }
    }

    /// Every value is generated here from digits and fixed text, so plain literals are safe.
    fn batch_sql(&self, range: Range<u64>, out: &mut String) {
        let now = self.now;
        out.push_str(
            "INSERT INTO accounts (id, email, name, phone, phone_verified_at, email_verified_at, \
             status, password_hash, created_at, password_changed_at) VALUES\n",
        );
        for (n, i) in range.clone().enumerate() {
            let sep = if n == 0 { "" } else { ",\n" };
            let _ = write!(
                out,
                "{sep}('{}', '{}', 'Bench {i}', '+15555550100', {now}, {now}, 'active', '{}', \
                 {now}, {now})",
                account_id(i),
                email(i),
                self.password_hash,
            );
        }
        out.push_str(
            ";\nINSERT INTO mfa_devices (id, account_id, kind, name, secret_sealed, \
             algorithm, digits, period, drift_steps, failed_attempts, created_at) VALUES\n",
        );
        for (n, i) in range.enumerate() {
            let sep = if n == 0 { "" } else { ",\n" };
            let id = device_id(i);
            let sealed = self
                .sealer
                .seal(TOTP_SECRET, format!("device\0{id}").as_bytes());
            let _ = write!(
                out,
                "{sep}('{id}', '{}', 'virtual', 'Bench phone', {}, 'SHA1', 6, 30, 0, 0, {now})",
                account_id(i),
                self.blob_literal(&sealed),
            );
        }
        out.push_str(";\n");
    }
}
