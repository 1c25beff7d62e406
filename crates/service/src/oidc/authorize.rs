//! The authorization endpoint: checks a request the way RFC 6749 4.1.2.1 orders it — an
//! unknown client or an unregistered redirect URI is never redirected to — then lets
//! `latchkey_domain::oidc::decide_authorize` answer from the browser's session, and issues
//! a single-use code bound to the client, the redirect URI, the PKCE challenge and the
//! session.

use latchkey_domain::identity::Acr;
use latchkey_domain::oidc::{
    AuthorizeDecision, AuthorizeFacts, CODE_LIFETIME, Prompt, SessionFacts, decide_authorize,
    granted_scope, is_s256_challenge,
};
use latchkey_domain::{AuditEvent, AuditOutcome, Timestamp};

use crate::error::ServiceError;
use crate::secrets::SecretToken;
use crate::sessions::CurrentSession;
use crate::store::{OidcClientRecord, OidcCode};
use crate::{RequestContext, Service};

/// The authorization request's parameters, as sent.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub response_mode: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub acr_values: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// Added by latchkey when it sent the browser to a fresh sign-in for this request: the
    /// time it asked, with a MAC binding it to the client and this request's own values;
    /// a value latchkey did not make counts for nothing.
    pub lk_signed_in_after: Option<String>,
}

/// What the endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// No redirect may be made: the client is unknown or the redirect URI is not one of its
    /// own. A page says which.
    Invalid(InvalidRequest),
    /// Back to the client's redirect URI with these parameters (a code or an error, the
    /// state, the issuer).
    Redirect {
        redirect_uri: String,
        params: Vec<(&'static str, String)>,
    },
    /// Through latchkey's sign-in first; `fresh_after`: one from now on, session or not,
    /// as the marker the request carries back.
    SignIn { fresh_after: Option<String> },
    /// Ask the owner whether this client may sign them in.
    Consent { client_name: String, scope: String },
}

/// Why an authorization request cannot even be answered at its redirect URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidRequest {
    UnknownClient,
    UnregisteredRedirectUri,
}

/// A request whose client and redirect URI are good: errors from here go back to it.
struct Checked {
    client: OidcClientRecord,
    redirect_uri: String,
    state: Option<String>,
    scope: String,
    prompt: Prompt,
    max_age: Option<i64>,
    acr_values: Vec<Acr>,
}

const MAX_NONCE: usize = 512;

/// As long as a sign-in may take (the continuation's lifetime).
const FRESH_MARKER_LIFETIME: latchkey_domain::Duration = latchkey_domain::Duration::minutes(30);

/// What a fresh-sign-in marker's MAC covers.
fn fresh_message(request: &AuthorizeRequest, at: Timestamp) -> String {
    let part = |v: &Option<String>| {
        v.as_deref()
            .unwrap_or("")
            .replace('\\', "\\\\")
            .replace('|', "\\|")
    };
    format!(
        "fresh-sign-in|{}|{}|{}|{}|{}|{}",
        part(&request.client_id),
        part(&request.redirect_uri),
        part(&request.state),
        part(&request.nonce),
        part(&request.code_challenge),
        at.0
    )
}

const MAX_STATE: usize = 1024;

impl Service {
    /// The marker of a fresh sign-in asked for at `at` by `client_id`'s request.
    /// The marker of a fresh sign-in asked for at `at` by this very request: bound to the
    /// client and to the request's own values (redirect URI, state, nonce, PKCE challenge),
    /// so it cannot be carried to another request, and good for as long as a sign-in may
    /// take.
    fn fresh_marker(&self, request: &AuthorizeRequest, at: Timestamp) -> String {
        let tag = self.oidc_signer.sign(fresh_message(request, at).as_bytes());
        format!("{}.{tag}", at.0)
    }

    /// The time a marker latchkey made for this request names, while it is recent; `None`
    /// for anything else.
    fn fresh_marker_time(&self, request: &AuthorizeRequest, marker: &str) -> Option<Timestamp> {
        let (at, tag) = marker.split_once('.')?;
        let at = Timestamp(at.parse().ok()?);
        let recent = self.clock.now() - at <= FRESH_MARKER_LIFETIME;
        (recent
            && self
                .oidc_signer
                .verify(fresh_message(request, at).as_bytes(), tag))
        .then_some(at)
    }

    fn redirect_error(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        error: &'static str,
        description: &str,
    ) -> AuthorizeOutcome {
        let mut params = vec![
            ("error", error.to_owned()),
            ("error_description", description.to_owned()),
        ];
        if let Some(state) = state {
            params.push(("state", state.to_owned()));
        }
        params.push(("iss", self.config.public_url.clone()));
        AuthorizeOutcome::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            params,
        }
    }

    async fn check_authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<Result<Checked, AuthorizeOutcome>, ServiceError> {
        let client = match request.client_id.as_deref() {
            Some(id) if !id.is_empty() => self.store.oidc_client(id).await?,
            _ => None,
        };
        let Some(client) = client else {
            return Ok(Err(AuthorizeOutcome::Invalid(
                InvalidRequest::UnknownClient,
            )));
        };
        let Some(redirect_uri) = request
            .redirect_uri
            .as_deref()
            .filter(|uri| client.redirect_uris.iter().any(|r| r == uri))
        else {
            return Ok(Err(AuthorizeOutcome::Invalid(
                InvalidRequest::UnregisteredRedirectUri,
            )));
        };
        let redirect_uri = redirect_uri.to_owned();
        let state = request.state.clone();
        let fail = |error: &'static str, description: &str| {
            Ok(Err(self.redirect_error(
                &redirect_uri,
                state.as_deref(),
                error,
                description,
            )))
        };
        if request.request.is_some() {
            return fail("request_not_supported", "request objects are not supported");
        }
        if request.request_uri.is_some() {
            return fail("request_uri_not_supported", "request_uri is not supported");
        }
        if request
            .response_mode
            .as_deref()
            .is_some_and(|mode| mode != "query")
        {
            return fail("invalid_request", "only response_mode=query is supported");
        }
        if request.response_type.as_deref() != Some("code") {
            return fail(
                "unsupported_response_type",
                "only the authorization code flow (response_type=code) is supported",
            );
        }
        let Some(scope) = request.scope.as_deref().and_then(granted_scope) else {
            return fail("invalid_scope", "the scope must include openid");
        };
        match (
            request.code_challenge.as_deref(),
            request.code_challenge_method.as_deref(),
        ) {
            (None, _) if client.secret_hash.is_none() => {
                return fail("invalid_request", "a public client must use PKCE (S256)");
            }
            (None, None) => {}
            (None, Some(_)) => return fail("invalid_request", "code_challenge is missing"),
            (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => {}
            (Some(_), Some("S256")) => {
                return fail("invalid_request", "code_challenge is not an S256 challenge");
            }
            (Some(_), _) => {
                return fail("invalid_request", "code_challenge_method must be S256");
            }
        }
        if request
            .nonce
            .as_deref()
            .is_some_and(|nonce| nonce.len() > MAX_NONCE)
            || state.as_deref().is_some_and(|s| s.len() > MAX_STATE)
        {
            return fail("invalid_request", "nonce or state is too long");
        }
        let Some(prompt) = Prompt::parse(request.prompt.as_deref().unwrap_or("")) else {
            return fail(
                "invalid_request",
                "prompt has an unknown value or none with another",
            );
        };
        let max_age = match request.max_age.as_deref() {
            None => None,
            Some(text) => match text.parse::<i64>() {
                Ok(age) if age >= 0 => Some(age),
                _ => return fail("invalid_request", "max_age must be a number of seconds"),
            },
        };
        let acr_values = request
            .acr_values
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter_map(Acr::parse)
            .collect();
        Ok(Ok(Checked {
            client,
            redirect_uri,
            state,
            scope,
            prompt,
            max_age,
            acr_values,
        }))
    }

    /// The authorization endpoint's answer for `request` from a browser holding `session`.
    pub async fn oidc_authorize(
        &self,
        request: &AuthorizeRequest,
        session: Option<&CurrentSession>,
        ctx: &RequestContext,
    ) -> Result<AuthorizeOutcome, ServiceError> {
        let checked = match self.check_authorize(request).await? {
            Ok(checked) => checked,
            Err(outcome) => return Ok(outcome),
        };
        let identity = match session {
            Some(session) => self.session_identity(&session.token_hash, true).await?,
            None => None,
        };
        // Consent covers the scopes allowed; a request for more asks again.
        let consented = match &identity {
            Some(identity) if !checked.client.first_party => self
                .store
                .oidc_consent(&identity.session.account_id, &checked.client.id)
                .await?
                .is_some_and(|allowed| {
                    checked
                        .scope
                        .split(' ')
                        .all(|s| latchkey_domain::oidc::has_scope(&allowed, s))
                }),
            _ => false,
        };
        let now = self.clock.now();
        let facts = AuthorizeFacts {
            prompt: checked.prompt,
            max_age: checked.max_age,
            signed_in_after: request
                .lk_signed_in_after
                .as_deref()
                .and_then(|marker| self.fresh_marker_time(request, marker)),
            acr_values: checked.acr_values.clone(),
            session: identity.as_ref().map(|identity| SessionFacts {
                kind: identity.session.kind,
                acr: identity.authentication.acr,
                authenticated_at: identity.session.authenticated_at,
            }),
            client_allows_recovery: checked.client.allow_recovery,
            client_first_party: checked.client.first_party,
            consented,
            now,
        };
        let decision = decide_authorize(&facts);
        let (identity, refusal) = match (decision, identity) {
            (AuthorizeDecision::SignIn { fresh_after }, _) => {
                return Ok(AuthorizeOutcome::SignIn {
                    fresh_after: fresh_after.map(|at| self.fresh_marker(request, at)),
                });
            }
            (AuthorizeDecision::AskConsent, _) => {
                return Ok(AuthorizeOutcome::Consent {
                    client_name: checked.client.name,
                    scope: checked.scope,
                });
            }
            (AuthorizeDecision::Refuse(refusal), identity) => (identity, Some(refusal)),
            (AuthorizeDecision::IssueCode, Some(identity)) => (Some(identity), None),
            (AuthorizeDecision::IssueCode, None) => {
                return Err(ServiceError::Internal("a code without a session".into()));
            }
        };
        if let Some(refusal) = refusal {
            // Audited when someone is signed in; a stranger's refusals (prompt=none) would
            // only let anyone fill the append-only log.
            if let Some(identity) = &identity {
                self.record(
                    ctx,
                    Some(&identity.session.account_id),
                    AuditEvent::OidcCodeIssued,
                    AuditOutcome::Failure,
                    &format!("{} {}", checked.client.id, refusal.error()),
                )
                .await?;
            }
            let description = match refusal {
                latchkey_domain::oidc::AuthorizeRefusal::LoginRequired => {
                    "the user is not signed in"
                }
                latchkey_domain::oidc::AuthorizeRefusal::ConsentRequired => {
                    "the user has not allowed this application yet"
                }
                latchkey_domain::oidc::AuthorizeRefusal::RecoverySession => {
                    "a session from alternative factors cannot sign in to this application"
                }
                latchkey_domain::oidc::AuthorizeRefusal::UnmetAuthenticationRequirements => {
                    "the session does not meet the requested acr_values"
                }
            };
            return Ok(self.redirect_error(
                &checked.redirect_uri,
                checked.state.as_deref(),
                refusal.error(),
                description,
            ));
        }
        let Some(identity) = identity else {
            return Err(ServiceError::Internal("a code without a session".into()));
        };
        let code = SecretToken::generate();
        let record = OidcCode {
            code_hash: code.hash(),
            client_id: checked.client.id.clone(),
            account_id: identity.session.account_id.clone(),
            session_hash: identity.session.token_hash.clone(),
            redirect_uri: checked.redirect_uri.clone(),
            scope: checked.scope,
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            created_at: now,
            expires_at: now + CODE_LIFETIME,
            used_at: None,
        };
        let audit = self.audit(
            ctx,
            Some(&identity.session.account_id),
            AuditEvent::OidcCodeIssued,
            AuditOutcome::Success,
            &checked.client.id,
        );
        self.store.insert_oidc_code(&record, &audit).await?;
        let mut params = vec![("code", code.expose().to_owned())];
        if let Some(state) = checked.state {
            params.push(("state", state));
        }
        params.push(("iss", self.config.public_url.clone()));
        Ok(AuthorizeOutcome::Redirect {
            redirect_uri: checked.redirect_uri,
            params,
        })
    }

    /// The owner's answer on the consent page: `Allow` records the consent and answers the
    /// request again (now with a code); `Deny` sends `access_denied` back.
    pub async fn oidc_consent(
        &self,
        request: &AuthorizeRequest,
        session: &CurrentSession,
        allow: bool,
        ctx: &RequestContext,
    ) -> Result<AuthorizeOutcome, ServiceError> {
        let checked = match self.check_authorize(request).await? {
            Ok(checked) => checked,
            Err(outcome) => return Ok(outcome),
        };
        if !allow {
            return Ok(self.redirect_error(
                &checked.redirect_uri,
                checked.state.as_deref(),
                "access_denied",
                "the user did not allow this application",
            ));
        }
        // Someone holding the phone and the inbox for an hour must not leave a consent
        // behind for a client that refuses recovery sessions.
        if session.kind == latchkey_domain::session::SessionKind::AlternativeFactors
            && !checked.client.allow_recovery
        {
            return Ok(self.redirect_error(
                &checked.redirect_uri,
                checked.state.as_deref(),
                "access_denied",
                "a session from alternative factors cannot sign in to this application",
            ));
        }
        let audit = self.audit(
            ctx,
            Some(&session.account_id),
            AuditEvent::OidcConsentGranted,
            AuditOutcome::Success,
            &checked.client.id,
        );
        self.store
            .grant_oidc_consent(
                &session.account_id,
                &checked.client.id,
                &checked.scope,
                self.clock.now(),
                &audit,
            )
            .await?;
        // prompt=consent is answered now: the request goes on without asking again.
        let answered = AuthorizeRequest {
            prompt: request.prompt.as_deref().map(|p| {
                p.split(' ')
                    .filter(|v| *v != "consent")
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
            ..request.clone()
        };
        self.oidc_authorize(&answered, Some(session), ctx).await
    }
}
