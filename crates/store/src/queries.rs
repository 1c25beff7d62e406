//! The SQL latchkey runs, written once for both backends.
//!
//! Every statement uses `$n` placeholders (understood by SQLite and PostgreSQL alike), each
//! number appearing once and in order, and only types both backends map the same way
//! (`TEXT`/`String`, 64-bit integers, `BLOB`/`BYTEA`). The macro instantiates the `Store`
//! implementation for one backend; a backend provides `self.pool`, `self.begin()` and the
//! statements that must differ.

/// The columns of a recovery flow row, as `flow_from_row` reads them.
macro_rules! select_flows {
    () => {
        "SELECT id, account_id, state, created_at, expires_at, emails_sent, \
         email_token_expires_at, calls_placed, source, completed_at, reported_at, \
         started_from, started_agent FROM recovery_flows"
    };
}

/// The columns of a call row, as `call_from_row` reads them.
macro_rules! select_calls {
    () => {
        "SELECT id, account_id, purpose, flow_id, to_number, code_hash, code_expires_at, \
         provider_call_id, status, digit_attempts, created_at FROM calls"
    };
}

pub(crate) use {select_calls, select_flows};

macro_rules! sql_store {
    ($store:ty, $db:ty, $tx:ty, claim_outbox = $claim_outbox:expr) => {
        const _: () = {
            use async_trait::async_trait;
            use latchkey_domain::lockout::{FailureState, LockoutPolicy, Settle};
            use latchkey_domain::mfa::DeviceKind;
            use latchkey_domain::recovery::RecoveryState;
            use latchkey_domain::totp::{TotpAlgorithm, TotpParams};
            use latchkey_domain::session::SessionKind;
            use latchkey_domain::token::TokenPurpose;
            use latchkey_domain::{
                AccountId, AccountStatus, EmailAddress, PhoneNumber, Timestamp,
            };
            use latchkey_service::TokenHash;
            use latchkey_service::store::*;
            use sqlx::Row;

            use $crate::db_error;

            type Tx = $tx;
            type DbRow = <$db as sqlx::Database>::Row;

            fn corrupt(what: &str, value: &str) -> StoreError {
                StoreError::Corrupt(format!("{what}: {value:?}"))
            }

            fn account_from_row(row: &DbRow) -> StoreResult<AccountRecord> {
                let id: String = row.try_get("id").map_err(db_error)?;
                let email: String = row.try_get("email").map_err(db_error)?;
                let status: String = row.try_get("status").map_err(db_error)?;
                Ok(AccountRecord {
                    id: AccountId::parse(&id).ok_or_else(|| corrupt("account id", &id))?,
                    email: EmailAddress::parse(&email).map_err(|_| corrupt("email", &email))?,
                    name: row.try_get("name").map_err(db_error)?,
                    phone: PhoneNumber::from_stored(row.try_get("phone").map_err(db_error)?),
                    phone_verified_at: row
                        .try_get::<Option<i64>, _>("phone_verified_at")
                        .map_err(db_error)?
                        .map(Timestamp),
                    email_verified_at: row
                        .try_get::<Option<i64>, _>("email_verified_at")
                        .map_err(db_error)?
                        .map(Timestamp),
                    status: AccountStatus::parse(&status)
                        .ok_or_else(|| corrupt("account status", &status))?,
                    password_hash: row.try_get("password_hash").map_err(db_error)?,
                    created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
                    password_changed_at: Timestamp(
                        row.try_get("password_changed_at").map_err(db_error)?,
                    ),
                    password_generation: row.try_get("password_generation").map_err(db_error)?,
                })
            }

            fn audit_from_row(row: &DbRow) -> StoreResult<AuditRecord> {
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

            fn dev_mail_from_row(row: &DbRow) -> StoreResult<DevMail> {
                Ok(DevMail {
                    id: row.try_get("id").map_err(db_error)?,
                    recipient: row.try_get("recipient").map_err(db_error)?,
                    subject: row.try_get("subject").map_err(db_error)?,
                    text_body: row.try_get("text_body").map_err(db_error)?,
                    html_body: row.try_get("html_body").map_err(db_error)?,
                    created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
                })
            }

            async fn insert_audit(tx: &mut Tx, audit: &AuditRecord) -> StoreResult<()> {
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

            async fn insert_outbox(tx: &mut Tx, messages: &[NewOutboxMessage]) -> StoreResult<()> {
                for message in messages {
                    sqlx::query(
                        "INSERT INTO outbox (kind, recipient, payload, created_at, \
                         next_attempt_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(message.kind)
                    .bind(&message.recipient)
                    .bind(&message.payload)
                    .bind(message.created_at.0)
                    .bind(message.created_at.0)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                }
                Ok(())
            }

            async fn insert_token(tx: &mut Tx, token: &NewEmailToken) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO email_tokens (token_hash, account_id, purpose, created_at, \
                     expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token.token_hash.as_str())
                .bind(token.account_id.as_str())
                .bind(token.purpose.as_str())
                .bind(token.created_at.0)
                .bind(token.expires_at.0)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
                Ok(())
            }

            /// The single conditional write that makes an emailed token single-use.
            async fn consume_token(
                tx: &mut Tx,
                token_hash: &TokenHash,
                account: &AccountId,
                purpose: TokenPurpose,
                now: Timestamp,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE email_tokens SET used_at = $1 WHERE token_hash = $2 \
                     AND account_id = $3 AND purpose = $4 AND used_at IS NULL \
                     AND invalidated_at IS NULL AND expires_at > $5",
                )
                .bind(now.0)
                .bind(token_hash.as_str())
                .bind(account.as_str())
                .bind(purpose.as_str())
                .bind(now.0)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
                Ok(done.rows_affected() == 1)
            }

            /// Inserts a session, revoking the one it replaces: every path that issues a
            /// session rotates the browser's identifier.
            async fn insert_session(tx: &mut Tx, session: &NewSession) -> StoreResult<()> {
                if let Some(old) = &session.replaces {
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
                    )
                    .bind(session.created_at.0)
                    .bind(old.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                }
                sqlx::query(
                    "INSERT INTO sessions (token_hash, account_id, kind, created_at, \
                     last_seen_at, expires_at, client_addr, user_agent, mfa_device_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(session.token_hash.as_str())
                .bind(session.account_id.as_str())
                .bind(session.kind.as_str())
                .bind(session.created_at.0)
                .bind(session.created_at.0)
                .bind(session.expires_at.0)
                .bind(&session.client_addr)
                .bind(&session.user_agent)
                .bind(session.mfa_device_id.as_deref())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
                Ok(())
            }

            /// Settles a reserved attempt on one failure counter (see `Settle`).
            async fn settle(tx: &mut Tx, subject: &str, source: &str, settle: Settle) -> StoreResult<()> {
                sqlx::query(match settle {
                    Settle::Clear => "UPDATE throttles SET failures = 0, last_failure_at = NULL \
                                      WHERE subject = $1 AND source = $2",
                    Settle::Refund => "UPDATE throttles SET failures = failures - 1 \
                                       WHERE subject = $1 AND source = $2 AND failures > 0",
                })
                .bind(subject)
                .bind(source)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
                Ok(())
            }

            /// Clears the failures of the source a sign-in attempt was made from: the
            /// attempt ended in a session.
            async fn clear_attempt_source(tx: &mut Tx, attempt: &TokenHash) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE throttles SET failures = 0, last_failure_at = NULL \
                     WHERE subject = (SELECT account_id FROM sign_in_attempts WHERE token_hash = $1) \
                     AND source = (SELECT source FROM sign_in_attempts WHERE token_hash = $2)",
                )
                .bind(attempt.as_str())
                .bind(attempt.as_str())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
                Ok(())
            }

            /// Takes the account row's write lock (PostgreSQL; SQLite's `BEGIN IMMEDIATE`
            /// already serialises writers), so that checks over the account's devices and
            /// the change that follows them cannot interleave with another transaction's.
            async fn lock_account(tx: &mut Tx, account: &AccountId, now: Timestamp) -> StoreResult<bool> {
                let done = sqlx::query("UPDATE accounts SET mfa_changed_at = $1 WHERE id = $2")
                    .bind(now.0)
                    .bind(account.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                Ok(done.rows_affected() == 1)
            }

            /// Takes the account row's lock (PostgreSQL) so that a budget counted over the
            /// account's rows and the insert that follows cannot interleave with another
            /// transaction's; SQLite's `BEGIN IMMEDIATE` already serialises writers.
            async fn lock_account_row(tx: &mut Tx, account: &AccountId) -> StoreResult<()> {
                sqlx::query("UPDATE accounts SET status = status WHERE id = $1")
                    .bind(account.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            /// A sign-in with a real factor lifts a `This wasn't me` block only once the owner
            /// has also reset the password by email, and only with a device that existed
            /// before the suspect recovery began: never with one the intruder added.
            async fn lift_recovery_block(tx: &mut Tx, account: &AccountId, device_id: &str) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE accounts SET recovery_blocked_at = NULL, recovery_block_since = NULL, \
                     recovery_block_reset_at = NULL WHERE id = $1 AND recovery_blocked_at IS NOT NULL \
                     AND recovery_block_reset_at IS NOT NULL \
                     AND recovery_block_since > (SELECT created_at FROM mfa_devices WHERE id = $2 AND account_id = $3)",
                )
                .bind(account.as_str())
                .bind(device_id)
                .bind(account.as_str())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
                Ok(())
            }

            /// Whether the session that asked for a change is still live, read with the
            /// account row already locked (see `lock_account_row`): a request under way when
            /// `This wasn't me` revoked every session must not finish after it.
            async fn session_is_live(tx: &mut Tx, account: &AccountId, session: &TokenHash, now: Timestamp) -> StoreResult<bool> {
                let live = sqlx::query(
                    "SELECT 1 AS live FROM sessions WHERE token_hash = $1 AND account_id = $2 \
                     AND revoked_at IS NULL AND expires_at > $3",
                )
                .bind(session.as_str())
                .bind(account.as_str())
                .bind(now.0)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
                Ok(live.is_some())
            }

            /// A new password ends what the old one began: sign-in attempts waiting for a code
            /// and recovery flows still running (they were started with the old password).
            async fn end_what_the_old_password_began(tx: &mut Tx, account: &AccountId, now: Timestamp) -> StoreResult<()> {
                for statement in [
                    "UPDATE sign_in_attempts SET completed_at = $1 WHERE account_id = $2 AND completed_at IS NULL",
                    "UPDATE recovery_flows SET state = 'cancelled', cancelled_at = $1 WHERE account_id = $2 \
                     AND state IN ('email_pending', 'email_verified', 'phone_verified')",
                ] {
                    sqlx::query(statement)
                        .bind(now.0)
                        .bind(account.as_str())
                        .execute(&mut **tx)
                        .await
                        .map_err(db_error)?;
                }
                Ok(())
            }

            /// Locks the account row and says whether its password is still the one checked:
            /// every password change (reset, change, `This wasn't me`) takes the same lock and
            /// moves the generation on, so what follows in this transaction cannot outlive one.
            async fn same_password(tx: &mut Tx, account: &AccountId, password_generation: i64) -> StoreResult<bool> {
                // The lock and the read in one statement, as `lock_account_row` locks.
                let current: i64 = sqlx::query(
                    "UPDATE accounts SET status = status WHERE id = $1 RETURNING password_generation",
                )
                    .bind(account.as_str())
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(db_error)?
                    .try_get("password_generation")
                    .map_err(db_error)?;
                Ok(current == password_generation)
            }

            /// Device activations still open end (an enrolment's codes, a security key's
            /// ceremony): one begun by whoever held the account a moment ago cannot be finished
            /// after the owner took it back.
            async fn end_open_activations(tx: &mut Tx, account: &AccountId, now: Timestamp) -> StoreResult<()> {
                for statement in [
                    "UPDATE mfa_enrollments SET completed_at = $1 WHERE account_id = $2 AND completed_at IS NULL",
                    "UPDATE webauthn_ceremonies SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL",
                ] {
                    sqlx::query(statement)
                        .bind(now.0)
                        .bind(account.as_str())
                        .execute(&mut **tx)
                        .await
                        .map_err(db_error)?;
                }
                Ok(())
            }

            async fn active_device_count(tx: &mut Tx, account: &AccountId) -> StoreResult<usize> {
                let count: i64 = sqlx::query(
                    "SELECT COUNT(*) AS n FROM mfa_devices WHERE account_id = $1 AND removed_at IS NULL",
                )
                .bind(account.as_str())
                .fetch_one(&mut **tx)
                .await
                .map_err(db_error)?
                .try_get("n")
                .map_err(db_error)?;
                Ok(count as usize)
            }

            fn device_from_row(row: &DbRow) -> StoreResult<DeviceRecord> {
                let account: String = row.try_get("account_id").map_err(db_error)?;
                let kind: String = row.try_get("kind").map_err(db_error)?;
                let algorithm: String = row.try_get("algorithm").map_err(db_error)?;
                let digits: i64 = row.try_get("digits").map_err(db_error)?;
                let failed: i64 = row.try_get("failed_attempts").map_err(db_error)?;
                Ok(DeviceRecord {
                    id: row.try_get("id").map_err(db_error)?,
                    account_id: AccountId::parse(&account).ok_or_else(|| corrupt("account id", &account))?,
                    kind: DeviceKind::parse(&kind).ok_or_else(|| corrupt("device kind", &kind))?,
                    name: row.try_get("name").map_err(db_error)?,
                    secret_sealed: row
                        .try_get::<Option<Vec<u8>>, _>("secret_sealed")
                        .map_err(db_error)?
                        .unwrap_or_default(),
                    params: TotpParams {
                        algorithm: TotpAlgorithm::parse(&algorithm).ok_or_else(|| corrupt("algorithm", &algorithm))?,
                        digits: u32::try_from(digits).map_err(|_| corrupt("digits", &digits.to_string()))?,
                        period: row.try_get("period").map_err(db_error)?,
                    },
                    drift_steps: row.try_get("drift_steps").map_err(db_error)?,
                    last_used_step: row.try_get("last_used_step").map_err(db_error)?,
                    failed_attempts: u32::try_from(failed).unwrap_or(u32::MAX),
                    created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
                    last_used_at: row.try_get::<Option<i64>, _>("last_used_at").map_err(db_error)?.map(Timestamp),
                    serial: row.try_get("serial").map_err(db_error)?,
                })
            }

            fn token_from_row(row: &DbRow) -> StoreResult<HardwareTokenRecord> {
                let algorithm: String = row.try_get("algorithm").map_err(db_error)?;
                let digits: i64 = row.try_get("digits").map_err(db_error)?;
                let account: Option<String> = row.try_get("account_id").map_err(db_error)?;
                Ok(HardwareTokenRecord {
                    serial: row.try_get("serial").map_err(db_error)?,
                    manufacturer: row.try_get("manufacturer").map_err(db_error)?,
                    params: TotpParams {
                        algorithm: TotpAlgorithm::parse(&algorithm).ok_or_else(|| corrupt("algorithm", &algorithm))?,
                        digits: u32::try_from(digits).map_err(|_| corrupt("digits", &digits.to_string()))?,
                        period: row.try_get("period").map_err(db_error)?,
                    },
                    secret_sealed: row.try_get("secret_sealed").map_err(db_error)?,
                    imported_at: Timestamp(row.try_get("imported_at").map_err(db_error)?),
                    device_id: row.try_get("device_id").map_err(db_error)?,
                    account_id: account.as_deref().and_then(AccountId::parse),
                })
            }

            fn flow_from_row(row: &DbRow) -> StoreResult<RecoveryFlowRecord> {
                let account: String = row.try_get("account_id").map_err(db_error)?;
                let state: String = row.try_get("state").map_err(db_error)?;
                Ok(RecoveryFlowRecord {
                    id: row.try_get("id").map_err(db_error)?,
                    account_id: AccountId::parse(&account).ok_or_else(|| corrupt("account id", &account))?,
                    state: RecoveryState::parse(&state).ok_or_else(|| corrupt("recovery state", &state))?,
                    created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
                    expires_at: Timestamp(row.try_get("expires_at").map_err(db_error)?),
                    emails_sent: u32::try_from(row.try_get::<i64, _>("emails_sent").map_err(db_error)?).unwrap_or(u32::MAX),
                    email_token_expires_at: row.try_get::<Option<i64>, _>("email_token_expires_at").map_err(db_error)?.map(Timestamp),
                    calls_placed: u32::try_from(row.try_get::<i64, _>("calls_placed").map_err(db_error)?).unwrap_or(u32::MAX),
                    source: row.try_get("source").map_err(db_error)?,
                    completed_at: row.try_get::<Option<i64>, _>("completed_at").map_err(db_error)?.map(Timestamp),
                    reported_at: row.try_get::<Option<i64>, _>("reported_at").map_err(db_error)?.map(Timestamp),
                    started_from: row.try_get("started_from").map_err(db_error)?,
                    started_agent: row.try_get("started_agent").map_err(db_error)?,
                })
            }

            fn call_from_row(row: &DbRow) -> StoreResult<CallRecord> {
                let account: String = row.try_get("account_id").map_err(db_error)?;
                let purpose: String = row.try_get("purpose").map_err(db_error)?;
                let status: String = row.try_get("status").map_err(db_error)?;
                Ok(CallRecord {
                    id: row.try_get("id").map_err(db_error)?,
                    account_id: AccountId::parse(&account).ok_or_else(|| corrupt("account id", &account))?,
                    purpose: CallPurpose::parse(&purpose).ok_or_else(|| corrupt("call purpose", &purpose))?,
                    flow_id: row.try_get("flow_id").map_err(db_error)?,
                    to_number: row.try_get("to_number").map_err(db_error)?,
                    code_hash: row.try_get("code_hash").map_err(db_error)?,
                    code_expires_at: Timestamp(row.try_get("code_expires_at").map_err(db_error)?),
                    provider_call_id: row.try_get("provider_call_id").map_err(db_error)?,
                    status: CallStatus::parse(&status).ok_or_else(|| corrupt("call status", &status))?,
                    digit_attempts: u32::try_from(row.try_get::<i64, _>("digit_attempts").map_err(db_error)?).unwrap_or(u32::MAX),
                    created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
                })
            }

            async fn revoke_all_sessions(tx: &mut Tx, account: &AccountId, now: Timestamp) -> StoreResult<()> {
                sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL")
                    .bind(now.0)
                    .bind(account.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            /// Inserts an MFA device. `Ok(false)` when a unique rule (an active device's name, a
            /// security key's credential id) refuses it.
            async fn insert_device(tx: &mut Tx, device: &NewDevice, credential_id: Option<&str>) -> StoreResult<bool> {
                let result = sqlx::query(
                    "INSERT INTO mfa_devices (id, account_id, kind, name, secret_sealed, algorithm, \
                     digits, period, last_used_step, created_at, serial, credential_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(&device.id)
                .bind(device.account_id.as_str())
                .bind(device.kind.as_str())
                .bind(&device.name)
                .bind(&device.secret_sealed)
                .bind(device.params.algorithm.as_str())
                .bind(i64::from(device.params.digits))
                .bind(device.params.period)
                .bind(device.last_used_step)
                .bind(device.created_at.0)
                .bind(device.serial.as_deref())
                .bind(credential_id)
                .execute(&mut **tx)
                .await;
                match result {
                    Ok(_) => Ok(true),
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
                    Err(e) => Err(db_error(e)),
                }
            }

            async fn commit(tx: Tx) -> StoreResult<()> {
                tx.commit().await.map_err(db_error)
            }

            #[async_trait]
            impl Store for $store {
                async fn ping(&self) -> StoreResult<()> {
                    sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_error)?;
                    Ok(())
                }

                async fn insert_account(
                    &self,
                    account: &NewAccount,
                    token: Option<&NewEmailToken>,
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<()> {
                    let mut tx = self.begin().await?;
                    sqlx::query(
                        "INSERT INTO accounts (id, email, name, phone, phone_verified_at, \
                         email_verified_at, status, password_hash, created_at, \
                         password_changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(account.id.as_str())
                    .bind(account.email.as_str())
                    .bind(&account.name)
                    .bind(account.phone.as_str())
                    .bind(account.phone_verified_at.map(|t| t.0))
                    .bind(account.email_verified_at.map(|t| t.0))
                    .bind(account.status.as_str())
                    .bind(&account.password_hash)
                    .bind(account.created_at.0)
                    .bind(account.created_at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if let Some(token) = token {
                        insert_token(&mut tx, token).await?;
                    }
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await
                }

                async fn delete_unverified_account(
                    &self,
                    email: &EmailAddress,
                    created_before: Timestamp,
                ) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "DELETE FROM accounts WHERE email = $1 \
                         AND status = 'pending_verification' AND created_at < $2",
                    )
                    .bind(email.as_str())
                    .bind(created_before.0)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn account_by_email(
                    &self,
                    email: &EmailAddress,
                ) -> StoreResult<Option<AccountRecord>> {
                    sqlx::query(
                        "SELECT id, email, name, phone, phone_verified_at, email_verified_at, \
                         status, password_hash, created_at, password_changed_at, \
                         password_generation FROM accounts WHERE email = $1",
                    )
                        .bind(email.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_error)?
                        .as_ref()
                        .map(account_from_row)
                        .transpose()
                }

                async fn account_by_id(&self, id: &AccountId) -> StoreResult<Option<AccountRecord>> {
                    sqlx::query(
                        "SELECT id, email, name, phone, phone_verified_at, email_verified_at, \
                         status, password_hash, created_at, password_changed_at, \
                         password_generation FROM accounts WHERE id = $1",
                    )
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_error)?
                        .as_ref()
                        .map(account_from_row)
                        .transpose()
                }

                async fn issue_email_token(
                    &self,
                    token: &NewEmailToken,
                    budget: (u32, Timestamp),
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<bool> {
                    let (max, since) = budget;
                    let mut tx = self.begin().await?;
                    lock_account_row(&mut tx, &token.account_id).await?;
                    let sent: i64 = sqlx::query(
                        "SELECT COUNT(*) AS n FROM email_tokens WHERE account_id = $1 \
                         AND purpose = $2 AND created_at >= $3",
                    )
                    .bind(token.account_id.as_str())
                    .bind(token.purpose.as_str())
                    .bind(since.0)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .try_get("n")
                    .map_err(db_error)?;
                    if sent >= i64::from(max) {
                        return Ok(false);
                    }
                    insert_token(&mut tx, token).await?;
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(true)
                }

                async fn email_token_account(
                    &self,
                    token_hash: &TokenHash,
                    purpose: TokenPurpose,
                    now: Timestamp,
                ) -> StoreResult<Option<AccountId>> {
                    let row = sqlx::query(
                        "SELECT account_id FROM email_tokens WHERE token_hash = $1 \
                         AND purpose = $2 AND used_at IS NULL AND invalidated_at IS NULL \
                         AND expires_at > $3",
                    )
                    .bind(token_hash.as_str())
                    .bind(purpose.as_str())
                    .bind(now.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                    match row {
                        None => Ok(None),
                        Some(row) => {
                            let id: String = row.try_get("account_id").map_err(db_error)?;
                            AccountId::parse(&id)
                                .map(Some)
                                .ok_or_else(|| corrupt("account id", &id))
                        }
                    }
                }

                async fn verify_email(
                    &self,
                    token_hash: &TokenHash,
                    account: &AccountId,
                    now: Timestamp,
                    next: Option<&NewEmailToken>,
                    audit: &AuditRecord,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin().await?;
                    if !consume_token(&mut tx, token_hash, account, TokenPurpose::VerifyEmail, now)
                        .await?
                    {
                        return Ok(false);
                    }
                    sqlx::query(
                        "UPDATE accounts SET email_verified_at = $1, status = CASE \
                         WHEN phone_verified_at IS NOT NULL THEN 'active' ELSE status END \
                         WHERE id = $2",
                    )
                    .bind(now.0)
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if let Some(next) = next {
                        insert_token(&mut tx, next).await?;
                    }
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(true)
                }

                async fn insert_token(&self, token: &NewEmailToken) -> StoreResult<()> {
                    let mut tx = self.begin().await?;
                    insert_token(&mut tx, token).await?;
                    commit(tx).await
                }

                async fn latest_account_call(&self, account: &AccountId, purpose: CallPurpose) -> StoreResult<Option<CallRecord>> {
                    sqlx::query(
                        concat!($crate::queries::select_calls!(), " \
                         WHERE account_id = $1 AND purpose = $2 ORDER BY created_at DESC, id DESC LIMIT 1"),
                    )
                    .bind(account.as_str())
                    .bind(purpose.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .as_ref()
                    .map(call_from_row)
                    .transpose()
                }

                async fn reset_password(
                    &self,
                    token_hash: &TokenHash,
                    account: &AccountId,
                    password_hash: &str,
                    now: Timestamp,
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin().await?;
                    // The account row first, as every account-wide change takes it: no
                    // deadlock with `This wasn't me` or a sign-in.
                    lock_account_row(&mut tx, account).await?;
                    if !consume_token(&mut tx, token_hash, account, TokenPurpose::ResetPassword, now)
                        .await?
                    {
                        return Ok(false);
                    }
                    sqlx::query(
                        "UPDATE accounts SET password_hash = $1, password_changed_at = $2, \
                         password_generation = password_generation + 1 WHERE id = $3",
                    )
                    .bind(password_hash)
                    .bind(now.0)
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    sqlx::query(
                        "UPDATE email_tokens SET invalidated_at = $1 WHERE account_id = $2 \
                         AND purpose = $3 AND used_at IS NULL AND invalidated_at IS NULL",
                    )
                    .bind(now.0)
                    .bind(account.as_str())
                    .bind(TokenPurpose::ResetPassword.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    sqlx::query("DELETE FROM throttles WHERE subject = $1")
                        .bind(account.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    // Every counter, the devices' own included: someone with the old password
                    // may have run a device up to its limit.
                    sqlx::query("UPDATE mfa_devices SET failed_attempts = 0 WHERE account_id = $1")
                        .bind(account.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    end_what_the_old_password_began(&mut tx, account, now).await?;
                    end_open_activations(&mut tx, account, now).await?;
                    // Half of what lifts a `This wasn't me` block: control of the email.
                    sqlx::query(
                        "UPDATE accounts SET recovery_block_reset_at = $1 \
                         WHERE id = $2 AND recovery_blocked_at IS NOT NULL",
                    )
                    .bind(now.0)
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 \
                         AND revoked_at IS NULL",
                    )
                    .bind(now.0)
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(true)
                }

                async fn change_password(
                    &self,
                    account: &AccountId,
                    password_hash: &str,
                    keep_session: &TokenHash,
                    now: Timestamp,
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin().await?;
                    lock_account_row(&mut tx, account).await?;
                    if !session_is_live(&mut tx, account, keep_session, now).await? {
                        return Ok(false);
                    }
                    end_what_the_old_password_began(&mut tx, account, now).await?;
                    sqlx::query("UPDATE accounts SET password_hash = $1, password_changed_at = $2, \
                         password_generation = password_generation + 1 WHERE id = $3")
                        .bind(password_hash)
                        .bind(now.0)
                        .bind(account.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 \
                         AND revoked_at IS NULL AND token_hash <> $3",
                    )
                    .bind(now.0)
                    .bind(account.as_str())
                    .bind(keep_session.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    sqlx::query(
                        "UPDATE email_tokens SET invalidated_at = $1 WHERE account_id = $2 \
                         AND purpose = 'reset_password' AND used_at IS NULL AND invalidated_at IS NULL",
                    )
                    .bind(now.0)
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(true)
                }

                async fn start_session(
                    &self,
                    session: &NewSession,
                    password_generation: i64,
                    source: &str,
                    audit: &AuditRecord,
                ) -> StoreResult<SessionStart> {
                    let mut tx = self.begin().await?;
                    if !same_password(&mut tx, &session.account_id, password_generation).await? {
                        return Ok(SessionStart::PasswordChanged);
                    }
                    let blocked: Option<i64> = sqlx::query("SELECT recovery_blocked_at FROM accounts WHERE id = $1")
                        .bind(session.account_id.as_str())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_error)?
                        .try_get("recovery_blocked_at")
                        .map_err(db_error)?;
                    if blocked.is_some() {
                        return Ok(SessionStart::Blocked);
                    }
                    settle(&mut tx, session.account_id.as_str(), source, Settle::Clear).await?;
                    insert_session(&mut tx, session).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(SessionStart::Started)
                }

                async fn reserve_attempt(
                    &self,
                    attempt: &AttemptReservation<'_>,
                    policy: &LockoutPolicy,
                    now: Timestamp,
                ) -> StoreResult<Reservation> {
                    let key = attempt.key;
                    let mut tx = self.begin().await?;
                    // The upsert takes the counter's row lock (PostgreSQL; SQLite's
                    // BEGIN IMMEDIATE already serialises writers) and reads it in one step.
                    let row = sqlx::query(
                        "INSERT INTO throttles (subject, source, failures) VALUES ($1, $2, 0) \
                         ON CONFLICT (subject, source) DO UPDATE SET failures = throttles.failures \
                         RETURNING failures, last_failure_at",
                    )
                    .bind(&key.subject)
                    .bind(&key.source)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let state = FailureState {
                        consecutive_failures: u32::try_from(row.try_get::<i64, _>("failures").map_err(db_error)?)
                            .unwrap_or(u32::MAX),
                        last_failure_at: row
                            .try_get::<Option<i64>, _>("last_failure_at")
                            .map_err(db_error)?
                            .map(Timestamp),
                    };
                    let next = match policy.reserve(state, attempt.judged, now) {
                        Ok(next) => next,
                        Err(refused) => return Ok(Reservation::Refused(refused)),
                    };
                    if let Some((account, device_id)) = attempt.device {
                        let counted = sqlx::query(
                            "UPDATE mfa_devices SET failed_attempts = failed_attempts + 1 \
                             WHERE id = $1 AND account_id = $2 AND removed_at IS NULL \
                             AND failed_attempts < $3",
                        )
                        .bind(device_id)
                        .bind(account.as_str())
                        .bind(i64::from(attempt.device_limit))
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                        if counted.rows_affected() != 1 {
                            return Ok(Reservation::DeviceLocked);
                        }
                    }
                    sqlx::query(
                        "UPDATE throttles SET failures = $1, last_failure_at = $2 \
                         WHERE subject = $3 AND source = $4",
                    )
                    .bind(i64::from(next.consecutive_failures))
                    .bind(next.last_failure_at.map(|t| t.0))
                    .bind(&key.subject)
                    .bind(&key.source)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    commit(tx).await?;
                    Ok(Reservation::Reserved)
                }

                async fn failure_counts(&self, subject: &str) -> StoreResult<Vec<(String, u32)>> {
                    let rows = sqlx::query(
                        "SELECT source, failures FROM throttles WHERE subject = $1 ORDER BY source",
                    )
                    .bind(subject)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                    rows.iter()
                        .map(|row| {
                            let failures: i64 = row.try_get("failures").map_err(db_error)?;
                            Ok((
                                row.try_get("source").map_err(db_error)?,
                                u32::try_from(failures).unwrap_or(u32::MAX),
                            ))
                        })
                        .collect()
                }

                async fn purge_throttles(&self, unknown_before: Timestamp) -> StoreResult<u64> {
                    let done = sqlx::query(
                        "DELETE FROM throttles WHERE failures = 0 \
                         OR (subject LIKE 'email:%' AND last_failure_at < $1)",
                    )
                    .bind(unknown_before.0)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(done.rows_affected())
                }

                async fn settle_attempt(&self, key: &ThrottleKey, how: Settle) -> StoreResult<()> {
                    let mut tx = self.begin().await?;
                    settle(&mut tx, &key.subject, &key.source, how).await?;
                    commit(tx).await
                }

                async fn session(&self, token_hash: &TokenHash) -> StoreResult<Option<SessionRecord>> {
                    let row = sqlx::query(
                        "SELECT token_hash, account_id, kind, created_at, last_seen_at, \
                         expires_at, revoked_at, mfa_device_id FROM sessions WHERE token_hash = $1",
                    )
                    .bind(token_hash.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                    let Some(row) = row else { return Ok(None) };
                    let account: String = row.try_get("account_id").map_err(db_error)?;
                    let kind: String = row.try_get("kind").map_err(db_error)?;
                    Ok(Some(SessionRecord {
                        token_hash: TokenHash(row.try_get("token_hash").map_err(db_error)?),
                        account_id: AccountId::parse(&account)
                            .ok_or_else(|| corrupt("account id", &account))?,
                        kind: SessionKind::parse(&kind).ok_or_else(|| corrupt("session kind", &kind))?,
                        created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
                        last_seen_at: Timestamp(row.try_get("last_seen_at").map_err(db_error)?),
                        expires_at: Timestamp(row.try_get("expires_at").map_err(db_error)?),
                        revoked_at: row
                            .try_get::<Option<i64>, _>("revoked_at")
                            .map_err(db_error)?
                            .map(Timestamp),
                        mfa_device_id: row.try_get("mfa_device_id").map_err(db_error)?,
                    }))
                }

                async fn touch_session(&self, token_hash: &TokenHash, now: Timestamp) -> StoreResult<()> {
                    sqlx::query(
                        "UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2 \
                         AND last_seen_at < $3",
                    )
                    .bind(now.0)
                    .bind(token_hash.as_str())
                    .bind(now.0)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn revoke_session(
                    &self,
                    token_hash: &TokenHash,
                    now: Timestamp,
                    audit: &AuditRecord,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin().await?;
                    let done = sqlx::query(
                        "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 \
                         AND revoked_at IS NULL",
                    )
                    .bind(now.0)
                    .bind(token_hash.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(true)
                }

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
                        Some(account) => sqlx::query(
                            "SELECT at, account_id, client_addr, user_agent, event, outcome, \
                             detail FROM audit_log WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
                        )
                        .bind(account.as_str())
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await,
                        None => sqlx::query(
                            "SELECT at, account_id, client_addr, user_agent, event, outcome, \
                             detail FROM audit_log ORDER BY id DESC LIMIT $1",
                        )
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await,
                    }
                    .map_err(db_error)?;
                    rows.iter().map(audit_from_row).collect()
                }

                async fn claim_outbox(
                    &self,
                    now: Timestamp,
                    lease_until: Timestamp,
                    limit: i64,
                ) -> StoreResult<Vec<OutboxItem>> {
                    let mut tx = self.begin().await?;
                    let rows = sqlx::query($claim_outbox)
                        .bind(lease_until.0)
                        .bind(now.0)
                        .bind(now.0)
                        .bind(limit)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    commit(tx).await?;
                    let mut items = rows
                        .iter()
                        .map(|row| {
                            Ok(OutboxItem {
                                id: row.try_get("id").map_err(db_error)?,
                                kind: row.try_get("kind").map_err(db_error)?,
                                recipient: row.try_get("recipient").map_err(db_error)?,
                                payload: row
                                    .try_get::<Option<Vec<u8>>, _>("payload")
                                    .map_err(db_error)?
                                    .unwrap_or_default(),
                                attempts: row.try_get("attempts").map_err(db_error)?,
                            })
                        })
                        .collect::<StoreResult<Vec<_>>>()?;
                    items.sort_by_key(|item| item.id);
                    Ok(items)
                }

                async fn complete_outbox(&self, id: i64, now: Timestamp) -> StoreResult<()> {
                    sqlx::query(
                        "UPDATE outbox SET delivered_at = $1, payload = NULL, \
                         claimed_until = NULL WHERE id = $2",
                    )
                    .bind(now.0)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn fail_outbox(
                    &self,
                    id: i64,
                    error: &str,
                    retry_at: Option<Timestamp>,
                    now: Timestamp,
                ) -> StoreResult<()> {
                    let query = match retry_at {
                        Some(at) => sqlx::query(
                            "UPDATE outbox SET last_error = $1, next_attempt_at = $2, \
                             claimed_until = NULL WHERE id = $3",
                        )
                        .bind(error)
                        .bind(at.0)
                        .bind(id),
                        None => sqlx::query(
                            "UPDATE outbox SET last_error = $1, failed_at = $2, payload = NULL, \
                             claimed_until = NULL WHERE id = $3",
                        )
                        .bind(error)
                        .bind(now.0)
                        .bind(id),
                    };
                    query.execute(&self.pool).await.map_err(db_error)?;
                    Ok(())
                }

                async fn outbox_status(&self, limit: i64) -> StoreResult<Vec<OutboxStatus>> {
                    let rows = sqlx::query(
                        "SELECT id, kind, recipient, attempts, delivered_at, failed_at, \
                         last_error FROM outbox ORDER BY id DESC LIMIT $1",
                    )
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                    rows.iter()
                        .map(|row| {
                            Ok(OutboxStatus {
                                id: row.try_get("id").map_err(db_error)?,
                                kind: row.try_get("kind").map_err(db_error)?,
                                recipient: row.try_get("recipient").map_err(db_error)?,
                                attempts: row.try_get("attempts").map_err(db_error)?,
                                delivered_at: row
                                    .try_get::<Option<i64>, _>("delivered_at")
                                    .map_err(db_error)?
                                    .map(Timestamp),
                                failed_at: row
                                    .try_get::<Option<i64>, _>("failed_at")
                                    .map_err(db_error)?
                                    .map(Timestamp),
                                last_error: row.try_get("last_error").map_err(db_error)?,
                            })
                        })
                        .collect()
                }

                async fn mfa_devices(&self, account: &AccountId) -> StoreResult<Vec<DeviceRecord>> {
                    let rows = sqlx::query(
                        "SELECT id, account_id, kind, name, secret_sealed, algorithm, digits, period, \
                         drift_steps, last_used_step, failed_attempts, created_at, last_used_at, serial \
                         FROM mfa_devices WHERE account_id = $1 AND removed_at IS NULL \
                         ORDER BY created_at, id",
                    )
                    .bind(account.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                    rows.iter().map(device_from_row).collect()
                }

                async fn create_enrollment(&self, enrollment: &NewEnrollment) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO mfa_enrollments (id, account_id, kind, secret_sealed, \
                         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&enrollment.id)
                    .bind(enrollment.account_id.as_str())
                    .bind(enrollment.kind.as_str())
                    .bind(&enrollment.secret_sealed)
                    .bind(enrollment.created_at.0)
                    .bind(enrollment.expires_at.0)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn enrollment(
                    &self,
                    id: &str,
                    account: &AccountId,
                    now: Timestamp,
                ) -> StoreResult<Option<EnrollmentRecord>> {
                    let row = sqlx::query(
                        "SELECT id, account_id, kind, secret_sealed, expires_at FROM mfa_enrollments \
                         WHERE id = $1 AND account_id = $2 AND completed_at IS NULL AND expires_at > $3",
                    )
                    .bind(id)
                    .bind(account.as_str())
                    .bind(now.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                    let Some(row) = row else { return Ok(None) };
                    let kind: String = row.try_get("kind").map_err(db_error)?;
                    Ok(Some(EnrollmentRecord {
                        id: row.try_get("id").map_err(db_error)?,
                        account_id: account.clone(),
                        kind: DeviceKind::parse(&kind).ok_or_else(|| corrupt("device kind", &kind))?,
                        secret_sealed: row.try_get("secret_sealed").map_err(db_error)?,
                        expires_at: Timestamp(row.try_get("expires_at").map_err(db_error)?),
                    }))
                }

                async fn assign_device(
                    &self,
                    enrollment_id: &str,
                    device: &NewDevice,
                    max_devices: usize,
                    now: Timestamp,
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<AssignOutcome> {
                    let mut tx = self.begin().await?;
                    lock_account(&mut tx, &device.account_id, now).await?;
                    if let Some(by) = &device.added_by
                        && !session_is_live(&mut tx, &device.account_id, by, now).await?
                    {
                        return Ok(AssignOutcome::SessionEnded);
                    }
                    if active_device_count(&mut tx, &device.account_id).await? >= max_devices {
                        return Ok(AssignOutcome::LimitReached);
                    }
                    let done = sqlx::query(
                        "UPDATE mfa_enrollments SET completed_at = $1 WHERE id = $2 \
                         AND account_id = $3 AND completed_at IS NULL AND expires_at > $4",
                    )
                    .bind(now.0)
                    .bind(enrollment_id)
                    .bind(device.account_id.as_str())
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if done.rows_affected() != 1 {
                        return Ok(AssignOutcome::EnrollmentGone);
                    }
                    if !insert_device(&mut tx, device, None).await? {
                        return Ok(AssignOutcome::NameTaken);
                    }
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(AssignOutcome::Assigned)
                }

                async fn start_sign_in_attempt(
                    &self,
                    token_hash: &TokenHash,
                    account: &AccountId,
                    password_generation: i64,
                    source: &str,
                    now: Timestamp,
                    expires_at: Timestamp,
                    audit: &AuditRecord,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin().await?;
                    if !same_password(&mut tx, account, password_generation).await? {
                        return Ok(false);
                    }
                    settle(&mut tx, account.as_str(), source, Settle::Refund).await?;
                    sqlx::query(
                        "INSERT INTO sign_in_attempts (token_hash, account_id, created_at, expires_at, \
                         source, failures_at_start) VALUES ($1, $2, $3, $4, $5, \
                         COALESCE((SELECT failures FROM throttles WHERE subject = $6 AND source = $7), 0))",
                    )
                    .bind(token_hash.as_str())
                    .bind(account.as_str())
                    .bind(now.0)
                    .bind(expires_at.0)
                    .bind(source)
                    .bind(account.as_str())
                    .bind(source)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(true)
                }

                async fn sign_in_attempt(
                    &self,
                    token_hash: &TokenHash,
                    now: Timestamp,
                ) -> StoreResult<Option<SignInAttemptRecord>> {
                    let row = sqlx::query(
                        "SELECT account_id, created_at, expires_at, source, failures_at_start FROM sign_in_attempts \
                         WHERE token_hash = $1 AND completed_at IS NULL AND expires_at > $2",
                    )
                    .bind(token_hash.as_str())
                    .bind(now.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                    let Some(row) = row else { return Ok(None) };
                    let account: String = row.try_get("account_id").map_err(db_error)?;
                    Ok(Some(SignInAttemptRecord {
                        account_id: AccountId::parse(&account).ok_or_else(|| corrupt("account id", &account))?,
                        created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
                        expires_at: Timestamp(row.try_get("expires_at").map_err(db_error)?),
                        source: row.try_get("source").map_err(db_error)?,
                        failures_at_start: u32::try_from(row.try_get::<i64, _>("failures_at_start").map_err(db_error)?).unwrap_or(u32::MAX),
                    }))
                }

                async fn complete_mfa_sign_in(
                    &self,
                    attempt: &TokenHash,
                    device_id: &str,
                    step: i64,
                    session: &NewSession,
                    audit: &AuditRecord,
                ) -> StoreResult<bool> {
                    let now = session.created_at;
                    let mut tx = self.begin().await?;
                    // Locks in one order everywhere: the account row (as `This wasn't me` and a
                    // reset take it, so a session cannot slip in while they run), then the
                    // failure counter and the device (as reservations take them).
                    lock_account_row(&mut tx, &session.account_id).await?;
                    clear_attempt_source(&mut tx, attempt).await?;
                    // The step is consumed only if it is later than every step used before:
                    // a code, or any earlier one, is never accepted twice.
                    let consumed = sqlx::query(
                        "UPDATE mfa_devices SET last_used_step = $1, last_used_at = $2, \
                         failed_attempts = 0 WHERE id = $3 AND account_id = $4 \
                         AND removed_at IS NULL \
                         AND (last_used_step IS NULL OR last_used_step < $5)",
                    )
                    .bind(step)
                    .bind(now.0)
                    .bind(device_id)
                    .bind(session.account_id.as_str())
                    .bind(step)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if consumed.rows_affected() != 1 {
                        return Ok(false);
                    }
                    let completed = sqlx::query(
                        "UPDATE sign_in_attempts SET completed_at = $1 WHERE token_hash = $2 \
                         AND account_id = $3 AND completed_at IS NULL AND expires_at > $4",
                    )
                    .bind(now.0)
                    .bind(attempt.as_str())
                    .bind(session.account_id.as_str())
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if completed.rows_affected() != 1 {
                        return Ok(false);
                    }
                    lift_recovery_block(&mut tx, &session.account_id, device_id).await?;
                    insert_session(&mut tx, session).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(true)
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

                async fn resync_device(
                    &self,
                    account: &AccountId,
                    device_id: &str,
                    later_step: i64,
                    drift_steps: i64,
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin().await?;
                    let done = sqlx::query(
                        "UPDATE mfa_devices SET drift_steps = $1, last_used_step = $2, \
                         failed_attempts = 0 WHERE id = $3 AND account_id = $4 \
                         AND removed_at IS NULL \
                         AND (last_used_step IS NULL OR last_used_step < $5)",
                    )
                    .bind(drift_steps)
                    .bind(later_step)
                    .bind(device_id)
                    .bind(account.as_str())
                    .bind(later_step)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(true)
                }

                async fn remove_device(
                    &self,
                    account: &AccountId,
                    device_id: &str,
                    by: &TokenHash,
                    now: Timestamp,
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<Option<usize>> {
                    let mut tx = self.begin().await?;
                    lock_account(&mut tx, account, now).await?;
                    if !session_is_live(&mut tx, account, by, now).await? {
                        return Ok(None);
                    }
                    let done = sqlx::query(
                        "UPDATE mfa_devices SET removed_at = $1, secret_sealed = NULL \
                         WHERE id = $2 AND account_id = $3 AND removed_at IS NULL",
                    )
                    .bind(now.0)
                    .bind(device_id)
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if done.rows_affected() != 1 {
                        return Ok(None);
                    }
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $1 WHERE mfa_device_id = $2 \
                         AND account_id = $3 AND revoked_at IS NULL",
                    )
                    .bind(now.0)
                    .bind(device_id)
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    sqlx::query("UPDATE hardware_tokens SET device_id = NULL WHERE device_id = $1")
                        .bind(device_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    let remaining = active_device_count(&mut tx, account).await?;
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(Some(remaining))
                }

                async fn create_recovery_flow(
                    &self,
                    flow: &NewRecoveryFlow,
                    budget: (u32, Timestamp),
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<FlowStart> {
                    let (max_flows, since) = budget;
                    let mut tx = self.begin().await?;
                    lock_account_row(&mut tx, &flow.account_id).await?;
                    let started: i64 = sqlx::query(
                        "SELECT COUNT(*) AS n FROM recovery_flows WHERE account_id = $1 AND created_at >= $2",
                    )
                    .bind(flow.account_id.as_str())
                    .bind(since.0)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .try_get("n")
                    .map_err(db_error)?;
                    if started >= i64::from(max_flows) {
                        return Ok(FlowStart::OverBudget);
                    }
                    let blocked: Option<i64> = sqlx::query("SELECT recovery_blocked_at FROM accounts WHERE id = $1")
                        .bind(flow.account_id.as_str())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_error)?
                        .try_get("recovery_blocked_at")
                        .map_err(db_error)?;
                    if blocked.is_some() {
                        return Ok(FlowStart::Blocked);
                    }
                    let inserted = sqlx::query(
                        "INSERT INTO recovery_flows (id, token_hash, account_id, state, created_at, \
                         expires_at, cancel_token_hash, attempt_hash, source, started_from, started_agent) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (attempt_hash) DO NOTHING",
                    )
                    .bind(&flow.id)
                    .bind(flow.token_hash.as_str())
                    .bind(flow.account_id.as_str())
                    .bind(RecoveryState::EmailPending.as_str())
                    .bind(flow.created_at.0)
                    .bind(flow.expires_at.0)
                    .bind(flow.cancel_token_hash.as_str())
                    .bind(flow.attempt_hash.as_str())
                    .bind(&flow.source)
                    .bind(&flow.started_from)
                    .bind(&flow.started_agent)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if inserted.rows_affected() != 1 {
                        return Ok(FlowStart::AlreadyStarted);
                    }
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(FlowStart::Started)
                }

                async fn recovery_flow(&self, token_hash: &TokenHash) -> StoreResult<Option<RecoveryFlowRecord>> {
                    sqlx::query(
                        concat!($crate::queries::select_flows!(), " WHERE token_hash = $1"),
                    )
                    .bind(token_hash.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .as_ref()
                    .map(flow_from_row)
                    .transpose()
                }

                async fn recovery_flow_by_email_token(&self, email_token_hash: &TokenHash, now: Timestamp) -> StoreResult<Option<RecoveryFlowRecord>> {
                    sqlx::query(
                        concat!($crate::queries::select_flows!(), " \
                         WHERE email_token_hash = $1 AND state = 'email_pending' \
                         AND email_token_expires_at > $2 AND expires_at > $3"),
                    )
                    .bind(email_token_hash.as_str())
                    .bind(now.0)
                    .bind(now.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .as_ref()
                    .map(flow_from_row)
                    .transpose()
                }

                async fn recovery_flow_by_cancel_token(&self, cancel_token_hash: &TokenHash) -> StoreResult<Option<RecoveryFlowRecord>> {
                    sqlx::query(
                        concat!($crate::queries::select_flows!(), " WHERE cancel_token_hash = $1"),
                    )
                    .bind(cancel_token_hash.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .as_ref()
                    .map(flow_from_row)
                    .transpose()
                }

                async fn record_recovery_email(
                    &self,
                    email: &RecoveryEmail<'_>,
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<bool> {
                    let RecoveryEmail { flow_id, token_hash: email_token_hash, link_expires_at, max_emails, now } = *email;
                    let mut tx = self.begin().await?;
                    let done = sqlx::query(
                        "UPDATE recovery_flows SET email_token_hash = $1, email_token_expires_at = $2, \
                         emails_sent = emails_sent + 1 WHERE id = $3 AND state = 'email_pending' \
                         AND emails_sent < $4 AND expires_at > $5",
                    )
                    .bind(email_token_hash.as_str())
                    .bind(link_expires_at.0)
                    .bind(flow_id)
                    .bind(i64::from(max_emails))
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(true)
                }

                async fn verify_recovery_email(&self, flow_id: &str, email_token_hash: &TokenHash, now: Timestamp, audit: &AuditRecord) -> StoreResult<bool> {
                    let mut tx = self.begin().await?;
                    let done = sqlx::query(
                        "UPDATE recovery_flows SET state = 'email_verified', email_verified_at = $1, \
                         email_token_hash = NULL WHERE id = $2 AND email_token_hash = $3 \
                         AND state = 'email_pending' AND email_token_expires_at > $4 AND expires_at > $5",
                    )
                    .bind(now.0)
                    .bind(flow_id)
                    .bind(email_token_hash.as_str())
                    .bind(now.0)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(true)
                }

                async fn place_call(
                    &self,
                    call: &NewCall,
                    flow_cap: Option<u32>,
                    limits: &[CallLimit],
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<CallPlacement> {
                    let now = call.created_at;
                    let purpose = call.purpose.as_str();
                    let mut tx = self.begin().await?;
                    // Every call of this purpose waits here (PostgreSQL row lock; SQLite's
                    // BEGIN IMMEDIATE already serialises writers), so the counts below and the
                    // insert cannot interleave with another request's.
                    sqlx::query("UPDATE call_budget_locks SET purpose = purpose WHERE purpose = $1")
                        .bind(purpose)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    if let Some(cap) = flow_cap {
                        let counted = sqlx::query(
                            "UPDATE recovery_flows SET calls_placed = calls_placed + 1 WHERE id = $1 \
                             AND state = 'email_verified' AND calls_placed < $2 AND expires_at > $3",
                        )
                        .bind(&call.flow_id)
                        .bind(i64::from(cap))
                        .bind(now.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                        if counted.rows_affected() != 1 {
                            return Ok(CallPlacement::FlowGone);
                        }
                    }
                    for limit in limits {
                        // A call superseded before it was placed never rang: it costs nothing.
                        let (sql, key) = match limit.scope {
                            CallScope::Account => (
                                "SELECT COUNT(*) AS n FROM calls WHERE purpose = $1 AND created_at >= $2 \
                                 AND NOT (status = 'superseded' AND placed_at IS NULL) AND account_id = $3",
                                Some(call.account_id.as_str()),
                            ),
                            CallScope::Destination => (
                                "SELECT COUNT(*) AS n FROM calls WHERE purpose = $1 AND created_at >= $2 \
                                 AND NOT (status = 'superseded' AND placed_at IS NULL) AND to_number = $3",
                                Some(call.to_number.as_str()),
                            ),
                            CallScope::Client => (
                                "SELECT COUNT(*) AS n FROM calls WHERE purpose = $1 AND created_at >= $2 \
                                 AND NOT (status = 'superseded' AND placed_at IS NULL) AND client_network = $3",
                                Some(call.client_network.as_str()),
                            ),
                            CallScope::Server => (
                                "SELECT COUNT(*) AS n FROM calls WHERE purpose = $1 AND created_at >= $2 \
                                 AND NOT (status = 'superseded' AND placed_at IS NULL)",
                                None,
                            ),
                        };
                        let mut query = sqlx::query(sql).bind(purpose).bind(limit.since.0);
                        if let Some(key) = key {
                            query = query.bind(key);
                        }
                        let counted: i64 = query
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(db_error)?
                            .try_get("n")
                            .map_err(db_error)?;
                        if counted >= i64::from(limit.max) {
                            return Ok(CallPlacement::OverBudget(limit.scope));
                        }
                    }
                    let superseded = match flow_cap {
                        Some(_) => sqlx::query(
                            "UPDATE calls SET status = 'superseded', ended_at = $1 WHERE flow_id = $2 \
                             AND status IN ('queued', 'dialling', 'placed')",
                        )
                        .bind(now.0)
                        .bind(&call.flow_id),
                        None => sqlx::query(
                            "UPDATE calls SET status = 'superseded', ended_at = $1 WHERE account_id = $2 \
                             AND purpose = 'sign_up' AND status IN ('queued', 'dialling', 'placed')",
                        )
                        .bind(now.0)
                        .bind(call.account_id.as_str()),
                    };
                    superseded.execute(&mut *tx).await.map_err(db_error)?;
                    sqlx::query(
                        "INSERT INTO calls (id, account_id, purpose, flow_id, to_number, code_hash, \
                         code_expires_at, status, created_at, client_network) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(&call.id)
                    .bind(call.account_id.as_str())
                    .bind(purpose)
                    .bind(&call.flow_id)
                    .bind(&call.to_number)
                    .bind(&call.code_hash)
                    .bind(call.code_expires_at.0)
                    .bind(CallStatus::Queued.as_str())
                    .bind(now.0)
                    .bind(&call.client_network)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(CallPlacement::Placed)
                }

                async fn call(&self, id: &str) -> StoreResult<Option<CallRecord>> {
                    sqlx::query(
                        concat!($crate::queries::select_calls!(), " WHERE id = $1"),
                    )
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .as_ref()
                    .map(call_from_row)
                    .transpose()
                }

                async fn latest_call(&self, flow_id: &str) -> StoreResult<Option<CallRecord>> {
                    sqlx::query(
                        concat!($crate::queries::select_calls!(), " WHERE flow_id = $1 \
                         ORDER BY created_at DESC, id DESC LIMIT 1"),
                    )
                    .bind(flow_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .as_ref()
                    .map(call_from_row)
                    .transpose()
                }

                async fn claim_call(&self, id: &str, now: Timestamp) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "UPDATE calls SET status = 'dialling', placed_at = $1 WHERE id = $2 \
                         AND status = 'queued' AND code_expires_at > $3",
                    )
                    .bind(now.0)
                    .bind(id)
                    .bind(now.0)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn release_call(&self, id: &str) -> StoreResult<()> {
                    sqlx::query(
                        "UPDATE calls SET status = 'queued', placed_at = NULL WHERE id = $1 \
                         AND status = 'dialling' AND provider_call_id IS NULL",
                    )
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn bind_call(&self, id: &str, provider_call_id: &str, now: Timestamp) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "UPDATE calls SET provider_call_id = $1, status = 'placed', \
                         placed_at = COALESCE(placed_at, $2) \
                         WHERE id = $3 AND status IN ('queued', 'dialling') AND provider_call_id IS NULL",
                    )
                    .bind(provider_call_id)
                    .bind(now.0)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn end_call(&self, id: &str, status: CallStatus, now: Timestamp) -> StoreResult<()> {
                    sqlx::query(
                        "UPDATE calls SET status = $1, ended_at = $2 WHERE id = $3 \
                         AND status IN ('queued', 'dialling', 'placed')",
                    )
                    .bind(status.as_str())
                    .bind(now.0)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn reserve_digit_attempt(&self, call_id: &str, expected: u32, max: u32, now: Timestamp) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "UPDATE calls SET digit_attempts = digit_attempts + 1 WHERE id = $1 \
                         AND status = 'placed' AND digit_attempts = $2 AND digit_attempts < $3 \
                         AND code_expires_at > $4",
                    )
                    .bind(call_id)
                    .bind(i64::from(expected))
                    .bind(i64::from(max))
                    .bind(now.0)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn record_wrong_digits(&self, call_id: &str, now: Timestamp, audit: &AuditRecord) -> StoreResult<()> {
                    let mut tx = self.begin().await?;
                    // The call's own attempts gate the digits; the counter keeps the hard
                    // limit honest across every kind of failure.
                    sqlx::query(
                        "INSERT INTO throttles (subject, source, failures, last_failure_at) \
                         SELECT f.account_id, f.source, 1, $1 FROM calls c \
                         JOIN recovery_flows f ON f.id = c.flow_id WHERE c.id = $2 \
                         ON CONFLICT (subject, source) DO UPDATE \
                         SET failures = throttles.failures + 1, last_failure_at = $3",
                    )
                    .bind(now.0)
                    .bind(call_id)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await
                }

                async fn verify_call(&self, call_id: &str, provider_call_id: &str, now: Timestamp, audit: &AuditRecord) -> StoreResult<bool> {
                    let mut tx = self.begin().await?;
                    let verified = sqlx::query(
                        "UPDATE calls SET status = 'verified', verified_at = $1 WHERE id = $2 \
                         AND provider_call_id = $3 AND status = 'placed' AND code_expires_at > $4",
                    )
                    .bind(now.0)
                    .bind(call_id)
                    .bind(provider_call_id)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if verified.rows_affected() != 1 {
                        return Ok(false);
                    }
                    let purpose: String = sqlx::query("SELECT purpose FROM calls WHERE id = $1")
                        .bind(call_id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_error)?
                        .try_get("purpose")
                        .map_err(db_error)?;
                    // The call's purpose decides what the right digits prove.
                    let moved = match CallPurpose::parse(&purpose) {
                        Some(CallPurpose::Recovery) => sqlx::query(
                            "UPDATE recovery_flows SET state = 'phone_verified', phone_verified_at = $1 \
                             WHERE id = (SELECT flow_id FROM calls WHERE id = $2) \
                             AND state = 'email_verified' AND expires_at > $3",
                        )
                        .bind(now.0)
                        .bind(call_id)
                        .bind(now.0),
                        Some(CallPurpose::SignUp) => sqlx::query(
                            "UPDATE accounts SET phone_verified_at = $1, status = 'active' \
                             WHERE id = (SELECT account_id FROM calls WHERE id = $2) \
                             AND phone_verified_at IS NULL AND email_verified_at IS NOT NULL",
                        )
                        .bind(now.0)
                        .bind(call_id),
                        None => return Err(corrupt("call purpose", &purpose)),
                    }
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if moved.rows_affected() != 1 {
                        return Ok(false);
                    }
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(true)
                }

                async fn complete_recovery(
                    &self,
                    flow_id: &str,
                    hard_limit: u32,
                    session: &NewSession,
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<Completion> {
                    let now = session.created_at;
                    let mut tx = self.begin().await?;
                    lock_account_row(&mut tx, &session.account_id).await?;
                    let Some(source) = sqlx::query("SELECT source FROM recovery_flows WHERE id = $1")
                        .bind(flow_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?
                    else {
                        return Ok(Completion::NotReady);
                    };
                    let source: String = source.try_get("source").map_err(db_error)?;
                    // Lockout holds on every path that mints a session: the flow's source must
                    // not be locked, read under the counter's lock so no failure slips between.
                    let failures: i64 = sqlx::query(
                        "INSERT INTO throttles (subject, source, failures) VALUES ($1, $2, 0) \
                         ON CONFLICT (subject, source) DO UPDATE SET failures = throttles.failures \
                         RETURNING failures",
                    )
                    .bind(session.account_id.as_str())
                    .bind(&source)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .try_get("failures")
                    .map_err(db_error)?;
                    if failures >= i64::from(hard_limit) {
                        return Ok(Completion::Locked);
                    }
                    let done = sqlx::query(
                        "UPDATE recovery_flows SET state = 'completed', completed_at = $1 WHERE id = $2 \
                         AND account_id = $3 AND state = 'phone_verified' AND expires_at > $4 \
                         AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = recovery_flows.account_id \
                                         AND a.recovery_blocked_at IS NOT NULL)",
                    )
                    .bind(now.0)
                    .bind(flow_id)
                    .bind(session.account_id.as_str())
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if done.rows_affected() != 1 {
                        return Ok(Completion::NotReady);
                    }
                    // Sibling flows of the account end with this one: one recovery, one session.
                    sqlx::query(
                        "UPDATE recovery_flows SET state = 'cancelled', cancelled_at = $1 \
                         WHERE account_id = $2 AND id <> $3 \
                         AND state IN ('email_pending', 'email_verified', 'phone_verified')",
                    )
                    .bind(now.0)
                    .bind(session.account_id.as_str())
                    .bind(flow_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    settle(&mut tx, session.account_id.as_str(), &source, Settle::Clear).await?;
                    revoke_all_sessions(&mut tx, &session.account_id, now).await?;
                    insert_session(&mut tx, session).await?;
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(Completion::Completed)
                }

                async fn report_recovery(
                    &self,
                    report: &RecoveryReport<'_>,
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<Option<RecoveryUndone>> {
                    let RecoveryReport { flow_id, account, undo_window, revoked_password_hash, now } = *report;
                    let mut tx = self.begin().await?;
                    lock_account_row(&mut tx, account).await?;
                    let Some(reported) = sqlx::query(
                        "UPDATE recovery_flows SET reported_at = $1 WHERE id = $2 AND account_id = $3 \
                         AND reported_at IS NULL AND COALESCE(completed_at, expires_at) + $4 > $5 \
                         RETURNING created_at",
                    )
                    .bind(now.0)
                    .bind(flow_id)
                    .bind(account.as_str())
                    .bind(undo_window.0)
                    .bind(now.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?
                    else {
                        return Ok(None);
                    };
                    let started: i64 = reported.try_get("created_at").map_err(db_error)?;
                    // Only a completed flow issued a session that could add devices: the
                    // reported one, a sibling the intruder finished after it began, or an
                    // earlier one still inside its undo window — whose link dies below, so
                    // this report is the owner's last chance to undo it. Undo from the
                    // earliest of those; when none completed, nothing is removed.
                    let completed: Option<i64> = sqlx::query(
                        "SELECT MIN(created_at) AS since FROM recovery_flows \
                         WHERE account_id = $1 AND (completed_at >= $2 \
                         OR (reported_at IS NULL AND completed_at + $3 > $4))",
                    )
                    .bind(account.as_str())
                    .bind(started)
                    .bind(undo_window.0)
                    .bind(now.0)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .try_get("since")
                    .map_err(db_error)?;
                    let since = completed.map_or(started, |c| c.min(started));
                    // Every other link of the account dies with this one: a link saved from an
                    // earlier notice cannot replay the undo once the owner has recovered.
                    sqlx::query("UPDATE recovery_flows SET reported_at = $1 WHERE account_id = $2 AND reported_at IS NULL")
                        .bind(now.0)
                        .bind(account.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    sqlx::query(
                        "UPDATE recovery_flows SET state = 'cancelled', cancelled_at = $1 \
                         WHERE account_id = $2 AND state IN ('email_pending', 'email_verified', 'phone_verified')",
                    )
                    .bind(now.0)
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let removed: Vec<String> = match completed {
                        None => Vec::new(),
                        Some(_) => sqlx::query(
                            "UPDATE mfa_devices SET removed_at = $1, secret_sealed = NULL \
                             WHERE account_id = $2 AND removed_at IS NULL AND created_at >= $3 RETURNING id",
                        )
                        .bind(now.0)
                        .bind(account.as_str())
                        .bind(since)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_error)?
                        .iter()
                        .map(|row| row.try_get("id").map_err(db_error))
                        .collect::<StoreResult<_>>()?,
                    };
                    for device in &removed {
                        sqlx::query("UPDATE hardware_tokens SET device_id = NULL WHERE device_id = $1")
                            .bind(device)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    }
                    // Nothing begun before the report can be finished after it.
                    end_open_activations(&mut tx, account, now).await?;
                    for statement in [
                        "UPDATE sign_in_attempts SET completed_at = $1 WHERE account_id = $2 AND completed_at IS NULL",
                        "UPDATE email_tokens SET invalidated_at = $1 WHERE account_id = $2 \
                         AND purpose = 'reset_password' AND used_at IS NULL AND invalidated_at IS NULL",
                    ] {
                        sqlx::query(statement)
                            .bind(now.0)
                            .bind(account.as_str())
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    }
                    // Last, so that nothing committed while this ran keeps a session.
                    revoke_all_sessions(&mut tx, account, now).await?;
                    sqlx::query(
                        "UPDATE accounts SET password_hash = $1, password_changed_at = $2, \
                         password_generation = password_generation + 1, recovery_blocked_at = $3, recovery_block_since = $4, recovery_block_reset_at = NULL \
                         WHERE id = $5",
                    )
                    .bind(revoked_password_hash)
                    .bind(now.0)
                    .bind(now.0)
                    .bind(since)
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(Some(RecoveryUndone {
                        devices_removed: removed,
                        since: Timestamp(since),
                    }))
                }

                async fn recovery_blocked_at(&self, account: &AccountId) -> StoreResult<Option<Timestamp>> {
                    let row = sqlx::query("SELECT recovery_blocked_at FROM accounts WHERE id = $1")
                        .bind(account.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_error)?;
                    match row {
                        Some(row) => Ok(row.try_get::<Option<i64>, _>("recovery_blocked_at").map_err(db_error)?.map(Timestamp)),
                        None => Ok(None),
                    }
                }

                async fn dev_calls(&self, limit: i64) -> StoreResult<Vec<CallRecord>> {
                    let rows = sqlx::query(
                        concat!($crate::queries::select_calls!(), " \
                         WHERE provider_call_id LIKE 'dev-%' ORDER BY created_at DESC, id DESC LIMIT $1"),
                    )
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                    rows.iter().map(call_from_row).collect()
                }

                async fn import_tokens(&self, tokens: &[NewHardwareToken], audit: &AuditRecord) -> StoreResult<()> {
                    let mut tx = self.begin().await?;
                    for token in tokens {
                        let inserted = sqlx::query(
                            "INSERT INTO hardware_tokens (serial, manufacturer, algorithm, digits, period, \
                             secret_sealed, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        )
                        .bind(&token.serial)
                        .bind(token.manufacturer.as_deref())
                        .bind(token.params.algorithm.as_str())
                        .bind(i64::from(token.params.digits))
                        .bind(token.params.period)
                        .bind(&token.secret_sealed)
                        .bind(token.imported_at.0)
                        .execute(&mut *tx)
                        .await;
                        match inserted {
                            Ok(_) => {}
                            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(StoreError::Conflict("serial")),
                            Err(e) => return Err(db_error(e)),
                        }
                    }
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await
                }

                async fn hardware_tokens(&self) -> StoreResult<Vec<HardwareTokenRecord>> {
                    let rows = sqlx::query(
                        "SELECT t.serial, t.manufacturer, t.algorithm, t.digits, t.period, t.secret_sealed, \
                         t.imported_at, t.device_id, d.account_id FROM hardware_tokens t \
                         LEFT JOIN mfa_devices d ON d.id = t.device_id ORDER BY t.serial",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                    rows.iter().map(token_from_row).collect()
                }

                async fn hardware_token(&self, serial: &str) -> StoreResult<Option<HardwareTokenRecord>> {
                    sqlx::query(
                        "SELECT t.serial, t.manufacturer, t.algorithm, t.digits, t.period, t.secret_sealed, \
                         t.imported_at, t.device_id, d.account_id FROM hardware_tokens t \
                         LEFT JOIN mfa_devices d ON d.id = t.device_id WHERE t.serial = $1",
                    )
                    .bind(serial)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .as_ref()
                    .map(token_from_row)
                    .transpose()
                }

                async fn assign_hardware_device(
                    &self,
                    device: &NewDevice,
                    max_devices: usize,
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<AssignOutcome> {
                    let now = device.created_at;
                    let serial = device.serial.as_deref().unwrap_or_default();
                    let mut tx = self.begin().await?;
                    lock_account(&mut tx, &device.account_id, now).await?;
                    if let Some(by) = &device.added_by
                        && !session_is_live(&mut tx, &device.account_id, by, now).await?
                    {
                        return Ok(AssignOutcome::SessionEnded);
                    }
                    if active_device_count(&mut tx, &device.account_id).await? >= max_devices {
                        return Ok(AssignOutcome::LimitReached);
                    }
                    let bound = sqlx::query(
                        "UPDATE hardware_tokens SET device_id = $1 WHERE serial = $2 AND device_id IS NULL",
                    )
                    .bind(&device.id)
                    .bind(serial)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if bound.rows_affected() != 1 {
                        return Ok(AssignOutcome::TokenUnavailable);
                    }
                    if !insert_device(&mut tx, device, None).await? {
                        return Ok(AssignOutcome::NameTaken);
                    }
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(AssignOutcome::Assigned)
                }

                async fn create_ceremony(&self, ceremony: &NewCeremony) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO webauthn_ceremonies (id, account_id, purpose, state_sealed, name, \
                         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&ceremony.id)
                    .bind(ceremony.account_id.as_str())
                    .bind(ceremony.purpose)
                    .bind(&ceremony.state_sealed)
                    .bind(&ceremony.name)
                    .bind(ceremony.created_at.0)
                    .bind(ceremony.expires_at.0)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn take_ceremony(&self, id: &str, account: &AccountId, purpose: &str, now: Timestamp) -> StoreResult<Option<TakenCeremony>> {
                    let mut tx = self.begin().await?;
                    let row = sqlx::query(
                        "UPDATE webauthn_ceremonies SET used_at = $1 WHERE id = $2 AND account_id = $3 \
                         AND purpose = $4 AND used_at IS NULL AND expires_at > $5 \
                         RETURNING state_sealed, name",
                    )
                    .bind(now.0)
                    .bind(id)
                    .bind(account.as_str())
                    .bind(purpose)
                    .bind(now.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    commit(tx).await?;
                    match row {
                        None => Ok(None),
                        Some(row) => Ok(Some(TakenCeremony {
                            state_sealed: row.try_get("state_sealed").map_err(db_error)?,
                            name: row.try_get("name").map_err(db_error)?,
                        })),
                    }
                }

                async fn assign_security_key(
                    &self,
                    device: &NewDevice,
                    credential_id: &str,
                    max_devices: usize,
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<AssignOutcome> {
                    let mut tx = self.begin().await?;
                    lock_account(&mut tx, &device.account_id, device.created_at).await?;
                    if let Some(by) = &device.added_by
                        && !session_is_live(&mut tx, &device.account_id, by, device.created_at).await?
                    {
                        return Ok(AssignOutcome::SessionEnded);
                    }
                    if active_device_count(&mut tx, &device.account_id).await? >= max_devices {
                        return Ok(AssignOutcome::LimitReached);
                    }
                    if !insert_device(&mut tx, device, Some(credential_id)).await? {
                        return Ok(AssignOutcome::NameTaken);
                    }
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(AssignOutcome::Assigned)
                }

                async fn complete_security_key_sign_in(
                    &self,
                    attempt: &TokenHash,
                    device_id: &str,
                    key_sealed: &[u8],
                    counter: u32,
                    session: &NewSession,
                    audit: &AuditRecord,
                ) -> StoreResult<bool> {
                    let now = session.created_at;
                    let mut tx = self.begin().await?;
                    // The account row, then the failure counter, as above.
                    lock_account_row(&mut tx, &session.account_id).await?;
                    clear_attempt_source(&mut tx, attempt).await?;
                    let completed = sqlx::query(
                        "UPDATE sign_in_attempts SET completed_at = $1 WHERE token_hash = $2 \
                         AND account_id = $3 AND completed_at IS NULL AND expires_at > $4",
                    )
                    .bind(now.0)
                    .bind(attempt.as_str())
                    .bind(session.account_id.as_str())
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if completed.rows_affected() != 1 {
                        return Ok(false);
                    }
                    let updated = sqlx::query(
                        "UPDATE mfa_devices SET secret_sealed = $1, last_used_at = $2, failed_attempts = 0, \
                         sign_count = $3 WHERE id = $4 AND account_id = $5 AND removed_at IS NULL \
                         AND (sign_count < $6 OR ($7 = 0 AND sign_count = 0))",
                    )
                    .bind(key_sealed)
                    .bind(now.0)
                    .bind(i64::from(counter))
                    .bind(device_id)
                    .bind(session.account_id.as_str())
                    .bind(i64::from(counter))
                    .bind(i64::from(counter))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if updated.rows_affected() != 1 {
                        return Ok(false);
                    }
                    lift_recovery_block(&mut tx, &session.account_id, device_id).await?;
                    insert_session(&mut tx, session).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(true)
                }

                async fn insert_dev_mail(&self, mail: &NewDevMail) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO dev_mailbox (outbox_id, recipient, subject, text_body, \
                         html_body, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (outbox_id) DO NOTHING",
                    )
                    .bind(mail.outbox_id)
                    .bind(&mail.recipient)
                    .bind(&mail.subject)
                    .bind(&mail.text_body)
                    .bind(&mail.html_body)
                    .bind(mail.created_at.0)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn dev_mails(&self, limit: i64) -> StoreResult<Vec<DevMail>> {
                    let rows = sqlx::query(
                        "SELECT id, recipient, subject, text_body, html_body, created_at \
                         FROM dev_mailbox ORDER BY id DESC LIMIT $1",
                    )
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                    rows.iter().map(dev_mail_from_row).collect()
                }

                async fn dev_mail(&self, id: i64) -> StoreResult<Option<DevMail>> {
                    sqlx::query(
                        "SELECT id, recipient, subject, text_body, html_body, created_at \
                         FROM dev_mailbox WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .as_ref()
                    .map(dev_mail_from_row)
                    .transpose()
                }

                async fn unblock_recovery(
                    &self,
                    account: &AccountId,
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin().await?;
                    let done = sqlx::query(
                        "UPDATE accounts SET recovery_blocked_at = NULL, recovery_block_since = NULL, \
                         recovery_block_reset_at = NULL WHERE id = $1 AND recovery_blocked_at IS NOT NULL",
                    )
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(true)
                }

                async fn reset_mfa(
                    &self,
                    reset: &MfaReset<'_>,
                    outbox: &[NewOutboxMessage],
                    audit: &AuditRecord,
                ) -> StoreResult<MfaResetOutcome> {
                    let MfaReset { account, devices, blocked, now } = *reset;
                    let mut tx = self.begin().await?;
                    if !lock_account(&mut tx, account, now).await? {
                        return Ok(MfaResetOutcome::NoAccount);
                    }
                    // What the notice describes must still be true under the lock.
                    let mut active: Vec<String> = sqlx::query(
                        "SELECT id FROM mfa_devices WHERE account_id = $1 AND removed_at IS NULL",
                    )
                    .bind(account.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .iter()
                    .map(|row| row.try_get("id").map_err(db_error))
                    .collect::<StoreResult<_>>()?;
                    let is_blocked = sqlx::query("SELECT recovery_blocked_at FROM accounts WHERE id = $1")
                        .bind(account.as_str())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_error)?
                        .try_get::<Option<i64>, _>("recovery_blocked_at")
                        .map_err(db_error)?
                        .is_some();
                    let mut expected = devices.to_vec();
                    active.sort();
                    expected.sort();
                    if active != expected || is_blocked != blocked {
                        return Ok(MfaResetOutcome::Changed);
                    }
                    sqlx::query(
                        "UPDATE hardware_tokens SET device_id = NULL WHERE device_id IN \
                         (SELECT id FROM mfa_devices WHERE account_id = $1 AND removed_at IS NULL)",
                    )
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    sqlx::query(
                        "UPDATE mfa_devices SET removed_at = $1, secret_sealed = NULL \
                         WHERE account_id = $2 AND removed_at IS NULL",
                    )
                    .bind(now.0)
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let sessions_revoked = sqlx::query(
                        "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
                    )
                    .bind(now.0)
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                    // Nothing begun before the reset can be finished after it: not an
                    // enrolment the old session started, nor a sign-in or recovery that
                    // would end in a session the owner did not expect.
                    end_open_activations(&mut tx, account, now).await?;
                    end_what_the_old_password_began(&mut tx, account, now).await?;
                    sqlx::query(
                        "UPDATE accounts SET recovery_blocked_at = NULL, recovery_block_since = NULL, \
                         recovery_block_reset_at = NULL WHERE id = $1",
                    )
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    insert_outbox(&mut tx, outbox).await?;
                    insert_audit(&mut tx, audit).await?;
                    commit(tx).await?;
                    Ok(MfaResetOutcome::Reset { sessions_revoked })
                }
            }
        };
    };
}

pub(crate) use sql_store;
