//! Sessions: issued after a password-only sign-in, looked up, touched and revoked.

use super::StoreResult;
use super::audit::AuditRecord;
use crate::secrets::TokenHash;
use async_trait::async_trait;
use latchkey_domain::DeviceId;
use latchkey_domain::mfa::DeviceKind;
use latchkey_domain::session::{SessionKind, SessionTimes};
use latchkey_domain::{AccountId, Timestamp};

#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: TokenHash,
    /// What the owner's session list calls it (`ses-…`): never the token or its hash.
    pub public_id: String,
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

impl SessionRecord {
    /// The times that decide whether it is live.
    pub fn times(&self) -> SessionTimes {
        SessionTimes {
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at,
        }
    }
}

/// A live session as the owner's session list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionListing {
    /// `None` for a session issued before sessions had public ids.
    pub public_id: Option<String>,
    pub token_hash: TokenHash,
    pub kind: SessionKind,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub client_addr: String,
    pub user_agent: String,
    /// The kind and name of the MFA device that authorised it.
    pub mfa_device: Option<(DeviceKind, String)>,
}

impl SessionListing {
    /// The times that decide whether it is live.
    pub fn times(&self) -> SessionTimes {
        SessionTimes {
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at,
        }
    }
}

/// The most sessions a session list shows, newest first.
pub const SESSION_LIST_LIMIT: i64 = 100;

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

    async fn touch_session(&self, token_hash: &TokenHash, now: Timestamp) -> StoreResult<()>;

    /// The account's unrevoked, unexpired sessions, newest first (at most
    /// [`SESSION_LIST_LIMIT`]); the caller applies the idle timeout.
    async fn account_sessions(
        &self,
        account: &AccountId,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionListing>>;

    /// Revokes the account's live session named `public_id`, with its audit record, in one
    /// conditional write: the revoked session's token hash, or `None` (and nothing written)
    /// when the account has no such live session.
    async fn revoke_account_session(
        &self,
        account: &AccountId,
        public_id: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<Option<TokenHash>>;

    /// Revokes every live session of the account, with the audit record: how many.
    async fn revoke_every_session(
        &self,
        account: &AccountId,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<u64>;

    /// Revokes a live session. `false` if it was already revoked or never existed.
    async fn revoke_session(
        &self,
        token_hash: &TokenHash,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
}
