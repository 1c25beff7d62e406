//! Who a session belongs to and how it was earned, in one read: what forward-auth and the
//! OpenID Connect provider tell applications on every check.

use super::StoreResult;
use super::sessions::SessionRecord;
use crate::secrets::TokenHash;
use async_trait::async_trait;
use latchkey_domain::EmailAddress;
use latchkey_domain::mfa::DeviceKind;

/// A session with its account's contact and name and the kind of its MFA device.
#[derive(Debug, Clone)]
pub struct SessionIdentityRecord {
    pub session: SessionRecord,
    pub email: EmailAddress,
    pub name: String,
    /// Whether the account's address has been proven by its emailed link.
    pub email_verified: bool,
    /// The kind of the device that authorised the session, if one did.
    pub device_kind: Option<DeviceKind>,
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// The session whose token hashes to `token_hash`, whatever its state (the caller decides
    /// whether it is live), with its account's identity.
    async fn session_identity(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<SessionIdentityRecord>>;
}
