//! `latchkey oidc client add|list|remove|rotate-secret`: applications that sign people in
//! with latchkey. A confidential client's secret is 256 random bits, shown once and kept as
//! its SHA-256 (a hash made slow would add nothing to a secret nobody chose).

use latchkey_domain::oidc::{RedirectUriProblem, check_redirect_uri};
use latchkey_domain::{AuditEvent, AuditOutcome};

use super::OidcAdminError;
use super::keys::{ES256, RS256};
use crate::secrets::{SecretToken, hex, random_bytes};
use crate::store::OidcClientRecord;
use crate::{RequestContext, Service};

/// What `client add` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub refresh_tokens: bool,
    pub allow_recovery: bool,
    /// `RS256` (the default) or `ES256`.
    pub id_token_alg: Option<String>,
}

/// A registered client and, once, its secret.
#[derive(Clone)]
pub struct RegisteredClient {
    pub client: OidcClientRecord,
    /// Shown once; `None` for a public client.
    pub secret: Option<String>,
}

impl std::fmt::Debug for RegisteredClient {
    // The secret is for the operator's screen once, never a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client", &self.client)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn problem_text(problem: RedirectUriProblem) -> &'static str {
    match problem {
        RedirectUriProblem::NotAbsolute => "it must be an absolute https URL",
        RedirectUriProblem::Fragment => "it may not have a fragment (#…)",
        RedirectUriProblem::Insecure => "plain http is only for localhost and loopback addresses",
        RedirectUriProblem::Credentials => "it may not carry a user name or password",
        RedirectUriProblem::TooLong => "it is longer than 512 characters",
    }
}

fn check_uris(uris: &[String]) -> Result<(), OidcAdminError> {
    for uri in uris {
        check_redirect_uri(uri).map_err(|problem| OidcAdminError::InvalidRedirectUri {
            uri: uri.clone(),
            reason: problem_text(problem),
        })?;
    }
    Ok(())
}

impl Service {
    pub async fn register_oidc_client(
        &self,
        new: NewClient,
    ) -> Result<RegisteredClient, OidcAdminError> {
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(OidcAdminError::InvalidName);
        }
        if new.redirect_uris.is_empty() {
            return Err(OidcAdminError::NoRedirectUri);
        }
        check_uris(&new.redirect_uris)?;
        check_uris(&new.post_logout_redirect_uris)?;
        let id_token_alg = match new.id_token_alg.as_deref() {
            None | Some(RS256) => RS256,
            Some(ES256) => ES256,
            Some(_) => return Err(OidcAdminError::InvalidAlgorithm),
        };
        let secret = (!new.public).then(SecretToken::generate);
        let client = OidcClientRecord {
            id: format!("lk-{}", hex(&random_bytes::<12>())),
            name,
            secret_hash: secret.as_ref().map(SecretToken::hash),
            redirect_uris: new.redirect_uris,
            post_logout_redirect_uris: new.post_logout_redirect_uris,
            id_token_alg: id_token_alg.to_owned(),
            first_party: new.first_party,
            refresh_tokens: new.refresh_tokens,
            allow_recovery: new.allow_recovery,
            created_at: self.clock.now(),
        };
        let audit = self.audit(
            &RequestContext::operator(),
            None,
            AuditEvent::OidcClientRegistered,
            AuditOutcome::Success,
            &format!("{} {}", client.id, client.name),
        );
        self.store.insert_oidc_client(&client, &audit).await?;
        Ok(RegisteredClient {
            client,
            secret: secret.map(|s| s.expose().to_owned()),
        })
    }

    pub async fn oidc_clients(&self) -> Result<Vec<OidcClientRecord>, OidcAdminError> {
        Ok(self.store.oidc_clients().await?)
    }

    /// Removes a client; every token it holds stops working at once.
    pub async fn remove_oidc_client(&self, id: &str) -> Result<(), OidcAdminError> {
        let audit = self.audit(
            &RequestContext::operator(),
            None,
            AuditEvent::OidcClientRemoved,
            AuditOutcome::Success,
            id,
        );
        if !self
            .store
            .remove_oidc_client(id, self.clock.now(), &audit)
            .await?
        {
            return Err(OidcAdminError::UnknownClient);
        }
        Ok(())
    }

    /// A new secret for a confidential client; the old one stops working at once.
    pub async fn rotate_oidc_client_secret(&self, id: &str) -> Result<String, OidcAdminError> {
        let Some(client) = self.store.oidc_client(id).await? else {
            return Err(OidcAdminError::UnknownClient);
        };
        if client.secret_hash.is_none() {
            return Err(OidcAdminError::PublicClient);
        }
        let secret = SecretToken::generate();
        let audit = self.audit(
            &RequestContext::operator(),
            None,
            AuditEvent::OidcClientSecretRotated,
            AuditOutcome::Success,
            id,
        );
        if !self
            .store
            .set_oidc_client_secret(id, &secret.hash(), &audit)
            .await?
        {
            return Err(OidcAdminError::UnknownClient);
        }
        Ok(secret.expose().to_owned())
    }
}
