//! The OpenID Connect provider's rules: what a client may register, what an authorization
//! request may ask, and what the provider answers it given the browser's session.
//!
//! The answer is a pure function of facts: the request's `prompt`, `max_age` and
//! `acr_values`, the session (kind, class, when it signed in), what the client allows and
//! whether the owner consented. The web layer only translates it.

use crate::identity::Acr;
use crate::session::SessionKind;
use crate::time::{Duration, Timestamp};

/// An authorization code lives long enough for a redirect and one back-channel request.
pub const CODE_LIFETIME: Duration = Duration::seconds(60);
/// Access tokens are short: they are checked against the session on every use anyway.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::minutes(10);
/// ID tokens say who signed in; relying parties check them once, at the callback.
pub const ID_TOKEN_LIFETIME: Duration = Duration::minutes(10);
/// How long a new signing key is published before it signs: relying parties that cache the
/// key set fetch it in the meantime and never meet an unknown `kid`.
pub const KEY_OVERLAP: Duration = Duration::hours(24);

/// Scopes latchkey knows; others are ignored, as OpenID Connect allows.
pub const SCOPES: [&str; 4] = ["openid", "email", "profile", "offline_access"];

/// The scopes of a request that latchkey grants, in a fixed order; `None` without `openid`.
pub fn granted_scope(requested: &str) -> Option<String> {
    let asked: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    if !asked.contains(&"openid") {
        return None;
    }
    Some(
        SCOPES
            .iter()
            .filter(|s| asked.contains(s))
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Whether `scope` (as granted) holds `name`.
pub fn has_scope(scope: &str, name: &str) -> bool {
    scope.split(' ').any(|s| s == name)
}

/// Why a redirect URI cannot be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectUriProblem {
    NotAbsolute,
    Fragment,
    /// Plain http anywhere but this machine (RFC 8252 loopback redirects).
    Insecure,
    Credentials,
    TooLong,
}

/// Checks a redirect URI at registration. It is then matched exactly, character for
/// character: https, or http on a loopback host (a native or test application); no
/// fragment (RFC 6749 3.1.2), no credentials.
pub fn check_redirect_uri(uri: &str) -> Result<(), RedirectUriProblem> {
    if uri.len() > 512 {
        return Err(RedirectUriProblem::TooLong);
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(RedirectUriProblem::NotAbsolute);
    };
    if uri.contains('#') {
        return Err(RedirectUriProblem::Fragment);
    }
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(RedirectUriProblem::NotAbsolute);
    }
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(RedirectUriProblem::Credentials);
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if host.is_empty() {
        return Err(RedirectUriProblem::NotAbsolute);
    }
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "::1");
    match scheme {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(RedirectUriProblem::Insecure),
        _ => Err(RedirectUriProblem::NotAbsolute),
    }
}

/// A PKCE `code_challenge` for S256: 43 characters of base64url (RFC 7636 4.2).
pub fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A PKCE `code_verifier`: 43 to 128 unreserved characters (RFC 7636 4.1).
pub fn is_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The `prompt` values of a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

impl Prompt {
    /// `None` for an unknown value or `none` with another (OpenID Connect Core 3.1.2.1).
    pub fn parse(text: &str) -> Option<Self> {
        let mut prompt = Self::default();
        for value in text.split(' ').filter(|v| !v.is_empty()) {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                // Account selection is meaningless with one account per browser.
                "select_account" => {}
                _ => return None,
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return None;
        }
        Some(prompt)
    }
}

/// The browser's session, as the authorization endpoint sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFacts {
    pub kind: SessionKind,
    pub acr: Acr,
    pub authenticated_at: Timestamp,
}

/// Everything an authorization request is decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeFacts {
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    /// A sign-in this request already sent the browser to (`prompt=login`, `max_age`): a
    /// session authenticated at or after it is fresh enough.
    pub signed_in_after: Option<Timestamp>,
    /// The classes asked for in `acr_values` that latchkey knows.
    pub acr_values: Vec<Acr>,
    pub session: Option<SessionFacts>,
    pub client_allows_recovery: bool,
    pub client_first_party: bool,
    pub consented: bool,
    pub now: Timestamp,
}

/// Why an authorization request is refused back to the client (its `error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizeRefusal {
    LoginRequired,
    ConsentRequired,
    /// A session from alternative factors, for a client that does not take them.
    RecoverySession,
    /// No class in `acr_values` is one the session has.
    UnmetAuthenticationRequirements,
}

impl AuthorizeRefusal {
    pub fn error(self) -> &'static str {
        match self {
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RecoverySession => "access_denied",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizeDecision {
    /// Send the browser through latchkey's sign-in, then back; `fresh_after`: a sign-in
    /// from now on is needed even with a session.
    SignIn {
        fresh_after: Option<Timestamp>,
    },
    Refuse(AuthorizeRefusal),
    AskConsent,
    IssueCode,
}

pub fn decide_authorize(facts: &AuthorizeFacts) -> AuthorizeDecision {
    use AuthorizeDecision::*;
    let Some(session) = facts.session else {
        return if facts.prompt.none {
            Refuse(AuthorizeRefusal::LoginRequired)
        } else {
            SignIn { fresh_after: None }
        };
    };
    let fresh = facts
        .signed_in_after
        .is_some_and(|after| session.authenticated_at >= after);
    let too_old = facts
        .max_age
        .is_some_and(|max| (facts.now - session.authenticated_at).0 > max);
    if !fresh && (facts.prompt.login || too_old) {
        return if facts.prompt.none {
            Refuse(AuthorizeRefusal::LoginRequired)
        } else {
            SignIn {
                fresh_after: Some(facts.now),
            }
        };
    }
    if session.kind == SessionKind::AlternativeFactors && !facts.client_allows_recovery {
        return Refuse(AuthorizeRefusal::RecoverySession);
    }
    if !facts.acr_values.is_empty()
        && !facts
            .acr_values
            .iter()
            .any(|wanted| session.acr.satisfies(*wanted))
    {
        return Refuse(AuthorizeRefusal::UnmetAuthenticationRequirements);
    }
    if !facts.client_first_party && (!facts.consented || facts.prompt.consent) {
        return if facts.prompt.none {
            Refuse(AuthorizeRefusal::ConsentRequired)
        } else {
            AskConsent
        };
    }
    IssueCode
}

#[cfg(test)]
mod tests;
