//! Contact changes: requested, proven, applied, put back.

use async_trait::async_trait;
use latchkey_domain::contact_change::{ContactKind, MFA_FRESHNESS};
use latchkey_domain::{AccountId, Timestamp};
use latchkey_service::TokenHash;
use latchkey_service::store::*;
use sqlx::Row;

use super::accounts::{end_what_the_old_password_began, lock_account_row, set_password};
use super::audit::insert_audit;
use super::devices::{end_open_activations, remove_devices_since};
use super::outbox::insert_outbox;
use super::sessions::{revoke_all_sessions, session_is_live};
use super::{Backend, DbRow, Tx, commit, commit_if, corrupt};
use crate::db_error;

const SELECT_CHANGES: &str = "SELECT id, account_id, kind, new_value, created_at, expires_at, \
                              verified_at FROM contact_changes";

fn change_from_row(row: &DbRow) -> StoreResult<ContactChangeRecord> {
    let account: String = row.try_get("account_id").map_err(db_error)?;
    let kind: String = row.try_get("kind").map_err(db_error)?;
    Ok(ContactChangeRecord {
        id: row.try_get("id").map_err(db_error)?,
        account_id: AccountId::parse(&account).ok_or_else(|| corrupt("account id", &account))?,
        kind: ContactKind::parse(&kind).ok_or_else(|| corrupt("contact kind", &kind))?,
        new_value: row.try_get("new_value").map_err(db_error)?,
        created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
        expires_at: Timestamp(row.try_get("expires_at").map_err(db_error)?),
        verified_at: row
            .try_get::<Option<i64>, _>("verified_at")
            .map_err(db_error)?
            .map(Timestamp),
    })
}

/// Cancels the account's contact changes still waiting: every reset of what an intruder may
/// hold (sign out everywhere, a password change or reset, a recovery, a device removed, an
/// operator's reset, `This wasn't me`) ends a change they may have asked for too.
pub(super) async fn cancel_contact_changes(
    tx: &mut Tx,
    account: &AccountId,
    now: Timestamp,
) -> StoreResult<()> {
    super::stamp(
        tx,
        "UPDATE contact_changes SET cancelled_at = $1 WHERE account_id = $2 \
         AND applied_at IS NULL AND cancelled_at IS NULL",
        account,
        now,
    )
    .await?;
    Ok(())
}

/// The contact's current value and the date of its last change (account row locked).
async fn current(
    tx: &mut Tx,
    account: &AccountId,
    kind: ContactKind,
) -> StoreResult<(String, Option<i64>)> {
    let row = sqlx::query(match kind {
        ContactKind::Email => {
            "SELECT email AS value, email_changed_at AS changed_at \
                               FROM accounts WHERE id = $1"
        }
        ContactKind::Phone => {
            "SELECT phone AS value, phone_changed_at AS changed_at \
                               FROM accounts WHERE id = $1"
        }
    })
    .bind(account.as_str())
    .fetch_one(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok((
        row.try_get("value").map_err(db_error)?,
        row.try_get("changed_at").map_err(db_error)?,
    ))
}

/// Whether another account has `email`.
async fn email_taken(tx: &mut Tx, email: &str, account: &AccountId) -> StoreResult<bool> {
    Ok(
        sqlx::query("SELECT 1 AS taken FROM accounts WHERE email = $1 AND id <> $2")
            .bind(email)
            .bind(account.as_str())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?
            .is_some(),
    )
}

/// Sets the contact to `value`, dated `changed_at`; `verified_at` marks it proven.
async fn set_contact(
    tx: &mut Tx,
    account: &AccountId,
    kind: ContactKind,
    value: &str,
    changed_at: Option<i64>,
    verified_at: Option<i64>,
) -> StoreResult<()> {
    let sql = match kind {
        ContactKind::Email => {
            "UPDATE accounts SET email = $1, email_changed_at = $2, \
             email_verified_at = COALESCE($3, email_verified_at) WHERE id = $4"
        }
        ContactKind::Phone => {
            "UPDATE accounts SET phone = $1, phone_changed_at = $2, \
             phone_verified_at = COALESCE($3, phone_verified_at) WHERE id = $4"
        }
    };
    sqlx::query(sql)
        .bind(value)
        .bind(changed_at)
        .bind(verified_at)
        .bind(account.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl ContactChangeStore for Backend {
    async fn begin_contact_change(
        &self,
        change: &NewContactChange,
        asker: &TokenHash,
        (max, since): (u32, Timestamp),
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<ChangeStart> {
        let mut tx = self.begin().await?;
        lock_account_row(&mut tx, &change.account_id).await?;
        if !session_is_live(&mut tx, &change.account_id, asker, change.created_at).await? {
            return Ok(ChangeStart::SessionGone);
        }
        let asked = super::count_since(
            &mut tx,
            "SELECT COUNT(*) AS n FROM contact_changes WHERE account_id = $1 AND created_at >= $2",
            &change.account_id,
            since,
        )
        .await?;
        if asked >= i64::from(max) {
            return Ok(ChangeStart::OverBudget);
        }
        if change.kind == ContactKind::Email
            && email_taken(&mut tx, &change.new_value, &change.account_id).await?
        {
            return Ok(ChangeStart::EmailTaken);
        }
        sqlx::query(
            "UPDATE contact_changes SET cancelled_at = $1 WHERE account_id = $2 AND kind = $3 \
             AND applied_at IS NULL AND cancelled_at IS NULL",
        )
        .bind(change.created_at.0)
        .bind(change.account_id.as_str())
        .bind(change.kind.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO contact_changes (id, account_id, kind, new_value, proof_hash, \
             requested_from, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&change.id)
        .bind(change.account_id.as_str())
        .bind(change.kind.as_str())
        .bind(&change.new_value)
        .bind(change.proof_hash.as_ref().map(TokenHash::as_str))
        .bind(&change.requested_from)
        .bind(change.created_at.0)
        .bind(change.expires_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_outbox(&mut tx, outbox).await?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(ChangeStart::Started)
    }

    async fn pending_contact_change(
        &self,
        account: &AccountId,
        kind: ContactKind,
        now: Timestamp,
    ) -> StoreResult<Option<ContactChangeRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_CHANGES} WHERE account_id = $1 AND kind = $2 AND applied_at IS NULL \
             AND cancelled_at IS NULL AND expires_at > $3"
        )))
        .bind(account.as_str())
        .bind(kind.as_str())
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(change_from_row)
        .transpose()
    }

    async fn contact_change_by_proof(
        &self,
        proof_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<ContactChangeRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_CHANGES} WHERE proof_hash = $1 AND applied_at IS NULL \
             AND cancelled_at IS NULL AND expires_at > $2"
        )))
        .bind(proof_hash.as_str())
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(change_from_row)
        .transpose()
    }

    async fn apply_contact_change(
        &self,
        apply: &ApplyChange<'_>,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<ChangeApplied> {
        let mut tx = self.begin().await?;
        lock_account_row(&mut tx, apply.account_id).await?;
        let row = sqlx::query(
            "SELECT kind, new_value, proof_hash, verified_at FROM contact_changes \
             WHERE id = $1 AND account_id = $2 AND applied_at IS NULL AND cancelled_at IS NULL \
             AND expires_at > $3",
        )
        .bind(apply.change_id)
        .bind(apply.account_id.as_str())
        .bind(apply.now.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(row) = row else {
            return Ok(ChangeApplied::Gone);
        };
        let kind: String = row.try_get("kind").map_err(db_error)?;
        let kind = ContactKind::parse(&kind).ok_or_else(|| corrupt("contact kind", &kind))?;
        let new_value: String = row.try_get("new_value").map_err(db_error)?;
        let stored_proof: Option<String> = row.try_get("proof_hash").map_err(db_error)?;
        let verified_at: Option<i64> = row.try_get("verified_at").map_err(db_error)?;
        // The proof: the new address's link, or the new number's answered call.
        let proven = match kind {
            ContactKind::Email => {
                stored_proof.is_some()
                    && stored_proof.as_deref() == apply.proof_hash.map(|h| h.as_str())
            }
            ContactKind::Phone => verified_at.is_some(),
        };
        let (old_value, old_changed_at) = current(&mut tx, apply.account_id, kind).await?;
        if !proven || old_value != apply.expected_old {
            return Ok(ChangeApplied::Gone);
        }
        if kind == ContactKind::Email && email_taken(&mut tx, &new_value, apply.account_id).await? {
            return Ok(ChangeApplied::EmailTaken);
        }
        // Numbered under the account's lock: an undo needs their order, which whole-second
        // times cannot give.
        sqlx::query(
            "UPDATE contact_changes SET applied_at = $1, old_value = $2, old_changed_at = $3, \
             revert_hash = $4, revert_expires_at = $5, applied_order = (SELECT \
             COALESCE(MAX(c.applied_order), 0) + 1 FROM contact_changes c \
             WHERE c.account_id = $6) WHERE id = $7",
        )
        .bind(apply.now.0)
        .bind(&old_value)
        .bind(old_changed_at)
        .bind(apply.revert_hash.as_str())
        .bind(apply.revert_expires_at.0)
        .bind(apply.account_id.as_str())
        .bind(apply.change_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        set_contact(
            &mut tx,
            apply.account_id,
            kind,
            &new_value,
            Some(apply.now.0),
            Some(apply.now.0),
        )
        .await?;
        // What was sent to the old contact or begun with it ends: reset and recovery links
        // in the old inbox, recovery flows calling the old number.
        sqlx::query(
            "UPDATE recovery_flows SET state = 'cancelled', cancelled_at = $1 WHERE account_id = $2 \
             AND state IN ('email_pending', 'email_verified', 'phone_verified')",
        )
        .bind(apply.now.0)
        .bind(apply.account_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if kind == ContactKind::Email {
            super::accounts::kill_unused_links(&mut tx, apply.account_id, apply.now).await?;
        }
        insert_outbox(&mut tx, outbox).await?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(ChangeApplied::Applied)
    }

    async fn revert_contact_change(
        &self,
        revert: &RevertChange<'_>,
        notices: &(dyn for<'r> Fn(&'r ChangeReverted) -> Vec<NewOutboxMessage> + Send + Sync),
        audit: &AuditRecord,
    ) -> StoreResult<Option<ChangeReverted>> {
        let now = revert.now;
        let mut tx = self.begin().await?;
        // The account first, then the change: two reverts of one account queue on its row
        // instead of each holding a change the other needs.
        let Some(found) = sqlx::query(
            "SELECT account_id, created_at, applied_order FROM contact_changes \
             WHERE revert_hash = $1 AND reverted_at IS NULL AND revert_expires_at > $2",
        )
        .bind(revert.revert_hash.as_str())
        .bind(now.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?
        else {
            return Ok(None);
        };
        let account: String = found.try_get("account_id").map_err(db_error)?;
        let account = AccountId::parse(&account).ok_or_else(|| corrupt("account id", &account))?;
        let requested_at: i64 = found.try_get("created_at").map_err(db_error)?;
        let order: Option<i64> = found.try_get("applied_order").map_err(db_error)?;
        let order = order.ok_or_else(|| corrupt("revert link", "change not applied"))?;
        lock_account_row(&mut tx, &account).await?;
        let consumed = sqlx::query(
            "UPDATE contact_changes SET reverted_at = $1 WHERE revert_hash = $2 \
             AND reverted_at IS NULL AND revert_expires_at > $3",
        )
        .bind(now.0)
        .bind(revert.revert_hash.as_str())
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if consumed.rows_affected() != 1 {
            return Ok(None);
        }
        // This change and every one applied after it whose own link still works: whoever
        // made this one may have made those, and their links went to the contacts they had
        // just taken. Each contact goes back to what it had before the earliest of them.
        let rows = sqlx::query(
            "SELECT kind, old_value FROM contact_changes WHERE account_id = $1 \
             AND applied_order >= $2 AND revert_expires_at > $3 \
             AND (reverted_at IS NULL OR revert_hash = $4) ORDER BY applied_order",
        )
        .bind(account.as_str())
        .bind(order)
        .bind(now.0)
        .bind(revert.revert_hash.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let mut earliest: Vec<(ContactKind, String)> = Vec::new();
        for row in &rows {
            let kind: String = row.try_get("kind").map_err(db_error)?;
            let kind = ContactKind::parse(&kind).ok_or_else(|| corrupt("contact kind", &kind))?;
            if earliest.iter().any(|(k, _)| *k == kind) {
                continue;
            }
            let old: Option<String> = row.try_get("old_value").map_err(db_error)?;
            earliest.push((
                kind,
                old.ok_or_else(|| corrupt("applied change", "no old value"))?,
            ));
        }
        sqlx::query(
            "UPDATE contact_changes SET reverted_at = $1 WHERE account_id = $2 \
             AND applied_order >= $3 AND reverted_at IS NULL",
        )
        .bind(now.0)
        .bind(account.as_str())
        .bind(order)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let row = sqlx::query("SELECT email, name FROM accounts WHERE id = $1")
            .bind(account.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let replaced_email: String = row.try_get("email").map_err(db_error)?;
        let account_name: String = row.try_get("name").map_err(db_error)?;
        let mut restored = Vec::new();
        for (kind, value) in earliest {
            if kind == ContactKind::Email {
                // A sign-up that took the freed address while it waited for its link must
                // not keep the owner from getting it back.
                sqlx::query(
                    "DELETE FROM accounts WHERE email = $1 AND id <> $2 \
                     AND status = 'pending_verification' AND disabled_at IS NULL",
                )
                .bind(&value)
                .bind(account.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                if email_taken(&mut tx, &value, &account).await? {
                    // Another account verified the address meanwhile: undoing the rest and
                    // disabling the password would leave the owner no way in, so nothing is
                    // undone (the link stays usable) and the operator must step in.
                    return Err(StoreError::Conflict("email"));
                }
            }
            // Dated now: a contact put back by whoever held the link waits like a new one.
            set_contact(&mut tx, &account, kind, &value, Some(now.0), None).await?;
            restored.push((kind, value));
        }
        // What was added since the change was asked for goes, as after `This wasn't me` on
        // a recovery: devices, and everything begun with the password.
        // The session that asked was signed in with MFA at most this long before: devices it
        // added before asking go too.
        let since = requested_at - MFA_FRESHNESS.0;
        let removed = remove_devices_since(&mut tx, &account, since, now).await?;
        super::oidc_grants::withdraw_consents_since(&mut tx, &account, since).await?;
        end_open_activations(&mut tx, &account, now).await?;
        end_what_the_old_password_began(&mut tx, &account, now).await?;
        super::accounts::kill_unused_links(&mut tx, &account, now).await?;
        // Nobody knows the new password: the owner sets one with `Forgot password?`.
        set_password(&mut tx, &account, revert.revoked_password_hash, now).await?;
        revoke_all_sessions(&mut tx, &account, now).await?;
        let reverted = ChangeReverted {
            account_id: account.clone(),
            account_name,
            restored,
            replaced_email,
            devices_removed: removed.len(),
        };
        let kinds: Vec<&str> = reverted.restored.iter().map(|(k, _)| k.as_str()).collect();
        let audit = AuditRecord {
            account_id: Some(account),
            detail: kinds.join(","),
            ..audit.clone()
        };
        commit_if(tx, true, &notices(&reverted), &audit).await?;
        Ok(Some(reverted))
    }

    async fn contact_revert_is_live(
        &self,
        revert_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<bool> {
        Ok(sqlx::query(
            "SELECT 1 AS live FROM contact_changes WHERE revert_hash = $1 \
             AND reverted_at IS NULL AND revert_expires_at > $2",
        )
        .bind(revert_hash.as_str())
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .is_some())
    }
}
