//! The OpenID Connect provider's storage: registered clients, owners' consents, single-use
//! authorization codes, access and refresh tokens, and the ID-token signing keys.
//!
//! Every token names the latchkey session it came from and is worth nothing once that
//! session is not live: signing out, a password change, a removed device, `This wasn't me`
//! and an operator's disable all end sessions, and with them what applications were given.

use super::StoreResult;
use super::audit::AuditRecord;
use crate::secrets::TokenHash;
use async_trait::async_trait;
use latchkey_domain::{AccountId, Timestamp};

/// A client an operator registered (`latchkey oidc client add`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcClientRecord {
    pub id: String,
    pub name: String,
    /// The SHA-256 of its secret; `None` for a public client (PKCE instead).
    pub secret_hash: Option<TokenHash>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// `RS256` or `ES256`.
    pub id_token_alg: String,
    /// Never asked for consent (the operator's own application).
    pub first_party: bool,
    /// May get refresh tokens (`offline_access`).
    pub refresh_tokens: bool,
    /// Takes sessions from `Sign in using alternative factors`.
    pub allow_recovery: bool,
    pub created_at: Timestamp,
}

/// An authorization code waiting for its one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcCode {
    pub code_hash: TokenHash,
    pub client_id: String,
    pub account_id: AccountId,
    pub session_hash: TokenHash,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcTokenKind {
    Access,
    Refresh,
}

impl OidcTokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "access" => Some(Self::Access),
            "refresh" => Some(Self::Refresh),
            _ => None,
        }
    }
}

/// An access or refresh token (stored hashed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcToken {
    pub token_hash: TokenHash,
    pub kind: OidcTokenKind,
    pub client_id: String,
    pub account_id: AccountId,
    pub session_hash: TokenHash,
    /// The hash of the code the family began with.
    pub family: String,
    pub scope: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// What exchanging a code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeExchange {
    /// The code was unused and live: it is used now and the tokens are issued.
    Issued,
    /// The code was used before: everything issued from it is revoked now.
    Replayed,
    /// Unknown, expired or another client's: nothing happened.
    Refused,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRotation {
    /// It was the family's current one: it is used now and its successors are issued.
    Rotated,
    /// It had been used before: the whole family is revoked now.
    Reused,
    /// Unknown, revoked, expired or another client's: nothing happened.
    Refused,
}

/// An ID-token signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// `RS256` or `ES256`.
    pub alg: String,
    /// PKCS#8, sealed under the server key and bound to the kid.
    pub private_sealed: Vec<u8>,
    /// The public JWK as published.
    pub public_jwk: String,
    pub created_at: Timestamp,
    pub active_from: Timestamp,
    pub retired_at: Option<Timestamp>,
}

#[async_trait]
pub trait OidcClientStore: Send + Sync {
    async fn insert_oidc_client(
        &self,
        client: &OidcClientRecord,
        audit: &AuditRecord,
    ) -> StoreResult<()>;

    /// A client that has not been removed.
    async fn oidc_client(&self, id: &str) -> StoreResult<Option<OidcClientRecord>>;

    /// Every client not removed, in creation order (by name within a second).
    async fn oidc_clients(&self) -> StoreResult<Vec<OidcClientRecord>>;

    /// Removes the client and revokes every token it holds; `false` when there was none.
    async fn remove_oidc_client(
        &self,
        id: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Replaces a confidential client's secret; `false` for an unknown or public client.
    async fn set_oidc_client_secret(
        &self,
        id: &str,
        secret_hash: &TokenHash,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait OidcGrantStore: Send + Sync {
    /// The scope the owner allowed `client_id`, if they did.
    async fn oidc_consent(
        &self,
        account: &AccountId,
        client_id: &str,
    ) -> StoreResult<Option<String>>;

    /// Records that the owner allowed `client_id` `scope` (replacing an earlier consent).
    async fn grant_oidc_consent(
        &self,
        account: &AccountId,
        client_id: &str,
        scope: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<()>;

    async fn insert_oidc_code(&self, code: &OidcCode, audit: &AuditRecord) -> StoreResult<()>;

    async fn oidc_code(&self, code_hash: &TokenHash) -> StoreResult<Option<OidcCode>>;

    /// In one transaction, holding the lock of the session the code came from (refused,
    /// with nothing written, once that session is signed out): uses the code if it is
    /// `client_id`'s, unused and live at `now`, and inserts `tokens` with `issued`; or, when it was used before, revokes every token
    /// of its family with `replayed`. Twenty exchanges of one code at once issue once, and a
    /// replay that loses the race still revokes what the winner issued.
    async fn exchange_oidc_code(
        &self,
        code_hash: &TokenHash,
        client_id: &str,
        now: Timestamp,
        tokens: &[OidcToken],
        issued: &AuditRecord,
        replayed: &AuditRecord,
    ) -> StoreResult<CodeExchange>;

    async fn oidc_token(&self, token_hash: &TokenHash) -> StoreResult<Option<OidcToken>>;

    /// In one transaction, holding the lock of its session as above: uses the refresh token
    /// if it is `client_id`'s, unused, unrevoked and live at `now`, and inserts `tokens` with `rotated`; or, when it was used before,
    /// revokes its whole family with `reused`.
    async fn rotate_oidc_refresh(
        &self,
        token_hash: &TokenHash,
        client_id: &str,
        now: Timestamp,
        tokens: &[OidcToken],
        rotated: &AuditRecord,
        reused: &AuditRecord,
    ) -> StoreResult<RefreshRotation>;
}

#[async_trait]
pub trait OidcKeyStore: Send + Sync {
    /// The keys not retired, oldest first.
    async fn oidc_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;

    /// Inserts `keys` with `audit`; with `only_if_none`, only while no key exists (two
    /// instances starting together generate one set). `false` when nothing was inserted.
    async fn insert_oidc_signing_keys(
        &self,
        keys: &[SigningKeyRecord],
        only_if_none: bool,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Retires a key (no longer published); `false` when it was not live.
    async fn retire_oidc_signing_key(
        &self,
        kid: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
}
