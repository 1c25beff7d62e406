//! The token endpoint (a code for tokens; a refresh token for new ones), userinfo, and the
//! ID-token hint of RP-initiated logout.
//!
//! Access and refresh tokens are opaque, 256-bit, stored hashed, and checked against the
//! session they came from on every use: when that session ends, they end.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_domain::AuditEvent;
use latchkey_domain::AuditOutcome;
use latchkey_domain::oidc::{
    ACCESS_TOKEN_LIFETIME, ID_TOKEN_LIFETIME, has_scope, is_code_verifier,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ServiceError;
use crate::identity::Identity;
use crate::secrets::{SecretToken, TokenHash};
use crate::store::{CodeExchange, OidcClientRecord, OidcToken, OidcTokenKind, RefreshRotation};
use crate::{RequestContext, Service};

/// How the client authenticated at the token endpoint.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic` or `client_secret_post`.
    Secret { client_id: String, secret: String },
    /// A public client: its id only (PKCE proves the rest).
    None { client_id: String },
}

/// What the client asked for.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenGrant {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
    },
}

#[derive(Clone, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: i64,
    pub id_token: String,
    pub refresh_token: Option<String>,
    pub scope: String,
}

// Secrets (a client secret, a code, tokens) never reach a log line: these print what they
// are, not what they hold.
impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret { client_id, .. } => f
                .debug_struct("Secret")
                .field("client_id", client_id)
                .field("secret", &"<redacted>")
                .finish(),
            Self::None { client_id } => f
                .debug_struct("None")
                .field("client_id", client_id)
                .finish(),
        }
    }
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AuthorizationCode { redirect_uri, .. } => f
                .debug_struct("AuthorizationCode")
                .field("code", &"<redacted>")
                .field("redirect_uri", redirect_uri)
                .field("code_verifier", &"<redacted>")
                .finish(),
            Self::RefreshToken { .. } => f
                .debug_struct("RefreshToken")
                .field("refresh_token", &"<redacted>")
                .finish(),
        }
    }
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// A refusal, as RFC 6749 5.2 names it.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid_client")]
    InvalidClient,
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(&'static str),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<crate::store::StoreError> for TokenError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Service(e.into())
    }
}

impl TokenError {
    /// The `error_description` of the JSON answer (for the client's developer).
    pub fn description(&self) -> &'static str {
        match self {
            Self::InvalidClient => "the client is unknown or its credentials are wrong",
            Self::InvalidGrant(why) | Self::InvalidRequest(why) | Self::UnauthorizedClient(why) => {
                why
            }
            Self::Service(_) => "latchkey could not answer; try again",
        }
    }

    /// The `error` of the JSON answer.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::InvalidRequest(_) => "invalid_request",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::Service(_) => "server_error",
        }
    }
}

/// RFC 7636's S256: BASE64URL(SHA256(verifier)).
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Service {
    async fn authenticate_client(&self, auth: &ClientAuth) -> Result<OidcClientRecord, TokenError> {
        let id = match auth {
            ClientAuth::Secret { client_id, .. } | ClientAuth::None { client_id } => client_id,
        };
        let Some(client) = self.store.oidc_client(id).await? else {
            return Err(TokenError::InvalidClient);
        };
        match (auth, &client.secret_hash) {
            (ClientAuth::Secret { secret, .. }, Some(expected)) => {
                let presented = SecretToken::from_presented(secret).map(|s| s.hash());
                let matches = presented.is_some_and(|hash| {
                    bool::from(hash.as_str().as_bytes().ct_eq(expected.as_str().as_bytes()))
                });
                if matches {
                    Ok(client)
                } else {
                    Err(TokenError::InvalidClient)
                }
            }
            (ClientAuth::None { .. }, None) => Ok(client),
            // A confidential client without its secret, or a secret for a public client.
            _ => Err(TokenError::InvalidClient),
        }
    }

    /// The token endpoint.
    pub async fn oidc_token(
        &self,
        auth: &ClientAuth,
        grant: &TokenGrant,
        ctx: &RequestContext,
    ) -> Result<TokenResponse, TokenError> {
        // A failed client authentication is not audited: anyone could fill the
        // append-only log with them. The request log has it.
        let client = self.authenticate_client(auth).await?;
        // The account the presented code or token belongs to, once one is found: refusals
        // are audited to it. A made-up code or token (a public client needs no secret) is
        // not, or anyone could fill the append-only log.
        let mut account = None;
        let result = match grant {
            TokenGrant::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                self.exchange_code(
                    &client,
                    code,
                    redirect_uri.as_deref(),
                    code_verifier.as_deref(),
                    ctx,
                    &mut account,
                )
                .await
            }
            TokenGrant::RefreshToken { refresh_token } => {
                self.refresh(&client, refresh_token, ctx, &mut account)
                    .await
            }
        };
        if let (Err(e), Some(account)) = (&result, &account)
            && !matches!(e, TokenError::Service(_))
        {
            self.record(
                ctx,
                Some(account),
                AuditEvent::OidcTokenRefused,
                AuditOutcome::Failure,
                &format!("{} {e}", client.id),
            )
            .await?;
        }
        result
    }

    async fn exchange_code(
        &self,
        client: &OidcClientRecord,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        ctx: &RequestContext,
        account: &mut Option<latchkey_domain::AccountId>,
    ) -> Result<TokenResponse, TokenError> {
        let Some(hash) = SecretToken::from_presented(code).map(|c| c.hash()) else {
            return Err(TokenError::InvalidGrant("the code is not valid"));
        };
        // Unknown, another client's or expired: one answer, so a client learns nothing
        // about codes that are not its own; and another client's code is never spent or
        // revoked by it.
        let Some(record) = self
            .store
            .oidc_code(&hash)
            .await?
            .filter(|record| record.client_id == client.id)
        else {
            return Err(TokenError::InvalidGrant("the code is not valid"));
        };
        *account = Some(record.account_id.clone());
        let now = self.clock.now();
        let replayed = self.audit(
            ctx,
            Some(&record.account_id),
            AuditEvent::OidcCodeReplayed,
            AuditOutcome::Failure,
            &client.id,
        );
        // A code seen before: whatever it issued goes, whoever presents it.
        if record.used_at.is_some() {
            self.store
                .exchange_oidc_code(&hash, &client.id, now, &[], &replayed, &replayed)
                .await?;
            return Err(TokenError::InvalidGrant("the code was used before"));
        }
        if record.expires_at <= now {
            return Err(TokenError::InvalidGrant("the code is not valid"));
        }
        if redirect_uri != Some(record.redirect_uri.as_str()) {
            return Err(TokenError::InvalidGrant(
                "redirect_uri differs from the request's",
            ));
        }
        match (&record.code_challenge, code_verifier) {
            (None, None) => {}
            (Some(challenge), Some(verifier))
                if is_code_verifier(verifier)
                    && bool::from(s256(verifier).as_bytes().ct_eq(challenge.as_bytes())) => {}
            (Some(_), _) => {
                return Err(TokenError::InvalidGrant("the PKCE verifier does not match"));
            }
            (None, Some(_)) => {
                return Err(TokenError::InvalidGrant(
                    "no PKCE challenge was sent for this code",
                ));
            }
        }
        let identity = self.live_identity(&record.session_hash).await?;
        let family = hash.as_str().to_owned();
        let issued = self
            .issue_tokens(
                client,
                &identity,
                &record.scope,
                record.nonce.as_deref(),
                &family,
            )
            .await?;
        let audit = self.audit(
            ctx,
            Some(&record.account_id),
            AuditEvent::OidcTokensIssued,
            AuditOutcome::Success,
            &client.id,
        );
        match self
            .store
            .exchange_oidc_code(&hash, &client.id, now, &issued.rows, &audit, &replayed)
            .await?
        {
            CodeExchange::Issued => Ok(issued.response),
            CodeExchange::Replayed => Err(TokenError::InvalidGrant("the code was used before")),
            CodeExchange::Refused => Err(TokenError::InvalidGrant("the code is not valid")),
        }
    }

    async fn refresh(
        &self,
        client: &OidcClientRecord,
        refresh_token: &str,
        ctx: &RequestContext,
        account: &mut Option<latchkey_domain::AccountId>,
    ) -> Result<TokenResponse, TokenError> {
        if !client.refresh_tokens {
            return Err(TokenError::UnauthorizedClient(
                "this client does not use refresh tokens",
            ));
        }
        let Some(hash) = SecretToken::from_presented(refresh_token).map(|t| t.hash()) else {
            return Err(TokenError::InvalidGrant("the refresh token is unknown"));
        };
        let Some(record) = self
            .store
            .oidc_token(&hash)
            .await?
            .filter(|t| t.kind == OidcTokenKind::Refresh && t.client_id == client.id)
        else {
            return Err(TokenError::InvalidGrant("the refresh token is unknown"));
        };
        *account = Some(record.account_id.clone());
        let reused = self.audit(
            ctx,
            Some(&record.account_id),
            AuditEvent::OidcRefreshReused,
            AuditOutcome::Failure,
            &client.id,
        );
        let now = self.clock.now();
        if record.used_at.is_some() {
            self.store
                .rotate_oidc_refresh(&hash, &client.id, now, &[], &reused, &reused)
                .await?;
            return Err(TokenError::InvalidGrant(
                "the refresh token was used before",
            ));
        }
        if record.revoked_at.is_some() || record.expires_at <= now {
            return Err(TokenError::InvalidGrant(
                "the refresh token is no longer valid",
            ));
        }
        let identity = self.live_identity(&record.session_hash).await?;
        let issued = self
            .issue_tokens(client, &identity, &record.scope, None, &record.family)
            .await?;
        let audit = self.audit(
            ctx,
            Some(&record.account_id),
            AuditEvent::OidcTokensRefreshed,
            AuditOutcome::Success,
            &client.id,
        );
        match self
            .store
            .rotate_oidc_refresh(&hash, &client.id, now, &issued.rows, &audit, &reused)
            .await?
        {
            RefreshRotation::Rotated => Ok(issued.response),
            RefreshRotation::Reused => Err(TokenError::InvalidGrant(
                "the refresh token was used before",
            )),
            RefreshRotation::Refused => Err(TokenError::InvalidGrant(
                "the refresh token is no longer valid",
            )),
        }
    }

    /// The identity of a session that is still live; its end ends every grant from it.
    async fn live_identity(&self, session_hash: &TokenHash) -> Result<Identity, TokenError> {
        self.session_identity(session_hash, false)
            .await?
            .ok_or(TokenError::InvalidGrant(
                "the sign-in it came from has ended",
            ))
    }

    async fn issue_tokens(
        &self,
        client: &OidcClientRecord,
        identity: &Identity,
        scope: &str,
        nonce: Option<&str>,
        family: &str,
    ) -> Result<Issued, TokenError> {
        let now = self.clock.now();
        let access = SecretToken::generate();
        let row = |token: &SecretToken, kind, expires_at| OidcToken {
            token_hash: token.hash(),
            kind,
            client_id: client.id.clone(),
            account_id: identity.session.account_id.clone(),
            session_hash: identity.session.token_hash.clone(),
            family: family.to_owned(),
            scope: scope.to_owned(),
            created_at: now,
            expires_at,
            used_at: None,
            revoked_at: None,
        };
        let mut rows = vec![row(
            &access,
            OidcTokenKind::Access,
            now + ACCESS_TOKEN_LIFETIME,
        )];
        let refresh = (client.refresh_tokens && has_scope(scope, "offline_access"))
            .then(SecretToken::generate);
        if let Some(refresh) = &refresh {
            // Never past the session it came from.
            rows.push(row(
                refresh,
                OidcTokenKind::Refresh,
                identity.session.expires_at,
            ));
        }
        let mut claims = json!({
            "iss": self.config.public_url,
            "sub": identity.session.account_id.as_str(),
            "aud": client.id,
            "iat": now.0,
            "exp": (now + ID_TOKEN_LIFETIME).0,
            "auth_time": identity.session.authenticated_at.0,
            "acr": identity.authentication.acr.as_str(),
            "amr": identity.authentication.amr,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = Value::from(nonce);
        }
        claims["sid"] = Value::from(self.oidc_sid(&identity.session.token_hash));
        add_profile_claims(&mut claims, identity, scope);
        let id_token = self.sign_jwt(&client.id_token_alg, &claims).await?;
        Ok(Issued {
            rows,
            response: TokenResponse {
                access_token: access.expose().to_owned(),
                expires_in: ACCESS_TOKEN_LIFETIME.0,
                id_token,
                refresh_token: refresh.map(|r| r.expose().to_owned()),
                scope: scope.to_owned(),
            },
        })
    }

    /// The userinfo endpoint: the claims an access token's scope allows, while the token
    /// and its session are live; `None` otherwise.
    pub async fn oidc_userinfo(&self, access_token: &str) -> Result<Option<Value>, ServiceError> {
        let Some(hash) = SecretToken::from_presented(access_token).map(|t| t.hash()) else {
            return Ok(None);
        };
        let now = self.clock.now();
        let Some(token) = self.access_token(&hash).await?.filter(|t| {
            t.kind == OidcTokenKind::Access && t.revoked_at.is_none() && t.expires_at > now
        }) else {
            return Ok(None);
        };
        // A removed client's tokens were revoked with it; a live session is still needed.
        let Some(identity) = self.session_identity(&token.session_hash, false).await? else {
            return Ok(None);
        };
        let mut claims = json!({ "sub": identity.session.account_id.as_str() });
        add_profile_claims(&mut claims, &identity, &token.scope);
        Ok(Some(claims))
    }

    /// The access token whose hash is `hash`, from memory when it is kept there (see
    /// `session_cache`: a revocation drops it), from the database otherwise (and then kept,
    /// when it is a live access token; its expiry is checked on every use).
    async fn access_token(&self, hash: &TokenHash) -> Result<Option<OidcToken>, ServiceError> {
        if let Some(token) = self.cache.access_token(hash) {
            return Ok(Some(token));
        }
        let ticket = self.cache.ticket();
        let token = self.store.oidc_token(hash).await?;
        if let Some(token) = &token
            && token.kind == OidcTokenKind::Access
            && token.revoked_at.is_none()
            && token.expires_at > self.clock.now()
        {
            self.cache.keep_access_token(ticket, token.clone());
        }
        Ok(token)
    }

    /// The `sid` of ID tokens issued from the session `token_hash`: names the session to the
    /// application without revealing anything that opens it.
    pub fn oidc_sid(&self, token_hash: &TokenHash) -> String {
        let mut tag = self
            .oidc_signer
            .sign(format!("sid:{}", token_hash.as_str()).as_bytes());
        tag.truncate(32);
        tag
    }

    /// The client and session (`sid`) an `id_token_hint` names, when latchkey signed it for
    /// a client that is still registered (expired hints are accepted, as RP-initiated logout
    /// says).
    pub async fn oidc_logout_hint(
        &self,
        hint: &str,
    ) -> Result<Option<(OidcClientRecord, String)>, ServiceError> {
        let Some(claims) = self.verify_own_jwt(hint).await? else {
            return Ok(None);
        };
        if claims.get("iss").and_then(Value::as_str) != Some(self.config.public_url.as_str()) {
            return Ok(None);
        }
        let (Some(aud), Some(sid)) = (
            claims.get("aud").and_then(Value::as_str),
            claims.get("sid").and_then(Value::as_str),
        ) else {
            return Ok(None);
        };
        Ok(self
            .store
            .oidc_client(aud)
            .await?
            .map(|client| (client, sid.to_owned())))
    }

    /// A registered client, for RP-initiated logout's `client_id`.
    pub async fn oidc_client(&self, id: &str) -> Result<Option<OidcClientRecord>, ServiceError> {
        Ok(self.store.oidc_client(id).await?)
    }
}

fn add_profile_claims(claims: &mut Value, identity: &Identity, scope: &str) {
    if has_scope(scope, "email") {
        claims["email"] = Value::from(identity.email.as_str());
        claims["email_verified"] = Value::from(identity.email_verified);
    }
    if has_scope(scope, "profile") {
        claims["name"] = Value::from(identity.name.as_str());
    }
}

struct Issued {
    rows: Vec<OidcToken>,
    response: TokenResponse,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_and_answers_never_print_their_secrets() {
        let shown = format!(
            "{:?} {:?} {:?} {:?}",
            ClientAuth::Secret {
                client_id: "lk-a".into(),
                secret: "the-secret".into()
            },
            TokenGrant::AuthorizationCode {
                code: "the-code".into(),
                redirect_uri: Some("https://a.example/cb".into()),
                code_verifier: Some("the-verifier".into()),
            },
            TokenGrant::RefreshToken {
                refresh_token: "the-refresh".into()
            },
            TokenResponse {
                access_token: "the-access".into(),
                expires_in: 600,
                id_token: "the-id-token".into(),
                refresh_token: Some("the-refresh".into()),
                scope: "openid".into(),
            },
        );
        for secret in [
            "the-secret",
            "the-code",
            "the-verifier",
            "the-refresh",
            "the-access",
            "the-id-token",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("lk-a") && shown.contains("https://a.example/cb"),
            "{shown}"
        );
    }

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            super::s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
