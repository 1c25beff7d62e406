//! Who is signed in, as other applications are told: forward-auth's identity headers and,
//! later, the OpenID Connect provider's claims. One read of the session, its account and its
//! device; the session must be live, as for the console.

use latchkey_domain::EmailAddress;
use latchkey_domain::identity::{Authentication, authentication};
use latchkey_domain::session::SessionKind;

use crate::Service;
use crate::error::ServiceError;
use crate::secrets::TokenHash;
use crate::sessions::CurrentSession;

/// A live session's owner and how the session was earned. The account and the time of the
/// sign-in are the session's (`session.account_id`, `session.authenticated_at`).
#[derive(Debug, Clone)]
pub struct Identity {
    pub session: CurrentSession,
    pub email: EmailAddress,
    pub email_verified: bool,
    pub name: String,
    pub authentication: Authentication,
}

impl Identity {
    /// Whether the session came from `Sign in using alternative factors`: such a session may
    /// only replace the lost device, never open another application.
    pub fn is_recovery(&self) -> bool {
        self.session.kind == SessionKind::AlternativeFactors
    }
}

impl Service {
    /// The identity behind the session whose token hashes to `token_hash`, when that session
    /// is live; `None` for an unknown, revoked or expired one. The browser's own requests
    /// (`touch`: forward-auth, authorize) count as activity; an application's servers
    /// refreshing tokens or asking userinfo do not, so they cannot hold the session open
    /// past its idle timeout.
    pub async fn session_identity(
        &self,
        token_hash: &TokenHash,
        touch: bool,
    ) -> Result<Option<Identity>, ServiceError> {
        let Some(record) = self.session_record(token_hash).await? else {
            return Ok(None);
        };
        let Some(session) = self.keep_alive(record.session, touch).await? else {
            return Ok(None);
        };
        Ok(Some(Identity {
            authentication: authentication(session.kind, record.device_kind),
            session,
            email: record.email,
            email_verified: record.email_verified,
            name: record.name,
        }))
    }
}
