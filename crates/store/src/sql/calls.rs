//! Verification calls: placed within budgets, claimed, bound to the provider's call, answered.

use async_trait::async_trait;
use latchkey_domain::{AccountId, CallId, Timestamp};
use latchkey_service::store::*;
use sqlx::Row;

use super::audit::insert_audit;
use super::outbox::insert_outbox;
use super::{Backend, DbRow, commit, commit_if, corrupt};
use crate::db_error;

pub(super) fn call_from_row(row: &DbRow) -> StoreResult<CallRecord> {
    let account: String = row.try_get("account_id").map_err(db_error)?;
    let purpose: String = row.try_get("purpose").map_err(db_error)?;
    let status: String = row.try_get("status").map_err(db_error)?;
    Ok(CallRecord {
        id: CallId::new(row.try_get::<String, _>("id").map_err(db_error)?),
        account_id: AccountId::parse(&account).ok_or_else(|| corrupt("account id", &account))?,
        purpose: CallPurpose::parse(&purpose).ok_or_else(|| corrupt("call purpose", &purpose))?,
        flow_id: row.try_get("flow_id").map_err(db_error)?,
        to_number: row.try_get("to_number").map_err(db_error)?,
        code_hash: row.try_get("code_hash").map_err(db_error)?,
        code_expires_at: Timestamp(row.try_get("code_expires_at").map_err(db_error)?),
        provider_call_id: row.try_get("provider_call_id").map_err(db_error)?,
        status: parse_status(&status).ok_or_else(|| corrupt("call status", &status))?,
        digit_attempts: u32::try_from(row.try_get::<i64, _>("digit_attempts").map_err(db_error)?)
            .unwrap_or(u32::MAX),
        created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
    })
}

#[async_trait]
impl CallStore for Backend {
    async fn latest_account_call(
        &self,
        account: &AccountId,
        purpose: CallPurpose,
    ) -> StoreResult<Option<CallRecord>> {
        sqlx::query(concat!(
            crate::columns::select_calls!(),
            " \
             WHERE account_id = $1 AND purpose = $2 ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(account.as_str())
        .bind(purpose.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(call_from_row)
        .transpose()
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
                 AND purpose = $3 AND status IN ('queued', 'dialling', 'placed')",
            )
            .bind(now.0)
            .bind(call.account_id.as_str())
            .bind(purpose),
        };
        superseded.execute(&mut *tx).await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO calls (id, account_id, purpose, flow_id, to_number, code_hash, \
             code_expires_at, status, created_at, client_network) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(call.id.as_str())
        .bind(call.account_id.as_str())
        .bind(purpose)
        .bind(&call.flow_id)
        .bind(&call.to_number)
        .bind(&call.code_hash)
        .bind(call.code_expires_at.0)
        .bind(status_column(CallStatus::Queued))
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

    async fn call(&self, id: &CallId) -> StoreResult<Option<CallRecord>> {
        self.one(
            concat!(crate::columns::select_calls!(), " WHERE id = $1"),
            id.as_str(),
            call_from_row,
        )
        .await
    }

    async fn latest_call(&self, flow_id: &str) -> StoreResult<Option<CallRecord>> {
        sqlx::query(concat!(
            crate::columns::select_calls!(),
            " WHERE flow_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(flow_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(call_from_row)
        .transpose()
    }

    async fn claim_call(&self, id: &CallId, now: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE calls SET status = 'dialling', placed_at = $1 WHERE id = $2 \
             AND status = 'queued' AND code_expires_at > $3",
        )
        .bind(now.0)
        .bind(id.as_str())
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_call(&self, id: &CallId) -> StoreResult<()> {
        sqlx::query(
            "UPDATE calls SET status = 'queued', placed_at = NULL WHERE id = $1 \
             AND status = 'dialling' AND provider_call_id IS NULL",
        )
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn bind_call(
        &self,
        id: &CallId,
        provider_call_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE calls SET provider_call_id = $1, status = 'placed', \
             placed_at = COALESCE(placed_at, $2) \
             WHERE id = $3 AND status IN ('queued', 'dialling') AND provider_call_id IS NULL",
        )
        .bind(provider_call_id)
        .bind(now.0)
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn end_call(&self, id: &CallId, status: CallStatus, now: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE calls SET status = $1, ended_at = $2 WHERE id = $3 \
             AND status IN ('queued', 'dialling', 'placed')",
        )
        .bind(status_column(status))
        .bind(now.0)
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn reserve_digit_attempt(
        &self,
        call_id: &CallId,
        expected: u32,
        max: u32,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE calls SET digit_attempts = digit_attempts + 1 WHERE id = $1 \
             AND status = 'placed' AND digit_attempts = $2 AND digit_attempts < $3 \
             AND code_expires_at > $4",
        )
        .bind(call_id.as_str())
        .bind(i64::from(expected))
        .bind(i64::from(max))
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_wrong_digits(
        &self,
        call_id: &CallId,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
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
        .bind(call_id.as_str())
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn verify_call(
        &self,
        call_id: &CallId,
        provider_call_id: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let verified = sqlx::query(
            "UPDATE calls SET status = 'verified', verified_at = $1 WHERE id = $2 \
             AND provider_call_id = $3 AND status = 'placed' AND code_expires_at > $4",
        )
        .bind(now.0)
        .bind(call_id.as_str())
        .bind(provider_call_id)
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if verified.rows_affected() != 1 {
            return Ok(false);
        }
        let purpose: String = sqlx::query("SELECT purpose FROM calls WHERE id = $1")
            .bind(call_id.as_str())
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
            .bind(call_id.as_str())
            .bind(now.0),
            Some(CallPurpose::SignUp) => sqlx::query(
                "UPDATE accounts SET phone_verified_at = $1, status = 'active' \
                 WHERE id = (SELECT account_id FROM calls WHERE id = $2) \
                 AND phone_verified_at IS NULL AND email_verified_at IS NOT NULL \
                 AND disabled_at IS NULL",
            )
            .bind(now.0)
            .bind(call_id.as_str()),
            // The new number is proven; the owner still confirms the change.
            Some(CallPurpose::ContactChange) => sqlx::query(
                "UPDATE contact_changes SET verified_at = $1 \
                 WHERE id = (SELECT flow_id FROM calls WHERE id = $2) AND kind = 'phone' \
                 AND new_value = (SELECT to_number FROM calls WHERE id = $3) \
                 AND verified_at IS NULL AND applied_at IS NULL AND cancelled_at IS NULL \
                 AND expires_at > $4",
            )
            .bind(now.0)
            .bind(call_id.as_str())
            .bind(call_id.as_str())
            .bind(now.0),
            None => return Err(corrupt("call purpose", &purpose)),
        }
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        commit_if(tx, moved.rows_affected() == 1, &[], audit).await
    }
}

/// How a call's status is stored.
fn status_column(status: CallStatus) -> &'static str {
    match status {
        CallStatus::Queued => "queued",
        CallStatus::Dialling => "dialling",
        CallStatus::Placed => "placed",
        CallStatus::Verified => "verified",
        CallStatus::Failed => "failed",
        CallStatus::Superseded => "superseded",
        CallStatus::Ended => "ended",
    }
}

fn parse_status(text: &str) -> Option<CallStatus> {
    match text {
        "queued" => Some(CallStatus::Queued),
        "dialling" => Some(CallStatus::Dialling),
        "placed" => Some(CallStatus::Placed),
        "verified" => Some(CallStatus::Verified),
        "failed" => Some(CallStatus::Failed),
        "superseded" => Some(CallStatus::Superseded),
        "ended" => Some(CallStatus::Ended),
        _ => None,
    }
}
