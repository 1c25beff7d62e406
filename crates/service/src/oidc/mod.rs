//! latchkey as an OpenID Connect provider (Core 1.0, the authorization code flow with PKCE):
//! the clients operators register, the authorization endpoint's decision, the token and
//! userinfo endpoints, RP-initiated logout, and the keys ID tokens are signed with.
//!
//! The sign-in itself is latchkey's own (password, MFA or recovery); what an application
//! gets lives only as long as the session it came from (see `store::oidc`).

mod authorize;
mod clients;
pub(crate) mod keys;
mod tokens;

pub use authorize::{AuthorizeOutcome, AuthorizeRequest, InvalidRequest};
pub use clients::{NewClient, RegisteredClient};
pub use keys::{ES256, RS256};
pub use tokens::{ClientAuth, TokenError, TokenGrant, TokenResponse};

use crate::error::ServiceError;
use crate::store::StoreError;

/// Why an operator's `latchkey oidc` command was refused.
#[derive(Debug, thiserror::Error)]
pub enum OidcAdminError {
    #[error("the name must be 1 to 100 characters without control characters")]
    InvalidName,
    #[error("at least one --redirect-uri is needed")]
    NoRedirectUri,
    #[error("{uri:?} cannot be a redirect URI: {reason}")]
    InvalidRedirectUri { uri: String, reason: &'static str },
    #[error("the ID-token algorithm must be RS256 or ES256")]
    InvalidAlgorithm,
    #[error("no application has this client id")]
    UnknownClient,
    #[error("a public client has no secret")]
    PublicClient,
    #[error("no published signing key has this id")]
    UnknownKey,
    #[error("this key signs ID tokens now; rotate first and retire it once the new key signs")]
    KeyStillSigning,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for OidcAdminError {
    fn from(e: StoreError) -> Self {
        Self::Service(e.into())
    }
}
