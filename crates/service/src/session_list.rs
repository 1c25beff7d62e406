//! The owner's sessions: where the account is signed in, how each session was earned, and
//! ending one of them or all of them.

use latchkey_domain::mfa::DeviceKind;
use latchkey_domain::session::{SessionAction, SessionKind};
use latchkey_domain::{AccountId, AuditEvent, AuditOutcome, Timestamp};

use crate::error::ServiceError;
use crate::sessions::CurrentSession;
use crate::store::SessionListing;
use crate::{RequestContext, Service};

/// How a session was earned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionAuth {
    /// The password alone (an account without MFA devices).
    Password,
    /// The password and this MFA device.
    Mfa { kind: DeviceKind, name: String },
    /// Email and phone, in place of a lost MFA device.
    AlternativeFactors,
}

/// A live session as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// `None` for a session from before sessions had ids: only `Sign out everywhere` ends it.
    pub id: Option<String>,
    /// The session asking.
    pub current: bool,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub client_addr: String,
    pub user_agent: String,
    pub auth: SessionAuth,
}

impl SessionView {
    fn new(listing: SessionListing, current: &CurrentSession) -> Self {
        let asking = listing.token_hash == current.token_hash;
        Self::listed(listing, asking)
    }

    /// A listed session; `current` when it is the one asking.
    pub(crate) fn listed(listing: SessionListing, current: bool) -> Self {
        let auth = match (listing.kind, listing.mfa_device) {
            (SessionKind::AlternativeFactors, _) => SessionAuth::AlternativeFactors,
            (SessionKind::Full, Some((kind, name))) => SessionAuth::Mfa { kind, name },
            (SessionKind::Full, None) => SessionAuth::Password,
        };
        Self {
            id: listing.public_id,
            current,
            created_at: listing.created_at,
            last_seen_at: listing.last_seen_at,
            expires_at: listing.expires_at,
            client_addr: listing.client_addr,
            user_agent: listing.user_agent,
            auth,
        }
    }
}

/// What `Sign out` on one session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnded {
    /// Another session: the asking one goes on.
    Other,
    /// The asking session itself.
    This,
}

impl Service {
    /// The account's live sessions, newest first. Not for a session earned with
    /// alternative factors: it ended every other session when it began.
    pub async fn sessions(
        &self,
        session: &CurrentSession,
    ) -> Result<Vec<SessionView>, ServiceError> {
        self.authorize(session, SessionAction::ManageSessions)?;
        Ok(self
            .live_sessions(&session.account_id)
            .await?
            .into_iter()
            .map(|s| SessionView::new(s, session))
            .collect())
    }

    /// The account's sessions that still sign in: neither revoked nor past their absolute
    /// or idle lifetime.
    pub(crate) async fn live_sessions(
        &self,
        account: &AccountId,
    ) -> Result<Vec<SessionListing>, ServiceError> {
        let now = self.clock.now();
        Ok(self
            .store
            .account_sessions(account, now)
            .await?
            .into_iter()
            .filter(|s| self.config.sessions.is_live(s.times(), now))
            .collect())
    }

    /// `Sign out` on one session of the list. An id that names no live session of this
    /// account (ended already, or another account's) is refused the same way.
    pub async fn sign_out_session(
        &self,
        session: &CurrentSession,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<SessionEnded, ServiceError> {
        self.authorize(session, SessionAction::ManageSessions)?;
        let now = self.clock.now();
        let audit = self.audit(
            ctx,
            Some(&session.account_id),
            AuditEvent::SignOut,
            AuditOutcome::Success,
            "one_session",
        );
        match self
            .store
            .revoke_account_session(&session.account_id, id, now, &audit)
            .await?
        {
            Some(hash) if hash == session.token_hash => Ok(SessionEnded::This),
            Some(_) => Ok(SessionEnded::Other),
            None => Err(ServiceError::SessionNotFound),
        }
    }

    /// `Sign out everywhere`: every session of the account ends, the asking one too.
    pub async fn sign_out_everywhere(
        &self,
        session: &CurrentSession,
        ctx: &RequestContext,
    ) -> Result<u64, ServiceError> {
        self.authorize(session, SessionAction::ManageSessions)?;
        let now = self.clock.now();
        let audit = self.audit(
            ctx,
            Some(&session.account_id),
            AuditEvent::SignOut,
            AuditOutcome::Success,
            "everywhere",
        );
        Ok(self
            .store
            .revoke_every_session(&session.account_id, now, &audit)
            .await?)
    }
}
