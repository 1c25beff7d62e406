//! Accounts and their emailed links: sign-up, verification, password set and reset.

use async_trait::async_trait;
use latchkey_domain::token::TokenPurpose;
use latchkey_domain::{AccountId, AccountStatus, EmailAddress, PhoneNumber, Timestamp};
use latchkey_service::TokenHash;
use latchkey_service::store::*;
use sqlx::Row;

use super::audit::insert_audit;
use super::devices::end_open_activations;
use super::outbox::insert_outbox;
use super::sessions::session_is_live;
use super::{Backend, DbRow, Tx, commit, corrupt, stamp};
use crate::db_error;

pub(super) fn account_from_row(row: &DbRow) -> StoreResult<AccountRecord> {
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
        status: AccountStatus::parse(&status).ok_or_else(|| corrupt("account status", &status))?,
        password_hash: row.try_get("password_hash").map_err(db_error)?,
        created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
        password_changed_at: Timestamp(row.try_get("password_changed_at").map_err(db_error)?),
        password_generation: row.try_get("password_generation").map_err(db_error)?,
        email_changed_at: row
            .try_get::<Option<i64>, _>("email_changed_at")
            .map_err(db_error)?
            .map(Timestamp),
        phone_changed_at: row
            .try_get::<Option<i64>, _>("phone_changed_at")
            .map_err(db_error)?
            .map(Timestamp),
        disabled_at: row
            .try_get::<Option<i64>, _>("disabled_at")
            .map_err(db_error)?
            .map(Timestamp),
    })
}

pub(super) async fn insert_token(tx: &mut Tx, token: &NewEmailToken) -> StoreResult<()> {
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
pub(super) async fn consume_token(
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

/// Takes the account row's write lock (PostgreSQL; SQLite's `BEGIN IMMEDIATE`
/// already serialises writers), so that checks over the account's devices and
/// the change that follows them cannot interleave with another transaction's.
pub(super) async fn lock_account(
    tx: &mut Tx,
    account: &AccountId,
    now: Timestamp,
) -> StoreResult<bool> {
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
pub(super) async fn lock_account_row(tx: &mut Tx, account: &AccountId) -> StoreResult<()> {
    // Whatever takes the lock changes the account (or checks before it would): what this
    // process keeps about it is dropped when the transaction commits.
    tx.note_change(account);
    sqlx::query("UPDATE accounts SET status = status WHERE id = $1")
        .bind(account.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Takes the account row's lock, as `lock_account_row` does, and answers whether the
/// account is enabled: everything that would give a disabled account a way in (a session,
/// a mailed link, a new password, a recovery flow) checks it here, under the lock a
/// disable takes too, so it either sees the disable or the disable sees what it wrote.
pub(super) async fn lock_enabled_account(tx: &mut Tx, account: &AccountId) -> StoreResult<bool> {
    tx.note_change(account);
    let enabled =
        sqlx::query("UPDATE accounts SET status = status WHERE id = $1 AND disabled_at IS NULL")
            .bind(account.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    Ok(enabled.rows_affected() == 1)
}

/// Every link mailed to the account and not used yet stops working (a reset, a sign-up
/// continuation, a new address's confirmation).
pub(super) async fn kill_unused_links(
    tx: &mut Tx,
    account: &AccountId,
    now: Timestamp,
) -> StoreResult<()> {
    stamp(
        tx,
        "UPDATE email_tokens SET invalidated_at = $1 WHERE account_id = $2 \
         AND used_at IS NULL AND invalidated_at IS NULL",
        account,
        now,
    )
    .await?;
    Ok(())
}

/// A new password ends what the old one began: sign-in attempts waiting for a code
/// and recovery flows still running (they were started with the old password).
pub(super) async fn end_what_the_old_password_began(
    tx: &mut Tx,
    account: &AccountId,
    now: Timestamp,
) -> StoreResult<()> {
    for statement in [
        "UPDATE sign_in_attempts SET completed_at = $1 WHERE account_id = $2 AND completed_at IS NULL",
        "UPDATE recovery_flows SET state = 'cancelled', cancelled_at = $1 WHERE account_id = $2 \
         AND state IN ('email_pending', 'email_verified', 'phone_verified')",
    ] {
        stamp(tx, statement, account, now).await?;
    }
    super::contact_changes::cancel_contact_changes(tx, account, now).await
}

/// Sets a new password hash and moves the generation on, so that whatever was checked
/// against the old password (see `lock_for_sign_in`) cannot land after it.
pub(super) async fn set_password(
    tx: &mut Tx,
    account: &AccountId,
    password_hash: &str,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE accounts SET password_hash = $1, password_changed_at = $2, \
         password_generation = password_generation + 1 WHERE id = $3",
    )
    .bind(password_hash)
    .bind(now.0)
    .bind(account.as_str())
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// What a sign-in finds when it locks the account row to write what its password check
/// began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SignInLock {
    /// The password is still the one checked and the account is enabled.
    Holds,
    /// The password changed while it was being checked.
    PasswordChanged,
    /// An operator disabled the account meanwhile.
    Disabled,
}

/// Locks the account row and says whether the sign-in may go on: every password change
/// (reset, change, `This wasn't me`) and every disable takes the same lock, so what follows
/// in this transaction cannot outlive one. The lock and both reads in one statement, as
/// `lock_account_row` locks.
pub(super) async fn lock_for_sign_in(
    tx: &mut Tx,
    account: &AccountId,
    password_generation: i64,
) -> StoreResult<SignInLock> {
    tx.note_change(account);
    let row = sqlx::query(
        "UPDATE accounts SET status = status WHERE id = $1 \
         RETURNING password_generation, disabled_at",
    )
    .bind(account.as_str())
    .fetch_one(&mut **tx)
    .await
    .map_err(db_error)?;
    let disabled: Option<i64> = row.try_get("disabled_at").map_err(db_error)?;
    let current: i64 = row.try_get("password_generation").map_err(db_error)?;
    Ok(if disabled.is_some() {
        SignInLock::Disabled
    } else if current == password_generation {
        SignInLock::Holds
    } else {
        SignInLock::PasswordChanged
    })
}

#[async_trait]
impl AccountStore for Backend {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
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
             AND status = 'pending_verification' AND created_at < $2 AND disabled_at IS NULL",
        )
        .bind(email.as_str())
        .bind(created_before.0)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn account_by_email(&self, email: &EmailAddress) -> StoreResult<Option<AccountRecord>> {
        self.one(
            concat!(crate::columns::select_accounts!(), " WHERE email = $1"),
            email.as_str(),
            account_from_row,
        )
        .await
    }

    async fn account_by_id(&self, id: &AccountId) -> StoreResult<Option<AccountRecord>> {
        self.one(
            concat!(crate::columns::select_accounts!(), " WHERE id = $1"),
            id.as_str(),
            account_from_row,
        )
        .await
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
        if !lock_enabled_account(&mut tx, &token.account_id).await? {
            return Ok(false);
        }
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
        if !consume_token(&mut tx, token_hash, account, TokenPurpose::VerifyEmail, now).await? {
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
        if !lock_enabled_account(&mut tx, &token.account_id).await? {
            return Err(StoreError::AccountDisabled);
        }
        insert_token(&mut tx, token).await?;
        commit(tx).await
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
        // deadlock with `This wasn't me` or a sign-in. No password is set while the
        // account is disabled.
        if !lock_enabled_account(&mut tx, account).await? {
            return Ok(false);
        }
        if !consume_token(
            &mut tx,
            token_hash,
            account,
            TokenPurpose::ResetPassword,
            now,
        )
        .await?
        {
            return Ok(false);
        }
        set_password(&mut tx, account, password_hash, now).await?;
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
        set_password(&mut tx, account, password_hash, now).await?;
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
}
