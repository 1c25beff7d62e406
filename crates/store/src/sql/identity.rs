//! `IdentityStore`: a session, its account and its device's kind in one statement, because
//! forward-auth asks on every request an application serves.

use async_trait::async_trait;
use latchkey_domain::EmailAddress;
use latchkey_domain::mfa::DeviceKind;
use latchkey_service::TokenHash;
use latchkey_service::store::*;
use sqlx::Row;

use super::sessions::session_from_row;
use super::{Backend, corrupt};
use crate::db_error;

#[async_trait]
impl IdentityStore for Backend {
    async fn session_identity(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<SessionIdentityRecord>> {
        let row = sqlx::query(
            "SELECT s.token_hash, s.account_id, s.kind, s.created_at, s.last_seen_at, \
             s.expires_at, s.revoked_at, s.mfa_device_id, a.email, a.name, \
             a.email_verified_at, d.kind AS device_kind \
             FROM sessions s JOIN accounts a ON a.id = s.account_id \
             LEFT JOIN mfa_devices d ON d.id = s.mfa_device_id \
             WHERE s.token_hash = $1",
        )
        .bind(token_hash.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let email: String = row.try_get("email").map_err(db_error)?;
        let device_kind = match row
            .try_get::<Option<String>, _>("device_kind")
            .map_err(db_error)?
        {
            Some(kind) => {
                Some(DeviceKind::parse(&kind).ok_or_else(|| corrupt("device kind", &kind))?)
            }
            None => None,
        };
        Ok(Some(SessionIdentityRecord {
            session: session_from_row(&row)?,
            email: EmailAddress::parse(&email).map_err(|_| corrupt("email", &email))?,
            name: row.try_get("name").map_err(db_error)?,
            email_verified: row
                .try_get::<Option<i64>, _>("email_verified_at")
                .map_err(db_error)?
                .is_some(),
            device_kind,
        }))
    }
}
