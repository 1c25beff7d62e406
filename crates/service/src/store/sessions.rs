//! Sessions: issued after a password-only sign-in, looked up, touched and revoked.

use super::StoreResult;
use super::audit::AuditRecord;
use crate::secrets::TokenHash;
use async_trait::async_trait;
use latchkey_domain::DeviceId;
use latchkey_domain::session::SessionKind;
use latchkey_domain::{AccountId, Timestamp};

#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: TokenHash,
    pub account_id: AccountId,
    pub kind: SessionKind,
    /// The MFA device that authorised the session, if any: removing it revokes the session.
    pub mfa_device_id: Option<DeviceId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub client_addr: String,
    pub user_agent: String,
    /// The session this browser held before (its cookie), revoked in the same transaction:
    /// a session identifier is never carried across a sign-in.
    pub replaces: Option<TokenHash>,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub token_hash: TokenHash,
    pub account_id: AccountId,
    pub kind: SessionKind,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub mfa_device_id: Option<DeviceId>,
}

/// What became of a password-only sign-in's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStart {
    Started,
    /// Alternative factors are blocked (`This wasn't me`) and the account has no device.
    Blocked,
    /// The password changed (reset, change, `This wasn't me`) after it was checked.
    PasswordChanged,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Issues a session after a password-only sign-in (an account without MFA devices):
    /// clears the failures of the source it came from, revokes the session it replaces (if
    /// any) and records the audit line. Nothing is issued while alternative factors are
    /// blocked (`This wasn't me`: an account whose devices an intruder removed must not
    /// become an email-and-password account), nor when the account's password generation is
    /// no longer `password_generation`, the one that was checked: a sign-in whose slow hash
    /// was under way while the password was reset must not outlive the reset.
    async fn start_session(
        &self,
        session: &NewSession,
        password_generation: i64,
        source: &str,
        audit: &AuditRecord,
    ) -> StoreResult<SessionStart>;

    async fn session(&self, token_hash: &TokenHash) -> StoreResult<Option<SessionRecord>>;

    async fn touch_session(&self, token_hash: &TokenHash, now: Timestamp) -> StoreResult<()>;

    /// Revokes a live session. `false` if it was already revoked or never existed.
    async fn revoke_session(
        &self,
        token_hash: &TokenHash,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
}
