//! `OidcGrantStore`: consents, authorization codes and the tokens issued from them. A code
//! is used and a refresh token rotated by one conditional write in the transaction that
//! issues their successors, so a second use can never issue twice and always revokes.

use async_trait::async_trait;
use latchkey_domain::{AccountId, Timestamp};
use latchkey_service::TokenHash;
use latchkey_service::store::*;
use sqlx::Row;

use super::audit::insert_audit;
use super::{Backend, DbRow, Tx, commit, corrupt};
use crate::db_error;

fn account(row: &DbRow) -> StoreResult<AccountId> {
    let id: String = row.try_get("account_id").map_err(db_error)?;
    AccountId::parse(&id).ok_or_else(|| corrupt("account id", &id))
}

fn optional_time(row: &DbRow, name: &str) -> StoreResult<Option<Timestamp>> {
    Ok(row
        .try_get::<Option<i64>, _>(name)
        .map_err(db_error)?
        .map(Timestamp))
}

fn code_from_row(row: &DbRow) -> StoreResult<OidcCode> {
    Ok(OidcCode {
        code_hash: TokenHash(row.try_get("code_hash").map_err(db_error)?),
        client_id: row.try_get("client_id").map_err(db_error)?,
        account_id: account(row)?,
        session_hash: TokenHash(row.try_get("session_hash").map_err(db_error)?),
        redirect_uri: row.try_get("redirect_uri").map_err(db_error)?,
        scope: row.try_get("scope").map_err(db_error)?,
        nonce: row.try_get("nonce").map_err(db_error)?,
        code_challenge: row.try_get("code_challenge").map_err(db_error)?,
        created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
        expires_at: Timestamp(row.try_get("expires_at").map_err(db_error)?),
        used_at: optional_time(row, "used_at")?,
    })
}

fn token_from_row(row: &DbRow) -> StoreResult<OidcToken> {
    let kind: String = row.try_get("kind").map_err(db_error)?;
    Ok(OidcToken {
        token_hash: TokenHash(row.try_get("token_hash").map_err(db_error)?),
        kind: OidcTokenKind::parse(&kind).ok_or_else(|| corrupt("token kind", &kind))?,
        client_id: row.try_get("client_id").map_err(db_error)?,
        account_id: account(row)?,
        session_hash: TokenHash(row.try_get("session_hash").map_err(db_error)?),
        family: row.try_get("family").map_err(db_error)?,
        scope: row.try_get("scope").map_err(db_error)?,
        created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
        expires_at: Timestamp(row.try_get("expires_at").map_err(db_error)?),
        used_at: optional_time(row, "used_at")?,
        revoked_at: optional_time(row, "revoked_at")?,
    })
}

async fn insert_tokens(tx: &mut Tx, tokens: &[OidcToken]) -> StoreResult<()> {
    for token in tokens {
        sqlx::query(
            "INSERT INTO oidc_tokens (token_hash, kind, client_id, account_id, session_hash, \
             family, scope, created_at, expires_at, used_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL)",
        )
        .bind(token.token_hash.as_str())
        .bind(token.kind.as_str())
        .bind(&token.client_id)
        .bind(token.account_id.as_str())
        .bind(token.session_hash.as_str())
        .bind(&token.family)
        .bind(&token.scope)
        .bind(token.created_at.0)
        .bind(token.expires_at.0)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

/// An undo (`This wasn't me` on a recovery or a contact change) withdraws the consents given
/// since `since`: the intruder's, from the sessions it held. The tokens issued from those
/// sessions end with them; the consents would otherwise let the applications in without
/// asking the owner.
pub(super) async fn withdraw_consents_since(
    tx: &mut Tx,
    account: &AccountId,
    since: i64,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM oidc_consents WHERE account_id = $1 AND granted_at >= $2")
        .bind(account.as_str())
        .bind(since)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Takes the lock of the session a code or token came from, while it is not revoked:
/// `false` once it was signed out (or is gone). Issuing under that lock means a sign-out
/// either commits first, and nothing is issued, or waits until the issue has committed, and
/// then revokes the session the new tokens depend on.
async fn lock_live_session(tx: &mut Tx, session_of: &'static str, key: &str) -> StoreResult<bool> {
    let locked = sqlx::query(session_of)
        .bind(key)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(locked.rows_affected() == 1)
}

async fn revoke_family(tx: &mut Tx, family: &str, now: Timestamp) -> StoreResult<()> {
    let owners = sqlx::query(
        "UPDATE oidc_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL \
         RETURNING account_id",
    )
    .bind(now.0)
    .bind(family)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?;
    note_token_owners(tx, &owners)
}

/// Notes the accounts whose tokens a statement revoked (`account_id` of each row it
/// returned): what this process keeps of those tokens is dropped when the transaction
/// commits.
pub(super) fn note_token_owners(tx: &mut Tx, owners: &[DbRow]) -> StoreResult<()> {
    for row in owners {
        let owner: String = row.try_get("account_id").map_err(db_error)?;
        let owner = AccountId::parse(&owner).ok_or_else(|| corrupt("account id", &owner))?;
        tx.note_change(&owner);
    }
    Ok(())
}

/// What the conditional update of a single-use secret (a code, a refresh token) found.
enum Spending {
    /// Unused and live: spent by this transaction.
    Now,
    /// Spent before: the family it began or belongs to.
    Before(String),
    /// Unknown, expired, revoked or another client's.
    Refused,
}

enum Settled {
    Issued,
    Revoked,
    Refused,
}

/// The end of spending a code or a refresh token, in its transaction: spent now, its
/// successors are inserted with `issued`; spent before, its whole family is revoked with
/// `replayed`; otherwise nothing is written.
async fn settle(
    mut tx: Tx,
    spending: Spending,
    tokens: &[OidcToken],
    now: Timestamp,
    issued: &AuditRecord,
    replayed: &AuditRecord,
) -> StoreResult<Settled> {
    let settled = match spending {
        Spending::Now => {
            insert_tokens(&mut tx, tokens).await?;
            insert_audit(&mut tx, issued).await?;
            Settled::Issued
        }
        Spending::Before(family) => {
            revoke_family(&mut tx, &family, now).await?;
            insert_audit(&mut tx, replayed).await?;
            Settled::Revoked
        }
        Spending::Refused => return Ok(Settled::Refused),
    };
    commit(tx).await?;
    Ok(settled)
}

#[async_trait]
impl OidcGrantStore for Backend {
    async fn oidc_consent(
        &self,
        account: &AccountId,
        client_id: &str,
    ) -> StoreResult<Option<String>> {
        sqlx::query("SELECT scope FROM oidc_consents WHERE account_id = $1 AND client_id = $2")
            .bind(account.as_str())
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .map(|row| row.try_get("scope").map_err(db_error))
            .transpose()
    }

    async fn grant_oidc_consent(
        &self,
        account: &AccountId,
        client_id: &str,
        scope: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO oidc_consents (account_id, client_id, scope, granted_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, client_id) \
             DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(account.as_str())
        .bind(client_id)
        .bind(scope)
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn insert_oidc_code(&self, code: &OidcCode, audit: &AuditRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO oidc_codes (code_hash, client_id, account_id, session_hash, \
             redirect_uri, scope, nonce, code_challenge, created_at, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)",
        )
        .bind(code.code_hash.as_str())
        .bind(&code.client_id)
        .bind(code.account_id.as_str())
        .bind(code.session_hash.as_str())
        .bind(&code.redirect_uri)
        .bind(&code.scope)
        .bind(code.nonce.as_deref())
        .bind(code.code_challenge.as_deref())
        .bind(code.created_at.0)
        .bind(code.expires_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn oidc_code(&self, code_hash: &TokenHash) -> StoreResult<Option<OidcCode>> {
        sqlx::query(
            "SELECT code_hash, client_id, account_id, session_hash, redirect_uri, scope, nonce, \
             code_challenge, created_at, expires_at, used_at FROM oidc_codes WHERE code_hash = $1",
        )
        .bind(code_hash.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(code_from_row)
        .transpose()
    }

    async fn exchange_oidc_code(
        &self,
        code_hash: &TokenHash,
        client_id: &str,
        now: Timestamp,
        tokens: &[OidcToken],
        issued: &AuditRecord,
        replayed: &AuditRecord,
    ) -> StoreResult<CodeExchange> {
        let mut tx = self.begin().await?;
        let live = lock_live_session(
            &mut tx,
            "UPDATE sessions SET last_seen_at = last_seen_at WHERE revoked_at IS NULL \
             AND token_hash = (SELECT session_hash FROM oidc_codes WHERE code_hash = $1)",
            code_hash.as_str(),
        )
        .await?;
        if !live {
            return Ok(CodeExchange::Refused);
        }
        let used = sqlx::query(
            "UPDATE oidc_codes SET used_at = $1 WHERE code_hash = $2 AND client_id = $3 \
             AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now.0)
        .bind(code_hash.as_str())
        .bind(client_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let spending = if used.rows_affected() == 1 {
            Spending::Now
        } else {
            // Not usable: a code used before (by anyone) means it leaked, and what it
            // issued goes. The row lock the update waited on makes the winner's tokens
            // visible here.
            let was_used = sqlx::query(
                "SELECT 1 FROM oidc_codes WHERE code_hash = $1 AND used_at IS NOT NULL",
            )
            .bind(code_hash.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?
            .is_some();
            match was_used {
                true => Spending::Before(code_hash.as_str().to_owned()),
                false => Spending::Refused,
            }
        };
        Ok(
            match settle(tx, spending, tokens, now, issued, replayed).await? {
                Settled::Issued => CodeExchange::Issued,
                Settled::Revoked => CodeExchange::Replayed,
                Settled::Refused => CodeExchange::Refused,
            },
        )
    }

    async fn oidc_token(&self, token_hash: &TokenHash) -> StoreResult<Option<OidcToken>> {
        sqlx::query(
            "SELECT token_hash, kind, client_id, account_id, session_hash, family, scope, \
             created_at, expires_at, used_at, revoked_at FROM oidc_tokens WHERE token_hash = $1",
        )
        .bind(token_hash.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(token_from_row)
        .transpose()
    }

    async fn rotate_oidc_refresh(
        &self,
        token_hash: &TokenHash,
        client_id: &str,
        now: Timestamp,
        tokens: &[OidcToken],
        rotated: &AuditRecord,
        reused: &AuditRecord,
    ) -> StoreResult<RefreshRotation> {
        let mut tx = self.begin().await?;
        let live = lock_live_session(
            &mut tx,
            "UPDATE sessions SET last_seen_at = last_seen_at WHERE revoked_at IS NULL \
             AND token_hash = (SELECT session_hash FROM oidc_tokens WHERE token_hash = $1)",
            token_hash.as_str(),
        )
        .await?;
        if !live {
            return Ok(RefreshRotation::Refused);
        }
        let used = sqlx::query(
            "UPDATE oidc_tokens SET used_at = $1 WHERE token_hash = $2 AND client_id = $3 \
             AND kind = 'refresh' AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now.0)
        .bind(token_hash.as_str())
        .bind(client_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let spending = if used.rows_affected() == 1 {
            Spending::Now
        } else {
            let family: Option<String> = sqlx::query(
                "SELECT family FROM oidc_tokens WHERE token_hash = $1 AND client_id = $2 \
                 AND kind = 'refresh' AND used_at IS NOT NULL",
            )
            .bind(token_hash.as_str())
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?
            .map(|row| row.try_get("family"))
            .transpose()
            .map_err(db_error)?;
            family.map_or(Spending::Refused, Spending::Before)
        };
        Ok(
            match settle(tx, spending, tokens, now, rotated, reused).await? {
                Settled::Issued => RefreshRotation::Rotated,
                Settled::Revoked => RefreshRotation::Reused,
                Settled::Refused => RefreshRotation::Refused,
            },
        )
    }
}
