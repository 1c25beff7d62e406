//! Recognising, keeping alive and ending sessions.

use latchkey_domain::session::{SessionAction, SessionKind};
use latchkey_domain::{AccountId, AuditEvent, AuditOutcome, Timestamp};

use crate::error::ServiceError;
use crate::secrets::{SecretToken, TokenHash};
use crate::store::{SessionIdentityRecord, SessionRecord, StoreError};
use crate::{RequestContext, Service};

/// A live session, as the web layer sees it.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub token_hash: TokenHash,
    pub account_id: AccountId,
    pub kind: SessionKind,
    pub expires_at: Timestamp,
    /// When the session was issued: the moment its holder last proved who they are.
    pub authenticated_at: Timestamp,
    /// The MFA device that authorised it, if any.
    pub mfa_device_id: Option<latchkey_domain::DeviceId>,
}

impl Service {
    /// Refuses `action` to a session that may not do it: a session earned with alternative
    /// factors may only replace the lost device. Every use case that takes a session asks
    /// this first, whatever the web layer already checked.
    pub fn authorize(
        &self,
        session: &CurrentSession,
        action: SessionAction,
    ) -> Result<(), ServiceError> {
        if session.kind.permits(action) {
            Ok(())
        } else {
            Err(ServiceError::RecoveryScope)
        }
    }

    /// The live session a presented token belongs to, if any. Expired, revoked and unknown
    /// tokens all give `None`.
    pub async fn authenticate(&self, token: &str) -> Result<Option<CurrentSession>, ServiceError> {
        let Some(token) = SecretToken::from_presented(token) else {
            return Ok(None);
        };
        let Some(record) = self.session_record(&token.hash()).await? else {
            return Ok(None);
        };
        self.keep_alive(record.session, true).await
    }

    /// The session whose token hashes to `hash`, with its owner's identity: from memory when
    /// it is kept there and still live by what was kept, from the database otherwise (and
    /// then kept, when it is not revoked). What is kept is dropped by every change to the
    /// account (see `session_cache`), so a revoked session is never answered from memory for
    /// longer than the freshness bound; one that looks idle by what was kept is read again,
    /// since another instance may have seen it active.
    pub(crate) async fn session_record(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<SessionIdentityRecord>, ServiceError> {
        if let Some(record) = self.cache.session(hash)
            && self
                .config
                .sessions
                .is_live(record.session.times(), self.clock.now())
        {
            return Ok(Some(record));
        }
        let ticket = self.cache.ticket();
        let record = self.store.session_identity(hash).await?;
        if let Some(record) = &record
            && record.session.revoked_at.is_none()
            && self
                .config
                .sessions
                .is_live(record.session.times(), self.clock.now())
        {
            self.cache.keep_session(ticket, record.clone());
        }
        Ok(record)
    }

    /// `record` as the current session when it is live (not revoked, neither idle nor past
    /// its absolute lifetime), its last activity moved to now when that is due and `touch`
    /// says the request is the holder's own. Of many requests arriving together when it is
    /// due, one writes it.
    pub(crate) async fn keep_alive(
        &self,
        record: SessionRecord,
        touch: bool,
    ) -> Result<Option<CurrentSession>, ServiceError> {
        let now = self.clock.now();
        let times = record.times();
        if record.revoked_at.is_some() || !self.config.sessions.is_live(times, now) {
            return Ok(None);
        }
        let policy = &self.config.sessions;
        if touch
            && policy.needs_touch(times, now)
            && self
                .cache
                .claim_touch(&record.token_hash, now, policy.touch_interval)
        {
            // The write runs to its end even if this request is dropped (its client gone):
            // what is kept already says it was written. If it fails, that is forgotten.
            let store = self.store.clone();
            let hash = record.token_hash.clone();
            let written = tokio::spawn(async move { store.touch_session(&hash, now).await }).await;
            let failed = match written {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(StoreError::database("the activity write stopped")),
            };
            if let Some(e) = failed {
                self.cache.forget_session(&record.token_hash);
                return Err(e.into());
            }
        }
        Ok(Some(CurrentSession {
            token_hash: record.token_hash,
            account_id: record.account_id,
            kind: record.kind,
            expires_at: record.expires_at,
            authenticated_at: record.created_at,
            mfa_device_id: record.mfa_device_id,
        }))
    }

    /// `Sign out`: the session is revoked server-side, whatever the browser keeps.
    pub async fn sign_out(
        &self,
        session: &CurrentSession,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        self.authorize(session, SessionAction::SignOut)?;
        let now = self.clock.now();
        let audit = self.audit(
            ctx,
            Some(&session.account_id),
            AuditEvent::SignOut,
            AuditOutcome::Success,
            "",
        );
        self.store
            .revoke_session(&session.token_hash, now, &audit)
            .await?;
        Ok(())
    }
}
