//! Recovery flows (sign in using alternative factors) and `This wasn't me`.

use async_trait::async_trait;
use latchkey_domain::lockout::Settle;
use latchkey_domain::recovery::RecoveryState;
use latchkey_domain::{AccountId, FlowId, Timestamp};
use latchkey_service::TokenHash;
use latchkey_service::store::*;
use sqlx::Row;

use super::accounts::lock_account_row;
use super::audit::insert_audit;
use super::devices::{end_open_activations, remove_devices_since};
use super::outbox::insert_outbox;
use super::sessions::{insert_session, revoke_all_sessions};
use super::throttles::settle;
use super::{Backend, DbRow, Tx, commit, commit_if, corrupt};
use crate::db_error;

/// A sign-in with a real factor lifts a `This wasn't me` block only once the owner
/// has also reset the password by email, and only with a device that existed
/// before the suspect recovery began: never with one the intruder added.
pub(super) async fn lift_recovery_block(
    tx: &mut Tx,
    account: &AccountId,
    device_id: &str,
) -> StoreResult<()> {
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

pub(super) fn flow_from_row(row: &DbRow) -> StoreResult<RecoveryFlowRecord> {
    let account: String = row.try_get("account_id").map_err(db_error)?;
    let state: String = row.try_get("state").map_err(db_error)?;
    Ok(RecoveryFlowRecord {
        id: FlowId::new(row.try_get::<String, _>("id").map_err(db_error)?),
        account_id: AccountId::parse(&account).ok_or_else(|| corrupt("account id", &account))?,
        state: RecoveryState::parse(&state).ok_or_else(|| corrupt("recovery state", &state))?,
        created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
        expires_at: Timestamp(row.try_get("expires_at").map_err(db_error)?),
        emails_sent: u32::try_from(row.try_get::<i64, _>("emails_sent").map_err(db_error)?)
            .unwrap_or(u32::MAX),
        email_token_expires_at: row
            .try_get::<Option<i64>, _>("email_token_expires_at")
            .map_err(db_error)?
            .map(Timestamp),
        calls_placed: u32::try_from(row.try_get::<i64, _>("calls_placed").map_err(db_error)?)
            .unwrap_or(u32::MAX),
        source: row.try_get("source").map_err(db_error)?,
        completed_at: row
            .try_get::<Option<i64>, _>("completed_at")
            .map_err(db_error)?
            .map(Timestamp),
        reported_at: row
            .try_get::<Option<i64>, _>("reported_at")
            .map_err(db_error)?
            .map(Timestamp),
        started_from: row.try_get("started_from").map_err(db_error)?,
        started_agent: row.try_get("started_agent").map_err(db_error)?,
        cancel_token_hash: TokenHash(row.try_get("cancel_token_hash").map_err(db_error)?),
    })
}

#[async_trait]
impl RecoveryStore for Backend {
    async fn create_recovery_flow(
        &self,
        flow: &NewRecoveryFlow,
        budget: (u32, Timestamp),
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<FlowStart> {
        let (max_flows, since) = budget;
        let mut tx = self.begin().await?;
        if !super::accounts::lock_enabled_account(&mut tx, &flow.account_id).await? {
            return Err(StoreError::AccountDisabled);
        }
        let started = super::count_since(
            &mut tx,
            "SELECT COUNT(*) AS n FROM recovery_flows WHERE account_id = $1 AND created_at >= $2",
            &flow.account_id,
            since,
        )
        .await?;
        if started >= i64::from(max_flows) {
            return Ok(FlowStart::OverBudget);
        }
        let blocked: Option<i64> =
            sqlx::query("SELECT recovery_blocked_at FROM accounts WHERE id = $1")
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
        .bind(flow.id.as_str())
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

    async fn recovery_flow(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<RecoveryFlowRecord>> {
        self.one(
            concat!(crate::columns::select_flows!(), " WHERE token_hash = $1"),
            token_hash.as_str(),
            flow_from_row,
        )
        .await
    }

    async fn recovery_flow_by_email_token(
        &self,
        email_token_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<RecoveryFlowRecord>> {
        sqlx::query(concat!(
            crate::columns::select_flows!(),
            " \
             WHERE email_token_hash = $1 AND state = 'email_pending' \
             AND email_token_expires_at > $2 AND expires_at > $3"
        ))
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

    async fn recovery_flow_by_cancel_token(
        &self,
        cancel_token_hash: &TokenHash,
    ) -> StoreResult<Option<RecoveryFlowRecord>> {
        self.one(
            concat!(
                crate::columns::select_flows!(),
                " WHERE cancel_token_hash = $1"
            ),
            cancel_token_hash.as_str(),
            flow_from_row,
        )
        .await
    }

    async fn record_recovery_email(
        &self,
        email: &RecoveryEmail<'_>,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let RecoveryEmail {
            flow_id,
            token_hash: email_token_hash,
            link_expires_at,
            max_emails,
            now,
        } = *email;
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE recovery_flows SET email_token_hash = $1, email_token_expires_at = $2, \
             emails_sent = emails_sent + 1 WHERE id = $3 AND state = 'email_pending' \
             AND emails_sent < $4 AND expires_at > $5",
        )
        .bind(email_token_hash.as_str())
        .bind(link_expires_at.0)
        .bind(flow_id.as_str())
        .bind(i64::from(max_emails))
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        commit_if(tx, done.rows_affected() == 1, outbox, audit).await
    }

    async fn verify_recovery_email(
        &self,
        flow_id: &FlowId,
        email_token_hash: &TokenHash,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE recovery_flows SET state = 'email_verified', email_verified_at = $1, \
             email_token_hash = NULL WHERE id = $2 AND email_token_hash = $3 \
             AND state = 'email_pending' AND email_token_expires_at > $4 AND expires_at > $5",
        )
        .bind(now.0)
        .bind(flow_id.as_str())
        .bind(email_token_hash.as_str())
        .bind(now.0)
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        commit_if(tx, done.rows_affected() == 1, &[], audit).await
    }

    async fn complete_recovery(
        &self,
        flow_id: &FlowId,
        cooled_since: Timestamp,
        hard_limit: u32,
        session: &NewSession,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<Completion> {
        let now = session.created_at;
        let mut tx = self.begin().await?;
        lock_account_row(&mut tx, &session.account_id).await?;
        let Some(source) = sqlx::query("SELECT source FROM recovery_flows WHERE id = $1")
            .bind(flow_id.as_str())
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
                             AND (a.recovery_blocked_at IS NOT NULL \
                                  OR a.email_changed_at > $5 OR a.phone_changed_at > $6))",
        )
        .bind(now.0)
        .bind(flow_id.as_str())
        .bind(session.account_id.as_str())
        .bind(now.0)
        .bind(cooled_since.0)
        .bind(cooled_since.0)
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
        .bind(flow_id.as_str())
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
        let RecoveryReport {
            flow_id,
            account,
            undo_window,
            revoked_password_hash,
            now,
        } = *report;
        let mut tx = self.begin().await?;
        lock_account_row(&mut tx, account).await?;
        let Some(reported) = sqlx::query(
            "UPDATE recovery_flows SET reported_at = $1 WHERE id = $2 AND account_id = $3 \
             AND reported_at IS NULL AND COALESCE(completed_at, expires_at) + $4 > $5 \
             RETURNING created_at",
        )
        .bind(now.0)
        .bind(flow_id.as_str())
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
        let removed = match completed {
            None => Vec::new(),
            Some(_) => {
                super::oidc_grants::withdraw_consents_since(&mut tx, account, since).await?;
                remove_devices_since(&mut tx, account, since, now).await?
            }
        };
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
            devices_removed: removed
                .into_iter()
                .map(latchkey_domain::DeviceId::new)
                .collect(),
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
            Some(row) => Ok(row
                .try_get::<Option<i64>, _>("recovery_blocked_at")
                .map_err(db_error)?
                .map(Timestamp)),
            None => Ok(None),
        }
    }
}
